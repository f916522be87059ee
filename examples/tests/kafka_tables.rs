//! The Kafka Streams-style programs against the real broker the test script
//! starts (`BEAM_TEST_KAFKA_BROKERS`): `user_activity_counts` writes a
//! changelog whose last value per user is the user's count, and
//! `user_sessions_to_kafka` writes one record per session equal to the
//! sessions computed directly.

use examples::user_tables::decode_count;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::process::Command;

/// 2025-11-24T12:00:00Z, in milliseconds.
const BASE_MS: i64 = 1_764_000_000_000;
const USERS: u64 = 7;
const RECORDS: u64 = 700;

fn brokers() -> String {
    std::env::var("BEAM_TEST_KAFKA_BROKERS").expect(
        "BEAM_TEST_KAFKA_BROKERS is not set: run the tests with `bash scripts/test.sh`, which installs and starts a Kafka-protocol broker (tansu)",
    )
}

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn create_topic(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    // The records' timestamps are in the past: kept whatever their age.
    let topic =
        NewTopic::new(name, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1");
    for r in
        futures_executor::block_on(admin.create_topics([&topic], &AdminOptions::new())).unwrap()
    {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

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

/// Produces the events keyed by user (so a user's events stay in one
/// partition, in order).
fn produce(brokers: &str, topic: &str, events: &[(String, i64)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for (user, ms) in events {
        let record = BaseRecord::to(topic)
            .key(user.as_str())
            .payload("click")
            .timestamp(*ms);
        producer.send(record).map_err(|(e, _)| e).unwrap();
        producer.poll(std::time::Duration::ZERO);
    }
    producer.flush(std::time::Duration::from_secs(30)).unwrap();
}

/// Every record of `topic` (one partition), in order, once none came for 3 s.
fn read_all(brokers: &str, topic: &str) -> Vec<(String, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("check"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut got = Vec::new();
    let mut last = std::time::Instant::now();
    let deadline = last + std::time::Duration::from_secs(90);
    while last.elapsed() < std::time::Duration::from_secs(3) && std::time::Instant::now() < deadline
    {
        if let Some(m) = consumer.poll(std::time::Duration::from_millis(100)) {
            let m = m.unwrap();
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            let value = decode_count(m.payload().unwrap()).expect("an 8-byte count");
            got.push((key, value));
            last = std::time::Instant::now();
        }
    }
    got
}

/// Runs example `bin` between `input` and `output` on `runner` to the end of
/// the input.
fn run(bin: &str, brokers: &str, input: &str, output: &str, runner: &[&str]) {
    let out = Command::new(bin)
        .args(["--kafka", brokers, "--stop-at-end"])
        .args(["--input-topic", input, "--output-topic", output])
        .args(runner)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn topics(name: &str) -> (String, String, String) {
    let brokers = brokers();
    let (input, output) = (
        unique(&format!("{name}-in")),
        unique(&format!("{name}-out")),
    );
    create_topic(&brokers, &input, 3);
    create_topic(&brokers, &output, 1);
    produce(&brokers, &input, &events());
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
        let changelog = read_all(&brokers, &output);
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
    let got = read_all(&brokers, &output);
    let mut sessions: BTreeMap<String, i64> = BTreeMap::new();
    for (key, n) in got {
        assert!(
            sessions.insert(key.clone(), n).is_none(),
            "{key} written twice"
        );
    }
    assert_eq!(sessions, want);
}
