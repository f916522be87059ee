//! Grouping by key and window with triggers: the state behind GroupByKey and
//! Combine.perKey (the role of Beam's ReduceFnRunner).
//!
//! A [`WindowedTable`] keeps, per (key, window): the buffer (an accumulator),
//! whether new data arrived since the last pane, the watermark holds, the
//! trigger state and the last pane. Runners drive it with three calls: `add`
//! (a bundle of input), `advance_input_watermark` and `advance_processing_time`;
//! it appends fired panes to its output and reports its output watermark.
//!
//! The rules, as in Beam:
//! - An element is dropped (counted in `dropped_due_to_lateness`) when its
//!   window's garbage-collection time (max timestamp + allowed lateness) is
//!   before the input watermark; data for a window whose trigger finished is
//!   dropped and counted in `dropped_due_to_closed_window`.
//! - Merging window functions merge a key's intersecting windows on arrival,
//!   merging buffers, holds and trigger states; windows that are closed do not merge.
//! - Triggers are evaluated after each bundle (for triggers that react to
//!   elements, and for late windows), when the watermark passes the end of a
//!   window, and when processing time reaches a trigger's deadline.
//! - Watermark holds (Beam Java's WatermarkHold): each element holds the output
//!   watermark at its output time, unless that is behind the output watermark
//!   or its window is past its end; such data holds it at the window's
//!   garbage-collection time instead. A pane releases the holds; after a
//!   non-final pane only a garbage-collection hold remains, and only where an
//!   empty final pane will be emitted. Merged windows combine their element
//!   holds with the timestamp combiner (at the merged window's end for
//!   end-of-window) and take a garbage-collection hold. A pane's timestamp is
//!   its element hold, or the end of the window.
//! - A pane is emitted if it has new data, or it is an empty on-time pane and
//!   `OnTimeBehavior::FireAlways`, or an empty final pane and
//!   `ClosingBehavior::FireAlways`. Timing is EARLY while the input watermark is
//!   before the window's end, ON_TIME for the first pane after it (unless the
//!   output watermark passed the window already), LATE afterwards.
//! - When the watermark passes the garbage-collection time, a final pane is
//!   emitted (by the rules above) and the window's state is dropped.

use crate::batch::Batch;
use crate::coder;
use crate::error::{BeamError, Result};
use crate::kernel::{GroupingEnv, GroupingTable};
use crate::runner_support::aggregation::{Aggregation, TableKernel};
use crate::runner_support::time_index::{Holds, TimeIndex};
use crate::runner_support::trigger_state::{self as ts, TriggerContext};
use crate::runner_support::window_state::{ColdState, WindowState};
use crate::time::Timestamp;
use crate::trigger::{AccumulationMode, ClosingBehavior, OnTimeBehavior};
use crate::user_code;
use crate::window::{IntervalWindow, PaneInfo, PaneTiming, Window, WindowedValue};
use crate::windowfn::{TimestampCombiner, WindowingStrategy};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

mod evict;
mod merging;
mod snapshot;
mod time;
mod window_map;

pub(crate) use evict::evictable;
use window_map::WindowMap;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// What one input contributes to a window: a value, or a partial accumulator
/// pre-combined on a worker (with its combined output time as timestamp).
enum Contribution<V, Acc> {
    Value(V),
    Partial(Acc),
}

/// The grouping state of one partition of keys.
pub struct WindowedTable<A: Aggregation> {
    agg: Arc<A>,
    strategy: Arc<WindowingStrategy>,
    step: Arc<str>,
    reacts_to_elements: bool,
    uses_processing_time: bool,
    /// Whether every window's first element asks for the end-of-window
    /// evaluation (else windows record it, see `ColdState::end_of_window_timer`).
    end_of_window_always: bool,
    /// Whether the trigger is told of elements.
    tracks_elements: bool,
    /// Whether the window function merges windows.
    merging: bool,
    input_wm: Timestamp,
    output_wm: Timestamp,
    now: Timestamp,
    windows: WindowMap<A::K, WindowState<A::Acc>>,
    /// The cold state of a new window (windows share it until theirs changes).
    fresh: ColdState,
    /// Event-time timers: windows by the time the watermark must pass to
    /// concern them (their end, then their garbage-collection time). Entries
    /// of windows since merged away or collected are skipped when due.
    timers: BTreeMap<Timestamp, Vec<(A::K, Window)>>,
    /// The holds of all windows, as a multiset: the least is what holds the
    /// output watermark back.
    holds: Holds,
    /// With processing-time triggers: windows by their trigger's next deadline
    /// (each window's entry is where `indexed_deadline` says).
    deadlines: TimeIndex<(A::K, Window)>,
    /// Active windows per key, for merging window functions, ordered by
    /// start (and end).
    active_windows: FastMap<A::K, BTreeSet<IntervalWindow>>,
    /// Windows whose trigger finished, until their garbage-collection time.
    closed: FastMap<(A::K, Window), Timestamp>,
    dirty: Vec<(A::K, Window)>,
    output: Vec<WindowedValue<(A::K, A::Out)>>,
    dropped_late: i64,
    dropped_closed: i64,
}

impl<A: Aggregation> WindowedTable<A> {
    pub(crate) fn new(kernel: &TableKernel<A>) -> Self {
        WindowedTable {
            agg: kernel.agg.clone(),
            reacts_to_elements: kernel.strategy.trigger.reacts_to_elements(),
            uses_processing_time: kernel.strategy.trigger.uses_processing_time(),
            end_of_window_always: ts::watermark_sees_first_element(&kernel.strategy.trigger),
            merging: kernel.strategy.window_fn.is_merging(),
            tracks_elements: kernel.strategy.trigger.reacts_to_elements()
                || kernel.strategy.trigger.uses_processing_time()
                || (ts::has_watermark_part(&kernel.strategy.trigger)
                    && !ts::watermark_sees_first_element(&kernel.strategy.trigger)),
            strategy: kernel.strategy.clone(),
            step: kernel.step.clone(),
            input_wm: Timestamp::MIN,
            output_wm: Timestamp::MIN,
            now: Timestamp::MIN,
            windows: WindowMap::new(kernel.strategy.window_fn.is_merging()),
            fresh: ColdState::fresh(&kernel.strategy.trigger),
            timers: BTreeMap::new(),
            holds: Holds::default(),
            deadlines: TimeIndex::new(),
            active_windows: FastMap::default(),
            closed: FastMap::default(),
            dirty: Vec::new(),
            output: Vec::new(),
            dropped_late: 0,
            dropped_closed: 0,
        }
    }

    fn ctx(&self, window: &Window) -> TriggerContext {
        TriggerContext {
            window_max: window.max_timestamp(),
            input_watermark: self.input_wm,
            now: self.now,
            merging: self.merging,
        }
    }

    fn new_state(&self, window: &Window) -> WindowState<A::Acc> {
        WindowState::new(self.agg.create(), &self.fresh, self.input_wm, window)
    }

    /// The hold a window keeps after a (non-final) pane: its garbage-collection
    /// time, when the final pane is emitted even if empty and there is lateness
    /// (Beam Java's `addGarbageCollectionHold` for an empty pane; with no
    /// lateness the hold would be at the window's end, which the input
    /// watermark passes only when the window is collected, so it holds nothing).
    fn gc_hold_after_pane(&self, window: &Window) -> Option<Timestamp> {
        let gc = self.strategy.gc_time(window);
        let fires_empty = self.strategy.closing_behavior == ClosingBehavior::FireAlways;
        (fires_empty && gc > window.max_timestamp() && gc >= self.input_wm).then_some(gc)
    }

    /// The hold of data that gets no element hold: the window's
    /// garbage-collection time, unless the input watermark passed it (Beam
    /// Java's `addGarbageCollectionHold` for a non-empty pane).
    pub(super) fn gc_hold(&self, window: &Window) -> Option<Timestamp> {
        let gc = self.strategy.gc_time(window);
        (gc >= self.input_wm).then_some(gc)
    }

    fn add_one(
        &mut self,
        key: A::K,
        value: Contribution<A::V, A::Acc>,
        ts: Timestamp,
        window: Window,
        check_keys: bool,
    ) -> Result<()> {
        let strategy = &self.strategy;
        if strategy.gc_time(&window) < self.input_wm {
            self.dropped_late += 1;
            return Ok(());
        }
        let window = match (strategy.window_fn.is_merging(), window) {
            (true, Window::Interval(w)) => self.merge_into_active(&key, w),
            (_, w) => w,
        };
        if !self.closed.is_empty() && self.closed.contains_key(&(key.clone(), window)) {
            self.dropped_closed += 1;
            return Ok(());
        }
        let combiner = self.strategy.timestamp_combiner;
        let output_time = match combiner {
            TimestampCombiner::EndOfWindow => window.max_timestamp(),
            // An element's own timestamp, in every window it is in: Beam's
            // WindowFn.getOutputTime (which moved it in sliding windows) was
            // removed in 2021 (BEAM-12011, apache/beam#14268 and #14540).
            _ => ts,
        };
        // No element hold for data that is late for the output watermark, or
        // whose window is past its end (no end-of-window timer would release
        // it): a garbage-collection hold instead, as Beam Java's
        // WatermarkHold.addHolds ("too late to effect output watermark", "too
        // late for end-of-window timer").
        let late_for_output =
            output_time < self.output_wm || window.max_timestamp() < self.input_wm;
        let gc_hold = if late_for_output {
            self.gc_hold(&window)
        } else {
            None
        };
        let needs_eval = self.reacts_to_elements || window.max_timestamp() < self.input_wm;
        let mut incoming = Vec::new();
        if check_keys {
            coder::encode(&key, &mut incoming).map_err(|m| coder_error(&self.step, m))?;
        }
        let trigger = &self.strategy.trigger;
        let input_wm = self.input_wm;
        let tracks_elements = self.tracks_elements;
        let records_timer = !self.end_of_window_always;
        let merging = self.merging;
        let (state, dirty_key) = match self.windows.entry((key, window)) {
            Entry::Occupied(o) => {
                if check_keys
                    && coder::encode_to_vec(&o.key().0).map_err(|m| coder_error(&self.step, m))?
                        != incoming
                {
                    return Err(coder_error(
                        &self.step,
                        format!(
                            "key {} equals another key under Eq but encodes differently; key types must encode deterministically (no HashMap/HashSet in keys)",
                            coder::describe(&o.key().0)
                        ),
                    ));
                }
                let dirty_key = (needs_eval && !o.get().dirty).then(|| o.key().clone());
                (o.into_mut(), dirty_key)
            }
            Entry::Vacant(v) => {
                let dirty_key = needs_eval.then(|| v.key().clone());
                self.timers
                    .entry(window.max_timestamp())
                    .or_default()
                    .push(v.key().clone());
                (
                    v.insert(WindowState::new(
                        self.agg.create(),
                        &self.fresh,
                        input_wm,
                        &window,
                    )),
                    dirty_key,
                )
            }
        };
        if let Some(acc) = state.acc_mut() {
            match value {
                Contribution::Partial(partial) => self.agg.merge(acc, partial),
                Contribution::Value(value) if check_keys => {
                    // Merge a one-element accumulator, as a lifted combine would.
                    let mut one = self.agg.create();
                    self.agg.add(&mut one, value);
                    self.agg.merge(acc, one);
                }
                Contribution::Value(value) => self.agg.add(acc, value),
            }
        } else {
            let acc = match value {
                Contribution::Partial(partial) => partial,
                Contribution::Value(value) => {
                    let mut acc = self.agg.create();
                    self.agg.add(&mut acc, value);
                    acc
                }
            };
            state.set_acc(acc);
        }
        state.new_data = true;
        // Holds change rarely (the first element of a window, an earlier
        // element under an earliest combiner, late data): the hold multiset is
        // only touched then, and the cold state only read then.
        if late_for_output {
            if gc_hold.is_some() {
                let old = state.hold();
                let cold = state.cold_mut(&self.fresh);
                cold.extra_hold = match (cold.extra_hold, gc_hold) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                self.holds.replace(old, state.hold());
            }
        } else {
            let old_element = state.element_hold();
            state.set_element_hold(Some(match old_element {
                Some(h) => combiner.combine(h, output_time),
                None => output_time,
            }));
            if state.element_hold() != old_element {
                let extra = state.extra_hold();
                let least = |e: Option<Timestamp>| match (e, extra) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                self.holds
                    .replace(least(old_element), least(state.element_hold()));
            }
        }
        if tracks_elements {
            let ctx = TriggerContext {
                window_max: window.max_timestamp(),
                input_watermark: input_wm,
                now: self.now,
                merging,
            };
            let cold = state.cold_mut(&self.fresh);
            if ts::on_element(trigger, &mut cold.trigger, &ctx) && records_timer {
                cold.end_of_window_timer = true;
            }
        }
        if let Some(k) = dirty_key {
            state.dirty = true;
            self.dirty.push(k);
        }
        Ok(())
    }

    fn describe_pane(
        &self,
        window: &Window,
        previous: Option<PaneInfo>,
        is_final: bool,
    ) -> PaneInfo {
        let max = window.max_timestamp();
        let (is_first, index, mut nonspeculative) = match previous {
            None => (true, 0, 0),
            Some(p) => (false, p.index + 1, p.nonspeculative_index + 1),
        };
        let only_early_so_far = previous.is_none_or(|p| p.timing == PaneTiming::Early);
        let timing = if max < self.output_wm || !only_early_so_far {
            PaneTiming::Late
        } else if self.input_wm <= max {
            nonspeculative = -1;
            PaneTiming::Early
        } else {
            PaneTiming::OnTime
        };
        PaneInfo {
            is_first,
            is_last: is_final,
            timing,
            index,
            nonspeculative_index: nonspeculative,
        }
    }

    /// Fires a pane for (key, window). `gc`: the window's garbage-collection
    /// time passed, so this is the final pane whatever the trigger says.
    fn fire(&mut self, key: &A::K, window: Window, gc: bool) {
        if let Some(state) = self.windows.remove(&(key.clone(), window)) {
            self.fire_state(key, window, state, gc);
        }
    }

    /// [`fire`](Self::fire) for a window's state taken out of the table (put
    /// back unless the window is done).
    fn fire_state(&mut self, key: &A::K, window: Window, mut state: WindowState<A::Acc>, gc: bool) {
        self.holds.replace(state.hold(), None);
        if !gc {
            let ctx = self.ctx(&window);
            ts::on_fire(
                &self.strategy.trigger,
                &mut state.cold_mut(&self.fresh).trigger,
                &ctx,
            );
        }
        let cold = state.cold(&self.fresh);
        let finished = gc || cold.trigger.is_finished();
        let pane = self.describe_pane(&window, cold.last_pane, finished);
        let emit = state.new_data
            || (pane.timing == PaneTiming::OnTime
                && self.strategy.on_time_behavior == OnTimeBehavior::FireAlways)
            || (finished && self.strategy.closing_behavior == ClosingBehavior::FireAlways);
        let max = window.max_timestamp();
        let timestamp = match state.element_hold().or(state.extra_hold()) {
            Some(h) if h <= max => h,
            _ => max,
        };
        if emit {
            let accumulating =
                self.strategy.accumulation_mode == AccumulationMode::Accumulating && !finished;
            let acc = if accumulating {
                state.acc().cloned()
            } else {
                state.take_acc(self.agg.create())
            };
            let acc = acc.unwrap_or_else(|| self.agg.create());
            self.output.push(WindowedValue {
                value: (key.clone(), self.agg.extract(acc)),
                timestamp,
                window,
                pane,
            });
        }
        if finished {
            // The window's state goes.
            self.unindex_deadline(key, window, state.indexed_deadline());
            self.forget_active(key, &window);
            let gc_time = self.strategy.gc_time(&window);
            if !gc && gc_time >= self.input_wm {
                self.closed.insert((key.clone(), window), gc_time);
            }
            return;
        }
        if emit {
            state.cold_mut(&self.fresh).last_pane = Some(pane);
            state.new_data = false;
        }
        state.set_element_hold(None);
        // No end-of-window hold after a pane: only a garbage-collection hold,
        // and only where an empty final pane will be emitted (Beam Java's
        // WatermarkHold after apache/beam#3988, BEAM-3052: "Do not manage EOW
        // hold or timer, set GC hold and timer always").
        let extra_hold = self.gc_hold_after_pane(&window);
        if extra_hold.is_some() || state.extra_hold().is_some() {
            state.cold_mut(&self.fresh).extra_hold = extra_hold;
        }
        self.holds.replace(None, state.hold());
        self.windows.insert((key.clone(), window), state);
        self.index_deadline(key, window);
    }

    fn evaluate_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for (key, window) in dirty {
            let ctx = self.ctx(&window);
            let Some(state) = self.windows.get_mut(&(key.clone(), window)) else {
                continue;
            };
            state.dirty = false;
            if ts::should_fire(
                &self.strategy.trigger,
                &state.cold(&self.fresh).trigger,
                &ctx,
            ) {
                self.fire(&key, window, false);
            } else {
                self.index_deadline(&key, window);
            }
        }
    }

    fn flush_metrics(&mut self, env: &mut GroupingEnv<'_>) {
        if self.dropped_late > 0 {
            env.metrics
                .inc_counter("dropped_due_to_lateness", self.dropped_late);
            self.dropped_late = 0;
        }
        if self.dropped_closed > 0 {
            env.metrics
                .inc_counter("dropped_due_to_closed_window", self.dropped_closed);
            self.dropped_closed = 0;
        }
    }
}

fn coder_error(step: &str, message: String) -> BeamError {
    BeamError::Coder {
        step: step.to_string(),
        message,
    }
}

impl<A: Aggregation> GroupingTable for WindowedTable<A> {
    fn add(&mut self, batch: Batch, env: &mut GroupingEnv<'_>) -> Result<()> {
        let values = batch.downcast_for::<A::In>(&self.step)?;
        let (n, step, checks) = (values.len(), self.step.clone(), env.checks);
        let position = std::cell::Cell::new(0);
        let element = || Some(format!("element #{} of a bundle of {n}", position.get()));
        user_code::guard(&step, element, || {
            for (i, wv) in values.into_iter().enumerate() {
                position.set(i);
                let (k, v) = self.agg.split(wv.value);
                self.add_one(k, Contribution::Value(v), wv.timestamp, wv.window, checks)?;
            }
            if !self.dirty.is_empty() {
                self.evaluate_dirty();
            }
            Ok(())
        })?;
        self.flush_metrics(env);
        Ok(())
    }

    fn add_partials(&mut self, batch: Batch, env: &mut GroupingEnv<'_>) -> Result<()> {
        let partials = batch.downcast_for::<(A::K, A::Acc)>(&self.step)?;
        let step = self.step.clone();
        user_code::guard(
            &step,
            || Some("a pre-combined accumulator".into()),
            || {
                for wv in partials {
                    let (k, acc) = wv.value;
                    self.add_one(
                        k,
                        Contribution::Partial(acc),
                        wv.timestamp,
                        wv.window,
                        false,
                    )?;
                }
                if !self.dirty.is_empty() {
                    self.evaluate_dirty();
                }
                Ok(())
            },
        )?;
        self.flush_metrics(env);
        Ok(())
    }

    fn advance_input_watermark(&mut self, wm: Timestamp, env: &mut GroupingEnv<'_>) -> Result<()> {
        let step = self.step.clone();
        user_code::guard(
            &step,
            || None,
            || {
                self.advance_watermark(wm);
                Ok(())
            },
        )?;
        self.flush_metrics(env);
        Ok(())
    }

    fn advance_processing_time(&mut self, now: Timestamp, env: &mut GroupingEnv<'_>) -> Result<()> {
        let step = self.step.clone();
        user_code::guard(
            &step,
            || None,
            || {
                self.advance_time(now);
                Ok(())
            },
        )?;
        self.flush_metrics(env);
        Ok(())
    }

    fn output_watermark(&self) -> Timestamp {
        self.output_wm
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.next_deadline()
    }

    fn take_output(&mut self) -> Option<Batch> {
        Batch::take_from(&mut self.output)
    }

    fn snapshot(&self) -> Result<Vec<u8>> {
        WindowedTable::snapshot(self)
    }

    fn estimated_bytes(&self) -> usize {
        self.estimate_bytes()
    }

    fn evict(&mut self) -> Vec<(Timestamp, Batch)> {
        self.evict_all()
    }
}
