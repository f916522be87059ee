//! The Kafka Streams-style programs against the real broker the test script
//! starts (`BEAM_TEST_KAFKA_BROKERS`): `user_activity_counts` writes a
//! changelog whose last value per user is the user's count, and
//! `user_sessions_to_kafka` writes one record per session equal to the
//! sessions computed directly.

mod common;

use common::kafka::{brokers, create_topic, produce, read_partition, run_program, unique};
use examples::user_tables::decode_count;
use std::collections::BTreeMap;

/// Every record of the output topic as (key, count).
fn read_counts(brokers: &str, topic: &str) -> Vec<(String, i64)> {
    read_partition(brokers, topic)
        .into_iter()
        .map(|(k, v)| {
            (
                k.expect("a key"),
                decode_count(&v).expect("an 8-byte count"),
            )
        })
        .collect()
}

/// Runs example `bin` between `input` and `output` on `runner` to the end of
/// the input.
fn run(bin: &str, brokers: &str, input: &str, output: &str, runner: &[&str]) {
    let mut args = vec!["--kafka", brokers, "--stop-at-end"];
    args.extend(["--input-topic", input, "--output-topic", output]);
    args.extend_from_slice(runner);
    run_program(bin, &args);
}

/// 2025-11-24T12:00:00Z, in milliseconds.
const BASE_MS: i64 = 1_764_000_000_000;
const USERS: u64 = 7;
const RECORDS: u64 = 700;

/// The events: `(user, time in ms)`, 20 s apart and in time order (so the
/// watermark passes no record still to come). Record `i` is user `i % 7`'s,
/// except that in the `b`-th block of 100 records user `b` is silent (its
/// records go to the next user): a gap of over 33 minutes, so users 1 to 5
/// have two sessions each.
fn events() -> Vec<(String, i64)> {
    (0..RECORDS)
        .map(|i| {
            let block = i / 100;
            let u = if i % USERS == block % USERS {
                (i + 1) % USERS
            } else {
                i % USERS
            };
            (format!("user{u}"), BASE_MS + i as i64 * 20_000)
        })
        .collect()
}

fn topics(name: &str) -> (String, String, String) {
    let brokers = brokers();
    let (input, output) = (
        unique(&format!("{name}-in")),
        unique(&format!("{name}-out")),
    );
    create_topic(&brokers, &input, 3);
    create_topic(&brokers, &output, 1);
    // Keyed by user, so a user's events stay in one partition, in order.
    let records = events()
        .into_iter()
        .map(|(user, ms)| (user, "click".to_string(), ms));
    produce(&brokers, &input, records);
    (brokers, input, output)
}

#[test]
fn user_activity_counts_writes_a_changelog_ending_at_each_users_count() {
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for (user, _) in events() {
        *want.entry(user).or_default() += 1;
    }
    for runner in [
        &["--runner", "timely", "--parallelism", "2"][..],
        &["--runner", "direct"][..],
    ] {
        let (brokers, input, output) = topics("actions");
        let bin = env!("CARGO_BIN_EXE_user_activity_counts");
        run(bin, &brokers, &input, &output, runner);
        let changelog = read_counts(&brokers, &output);
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        for (user, n) in &changelog {
            let before = last.insert(user.clone(), *n).unwrap_or(0);
            assert!(
                *n > before,
                "{user}'s count went from {before} to {n} ({runner:?})"
            );
        }
        assert_eq!(last, want, "{runner:?}");
    }
}

#[test]
fn user_sessions_to_kafka_writes_each_session_once() {
    let gap = 30 * 60_000;
    let mut by_user: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (user, ms) in events() {
        by_user.entry(user).or_default().push(ms);
    }
    let mut want: BTreeMap<String, i64> = BTreeMap::new();
    for (user, mut times) in by_user {
        times.sort();
        let mut start = times[0];
        let mut n = 0;
        for (i, &t) in times.iter().enumerate() {
            n += 1;
            let next = times.get(i + 1);
            if next.is_none_or(|&next| next >= t + gap) {
                want.insert(format!("{user}@{start}-{}", t + gap), n);
                n = 0;
                if let Some(&next) = next {
                    start = next;
                }
            }
        }
    }
    assert_eq!(
        want.len(),
        12,
        "two sessions for users 1 to 5, one for users 0 and 6"
    );
    let (brokers, input, output) = topics("sessions");
    let bin = env!("CARGO_BIN_EXE_user_sessions_to_kafka");
    run(
        bin,
        &brokers,
        &input,
        &output,
        &["--runner", "timely", "--parallelism", "2"],
    );
    let got = read_counts(&brokers, &output);
    let mut sessions: BTreeMap<String, i64> = BTreeMap::new();
    for (key, n) in got {
        assert!(
            sessions.insert(key.clone(), n).is_none(),
            "{key} written twice"
        );
    }
    assert_eq!(sessions, want);
}
