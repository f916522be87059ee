//! The indexes a stateful processor keeps beside its per-key state, so that a
//! watermark or clock advance visits only what is due: pending timers by domain
//! and time, the multiset of their output timestamps (the watermark holds), and
//! the key-windows with state by expiration time.

use crate::coder::Key;
use crate::runner_support::time_index::{DueSet, Holds, TimeIndex};
use crate::state::{intern, StateId, TimeDomain, TimerChange, TimerSpec};
use crate::time::Timestamp;
use crate::window::Window;

/// A timer in the index: its key, window and id.
type TimerRef<K> = (K, Window, StateId);

pub(super) struct TimerIndex<K: Key> {
    /// Event-time timers (0) and processing-time timers (1): key, window, id.
    timers: [TimeIndex<TimerRef<K>>; 2],
    /// Output timestamps of all pending timers.
    holds: Holds,
    /// Key-windows with state, by garbage-collection time.
    expiry: TimeIndex<(K, Window)>,
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
            timers: [TimeIndex::new(), TimeIndex::new()],
            holds: Holds::default(),
            expiry: TimeIndex::new(),
        }
    }

    pub(super) fn clear(&mut self) {
        self.timers.iter_mut().for_each(TimeIndex::clear);
        self.holds.clear();
        self.expiry.clear();
    }

    pub(super) fn add_timer(&mut self, key: &K, window: Window, id: StateId, spec: TimerSpec) {
        self.timers[slot(spec.domain)].insert(spec.at, (key.clone(), window, id));
        self.holds.replace(None, Some(spec.output));
    }

    pub(super) fn remove_timer(&mut self, key: &K, window: Window, id: &str, spec: TimerSpec) {
        let item = (key.clone(), window, intern(id));
        self.timers[slot(spec.domain)].remove(spec.at, &item);
        self.release_hold(spec.output);
    }

    /// Removes one pending timer's hold (the timer itself left the index when
    /// it was popped).
    pub(super) fn release_hold(&mut self, output: Timestamp) {
        self.holds.replace(Some(output), None);
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

    /// Takes every timer of `domain` at the earliest time, if that time is `due`.
    pub(super) fn pop_due(
        &mut self,
        domain: TimeDomain,
        due: impl Fn(Timestamp) -> bool,
    ) -> Option<(Timestamp, DueSet<TimerRef<K>>)> {
        self.timers[slot(domain)].pop_due(due)
    }

    /// The earliest pending timer of `domain`.
    pub(super) fn next(&self, domain: TimeDomain) -> Option<Timestamp> {
        self.timers[slot(domain)].first()
    }

    /// The least output timestamp of any pending timer.
    pub(super) fn least_hold(&self) -> Option<Timestamp> {
        self.holds.least()
    }

    pub(super) fn add_state(&mut self, key: &K, window: Window, gc: Timestamp) {
        self.expiry.insert(gc, (key.clone(), window));
    }

    pub(super) fn remove_state(&mut self, key: &K, window: Window, gc: Timestamp) {
        self.expiry.remove(gc, &(key.clone(), window));
    }

    /// Takes every key-window with state at the earliest garbage-collection
    /// time, if that is before `wm`.
    pub(super) fn pop_expired(&mut self, wm: Timestamp) -> Option<DueSet<(K, Window)>> {
        self.expiry.pop_due(|gc| gc < wm).map(|(_, set)| set)
    }
}
