//! Merging windows (sessions and user-defined merging window functions): a
//! key's intersecting windows merge on arrival, with their buffers, holds and
//! trigger states.

use super::WindowedTable;
use crate::runner_support::aggregation::Aggregation;
use crate::runner_support::trigger_state::{self as ts, TriggerState};
use crate::runner_support::window_state::WindowState;
use crate::window::{IntervalWindow, Window};
use crate::windowfn::TimestampCombiner;

impl<A: Aggregation> WindowedTable<A> {
    /// Adds `window` to the key's active windows and merges them as the window
    /// function says; returns the window the element now belongs to.
    pub(super) fn merge_into_active(&mut self, key: &A::K, window: IntervalWindow) -> Window {
        let active = self.active_windows.entry(key.clone()).or_default();
        if !active.contains(&window) {
            active.push(window);
        }
        let groups = self.strategy.window_fn.merge_groups(active);
        let mut target = Window::Interval(window);
        for (members, result) in groups {
            let active = self.active_windows.get_mut(key).expect("present");
            active.retain(|w| !members.contains(w));
            active.push(result);
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
        if let Some(active) = self.active_windows.get_mut(key) {
            active.retain(|w| Window::Interval(*w) != *window);
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
