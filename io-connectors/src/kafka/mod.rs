//! Kafka, with the `rdkafka` crate: an unbounded source over topics and
//! partitions, and an idempotent producer sink.
//!
//! **Source** ([`KafkaIO::read`]): partitions are spread over the runner's readers;
//! each reader is assigned its partitions (no consumer-group rebalancing) from a
//! start position ([`StartOffset`]: earliest, latest, a timestamp, or the group's
//! committed offsets). A record's Kafka timestamp is its event time. Each
//! partition estimates its own watermark with bounded out-of-orderness; a reader's
//! watermark is the least over its partitions that are not idle. The checkpoint
//! mark holds the next offset and the latest record time of every partition, and
//! [`UnboundedSource::resume`] continues from it, offsets and watermarks alike
//! (a resumed reader's watermark does not fall back). [`ReadKafka::stop_at_end`]
//! reads up to the end offsets seen when the reader starts, then finishes (for
//! tests and backfills). Values can be parsed as JSON with a dead-letter output
//! naming topic, partition and offset ([`ParseJson`]).
//!
//! **Sink** ([`KafkaIO::write`]): [`KafkaMessage`]s (key, value) are produced with
//! `enable.idempotence=true` and `acks=all`, the element's event time as the
//! record timestamp; every bundle is flushed and its delivery reports checked
//! before the bundle completes, so a failed delivery fails the run. That is
//! at least once across a restore from a checkpoint.
//! [`WriteKafka::exactly_once`] is exactly once on a checkpointing run: each
//! writer's records of a checkpoint are committed in one transaction once the
//! checkpoint is complete, with a progress record that a restore reads back
//! (see [`WriteKafkaExactlyOnce`]).

mod lag;
mod sink;
mod transactional;

pub use sink::{KafkaMessage, WriteKafka};
pub use transactional::WriteKafkaExactlyOnce;

use crate::records::{split_dead_letters, DeadLetter, Parsed, ParsedRecords, RecordLocation};
use beam_core::unbounded::{BoundedOutOfOrderness, CheckpointMark, Poll, SourceBacklog};
use beam_core::{
    BeamError, Duration, Element, Map, PBegin, PCollection, PTransform, ReadUnbounded, Result,
    Timestamp, UnboundedReader, UnboundedSource, WindowedValue,
};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, DefaultConsumerContext};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::marker::PhantomData;

const METADATA_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Entry points: [`KafkaIO::read`] and [`KafkaIO::write`].
pub struct KafkaIO;

impl KafkaIO {
    /// Reads every partition of `topics` from the cluster at `brokers` (`host:port,...`).
    pub fn read(brokers: &str, topics: &[&str]) -> ReadKafka {
        ReadKafka {
            source: KafkaSource {
                brokers: brokers.to_string(),
                topics: topics.iter().map(|t| t.to_string()).collect(),
                partitions: Vec::new(),
                start: StartOffset::Earliest,
                config: Vec::new(),
                max_out_of_orderness: Duration::ZERO,
                idle_timeout: None,
                stop_at_end: false,
            },
        }
    }
    /// Produces [`KafkaMessage`]s to `topic`.
    pub fn write(brokers: &str, topic: &str) -> WriteKafka {
        WriteKafka {
            brokers: brokers.to_string(),
            topic: topic.to_string(),
            config: Vec::new(),
        }
    }
}

/// Where a reader starts in each partition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StartOffset {
    /// The first retained record.
    Earliest,
    /// After the last record at the time the reader starts.
    Latest,
    /// The first record with a timestamp at or after this one (the end if none).
    Timestamp(Timestamp),
    /// The consumer group's committed offset (earliest where none was committed);
    /// needs [`ReadKafka::with_group_id`].
    Committed,
}

/// A record read from Kafka.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KafkaRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The key, if any.
    pub key: Option<Vec<u8>>,
    /// The value (`None` for a tombstone).
    pub value: Option<Vec<u8>>,
    /// The record's timestamp (also its event time).
    pub timestamp: Timestamp,
}

impl KafkaRecord {
    /// Where this record is, for errors and dead letters.
    pub fn location(&self) -> RecordLocation {
        RecordLocation::Kafka {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
        }
    }
}

/// Reads Kafka; see [`KafkaIO::read`].
pub struct ReadKafka {
    source: KafkaSource,
}

impl ReadKafka {
    /// Where to start in each partition (default [`StartOffset::Earliest`]).
    pub fn with_start(mut self, start: StartOffset) -> Self {
        self.source.start = start;
        self
    }
    /// The consumer group (for [`StartOffset::Committed`]).
    pub fn with_group_id(self, group: &str) -> Self {
        self.with_consumer_config("group.id", group)
    }
    /// Any librdkafka consumer property.
    pub fn with_consumer_config(mut self, key: &str, value: &str) -> Self {
        self.source
            .config
            .push((key.to_string(), value.to_string()));
        self
    }
    /// Records may arrive up to `delay` behind the latest timestamp of their partition.
    pub fn with_max_out_of_orderness(mut self, delay: Duration) -> Self {
        self.source.max_out_of_orderness = delay;
        self
    }
    /// A partition without records for `timeout` stops holding the watermark back.
    pub fn with_idle_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.source.idle_timeout = Some(timeout);
        self
    }
    /// Reads up to the end offsets found when each reader starts, then finishes.
    pub fn stop_at_end(mut self) -> Self {
        self.source.stop_at_end = true;
        self
    }
    /// The configured source, for use with [`ReadUnbounded`] or directly.
    pub fn into_source(self) -> KafkaSource {
        self.source
    }
}

impl PTransform<PBegin> for ReadKafka {
    type Output = PCollection<KafkaRecord>;
    fn expand(self, input: &PBegin) -> Result<PCollection<KafkaRecord>> {
        if self.source.start == StartOffset::Committed
            && !self.source.config.iter().any(|(k, _)| k == "group.id")
        {
            return Err(BeamError::construction(
                input.pipeline().current_scope(),
                "StartOffset::Committed needs a consumer group: use with_group_id",
            ));
        }
        input
            .pipeline()
            .apply("ReadKafka", ReadUnbounded::from(self.source))
    }
}

/// An unbounded source of the records of some partitions of some topics.
#[derive(Clone, Debug)]
pub struct KafkaSource {
    brokers: String,
    topics: Vec<String>,
    /// The partitions this source reads; empty means every partition of `topics`.
    partitions: Vec<(String, i32)>,
    start: StartOffset,
    config: Vec<(String, String)>,
    max_out_of_orderness: Duration,
    idle_timeout: Option<std::time::Duration>,
    stop_at_end: bool,
}

fn kafka_err(what: &str, e: impl std::fmt::Display) -> BeamError {
    BeamError::io(
        what.to_string(),
        std::io::Error::other(format!("Kafka: {e}")),
    )
}

impl KafkaSource {
    /// A consumer for metadata and offsets.
    fn consumer(&self) -> Result<BaseConsumer> {
        self.consumer_with(DefaultConsumerContext, false, false)
    }

    /// A consumer with `context`; with `statistics`, librdkafka reports to it
    /// every second (unless the pipeline's config sets the interval); with
    /// `eof`, it reports reaching the end of a partition.
    fn consumer_with<C: ConsumerContext>(
        &self,
        context: C,
        statistics: bool,
        eof: bool,
    ) -> Result<BaseConsumer<C>> {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.brokers)
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", if eof { "true" } else { "false" })
            .set("auto.offset.reset", "earliest");
        if !self.config.iter().any(|(k, _)| k == "group.id") {
            cfg.set("group.id", "beam-rust-reader");
        }
        if statistics {
            cfg.set("statistics.interval.ms", lag::STATISTICS_INTERVAL_MS);
        }
        for (k, v) in &self.config {
            cfg.set(k, v);
        }
        cfg.create_with_context(context)
            .map_err(|e| kafka_err(&self.brokers, e))
    }

    fn all_partitions(&self) -> Result<Vec<(String, i32)>> {
        if !self.partitions.is_empty() {
            return Ok(self.partitions.clone());
        }
        let consumer = self.consumer()?;
        let mut out = Vec::new();
        for topic in &self.topics {
            let md = consumer
                .fetch_metadata(Some(topic), METADATA_TIMEOUT)
                .map_err(|e| kafka_err(topic, e))?;
            for t in md.topics() {
                if let Some(e) = t.error() {
                    return Err(kafka_err(topic, format!("{e:?}")));
                }
                for p in t.partitions() {
                    out.push((t.name().to_string(), p.id()));
                }
            }
        }
        if out.is_empty() {
            return Err(kafka_err(&self.topics.join(","), "no partitions found"));
        }
        out.sort();
        Ok(out)
    }

    fn open(&self, resume: Option<BTreeMap<(String, i32), PartitionMark>>) -> Result<KafkaReader> {
        let partitions = self.all_partitions()?;
        let high_watermarks = lag::HighWatermarks::default();
        let consumer = self.consumer_with(high_watermarks.clone(), true, self.stop_at_end)?;
        let mut tpl = TopicPartitionList::new();
        for (t, p) in &partitions {
            let offset = match (&resume, &self.start) {
                (Some(marks), _) => marks
                    .get(&(t.clone(), *p))
                    .map_or(Offset::Beginning, |m| Offset::Offset(m.next_offset)),
                (None, StartOffset::Earliest) => Offset::Beginning,
                (None, StartOffset::Latest) => Offset::End,
                (None, StartOffset::Timestamp(ts)) => Offset::Offset(ts.as_micros() / 1000),
                (None, StartOffset::Committed) => Offset::Stored,
            };
            tpl.add_partition_offset(t, *p, offset)
                .map_err(|e| kafka_err(t, e))?;
        }
        if resume.is_none() {
            match &self.start {
                StartOffset::Timestamp(_) => {
                    tpl = consumer
                        .offsets_for_times(tpl, METADATA_TIMEOUT)
                        .map_err(|e| kafka_err(&self.brokers, e))?;
                }
                StartOffset::Committed => {
                    let committed = consumer
                        .committed_offsets(tpl.clone(), METADATA_TIMEOUT)
                        .map_err(|e| kafka_err(&self.brokers, e))?;
                    for e in committed.elements() {
                        let off = match e.offset() {
                            Offset::Offset(o) => Offset::Offset(o),
                            _ => Offset::Beginning,
                        };
                        tpl.set_partition_offset(e.topic(), e.partition(), off)
                            .map_err(|err| kafka_err(e.topic(), err))?;
                    }
                }
                _ => {}
            }
        }
        consumer
            .assign(&tpl)
            .map_err(|e| kafka_err(&self.brokers, e))?;
        let mut parts = BTreeMap::new();
        for (t, p) in &partitions {
            let (low, high) = consumer
                .fetch_watermarks(t, *p, METADATA_TIMEOUT)
                .map_err(|e| kafka_err(t, e))?;
            high_watermarks.set(t, *p, high);
            let start = tpl
                .find_partition(t, *p)
                .and_then(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    Offset::End => Some(high),
                    _ => None,
                })
                .unwrap_or(low);
            let mut watermark = BoundedOutOfOrderness::new(self.max_out_of_orderness);
            if let Some(t) = self.idle_timeout {
                watermark = watermark.with_idle_timeout(t);
            }
            let restored = resume
                .as_ref()
                .and_then(|m| m.get(&(t.clone(), *p)))
                .and_then(|m| m.latest_time);
            if let Some(latest) = restored {
                watermark.observe(latest);
            }
            parts.insert(
                (t.clone(), *p),
                PartitionState {
                    next_offset: start.max(low),
                    end: self.stop_at_end.then_some(high),
                    at_eof: false,
                    last_record: std::time::Instant::now(),
                    skip_before: match (&resume, &self.start) {
                        (None, StartOffset::Timestamp(t)) => Some(*t),
                        _ => None,
                    },
                    watermark,
                },
            );
        }
        Ok(KafkaReader {
            consumer,
            high_watermarks,
            parts,
            describe: self.describe(),
            commits: self.config.iter().any(|(k, _)| k == "group.id"),
        })
    }
}

impl UnboundedSource for KafkaSource {
    type Output = KafkaRecord;
    fn split(&self, desired: usize) -> Result<Vec<Self>> {
        let all = self.all_partitions()?;
        let n = desired.clamp(1, all.len());
        Ok((0..n)
            .map(|i| KafkaSource {
                partitions: all.iter().skip(i).step_by(n).cloned().collect(),
                ..self.clone()
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<KafkaRecord>>> {
        Ok(Box::new(self.open(None)?))
    }
    fn can_resume(&self) -> bool {
        true
    }
    fn resume(&self, mark: &CheckpointMark) -> Result<Box<dyn UnboundedReader<KafkaRecord>>> {
        let parts: Vec<PartitionMark> = serde_json::from_slice(&mark.0)
            .map_err(|e| kafka_err(&self.describe(), format!("bad checkpoint mark: {e}")))?;
        let marks = parts
            .into_iter()
            .map(|m| ((m.topic.clone(), m.partition), m))
            .collect();
        Ok(Box::new(self.open(Some(marks))?))
    }
    fn describe(&self) -> String {
        if self.partitions.is_empty() {
            format!("Kafka {} at {}", self.topics.join(","), self.brokers)
        } else {
            let parts: Vec<String> = self
                .partitions
                .iter()
                .map(|(t, p)| format!("{t}/{p}"))
                .collect();
            format!("Kafka {} at {}", parts.join(","), self.brokers)
        }
    }
}

/// One partition's entry in a reader's checkpoint mark.
#[derive(serde::Serialize, serde::Deserialize)]
struct PartitionMark {
    topic: String,
    partition: i32,
    /// The offset of the next record to hand out.
    next_offset: i64,
    /// The latest record time seen, restoring the partition's watermark estimate.
    latest_time: Option<Timestamp>,
}

struct PartitionState {
    next_offset: i64,
    /// With `stop_at_end`: the offset at which this partition is done.
    end: Option<i64>,
    /// With `stop_at_end`: the consumer reported the partition's end after
    /// every record before it.
    at_eof: bool,
    /// When the last record of this partition arrived (or the reader opened).
    last_record: std::time::Instant,
    /// With [`StartOffset::Timestamp`]: records are skipped until the first one at
    /// or after this time (the broker's offset lookup is only a starting hint).
    skip_before: Option<Timestamp>,
    watermark: BoundedOutOfOrderness,
}

/// How long a partition that reached its end offset must stay quiet before it
/// counts as done when the consumer cannot say it reached the end. Brokers
/// report the end offset from their log; some Kafka-protocol brokers (tansu
/// 0.6) undercount it, so the end is confirmed by the consumer's end-of-
/// partition event (correct on those brokers too) or, where that event is
/// ambiguous (two topics with a partition of the same number: the event names
/// only the number), by the absence of further records. Long enough for a
/// fetch from a loaded broker to come back (1 s was not, on a 2-core machine
/// running several pipelines and the broker).
const END_QUIET: std::time::Duration = std::time::Duration::from_secs(3);

impl PartitionState {
    fn done(&self) -> bool {
        self.end.is_some_and(|e| {
            self.next_offset >= e && (self.at_eof || self.last_record.elapsed() >= END_QUIET)
        })
    }
}

/// Reads the partitions assigned to one reader.
pub struct KafkaReader {
    consumer: BaseConsumer<lag::HighWatermarks>,
    high_watermarks: lag::HighWatermarks,
    parts: BTreeMap<(String, i32), PartitionState>,
    describe: String,
    /// Whether completed checkpoints' offsets go to the consumer group
    /// (only a group the pipeline named).
    commits: bool,
}

impl UnboundedReader<KafkaRecord> for KafkaReader {
    fn poll(&mut self, out: &mut Vec<WindowedValue<KafkaRecord>>, max: usize) -> Result<Poll> {
        let start = out.len();
        while out.len() - start < max {
            if self.parts.values().all(PartitionState::done) {
                return Ok(Poll::Finished);
            }
            let msg = match self.consumer.poll(std::time::Duration::ZERO) {
                None => break,
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    let mut same = self.parts.iter_mut().filter(|((_, q), _)| *q == p);
                    if let (Some((_, state)), None) = (same.next(), same.next()) {
                        state.at_eof = true;
                    }
                    continue;
                }
                Some(Err(e)) => return Err(kafka_err(&self.describe, e)),
                Some(Ok(m)) => m,
            };
            let key = (msg.topic().to_string(), msg.partition());
            let Some(state) = self.parts.get_mut(&key) else {
                continue;
            };
            if state.done() || msg.offset() < state.next_offset {
                continue; // past the stop offset, or already handed out
            }
            let ts = msg
                .timestamp()
                .to_millis()
                .map_or(Timestamp::MIN, Timestamp::from_millis);
            state.next_offset = msg.offset() + 1;
            state.last_record = std::time::Instant::now();
            if let Some(t) = state.skip_before {
                if ts < t {
                    continue;
                }
                state.skip_before = None;
            }
            state.watermark.observe(ts);
            out.push(WindowedValue::timestamped(
                KafkaRecord {
                    topic: key.0,
                    partition: key.1,
                    offset: msg.offset(),
                    key: msg.key().map(<[u8]>::to_vec),
                    value: msg.payload().map(<[u8]>::to_vec),
                    timestamp: ts,
                },
                ts,
            ));
        }
        if self.parts.values().all(PartitionState::done) {
            return Ok(Poll::Finished);
        }
        Ok(if out.len() - start >= max {
            Poll::Ready
        } else {
            Poll::Pending(std::time::Duration::from_millis(5))
        })
    }
    fn watermark(&self) -> Timestamp {
        let active = self
            .parts
            .values()
            .filter(|p| !p.done() && !p.watermark.is_idle());
        active
            .map(|p| p.watermark.watermark())
            .min()
            .unwrap_or_else(|| {
                // Every partition is done or idle: the latest estimate of any of them.
                self.parts
                    .values()
                    .map(|p| p.watermark.watermark())
                    .max()
                    .unwrap_or(Timestamp::MIN)
            })
    }
    fn is_idle(&self) -> bool {
        self.parts
            .values()
            .all(|p| p.done() || p.watermark.is_idle())
    }
    fn checkpoint_mark(&self) -> Option<CheckpointMark> {
        let parts: Vec<PartitionMark> = self
            .parts
            .iter()
            .map(|((t, p), s)| PartitionMark {
                topic: t.clone(),
                partition: *p,
                next_offset: s.next_offset,
                latest_time: s.watermark.latest_observed(),
            })
            .collect();
        serde_json::to_vec(&parts).ok().map(CheckpointMark)
    }
    fn backlog(&self) -> Vec<SourceBacklog> {
        self.parts
            .iter()
            .filter_map(|((topic, partition), s)| {
                let high = self.high_watermarks.get(topic, *partition)?;
                let lag = (high - s.next_offset).max(0) as u64;
                Some(SourceBacklog::records(format!("{topic}/{partition}"), lag))
            })
            .collect()
    }
    fn finalize_checkpoint(&mut self, mark: &CheckpointMark) -> Result<()> {
        if !self.commits {
            return Ok(());
        }
        let parts: Vec<PartitionMark> = serde_json::from_slice(&mark.0).map_err(|e| {
            BeamError::Runner(format!("{}: bad checkpoint mark: {e}", self.describe))
        })?;
        let mut tpl = rdkafka::TopicPartitionList::new();
        for p in &parts {
            tpl.add_partition_offset(
                &p.topic,
                p.partition,
                rdkafka::Offset::Offset(p.next_offset),
            )
            .map_err(|e| BeamError::Runner(format!("{}: {e}", self.describe)))?;
        }
        // For monitoring: the restore position is always the checkpoint's.
        if let Err(e) = self
            .consumer
            .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
        {
            tracing::warn!("{}: committing offsets: {e}", self.describe);
        }
        Ok(())
    }
}

/// Parses Kafka record values as JSON `T`s; see [`ParseJson::with_dead_letter`].
pub struct ParseJson<T>(PhantomData<fn() -> T>);

impl<T: Element + DeserializeOwned> ParseJson<T> {
    /// Values that are not a JSON `T` go to a dead-letter output with their topic,
    /// partition and offset.
    pub fn with_dead_letter() -> Self {
        ParseJson(PhantomData)
    }
}

impl<T: Element + DeserializeOwned> PTransform<PCollection<KafkaRecord>> for ParseJson<T> {
    type Output = ParsedRecords<T>;
    fn expand(self, input: &PCollection<KafkaRecord>) -> Result<ParsedRecords<T>> {
        let parsed = input.apply(
            "Parse",
            Map::new(|r: &KafkaRecord| {
                let value = r.value.as_deref().unwrap_or_default();
                match serde_json::from_slice::<T>(value) {
                    Ok(v) => Parsed::Record(v),
                    Err(e) => Parsed::DeadLetter(DeadLetter {
                        raw: value.to_vec(),
                        location: r.location(),
                        error: e.to_string(),
                    }),
                }
            }),
        )?;
        split_dead_letters(&parsed)
    }
}
