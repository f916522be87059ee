//! Grouping by key and window: the state behind GroupByKey and Combine.perKey.
//!
//! [`WindowedTable`] keeps one accumulator per (key, window). For merging window
//! functions (sessions) it keeps one per (key, proto-window) and merges the
//! windows of each key that intersect when it fires, merging their
//! accumulators. Each slot also keeps the output timestamp its elements combine
//! to under the strategy's [`TimestampCombiner`](crate::TimestampCombiner) (after
//! the window function's output-time shift).

use crate::batch::Batch;
use crate::coder::{self, Element, Key};
use crate::error::{BeamError, Result};
use crate::kernel::{GroupingEnv, GroupingKernel, GroupingTable};
use crate::time::Timestamp;
use crate::window::{IntervalWindow, PaneInfo, Window, WindowedValue};
use crate::windowfn::{TimestampCombiner, WindowFn};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

/// What a grouping computes per key and window.
pub trait Aggregation: Send + Sync + 'static {
    /// Input element type: `(K, V)` for GroupByKey and Combine.perKey.
    type In: Element;
    /// Key type.
    type K: Key;
    /// Input value type.
    type V: Element;
    /// Accumulator.
    type Acc: Send;
    /// Output value type.
    type Out: Element;
    /// The key of an input element.
    fn key<'a>(&self, input: &'a Self::In) -> &'a Self::K;
    /// Splits an input element into its key and value.
    fn split(&self, input: Self::In) -> (Self::K, Self::V);
    /// An empty accumulator.
    fn create(&self) -> Self::Acc;
    /// Adds one value.
    fn add(&self, acc: &mut Self::Acc, value: Self::V);
    /// Merges `other` into `acc`.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// The output of a complete accumulator.
    fn extract(&self, acc: Self::Acc) -> Self::Out;
}

/// The proto-windows of one key under a merging window function, with their slots.
type Sessions<A> = Vec<(IntervalWindow, Slot<A>)>;

struct Slot<A> {
    acc: A,
    hold: Timestamp,
}

/// Accumulators per (key, window) for one partition of keys.
pub struct WindowedTable<A: Aggregation> {
    agg: Arc<A>,
    window_fn: WindowFn,
    combiner: TimestampCombiner,
    step: Arc<str>,
    slots: Slots<A>,
}

type Slots<A> = HashMap<
    (<A as Aggregation>::K, Window),
    Slot<<A as Aggregation>::Acc>,
    foldhash::fast::RandomState,
>;

impl<A: Aggregation> WindowedTable<A> {
    fn new(kernel: &TableKernel<A>) -> Self {
        WindowedTable {
            agg: kernel.agg.clone(),
            window_fn: kernel.window_fn.clone(),
            combiner: kernel.combiner,
            step: kernel.step.clone(),
            slots: Slots::<A>::default(),
        }
    }

    #[inline]
    fn add_one(&mut self, key: A::K, value: A::V, ts: Timestamp, window: Window) {
        let hold = self.window_fn.output_time(ts, &window);
        match self.slots.entry((key, window)) {
            Entry::Occupied(mut o) => {
                let slot = o.get_mut();
                self.agg.add(&mut slot.acc, value);
                slot.hold = self.combiner.combine(slot.hold, hold);
            }
            Entry::Vacant(v) => {
                let mut acc = self.agg.create();
                self.agg.add(&mut acc, value);
                v.insert(Slot { acc, hold });
            }
        }
    }

    /// Folds `other` into `self`, checking on request that keys equal under `Eq`
    /// also encode identically (what grouping across processes relies on).
    fn absorb(&mut self, other: WindowedTable<A>, check_keys: bool) -> Result<()> {
        let mut incoming = Vec::new();
        let mut stored = Vec::new();
        let step = self.step.clone();
        for ((key, window), slot) in other.slots {
            if check_keys {
                incoming.clear();
                coder::encode(&key, &mut incoming).map_err(|m| self.coder_error(m))?;
            }
            match self.slots.entry((key, window)) {
                Entry::Occupied(mut o) => {
                    if check_keys {
                        stored.clear();
                        coder::encode(&o.key().0, &mut stored)
                            .map_err(|m| coder_error(&step, m))?;
                        if incoming != stored {
                            return Err(coder_error(&step, format!(
                                "key {} equals another key under Eq but encodes differently; key types must encode deterministically (no HashMap/HashSet in keys)",
                                coder::describe(&o.key().0)
                            )));
                        }
                    }
                    let s = o.get_mut();
                    self.agg.merge(&mut s.acc, slot.acc);
                    s.hold = self.combiner.combine(s.hold, slot.hold);
                }
                Entry::Vacant(v) => {
                    v.insert(slot);
                }
            }
        }
        Ok(())
    }

    fn coder_error(&self, message: String) -> BeamError {
        coder_error(&self.step, message)
    }

    fn emit(
        &self,
        out: &mut Vec<WindowedValue<(A::K, A::Out)>>,
        key: A::K,
        window: Window,
        slot: Slot<A::Acc>,
    ) {
        out.push(WindowedValue {
            value: (key, self.agg.extract(slot.acc)),
            timestamp: self.combiner.finish(slot.hold, &window),
            window,
            pane: PaneInfo::ON_TIME_AND_ONLY_FIRING,
        });
    }

    /// Fires every window (the watermark reached +infinity) and returns the output.
    pub fn fire_all(mut self) -> Vec<WindowedValue<(A::K, A::Out)>> {
        let slots = std::mem::take(&mut self.slots);
        let mut out = Vec::with_capacity(slots.len());
        if !self.window_fn.is_merging() {
            for ((key, window), slot) in slots {
                self.emit(&mut out, key, window, slot);
            }
            return out;
        }
        let mut per_key: HashMap<A::K, Sessions<A::Acc>, foldhash::fast::RandomState> =
            HashMap::default();
        for ((key, window), slot) in slots {
            if let Window::Interval(w) = window {
                per_key.entry(key).or_default().push((w, slot));
            }
        }
        for (key, entries) in per_key {
            let windows: Vec<IntervalWindow> = entries.iter().map(|(w, _)| *w).collect();
            let (target, merged) = WindowFn::merge_windows(&windows);
            let mut merged_slots: Vec<Option<Slot<A::Acc>>> =
                (0..merged.len()).map(|_| None).collect();
            for ((_, slot), t) in entries.into_iter().zip(target) {
                match &mut merged_slots[t] {
                    Some(m) => {
                        self.agg.merge(&mut m.acc, slot.acc);
                        m.hold = self.combiner.combine(m.hold, slot.hold);
                    }
                    empty => *empty = Some(slot),
                }
            }
            for (w, slot) in merged.into_iter().zip(merged_slots) {
                if let Some(slot) = slot {
                    self.emit(&mut out, key.clone(), Window::Interval(w), slot);
                }
            }
        }
        out
    }
}

impl<A: Aggregation> GroupingTable for WindowedTable<A> {
    fn add(&mut self, batch: Batch, env: &mut GroupingEnv<'_>) -> Result<()> {
        let values = batch.downcast::<A::In>().map_err(|b| {
            BeamError::Runner(format!(
                "step '{}' got a batch of {}",
                self.step,
                b.type_name()
            ))
        })?;
        if env.checks {
            // Pre-combine the bundle on its own and merge it in, as a lifted combine
            // across workers would: exercises merging on every run.
            let mut partial = WindowedTable {
                agg: self.agg.clone(),
                window_fn: self.window_fn.clone(),
                combiner: self.combiner,
                step: self.step.clone(),
                slots: Slots::<A>::default(),
            };
            for wv in values {
                let (k, v) = self.agg.split(wv.value);
                partial.add_one(k, v, wv.timestamp, wv.window);
            }
            return self.absorb(partial, true);
        }
        for wv in values {
            let (k, v) = self.agg.split(wv.value);
            self.add_one(k, v, wv.timestamp, wv.window);
        }
        Ok(())
    }

    fn finish(self: Box<Self>, _env: &mut GroupingEnv<'_>) -> Result<Batch> {
        Ok(Batch::new(self.fire_all()))
    }
}

fn coder_error(step: &str, message: String) -> BeamError {
    BeamError::Coder {
        step: step.to_string(),
        message,
    }
}

/// The kernel of a grouping step: creates tables and partitions input by key.
pub(crate) struct TableKernel<A: Aggregation> {
    pub agg: Arc<A>,
    pub window_fn: WindowFn,
    pub combiner: TimestampCombiner,
    pub step: Arc<str>,
}

/// A fixed, process-independent hasher for partitioning keys.
pub(crate) fn partition_of<K: Hash>(key: &K, parts: usize) -> usize {
    let h = std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default()
        .hash_one(key);
    (h % parts as u64) as usize
}

impl<A: Aggregation> GroupingKernel for TableKernel<A> {
    fn new_table(&self) -> Box<dyn GroupingTable> {
        Box::new(WindowedTable::new(self))
    }
    fn partition(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        let parts = parts.max(1);
        match batch.downcast::<A::In>() {
            Ok(values) => {
                let mut out: Vec<Vec<WindowedValue<A::In>>> =
                    (0..parts).map(|_| Vec::new()).collect();
                for wv in values {
                    out[partition_of(self.agg.key(&wv.value), parts)].push(wv);
                }
                out.into_iter().map(Batch::new).collect()
            }
            Err(b) => vec![b],
        }
    }
}
