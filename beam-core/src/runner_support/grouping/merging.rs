//! Merging windows (sessions and user-defined merging window functions): a
//! key's intersecting windows merge on arrival, with their buffers, holds and
//! trigger states.

use super::WindowedTable;
use crate::runner_support::aggregation::Aggregation;
use crate::runner_support::trigger_state::{self as ts, TriggerState};
use crate::runner_support::window_state::WindowState;
use crate::window::{IntervalWindow, Window};
use crate::windowfn::TimestampCombiner;
use std::collections::BTreeSet;

impl<A: Aggregation> WindowedTable<A> {
    /// Adds `window` to the key's active windows and merges them as the window
    /// function says; returns the window the element now belongs to.
    pub(super) fn merge_into_active(&mut self, key: &A::K, window: IntervalWindow) -> Window {
        let active = self.active_windows.entry(key.clone()).or_default();
        let groups = if self.strategy.window_fn.merges_intersecting() {
            merge_intersecting(active, window).into_iter().collect()
        } else {
            active.insert(window);
            let all: Vec<IntervalWindow> = active.iter().copied().collect();
            let groups = self.strategy.window_fn.merge_groups(&all);
            for (members, result) in &groups {
                for m in members {
                    active.remove(m);
                }
                active.insert(*result);
            }
            groups
        };
        let mut target = Window::Interval(window);
        for (members, result) in groups {
            let merged_w = Window::Interval(result);
            if members.contains(&window) {
                target = merged_w;
            }
            let states: Vec<(IntervalWindow, WindowState<A::Acc>)> = members
                .iter()
                .filter_map(|w| {
                    self.windows
                        .remove(&(key.clone(), Window::Interval(*w)))
                        .map(|s| (*w, s))
                })
                .collect();
            for (w, st) in &states {
                self.holds.replace(st.hold(), None);
                let member = Window::Interval(*w);
                self.unindex_deadline(key, member, st.indexed_deadline());
            }
            let merged = self.merge_states(states, result);
            self.holds.replace(None, merged.hold());
            self.timers
                .entry(merged_w.max_timestamp())
                .or_default()
                .push((key.clone(), merged_w));
            self.windows.insert((key.clone(), merged_w), merged);
            self.index_deadline(key, merged_w);
        }
        target
    }

    /// Removes a closed or expired window from its key's active windows.
    pub(super) fn forget_active(&mut self, key: &A::K, window: &Window) {
        if let (Some(active), Window::Interval(w)) = (self.active_windows.get_mut(key), window) {
            active.remove(w);
            if active.is_empty() {
                self.active_windows.remove(key);
            }
        }
    }

    /// Merges the states of windows merging into `result`.
    pub(super) fn merge_states(
        &self,
        mut states: Vec<(IntervalWindow, WindowState<A::Acc>)>,
        merged: IntervalWindow,
    ) -> WindowState<A::Acc> {
        let merged_w = Window::Interval(merged);
        // The result keeps its own pane history only if it is one of the merged windows.
        let base = states.iter().position(|(w, _)| *w == merged);
        let mut result = match base {
            Some(i) => states.swap_remove(i).1,
            None => self.new_state(&merged_w),
        };
        let combiner = self.strategy.timestamp_combiner;
        let mut cold = result.take_cold(&self.fresh);
        // The trigger states of the merging windows (those with state), the
        // merged window's own first if it is one of them.
        let own = std::mem::replace(&mut cold.trigger, TriggerState::new(&self.strategy.trigger));
        let mut trigger_states = Vec::with_capacity(states.len() + 1);
        if base.is_some() {
            trigger_states.push(own);
        } else {
            // A new window has no timer of its own yet.
            cold.end_of_window_timer = false;
        }
        for (_, mut s) in states {
            if let Some(acc) = s.take_acc(self.agg.create()) {
                match result.acc_mut() {
                    Some(r) => self.agg.merge(r, acc),
                    None => result.set_acc(acc),
                }
            }
            result.new_data |= s.new_data;
            result.set_element_hold(match (result.element_hold(), s.element_hold()) {
                (Some(a), Some(b)) => Some(combiner.combine(a, b)),
                (a, b) => a.or(b),
            });
            trigger_states.push(s.take_cold(&self.fresh).trigger);
        }
        // As Beam Java's WatermarkHold.onMerge: under end-of-window the merged
        // window holds at its own end (if that is not already too late), and
        // the extra holds give way to the merged window's garbage-collection
        // hold.
        if combiner == TimestampCombiner::EndOfWindow {
            let max = merged.max_timestamp();
            let too_late = max < self.output_wm || max < self.input_wm;
            result.set_element_hold((!too_late).then_some(max));
        }
        cold.extra_hold = self.gc_hold(&merged_w);
        let ctx = self.ctx(&merged_w);
        let into = base.map(|_| 0);
        cold.trigger = ts::merge(&self.strategy.trigger, trigger_states, into, &ctx);
        cold.end_of_window_done = merged.max_timestamp() < self.input_wm;
        // The deadline index lists the merged window afresh.
        cold.indexed_deadline = None;
        result.dirty = false;
        result.with_cold(cold, &self.fresh)
    }
}

/// Adds `window` to `active`, a key's pairwise disjoint windows, merging it
/// with the ones it intersects into the window spanning them all; returns
/// that merge (its members, with `window`, and the result), if there is
/// one. Only the windows that intersect `window` are looked at: since the
/// windows are disjoint, those starting before it end in start order, so
/// only the last of them can reach into it.
fn merge_intersecting(
    active: &mut BTreeSet<IntervalWindow>,
    window: IntervalWindow,
) -> Option<(Vec<IntervalWindow>, IntervalWindow)> {
    let from = IntervalWindow::new(window.start, crate::time::Timestamp::MIN);
    let to = IntervalWindow::new(window.end, crate::time::Timestamp::MIN);
    let mut members: Vec<IntervalWindow> = active
        .range(..from)
        .next_back()
        .filter(|w| w.intersects(&window))
        .copied()
        .into_iter()
        .collect();
    members.extend(active.range(from..to).filter(|w| w.intersects(&window)));
    if members.is_empty() {
        active.insert(window);
        return None;
    }
    if members == [window] {
        return None;
    }
    if !members.contains(&window) {
        members.push(window);
    }
    let result = members
        .iter()
        .skip(1)
        .fold(members[0], |span, w| span.span(w));
    for m in &members {
        active.remove(m);
    }
    active.insert(result);
    Some((members, result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use crate::windowfn::WindowFn;

    fn w(start: i64, end: i64) -> IntervalWindow {
        IntervalWindow::new(Timestamp::from_micros(start), Timestamp::from_micros(end))
    }

    /// The merges of the general path (all windows at once), as the index
    /// must give them.
    fn merged_all_at_once(windows: &[IntervalWindow]) -> BTreeSet<IntervalWindow> {
        let (_, merged) = WindowFn::merge_windows(windows);
        merged.into_iter().collect()
    }

    #[test]
    fn the_index_merges_as_merging_all_windows_at_once() {
        // A deterministic walk over overlapping, touching, contained and
        // disjoint windows.
        let mut seed: u64 = 7;
        let mut active = BTreeSet::new();
        let mut all = Vec::new();
        for _ in 0..2_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let start = ((seed >> 33) % 10_000) as i64;
            let len = 1 + ((seed >> 20) % 40) as i64;
            let window = w(start, start + len);
            all.push(window);
            let before: BTreeSet<IntervalWindow> = active.clone();
            match merge_intersecting(&mut active, window) {
                None => assert!(active.contains(&window)),
                Some((members, result)) => {
                    assert!(members.contains(&window) && members.len() > 1);
                    assert!(members.iter().all(|m| m == &window || before.contains(m)));
                    assert!(members
                        .iter()
                        .all(|m| result.start <= m.start && m.end <= result.end));
                }
            }
            assert_eq!(active, merged_all_at_once(&all));
        }
    }

    #[test]
    fn touching_windows_do_not_merge_and_a_contained_one_merges_into_its_container() {
        let mut active = BTreeSet::new();
        assert!(merge_intersecting(&mut active, w(0, 10)).is_none());
        assert!(merge_intersecting(&mut active, w(10, 20)).is_none());
        assert_eq!(active.len(), 2);
        let (members, result) = merge_intersecting(&mut active, w(2, 5)).unwrap();
        assert_eq!(result, w(0, 10));
        assert_eq!(members.len(), 2);
        assert!(merge_intersecting(&mut active, w(0, 10)).is_none());
        let (members, result) = merge_intersecting(&mut active, w(5, 15)).unwrap();
        assert_eq!(result, w(0, 20));
        assert_eq!(members.len(), 3);
        assert_eq!(active.into_iter().collect::<Vec<_>>(), [w(0, 20)]);
    }
}
