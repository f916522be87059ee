//! Against a real Kafka-protocol broker (tansu), started by `scripts/services.sh`
//! (the README's test command does it) and named by `BEAM_TEST_KAFKA_BROKERS`.
//! Kafka reads are unbounded, so they run on the timely runner.

use beam_core::testing::PAssert;
use beam_core::{
    Count, Create, Duration, Map, Pipeline, PipelineOptions, Poll, Timestamp, UnboundedSource,
    WindowFn, WindowInto, WindowedValue, WithTimestamps,
};
use io_connectors::kafka::{KafkaIO, KafkaMessage, KafkaRecord, ParseJson, StartOffset};
use io_connectors::DeadLetter;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use runner_direct as _;
// Kafka reads are unbounded: timely and direct read them (rayon refuses).
use runner_timely as _;
use std::collections::BTreeMap;

fn brokers() -> String {
    std::env::var("BEAM_TEST_KAFKA_BROKERS").expect(
        "BEAM_TEST_KAFKA_BROKERS is not set: run the tests with `bash scripts/test.sh`, which installs and starts a Kafka-protocol broker (tansu)",
    )
}

/// Runs a future to completion on this thread (the admin client is async).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(std::time::Duration::from_millis(50));
    }
}

fn create_topic(name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let results = block_on(admin.create_topics([&topic], &AdminOptions::new())).unwrap();
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

fn timely() -> PipelineOptions {
    let mut o = PipelineOptions::default().with_runner("timely");
    o.parallelism = Some(2);
    o
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Click {
    user: String,
    n: u32,
}

const BASE_SECS: i64 = 1_764_000_000;

fn clicks() -> Vec<Click> {
    (0..300)
        .map(|n| Click {
            user: format!("user{}", n % 7),
            n,
        })
        .collect()
}

fn event_time(c: &Click) -> Timestamp {
    Timestamp::from_secs(BASE_SECS + i64::from(c.n) * 2)
}

/// Produces `clicks()` to `topic` with a bounded pipeline, event times as record timestamps.
fn produce_clicks(topic: &str) {
    let p = Pipeline::new(PipelineOptions::default().with_runner("direct"));
    p.apply("Clicks", Create::of(clicks()))
        .unwrap()
        .apply("Stamp", WithTimestamps::of(|c: &Click| event_time(c)))
        .unwrap()
        .apply(
            "ToMessage",
            Map::new(|c: &Click| KafkaMessage::json(Some(&c.user), c).unwrap()),
        )
        .unwrap()
        .apply("Produce", KafkaIO::write(&brokers(), topic))
        .unwrap();
    let result = p.run().unwrap();
    assert_eq!(
        result
            .metrics()
            .counter("Produce/WriteKafka", "kafka_records_produced"),
        Some(300)
    );
}

#[test]
fn produce_consume_and_windowed_count_round_trip() {
    let topic = format!("clicks-{}", std::process::id());
    let counts_topic = format!("counts-{}", std::process::id());
    create_topic(&topic, 3);
    create_topic(&counts_topic, 2);
    produce_clicks(&topic);

    // Consume on timely: every record once, event time = record timestamp,
    // then count per user in 1-minute windows and produce the counts.
    let p = Pipeline::new(timely());
    let records = p
        .apply("Read", KafkaIO::read(&brokers(), &[&topic]).stop_at_end())
        .unwrap();
    let parsed = records
        .apply("Parse", ParseJson::<Click>::with_dead_letter())
        .unwrap();
    PAssert::that(&parsed.records)
        .contains_in_any_order(clicks())
        .unwrap();
    PAssert::that(&parsed.dead_letter).is_empty().unwrap();
    let stamped = parsed
        .records
        .apply("WithTime", beam_core::Reify)
        .unwrap()
        .apply(
            "Pair",
            Map::new(|wv: &beam_core::WindowedValue<Click>| (wv.value.clone(), wv.timestamp)),
        )
        .unwrap();
    PAssert::that(&stamped)
        .contains_in_any_order(
            clicks()
                .into_iter()
                .map(|c| {
                    let t = event_time(&c);
                    (c, t)
                })
                .collect(),
        )
        .unwrap();
    parsed
        .records
        .apply(
            "Minute",
            WindowInto::new(WindowFn::fixed(Duration::from_secs(60))),
        )
        .unwrap()
        .apply("User", Map::new(|c: &Click| c.user.clone()))
        .unwrap()
        .apply("Count", Count::per_element())
        .unwrap()
        .apply(
            "Format",
            Map::new(|(u, n): &(String, u64)| KafkaMessage {
                key: Some(u.as_bytes().to_vec()),
                value: n.to_string().into_bytes(),
            }),
        )
        .unwrap()
        .apply("ProduceCounts", KafkaIO::write(&brokers(), &counts_topic))
        .unwrap();
    p.run().unwrap();

    // Read the counts back: each window's count, at the window's end timestamp.
    let mut want: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for c in clicks() {
        let secs = event_time(&c).as_micros() / 1_000_000;
        let window_end = (secs - secs.rem_euclid(60) + 60) * 1000 - 1;
        *want.entry((c.user.clone(), window_end)).or_default() += 1;
    }
    let p = Pipeline::new(timely());
    let counts = p
        .apply(
            "Read",
            KafkaIO::read(&brokers(), &[&counts_topic]).stop_at_end(),
        )
        .unwrap()
        .apply(
            "Decode",
            Map::new(|r: &KafkaRecord| {
                (
                    String::from_utf8(r.key.clone().unwrap()).unwrap(),
                    r.timestamp.as_micros() / 1000,
                    String::from_utf8(r.value.clone().unwrap())
                        .unwrap()
                        .parse::<u64>()
                        .unwrap(),
                )
            }),
        )
        .unwrap();
    PAssert::that(&counts)
        .contains_in_any_order(want.into_iter().map(|((u, t), n)| (u, t, n)).collect())
        .unwrap();
    p.run().unwrap();
}

#[test]
fn start_offsets_latest_timestamp_and_committed() {
    let topic = format!("starts-{}", std::process::id());
    create_topic(&topic, 2);
    produce_clicks(&topic);

    let p = Pipeline::new(timely());
    let latest = p
        .apply(
            "Latest",
            KafkaIO::read(&brokers(), &[&topic])
                .with_start(StartOffset::Latest)
                .stop_at_end(),
        )
        .unwrap();
    // Latest starts at the end offset the broker reports. (With a Kafka broker that
    // is the end of the log, so nothing is read; tansu 0.6 undercounts its end
    // offsets, so here the check is that reading starts exactly there.)
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", "probe")
        .create()
        .unwrap();
    let ends: Vec<i64> = (0..2)
        .map(|part| {
            probe
                .fetch_watermarks(&topic, part, std::time::Duration::from_secs(10))
                .unwrap()
                .1
        })
        .collect();
    let first_offsets = latest
        .apply(
            "PartitionOffset",
            Map::new(|r: &KafkaRecord| (r.partition, r.offset)),
        )
        .unwrap();
    PAssert::that(&first_offsets)
        .satisfies(move |offs| {
            for part in 0..2 {
                let least = offs.iter().filter(|o| o.0 == part).map(|o| o.1).min();
                if let Some(least) = least {
                    assert_eq!(
                        least, ends[part as usize],
                        "partition {part} starts at its end offset"
                    );
                }
            }
            assert!(offs.len() < 300);
        })
        .unwrap();
    // Kafka's rule: from the first record at or after the time, in offset order.
    // Produce in time order to one partition, so that is every record from then on.
    let ordered = format!("ordered-{}", std::process::id());
    create_topic(&ordered, 1);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    for c in clicks() {
        let value = serde_json::to_vec(&c).unwrap();
        let record = BaseRecord::<(), [u8]>::to(&ordered)
            .payload(&value[..])
            .timestamp(event_time(&c).as_micros() / 1000);
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(std::time::Duration::from_secs(30)).unwrap();
    let from = Timestamp::from_secs(BASE_SECS + 400);
    let since = p
        .apply(
            "Since",
            KafkaIO::read(&brokers(), &[&ordered])
                .with_start(StartOffset::Timestamp(from))
                .stop_at_end(),
        )
        .unwrap()
        .apply("Value", ParseJson::<Click>::with_dead_letter())
        .unwrap();
    PAssert::that(&since.records)
        .contains_in_any_order(
            clicks()
                .into_iter()
                .filter(|c| event_time(c) >= from)
                .collect(),
        )
        .unwrap();
    p.run().unwrap();

    // Commit offset 40 of every partition for a group, then read from the committed offsets.
    let group = format!("group-{}", std::process::id());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for part in 0..2 {
        tpl.add_partition_offset(&topic, part, Offset::Offset(40))
            .unwrap();
    }
    consumer.commit(&tpl, CommitMode::Sync).unwrap();
    let p = Pipeline::new(timely());
    let offsets = p
        .apply(
            "Committed",
            KafkaIO::read(&brokers(), &[&topic])
                .with_group_id(&group)
                .with_start(StartOffset::Committed)
                .stop_at_end(),
        )
        .unwrap()
        .apply("Offset", Map::new(|r: &KafkaRecord| r.offset))
        .unwrap();
    PAssert::that(&offsets)
        .satisfies(|offs| {
            assert!(offs.iter().all(|&o| o >= 40), "{offs:?}");
            assert_eq!(offs.len(), 300 - 80, "both partitions from offset 40");
        })
        .unwrap();
    p.run().unwrap();
}

#[test]
fn checkpoint_marks_resume_without_loss_or_duplicates() {
    let topic = format!("resume-{}", std::process::id());
    create_topic(&topic, 3);
    produce_clicks(&topic);
    let source = KafkaIO::read(&brokers(), &[&topic])
        .stop_at_end()
        .into_source();
    let mut reader = source.reader().unwrap();
    let mut first = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // Read at least 120 records, and some of every partition, before the mark.
    let every_partition_read = |recs: &[WindowedValue<KafkaRecord>]| {
        (0..3).all(|part| recs.iter().any(|wv| wv.value.partition == part))
    };
    while (first.len() < 120 || !every_partition_read(&first))
        && std::time::Instant::now() < deadline
    {
        reader.poll(&mut first, 10).unwrap();
    }
    assert!(first.len() >= 120 && every_partition_read(&first));
    assert!(first.len() < 300, "the mark is taken before the end");
    let mark = reader
        .checkpoint_mark()
        .expect("Kafka readers have checkpoint marks");
    drop(reader);
    let mut resumed = source.resume(&mark).unwrap();
    assert_eq!(
        resumed.checkpoint_mark(),
        Some(mark),
        "a resumed reader starts from the mark's offsets"
    );
    // Each partition's estimate is restored: the watermark is at least the least
    // over the partitions of the latest record time read before the mark (more
    // if a partition already counts as done at its end).
    let restored = (0..3)
        .map(|part| {
            first
                .iter()
                .filter(|wv| wv.value.partition == part)
                .map(|wv| wv.timestamp)
                .max()
                .unwrap_or(Timestamp::MIN)
        })
        .min()
        .unwrap();
    assert!(
        resumed.watermark() >= restored,
        "a resumed reader's watermark does not fall back: {:?} < {restored:?}",
        resumed.watermark()
    );
    let mut rest = Vec::new();
    while resumed.poll(&mut rest, 1000).unwrap() != Poll::Finished {
        assert!(
            std::time::Instant::now() < deadline,
            "resumed reader never finished"
        );
    }
    let mut all: Vec<(i32, i64)> = first
        .iter()
        .chain(&rest)
        .map(|wv| (wv.value.partition, wv.value.offset))
        .collect();
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!((n, all.len()), (300, 300), "every record exactly once");
    assert_eq!(
        resumed.watermark(),
        Timestamp::from_secs(BASE_SECS + 299 * 2),
        "watermark at the latest record once all partitions are done"
    );
}

#[test]
fn malformed_values_go_to_the_dead_letter_with_topic_partition_and_offset() {
    let topic = format!("bad-{}", std::process::id());
    create_topic(&topic, 1);
    let values: Vec<KafkaMessage> = (0..50)
        .map(|i| KafkaMessage {
            key: None,
            value: if i % 5 == 0 {
                format!("not json {i}").into_bytes()
            } else {
                serde_json::to_vec(&Click {
                    user: "u".into(),
                    n: i,
                })
                .unwrap()
            },
        })
        .collect();
    let p = Pipeline::new(PipelineOptions::default().with_runner("direct"));
    p.apply("Values", Create::of(values))
        .unwrap()
        .apply("Produce", KafkaIO::write(&brokers(), &topic))
        .unwrap();
    p.run().unwrap();
    for options in [timely(), PipelineOptions::default().with_runner("direct")] {
        let p = Pipeline::new(options);
        let parsed = p
            .apply("Read", KafkaIO::read(&brokers(), &[&topic]).stop_at_end())
            .unwrap()
            .apply("Parse", ParseJson::<Click>::with_dead_letter())
            .unwrap();
        let dead = parsed
            .dead_letter
            .apply(
                "Raw",
                Map::new(|d: &DeadLetter| (d.raw_text().into_owned(), d.location.to_string())),
            )
            .unwrap();
        PAssert::that(&parsed.records)
            .satisfies(|r| assert_eq!(r.len(), 40))
            .unwrap();
        let t = topic.clone();
        PAssert::that(&dead)
            .satisfies(move |d| {
                assert_eq!(d.len(), 10);
                for (raw, loc) in d {
                    let i: i64 = raw.trim_start_matches("not json ").parse().unwrap();
                    assert_eq!(i % 5, 0, "{raw}");
                    assert!(loc.starts_with(&format!("{t}/0@")), "{loc}");
                }
            })
            .unwrap();
        let result = p.run().unwrap();
        assert_eq!(
            result
                .metrics()
                .counter("Parse/SplitDeadLetters", "dead_letter_records"),
            Some(10)
        );
    }
}

/// Drops what it is given.
#[derive(Clone)]
struct Discard;

impl beam_core::DoFn for Discard {
    type In = KafkaRecord;
    type Out = ();
    fn process(
        &mut self,
        _: &KafkaRecord,
        _: &mut beam_core::ProcessContext<'_, ()>,
    ) -> beam_core::UserResult {
        Ok(())
    }
}

#[test]
fn completed_checkpoints_commit_their_offsets_to_the_consumer_group() {
    let topic = format!("commits-{}", std::process::id());
    create_topic(&topic, 2);
    produce_clicks(&topic);
    let group = format!("committing-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let p = Pipeline::new(
        timely()
            .set("checkpoint-dir", dir.path().to_str().unwrap())
            .set("checkpoint-interval", "50ms"),
    );
    p.apply(
        "Read",
        KafkaIO::read(&brokers(), &[&topic])
            .with_group_id(&group)
            .stop_at_end(),
    )
    .unwrap()
    .apply("Discard", beam_core::ParDo::of(Discard))
    .unwrap();
    let result = p.run().unwrap();
    assert!(
        result
            .metrics()
            .counter("Read", "checkpoints_completed")
            .unwrap_or(0)
            > 0
    );
    // The source stays a moment past the end (to see that nothing more
    // comes), so a checkpoint after the last record completes while it runs.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", &group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for part in 0..2 {
        tpl.add_partition(&topic, part);
    }
    let committed = consumer
        .committed_offsets(tpl, std::time::Duration::from_secs(10))
        .unwrap();
    let total: i64 = committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            other => panic!(
                "partition {} has no committed offset: {other:?}",
                e.partition()
            ),
        })
        .sum();
    assert_eq!(total, 300, "{committed:?}");
}

#[test]
fn checkpoints_complete_while_hour_long_windows_wait_and_a_partition_is_idle() {
    let topic = format!("idle-{}", std::process::id());
    create_topic(&topic, 2);
    // Every record to partition 0; partition 1 gets nothing.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    for c in clicks() {
        let value = serde_json::to_vec(&c).unwrap();
        let record = BaseRecord::<(), [u8]>::to(&topic)
            .payload(&value[..])
            .partition(0)
            .timestamp(event_time(&c).as_micros() / 1000);
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(std::time::Duration::from_secs(30)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = Pipeline::new(
        timely()
            .set("checkpoint-dir", dir.path().to_str().unwrap())
            .set("checkpoint-interval", "100ms"),
    );
    p.apply("Read", KafkaIO::read(&brokers(), &[&topic]).stop_at_end())
        .unwrap()
        .apply(
            "Hours",
            WindowInto::new(WindowFn::fixed(Duration::from_secs(3600))),
        )
        .unwrap()
        .apply("Discard", beam_core::ParDo::of(Discard))
        .unwrap();
    let start = std::time::Instant::now();
    let result = p.run().unwrap();
    let elapsed = start.elapsed();
    let completed = result
        .metrics()
        .counter("Read", "checkpoints_completed")
        .unwrap_or(0);
    // The run lasts at least the reader's 3 s of quiet at the end; at 100 ms
    // a checkpoint, most of them complete while the windows wait.
    let expected = (elapsed.as_millis() / 100 / 3) as i64;
    assert!(
        completed >= expected.max(5),
        "{completed} checkpoints in {elapsed:?} at 100 ms"
    );
}

type Reader = dyn beam_core::UnboundedReader<KafkaRecord>;

/// A reader's backlog, by partition.
fn lag_of(reader: &Reader) -> BTreeMap<String, u64> {
    reader
        .backlog()
        .into_iter()
        .map(|b| (b.partition, b.records.unwrap()))
        .collect()
}

/// Reads one record at a time until the backlog is what is left of `total`
/// records; the backlog then.
fn read_until_the_lag_is_right(
    reader: &mut Reader,
    read: &mut Vec<WindowedValue<KafkaRecord>>,
    total: u64,
    deadline: std::time::Instant,
) -> BTreeMap<String, u64> {
    let mut seen = Vec::new();
    loop {
        reader.poll(read, 1).unwrap();
        let now = lag_of(reader);
        seen.push(now.values().sum::<u64>());
        let left = total.saturating_sub(read.len() as u64);
        if left > 0 && seen.last() == Some(&left) {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline && left > 0,
            "the lag never matched {total} records ({} read): {:?}",
            read.len(),
            &seen[seen.len().saturating_sub(20)..]
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The reader's backlog: per partition, the records after the next one it
/// hands out, from the high watermarks librdkafka's statistics report.
#[test]
fn a_reader_reports_its_consumer_lag_per_partition() {
    let topic = format!("lag-{}", std::process::id());
    create_topic(&topic, 3);
    produce_clicks(&topic);
    let source = KafkaIO::read(&brokers(), &[&topic]).into_source();
    let mut reader = source.reader().unwrap();
    let names: Vec<String> = (0..3).map(|p| format!("{topic}/{p}")).collect();
    assert_eq!(
        lag_of(reader.as_ref()).into_keys().collect::<Vec<_>>(),
        names,
        "every partition has a lag from the start"
    );
    let mut read = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // Reading slowly: once the statistics came (the high watermark fetched at
    // open is the broker's answer, which tansu undercounts), the lag is what
    // is left of each partition.
    let first = read_until_the_lag_is_right(reader.as_mut(), &mut read, 300, deadline);
    let taken = |read: &[WindowedValue<KafkaRecord>], p: usize| {
        read.iter()
            .filter(|wv| wv.value.partition as usize == p)
            .count() as u64
    };
    // Each partition's lag and what was taken from it add up to its size.
    let sizes: Vec<u64> = (0..3).map(|p| first[&names[p]] + taken(&read, p)).collect();
    assert_eq!(sizes.iter().sum::<u64>(), 300);
    let want = read.len() + 20;
    while read.len() < want {
        let n = want - read.len();
        reader.poll(&mut read, n).unwrap();
    }
    let now = lag_of(reader.as_ref());
    for p in 0..3 {
        assert_eq!(now[&names[p]], sizes[p] - taken(&read, p), "{now:?}");
    }

    // More records: the statistics raise the lag while the reader reads on.
    produce_clicks(&topic);
    read_until_the_lag_is_right(reader.as_mut(), &mut read, 600, deadline);
}
