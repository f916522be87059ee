//! Event time in a bounded read: timestamps assigned as elements are read,
//! and a watermark that follows them, so that windows close while a large
//! file is read instead of all at its end.
//!
//! A read declares how far out of event-time order its input may be
//! ([`Read::with_bounded_out_of_orderness`](crate::Read::with_bounded_out_of_orderness)):
//! every element's time is at least the latest time read before it minus
//! the bound. A runner reads each of its shares' parts in input order, so the
//! latest time a share has read, minus the bound, is a lower bound of
//! everything the share has still to read: its [`SourceWatermark`]. An
//! element that breaks the declaration against what its share read before it
//! fails the run, naming the step and the element, instead of arriving
//! behind a watermark that already passed it.

use crate::batch::Batch;
use crate::coder::Element;
use crate::error::{BeamError, Result};
use crate::graph::{Primitive, TransformNode};
use crate::source::{DynamicSplit, ErasedReader, ErasedSource};
use crate::time::{Duration, Timestamp};
use crate::window::GLOBAL_WINDOW_MAX;
use std::sync::Arc;

/// Computes an element's event time.
pub(crate) type TimeFn<T> = Arc<dyn Fn(&T) -> Timestamp + Send + Sync>;

/// A source whose elements get their timestamps from a function of the
/// element as they are read; residuals split off while reading keep it.
pub(crate) struct TimestampedSource<T> {
    pub(crate) inner: Arc<dyn ErasedSource>,
    pub(crate) time: TimeFn<T>,
}

impl<T: Element> ErasedSource for TimestampedSource<T> {
    fn estimated_size_bytes(&self) -> Result<u64> {
        self.inner.estimated_size_bytes()
    }
    fn split(&self, desired_bundle_size_bytes: u64) -> Result<Vec<Arc<dyn ErasedSource>>> {
        Ok(self
            .inner
            .split(desired_bundle_size_bytes)?
            .into_iter()
            .map(|inner| {
                Arc::new(TimestampedSource {
                    inner,
                    time: self.time.clone(),
                }) as Arc<dyn ErasedSource>
            })
            .collect())
    }
    fn open(&self) -> Result<Box<dyn ErasedReader>> {
        Ok(Box::new(TimestampedReader {
            inner: self.inner.open()?,
            time: self.time.clone(),
            source: self.inner.describe(),
        }))
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

struct TimestampedReader<T> {
    inner: Box<dyn ErasedReader>,
    time: TimeFn<T>,
    source: String,
}

impl<T: Element> ErasedReader for TimestampedReader<T> {
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>> {
        let mut batch = self.inner.next_batch(max)?;
        if let Some(b) = batch.as_mut() {
            let Some(values) = b.downcast_mut::<T>() else {
                return Err(BeamError::Runner(format!(
                    "the reader of {} yields {}, not the {} its timestamps are computed from",
                    self.source,
                    b.type_name(),
                    std::any::type_name::<T>()
                )));
            };
            for wv in values.iter_mut() {
                wv.timestamp = (self.time)(&wv.value);
            }
        }
        Ok(batch)
    }
    fn dynamic_split(&self) -> Option<Arc<dyn DynamicSplit>> {
        self.inner.dynamic_split().map(|inner| {
            Arc::new(TimestampedSplit {
                inner,
                time: self.time.clone(),
            }) as Arc<dyn DynamicSplit>
        })
    }
}

struct TimestampedSplit<T> {
    inner: Arc<dyn DynamicSplit>,
    time: TimeFn<T>,
}

impl<T: Element> DynamicSplit for TimestampedSplit<T> {
    fn remaining(&self) -> u64 {
        self.inner.remaining()
    }
    fn split_remaining(&self, keep: f64) -> Option<Arc<dyn ErasedSource>> {
        self.inner.split_remaining(keep).map(|inner| {
            Arc::new(TimestampedSource {
                inner,
                time: self.time.clone(),
            }) as Arc<dyn ErasedSource>
        })
    }
}

/// The event-time watermark of one share of a bounded read: the latest
/// event time the share has read, minus the read's out-of-orderness bound.
/// A runner passes it every bundle before emitting it, in read order, then
/// holds the read's output at [`watermark`](Self::watermark).
///
/// ```
/// use beam_core::runner_support::SourceWatermark;
/// use beam_core::{Batch, Duration, Timestamp, WindowedValue};
/// let at = |s| WindowedValue::timestamped(0u8, Timestamp::from_secs(s));
/// let mut w = SourceWatermark::new("Read", Duration::from_secs(5));
/// assert_eq!(w.watermark(), Timestamp::MIN);
/// w.observe(&Batch::new(vec![at(10), at(7), at(12)])).unwrap();
/// assert_eq!(w.watermark(), Timestamp::from_secs(7));
/// // 6 s is more than 5 s before 12 s, the latest time read before it.
/// assert!(w.observe(&Batch::new(vec![at(6)])).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct SourceWatermark {
    step: String,
    bound: Duration,
    latest: Option<Timestamp>,
}

impl SourceWatermark {
    /// The watermark of a share of read step `step` whose input is at most
    /// `bound` out of event-time order.
    pub fn new(step: &str, bound: Duration) -> Self {
        SourceWatermark {
            step: step.to_string(),
            bound,
            latest: None,
        }
    }

    /// The watermark of a share of `node`, if it is a read that declares how
    /// far out of event-time order its input is.
    pub fn of_read(node: &TransformNode) -> Option<Self> {
        match &node.primitive {
            Primitive::Read {
                out_of_orderness: Some(bound),
                ..
            } => Some(SourceWatermark::new(&node.name, *bound)),
            _ => None,
        }
    }

    /// Takes the event times of the next bundle read (in read order); an
    /// element more than the bound before the latest time read before it
    /// fails, naming the step and the element.
    pub fn observe(&mut self, batch: &Batch) -> Result<()> {
        let bound = self.bound;
        let mut latest = self.latest;
        let mut at = Timestamp::MIN;
        let broken = batch.position_of_timestamp(|t| match latest {
            Some(l) if t < l.minus(bound) => {
                at = t;
                true
            }
            _ => {
                latest = Some(latest.map_or(t, |l| l.max(t)));
                false
            }
        });
        if let Some(i) = broken {
            let before = latest.unwrap_or(Timestamp::MIN);
            return Err(BeamError::Runner(format!(
                "'{}' declares its input at most {} out of event-time order, but element {} at {} \
                 is {} before the latest event time read before it ({}): declare a larger bound, \
                 or read without an event-time watermark",
                self.step,
                describe_duration(bound),
                batch.describe_element(i),
                at,
                describe_duration(before - at),
                before
            )));
        }
        self.latest = latest;
        Ok(())
    }

    /// Where the share's output is held: no element the share reads later
    /// is before it. [`Timestamp::MIN`] before the first element; below the
    /// end of the global window until the share is done.
    pub fn watermark(&self) -> Timestamp {
        match self.latest {
            None => Timestamp::MIN,
            Some(l) => l
                .minus(self.bound)
                .min(GLOBAL_WINDOW_MAX - Duration::from_micros(1)),
        }
    }
}

/// `1.5 s`, `250 ms`, `3 µs`: a bound as a person writes it.
fn describe_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us % 1_000_000 == 0 {
        format!("{} s", us / 1_000_000)
    } else if us % 1_000 == 0 {
        format!("{} ms", us / 1_000)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::WindowedValue;

    fn at(s: i64) -> WindowedValue<u32> {
        WindowedValue::timestamped(s as u32, Timestamp::from_secs(s))
    }

    #[test]
    fn the_watermark_trails_the_latest_time_by_the_bound() {
        let mut w = SourceWatermark::new("Read", Duration::ZERO);
        w.observe(&Batch::new(vec![at(1), at(1), at(3)])).unwrap();
        assert_eq!(w.watermark(), Timestamp::from_secs(3));
        w.observe(&Batch::new(Vec::<WindowedValue<u32>>::new()))
            .unwrap();
        assert_eq!(w.watermark(), Timestamp::from_secs(3));
        let err = w.observe(&Batch::new(vec![at(4), at(2)])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("'Read'") && text.contains("0 s") && text.contains("2 s before"),
            "{text}"
        );
        // A failed bundle leaves the watermark where it was.
        assert_eq!(w.watermark(), Timestamp::from_secs(3));
    }

    #[test]
    fn elements_within_the_bound_pass_in_any_order() {
        let mut w = SourceWatermark::new("Read", Duration::from_secs(10));
        w.observe(&Batch::new(vec![at(20), at(11), at(15), at(30), at(20)]))
            .unwrap();
        assert_eq!(w.watermark(), Timestamp::from_secs(20));
        assert!(w.observe(&Batch::new(vec![at(19)])).is_err());
    }

    #[test]
    fn the_watermark_stays_below_the_end_of_the_global_window() {
        let mut w = SourceWatermark::new("Read", Duration::ZERO);
        w.observe(&Batch::new(vec![WindowedValue::timestamped(
            0u8,
            Timestamp::MAX,
        )]))
        .unwrap();
        assert!(w.watermark() < GLOBAL_WINDOW_MAX);
    }
}
