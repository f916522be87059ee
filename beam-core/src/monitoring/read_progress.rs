//! How far a process has read its bounded sources: bytes planned (the
//! estimated sizes of the splits it will read) and bytes read, from which
//! the backlog (bytes of file left) and the progress bar follow.
//!
//! A runner hands each split it will read through [`JobMonitor::watch_split`].
//! The watched split's readers count what they read: while a reader can
//! say how much it has left ([`DynamicSplit::remaining`]), as it goes; else
//! all at once when it ends. A residual split off a running reader carries
//! its share of the bytes with it, so nothing is counted twice.

use super::JobMonitor;
use crate::batch::Batch;
use crate::error::Result;
use crate::source::{DynamicSplit, ErasedReader, ErasedSource};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// A bounded source step's bytes, as far as this process reads them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceBytes {
    /// The estimated sizes of the splits this process reads.
    pub planned: u64,
    /// What their readers have read so far.
    pub read: u64,
}

impl SourceBytes {
    /// What is left to read (never below zero: estimates can be low).
    pub fn left(&self) -> u64 {
        self.planned.saturating_sub(self.read)
    }
}

/// One step's live counts.
#[derive(Debug, Default)]
pub(super) struct ReadCounts {
    planned: AtomicU64,
    read: AtomicU64,
    watched: AtomicU64,
}

impl ReadCounts {
    pub(super) fn snapshot(&self) -> Option<SourceBytes> {
        (self.watched.load(Relaxed) > 0).then(|| SourceBytes {
            planned: self.planned.load(Relaxed),
            read: self.read.load(Relaxed),
        })
    }
}

impl JobMonitor {
    /// Wraps `split`, a split of bounded source step `step` that this
    /// process will read: its estimated size counts as planned, and what its
    /// readers read counts as read.
    pub fn watch_split(
        self: &Arc<Self>,
        step: usize,
        split: Arc<dyn ErasedSource>,
    ) -> Arc<dyn ErasedSource> {
        let Some(counts) = self.read_counts.get(step).filter(|_| self.step_metrics) else {
            return split;
        };
        counts.watched.fetch_add(1, Relaxed);
        counts
            .planned
            .fetch_add(split.estimated_size_bytes().unwrap_or(0), Relaxed);
        Arc::new(WatchedSplit {
            inner: split,
            step,
            monitor: self.clone(),
        })
    }

    fn bytes_read(&self, step: usize, bytes: u64) {
        if let Some(c) = self.read_counts.get(step) {
            c.read.fetch_add(bytes, Relaxed);
        }
    }
}

struct WatchedSplit {
    inner: Arc<dyn ErasedSource>,
    step: usize,
    monitor: Arc<JobMonitor>,
}

/// Wraps a part of a watched split (planned already, as part of it).
fn part_of(
    step: usize,
    monitor: &Arc<JobMonitor>,
    inner: Arc<dyn ErasedSource>,
) -> Arc<dyn ErasedSource> {
    Arc::new(WatchedSplit {
        inner,
        step,
        monitor: monitor.clone(),
    })
}

impl ErasedSource for WatchedSplit {
    fn estimated_size_bytes(&self) -> Result<u64> {
        self.inner.estimated_size_bytes()
    }
    fn split(&self, desired: u64) -> Result<Vec<Arc<dyn ErasedSource>>> {
        Ok(self
            .inner
            .split(desired)?
            .into_iter()
            .map(|s| part_of(self.step, &self.monitor, s))
            .collect())
    }
    fn open(&self) -> Result<Box<dyn ErasedReader>> {
        let reader = self.inner.open()?;
        let owned = self.inner.estimated_size_bytes().unwrap_or(0);
        Ok(Box::new(WatchedReader {
            share: Arc::new(ReaderShare {
                owned: AtomicU64::new(owned),
                counted: AtomicU64::new(0),
                handle: reader.dynamic_split(),
                step: self.step,
                monitor: self.monitor.clone(),
            }),
            inner: reader,
        }))
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// What a reader (and its split-off handle) know of its bytes.
struct ReaderShare {
    /// The bytes this reader is responsible for: its split's estimate, less
    /// the residuals split off it.
    owned: AtomicU64,
    /// The bytes already counted as read.
    counted: AtomicU64,
    handle: Option<Arc<dyn DynamicSplit>>,
    step: usize,
    monitor: Arc<JobMonitor>,
}

impl ReaderShare {
    /// Counts what was read since the last count: the owned bytes minus
    /// those left, or (`done`) all owned bytes.
    fn count(&self, done: bool) {
        let owned = self.owned.load(Relaxed);
        let read = match (&self.handle, done) {
            (_, true) => owned,
            (Some(h), false) => owned.saturating_sub(h.remaining()),
            (None, false) => return,
        };
        let before = self.counted.fetch_max(read, Relaxed);
        if read > before {
            self.monitor.bytes_read(self.step, read - before);
        }
    }
}

struct WatchedReader {
    inner: Box<dyn ErasedReader>,
    share: Arc<ReaderShare>,
}

impl ErasedReader for WatchedReader {
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>> {
        let batch = self.inner.next_batch(max)?;
        self.share.count(batch.is_none());
        Ok(batch)
    }
    fn dynamic_split(&self) -> Option<Arc<dyn DynamicSplit>> {
        self.share.handle.as_ref()?;
        Some(Arc::new(WatchedHandle(self.share.clone())))
    }
}

/// A running reader's split-off handle: a residual takes its estimated
/// bytes out of the reader's, and its own reader counts them.
struct WatchedHandle(Arc<ReaderShare>);

impl DynamicSplit for WatchedHandle {
    fn remaining(&self) -> u64 {
        self.0.handle.as_ref().map_or(0, |h| h.remaining())
    }
    fn split_remaining(&self, keep: f64) -> Option<Arc<dyn ErasedSource>> {
        let share = &self.0;
        let residual = share.handle.as_ref()?.split_remaining(keep)?;
        let bytes = residual.estimated_size_bytes().unwrap_or(0);
        let _ = share
            .owned
            .fetch_update(Relaxed, Relaxed, |o| Some(o.saturating_sub(bytes)));
        Some(part_of(share.step, &share.monitor, residual))
    }
}
