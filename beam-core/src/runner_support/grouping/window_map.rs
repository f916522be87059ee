//! A grouping table's per-(key, window) states, kept in one hash map per
//! window: a window's states lie together, each window's map grows (and is
//! rehashed) within the caches instead of one map for every window growing
//! across all memory, and the windows the watermark passed are taken out
//! whole. Merging windows (each key's own sessions, with few keys per window)
//! share a single map.

use super::FastMap;
use crate::window::Window;
use std::collections::hash_map::{Entry, HashMap};
use std::hash::Hash;

/// States by (key, window), grouped by window.
pub(crate) struct WindowMap<K, V> {
    /// Whether every window's states go in `one` (merging window functions).
    shared: bool,
    /// The global window's states (most batch pipelines), or every window's
    /// when windows merge.
    one: FastMap<(K, Window), V>,
    /// The other windows' states, by window.
    by_window: FastMap<Window, FastMap<(K, Window), V>>,
}

impl<K: Hash + Eq, V> WindowMap<K, V> {
    pub(crate) fn new(merging: bool) -> Self {
        WindowMap {
            shared: merging,
            one: FastMap::default(),
            by_window: FastMap::default(),
        }
    }

    /// Whether `window`'s states are in `one`.
    fn in_one(&self, window: &Window) -> bool {
        self.shared || matches!(window, Window::Global)
    }

    pub(crate) fn get(&self, key: &(K, Window)) -> Option<&V> {
        if self.in_one(&key.1) {
            self.one.get(key)
        } else {
            self.by_window.get(&key.1)?.get(key)
        }
    }

    pub(crate) fn get_mut(&mut self, key: &(K, Window)) -> Option<&mut V> {
        if self.in_one(&key.1) {
            self.one.get_mut(key)
        } else {
            self.by_window.get_mut(&key.1)?.get_mut(key)
        }
    }

    /// The entry of `key`; a vacant entry must be filled.
    pub(crate) fn entry(&mut self, key: (K, Window)) -> Entry<'_, (K, Window), V> {
        if self.in_one(&key.1) {
            self.one.entry(key)
        } else {
            self.by_window.entry(key.1).or_default().entry(key)
        }
    }

    pub(crate) fn insert(&mut self, key: (K, Window), value: V) {
        if self.in_one(&key.1) {
            self.one.insert(key, value);
        } else {
            self.by_window.entry(key.1).or_default().insert(key, value);
        }
    }

    pub(crate) fn remove(&mut self, key: &(K, Window)) -> Option<V> {
        if self.in_one(&key.1) {
            return self.one.remove(key);
        }
        let states = self.by_window.get_mut(&key.1)?;
        let removed = states.remove(key);
        if states.is_empty() {
            self.by_window.remove(&key.1);
        }
        removed
    }

    pub(crate) fn clear(&mut self) {
        self.one.clear();
        self.by_window.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.one.len() + self.by_window.values().map(HashMap::len).sum::<usize>()
    }

    /// The memory of the maps themselves (not what keys and values own on
    /// the heap), from their capacities: a hash table has about 8/7 of its
    /// capacity in buckets, each an entry and a control byte.
    pub(crate) fn table_bytes(&self) -> usize {
        fn map_bytes<K2, V2, S>(m: &HashMap<K2, V2, S>) -> usize {
            m.capacity() * 8 / 7 * (std::mem::size_of::<(K2, V2)>() + 1)
        }
        map_bytes(&self.one)
            + map_bytes(&self.by_window)
            + self.by_window.values().map(map_bytes).sum::<usize>()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&(K, Window), &V)> {
        self.one
            .iter()
            .chain(self.by_window.values().flat_map(|states| states.iter()))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &(K, Window)> {
        self.iter().map(|(k, _)| k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Takes out every state, a window's states together.
    pub(crate) fn take_all(&mut self) -> Vec<Vec<((K, Window), V)>> {
        let one: Vec<_> = std::mem::take(&mut self.one).into_iter().collect();
        let mut windows: Vec<Vec<_>> = std::mem::take(&mut self.by_window)
            .into_values()
            .map(|states| states.into_iter().collect())
            .collect();
        if !one.is_empty() {
            windows.push(one);
        }
        windows
    }

    /// Takes out the states of every window for which `done` holds.
    pub(crate) fn take_windows(&mut self, done: impl Fn(&Window) -> bool) -> Vec<((K, Window), V)> {
        let mut taken: Vec<_> = self.one.extract_if(|(_, w), _| done(w)).collect();
        taken.extend(
            self.by_window
                .extract_if(|w, _| done(w))
                .flat_map(|(_, states)| states),
        );
        taken
    }
}
