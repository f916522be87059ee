//! Parsing sources and their dead-letter output.
//!
//! A parsing connector (CSV, JSON lines, text, Kafka, or your own) implements
//! [`RecordSource`]: it splits like a [`BoundedSource`] and its reader yields, for
//! every raw record, either the parsed value or a [`DeadLetter`] (the raw bytes,
//! where they came from, and why they did not parse). [`ReadRecords`] turns such a
//! source into a transform:
//!
//! - by default a malformed record fails the run with an error naming the file
//!   and line (or topic, partition and offset) and the reason;
//! - [`ReadRecords::with_dead_letter`] instead yields [`ParsedRecords`]: the good
//!   records and a second PCollection of dead letters, with the per-step counter
//!   `dead_letter_records`. Every raw record lands in exactly one of the two.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{testing::PAssert, Pipeline, PipelineOptions};
//! use io_connectors::JsonLinesIO;
//! let path = std::env::temp_dir().join(format!("records-doc-{}.jsonl", std::process::id()));
//! std::fs::write(&path, "{\"n\": 1}\nnot json\n{\"n\": 2}\n").unwrap();
//!
//! #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Row { n: i64 }
//!
//! let p = Pipeline::new(PipelineOptions::default());
//! let parsed = p
//!     .apply("Read", JsonLinesIO::read::<Row>(path.to_str().unwrap()).with_dead_letter())
//!     .unwrap();
//! PAssert::that(&parsed.records).contains_in_any_order(vec![Row { n: 1 }, Row { n: 2 }]).unwrap();
//! let lines = parsed.dead_letter.apply("Line", beam_core::Map::new(|d: &io_connectors::DeadLetter| {
//!     d.location.line().unwrap()
//! })).unwrap();
//! PAssert::that(&lines).contains_in_any_order(vec![2]).unwrap();
//! p.run().unwrap();
//! # std::fs::remove_file(&path).unwrap();
//! ```

use beam_core::{
    BeamError, BoundedSource, DoFn, Duration, Element, PBegin, PCollection, PTransform, ParDo,
    ProcessContext, Read, Result, SourceReader, Timestamp, TupleTag, UserResult, WindowedValue,
};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// Where a raw record came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RecordLocation {
    /// A line of a file (1-based; for multi-line CSV records, the first line).
    File {
        /// The file.
        path: String,
        /// The line number.
        line: u64,
    },
    /// A Kafka record.
    Kafka {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
    },
    /// Anything else, described by the connector.
    Other(String),
}

impl RecordLocation {
    /// The order records were read in: by file and line, topic, partition
    /// and offset, or description.
    pub fn input_order(&self, other: &RecordLocation) -> std::cmp::Ordering {
        use RecordLocation::*;
        let rank = |l: &RecordLocation| match l {
            File { .. } => 0,
            Kafka { .. } => 1,
            Other(_) => 2,
        };
        match (self, other) {
            (File { path: a, line: x }, File { path: b, line: y }) => a.cmp(b).then(x.cmp(y)),
            (
                Kafka {
                    topic: a,
                    partition: p,
                    offset: o,
                },
                Kafka {
                    topic: b,
                    partition: q,
                    offset: r,
                },
            ) => a.cmp(b).then(p.cmp(q)).then(o.cmp(r)),
            (Other(a), Other(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }

    /// The line number, for file locations.
    pub fn line(&self) -> Option<u64> {
        match self {
            RecordLocation::File { line, .. } => Some(*line),
            _ => None,
        }
    }
}

impl fmt::Display for RecordLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordLocation::File { path, line } => write!(f, "{path}:{line}"),
            RecordLocation::Kafka {
                topic,
                partition,
                offset,
            } => write!(f, "{topic}/{partition}@{offset}"),
            RecordLocation::Other(s) => f.write_str(s),
        }
    }
}

/// A record that did not parse: its raw bytes, where it came from, and why.
///
/// In text formats (JSON lines, say) `raw` is written as a string when it is
/// valid UTF-8 and as an array of byte values otherwise; binary formats (the
/// coders) keep the bytes. Write dead letters ordered by
/// [`DeadLetter::input_order`] to have them in the order of the input.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The record exactly as read (without its line ending; for a record too
    /// long to read, its first bytes).
    #[serde(with = "raw_text_or_bytes")]
    pub raw: Vec<u8>,
    /// Where it was read.
    pub location: RecordLocation,
    /// Why it was rejected.
    pub error: String,
}

impl DeadLetter {
    /// Orders dead letters as their records were read: by file and line (or
    /// topic, partition and offset), for [`WriteFiles::with_order_by`](crate::WriteFiles::with_order_by).
    pub fn input_order(a: &DeadLetter, b: &DeadLetter) -> std::cmp::Ordering {
        a.location
            .input_order(&b.location)
            .then_with(|| a.raw.cmp(&b.raw))
            .then_with(|| a.error.cmp(&b.error))
    }

    /// The raw record as text (invalid UTF-8 replaced).
    pub fn raw_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.raw)
    }

    fn into_error(self, source: &str) -> BeamError {
        let mut raw = self.raw_text().into_owned();
        if raw.len() > 200 {
            let mut cut = 200;
            while !raw.is_char_boundary(cut) {
                cut -= 1;
            }
            raw.truncate(cut);
            raw.push('…');
        }
        BeamError::io(
            self.location.to_string(),
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "malformed record {raw:?} read from {source}: {} (use with_dead_letter() to route malformed records to a dead-letter output)",
                    self.error
                ),
            ),
        )
    }
}

/// A parsed record or a dead letter, as a lenient parsing source emits them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Parsed<T> {
    /// A record that parsed.
    Record(T),
    /// A record that did not.
    DeadLetter(DeadLetter),
}

/// Reads raw records and parses them; see the [module docs](self).
pub trait RecordReader<T>: Send {
    /// The next record: `Ok(Some(Ok(value)))` parsed, `Ok(Some(Err(dead_letter)))`
    /// malformed, `Ok(None)` at the end. `Err` is reserved for failures that lose
    /// data (an unreadable file), which always fail the run.
    fn next_record(&mut self) -> Result<Option<std::result::Result<T, DeadLetter>>>;

    /// Appends parsed records to `out` until it holds `max` elements, a
    /// record is malformed, or the input ends; says which. One call reads a
    /// bundle, so a reader behind a `dyn` pointer costs one dynamic call
    /// per bundle rather than per record.
    fn read_records(&mut self, out: &mut Vec<WindowedValue<T>>, max: usize) -> Result<RecordsRead> {
        while out.len() < max {
            match self.next_record()? {
                Some(Ok(v)) => out.push(WindowedValue::in_global_window(v)),
                Some(Err(dead)) => return Ok(RecordsRead::DeadLetter(dead)),
                None => return Ok(RecordsRead::End),
            }
        }
        Ok(RecordsRead::Full)
    }
}

/// Why [`RecordReader::read_records`] stopped.
#[derive(Debug)]
pub enum RecordsRead {
    /// The output holds as many elements as asked for.
    Full,
    /// A record was malformed (it is not in the output).
    DeadLetter(DeadLetter),
    /// The input has ended.
    End,
}

/// A splittable source of parsed records; see the [module docs](self).
pub trait RecordSource: Clone + Send + Sync + 'static {
    /// The parsed record type.
    type Record: Element;
    /// An estimate of the bytes this source will read.
    fn estimated_size_bytes(&self) -> Result<u64>;
    /// Splits into sources of about `desired_bundle_size_bytes` each, together
    /// reading exactly what `self` reads.
    fn split(&self, desired_bundle_size_bytes: u64) -> Result<Vec<Self>>;
    /// Opens a reader at the start.
    fn open(&self) -> Result<Box<dyn RecordReader<Self::Record>>>;
    /// Opens a reader with a handle that splits off its unread rest while it runs
    /// (dynamic work rebalancing); by default, one that cannot.
    fn open_splittable(&self) -> Result<SplittableReader<Self>> {
        Ok((self.open()?, None))
    }
    /// A short description for errors.
    fn describe(&self) -> String;
}

/// A reader and, if it supports it, its [`ResidualSplit`] handle.
pub type SplittableReader<S> = (
    Box<dyn RecordReader<<S as RecordSource>::Record>>,
    Option<Arc<dyn ResidualSplit<S>>>,
);

/// Splits off the unread rest of a running [`RecordReader`]'s work, from another
/// thread; see [`beam_core::DynamicSplit`].
pub trait ResidualSplit<S>: Send + Sync {
    /// About how much work is left (bytes for files).
    fn remaining(&self) -> u64;
    /// Keeps about `keep` of the remaining work and returns a source for the rest.
    fn split_remaining(&self, keep: f64) -> Option<S>;
}

/// A [`ResidualSplit`] as the runner-facing [`beam_core::DynamicSplit`], wrapping
/// residuals as `Strict` or `Lenient` sources.
struct AdaptSplit<S: RecordSource, W> {
    inner: Arc<dyn ResidualSplit<S>>,
    wrap: fn(S) -> W,
}

impl<S: RecordSource, W: BoundedSource> beam_core::DynamicSplit for AdaptSplit<S, W> {
    fn remaining(&self) -> u64 {
        self.inner.remaining()
    }
    fn split_remaining(&self, keep: f64) -> Option<Arc<dyn beam_core::source::ErasedSource>> {
        self.inner
            .split_remaining(keep)
            .map(|s| beam_core::source::erase((self.wrap)(s)))
    }
}

fn adapt<S: RecordSource, W: BoundedSource>(
    split: Option<Arc<dyn ResidualSplit<S>>>,
    wrap: fn(S) -> W,
) -> Option<Arc<dyn beam_core::DynamicSplit>> {
    split.map(|inner| Arc::new(AdaptSplit { inner, wrap }) as Arc<dyn beam_core::DynamicSplit>)
}

/// A [`RecordSource`] as a [`BoundedSource`] that fails on the first malformed record.
#[derive(Clone)]
pub struct Strict<S>(pub S);

/// A [`RecordSource`] as a [`BoundedSource`] of [`Parsed`] records.
#[derive(Clone)]
pub struct Lenient<S>(pub S);

struct StrictReader<T> {
    inner: Box<dyn RecordReader<T>>,
    source: String,
    split: Option<Arc<dyn beam_core::DynamicSplit>>,
}

impl<T: Element> SourceReader<T> for StrictReader<T> {
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<T>>, max: usize) -> Result<bool> {
        match self.inner.read_records(out, max)? {
            RecordsRead::Full => Ok(true),
            RecordsRead::DeadLetter(dead) => Err(dead.into_error(&self.source)),
            RecordsRead::End => Ok(false),
        }
    }
    fn dynamic_split(&self) -> Option<Arc<dyn beam_core::DynamicSplit>> {
        self.split.clone()
    }
}

struct LenientReader<T> {
    inner: Box<dyn RecordReader<T>>,
    split: Option<Arc<dyn beam_core::DynamicSplit>>,
}

impl<T: Element> SourceReader<Parsed<T>> for LenientReader<T> {
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<Parsed<T>>>, max: usize) -> Result<bool> {
        while out.len() < max {
            match self.inner.next_record()? {
                Some(Ok(v)) => out.push(WindowedValue::in_global_window(Parsed::Record(v))),
                Some(Err(d)) => out.push(WindowedValue::in_global_window(Parsed::DeadLetter(d))),
                None => return Ok(false),
            }
        }
        Ok(true)
    }
    fn dynamic_split(&self) -> Option<Arc<dyn beam_core::DynamicSplit>> {
        self.split.clone()
    }
}

impl<S: RecordSource> BoundedSource for Strict<S> {
    type Output = S::Record;
    fn estimated_size_bytes(&self) -> Result<u64> {
        self.0.estimated_size_bytes()
    }
    fn split(&self, desired: u64) -> Result<Vec<Self>> {
        Ok(self.0.split(desired)?.into_iter().map(Strict).collect())
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<S::Record>>> {
        let (inner, split) = self.0.open_splittable()?;
        Ok(Box::new(StrictReader {
            inner,
            source: self.0.describe(),
            split: adapt(split, Strict),
        }))
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

impl<S: RecordSource> BoundedSource for Lenient<S> {
    type Output = Parsed<S::Record>;
    fn estimated_size_bytes(&self) -> Result<u64> {
        self.0.estimated_size_bytes()
    }
    fn split(&self, desired: u64) -> Result<Vec<Self>> {
        Ok(self.0.split(desired)?.into_iter().map(Lenient).collect())
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<Parsed<S::Record>>>> {
        let (inner, split) = self.0.open_splittable()?;
        Ok(Box::new(LenientReader {
            inner,
            split: adapt(split, Lenient),
        }))
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

/// Reads a [`RecordSource`]; malformed records fail the run unless
/// [`with_dead_letter`](Self::with_dead_letter) is used.
pub struct ReadRecords<S: RecordSource> {
    pub(crate) source: S,
    pub(crate) times: RecordTimes<S::Record>,
}

/// Computes a record's event time.
type RecordTime<T> = Arc<dyn Fn(&T) -> Timestamp + Send + Sync>;

/// The event times a read gives its records, and how far out of order
/// they are (see [`Read::with_bounded_out_of_orderness`]).
pub(crate) struct RecordTimes<T> {
    time: Option<RecordTime<T>>,
    bound: Option<Duration>,
}

impl<T> Default for RecordTimes<T> {
    fn default() -> Self {
        RecordTimes {
            time: None,
            bound: None,
        }
    }
}

impl<T: Element> RecordTimes<T> {
    pub(crate) fn with_timestamps(
        &mut self,
        time: impl Fn(&T) -> Timestamp + Send + Sync + 'static,
    ) {
        self.time = Some(Arc::new(time));
    }
    pub(crate) fn with_bound(&mut self, bound: Duration) {
        self.bound = Some(bound);
    }
    /// Refuses a read with a dead-letter output that was given event times.
    pub(crate) fn refuse_with_dead_letter(&self, source: &str) -> Result<()> {
        if self.time.is_none() && self.bound.is_none() {
            return Ok(());
        }
        Err(BeamError::Construction {
            step: format!("Read {source}"),
            message: "event times in the read (with_timestamps, with_bounded_out_of_orderness) \
                      are not supported with a dead-letter output; assign them with \
                      WithTimestamps after the read"
                .into(),
        })
    }
    fn apply<S: BoundedSource<Output = T>>(self, mut read: Read<S>) -> Read<S> {
        if let Some(time) = self.time {
            read = read.with_timestamps(move |v| time(v));
        }
        if let Some(bound) = self.bound {
            read = read.with_bounded_out_of_orderness(bound);
        }
        read
    }
}

impl<S: RecordSource> ReadRecords<S> {
    /// Reads `source`.
    pub fn from(source: S) -> Self {
        ReadRecords {
            source,
            times: RecordTimes::default(),
        }
    }
    /// Gives each record the event time `time` computes from it, as it is
    /// read; see [`Read::with_timestamps`].
    pub fn with_timestamps(
        mut self,
        time: impl Fn(&S::Record) -> Timestamp + Send + Sync + 'static,
    ) -> Self {
        self.times.with_timestamps(time);
        self
    }
    /// Declares how far out of event-time order the records are, so that
    /// streaming runners close windows while the source is read; see
    /// [`Read::with_bounded_out_of_orderness`].
    pub fn with_bounded_out_of_orderness(mut self, bound: Duration) -> Self {
        self.times.with_bound(bound);
        self
    }
    /// Routes malformed records to a dead-letter output instead of failing
    /// (not with event times in the read; see [`ReadFiles::with_dead_letter`](crate::ReadFiles::with_dead_letter)).
    pub fn with_dead_letter(self) -> ReadRecordsWithDeadLetter<S> {
        ReadRecordsWithDeadLetter {
            source: self.source,
            times: self.times,
        }
    }
}

impl<S: RecordSource> PTransform<PBegin> for ReadRecords<S> {
    type Output = PCollection<S::Record>;
    fn expand(self, input: &PBegin) -> Result<PCollection<S::Record>> {
        input
            .pipeline()
            .apply("Read", self.times.apply(Read::from(Strict(self.source))))
    }
}

/// [`ReadRecords`] with a dead-letter output.
pub struct ReadRecordsWithDeadLetter<S: RecordSource> {
    source: S,
    times: RecordTimes<S::Record>,
}

/// The outputs of a read with a dead-letter output.
pub struct ParsedRecords<T> {
    /// Records that parsed.
    pub records: PCollection<T>,
    /// Records that did not, with their location and reason.
    pub dead_letter: PCollection<DeadLetter>,
}

impl<S: RecordSource> PTransform<PBegin> for ReadRecordsWithDeadLetter<S> {
    type Output = ParsedRecords<S::Record>;
    fn expand(self, input: &PBegin) -> Result<ParsedRecords<S::Record>> {
        self.times
            .refuse_with_dead_letter(&self.source.describe())?;
        let parsed = input
            .pipeline()
            .apply("Read", Read::from(Lenient(self.source)))?;
        split_dead_letters(&parsed)
    }
}

/// Splits [`Parsed`] values into records and dead letters (step `SplitDeadLetters`,
/// counter `dead_letter_records`); for connectors that parse outside a
/// [`RecordSource`], such as unbounded ones.
pub fn split_dead_letters<T: Element>(parsed: &PCollection<Parsed<T>>) -> Result<ParsedRecords<T>> {
    let tag = TupleTag::<DeadLetter>::new("DeadLetter");
    let outputs = parsed.apply(
        "SplitDeadLetters",
        ParDo::of(SplitParsed::<T> {
            tag: tag.clone(),
            _t: std::marker::PhantomData,
        })
        .with_output(&tag),
    )?;
    Ok(ParsedRecords {
        dead_letter: outputs.get(&tag)?,
        records: outputs.main,
    })
}

#[derive(Clone)]
struct SplitParsed<T> {
    tag: TupleTag<DeadLetter>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> DoFn for SplitParsed<T> {
    type In = Parsed<T>;
    type Out = T;
    fn process(&mut self, parsed: &Parsed<T>, ctx: &mut ProcessContext<'_, T>) -> UserResult {
        match parsed {
            Parsed::Record(v) => ctx.output(v.clone()),
            Parsed::DeadLetter(d) => {
                ctx.metrics().inc_counter("dead_letter_records", 1);
                ctx.output_tagged(&self.tag, d.clone())?;
            }
        }
        Ok(())
    }
}

/// `DeadLetter::raw` as text where it can be, bytes where it cannot.
mod raw_text_or_bytes {
    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(raw: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(raw) {
            Ok(text) if s.is_human_readable() => s.serialize_str(text),
            _ => serde::Serialize::serialize(raw, s),
        }
    }

    struct Raw;

    impl<'de> Visitor<'de> for Raw {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string or an array of bytes")
        }
        fn visit_str<E>(self, v: &str) -> Result<Vec<u8>, E> {
            Ok(v.as_bytes().to_vec())
        }
        fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            d.deserialize_any(Raw)
        } else {
            <Vec<u8> as serde::Deserialize>::deserialize(d)
        }
    }
}
