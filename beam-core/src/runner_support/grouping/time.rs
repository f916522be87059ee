//! How time moves a [`WindowedTable`]: the input watermark fires end-of-window
//! and garbage-collection timers (windows indexed by the time that concerns
//! them), processing time fires triggers whose deadline passed (windows
//! indexed by their trigger's next deadline), and the output watermark follows
//! the least hold.

use super::WindowedTable;
use crate::runner_support::aggregation::Aggregation;
use crate::runner_support::trigger_state::{self as ts, TriggerContext};
use crate::runner_support::window_state::WindowState;
use crate::time::Timestamp;
use crate::window::Window;

impl<A: Aggregation> WindowedTable<A> {
    /// Moves (key, window)'s entry in the deadline index to its trigger's
    /// current next deadline (or removes it).
    pub(super) fn index_deadline(&mut self, key: &A::K, window: Window) {
        if !self.uses_processing_time {
            return;
        }
        let trigger = &self.strategy.trigger;
        let Some(state) = self.windows.get_mut(&(key.clone(), window)) else {
            return;
        };
        let deadline = ts::next_deadline(trigger, &state.cold(&self.fresh).trigger);
        let old = state.indexed_deadline();
        if old == deadline {
            return;
        }
        state.cold_mut(&self.fresh).indexed_deadline = deadline;
        self.unindex_deadline(key, window, old);
        if let Some(d) = deadline {
            self.deadlines.insert(d, (key.clone(), window));
        }
    }

    /// Removes (key, window)'s entry at `indexed` from the deadline index.
    pub(super) fn unindex_deadline(
        &mut self,
        key: &A::K,
        window: Window,
        indexed: Option<Timestamp>,
    ) {
        let Some(d) = indexed else {
            return;
        };
        self.deadlines.remove(d, &(key.clone(), window));
    }

    pub(super) fn recompute_output_watermark(&mut self) {
        let hold = self.holds.least();
        debug_assert_eq!(
            hold,
            self.windows.values().filter_map(WindowState::hold).min()
        );
        let new = hold.map_or(self.input_wm, |h| h.min(self.input_wm));
        // The output watermark never goes back.
        self.output_wm = self.output_wm.max(new);
    }

    /// Advances the input watermark to `wm`, firing end-of-window and
    /// garbage-collection timers in timestamp order.
    pub fn advance_watermark(&mut self, wm: Timestamp) {
        if wm <= self.input_wm {
            return;
        }
        self.input_wm = wm;
        // End-of-window timers fire the trigger; garbage-collection timers emit
        // the final pane. When the watermark passes both (no allowed lateness,
        // or a jump), only the final pane is emitted, on time if no pane was
        // yet: Beam Java's ReduceFnRunner.onTimers handles a window by its
        // state, not by which of its timers fired.
        // Only windows whose timers the watermark passed are visited.
        let later = self.timers.split_off(&wm);
        let due = std::mem::replace(&mut self.timers, later);
        // A window may be listed more than once (merging can list a window
        // again): its end-of-window timer runs once (the flag says it ran), and
        // after its garbage-collection timer the window is gone.
        let mut timers: Vec<(Timestamp, bool, A::K, Window)> = Vec::new();
        for (k, w) in due.into_values().flatten() {
            let Some(s) = self.windows.get(&(k.clone(), w)) else {
                continue;
            };
            let gc = self.strategy.gc_time(&w);
            let max = w.max_timestamp();
            // Only a window whose trigger asked for it is evaluated at its end
            // (Beam's watermark triggers set an end-of-window timer when they
            // see an element); the others wait for their garbage collection.
            let cold = s.cold(&self.fresh);
            let asked = self.end_of_window_always || cold.end_of_window_timer;
            if asked && !cold.end_of_window_done && max < wm && gc >= wm {
                timers.push((max, false, k.clone(), w));
            }
            if gc < wm {
                timers.push((gc, true, k, w));
            } else {
                self.timers.entry(gc).or_default().push((k, w));
            }
        }
        // When most of the table's windows are done (the end of bounded input,
        // or a watermark jump), one pass over the table takes them out, instead
        // of a lookup per window. Windows do not affect each other, so their
        // end-of-window timers can run first and the final panes after.
        let done = timers.iter().filter(|t| t.1).count();
        let sweep = done > 0 && done * 2 >= self.windows.len();
        if sweep {
            timers.retain(|t| !t.1);
        }
        timers.sort_by_key(|t| (t.0, t.1));
        for (_, is_gc, key, window) in timers {
            if is_gc {
                // The final pane; `fire` drops the window's state.
                self.fire(&key, window, true);
                continue;
            }
            let entry_key = (key, window);
            let Some(state) = self.windows.get_mut(&entry_key) else {
                continue;
            };
            let cold = state.cold_mut(&self.fresh);
            if cold.end_of_window_done {
                continue;
            }
            cold.end_of_window_done = true;
            let ctx = TriggerContext {
                window_max: window.max_timestamp(),
                input_watermark: wm,
                now: self.now,
                merging: self.merging,
            };
            if ts::should_fire(&self.strategy.trigger, &cold.trigger, &ctx) {
                let (key, window) = entry_key;
                self.fire(&key, window, false);
            }
        }
        if sweep {
            let strategy = self.strategy.clone();
            let done = self.windows.take_windows(|w| strategy.gc_time(w) < wm);
            for ((key, window), state) in done {
                self.fire_state(&key, window, state, true);
            }
        }
        self.closed.retain(|_, gc| *gc >= wm);
        self.recompute_output_watermark();
    }

    /// Advances processing time to `now`, firing triggers whose deadline passed.
    pub fn advance_time(&mut self, now: Timestamp) {
        if now <= self.now {
            return;
        }
        self.now = now;
        if !self.uses_processing_time {
            return;
        }
        // Every window whose deadline passed, in deadline order.
        let mut due: Vec<(A::K, Window)> = Vec::new();
        while let Some((_, windows)) = self.deadlines.pop_due(|d| d <= now) {
            due.extend(windows);
        }
        for (key, window) in &due {
            if let Some(s) = self.windows.get_mut(&(key.clone(), *window)) {
                s.clear_indexed_deadline();
            }
        }
        for (key, window) in due {
            let ctx = self.ctx(&window);
            let ready = self.windows.get(&(key.clone(), window)).is_some_and(|s| {
                ts::should_fire(&self.strategy.trigger, &s.cold(&self.fresh).trigger, &ctx)
            });
            if ready {
                self.fire(&key, window, false);
            } else {
                // Its deadline passed but the rest of the trigger waits: looked at again
                // on every later move of processing time, as before it was due.
                self.index_deadline(&key, window);
            }
        }
        self.recompute_output_watermark();
    }

    /// The earliest processing-time deadline of any trigger.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let trigger = &self.strategy.trigger;
        if !self.uses_processing_time {
            return None;
        }
        let indexed = self.deadlines.first();
        debug_assert_eq!(
            indexed,
            self.windows
                .values()
                .filter_map(|s| ts::next_deadline(trigger, &s.cold(&self.fresh).trigger))
                .min(),
            "the deadline index agrees with the windows"
        );
        indexed
    }
}
