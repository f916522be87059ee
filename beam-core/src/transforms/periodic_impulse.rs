//! [`PeriodicImpulse`]: a stream of ticks, one every interval of processing
//! time, as Beam's `PeriodicImpulse`. Each tick is its own timestamp, and the
//! stream's watermark is the next tick's time.
//!
//! Its usual use is a slowly updating side input: every tick re-reads a file
//! or a table, and a view in the global window with a repeated trigger
//! follows the latest value read (see [`View`](crate::View)).
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::testing::{PAssert, TestPipeline};
//! use beam_core::{Duration, Map, PeriodicImpulse, Timestamp};
//! let p = TestPipeline::new();
//! let start = Timestamp::wall_clock();
//! let ticks = p.apply(
//!     "Ticks",
//!     PeriodicImpulse::every(Duration::from_millis(5))
//!         .starting_at(start)
//!         .stopping_at(start + Duration::from_millis(50)),
//! )?;
//! let offsets = ticks.apply("Offset", Map::new(move |t: &Timestamp| (*t - start).as_micros() / 5_000))?;
//! PAssert::that(&offsets).contains_in_any_order((0..10).collect::<Vec<i64>>())?;
//! p.run()?;
//! # Ok::<(), beam_core::BeamError>(())
//! ```

use crate::coder;
use crate::error::{BeamError, Result};
use crate::pipeline::{PBegin, PCollection, PTransform};
use crate::time::{Duration, Timestamp};
use crate::unbounded::{CheckpointMark, Poll, ReadUnbounded, UnboundedReader, UnboundedSource};
use crate::window::WindowedValue;

/// Emits a tick (its time as a [`Timestamp`]) every `interval` of processing
/// time, from a start (by default when the reader opens) until a stop (by
/// default never). Ticks that fall behind, after a pause, are emitted at once.
#[derive(Clone, Debug)]
pub struct PeriodicImpulse {
    interval: Duration,
    start: Option<Timestamp>,
    stop: Timestamp,
}

impl PeriodicImpulse {
    /// A tick every `interval`.
    pub fn every(interval: Duration) -> Self {
        PeriodicImpulse {
            interval,
            start: None,
            stop: Timestamp::MAX,
        }
    }
    /// The first tick is at `start`.
    pub fn starting_at(mut self, start: Timestamp) -> Self {
        self.start = Some(start);
        self
    }
    /// No tick at or after `stop`; the stream ends there.
    pub fn stopping_at(mut self, stop: Timestamp) -> Self {
        self.stop = stop;
        self
    }
}

impl PTransform<PBegin> for PeriodicImpulse {
    type Output = PCollection<Timestamp>;
    fn expand(self, input: &PBegin) -> Result<PCollection<Timestamp>> {
        if self.interval <= Duration::ZERO {
            return Err(BeamError::construction(
                input.pipeline().current_scope(),
                format!(
                    "a PeriodicImpulse needs a positive interval, not {:?}",
                    self.interval
                ),
            ));
        }
        input
            .pipeline()
            .apply("Read", ReadUnbounded::from(Ticks(self)))
    }
}

/// The source behind [`PeriodicImpulse`]; it has one split.
#[derive(Clone)]
struct Ticks(PeriodicImpulse);

impl UnboundedSource for Ticks {
    type Output = Timestamp;
    fn split(&self, _desired: usize) -> Result<Vec<Self>> {
        Ok(vec![self.clone()])
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<Timestamp>>> {
        let next = self.0.start.unwrap_or_else(Timestamp::wall_clock);
        Ok(Box::new(TickReader {
            next,
            interval: self.0.interval,
            stop: self.0.stop,
        }))
    }
    fn resume(&self, mark: &CheckpointMark) -> Result<Box<dyn UnboundedReader<Timestamp>>> {
        let next: Timestamp = coder::decode(&mark.0)
            .map_err(|e| BeamError::Runner(format!("a PeriodicImpulse checkpoint mark: {e}")))?;
        Ok(Box::new(TickReader {
            next,
            interval: self.0.interval,
            stop: self.0.stop,
        }))
    }
    fn can_resume(&self) -> bool {
        true
    }
    fn describe(&self) -> String {
        format!("PeriodicImpulse(every {:?})", self.0.interval)
    }
}

struct TickReader {
    next: Timestamp,
    interval: Duration,
    stop: Timestamp,
}

impl UnboundedReader<Timestamp> for TickReader {
    fn poll(&mut self, out: &mut Vec<WindowedValue<Timestamp>>, max: usize) -> Result<Poll> {
        let now = Timestamp::wall_clock();
        let mut n = 0;
        while self.next < self.stop && self.next <= now && n < max {
            out.push(WindowedValue::timestamped(self.next, self.next));
            self.next = self.next + self.interval;
            n += 1;
        }
        if self.next >= self.stop {
            return Ok(Poll::Finished);
        }
        if self.next <= now {
            return Ok(Poll::Ready);
        }
        let wait = (self.next - now).as_micros().max(0) as u64;
        Ok(Poll::Pending(std::time::Duration::from_micros(wait)))
    }
    fn watermark(&self) -> Timestamp {
        if self.next >= self.stop {
            Timestamp::MAX
        } else {
            self.next
        }
    }
    fn checkpoint_mark(&self) -> Option<CheckpointMark> {
        let mut bytes = Vec::new();
        coder::encode(&self.next, &mut bytes).ok()?;
        Some(CheckpointMark(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_follow_the_clock_and_end_at_the_stop() {
        let start = Timestamp::wall_clock() - Duration::from_millis(100);
        let source = Ticks(
            PeriodicImpulse::every(Duration::from_millis(30))
                .starting_at(start)
                .stopping_at(start + Duration::from_millis(200)),
        );
        let mut reader = source.reader().unwrap();
        let mut out = Vec::new();
        // 100 ms have passed: the ticks at 0, 30, 60 and 90 ms are due.
        assert!(matches!(
            reader.poll(&mut out, 100).unwrap(),
            Poll::Pending(_)
        ));
        let offsets: Vec<i64> = out
            .iter()
            .map(|wv| (wv.timestamp - start).as_micros() / 1000)
            .collect();
        assert_eq!(offsets, vec![0, 30, 60, 90]);
        assert_eq!(reader.watermark(), start + Duration::from_millis(120));
        // A reader resumed from the mark goes on with the next tick.
        let mark = reader.checkpoint_mark().unwrap();
        let mut resumed = source.resume(&mark).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(110));
        let mut rest = Vec::new();
        assert_eq!(resumed.poll(&mut rest, 100).unwrap(), Poll::Finished);
        assert_eq!(rest.len(), 3);
        assert_eq!(resumed.watermark(), Timestamp::MAX);
    }
}
