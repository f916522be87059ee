//! The bounded source API: what [`Read`](crate::Read) reads from.
//!
//! A [`BoundedSource`] knows its size, splits itself into bundles of a desired
//! size so a parallel runner can read it on every core, and opens readers that
//! fill typed batches. Built-in connectors implement this same public trait.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{BoundedSource, Result, SourceReader, WindowedValue};
//!
//! /// The numbers `start..end`.
//! #[derive(Clone)]
//! struct Range { start: u64, end: u64 }
//!
//! struct RangeReader { next: u64, end: u64 }
//!
//! impl SourceReader<u64> for RangeReader {
//!     fn read_batch(&mut self, out: &mut Vec<WindowedValue<u64>>, max: usize) -> Result<bool> {
//!         while self.next < self.end && out.len() < max {
//!             out.push(WindowedValue::in_global_window(self.next));
//!             self.next += 1;
//!         }
//!         Ok(self.next < self.end)
//!     }
//! }
//!
//! impl BoundedSource for Range {
//!     type Output = u64;
//!     fn estimated_size_bytes(&self) -> Result<u64> { Ok((self.end - self.start) * 8) }
//!     fn split(&self, desired: u64) -> Result<Vec<Self>> {
//!         let step = (desired / 8).max(1);
//!         Ok((self.start..self.end).step_by(step as usize)
//!             .map(|s| Range { start: s, end: (s + step).min(self.end) }).collect())
//!     }
//!     fn reader(&self) -> Result<Box<dyn SourceReader<u64>>> {
//!         Ok(Box::new(RangeReader { next: self.start, end: self.end }))
//!     }
//!     fn describe(&self) -> String { format!("Range({}..{})", self.start, self.end) }
//! }
//!
//! let p = beam_core::testing::TestPipeline::new();
//! let numbers = p.apply("Numbers", beam_core::Read::from(Range { start: 0, end: 100 })).unwrap();
//! let total = numbers.apply("Sum", beam_core::Sum::globally()).unwrap();
//! beam_core::testing::PAssert::that(&total).contains_in_any_order(vec![4950]).unwrap();
//! ```

use crate::batch::Batch;
use crate::coder::Element;
use crate::error::Result;
use crate::window::WindowedValue;
use std::sync::Arc;

/// A finite source of elements.
pub trait BoundedSource: Send + Sync + 'static {
    /// The element type read.
    type Output: Element;
    /// An estimate of the bytes this source will read.
    fn estimated_size_bytes(&self) -> Result<u64>;
    /// Splits into sources of about `desired_bundle_size_bytes` each, together reading
    /// exactly what `self` reads.
    fn split(&self, desired_bundle_size_bytes: u64) -> Result<Vec<Self>>
    where
        Self: Sized;
    /// Opens a reader positioned at the start.
    fn reader(&self) -> Result<Box<dyn SourceReader<Self::Output>>>;
    /// A short description for errors and graphs (for example the file path).
    fn describe(&self) -> String;
}

/// Reads a source batch by batch.
pub trait SourceReader<T>: Send {
    /// Appends elements to `out` until it holds `max` elements or the source is
    /// exhausted; returns whether more remain.
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<T>>, max: usize) -> Result<bool>;
    /// A handle through which a runner can split off the unread rest of this
    /// reader's work while it runs, if the source supports it.
    fn dynamic_split(&self) -> Option<Arc<dyn DynamicSplit>> {
        None
    }
    /// The most elements one bundle of this reader holds. A reader whose
    /// elements are large themselves (a batch of thousands of rows) asks for
    /// small bundles, so that a runner holds a few of them at a time rather
    /// than a whole split.
    fn max_bundle_elements(&self) -> usize {
        usize::MAX
    }
}

/// Dynamic work rebalancing: a handle, usable from another thread, that splits
/// off part of the work a running reader has not done yet. A parallel runner
/// hands the returned source to an idle worker, so one large input keeps every
/// core busy to the end.
pub trait DynamicSplit: Send + Sync {
    /// About how much work is left (in the source's size unit; bytes for files).
    fn remaining(&self) -> u64;
    /// Keeps about `keep` (0..1) of the remaining work for the running reader and
    /// returns a source that reads exactly the rest, or `None` when the reader
    /// cannot split now (too little left, or already past the point).
    fn split_remaining(&self, keep: f64) -> Option<Arc<dyn ErasedSource>>;
}

/// A bounded source as runners see it; for [`DynamicSplit`] implementations
/// that hand back a residual source.
pub fn erase<S: BoundedSource>(source: S) -> Arc<dyn ErasedSource> {
    Arc::new(SourceAdapter(source))
}

/// A bounded source with its element type erased, as runners see it.
pub trait ErasedSource: Send + Sync {
    /// See [`BoundedSource::estimated_size_bytes`].
    fn estimated_size_bytes(&self) -> Result<u64>;
    /// See [`BoundedSource::split`].
    fn split(&self, desired_bundle_size_bytes: u64) -> Result<Vec<Arc<dyn ErasedSource>>>;
    /// Opens an erased reader.
    fn open(&self) -> Result<Box<dyn ErasedReader>>;
    /// See [`BoundedSource::describe`].
    fn describe(&self) -> String;
}

/// Reads erased batches.
pub trait ErasedReader: Send {
    /// The next batch of at most `max` elements, or `None` at the end.
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>>;
    /// See [`SourceReader::dynamic_split`].
    fn dynamic_split(&self) -> Option<Arc<dyn DynamicSplit>>;
}

pub(crate) struct SourceAdapter<S>(pub(crate) S);

impl<S: BoundedSource> ErasedSource for SourceAdapter<S> {
    fn estimated_size_bytes(&self) -> Result<u64> {
        self.0.estimated_size_bytes()
    }
    fn split(&self, desired: u64) -> Result<Vec<Arc<dyn ErasedSource>>> {
        Ok(self
            .0
            .split(desired)?
            .into_iter()
            .map(|s| Arc::new(SourceAdapter(s)) as Arc<dyn ErasedSource>)
            .collect())
    }
    fn open(&self) -> Result<Box<dyn ErasedReader>> {
        Ok(Box::new(ReaderAdapter {
            reader: self.0.reader()?,
            done: false,
        }))
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
}

struct ReaderAdapter<T> {
    reader: Box<dyn SourceReader<T>>,
    done: bool,
}

impl<T: Element> ErasedReader for ReaderAdapter<T> {
    fn next_batch(&mut self, max: usize) -> Result<Option<Batch>> {
        let max = max.min(self.reader.max_bundle_elements()).max(1);
        let mut out = Vec::with_capacity(max.min(4096));
        while !self.done && out.len() < max {
            let more = self.reader.read_batch(&mut out, max)?;
            self.done = !more;
        }
        if out.is_empty() && self.done {
            Ok(None)
        } else {
            Ok(Some(Batch::new(out)))
        }
    }
    fn dynamic_split(&self) -> Option<Arc<dyn DynamicSplit>> {
        self.reader.dynamic_split()
    }
}
