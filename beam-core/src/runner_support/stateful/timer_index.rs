//! The indexes a stateful processor keeps beside its per-key state, so that a
//! watermark or clock advance visits only what is due: pending timers by domain
//! and time, the multiset of their output timestamps (the watermark holds), and
//! the key-windows with state by expiration time.

use crate::coder::Key;
use crate::state::{TimeDomain, TimerChange, TimerSpec};
use crate::time::Timestamp;
use crate::window::Window;
use std::collections::{BTreeMap, HashSet};

pub(super) type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// The timers due at one time: key, window and timer id.
pub(super) type DueTimers<K> = FastSet<(K, Window, String)>;

pub(super) struct TimerIndex<K: Key> {
    /// Event-time timers (0) and processing-time timers (1) by firing time.
    timers: [BTreeMap<Timestamp, DueTimers<K>>; 2],
    /// Output timestamps of all pending timers, as a multiset.
    holds: BTreeMap<Timestamp, usize>,
    /// Key-windows with state, by garbage-collection time.
    expiry: BTreeMap<Timestamp, FastSet<(K, Window)>>,
}

fn slot(domain: TimeDomain) -> usize {
    match domain {
        TimeDomain::EventTime => 0,
        TimeDomain::ProcessingTime => 1,
    }
}

impl<K: Key> TimerIndex<K> {
    pub(super) fn new() -> Self {
        TimerIndex {
            timers: [BTreeMap::new(), BTreeMap::new()],
            holds: BTreeMap::new(),
            expiry: BTreeMap::new(),
        }
    }

    pub(super) fn clear(&mut self) {
        *self = TimerIndex::new();
    }

    pub(super) fn add_timer(&mut self, key: &K, window: Window, id: String, spec: TimerSpec) {
        self.timers[slot(spec.domain)]
            .entry(spec.at)
            .or_default()
            .insert((key.clone(), window, id));
        *self.holds.entry(spec.output).or_default() += 1;
    }

    pub(super) fn remove_timer(&mut self, key: &K, window: Window, id: &str, spec: TimerSpec) {
        let by_time = &mut self.timers[slot(spec.domain)];
        if let Some(set) = by_time.get_mut(&spec.at) {
            set.remove(&(key.clone(), window, id.to_string()));
            if set.is_empty() {
                by_time.remove(&spec.at);
            }
        }
        self.release_hold(spec.output);
    }

    /// Removes one pending timer's hold (the timer itself left the index when
    /// it was popped).
    pub(super) fn release_hold(&mut self, output: Timestamp) {
        if let std::collections::btree_map::Entry::Occupied(mut e) = self.holds.entry(output) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }

    /// Follows a timer set, reset or cleared by user code.
    pub(super) fn apply(&mut self, key: &K, window: Window, change: TimerChange) {
        if let Some(old) = change.old {
            self.remove_timer(key, window, &change.id, old);
        }
        if let Some(new) = change.new {
            self.add_timer(key, window, change.id, new);
        }
    }

    /// Takes every timer of `domain` at the earliest time, if that time is
    /// `due`. Whole sets are taken: popping a hash set's elements one by one
    /// would rescan its emptied buckets each time.
    pub(super) fn pop_due(
        &mut self,
        domain: TimeDomain,
        due: impl Fn(Timestamp) -> bool,
    ) -> Option<(Timestamp, DueTimers<K>)> {
        let first = self.timers[slot(domain)].first_entry()?;
        let at = *first.key();
        due(at).then(|| (at, first.remove()))
    }

    /// The earliest pending timer of `domain`.
    pub(super) fn next(&self, domain: TimeDomain) -> Option<Timestamp> {
        self.timers[slot(domain)].keys().next().copied()
    }

    /// The least output timestamp of any pending timer.
    pub(super) fn least_hold(&self) -> Option<Timestamp> {
        self.holds.keys().next().copied()
    }

    pub(super) fn add_state(&mut self, key: &K, window: Window, gc: Timestamp) {
        self.expiry
            .entry(gc)
            .or_default()
            .insert((key.clone(), window));
    }

    pub(super) fn remove_state(&mut self, key: &K, window: Window, gc: Timestamp) {
        if let Some(set) = self.expiry.get_mut(&gc) {
            set.remove(&(key.clone(), window));
            if set.is_empty() {
                self.expiry.remove(&gc);
            }
        }
    }

    /// Takes every key-window with state at the earliest garbage-collection
    /// time, if that is before `wm`.
    pub(super) fn pop_expired(&mut self, wm: Timestamp) -> Option<FastSet<(K, Window)>> {
        let first = self.expiry.first_entry()?;
        (*first.key() < wm).then(|| first.remove())
    }
}
