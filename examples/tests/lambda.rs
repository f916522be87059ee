//! The Lambda architecture end to end against the test broker and Redis:
//! transactions before a cut-off go to Parquet and through `lambda_batch`,
//! the rest to Kafka and through `lambda_speed` (timely, 2 workers,
//! checkpoints), and `lambda_serve` answers every (user, date) as a direct
//! computation over all transactions does, from the command line and over
//! HTTP. A second speed run over the same records changes no answer.

mod common;

use beam_core::{Create, Pipeline, PipelineOptions};
use common::endpoints::{free_addr, get};
use common::kafka::{brokers, create_topic, produce, run_program, unique};
use examples::lambda::{date_of, DailyTotal, TransactionRow};
use io_connectors::ParquetIO;
use std::collections::BTreeMap;

/// 2025-11-24T20:00:00Z, in seconds.
const START: i64 = 1_764_014_400;
/// 2025-11-25T02:00:00Z: the batch covers what is before it.
const CUTOFF: i64 = START + 6 * 3600;

/// 5 users, a payment every 47 s for 12 hours (across midnight, so each
/// user has two dates, and the cut-off is inside the second).
fn transactions() -> Vec<TransactionRow> {
    (0..(12 * 3600 / 47))
        .map(|i| TransactionRow {
            txn_id: format!("t{i:05}"),
            user_id: format!("user{}", i % 5),
            amount: ((i * 37) % 1000) as f64 / 4.0,
            timestamp: START + i * 47,
        })
        .collect()
}

fn expected() -> BTreeMap<(String, String), (f64, u64, i64)> {
    let mut want = BTreeMap::new();
    for t in transactions() {
        let date = date_of(beam_core::Timestamp::from_secs(t.timestamp));
        let e = want.entry((t.user_id, date)).or_insert((0.0, 0, i64::MIN));
        e.0 += t.amount;
        e.1 += 1;
        e.2 = e.2.max(t.timestamp);
    }
    want
}

fn query(view: &str, redis: &str, prefix: &str, user: &str, date: &str) -> Option<DailyTotal> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lambda_serve"))
        .args([
            "query",
            "--view",
            view,
            "--redis",
            redis,
            "--key-prefix",
            prefix,
        ])
        .args(["--user", user, "--date", date])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(answer: Option<DailyTotal>, want: &(f64, u64, i64), what: &str) {
    let a = answer.unwrap_or_else(|| panic!("{what}: no answer"));
    assert_eq!(
        (a.transaction_count, a.last_transaction_time),
        (want.1, want.2),
        "{what}"
    );
    assert!(
        (a.total_amount - want.0).abs() < 1e-6,
        "{what}: {} vs {}",
        a.total_amount,
        want.0
    );
}

#[test]
fn batch_speed_and_serving_layers_answer_as_the_whole_history_does() {
    let redis = std::env::var("BEAM_TEST_REDIS_URL")
        .expect("BEAM_TEST_REDIS_URL is not set: run the tests with `bash scripts/test.sh`");
    let brokers = brokers();
    let dir = tempfile::tempdir().unwrap();
    let (batch, live): (Vec<_>, Vec<_>) = transactions()
        .into_iter()
        .partition(|t| t.timestamp < CUTOFF);
    assert!(!batch.is_empty() && !live.is_empty());

    // History to Parquet, the rest to Kafka at their transaction times.
    let history = dir.path().join("history").display().to_string();
    let p = Pipeline::new(PipelineOptions::default());
    p.apply("History", Create::of(batch))
        .unwrap()
        .apply(
            "Write",
            ParquetIO::write(&history)
                .with_num_shards(2)
                .with_suffix(".parquet"),
        )
        .unwrap();
    p.run().unwrap();
    let topic = unique("transactions");
    create_topic(&brokers, &topic, 3);
    let records = live.iter().map(|t| {
        let line = format!("{},{},{},{}", t.txn_id, t.user_id, t.amount, t.timestamp);
        (t.user_id.clone(), line, t.timestamp * 1000)
    });
    produce(&brokers, &topic, records);

    let view = dir.path().join("view").display().to_string();
    let cutoff = CUTOFF.to_string();
    run_program(
        env!("CARGO_BIN_EXE_lambda_batch"),
        &[
            "--input",
            &format!("{history}*.parquet"),
            "--view",
            &view,
            "--cutoff",
            &cutoff,
            "--runner",
            "rayon",
        ],
    );
    let prefix = unique("lambda");
    let ckpt = dir.path().join("checkpoints").display().to_string();
    let speed = [
        "--kafka",
        &brokers,
        "--topic",
        &topic,
        "--redis",
        &redis,
        "--key-prefix",
        &prefix,
        "--view",
        &view,
        "--stop-at-end",
        "--runner",
        "timely",
        "--parallelism",
        "2",
        "--checkpoint-dir",
        &ckpt,
    ];
    run_program(env!("CARGO_BIN_EXE_lambda_speed"), &speed);

    let want = expected();
    assert_eq!(want.len(), 10, "5 users on 2 dates");
    for ((user, date), w) in &want {
        check(
            query(&view, &redis, &prefix, user, date),
            w,
            &format!("{user} {date}"),
        );
    }
    assert_eq!(query(&view, &redis, &prefix, "nobody", "2025-11-24"), None);

    // Over HTTP.
    let addr = free_addr();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_lambda_serve"))
        .args([
            "serve",
            "--view",
            &view,
            "--redis",
            &redis,
            "--key-prefix",
            &prefix,
        ])
        .args(["--addr", &addr.to_string()])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for ((user, date), w) in &want {
        let path = format!("/query?user={user}&date={date}");
        let body = loop {
            if let Some(body) = get(addr, &path) {
                break body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server never answered"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        check(
            serde_json::from_str(&body).unwrap(),
            w,
            &format!("HTTP {user} {date}"),
        );
    }
    server.kill().unwrap();
    server.wait().unwrap();

    // The speed layer again over the same records: the same answers.
    std::fs::remove_dir_all(&ckpt).ok();
    run_program(env!("CARGO_BIN_EXE_lambda_speed"), &speed);
    for ((user, date), w) in &want {
        check(
            query(&view, &redis, &prefix, user, date),
            w,
            &format!("again {user} {date}"),
        );
    }
}
