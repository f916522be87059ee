//! `fraud_alert --kafka` against the test broker, on timely with 2 workers
//! and checkpoints every 5 s: its alerts equal the sliding sums above the
//! threshold computed directly from the payments produced.

mod common;

use common::kafka::{brokers, create_topic, produce, read_partition, run_program, unique};
use std::collections::BTreeMap;

/// 2025-11-24T12:00:00Z, in seconds.
const BASE: i64 = 1_764_000_000;
const MINUTE: i64 = 60;

/// `(user, amount, time in s)`: 4 users paying every 10 s for an hour;
/// user 1 pays 900 in its 20th to 40th minute (so about 27 000 a window
/// there), the others 100.
fn payments() -> Vec<(String, f64, i64)> {
    (0..360)
        .flat_map(|i| {
            let t = BASE + i * 10;
            (0..4).map(move |u| {
                let hot = u == 1 && (20 * MINUTE..40 * MINUTE).contains(&(t - BASE));
                (format!("user{u}"), if hot { 900.0 } else { 100.0 }, t)
            })
        })
        .collect()
}

/// What the alerts must be: `(user, window start ms, window end ms) → total`
/// for every 5-minute window sliding by 1 minute whose total exceeds 10 000.
fn expected() -> BTreeMap<(String, i64, i64), f64> {
    let mut totals: BTreeMap<(String, i64, i64), f64> = BTreeMap::new();
    for (user, amount, t) in payments() {
        // The windows [s, s + 5 min) with s a whole minute and s <= t < s + 5 min.
        let last = t - t.rem_euclid(MINUTE);
        for k in 0..5 {
            let s = last - k * MINUTE;
            *totals
                .entry((user.clone(), s * 1000, (s + 5 * MINUTE) * 1000))
                .or_default() += amount;
        }
    }
    totals.retain(|_, total| *total > 10_000.0);
    totals
}

#[test]
fn fraud_alert_over_kafka_alerts_on_every_window_above_the_threshold() {
    let brokers = brokers();
    let (input, alerts) = (unique("transactions"), unique("alerts"));
    create_topic(&brokers, &input, 3);
    create_topic(&brokers, &alerts, 1);
    let records = payments()
        .into_iter()
        .enumerate()
        .map(|(i, (user, amount, t))| {
            let line = format!("t{i:05},{user},{amount:.2},{t}");
            (user, line, t * 1000)
        });
    produce(&brokers, &input, records);

    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("checkpoints");
    run_program(
        env!("CARGO_BIN_EXE_fraud_alert"),
        &[
            "--kafka",
            &brokers,
            "--input-topic",
            &input,
            "--alerts-topic",
            &alerts,
            "--group",
            &unique("transaction-monitor"),
            "--stop-at-end",
            "--runner",
            "timely",
            "--parallelism",
            "2",
            "--checkpoint-dir",
            ckpt.to_str().unwrap(),
        ],
    );
    let mut got: BTreeMap<(String, i64, i64), f64> = BTreeMap::new();
    for (key, value) in read_partition(&brokers, &alerts) {
        let alert: serde_json::Value = serde_json::from_slice(&value).unwrap();
        let user = alert["user"].as_str().unwrap().to_string();
        assert_eq!(key.as_deref(), Some(user.as_str()), "keyed by user");
        let window = (
            user,
            alert["window_start"].as_i64().unwrap(),
            alert["window_end"].as_i64().unwrap(),
        );
        let total = alert["total"].as_f64().unwrap();
        assert!(
            got.insert(window.clone(), total).is_none(),
            "{window:?} twice"
        );
    }
    let want = expected();
    assert!(want.len() > 20, "the hot stretch alerts in many windows");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (w, total) in &want {
        assert!(
            (got[w] - total).abs() < 1e-6,
            "{w:?}: {} vs {total}",
            got[w]
        );
    }
}
