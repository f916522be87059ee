//! What a grouping computes ([`Aggregation`]) and the kernel runners call to
//! build grouping tables and to partition input by key.

use crate::batch::Batch;
use crate::coder::{Element, Key};
use crate::error::Result;
use crate::kernel::{GroupingKernel, GroupingTable, PartialTable};
use crate::runner_support::grouping::WindowedTable;
use crate::time::Timestamp;
use crate::window::WindowedValue;
use crate::window::{PaneInfo, Window};
use crate::windowfn::TimestampCombiner;
use crate::windowfn::WindowingStrategy;
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
    /// Accumulator (cloned only to emit accumulating panes; shipped between
    /// workers when the grouping is lifted).
    type Acc: Element;
    /// Output value type.
    type Out: Element;
    /// Whether pre-combining before the shuffle makes the data smaller (true
    /// for combines; false for GroupByKey, whose accumulator is every value).
    const LIFTABLE: bool = true;
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
    /// The output of an accumulator.
    fn extract(&self, acc: Self::Acc) -> Self::Out;
}

/// The kernel of a grouping step: creates tables and partitions input by key.
pub(crate) struct TableKernel<A: Aggregation> {
    pub agg: Arc<A>,
    pub strategy: Arc<WindowingStrategy>,
    pub step: Arc<str>,
}

/// The partition of `key` among `parts`: the same in every process of a job.
/// Keys hash into this many key groups; part `i` of `n` holds a contiguous
/// range of them. A key's group never changes, so state checkpointed with
/// one number of parts is split or merged by group for another.
pub const KEY_GROUPS: u64 = 1 << 15;

/// The key groups of part `part` of `parts`.
fn key_groups_of(part: usize, parts: usize) -> std::ops::Range<u64> {
    let (part, parts) = (part as u64, parts.max(1) as u64);
    (part * KEY_GROUPS).div_ceil(parts)..((part + 1) * KEY_GROUPS).div_ceil(parts)
}

/// The parts of `old_parts` that hold keys of part `part` of `parts` (for a
/// restore on another number of workers: whose state a worker takes over).
pub fn parts_sharing_keys_with(part: usize, parts: usize, old_parts: usize) -> Vec<usize> {
    let mine = key_groups_of(part, parts);
    (0..old_parts)
        .filter(|&old| {
            let theirs = key_groups_of(old, old_parts);
            theirs.start < mine.end && mine.start < theirs.end
        })
        .collect()
}

fn key_hash<K: Hash>(key: &K) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5eed_beef).hash_one(key)
}

/// The part of `parts` that `key` goes to: its hash's residue (so that part
/// `i` of `n` splits into the parts `i + n * j` of `n * m`, as a spilling
/// shuffle splits a bucket further).
pub(crate) fn partition_of<K: Hash>(key: &K, parts: usize) -> usize {
    (key_hash(key) % parts.max(1) as u64) as usize
}

/// The part of `parts` that `key` goes to by key group: the part whose range
/// of key groups holds the key's.
pub(crate) fn key_group_part_of<K: Hash>(key: &K, parts: usize) -> usize {
    ((key_hash(key) % KEY_GROUPS) * parts.max(1) as u64 / KEY_GROUPS) as usize
}

pub(crate) fn split_by_key<T, K: Hash>(
    values: Vec<WindowedValue<T>>,
    parts: usize,
    route: fn(&K, usize) -> usize,
    key: impl Fn(&T) -> &K,
) -> Vec<Batch>
where
    T: Element,
{
    let parts = parts.max(1);
    // Two passes, so that every part is allocated at its exact size.
    let targets: Vec<u32> = values
        .iter()
        .map(|wv| route(key(&wv.value), parts) as u32)
        .collect();
    let mut sizes = vec![0usize; parts];
    for &t in &targets {
        sizes[t as usize] += 1;
    }
    let mut out: Vec<Vec<WindowedValue<T>>> = sizes.into_iter().map(Vec::with_capacity).collect();
    for (wv, t) in values.into_iter().zip(targets) {
        out[t as usize].push(wv);
    }
    out.into_iter().map(Batch::new).collect()
}

/// Pre-combined accumulators per (key, window), with their combined output
/// times (`H`: see [`OutputTime`]).
struct Partials<A: Aggregation, H: OutputTime> {
    agg: Arc<A>,
    strategy: Arc<WindowingStrategy>,
    step: Arc<str>,
    /// Keys in the global window (most batch pipelines): hashed and compared by key alone.
    global: HashMap<A::K, Slot<A, H>, foldhash::fast::RandomState>,
    /// Keys in other windows.
    windowed: HashMap<(A::K, Window), Slot<A, H>, foldhash::fast::RandomState>,
    /// Slots of a table larger than a batch, being taken (see `take`).
    taking_global: std::collections::hash_map::IntoIter<A::K, Slot<A, H>>,
    taking_windowed: std::collections::hash_map::IntoIter<(A::K, Window), Slot<A, H>>,
}

/// An accumulator and its combined output time.
type Slot<A, H> = (<A as Aggregation>::Acc, H);

/// The combined output time a pre-combine slot keeps: a timestamp, or
/// nothing when the output time is the end of the window (the default
/// timestamp combiner), which keeps the slots of a large table smaller.
trait OutputTime: Copy + Send + 'static {
    /// The output time of an element at `time`.
    fn of(time: Timestamp) -> Self;
    /// The two combined.
    fn combine(self, other: Self, combiner: TimestampCombiner) -> Self;
    /// The output time in `window`.
    fn time(self, window: &Window) -> Timestamp;
}

/// The output time of [`TimestampCombiner::EndOfWindow`]: the window's.
impl OutputTime for () {
    fn of(_: Timestamp) -> Self {}
    fn combine(self, _: Self, _: TimestampCombiner) -> Self {}
    fn time(self, window: &Window) -> Timestamp {
        window.max_timestamp()
    }
}

impl OutputTime for Timestamp {
    fn of(time: Timestamp) -> Self {
        time
    }
    fn combine(self, other: Self, combiner: TimestampCombiner) -> Self {
        combiner.combine(self, other)
    }
    fn time(self, _: &Window) -> Timestamp {
        self
    }
}

/// Merges `acc` (with output time `hold`) into the slot of `key`, or makes it the slot.
fn merge_into_slot<A: Aggregation, H: OutputTime, Q: Hash + Eq>(
    agg: &A,
    slots: &mut HashMap<Q, Slot<A, H>, foldhash::fast::RandomState>,
    key: Q,
    acc: A::Acc,
    hold: H,
    combiner: TimestampCombiner,
) {
    match slots.entry(key) {
        Entry::Occupied(mut o) => {
            let (slot, slot_hold) = o.get_mut();
            agg.merge(slot, acc);
            *slot_hold = slot_hold.combine(hold, combiner);
        }
        Entry::Vacant(e) => {
            e.insert((acc, hold));
        }
    }
}

/// Consecutive elements of one key and window, combined before they go into
/// the table: input is often clustered (one key, or windows in time order),
/// and then one table lookup serves the whole run.
struct Run<A: Aggregation, H> {
    key: A::K,
    window: Window,
    acc: A::Acc,
    hold: H,
}

impl<A: Aggregation, H: OutputTime> Partials<A, H> {
    fn flush(&mut self, run: Run<A, H>, combiner: TimestampCombiner) {
        let agg = self.agg.as_ref();
        if matches!(run.window, Window::Global) {
            merge_into_slot(agg, &mut self.global, run.key, run.acc, run.hold, combiner);
        } else {
            let key = (run.key, run.window);
            merge_into_slot(agg, &mut self.windowed, key, run.acc, run.hold, combiner);
        }
    }
}

impl<A: Aggregation, H: OutputTime> PartialTable for Partials<A, H> {
    fn add(&mut self, batch: Batch) -> Result<()> {
        let values = batch.downcast_for::<A::In>(&self.step)?;
        let combiner = self.strategy.timestamp_combiner;
        let (n, step) = (values.len(), self.step.clone());
        let position = std::cell::Cell::new(0);
        let element = || Some(format!("element #{} of a bundle of {n}", position.get()));
        crate::user_code::guard(&step, element, || {
            let mut run: Option<Run<A, H>> = None;
            for (i, wv) in values.into_iter().enumerate() {
                position.set(i);
                let (k, v) = self.agg.split(wv.value);
                // The element's own timestamp unless it is the window's
                // end (see the grouping table).
                let output_time = H::of(wv.timestamp);
                match &mut run {
                    Some(r) if r.key == k && r.window == wv.window => {
                        self.agg.add(&mut r.acc, v);
                        r.hold = r.hold.combine(output_time, combiner);
                    }
                    _ => {
                        let mut acc = self.agg.create();
                        self.agg.add(&mut acc, v);
                        let next = Run {
                            key: k,
                            window: wv.window,
                            acc,
                            hold: output_time,
                        };
                        if let Some(done) = run.replace(next) {
                            self.flush(done, combiner);
                        }
                    }
                }
            }
            if let Some(done) = run {
                self.flush(done, combiner);
            }
            Ok(())
        })
    }

    fn estimated_bytes(&self) -> usize {
        let inline = self.global.capacity() * (std::mem::size_of::<(A::K, Slot<A, H>)>() + 1)
            + self.windowed.capacity() * (std::mem::size_of::<((A::K, Window), Slot<A, H>)>() + 1);
        let sample = self
            .global
            .iter()
            .map(|(k, (acc, _))| (k, acc))
            .chain(self.windowed.iter().map(|((k, _), (acc, _))| (k, acc)))
            .take(16);
        let (mut sampled, mut bytes) = (0, 0);
        for (k, acc) in sample {
            sampled += 1;
            bytes += postcard::experimental::serialized_size(k).unwrap_or(0)
                + postcard::experimental::serialized_size(acc).unwrap_or(0);
        }
        let heap = bytes.checked_div(sampled).unwrap_or(0);
        inline + heap * (self.global.len() + self.windowed.len())
    }

    fn take(&mut self, max: usize) -> Batch {
        let len = self.global.len() + self.windowed.len();
        if self.taking_global.len() + self.taking_windowed.len() == 0 && len > max {
            // Larger than one batch: moved out whole and handed over a
            // batch at a time, in one pass over the tables.
            self.taking_global = std::mem::take(&mut self.global).into_iter();
            self.taking_windowed = std::mem::take(&mut self.windowed).into_iter();
        }
        let slot = |k, w: Window, (acc, hold): Slot<A, H>| {
            WindowedValue::new((k, acc), hold.time(&w), w, PaneInfo::NO_FIRING)
        };
        let left = self.taking_global.len() + self.taking_windowed.len();
        let mut partials: Vec<WindowedValue<(A::K, A::Acc)>> =
            Vec::with_capacity(max.min(if left > 0 { left } else { len }));
        let global = self.taking_global.by_ref().take(max);
        partials.extend(global.map(|(k, s)| slot(k, Window::Global, s)));
        let windowed = self.taking_windowed.by_ref().take(max - partials.len());
        partials.extend(windowed.map(|((k, w), s)| slot(k, w, s)));
        if left == 0 {
            partials.extend(self.global.drain().map(|(k, s)| slot(k, Window::Global, s)));
            partials.extend(self.windowed.drain().map(|((k, w), s)| slot(k, w, s)));
            // A table the size of a bundle keeps its room for the next
            // bundle; a larger one (a runner pre-combining more than a
            // bundle) gives it back.
            self.global.shrink_to(KEEP_CAPACITY);
            self.windowed.shrink_to(KEEP_CAPACITY);
        }
        Batch::new(partials)
    }
}

/// The most slots a partial table keeps allocated between bundles.
const KEEP_CAPACITY: usize = 16 * 1024;

impl<A: Aggregation> TableKernel<A> {
    fn partials<H: OutputTime>(&self) -> Box<dyn PartialTable> {
        Box::new(Partials::<A, H> {
            agg: self.agg.clone(),
            strategy: self.strategy.clone(),
            step: self.step.clone(),
            global: HashMap::default(),
            windowed: HashMap::default(),
            taking_global: HashMap::<_, _, foldhash::fast::RandomState>::default().into_iter(),
            taking_windowed: HashMap::<_, _, foldhash::fast::RandomState>::default().into_iter(),
        })
    }
}

impl<A: Aggregation> GroupingKernel for TableKernel<A> {
    fn new_table(&self) -> Box<dyn GroupingTable> {
        Box::new(WindowedTable::new(self))
    }
    fn restore_table(&self, snapshot: &[u8]) -> Result<Box<dyn GroupingTable>> {
        let mut table = WindowedTable::new(self);
        table.restore(snapshot)?;
        Ok(Box::new(table))
    }
    fn restore_table_part(
        &self,
        snapshots: &[&[u8]],
        part: usize,
        parts: usize,
    ) -> Result<Box<dyn GroupingTable>> {
        let mut table = WindowedTable::new(self);
        table.restore_keys(snapshots, |k| key_group_part_of(k, parts) == part)?;
        Ok(Box::new(table))
    }
    fn lifted(&self) -> Option<Box<dyn PartialTable>> {
        let s = &self.strategy;
        let liftable = A::LIFTABLE
            && !s.window_fn.is_merging()
            && !s.trigger.reacts_to_elements()
            && !s.trigger.uses_processing_time();
        liftable.then(|| match s.timestamp_combiner {
            TimestampCombiner::EndOfWindow => self.partials::<()>(),
            _ => self.partials::<Timestamp>(),
        })
    }
    fn partition_partials(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        match batch.downcast::<(A::K, A::Acc)>() {
            Ok(values) => split_by_key(values, parts, partition_of, |kv: &(A::K, A::Acc)| &kv.0),
            Err(b) => vec![b],
        }
    }
    fn partition_partials_by_key_group(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        match batch.downcast::<(A::K, A::Acc)>() {
            Ok(values) => split_by_key(values, parts, key_group_part_of, |kv: &(A::K, A::Acc)| {
                &kv.0
            }),
            Err(b) => vec![b],
        }
    }
    fn evictable(&self) -> bool {
        crate::runner_support::grouping::evictable(&self.strategy)
    }
    fn decode_partials(&self, bytes: &[u8]) -> std::result::Result<Batch, String> {
        crate::coder::decode::<Vec<WindowedValue<(A::K, A::Acc)>>>(bytes).map(Batch::new)
    }
    fn partition(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        match batch.downcast::<A::In>() {
            Ok(values) => split_by_key(values, parts, partition_of, |x: &A::In| self.agg.key(x)),
            Err(b) => vec![b],
        }
    }
    fn partition_by_key_group(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        match batch.downcast::<A::In>() {
            Ok(values) => split_by_key(values, parts, key_group_part_of, |x: &A::In| {
                self.agg.key(x)
            }),
            Err(b) => vec![b],
        }
    }
}

#[cfg(test)]
mod key_group_tests {
    use super::*;

    #[test]
    fn a_part_holds_exactly_its_key_groups_and_shares_them_with_the_old_parts_named() {
        for parts in [1usize, 2, 3, 5, 7] {
            for key in 0u64..3000 {
                let p = key_group_part_of(&key, parts);
                assert!(key_groups_of(p, parts).contains(&(key_hash(&key) % KEY_GROUPS)));
                for old in [1usize, 2, 3, 4] {
                    let before = key_group_part_of(&key, old);
                    assert!(parts_sharing_keys_with(p, parts, old).contains(&before));
                }
            }
        }
        assert_eq!(parts_sharing_keys_with(0, 3, 2), vec![0]);
        assert_eq!(parts_sharing_keys_with(1, 3, 2), vec![0, 1]);
        assert_eq!(parts_sharing_keys_with(0, 1, 3), vec![0, 1, 2]);
    }
}
