//! Taking a grouping table's state out, for a runner that keeps a memory
//! budget: under a strategy where a window's state before its end is only
//! its accumulator (see [`evictable`]), every window's accumulator leaves
//! the table as a partial, and the runner hands it back with
//! [`GroupingTable::add_partials`](crate::kernel::GroupingTable::add_partials)
//! before the watermark passes the window's end; the panes are the same as
//! if it had stayed.

use super::{WindowedTable, WindowingStrategy};
use crate::batch::Batch;
use crate::runner_support::aggregation::Aggregation;
use crate::time::Timestamp;
use crate::trigger::Trigger;
use crate::window::{PaneInfo, WindowedValue};
use crate::windowfn::TimestampCombiner;

/// Whether a table under `strategy` can give its windows' state out and take
/// it back unchanged: windows that do not merge, a trigger that fires only
/// once the watermark passes the end of the window, no allowed lateness
/// (so a window's state is gone once it fired), and output at the end of the
/// window (so a window's hold is its end, whenever its data came).
pub(crate) fn evictable(strategy: &WindowingStrategy) -> bool {
    let on_time_only = matches!(
        strategy.trigger,
        Trigger::Default | Trigger::AfterWatermark { early: None, .. }
    );
    on_time_only
        && !strategy.window_fn.is_merging()
        && strategy.allowed_lateness.as_micros() == 0
        && strategy.timestamp_combiner == TimestampCombiner::EndOfWindow
}

impl<A: Aggregation> WindowedTable<A> {
    /// An estimate of the table's memory: its maps' buckets (from their
    /// capacities) and a timer entry per state, plus the heap of keys and
    /// accumulators estimated from up to 16 sampled ones, by their size in a
    /// fixed-width encoding (an integer as wide as in memory, where a compact
    /// encoding would make a list of small numbers look a fraction of its
    /// memory).
    pub(crate) fn estimate_bytes(&self) -> usize {
        let n = self.windows.len();
        if n == 0 {
            return 0;
        }
        let (mut sampled, mut heap) = (0usize, 0usize);
        for ((k, _), state) in self.windows.iter().take(16) {
            sampled += 1;
            heap += bincode::serialized_size(k).unwrap_or(0) as usize;
            if let Some(acc) = state.acc() {
                heap += bincode::serialized_size(acc).unwrap_or(0) as usize;
            }
        }
        let timer = std::mem::size_of::<(A::K, crate::window::Window)>() + 16;
        self.windows.table_bytes() + n * (timer + heap / sampled.max(1))
    }

    /// Takes every window's accumulator out as a batch of partials `(K, Acc)`
    /// at the window's end, one batch per window with the window's max
    /// timestamp, leaving the table empty (its watermarks stay). Only for an
    /// [`evictable`] strategy.
    pub(crate) fn evict_all(&mut self) -> Vec<(Timestamp, Batch)> {
        debug_assert!(evictable(&self.strategy));
        let mut out = Vec::new();
        for states in self.windows.take_all() {
            let Some(max) = states.first().map(|((_, w), _)| w.max_timestamp()) else {
                continue;
            };
            let mut partials = Vec::with_capacity(states.len());
            for ((key, window), mut state) in states {
                if let Some(acc) = state.take_acc(self.agg.create()) {
                    let wv = WindowedValue::new((key, acc), max, window, PaneInfo::NO_FIRING);
                    partials.push(wv);
                }
            }
            out.push((max, Batch::new(partials)));
        }
        out.sort_by_key(|(max, _)| *max);
        self.timers.clear();
        self.holds.clear();
        self.dirty.clear();
        self.recompute_output_watermark();
        out
    }
}
