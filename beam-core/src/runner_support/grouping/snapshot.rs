//! Snapshots of a [`WindowedTable`]: every window's buffer, holds, trigger
//! state and pane history, the pending timers, the active (merging) and closed
//! windows, the watermarks and processing time, and panes fired but not yet
//! taken. Restoring a snapshot into a table of the same step gives a table
//! that behaves from then on exactly like the one that was snapshotted.
//!
//! The hold multiset and the processing-time deadline index are not stored:
//! they are derived from the windows on restore.

use super::WindowedTable;
use crate::error::Result;
use crate::runner_support::aggregation::Aggregation;
use crate::runner_support::snapshot;
use crate::runner_support::trigger_state::TriggerState;
use crate::runner_support::window_state::{ColdState, WindowState};
use crate::time::Timestamp;
use crate::window::{IntervalWindow, PaneInfo, Window, WindowedValue};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One window's state. Generic so that a snapshot is written from borrowed
/// fields and read into owned ones (both encode identically).
#[derive(Serialize, Deserialize)]
struct WindowImage<Acc, Trig> {
    acc: Option<Acc>,
    element_hold: Option<Timestamp>,
    extra_hold: Option<Timestamp>,
    new_data: bool,
    trigger: Trig,
    last_pane: Option<PaneInfo>,
    end_of_window_done: bool,
    end_of_window_timer: bool,
}

#[derive(Serialize, Deserialize)]
struct TableImage<Step, Win, Timers, Active, Closed, Out> {
    format: u32,
    step: Step,
    input_wm: Timestamp,
    output_wm: Timestamp,
    now: Timestamp,
    windows: Win,
    timers: Timers,
    active_windows: Active,
    closed: Closed,
    output: Out,
}

type OwnedImage<A> = TableImage<
    String,
    Vec<(
        <A as Aggregation>::K,
        Window,
        WindowImage<<A as Aggregation>::Acc, TriggerState>,
    )>,
    BTreeMap<Timestamp, Vec<(<A as Aggregation>::K, Window)>>,
    Vec<(<A as Aggregation>::K, Vec<IntervalWindow>)>,
    Vec<(<A as Aggregation>::K, Window, Timestamp)>,
    Vec<WindowedValue<(<A as Aggregation>::K, <A as Aggregation>::Out)>>,
>;

impl<A: Aggregation> WindowedTable<A> {
    /// Encodes the table's whole state. Taken between calls (after a bundle or
    /// a watermark advance), when no trigger evaluation is pending.
    pub fn snapshot(&self) -> Result<Vec<u8>> {
        debug_assert!(self.dirty.is_empty(), "snapshots are taken between calls");
        let windows: Vec<_> = self
            .windows
            .iter()
            .map(|((k, w), s)| {
                let cold = s.cold(&self.fresh);
                let image = WindowImage {
                    acc: s.acc(),
                    element_hold: s.element_hold(),
                    extra_hold: cold.extra_hold,
                    new_data: s.new_data,
                    trigger: &cold.trigger,
                    last_pane: cold.last_pane,
                    end_of_window_done: cold.end_of_window_done,
                    end_of_window_timer: cold.end_of_window_timer,
                };
                (k, w, image)
            })
            .collect();
        let active: Vec<_> = self.active_windows.iter().collect();
        let closed: Vec<_> = self.closed.iter().map(|((k, w), t)| (k, w, t)).collect();
        let image = TableImage {
            format: snapshot::FORMAT,
            step: &*self.step,
            input_wm: self.input_wm,
            output_wm: self.output_wm,
            now: self.now,
            windows,
            timers: &self.timers,
            active_windows: active,
            closed,
            output: &self.output,
        };
        snapshot::encode(&self.step, &image)
    }

    /// Replaces this (fresh) table's state with a snapshot of a table of the
    /// same step.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<()> {
        self.restore_keys(&[bytes], |_| true)
    }

    /// Replaces this (fresh) table's state with the keys that `keep` accepts
    /// of the snapshots of tables of the same step (each key in at most one of
    /// them): for a restore on another number of workers, where a table takes
    /// over the keys of several old ones. The watermarks restored are the
    /// least of the snapshots' (what fired before them is gone from every
    /// snapshot, so nothing fires twice); processing time is the latest.
    pub fn restore_keys(
        &mut self,
        snapshots: &[&[u8]],
        keep: impl Fn(&A::K) -> bool,
    ) -> Result<()> {
        let mut images = Vec::with_capacity(snapshots.len());
        for bytes in snapshots {
            images.push(snapshot::decode::<OwnedImage<A>>(&self.step, bytes)?);
        }
        (self.input_wm, self.output_wm, self.now) =
            snapshot::merged_times(images.iter().map(|i| (i.input_wm, i.output_wm, i.now)));
        self.windows.clear();
        self.holds.clear();
        self.timers.clear();
        self.active_windows.clear();
        self.closed.clear();
        self.output.clear();
        for image in images {
            for (k, w, s) in image.windows.into_iter().filter(|(k, ..)| keep(k)) {
                let mut state =
                    WindowState::new(self.agg.create(), &self.fresh, Timestamp::MIN, &w);
                if let Some(acc) = s.acc {
                    state.set_acc(acc);
                }
                state.set_element_hold(s.element_hold);
                state.new_data = s.new_data;
                let cold = ColdState {
                    extra_hold: s.extra_hold,
                    trigger: s.trigger,
                    last_pane: s.last_pane,
                    end_of_window_done: s.end_of_window_done,
                    end_of_window_timer: s.end_of_window_timer,
                    indexed_deadline: None,
                };
                let state = state.with_cold(cold, &self.fresh);
                self.holds.replace(None, state.hold());
                self.windows.insert((k, w), state);
            }
            for (at, due) in image.timers {
                let due: Vec<_> = due.into_iter().filter(|(k, _)| keep(k)).collect();
                if !due.is_empty() {
                    self.timers.entry(at).or_default().extend(due);
                }
            }
            self.active_windows.extend(
                image
                    .active_windows
                    .into_iter()
                    .filter(|(k, _)| keep(k))
                    .map(|(k, ws)| (k, ws.into_iter().collect())),
            );
            self.closed.extend(
                image
                    .closed
                    .into_iter()
                    .filter(|(k, ..)| keep(k))
                    .map(|(k, w, t)| ((k, w), t)),
            );
            self.output
                .extend(image.output.into_iter().filter(|wv| keep(&wv.value.0)));
        }
        self.deadlines.clear();
        let keys: Vec<(A::K, Window)> = self.windows.keys().cloned().collect();
        for (k, w) in keys {
            self.index_deadline(&k, w);
        }
        self.dirty.clear();
        Ok(())
    }
}
