//! The relational verbs on every runner: the sales summary as a DataFrame
//! program, and the results' independence from runner and worker count.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use beam_core::{Map, Pipeline, PipelineOptions, ToList};
use beam_sql::read::{read, Format};
use beam_sql::{avg, col, count_star, lit, sum, Rows, Table};
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

fn options(runner: &str, workers: usize) -> PipelineOptions {
    let mut o = PipelineOptions::default();
    o.runner = runner.to_string();
    o.parallelism = Some(workers);
    o
}

/// A CSV of `n` sales in three files (amounts in cents as decimals), and the
/// summary computed directly: category -> (total cents, count) over 1000.
fn sales(dir: &std::path::Path, n: usize) -> (String, BTreeMap<String, (i128, i64)>) {
    let categories = ["books", "clothing", "electronics", "furniture", "garden"];
    let mut expected: BTreeMap<String, (i128, i64)> = BTreeMap::new();
    let mut state = 7u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    for file in 0..3 {
        let mut text =
            String::from("transaction_id,date,customer_id,product_category,amount,region\n");
        for i in 0..n / 3 {
            let category = categories[(next() % 5) as usize];
            let cents = (next() % 500_000) as i128;
            text.push_str(&format!(
                "T{file}{i},2025-01-01,C{},{category},{}.{:02},north\n",
                next() % 100,
                cents / 100,
                cents % 100
            ));
            if cents > 100_000 {
                let e = expected.entry(category.to_string()).or_default();
                e.0 += cents;
                e.1 += 1;
            }
        }
        std::fs::write(dir.join(format!("sales-{file}.csv")), text).unwrap();
    }
    (dir.join("sales-*.csv").display().to_string(), expected)
}

/// Runs `build` and returns the rows of the table it makes, in order.
fn collect(o: PipelineOptions, build: impl FnOnce(&Pipeline) -> Table) -> Vec<RecordBatch> {
    let p = Pipeline::new(o);
    let table = build(&p);
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    table
        .rows()
        .apply("Gather", ToList::globally())
        .unwrap()
        .apply(
            "Keep",
            Map::new(move |rows: &Vec<Rows>| {
                sink.lock()
                    .unwrap()
                    .extend(rows.iter().map(|r| r.batch().clone()));
            }),
        )
        .unwrap();
    p.run().unwrap();
    let v = out.lock().unwrap().clone();
    v
}

fn summary(p: &Pipeline, pattern: &str) -> Table {
    let schema = Arc::new(Schema::new(vec![
        Field::new("transaction_id", DataType::Utf8, false),
        Field::new("date", DataType::Utf8, false),
        Field::new("customer_id", DataType::Utf8, false),
        Field::new("product_category", DataType::Utf8, false),
        Field::new("amount", DataType::Decimal128(18, 2), false),
        Field::new("region", DataType::Utf8, false),
    ]));
    read(
        p,
        "Read",
        pattern,
        Format::Csv { delimiter: b',' },
        Some(schema),
    )
    .unwrap()
    .filter("Over1000", col("amount").gt(lit(1000)))
    .unwrap()
    .group_by(vec![col("product_category")])
    .aggregate(
        "Totals",
        vec![
            sum(col("amount")).alias("total_sales"),
            avg(col("amount")).alias("average"),
            count_star().alias("count"),
        ],
    )
    .unwrap()
    .order_by("ByTotal", vec![col("total_sales").sort_desc()], None, 0)
    .unwrap()
}

fn lines(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let total = b
            .column(1)
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        for i in 0..b.num_rows() {
            out.push(format!(
                "{} {} {:.2} {}",
                b.column(0).as_string::<i32>().value(i),
                total.value_as_string(i),
                b.column(2).as_primitive::<Float64Type>().value(i),
                b.column(3).as_primitive::<Int64Type>().value(i)
            ));
        }
    }
    out
}

#[test]
fn the_sales_summary_as_a_dataframe_on_every_runner() {
    let dir = tempfile::tempdir().unwrap();
    let (pattern, expected) = sales(dir.path(), 30_000);
    let mut want: Vec<(String, i128, i64)> =
        expected.into_iter().map(|(c, (t, n))| (c, t, n)).collect();
    want.sort_by_key(|w| std::cmp::Reverse(w.1));
    let want: Vec<String> = want
        .iter()
        .map(|(c, t, n)| {
            let average = *t as f64 / 100.0 / *n as f64;
            format!("{c} {}.{:02} {average:.2} {n}", t / 100, t % 100)
        })
        .collect();
    for (runner, workers) in [("direct", 1), ("rayon", 2), ("timely", 2), ("timely", 1)] {
        let got = lines(&collect(options(runner, workers), |p| summary(p, &pattern)));
        assert_eq!(got, want, "{runner} with {workers} workers");
    }
}

#[test]
fn a_bad_record_fails_the_read_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(&path, "id,x\n1,2\n2,zwei\n").unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Int64, true),
    ]));
    let p = Pipeline::new(options("direct", 1));
    read(
        &p,
        "Read",
        path.to_str().unwrap(),
        Format::Csv { delimiter: b',' },
        Some(schema),
    )
    .unwrap();
    let e = p.run().unwrap_err().to_string();
    assert!(
        e.contains("bad.csv:3") && e.contains("column `x`") && e.contains("zwei"),
        "{e}"
    );
}

/// One file read in byte ranges (the direct runner splits every source into
/// three or more; rayon and timely by size): every record once, quoted line
/// breaks and delimiters inside fields kept, bad records as dead letters
/// with their own file line, whatever the splitting.
#[test]
fn a_csv_file_read_in_ranges_yields_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.csv");
    let mut text = String::from("id,note\n");
    let (mut want_ids, mut bad_lines) = (Vec::new(), Vec::new());
    let mut line = 2u64;
    for id in 0..3000u64 {
        if id % 97 == 13 {
            text.push_str(&format!("oops{id},x\n"));
            bad_lines.push(line);
            line += 1;
            continue;
        }
        if id % 5 == 0 {
            // A quoted field with a line break and a delimiter.
            text.push_str(&format!("{id},\"line one, {id}\nline two\"\n"));
            line += 2;
        } else {
            text.push_str(&format!("{id},plain {id}\n"));
            line += 1;
        }
        want_ids.push(id as i64);
    }
    std::fs::write(&path, &text).unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("note", DataType::Utf8, true),
    ]));
    for (runner, workers) in [("direct", 1), ("rayon", 2), ("timely", 2)] {
        let p = Pipeline::new(options(runner, workers));
        let (table, dead) = beam_sql::read::read_with_dead_letter(
            &p,
            "Read",
            path.to_str().unwrap(),
            Format::Csv { delimiter: b',' },
            Some(schema.clone()),
        )
        .unwrap();
        let rows = Arc::new(Mutex::new(Vec::new()));
        let sink = rows.clone();
        table
            .rows()
            .apply(
                "Keep",
                Map::new(move |r: &Rows| {
                    let b = r.batch();
                    let ids = b.column(0).as_primitive::<Int64Type>();
                    let notes = b.column(1).as_string::<i32>();
                    let mut out = sink.lock().unwrap();
                    for i in 0..b.num_rows() {
                        out.push((ids.value(i), notes.value(i).to_string()));
                    }
                }),
            )
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        dead.apply(
            "KeepDead",
            Map::new(move |d: &io_connectors::DeadLetter| {
                sink.lock().unwrap().push(d.location.line().unwrap());
            }),
        )
        .unwrap();
        p.run().unwrap();
        let mut got = rows.lock().unwrap().clone();
        got.sort();
        let ids: Vec<i64> = got.iter().map(|(i, _)| *i).collect();
        assert_eq!(ids, want_ids, "{runner}");
        for (id, note) in &got {
            let want = if id % 5 == 0 {
                format!("line one, {id}\nline two")
            } else {
                format!("plain {id}")
            };
            assert_eq!(*note, want, "{runner}");
        }
        let mut dead_lines = lines.lock().unwrap().clone();
        dead_lines.sort();
        assert_eq!(dead_lines, bad_lines, "{runner}");
    }
}

/// Top-n per group over many bundles: partial lists merge to the same
/// result as sorting each group, on every runner.
#[test]
fn top_n_per_group_merges_across_bundles() {
    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    struct Reading {
        group: i64,
        value: i64,
    }
    let readings: Vec<Reading> = (0..6000i64)
        .map(|i| Reading {
            group: i % 7,
            value: (i * 7919) % 1000,
        })
        .collect();
    // Per group: the largest three, the smallest two, and every value.
    type Lists = (Vec<i64>, Vec<i64>, Vec<i64>);
    let mut want: BTreeMap<i64, Lists> = BTreeMap::new();
    for r in &readings {
        let e = want.entry(r.group).or_default();
        e.0.push(r.value);
        e.1.push(r.value);
        e.2.push(r.value);
    }
    for (big, small, all) in want.values_mut() {
        big.sort_by(|a, b| b.cmp(a));
        big.truncate(3);
        small.sort();
        small.truncate(2);
        all.sort();
    }
    for (runner, workers) in [("direct", 1), ("rayon", 2), ("timely", 2)] {
        let data = readings.clone();
        let batches = collect(options(runner, workers), move |p| {
            let rows = p.apply("Readings", beam_core::Create::of(data)).unwrap();
            Table::from_elements("Rows", &rows)
                .unwrap()
                .group_by(vec![col("group")])
                .aggregate(
                    "Top",
                    vec![
                        beam_sql::top_largest(col("value"), 3).alias("big"),
                        beam_sql::top_smallest(col("value"), 2).alias("small"),
                        beam_sql::collect_list(col("value")).alias("all"),
                    ],
                )
                .unwrap()
        });
        let mut got = BTreeMap::new();
        for b in &batches {
            let groups = b.column(0).as_primitive::<Int64Type>();
            let lists = |c: usize, row: usize| -> Vec<i64> {
                let l = b.column(c).as_list::<i32>().value(row);
                l.as_primitive::<Int64Type>().values().to_vec()
            };
            for row in 0..b.num_rows() {
                got.insert(
                    groups.value(row),
                    (lists(1, row), lists(2, row), lists(3, row)),
                );
            }
        }
        assert_eq!(got, want, "{runner}");
    }
}
