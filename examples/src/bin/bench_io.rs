//! Connector throughput against direct use of the format crates, in one invocation:
//! CSV read/write (`csv`), Parquet read/write (`arrow`/`parquet` + `serde_arrow`),
//! and the text source on one large file with 1 and 2 threads.
//!
//! ```sh
//! cargo run --release -p examples --bin bench_io -- --rows 2000000 --text bench-data/corpus.txt
//! ```
//!
//! Pipelines run on the rayon runner with `--parallelism 1` (the ratio column
//! compares like with like: one core each) and, for reads, also with 2. Rounds
//! are interleaved and the fastest of `--repeat` is reported.

use beam_core::{Count, Create, Pipeline, PipelineOptions};
use clap::Parser;
use examples as _; // the global allocator, as in the other benchmarks
use io_connectors::{CsvIO, ParquetIO, TextIO};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Rows in the generated sales table.
    #[arg(long, default_value_t = 2_000_000)]
    rows: usize,
    /// A large text file for the text-source figures (skipped without it).
    #[arg(long)]
    text: Option<String>,
    /// Directory for the generated and written files.
    #[arg(long, default_value = "bench-data/io")]
    dir: PathBuf,
    /// Only the operations whose name contains this (for example `csv read`).
    #[arg(long)]
    only: Option<String>,
    /// Rounds; the fastest of each variant is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Sale {
    transaction_id: String,
    customer_id: u32,
    product_category: String,
    amount: f64,
    region: String,
}

fn sale(i: usize) -> Sale {
    let cats = [
        "electronics",
        "furniture",
        "books",
        "clothing",
        "toys",
        "garden",
    ];
    let regions = ["north", "south", "east", "west"];
    Sale {
        transaction_id: format!("T{i:09}"),
        customer_id: (i as u32).wrapping_mul(2_654_435_761) % 100_000,
        product_category: cats[i % cats.len()].to_string(),
        amount: ((i * 7919) % 500_000) as f64 / 100.0,
        region: regions[(i / 3) % regions.len()].to_string(),
    }
}

fn sales(n: usize) -> Vec<Sale> {
    (0..n).map(sale).collect()
}

/// The rows generated inside the pipeline, in chunks (writes measure generating
/// plus writing, as their baselines do).
fn generated(p: &Pipeline, n: usize) -> beam_core::Result<beam_core::PCollection<Sale>> {
    const CHUNK: usize = 10_000;
    let chunks: Vec<usize> = (0..n.div_ceil(CHUNK)).collect();
    p.apply("Chunks", Create::of(chunks))?.apply(
        "Rows",
        beam_core::FlatMap::new(move |c: &usize| {
            (c * CHUNK..((c + 1) * CHUNK).min(n))
                .map(sale)
                .collect::<Vec<_>>()
        }),
    )
}

fn rayon(threads: usize) -> Pipeline {
    let mut o = PipelineOptions::default().with_runner("rayon");
    o.parallelism = Some(threads);
    Pipeline::new(o)
}

fn count_of(p: &Pipeline, pc: &beam_core::PCollection<u64>, want: u64) -> anyhow::Result<()> {
    beam_core::testing::PAssert::that(pc).contains_in_any_order(vec![want])?;
    p.run()?;
    Ok(())
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

struct Variant {
    name: &'static str,
    group: &'static str,
    baseline: bool,
    run: Box<dyn Fn() -> anyhow::Result<()>>,
    bytes: u64,
    rows: u64,
    best: f64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.dir)?;
    let dir = args.dir.canonicalize()?;
    let rows = sales(args.rows);
    let n = rows.len() as u64;
    let csv_path = dir.join("sales.csv");
    let parquet_path = dir.join("sales.parquet");
    // Inputs written once by the baselines' own code.
    write_csv_direct(&rows, &csv_path)?;
    write_parquet_direct(&rows, &parquet_path)?;
    let csv_bytes = file_size(&csv_path);
    let parquet_bytes = file_size(&parquet_path);

    let mut variants: Vec<Variant> = Vec::new();
    let mut add = |group, name, baseline, bytes, rows, run: Box<dyn Fn() -> anyhow::Result<()>>| {
        variants.push(Variant {
            name,
            group,
            baseline,
            run,
            bytes,
            rows,
            best: f64::MAX,
        })
    };
    // The table as written, and with every field quoted (splitting a file with
    // quotes needs the record-start scan of the file).
    let quoted_path = dir.join("sales-quoted.csv");
    write_csv_with(&rows, &quoted_path, csv::QuoteStyle::Always)?;
    for (group, path) in [
        ("csv read", csv_path.clone()),
        ("csv read, all fields quoted", quoted_path),
    ] {
        let csv_bytes = file_size(&path);
        let p = path.clone();
        add(
            group,
            "csv crate",
            true,
            csv_bytes,
            n,
            Box::new(move || {
                let mut r = csv::Reader::from_path(&p)?;
                let mut c = 0u64;
                for s in r.deserialize::<Sale>() {
                    s?;
                    c += 1;
                }
                anyhow::ensure!(c == n);
                Ok(())
            }),
        );
        if group == "csv read" {
            let p = path.display().to_string();
            add(
                group,
                "CSV reader alone (no pipeline)",
                false,
                csv_bytes,
                n,
                Box::new(move || {
                    use io_connectors::RecordSource;
                    let source = io_connectors::FileSource::new(
                        &p,
                        io_connectors::CsvFormat::<Sale>::new(),
                    )?;
                    let mut r = source.open()?;
                    let mut c = 0u64;
                    while let Some(rec) = r.next_record()? {
                        rec.map_err(|d| anyhow::anyhow!("{}", d.error))?;
                        c += 1;
                    }
                    anyhow::ensure!(c == n);
                    Ok(())
                }),
            );
        }
        for threads in [1, 2] {
            let p = path.display().to_string();
            let name = if threads == 1 {
                "CsvIO, 1 thread"
            } else {
                "CsvIO, 2 threads"
            };
            add(
                group,
                name,
                false,
                csv_bytes,
                n,
                Box::new(move || {
                    let pipe = rayon(threads);
                    let c = pipe
                        .apply("Read", CsvIO::read::<Sale>(&p))?
                        .apply("Count", Count::globally())?;
                    count_of(&pipe, &c, n)
                }),
            );
        }
    }
    {
        let out = dir.join("direct-out.csv");
        let rows_n = n as usize;
        add(
            "csv write",
            "csv crate",
            true,
            csv_bytes,
            n,
            Box::new(move || write_csv_direct(&sales(rows_n), &out)),
        );
        for (threads, auto) in [(1, false), (2, false), (1, true), (2, true)] {
            let prefix = dir
                .join(format!("pipeline-out-csv-{threads}-{auto}"))
                .display()
                .to_string();
            let name = match (threads, auto) {
                (1, false) => "CsvIO, 1 thread, 1 shard",
                (_, false) => "CsvIO, 2 threads, 2 shards",
                (1, true) => "CsvIO, 1 thread, runner-determined shards",
                _ => "CsvIO, 2 threads, runner-determined shards",
            };
            add(
                "csv write",
                name,
                false,
                csv_bytes,
                n,
                Box::new(move || {
                    let pipe = rayon(threads);
                    let write = if auto {
                        CsvIO::write(&prefix).with_runner_determined_sharding()
                    } else {
                        CsvIO::write(&prefix).with_num_shards(threads)
                    };
                    generated(&pipe, rows_n)?.apply("Write", write)?;
                    pipe.run()?;
                    Ok(())
                }),
            );
        }
    }
    {
        let p = parquet_path.clone();
        add(
            "parquet read",
            "parquet + serde_arrow",
            true,
            parquet_bytes,
            n,
            Box::new(move || {
                let reader =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                        std::fs::File::open(&p)?,
                    )?
                    .with_batch_size(8192)
                    .build()?;
                let mut c = 0u64;
                for b in reader {
                    let rows: Vec<Sale> = serde_arrow::from_record_batch(&b?)?;
                    c += rows.len() as u64;
                }
                anyhow::ensure!(c == n);
                Ok(())
            }),
        );
        for threads in [1, 2] {
            let p = parquet_path.display().to_string();
            let name = if threads == 1 {
                "ParquetIO, 1 thread"
            } else {
                "ParquetIO, 2 threads"
            };
            add(
                "parquet read",
                name,
                false,
                parquet_bytes,
                n,
                Box::new(move || {
                    let pipe = rayon(threads);
                    let c = pipe
                        .apply("Read", ParquetIO::read::<Sale>(&p))?
                        .apply("Count", Count::globally())?;
                    count_of(&pipe, &c, n)
                }),
            );
        }
    }
    {
        let out = dir.join("direct-out.parquet");
        let rows_n = n as usize;
        add(
            "parquet write",
            "parquet + serde_arrow",
            true,
            parquet_bytes,
            n,
            Box::new(move || write_parquet_direct(&sales(rows_n), &out)),
        );
        for (threads, auto) in [(1, false), (2, false), (1, true), (2, true)] {
            let prefix = dir
                .join(format!("pipeline-out-parquet-{threads}-{auto}"))
                .display()
                .to_string();
            let name = match (threads, auto) {
                (1, false) => "ParquetIO, 1 thread, 1 shard",
                (_, false) => "ParquetIO, 2 threads, 2 shards",
                (1, true) => "ParquetIO, 1 thread, runner-determined shards",
                _ => "ParquetIO, 2 threads, runner-determined shards",
            };
            add(
                "parquet write",
                name,
                false,
                parquet_bytes,
                n,
                Box::new(move || {
                    let pipe = rayon(threads);
                    let write = if auto {
                        ParquetIO::write(&prefix).with_runner_determined_sharding()
                    } else {
                        ParquetIO::write(&prefix).with_num_shards(threads)
                    };
                    generated(&pipe, rows_n)?.apply("Write", write)?;
                    pipe.run()?;
                    Ok(())
                }),
            );
        }
    }
    if let Some(text) = &args.text {
        let bytes = file_size(Path::new(text));
        let lines = std::io::BufReader::new(std::fs::File::open(text)?)
            .lines()
            .count() as u64;
        let t = text.clone();
        add(
            "text read",
            "BufRead::lines",
            true,
            bytes,
            lines,
            Box::new(move || {
                let mut c = 0u64;
                for l in
                    std::io::BufReader::with_capacity(256 * 1024, std::fs::File::open(&t)?).lines()
                {
                    l?;
                    c += 1;
                }
                anyhow::ensure!(c == lines);
                Ok(())
            }),
        );
        for threads in [1, 2] {
            let t = text.clone();
            let name = if threads == 1 {
                "TextIO, 1 thread"
            } else {
                "TextIO, 2 threads"
            };
            add(
                "text read",
                name,
                false,
                bytes,
                lines,
                Box::new(move || {
                    let pipe = rayon(threads);
                    let c = pipe
                        .apply("Read", TextIO::read(&t))?
                        .apply("Count", Count::globally())?;
                    count_of(&pipe, &c, lines)
                }),
            );
        }
    }

    if let Some(only) = &args.only {
        variants.retain(|v| v.group.contains(only.as_str()));
    }
    for round in 0..args.repeat {
        for v in variants.iter_mut() {
            let start = Instant::now();
            (v.run)().map_err(|e| anyhow::anyhow!("{} {}: {e}", v.group, v.name))?;
            let secs = start.elapsed().as_secs_f64();
            eprintln!("round {round}: {} / {}: {secs:.3} s", v.group, v.name);
            v.best = v.best.min(secs);
        }
    }
    println!("| operation | variant | time (s) | MB/s | rows/s | time / baseline |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut base = 0.0;
    for v in &variants {
        if v.baseline {
            base = v.best;
        }
        println!(
            "| {} | {} | {:.3} | {:.0} | {:.2} M | {:.2} |",
            v.group,
            v.name,
            v.best,
            v.bytes as f64 / 1e6 / v.best,
            v.rows as f64 / 1e6 / v.best,
            v.best / base
        );
    }
    Ok(())
}

fn write_csv_direct(rows: &[Sale], path: &Path) -> anyhow::Result<()> {
    write_csv_with(rows, path, csv::QuoteStyle::Necessary)
}

fn write_csv_with(rows: &[Sale], path: &Path, quoting: csv::QuoteStyle) -> anyhow::Result<()> {
    let mut w = csv::WriterBuilder::new().quote_style(quoting).from_writer(
        std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(path)?),
    );
    for r in rows {
        w.serialize(r)?;
    }
    w.flush()?;
    Ok(())
}

fn write_parquet_direct(rows: &[Sale], path: &Path) -> anyhow::Result<()> {
    use serde_arrow::schema::{SchemaLike, TracingOptions};
    let fields = Vec::<arrow_schema::FieldRef>::from_type::<Sale>(TracingOptions::default())?;
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(fields.clone()));
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(128 * 1024))
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build();
    let file = std::io::BufWriter::with_capacity(256 * 1024, std::fs::File::create(path)?);
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props))?;
    for chunk in rows.chunks(128 * 1024) {
        w.write(&serde_arrow::to_record_batch(&fields, &chunk)?)?;
    }
    w.close()?;
    Ok(())
}
