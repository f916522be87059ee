//! The typed handles a [`StatefulDoFn`](super::StatefulDoFn) reads and writes
//! its state through, each borrowing one cell of its key and window.

use crate::coder::{Element, Key};
use crate::combine::CombineFn;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// A single value of state.
pub struct ValueState<'s, T>(pub(super) &'s mut Option<T>);

impl<T: Element> ValueState<'_, T> {
    /// The value, if written.
    pub fn read(&self) -> Option<T> {
        self.0.clone()
    }
    /// Replaces the value.
    pub fn write(&mut self, v: T) {
        *self.0 = Some(v);
    }
    /// Removes the value.
    pub fn clear(&mut self) {
        *self.0 = None;
    }
}

/// An unordered bag of values.
pub struct BagState<'s, T>(pub(super) &'s mut Vec<T>);

impl<T: Element> BagState<'_, T> {
    /// Adds a value.
    pub fn add(&mut self, v: T) {
        self.0.push(v);
    }
    /// A snapshot of the values (later additions are not visible in it).
    pub fn read(&self) -> Vec<T> {
        self.0.clone()
    }
    /// Whether the bag is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Removes every value.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// A value combined as inputs are added.
pub struct CombiningState<'s, F: CombineFn> {
    pub(super) acc: &'s mut Option<F::Accum>,
    pub(super) f: F,
}

impl<F: CombineFn> CombiningState<'_, F> {
    /// Adds an input.
    pub fn add(&mut self, input: F::Input) {
        let acc = self.acc.get_or_insert_with(|| self.f.create_accumulator());
        self.f.add_input(acc, input);
    }
    /// The combined output so far.
    pub fn read(&self) -> F::Output {
        self.f.extract_output(
            self.acc
                .clone()
                .unwrap_or_else(|| self.f.create_accumulator()),
        )
    }
    /// Starts over.
    pub fn clear(&mut self) {
        *self.acc = None;
    }
}

/// A map of state.
pub struct MapState<'s, K, V>(pub(super) &'s mut BTreeMap<K, V>);

impl<K: Key + Ord, V: Element> MapState<'_, K, V> {
    /// Sets `k` to `v`.
    pub fn put(&mut self, k: K, v: V) {
        self.0.insert(k, v);
    }
    /// The value of `k`.
    pub fn get(&self, k: &K) -> Option<V> {
        self.0.get(k).cloned()
    }
    /// Removes `k`.
    pub fn remove(&mut self, k: &K) {
        self.0.remove(k);
    }
    /// A snapshot of the entries, in key order.
    pub fn entries(&self) -> Vec<(K, V)> {
        self.0.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
    /// Removes every entry.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// A set of state.
pub struct SetState<'s, T>(pub(super) &'s mut std::collections::BTreeSet<T>);

impl<T: Key + Ord> SetState<'_, T> {
    /// Adds `v`; returns whether it was new.
    pub fn add(&mut self, v: T) -> bool {
        self.0.insert(v)
    }
    /// Whether `v` is in the set.
    pub fn contains(&self, v: &T) -> bool {
        self.0.contains(v)
    }
    /// Removes `v`.
    pub fn remove(&mut self, v: &T) {
        self.0.remove(v);
    }
    /// A snapshot of the members, in order.
    pub fn read(&self) -> Vec<T> {
        self.0.iter().cloned().collect()
    }
    /// Removes every member.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// Values sorted by timestamp.
pub struct OrderedListState<'s, T>(pub(super) &'s mut BTreeMap<Timestamp, Vec<T>>);

impl<T: Element> OrderedListState<'_, T> {
    /// Adds `v` at `t`.
    pub fn add(&mut self, t: Timestamp, v: T) {
        self.0.entry(t).or_default().push(v);
    }
    /// Every value, by timestamp.
    pub fn read(&self) -> Vec<(Timestamp, T)> {
        self.read_range(Timestamp::MIN, Timestamp::MAX)
    }
    /// The values with timestamps in `[from, to)`, by timestamp.
    pub fn read_range(&self, from: Timestamp, to: Timestamp) -> Vec<(Timestamp, T)> {
        if from >= to {
            return Vec::new();
        }
        self.0
            .range(from..to)
            .flat_map(|(t, vs)| vs.iter().map(move |v| (*t, v.clone())))
            .collect()
    }
    /// Removes the values with timestamps in `[from, to)`.
    pub fn clear_range(&mut self, from: Timestamp, to: Timestamp) {
        if from >= to {
            return;
        }
        let keys: Vec<Timestamp> = self.0.range(from..to).map(|(t, _)| *t).collect();
        for k in keys {
            self.0.remove(&k);
        }
    }
    /// Removes every value.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}
