//! The connector examples, run as users run them on the bundled samples, on
//! every runner:
//! - `sales_summary`: the same Parquet bytes on every runner, the figures
//!   recomputed here from the CSV, rows ordered by total, and the two malformed
//!   sample rows in the dead-letter file with their lines;
//! - `custom_connector`: the user-defined logfmt source and Markdown sink give the
//!   same table on every runner, count every well-formed line once, and report
//!   the malformed ones.

use beam_core::BoundedSource;
use io_connectors::parquet::ParquetSource;
use std::collections::BTreeMap;
use std::process::Command;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct CategorySummary {
    product_category: String,
    total: f64,
    average: f64,
    count: u64,
}

fn expected() -> Vec<CategorySummary> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/sales.csv")).unwrap();
    let mut by_cat: BTreeMap<String, (i64, u64)> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let Ok(amount) = f.get(4).unwrap_or(&"").parse::<f64>() else {
            continue;
        };
        if f.len() != 6 || amount <= 1000.0 {
            continue;
        }
        let e = by_cat.entry(f[3].to_string()).or_default();
        e.0 += (amount * 100.0).round() as i64;
        e.1 += 1;
    }
    let mut rows: Vec<CategorySummary> = by_cat
        .into_iter()
        .map(|(c, (cents, n))| CategorySummary {
            product_category: c,
            total: cents as f64 / 100.0,
            average: (cents as f64 / n as f64).round() / 100.0,
            count: n,
        })
        .collect();
    rows.sort_by(|a, b| b.total.total_cmp(&a.total));
    rows
}

#[test]
fn identical_parquet_on_every_runner_with_dead_letters() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for runner in ["direct", "rayon", "timely"] {
        let prefix = dir.path().join(runner).display().to_string();
        run_with_output(env!("CARGO_BIN_EXE_sales_summary"), runner, &prefix);
        let parquet = std::fs::read(format!("{prefix}-00000-of-00001.parquet")).unwrap();
        let dead =
            std::fs::read_to_string(format!("{prefix}-dead-letter-00000-of-00001.jsonl")).unwrap();
        outputs.push((runner, prefix, parquet, dead));
    }
    for (runner, _, parquet, dead) in &outputs[1..] {
        assert!(
            parquet == &outputs[0].2,
            "{runner}'s Parquet differs from direct's"
        );
        assert_eq!(dead, &outputs[0].3, "{runner}");
    }
    let dead = &outputs[0].3;
    assert_eq!(dead.lines().count(), 2, "{dead}");
    let lines: Vec<&str> = dead.lines().collect();
    assert!(
        lines[0].contains("\"line\":138") && lines[1].contains("\"line\":403"),
        "dead letters in input order: {dead}"
    );
    assert!(
        lines.iter().all(|l| l.contains("\"raw\":\"")),
        "raw records as text: {dead}"
    );

    // The file's rows, in file order, through the connector's public source.
    let want = expected();
    assert!(want.len() >= 5);
    let path = format!("{}-00000-of-00001.parquet", outputs[0].1);
    let source = ParquetSource::<CategorySummary>::rows(&path, None).unwrap();
    let mut reader = source.reader().unwrap();
    let mut got = Vec::new();
    while reader.read_batch(&mut got, usize::MAX).unwrap() {}
    let got: Vec<CategorySummary> = got.into_iter().map(|wv| wv.value).collect();
    assert_eq!(got, want);
}

/// Runs `bin` on `runner` with 2 workers, writing to `prefix`; returns its stderr.
fn run_with_output(bin: &str, runner: &str, prefix: &str) -> String {
    let out = Command::new(bin)
        .args(["--runner", runner, "--parallelism", "2", "--output", prefix])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{bin} on {runner}: {stderr}");
    stderr
}

#[test]
fn same_table_on_every_runner_and_malformed_lines_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut tables = Vec::new();
    for runner in ["direct", "rayon", "timely"] {
        let prefix = dir.path().join(runner).display().to_string();
        let stderr = run_with_output(env!("CARGO_BIN_EXE_custom_connector"), runner, &prefix);
        assert!(
            stderr.contains("access.logfmt:38:") && stderr.contains("access.logfmt:89:"),
            "{stderr}"
        );
        tables.push(std::fs::read_to_string(format!("{prefix}-00000-of-00001.md")).unwrap());
    }
    assert_eq!(tables[0], tables[1]);
    assert_eq!(tables[0], tables[2]);
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/access.logfmt"))
            .unwrap();
    let total: u64 = tables[0]
        .lines()
        .skip(2)
        .map(|l| l.split('|').nth(2).unwrap().trim().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, sample.lines().count() as u64 - 2);
    let counts: Vec<u64> = tables[0]
        .lines()
        .skip(2)
        .map(|l| l.split('|').nth(2).unwrap().trim().parse().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "busiest first: {counts:?}"
    );
}

/// Amounts that are not finite decimals of cents, or out of range, are dead
/// letters; totals beyond i64 cents are still exact.
#[test]
fn sales_summary_sends_bad_amounts_to_dead_letters_and_does_not_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("hostile.csv");
    std::fs::write(
        &input,
        "product_category,amount\n\
         big,92233720368547758.07\n\
         big,92233720368547758.07\n\
         big,5000\n\
         odd,inf\nodd,-inf\nodd,NaN\nodd,1e3000\nodd,92233720368547758.08\nodd,12.345\nodd,\n\
         fine,1000.01\n",
    )
    .unwrap();
    let prefix = dir.path().join("out").to_str().unwrap().to_string();
    for runner in ["direct", "rayon", "timely"] {
        let out = Command::new(env!("CARGO_BIN_EXE_sales_summary"))
            .args(["--runner", runner, "--input", input.to_str().unwrap()])
            .args(["--output", &prefix])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dead =
            std::fs::read_to_string(format!("{prefix}-dead-letter-00000-of-00001.jsonl")).unwrap();
        assert_eq!(dead.lines().count(), 7, "{runner}: {dead}");
        let path = format!("{prefix}-00000-of-00001.parquet");
        let source = ParquetSource::<CategorySummary>::rows(&path, None).unwrap();
        let mut reader = source.reader().unwrap();
        let mut got = Vec::new();
        while reader.read_batch(&mut got, usize::MAX).unwrap() {}
        let got: Vec<CategorySummary> = got.into_iter().map(|wv| wv.value).collect();
        let cents = 2 * i128::from(i64::MAX) + 500_000;
        assert_eq!(got.len(), 2, "{runner}: {got:?}");
        assert_eq!(got[0].product_category, "big");
        assert_eq!(got[0].total, cents as f64 / 100.0, "{runner}");
        assert_eq!(got[0].count, 3);
        assert_eq!((got[1].total, got[1].count), (1000.01, 1), "{runner}");
    }
}
