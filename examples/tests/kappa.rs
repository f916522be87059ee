//! `kappa` against the test broker: history in a file, the rest of the same
//! transactions in Kafka, read as one stream on timely (2 workers,
//! checkpoints); its hourly totals equal a direct computation over all the
//! transactions (the hour the history ends in included), and reprocessing
//! (the same job again from the start into a new output) writes the same.

mod common;

use common::kafka::{brokers, create_topic, produce, run_program, unique};
use examples::records::utc;
use std::collections::BTreeMap;
use std::path::Path;

/// 2025-11-24T16:00:00Z.
const START: i64 = 1_764_000_000;
/// The history ends half-way through an hour.
const SPLIT: i64 = START + 3 * 3600 + 1800;

/// `(txn id, user, amount, time)`: 4 users, one payment every 53 s for 8
/// hours; amounts in quarters, so sums are exact.
fn transactions() -> Vec<(String, String, f64, i64)> {
    (0..(8 * 3600 / 53))
        .map(|i| {
            let amount = ((i * 29) % 400) as f64 / 4.0;
            (
                format!("t{i:05}"),
                format!("user{}", i % 4),
                amount,
                START + i * 53,
            )
        })
        .collect()
}

fn line(t: &(String, String, f64, i64)) -> String {
    format!("{},{},{},{}", t.0, t.1, t.2, t.3)
}

/// The lines `kappa` must write, sorted.
fn expected() -> Vec<String> {
    let mut hours: BTreeMap<(String, i64), (f64, u64, i64)> = BTreeMap::new();
    for (_, user, amount, t) in transactions() {
        let e = hours
            .entry((user, t - t.rem_euclid(3600)))
            .or_insert((0.0, 0, i64::MIN));
        e.0 += amount;
        e.1 += 1;
        e.2 = e.2.max(t);
    }
    let mut lines: Vec<String> = hours
        .into_iter()
        .map(|((user, hour), (total, count, last))| {
            let at = |s| utc(beam_core::Timestamp::from_secs(s));
            format!("{user},{},{total:.2},{count},{}", at(hour), at(last))
        })
        .collect();
    lines.sort();
    lines
}

/// Every line of every output file in `dir` (not the sink's own
/// directories), sorted.
fn output_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        lines.extend(text.lines().map(String::from));
    }
    lines.sort();
    lines
}

#[test]
fn history_and_live_stream_are_one_stream_and_reprocessing_writes_the_same() {
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let (history, live): (Vec<_>, Vec<_>) = transactions().into_iter().partition(|t| t.3 < SPLIT);
    let history_file = dir.path().join("history.csv");
    let text: Vec<String> = history.iter().map(line).collect();
    std::fs::write(&history_file, text.join("\n") + "\n").unwrap();
    let topic = unique("transactions");
    create_topic(&brokers, &topic, 3);
    produce(
        &brokers,
        &topic,
        live.iter().map(|t| (t.1.clone(), line(t), t.3 * 1000)),
    );

    let run = |name: &str| {
        let out = dir.path().join(name);
        std::fs::create_dir_all(&out).unwrap();
        let ckpt = dir.path().join(format!("{name}-checkpoints"));
        run_program(
            env!("CARGO_BIN_EXE_kappa"),
            &[
                "--history",
                history_file.to_str().unwrap(),
                "--kafka",
                &brokers,
                "--topic",
                &topic,
                "--stop-at-end",
                "--output",
                out.join("hourly").to_str().unwrap(),
                "--runner",
                "timely",
                "--parallelism",
                "2",
                "--checkpoint-dir",
                ckpt.to_str().unwrap(),
            ],
        );
        output_lines(&out)
    };
    let first = run("first");
    let want = expected();
    assert_eq!(want.len(), 32, "4 users over 8 hours");
    assert_eq!(first, want);
    let reprocessed = run("reprocessed");
    assert_eq!(reprocessed, first);
}
