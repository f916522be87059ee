//! The two time-ordered structures groupings and stateful processors keep:
//! items by a time ([`TimeIndex`]: timers, deadlines, expirations) and a
//! multiset of watermark holds ([`Holds`]), so that a watermark or clock
//! advance visits only what is due.

use crate::time::Timestamp;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};
use std::hash::Hash;

/// The items due at one time.
pub(crate) type DueSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// Items by time; each (time, item) at most once.
pub(crate) struct TimeIndex<T> {
    by_time: BTreeMap<Timestamp, DueSet<T>>,
}

impl<T: Hash + Eq> TimeIndex<T> {
    pub(crate) fn new() -> Self {
        TimeIndex {
            by_time: BTreeMap::new(),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.by_time.clear();
    }

    pub(crate) fn insert(&mut self, at: Timestamp, item: T) {
        self.by_time.entry(at).or_default().insert(item);
    }

    pub(crate) fn remove(&mut self, at: Timestamp, item: &T) {
        if let Entry::Occupied(mut e) = self.by_time.entry(at) {
            e.get_mut().remove(item);
            if e.get().is_empty() {
                e.remove();
            }
        }
    }

    /// The earliest time with an item.
    pub(crate) fn first(&self) -> Option<Timestamp> {
        self.by_time.keys().next().copied()
    }

    /// Takes every item at the earliest time, if that time is `due`. Whole
    /// sets are taken: popping a hash set's elements one by one would rescan
    /// its emptied buckets each time.
    pub(crate) fn pop_due(
        &mut self,
        due: impl Fn(Timestamp) -> bool,
    ) -> Option<(Timestamp, DueSet<T>)> {
        let first = self.by_time.first_entry()?;
        let at = *first.key();
        due(at).then(|| (at, first.remove()))
    }
}

/// Watermark holds, as a multiset: the least is what holds an output
/// watermark back.
#[derive(Default)]
pub(crate) struct Holds(BTreeMap<Timestamp, usize>);

impl Holds {
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Moves one hold from `old` to `new` (either may be absent).
    pub(crate) fn replace(&mut self, old: Option<Timestamp>, new: Option<Timestamp>) {
        if old == new {
            return;
        }
        if let Some(o) = old {
            if let Entry::Occupied(mut e) = self.0.entry(o) {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
        if let Some(n) = new {
            *self.0.entry(n).or_default() += 1;
        }
    }

    pub(crate) fn least(&self) -> Option<Timestamp> {
        self.0.keys().next().copied()
    }
}
