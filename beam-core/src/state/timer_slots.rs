//! [`TimerSlots`]: the timers of one key and window, by id.

use super::{StateId, TimerSpec};

/// The timers of one key and window, sorted by id. A DoFn sets one or a few
/// timers per key, so a sorted vector (one small allocation, binary search)
/// costs far less memory per key than a map, whose smallest node holds room
/// for eleven entries; the order by id keeps snapshots deterministic.
#[derive(Default)]
pub(crate) struct TimerSlots(Vec<(StateId, TimerSpec)>);

impl TimerSlots {
    fn find(&self, id: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (**k).cmp(id))
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub(crate) fn get(&self, id: &str) -> Option<&TimerSpec> {
        self.find(id).ok().map(|i| &self.0[i].1)
    }
    /// Sets the timer `id`, returning its previous setting.
    pub(crate) fn insert(&mut self, id: StateId, spec: TimerSpec) -> Option<TimerSpec> {
        match self.find(&id) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, spec)),
            Err(i) => {
                self.0.insert(i, (id, spec));
                self.0.shrink_to_fit();
                None
            }
        }
    }
    /// Clears the timer `id`, returning its setting.
    pub(crate) fn remove(&mut self, id: &str) -> Option<TimerSpec> {
        let i = self.find(id).ok()?;
        let (_, spec) = self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        Some(spec)
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&StateId, &TimerSpec)> {
        self.0.iter().map(|(id, spec)| (id, spec))
    }
    pub(crate) fn values(&self) -> impl Iterator<Item = &TimerSpec> {
        self.0.iter().map(|(_, spec)| spec)
    }
}

impl<'a> IntoIterator for &'a TimerSlots {
    type Item = (&'a StateId, &'a TimerSpec);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (StateId, TimerSpec)>,
        fn(&'a (StateId, TimerSpec)) -> (&'a StateId, &'a TimerSpec),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(id, spec)| (id, spec))
    }
}

impl FromIterator<(StateId, TimerSpec)> for TimerSlots {
    fn from_iter<I: IntoIterator<Item = (StateId, TimerSpec)>>(items: I) -> Self {
        let mut slots = TimerSlots::default();
        for (id, spec) in items {
            slots.insert(id, spec);
        }
        slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{intern, TimeDomain};
    use crate::time::Timestamp;

    fn at(t: i64) -> TimerSpec {
        TimerSpec {
            domain: TimeDomain::EventTime,
            at: Timestamp::from_micros(t),
            output: Timestamp::from_micros(t),
        }
    }

    #[test]
    fn keeps_one_setting_per_id_in_id_order() {
        let mut s = TimerSlots::default();
        assert_eq!(s.insert(intern("b"), at(1)), None);
        assert_eq!(s.insert(intern("a"), at(2)), None);
        assert_eq!(s.insert(intern("b"), at(3)), Some(at(1)));
        let ids: Vec<&str> = s.iter().map(|(id, _)| &**id).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(s.get("b"), Some(&at(3)));
        assert_eq!(s.remove("a"), Some(at(2)));
        assert_eq!(s.remove("a"), None);
        assert_eq!(s.remove("b"), Some(at(3)));
        assert!(s.is_empty());
    }
}
