//! Kafka in, Kafka out through the exactly-once sink, on the timely runner
//! under crashes: a pipeline reading a topic (a stateful running count per
//! user, and per-user counts in 1-second event-time windows) is killed at
//! seeded random moments (after each run's first checkpoint, however long
//! its restore took) and made to abort at named failure points (with a
//! transaction's records produced but not committed; after a checkpoint's
//! parts are written but not its manifest; after a checkpoint is published
//! but before the sink commits), and restarted from its latest checkpoint
//! each time, on 2, 3 and 1 workers in turn. Read back with
//! `read_committed`, the output topic holds every expected record exactly
//! once.
//!
//! Needs a broker with transactions (`BEAM_TEST_KAFKA_TXN_BROKERS`, started
//! by `scripts/services.sh`). The pipeline runs in a child process: this
//! test binary started again with `EXACTLY_ONCE_KAFKA_CHILD` set, so that it
//! can be killed.
#![cfg(unix)]

mod common;

use beam_core::{
    DoFn, Duration, Flatten, Map, PCollectionList, ParDo, Pipeline, PipelineOptions,
    ProcessContext, StateContext, StatefulDoFn, StatefulParDo, Sum, UserResult, WindowFn,
    WindowInto,
};
use common::kafka::create_topic;
use common::{checkpoints, text, wait, KillDelays, Tally};
use io_connectors::kafka::{KafkaIO, KafkaMessage, KafkaRecord};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use runner_timely as _;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};

const RECORDS: u64 = 12_000;
const USERS: u64 = 8;
/// Event time of record `seq`: 5 ms apart from this instant (ms).
const BASE_MS: i64 = 1_700_000_000_000;

fn brokers() -> Option<String> {
    std::env::var("BEAM_TEST_KAFKA_TXN_BROKERS").ok()
}

/// Numbers each user's records in the order they were read.
#[derive(Clone)]
struct RunningCount;

impl StatefulDoFn for RunningCount {
    type Key = u64;
    type Value = u64;
    type Out = String;
    fn process(
        &mut self,
        user: &u64,
        seq: &u64,
        ctx: &mut StateContext<'_, u64, String>,
    ) -> UserResult {
        let next = {
            let mut n = ctx.value_state::<u64>("n")?;
            let next = n.read().unwrap_or(0) + 1;
            n.write(next);
            next
        };
        ctx.output(format!("record {seq} user {user} n {next}"));
        Ok(())
    }
}

/// Slows the run down, passing records on: each killed attempt moves the
/// job on by a checkpoint or a few (a few hundred records), so every kill
/// and failure point lands inside the input; the last run reads the rest
/// (most of it).
#[derive(Clone)]
struct Slow;

impl DoFn for Slow {
    type In = (u64, u64);
    type Out = (u64, u64);
    fn process(&mut self, kv: &(u64, u64), ctx: &mut ProcessContext<'_, (u64, u64)>) -> UserResult {
        std::thread::sleep(std::time::Duration::from_micros(500));
        ctx.output(*kv);
        Ok(())
    }
}

/// A window's count, with the window.
#[derive(Clone)]
struct Describe;

impl DoFn for Describe {
    type In = (u64, u64);
    type Out = String;
    fn process(&mut self, kv: &(u64, u64), ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let start = ctx
            .window()
            .as_interval()
            .map_or(-1, |w| w.start.as_micros() / 1000);
        ctx.output(format!("window {start} user {} count {}", kv.0, kv.1));
        Ok(())
    }
}

/// The child: the pipeline, with the options in `args`.
fn child(args: &[String], brokers: &str, input: &str, output: &str) -> beam_core::Result<()> {
    let options = PipelineOptions::from_args(
        std::iter::once("child".to_string()).chain(args.iter().cloned()),
    )
    .map_err(|e| beam_core::BeamError::Options(e.to_string()))?;
    let p = Pipeline::new(options);
    let events = p
        .apply("Read", KafkaIO::read(brokers, &[input]).stop_at_end())?
        .apply(
            "Parse",
            Map::new(|r: &KafkaRecord| {
                let text = String::from_utf8_lossy(r.value.as_deref().unwrap_or(b""));
                let seq: u64 = text.trim().parse().unwrap_or(u64::MAX);
                (seq % USERS, seq)
            }),
        )?
        .apply("Slow", ParDo::of(Slow))?;
    let numbered = events.apply("Number", StatefulParDo::of(RunningCount))?;
    let counts = events
        .apply(
            "Second",
            WindowInto::new(WindowFn::fixed(Duration::from_secs(1))),
        )?
        .apply("Ones", Map::new(|kv: &(u64, u64)| (kv.0, 1u64)))?
        .apply("Count", Sum::per_key())?
        .apply("Describe", ParDo::of(Describe))?
        .apply("Global", WindowInto::new(WindowFn::Global))?;
    PCollectionList::of(vec![numbered, counts])?
        .apply("Both", Flatten)?
        .apply(
            "Message",
            Map::new(|line: &String| KafkaMessage {
                key: None,
                value: line.clone().into_bytes(),
            }),
        )?
        .apply(
            "Write",
            KafkaIO::write(brokers, output)
                .with_producer_config("transaction.timeout.ms", "20000")
                .exactly_once()
                .with_progress_topic(&format!("{output}-progress")),
        )?;
    p.run()?;
    Ok(())
}

/// What the pipeline must write: each record numbered within its user (in
/// the order of its partition, which is the order of `seq`), and each user's
/// count per second of event time.
fn expected() -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut n = [0u64; USERS as usize];
    let mut windows: BTreeMap<(i64, u64), u64> = BTreeMap::new();
    for seq in 0..RECORDS {
        let user = seq % USERS;
        n[user as usize] += 1;
        *out.entry(format!("record {seq} user {user} n {}", n[user as usize]))
            .or_default() += 1;
        let t = BASE_MS + seq as i64 * 5;
        *windows.entry((t - t.rem_euclid(1000), user)).or_default() += 1;
    }
    for ((start, user), count) in windows {
        *out.entry(format!("window {start} user {user} count {count}"))
            .or_default() += 1;
    }
    out
}

/// The input: record `seq` (its value) in partition `user % 3`, each user's
/// records in `seq` order.
fn produce_input(brokers: &str, topic: &str) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for seq in 0..RECORDS {
        let value = seq.to_string();
        let user = (seq % USERS) as i32;
        let record = BaseRecord::<(), str>::to(topic)
            .payload(&value)
            .partition(user % 3)
            .timestamp(BASE_MS + seq as i64 * 5);
        producer.send(record).map_err(|(e, _)| e).unwrap();
        producer.poll(std::time::Duration::ZERO);
    }
    producer.flush(std::time::Duration::from_secs(30)).unwrap();
}

/// Everything committed to `topic` (`read_committed`), once no record came
/// for 3 s.
fn read_committed(brokers: &str, topic: &str, partitions: i32) -> BTreeMap<String, usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("check-{}", std::process::id()))
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut got = BTreeMap::new();
    let mut last = std::time::Instant::now();
    let deadline = last + std::time::Duration::from_secs(90);
    while last.elapsed() < std::time::Duration::from_secs(3) && std::time::Instant::now() < deadline
    {
        if let Some(m) = consumer.poll(std::time::Duration::from_millis(100)) {
            let m = m.unwrap();
            let text = String::from_utf8_lossy(m.payload().unwrap_or(b"")).to_string();
            *got.entry(text).or_default() += 1;
            last = std::time::Instant::now();
        }
    }
    got
}

/// The test binary again, running only the child.
fn spawn_child(args: &[String], input: &str, output: &str, failpoints: Option<&str>) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "kafka_to_kafka_is_exactly_once_across_kills_and_failure_points",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env("EXACTLY_ONCE_KAFKA_CHILD", args.join("\n"))
    .env("EXACTLY_ONCE_KAFKA_TOPICS", format!("{input}\n{output}"))
    .env("RUST_BACKTRACE", "0")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    match failpoints {
        Some(f) => c.env("FAILPOINTS", f),
        None => c.env_remove("FAILPOINTS"),
    };
    c
}

/// How `expected` and `got` differ, shortly.
fn difference(expected: &BTreeMap<String, usize>, got: &BTreeMap<String, usize>) -> String {
    let missing: Vec<&String> = expected.keys().filter(|k| !got.contains_key(*k)).collect();
    let twice: Vec<(&String, &usize)> = got.iter().filter(|(_, &n)| n > 1).collect();
    let unexpected: Vec<&String> = got.keys().filter(|k| !expected.contains_key(*k)).collect();
    format!(
        "{} missing (first {:?}), {} more than once (first {:?}), {} unexpected (first {:?})",
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        twice.len(),
        twice.iter().take(3).collect::<Vec<_>>(),
        unexpected.len(),
        unexpected.iter().take(3).collect::<Vec<_>>()
    )
}

#[test]
fn kafka_to_kafka_is_exactly_once_across_kills_and_failure_points() {
    let Some(brokers) = brokers() else {
        eprintln!("BEAM_TEST_KAFKA_TXN_BROKERS is not set (run scripts/services.sh): skipped");
        return;
    };
    if let Ok(args) = std::env::var("EXACTLY_ONCE_KAFKA_CHILD") {
        let args: Vec<String> = args.lines().map(String::from).collect();
        let topics = std::env::var("EXACTLY_ONCE_KAFKA_TOPICS").unwrap();
        let (input, output) = topics.split_once('\n').unwrap();
        match child(&args, &brokers, input, output) {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("child failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let tag = format!(
        "{}-{}",
        std::process::id(),
        beam_core::Timestamp::wall_clock().as_micros()
    );
    let input = format!("eo-in-{tag}");
    let output = format!("eo-out-{tag}");
    create_topic(&brokers, &input, 3);
    create_topic(&brokers, &output, 2);
    produce_input(&brokers, &input);

    let root = tempfile::tempdir().unwrap();
    let ckpt = root.path().join("checkpoints");
    let args: Vec<String> = [
        "--runner",
        "timely",
        "--checkpoint-dir",
        &ckpt.display().to_string(),
        "--checkpoint-interval",
        "200ms",
        // Little data in flight behind the slow step, so that checkpoints
        // complete within the killed attempts' lifetimes.
        "--read-bundle-size",
        "64",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut delays = KillDelays::new(0x0ca5_cade_5eed, 50, 500);
    let plan: Vec<Option<&str>> = vec![
        None,
        Some("kafka-produced=1*off->return"),
        None,
        Some("checkpoint-parts-written=2*off->return"),
        None,
        Some("checkpoint-published=2*off->return"),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ];
    let (mut tally, mut restores) = (Tally::default(), 0);
    for (attempt, failpoints) in plan.iter().enumerate() {
        // Restored on 2, 3 and 1 workers in turn: writers are taken over
        // by other workers, and old ones recovered.
        let mut run_args = args.clone();
        let workers = [2, 3, 1][attempt % 3];
        run_args.extend(["--workers".to_string(), workers.to_string()]);
        if !checkpoints(&ckpt).is_empty() {
            run_args.extend(["--restore-from".to_string(), "latest".to_string()]);
            restores += 1;
        }
        let child = spawn_child(&run_args, &input, &output, *failpoints)
            .spawn()
            .unwrap();
        let ended = tally.record(common::attempt_after_checkpoint(
            child,
            *failpoints,
            delays.next_delay(),
            attempt,
            &ckpt,
            std::time::Duration::from_secs(30),
        ));
        if ended {
            break;
        }
    }
    assert!(tally.kills >= 8 && tally.aborts == 3, "{tally:?}");
    assert!(restores >= 10, "{restores} restores");

    let mut last_args = args.clone();
    last_args.extend(["--workers", "2", "--restore-from", "latest"].map(String::from));
    let last = wait(
        spawn_child(&last_args, &input, &output, None)
            .spawn()
            .unwrap(),
    );
    assert!(last.status.success(), "{}", text(&last));

    let expected = expected();
    let got = read_committed(&brokers, &output, 2);
    assert!(
        got == expected,
        "{}\nthe last run: {}",
        difference(&expected, &got),
        text(&last)
    );
}
