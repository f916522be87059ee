//! The unbounded source API: what [`ReadUnbounded`] reads from.
//!
//! An [`UnboundedSource`] splits into parts read in parallel; each part's
//! [`UnboundedReader`] hands out the elements available now and estimates a
//! watermark (no element read later should be earlier). [`BoundedOutOfOrderness`]
//! is the usual estimate, as Flink's `WatermarkStrategy.forBoundedOutOfOrderness`:
//! the latest timestamp seen minus an allowed delay, with an idle timeout after
//! which a reader without data no longer holds the source's watermark back.
//!
//! ```
//! use beam_core::unbounded::BoundedOutOfOrderness;
//! use beam_core::{Duration, Timestamp};
//! let mut w = BoundedOutOfOrderness::new(Duration::from_secs(5));
//! assert_eq!(w.watermark(), Timestamp::MIN);
//! w.observe(Timestamp::from_secs(100));
//! w.observe(Timestamp::from_secs(90)); // out of order, within the bound
//! assert_eq!(w.watermark(), Timestamp::from_secs(95));
//! ```

use crate::batch::Batch;
use crate::coder::Element;
use crate::error::Result;
use crate::graph::Primitive;
use crate::pipeline::{OutputSpec, PBegin, PCollection, PTransform};
use crate::time::{Duration, Timestamp};
use crate::window::WindowedValue;
use crate::windowfn::WindowingStrategy;
use std::sync::Arc;

/// What a reader has after a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Poll {
    /// It may have more right away.
    Ready,
    /// Nothing more for now; poll again after about this long.
    Pending(std::time::Duration),
    /// It will never have more (its watermark is then the end of time).
    Finished,
}

/// An endless (or externally ended) source of elements.
pub trait UnboundedSource: Send + Sync + 'static {
    /// The element type read.
    type Output: Element;
    /// Splits into at most `desired` sources that together read what `self` reads.
    fn split(&self, desired: usize) -> Result<Vec<Self>>
    where
        Self: Sized;
    /// Opens a reader.
    fn reader(&self) -> Result<Box<dyn UnboundedReader<Self::Output>>>;
    /// Opens a reader that resumes where the reader whose
    /// [`checkpoint_mark`](UnboundedReader::checkpoint_mark) was `mark` stopped.
    /// Sources without resume positions refuse.
    fn resume(&self, mark: &CheckpointMark) -> Result<Box<dyn UnboundedReader<Self::Output>>> {
        let _ = mark;
        Err(crate::error::BeamError::Runner(format!(
            "source {} cannot resume from a checkpoint mark",
            self.describe()
        )))
    }
    /// Whether [`resume`](Self::resume) works, so a checkpointing runner can
    /// refuse a source it could not restore before any data moves.
    fn can_resume(&self) -> bool {
        false
    }
    /// A short description for errors and graphs.
    fn describe(&self) -> String;
}

/// A reader's resume position, encoded by its source (for example the next offset
/// of every Kafka partition it reads): what a consistent checkpoint stores for a
/// source, handed back to [`UnboundedSource::resume`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointMark(pub Vec<u8>);

/// Reads an unbounded source.
pub trait UnboundedReader<T>: Send {
    /// Appends up to `max` elements available now to `out`.
    fn poll(&mut self, out: &mut Vec<WindowedValue<T>>, max: usize) -> Result<Poll>;
    /// The reader's watermark estimate.
    fn watermark(&self) -> Timestamp;
    /// Whether the reader has been idle long enough not to hold the source's
    /// watermark back.
    fn is_idle(&self) -> bool {
        false
    }
    /// The position after the last element this reader handed out, if the source
    /// can resume from one.
    fn checkpoint_mark(&self) -> Option<CheckpointMark> {
        None
    }
    /// Called once a checkpoint holding `mark` (one of this reader's
    /// [`checkpoint_mark`](Self::checkpoint_mark)s) is complete: what came
    /// before it will never be read again (as Beam's
    /// `CheckpointMark.finalizeCheckpoint`). A Kafka reader commits its
    /// offsets to its consumer group here, for lag monitoring. A restore still
    /// resumes from the checkpoint's marks, whatever was done here.
    fn finalize_checkpoint(&mut self, _mark: &CheckpointMark) -> Result<()> {
        Ok(())
    }
    /// What this reader knows is there and it has not read yet, per
    /// partition (a Kafka partition's consumer lag); empty when it does not
    /// know. Runners ask about once a second and show it as the source's
    /// backlog; it must not block.
    fn backlog(&self) -> Vec<SourceBacklog> {
        Vec::new()
    }
}

/// One partition's backlog: what is there to read and not read yet.
///
/// ```
/// use beam_core::unbounded::SourceBacklog;
/// let lag = SourceBacklog::records("clicks/3", 1200);
/// assert_eq!((lag.records, lag.bytes), (Some(1200), None));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SourceBacklog {
    /// The part of the source it is about (`topic/partition`, a file path).
    pub partition: String,
    /// Records not read yet, when the source counts records.
    pub records: Option<u64>,
    /// Bytes not read yet, when the source counts bytes.
    pub bytes: Option<u64>,
}

impl SourceBacklog {
    /// `records` records left in `partition`.
    pub fn records(partition: impl Into<String>, records: u64) -> Self {
        SourceBacklog {
            partition: partition.into(),
            records: Some(records),
            bytes: None,
        }
    }

    /// `bytes` bytes left in `partition`.
    pub fn bytes(partition: impl Into<String>, bytes: u64) -> Self {
        SourceBacklog {
            partition: partition.into(),
            records: None,
            bytes: Some(bytes),
        }
    }
}

/// Watermark estimation with bounded out-of-orderness and idleness.
#[derive(Clone, Debug)]
pub struct BoundedOutOfOrderness {
    max_delay: Duration,
    idle_timeout: Option<std::time::Duration>,
    max_seen: Option<Timestamp>,
    last_data: std::time::Instant,
}

impl BoundedOutOfOrderness {
    /// Elements may be up to `max_delay` behind the latest one seen.
    pub fn new(max_delay: Duration) -> Self {
        BoundedOutOfOrderness {
            max_delay,
            idle_timeout: None,
            max_seen: None,
            last_data: std::time::Instant::now(),
        }
    }
    /// After `timeout` without data the reader counts as idle.
    pub fn with_idle_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }
    /// Records an element's timestamp.
    pub fn observe(&mut self, t: Timestamp) {
        self.max_seen = Some(self.max_seen.map_or(t, |m| m.max(t)));
        self.last_data = std::time::Instant::now();
    }
    /// The latest timestamp observed, if any: with [`observe`](Self::observe) it
    /// restores an estimator from a checkpoint, so a resumed reader's watermark
    /// does not fall back.
    pub fn latest_observed(&self) -> Option<Timestamp> {
        self.max_seen
    }
    /// The latest timestamp seen minus the allowed delay (the start of time before any).
    pub fn watermark(&self) -> Timestamp {
        self.max_seen.map_or(Timestamp::MIN, |m| {
            m.minus(self.max_delay).max(Timestamp::MIN)
        })
    }
    /// Whether no data came for the idle timeout.
    pub fn is_idle(&self) -> bool {
        self.idle_timeout
            .is_some_and(|t| self.last_data.elapsed() >= t)
    }
}

/// An unbounded source with its element type erased, as runners see it.
pub trait ErasedUnboundedSource: Send + Sync {
    /// See [`UnboundedSource::split`].
    fn split(&self, desired: usize) -> Result<Vec<Arc<dyn ErasedUnboundedSource>>>;
    /// Opens an erased reader.
    fn open(&self) -> Result<Box<dyn ErasedUnboundedReader>>;
    /// See [`UnboundedSource::resume`].
    fn resume(&self, mark: &CheckpointMark) -> Result<Box<dyn ErasedUnboundedReader>>;
    /// See [`UnboundedSource::can_resume`].
    fn can_resume(&self) -> bool;
    /// See [`UnboundedSource::describe`].
    fn describe(&self) -> String;
}

/// Reads erased batches from an unbounded source.
pub trait ErasedUnboundedReader: Send {
    /// Up to `max` elements available now (possibly none), and what follows.
    fn poll(&mut self, max: usize) -> Result<(Batch, Poll)>;
    /// See [`UnboundedReader::watermark`].
    fn watermark(&self) -> Timestamp;
    /// See [`UnboundedReader::is_idle`].
    fn is_idle(&self) -> bool;
    /// See [`UnboundedReader::checkpoint_mark`].
    fn checkpoint_mark(&self) -> Option<CheckpointMark>;
    /// See [`UnboundedReader::finalize_checkpoint`].
    fn finalize_checkpoint(&mut self, mark: &CheckpointMark) -> Result<()>;
    /// See [`UnboundedReader::backlog`].
    fn backlog(&self) -> Vec<SourceBacklog>;
}

/// The watermark of an unbounded source read by `readers` (each with whether it
/// has finished), as every runner computes it: the least watermark of the
/// readers that are neither finished nor idle; the end of time once all have
/// finished; `None`, meaning "hold where it is", when every unfinished reader is
/// idle (an idle reader stops holding the others back, but does not advance the
/// watermark on its own, as with Flink's idleness).
pub fn source_watermark<'a>(
    readers: impl IntoIterator<Item = (&'a dyn ErasedUnboundedReader, bool)>,
) -> Option<Timestamp> {
    let mut all_finished = true;
    let mut least: Option<Timestamp> = None;
    for (reader, finished) in readers {
        if finished {
            continue;
        }
        all_finished = false;
        if !reader.is_idle() {
            let w = reader.watermark();
            least = Some(least.map_or(w, |l| l.min(w)));
        }
    }
    if all_finished {
        Some(Timestamp::MAX)
    } else {
        least
    }
}

struct UnboundedAdapter<S>(S);

impl<S: UnboundedSource> ErasedUnboundedSource for UnboundedAdapter<S> {
    fn split(&self, desired: usize) -> Result<Vec<Arc<dyn ErasedUnboundedSource>>> {
        Ok(self
            .0
            .split(desired)?
            .into_iter()
            .map(|s| Arc::new(UnboundedAdapter(s)) as Arc<dyn ErasedUnboundedSource>)
            .collect())
    }
    fn open(&self) -> Result<Box<dyn ErasedUnboundedReader>> {
        Ok(Box::new(ReaderAdapter(self.0.reader()?)))
    }
    fn resume(&self, mark: &CheckpointMark) -> Result<Box<dyn ErasedUnboundedReader>> {
        Ok(Box::new(ReaderAdapter(self.0.resume(mark)?)))
    }
    fn can_resume(&self) -> bool {
        self.0.can_resume()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

struct ReaderAdapter<T>(Box<dyn UnboundedReader<T>>);

impl<T: Element> ErasedUnboundedReader for ReaderAdapter<T> {
    fn poll(&mut self, max: usize) -> Result<(Batch, Poll)> {
        let mut out = Vec::new();
        let poll = self.0.poll(&mut out, max.max(1))?;
        Ok((Batch::new(out), poll))
    }
    fn watermark(&self) -> Timestamp {
        self.0.watermark()
    }
    fn is_idle(&self) -> bool {
        self.0.is_idle()
    }
    fn checkpoint_mark(&self) -> Option<CheckpointMark> {
        self.0.checkpoint_mark()
    }
    fn finalize_checkpoint(&mut self, mark: &CheckpointMark) -> Result<()> {
        self.0.finalize_checkpoint(mark)
    }
    fn backlog(&self) -> Vec<SourceBacklog> {
        self.0.backlog()
    }
}

/// Reads an [`UnboundedSource`]: an unbounded PCollection in the global window.
pub struct ReadUnbounded<S>(S);

impl<S: UnboundedSource> ReadUnbounded<S> {
    /// Reads `source`.
    pub fn from(source: S) -> Self {
        ReadUnbounded(source)
    }
}

impl<S: UnboundedSource> PTransform<PBegin> for ReadUnbounded<S> {
    type Output = PCollection<S::Output>;
    fn expand(self, input: &PBegin) -> Result<PCollection<S::Output>> {
        let p = input.pipeline().clone();
        let ids = p.add_primitive(
            Primitive::ReadUnbounded {
                source: Arc::new(UnboundedAdapter(self.0)),
            },
            vec![],
            vec![OutputSpec::of::<S::Output>(
                WindowingStrategy::global(),
                false,
            )],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Timestamp, bool);

    impl ErasedUnboundedReader for Fixed {
        fn poll(&mut self, _max: usize) -> Result<(Batch, Poll)> {
            unreachable!("not polled")
        }
        fn watermark(&self) -> Timestamp {
            self.0
        }
        fn checkpoint_mark(&self) -> Option<CheckpointMark> {
            None
        }
        fn finalize_checkpoint(&mut self, _: &CheckpointMark) -> Result<()> {
            Ok(())
        }
        fn is_idle(&self) -> bool {
            self.1
        }
        fn backlog(&self) -> Vec<SourceBacklog> {
            Vec::new()
        }
    }

    #[test]
    fn source_watermark_is_the_least_busy_reader_and_idle_readers_hold_nothing() {
        let t = Timestamp::from_secs;
        let (busy5, busy9, idle2, idle7) = (
            Fixed(t(5), false),
            Fixed(t(9), false),
            Fixed(t(2), true),
            Fixed(t(7), true),
        );
        let wm = |rs: &[(&Fixed, bool)]| {
            source_watermark(
                rs.iter()
                    .map(|(r, f)| (*r as &dyn ErasedUnboundedReader, *f)),
            )
        };
        assert_eq!(
            wm(&[(&busy9, false), (&busy5, false), (&idle2, false)]),
            Some(t(5))
        );
        // A finished reader no longer counts, whatever its estimate.
        assert_eq!(wm(&[(&busy9, false), (&busy5, true)]), Some(t(9)));
        // Every unfinished reader idle: hold, do not jump to an idle estimate.
        assert_eq!(
            wm(&[(&idle2, false), (&idle7, false), (&busy5, true)]),
            None
        );
        assert_eq!(wm(&[(&busy5, true), (&idle2, true)]), Some(Timestamp::MAX));
        assert_eq!(wm(&[]), Some(Timestamp::MAX));
    }
}
