//! Reading unbounded sources: readers polled when due, a source's watermark
//! from its live readers.

use super::{Executor, TransformState};
use beam_core::unbounded::{ErasedUnboundedReader, Poll};
use beam_core::Result;
use rand::Rng;

/// A reader of one split of an unbounded source.
pub(super) struct UnboundedPart {
    reader: Box<dyn ErasedUnboundedReader>,
    finished: bool,
    /// Not polled again before this (after it said `Pending`).
    next_poll: std::time::Instant,
}

impl UnboundedPart {
    pub(super) fn new(reader: Box<dyn ErasedUnboundedReader>) -> Self {
        UnboundedPart {
            reader,
            finished: false,
            next_poll: std::time::Instant::now(),
        }
    }
}

impl Executor {
    /// Polls the readers of unbounded sources that are due: emits what they have
    /// and advances each source's watermark
    /// ([`source_watermark`](beam_core::unbounded::source_watermark)). When none
    /// has anything, waits until the next is due. Returns false once every
    /// unbounded source has finished.
    pub(super) fn poll_unbounded(&mut self) -> Result<bool> {
        let mut active = false;
        let mut progressed = false;
        let mut next_due: Option<std::time::Instant> = None;
        for t in 0..self.states.len() {
            let TransformState::Unbounded(parts, probe) = &mut self.states[t] else {
                continue;
            };
            let now = std::time::Instant::now();
            let order: Vec<usize> = if self.options.checks {
                let mut o: Vec<usize> = (0..parts.len()).collect();
                for i in (1..o.len()).rev() {
                    o.swap(i, self.rng.random_range(0..=i));
                }
                o
            } else {
                (0..parts.len()).collect()
            };
            let mut emitted = Vec::new();
            for i in order {
                let part = &mut parts[i];
                if part.finished || part.next_poll > now {
                    continue;
                }
                let (batch, poll) = part.reader.poll(self.options.bundle_size)?;
                match poll {
                    Poll::Ready => {}
                    Poll::Pending(wait) => part.next_poll = now + wait,
                    Poll::Finished => part.finished = true,
                }
                if !batch.is_empty() {
                    emitted.push(batch);
                }
            }
            probe.probe(&self.monitor, parts.iter().map(|p| p.reader.as_ref()));
            let watermark = beam_core::unbounded::source_watermark(
                parts.iter().map(|p| (p.reader.as_ref(), p.finished)),
            );
            let mut live = false;
            for p in parts.iter().filter(|p| !p.finished) {
                live = true;
                next_due = Some(next_due.map_or(p.next_poll, |d| d.min(p.next_poll)));
            }
            active |= live;
            if !live {
                self.states[t] = TransformState::Stateless;
            }
            if let Some(w) = watermark.filter(|w| *w > self.root_watermarks[t]) {
                self.root_watermarks[t] = w;
                progressed = true;
            }
            let out = self.graph.transforms[t].outputs[0];
            for batch in emitted {
                self.emit(out, batch)?;
                progressed = true;
            }
        }
        if !active {
            return Ok(progressed);
        }
        if !progressed {
            // Nothing now: wait for the next reader to be due (at most 10 ms, so
            // processing-time deadlines are not missed by much).
            let wait = next_due
                .map_or(std::time::Duration::ZERO, |d| {
                    d.saturating_duration_since(std::time::Instant::now())
                })
                .min(std::time::Duration::from_millis(10));
            std::thread::sleep(wait.max(std::time::Duration::from_micros(200)));
        }
        Ok(true)
    }
}
