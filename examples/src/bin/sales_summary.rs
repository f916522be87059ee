//! Sales over 1000 by category:
//! `cargo run --release -p examples --bin sales_summary -- --runner direct`.
//!
//! Reads a CSV of sales (`--input`, the bundled `data/sales.csv` without it;
//! header row with at least `product_category` and `amount`), keeps sales with
//! `amount > 1000`, and per category computes the total, average and count,
//! ordered by total, largest first. With `--output PREFIX` it writes the summary
//! as Parquet to `PREFIX-00000-of-00001.parquet` and malformed rows as JSON lines
//! to `PREFIX-dead-letter-00000-of-00001.jsonl`; without it, it prints both.
//! Amounts are summed in cents, so the result is exact and identical on every runner.

use beam_core::{
    Combine, CombineFn, Filter, Map, PCollection, Pipeline, PipelineOptions, Result, ToList,
};
use clap::Parser;
use io_connectors::{CsvIO, DeadLetter, JsonLinesIO, ParquetIO};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "sales_summary",
    about = "Totals, averages and counts of sales over 1000 per category"
)]
struct Args {
    #[command(flatten)]
    io: examples::output::IoArgs,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// A sale as read from the CSV (other columns are ignored).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Sale {
    product_category: String,
    amount: f64,
}

/// One row of the summary.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct CategorySummary {
    product_category: String,
    total: f64,
    average: f64,
    count: u64,
}

/// Sum (in cents) and count of a category's sales.
#[derive(Clone)]
struct TotalAndCount;

impl CombineFn for TotalAndCount {
    type Input = i64;
    type Accum = (i64, u64);
    type Output = (i64, u64);
    fn create_accumulator(&self) -> (i64, u64) {
        (0, 0)
    }
    fn add_input(&self, acc: &mut (i64, u64), cents: i64) {
        acc.0 += cents;
        acc.1 += 1;
    }
    fn merge_accumulators(&self, acc: &mut (i64, u64), other: (i64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
    fn extract_output(&self, acc: (i64, u64)) -> (i64, u64) {
        acc
    }
}

fn by_total_desc(a: &CategorySummary, b: &CategorySummary) -> std::cmp::Ordering {
    b.total
        .total_cmp(&a.total)
        .then_with(|| a.product_category.cmp(&b.product_category))
}

fn summarize(p: &Pipeline, input: &str, output: Option<&str>) -> Result<()> {
    let parsed = p.apply("ReadSales", CsvIO::read::<Sale>(input).with_dead_letter())?;
    let summary: PCollection<CategorySummary> = parsed
        .records
        .apply("Over1000", Filter::new(|s: &Sale| s.amount > 1000.0))?
        .apply(
            "CentsByCategory",
            Map::new(|s: &Sale| {
                (
                    s.product_category.clone(),
                    (s.amount * 100.0).round() as i64,
                )
            }),
        )?
        .apply("TotalAndCount", Combine::per_key(TotalAndCount))?
        .apply(
            "Summary",
            Map::new(
                |(category, (cents, count)): &(String, (i64, u64))| CategorySummary {
                    product_category: category.clone(),
                    total: *cents as f64 / 100.0,
                    average: (*cents as f64 / *count as f64).round() / 100.0,
                    count: *count,
                },
            ),
        )?;
    match output {
        Some(prefix) => {
            summary.apply(
                "WriteParquet",
                ParquetIO::write(prefix)
                    .with_num_shards(1)
                    .with_suffix(".parquet")
                    .with_order_by(by_total_desc),
            )?;
            parsed.dead_letter.apply(
                "WriteDeadLetter",
                JsonLinesIO::write(&format!("{prefix}-dead-letter"))
                    .with_num_shards(1)
                    .with_suffix(".jsonl"),
            )?;
        }
        None => {
            summary.apply("Gather", ToList::globally())?.apply(
                "Print",
                Map::new(|rows: &Vec<CategorySummary>| print_summary(rows)),
            )?;
            parsed.dead_letter.apply(
                "PrintDeadLetter",
                Map::new(|d: &DeadLetter| {
                    eprintln!("dead letter {}: {} ({})", d.location, d.raw_text(), d.error);
                }),
            )?;
        }
    }
    Ok(())
}

fn print_summary(rows: &[CategorySummary]) {
    let mut rows = rows.to_vec();
    rows.sort_by(by_total_desc);
    println!(
        "{:<16} {:>14} {:>12} {:>6}",
        "category", "total", "average", "count"
    );
    for r in rows {
        println!(
            "{:<16} {:>14.2} {:>12.2} {:>6}",
            r.product_category, r.total, r.average, r.count
        );
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let input = args
            .io
            .input
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/sales.csv").to_string());
        summarize(&p, &input, args.io.output.as_deref())?;
        p.run()?;
        Ok(())
    })
}
