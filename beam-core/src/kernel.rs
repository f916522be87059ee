//! The runner contract: erased kernels with typed insides.
//!
//! When the typed API builds a primitive it captures a kernel that closes over
//! the concrete element types. A runner never sees those types: it moves
//! [`Batch`]es and calls kernels, and each kernel downcasts a whole batch once and
//! runs its per-element loop in typed, monomorphized code. No boxing, dynamic
//! dispatch or `dyn Any` hashing happens per element.
//!
//! | primitive | kernel | what a runner does with it |
//! |---|---|---|
//! | ParDo | [`ParDoKernel`] → [`BundleProcessor`] | one processor per worker; `start_bundle`, `process_batch`*, `finish_bundle` |
//! | GroupByKey, Combine.perKey | [`GroupingKernel`] → [`GroupingTable`] | partition batches by key hash, feed tables, fire them |
//! | WindowInto | [`WindowKernel`] | assign windows batch by batch |
//! | side input | [`ViewKernel`] | materialize the view once its PCollection is complete, or pane by pane for a view of a stream ([`SideInputTracker`](crate::runner_support::side_inputs::SideInputTracker)) |

use crate::batch::Batch;
use crate::error::Result;
use crate::metrics::MetricsContainer;
pub use crate::runner_support::aggregation::{parts_sharing_keys_with, KEY_GROUPS};
use crate::time::Timestamp;
pub use crate::transforms::publish_transactionally::WriterId;
use crate::window::Window;
use std::any::Any;
use std::sync::Arc;

/// Per-bundle environment handed to a ParDo's [`BundleProcessor`].
pub struct BundleEnv<'a> {
    /// One batch per output PCollection of the ParDo (main output first), appended to.
    pub outputs: &'a mut [Batch],
    /// Materialized side inputs the ParDo reads.
    pub side_inputs: &'a SideInputs,
    /// The step's metrics for this bundle.
    pub metrics: &'a mut MetricsContainer,
    /// Whether to check that the DoFn does not mutate its inputs (direct runner).
    pub check_mutation: bool,
}

/// Builds the per-worker processor of a ParDo.
pub trait ParDoKernel: Send + Sync {
    /// A fresh processor owning its own copy of the DoFn.
    fn instantiate(&self) -> Box<dyn BundleProcessor>;
}

/// One DoFn instance, driven through its lifecycle by a runner:
/// `setup`, then any number of bundles (`start_bundle`, `process_batch`*,
/// `finish_bundle`), then `teardown`.
pub trait BundleProcessor: Send {
    /// Calls the DoFn's setup.
    fn setup(&mut self) -> Result<()>;
    /// Starts a bundle.
    fn start_bundle(&mut self, env: &mut BundleEnv<'_>) -> Result<()>;
    /// Processes every element of `input`.
    fn process_batch(&mut self, input: Batch, env: &mut BundleEnv<'_>) -> Result<()>;
    /// Finishes the bundle.
    fn finish_bundle(&mut self, env: &mut BundleEnv<'_>) -> Result<()>;
    /// Calls the DoFn's teardown.
    fn teardown(&mut self) -> Result<()>;
}

/// Environment of a grouping table.
pub struct GroupingEnv<'a> {
    /// The step's metrics.
    pub metrics: &'a mut MetricsContainer,
    /// Whether to run the direct runner's extra checks (key encoding determinism,
    /// accumulator merging on every bundle).
    pub checks: bool,
}

/// A GroupByKey or Combine.perKey: builds tables that group `(K, V)` by key and window.
pub trait GroupingKernel: Send + Sync {
    /// An empty table.
    fn new_table(&self) -> Box<dyn GroupingTable>;
    /// A table restored from [`GroupingTable::snapshot`] of a table of this
    /// step: it continues exactly where the snapshotted one was.
    fn restore_table(&self, snapshot: &[u8]) -> Result<Box<dyn GroupingTable>>;
    /// The table of part `part` of `parts` (as
    /// [`partition_by_key_group`](Self::partition_by_key_group) splits keys) restored from snapshots of tables of this step taken with
    /// any number of parts: it holds their keys of that part. For a restore on
    /// another number of workers.
    fn restore_table_part(
        &self,
        snapshots: &[&[u8]],
        part: usize,
        parts: usize,
    ) -> Result<Box<dyn GroupingTable>>;
    /// Splits a batch of `(K, V)` into `parts` batches by a hash of the key, so that
    /// each key goes to one part.
    fn partition(&self, batch: Batch, parts: usize) -> Vec<Batch>;
    /// Combiner lifting: a table that pre-combines input on one worker before
    /// the shuffle, if this grouping allows it (windows that do not merge, and a
    /// trigger that neither counts elements nor waits for processing time).
    fn lifted(&self) -> Option<Box<dyn PartialTable>> {
        None
    }
    /// Splits a batch of partial accumulators (from [`PartialTable::take`]) by key.
    fn partition_partials(&self, batch: Batch, parts: usize) -> Vec<Batch>;
    /// Splits a batch of `(K, V)` into `parts` batches by key group: part `i`
    /// gets the keys of a contiguous range of the [`KEY_GROUPS`] groups, so a
    /// key's part on one number of parts says which parts held it on another
    /// (see [`parts_sharing_keys_with`]). For runners that restore keyed state
    /// on another number of workers.
    fn partition_by_key_group(&self, batch: Batch, parts: usize) -> Vec<Batch>;
    /// [`partition_partials`](Self::partition_partials) by key group.
    fn partition_partials_by_key_group(&self, batch: Batch, parts: usize) -> Vec<Batch>;
    /// Whether its tables' state may be taken out with
    /// [`GroupingTable::evict`] and handed back later: windows that do not
    /// merge, a trigger that fires only when the watermark passes the end of
    /// the window, no allowed lateness and output at the end of the window.
    fn evictable(&self) -> bool;
    /// Decodes a batch of partial accumulators written by [`Batch::encode`]
    /// (for runners that spill them to disk).
    fn decode_partials(&self, bytes: &[u8]) -> std::result::Result<Batch, String>;
}

/// Pre-combines a worker's share of a grouping's input per key and window.
pub trait PartialTable: Send {
    /// Adds a batch of input elements.
    fn add(&mut self, batch: Batch) -> Result<()>;
    /// An estimate of the memory the table takes (see [`Batch::estimated_bytes`]).
    fn estimated_bytes(&self) -> usize;
    /// At most `max` of the partial accumulators so far (each timestamped
    /// with its combined output time), removing them from the table; the
    /// batch is empty once the table is. Taking them a part at a time keeps
    /// a large table from being copied whole into one batch.
    fn take(&mut self, max: usize) -> Batch;
}

/// The grouping state of one partition of keys: buffers, triggers, holds.
///
/// Fired panes collect in the table until the runner takes them.
pub trait GroupingTable: Send {
    /// Adds a bundle of input (and fires panes its triggers call for).
    fn add(&mut self, batch: Batch, env: &mut GroupingEnv<'_>) -> Result<()>;
    /// Adds partial accumulators pre-combined by a [`PartialTable`].
    fn add_partials(&mut self, batch: Batch, env: &mut GroupingEnv<'_>) -> Result<()>;
    /// Moves the input watermark forward (firing end-of-window and
    /// garbage-collection timers). `Timestamp::MAX` means the input is complete.
    fn advance_input_watermark(
        &mut self,
        watermark: Timestamp,
        env: &mut GroupingEnv<'_>,
    ) -> Result<()>;
    /// Moves processing time forward (firing processing-time triggers).
    fn advance_processing_time(&mut self, now: Timestamp, env: &mut GroupingEnv<'_>) -> Result<()>;
    /// The output watermark: the input watermark held back by buffered data.
    fn output_watermark(&self) -> Timestamp;
    /// The earliest processing time at which a trigger may fire.
    fn next_processing_time(&self) -> Option<Timestamp>;
    /// The panes fired since the last call.
    fn take_output(&mut self) -> Option<Batch>;
    /// Encodes the table's whole state (buffers, trigger states, holds,
    /// timers, pane history, watermarks, panes not yet taken), between calls,
    /// for a checkpoint; see [`GroupingKernel::restore_table`].
    fn snapshot(&self) -> Result<Vec<u8>>;
    /// An estimate of the memory the table's state takes.
    fn estimated_bytes(&self) -> usize;
    /// Takes every window's state out, as batches of partial accumulators
    /// (one per window, with the window's max timestamp, in time order),
    /// leaving the table empty; for a runner keeping a memory budget, and
    /// only when [`GroupingKernel::evictable`]. Handed back with
    /// [`add_partials`](Self::add_partials) while the input watermark is not
    /// past a window's end, they give the panes the table would have given.
    fn evict(&mut self) -> Vec<(Timestamp, Batch)>;
}

/// A WindowInto: assigns windows.
pub trait WindowKernel: Send + Sync {
    /// Returns the elements of `input` in their new windows (one output per
    /// window). An element that falls in no window (between sliding windows
    /// whose period is longer than their size, or refused by a custom window
    /// function) is dropped and counted in `metrics` as
    /// [`DROPPED_IN_NO_WINDOW`].
    fn assign(&self, input: Batch, metrics: &mut MetricsContainer) -> Batch;
}

/// The counter of elements that a WindowInto dropped because they fall in
/// no window.
pub const DROPPED_IN_NO_WINDOW: &str = "dropped_in_no_window";

/// A Publish: makes staged items visible (see [`Publish`](crate::Publish)
/// and [`PublishTransactionally`](crate::PublishTransactionally)).
pub trait PublishKernel: Send + Sync {
    /// Publishes every item of `batch` now, in a run that replays nothing;
    /// an item already published stays as it is.
    fn publish(&self, batch: &Batch) -> Result<()>;
    /// Whether items are published per writer and epoch, in transactions
    /// ([`commit`](Self::commit), [`recover`](Self::recover)), rather than
    /// one by one.
    fn is_transactional(&self) -> bool;
    /// Publishes, all at once, the items `writer` staged in checkpoint
    /// epochs up to `epoch`, recording that it committed `epoch`. A
    /// publisher that is not transactional publishes them one by one.
    fn commit(&self, writer: &WriterId, epoch: u64, batches: &[Batch]) -> Result<()>;
    /// For each of `writers`: ends what it left unfinished and returns the
    /// last epoch it committed (`None` for a publisher that is not
    /// transactional, or a writer that committed nothing).
    fn recover(&self, writers: &[WriterId]) -> Result<Vec<Option<u64>>>;
    /// Removes what was staged and not published (at a restore, before any
    /// new item is staged).
    fn discard_unpublished(&self) -> Result<()>;
}

/// Materializes a side input view from its complete PCollection.
pub trait ViewKernel: Send + Sync {
    /// Builds the per-window view contents from the whole PCollection.
    fn materialize(&self, batches: Vec<Batch>) -> Result<Arc<dyn Any + Send + Sync>, String>;
    /// Whether this is a view of a stream, built pane by pane: each element
    /// of its PCollection is one window's contents as of one firing, and a
    /// window can be read once it has fired (or its watermark has passed it).
    /// A view of a bounded PCollection is built once that is complete.
    fn of_stream(&self) -> bool;
    /// A view of a stream with no window fired yet.
    fn empty_view(&self) -> Arc<dyn Any + Send + Sync>;
    /// Puts the panes in `panes` into the view of a stream `view` (a later
    /// firing of a window replaces an earlier one) and returns their windows.
    fn add_panes(
        &self,
        view: &mut Arc<dyn Any + Send + Sync>,
        panes: Batch,
    ) -> Result<Vec<Window>, String>;
    /// The side window that an element in main-input window `main` reads.
    fn side_window(&self, main: &Window) -> Result<Window, String>;
}

/// The materialized side inputs of a ParDo, by view id.
#[derive(Default, Clone)]
pub struct SideInputs {
    views: Vec<(usize, Arc<dyn Any + Send + Sync>)>,
}

impl SideInputs {
    /// No side inputs.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds the materialization of view `view_id`.
    pub fn insert(&mut self, view_id: usize, value: Arc<dyn Any + Send + Sync>) {
        self.views.retain(|(id, _)| *id != view_id);
        self.views.push((view_id, value));
    }
    /// The materialization of view `view_id`, to change in place.
    pub(crate) fn get_mut(&mut self, view_id: usize) -> Option<&mut Arc<dyn Any + Send + Sync>> {
        self.views
            .iter_mut()
            .find(|(id, _)| *id == view_id)
            .map(|(_, v)| v)
    }
    /// The materialization of view `view_id`.
    pub fn get(&self, view_id: usize) -> Option<&(dyn Any + Send + Sync)> {
        self.views
            .iter()
            .find(|(id, _)| *id == view_id)
            .map(|(_, v)| v.as_ref())
    }
}

/// A stateful ParDo: builds the per-worker processor that owns its keys' state and timers.
pub trait StatefulKernel: Send + Sync {
    /// A fresh processor with its own copy of the DoFn and no state.
    fn instantiate(&self) -> Box<dyn StatefulProcessor>;
    /// A processor (not yet set up) restored from
    /// [`StatefulProcessor::snapshot`] of a processor of this step.
    fn restore(&self, snapshot: &[u8]) -> Result<Box<dyn StatefulProcessor>>;
    /// The processor of part `part` of `parts` restored from snapshots of
    /// processors of this step taken with any number of parts; see
    /// [`GroupingKernel::restore_table_part`].
    fn restore_part(
        &self,
        snapshots: &[&[u8]],
        part: usize,
        parts: usize,
    ) -> Result<Box<dyn StatefulProcessor>>;
    /// Splits a batch of `(K, V)` into `parts` batches by a hash of the key.
    fn partition(&self, batch: Batch, parts: usize) -> Vec<Batch>;
    /// Splits a batch of `(K, V)` by key group; see
    /// [`GroupingKernel::partition_by_key_group`].
    fn partition_by_key_group(&self, batch: Batch, parts: usize) -> Vec<Batch>;
}

/// The state, timers and DoFn instance of one partition of keys. Outputs
/// collect in the processor until the runner takes them.
pub trait StatefulProcessor: Send {
    /// Calls the DoFn's setup.
    fn setup(&mut self) -> Result<()>;
    /// Processes a bundle of `(K, V)`.
    fn process_batch(&mut self, input: Batch, metrics: &mut MetricsContainer) -> Result<()>;
    /// Moves the input watermark forward: fires event-time timers in order, then expires windows.
    fn advance_input_watermark(
        &mut self,
        watermark: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()>;
    /// Moves processing time forward: fires processing-time timers in order.
    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()>;
    /// The input watermark held back by the output timestamps of pending timers.
    fn output_watermark(&self) -> Timestamp;
    /// The earliest pending processing-time timer.
    fn next_processing_time(&self) -> Option<Timestamp>;
    /// Outputs since the last call.
    fn take_output(&mut self) -> Option<Batch>;
    /// Encodes every key and window's state cells and timers, the watermarks,
    /// processing time and outputs not yet taken, between calls, for a
    /// checkpoint; see [`StatefulKernel::restore`].
    fn snapshot(&self) -> Result<Vec<u8>>;
    /// Calls the DoFn's teardown.
    fn teardown(&mut self) -> Result<()>;
}
