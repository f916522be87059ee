//! Stateful processing: state and timers per key and window.
//!
//! A [`StatefulDoFn`] processes `(K, V)` elements. For each key and window it
//! has its own state cells, addressed by id: [`ValueState`], [`BagState`],
//! [`CombiningState`], [`MapState`], [`SetState`] and [`OrderedListState`]; and
//! its own timers, addressed by id (ids are dynamic, so a family of timers is a
//! set of ids): event-time timers fire when the input watermark passes their
//! time, processing-time timers when processing time reaches it. A timer may
//! carry an output timestamp, which holds the output watermark until it fires.
//! When the watermark passes the end of a window plus the allowed lateness,
//! [`StatefulDoFn::on_window_expiration`] runs and the window's state and timers
//! are dropped. Elements of windows that already expired are dropped.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, StatefulDoFn, StatefulParDo, StateContext, UserResult};
//! use beam_core::testing::{PAssert, TestPipeline};
//!
//! /// Numbers each key's elements 0, 1, 2, ...
//! #[derive(Clone)]
//! struct Index;
//! impl StatefulDoFn for Index {
//!     type Key = String;
//!     type Value = i32;
//!     type Out = (String, i64);
//!     fn process(&mut self, key: &String, _v: &i32, ctx: &mut StateContext<'_, String, (String, i64)>) -> UserResult {
//!         let mut next = ctx.value_state::<i64>("next")?;
//!         let n = next.read().unwrap_or(0);
//!         next.write(n + 1);
//!         ctx.output((key.clone(), n));
//!         Ok(())
//!     }
//! }
//!
//! let p = TestPipeline::new();
//! let kv = p.apply("Kv", Create::of(vec![("a".to_string(), 1), ("a".to_string(), 2), ("b".to_string(), 3)])).unwrap();
//! let indexed = kv.apply("Index", StatefulParDo::of(Index)).unwrap();
//! PAssert::that(&indexed).contains_in_any_order(vec![("a".into(), 0), ("a".into(), 1), ("b".into(), 0)]).unwrap();
//! p.run().unwrap();
//! ```

mod handles;
mod timer_slots;

pub use handles::{BagState, CombiningState, MapState, OrderedListState, SetState, ValueState};
pub(crate) use timer_slots::TimerSlots;

use crate::coder::{Element, Key};
use crate::combine::CombineFn;
use crate::error::{UserError, UserResult};
use crate::metrics::MetricsContainer;
use crate::time::{Duration, Timestamp};
use crate::window::{PaneInfo, Window, WindowedValue};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Stateful user code over `(Key, Value)` elements; see the [module docs](self).
pub trait StatefulDoFn: Clone + Send + Sync + 'static {
    /// Key type.
    type Key: Key;
    /// Value type.
    type Value: Element;
    /// Output type.
    type Out: Element;
    /// Called once per instance before anything else.
    fn setup(&mut self) -> UserResult {
        Ok(())
    }
    /// Called for each element.
    fn process(
        &mut self,
        key: &Self::Key,
        value: &Self::Value,
        ctx: &mut StateContext<'_, Self::Key, Self::Out>,
    ) -> UserResult;
    /// Called when the timer `timer` of a key and window fires.
    fn on_timer(
        &mut self,
        _key: &Self::Key,
        _timer: &str,
        _ctx: &mut StateContext<'_, Self::Key, Self::Out>,
    ) -> UserResult {
        Ok(())
    }
    /// Called once per key and window when the window expires, before its state is dropped.
    fn on_window_expiration(
        &mut self,
        _key: &Self::Key,
        _ctx: &mut StateContext<'_, Self::Key, Self::Out>,
    ) -> UserResult {
        Ok(())
    }
    /// Called once per instance after the last element.
    fn teardown(&mut self) -> UserResult {
        Ok(())
    }
    /// How far before the current timestamp an output timestamp may be.
    fn allowed_timestamp_skew(&self) -> Duration {
        Duration::ZERO
    }
}

/// The time domain of a timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TimeDomain {
    /// Fires when the input watermark passes the timer's time.
    EventTime,
    /// Fires when processing time reaches the timer's time.
    ProcessingTime,
}

/// A pending timer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimerSpec {
    /// Its domain.
    pub domain: TimeDomain,
    /// When it fires.
    pub at: Timestamp,
    /// The timestamp of its outputs, which holds the output watermark.
    pub output: Timestamp,
}

/// The id of a state cell or timer. A DoFn uses a few ids for any number of
/// keys, so every key shares one copy of each (see [`intern`]).
pub(crate) type StateId = Arc<str>;

/// How many distinct ids a thread shares; past it (a DoFn with an unbounded
/// family of timer ids), ids are allocated per use.
const SHARED_IDS: usize = 4096;

/// The shared copy of `id` (one per thread, so that counting references
/// does not contend between workers).
pub(crate) fn intern(id: &str) -> StateId {
    thread_local! {
        static IDS: std::cell::RefCell<std::collections::HashSet<StateId, foldhash::fast::RandomState>> =
            std::cell::RefCell::new(Default::default());
    }
    IDS.with(|ids| {
        let mut ids = ids.borrow_mut();
        if let Some(shared) = ids.get(id) {
            return shared.clone();
        }
        let fresh: StateId = Arc::from(id);
        if ids.len() < SHARED_IDS {
            ids.insert(fresh.clone());
        }
        fresh
    })
}

/// The state cells and timers of one key and window.
#[derive(Default)]
pub struct KeyWindowState {
    /// By id; a DoFn has a few cells, so a scan beats hashing the id.
    pub(crate) cells: Vec<(StateId, StateCell)>,
    pub(crate) timers: TimerSlots,
}

impl KeyWindowState {
    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty() && self.timers.is_empty()
    }
}

/// A state cell: its typed value, or its encoding (as restored from a
/// snapshot) until the DoFn first reads it as its declared type.
pub(crate) enum StateCell {
    Live(Box<dyn CellValue>),
    Encoded(Vec<u8>),
}

impl StateCell {
    /// The cell's encoding, for a snapshot.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, String> {
        match self {
            StateCell::Live(v) => v.encode(),
            StateCell::Encoded(bytes) => Ok(bytes.clone()),
        }
    }
}

/// A typed cell value that can encode itself.
pub(crate) trait CellValue: Any + Send {
    fn encode(&self) -> Result<Vec<u8>, String>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Send + Serialize> CellValue for T {
    fn encode(&self) -> Result<Vec<u8>, String> {
        crate::coder::encode_to_vec(self)
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// What a [`StatefulDoFn`] sees: the current element's or timer's metadata,
/// its state and timers, and outputs.
pub struct StateContext<'a, K, O> {
    pub(crate) key: &'a K,
    pub(crate) timestamp: Timestamp,
    pub(crate) window: Window,
    pub(crate) gc_time: Timestamp,
    pub(crate) now: Timestamp,
    pub(crate) skew: Duration,
    pub(crate) state: &'a mut KeyWindowState,
    pub(crate) output: &'a mut Vec<WindowedValue<O>>,
    pub(crate) metrics: &'a mut MetricsContainer,
    pub(crate) timer_changes: &'a mut Vec<TimerChange>,
}

fn cell<'s, T: Any + Send + Default + Serialize + DeserializeOwned>(
    state: &'s mut KeyWindowState,
    id: &str,
) -> UserResult<&'s mut T> {
    let at = match state.cells.iter().position(|(cell_id, _)| &**cell_id == id) {
        Some(at) => at,
        None => {
            let fresh = StateCell::Live(Box::new(T::default()));
            state.cells.push((intern(id), fresh));
            state.cells.len() - 1
        }
    };
    let slot = &mut state.cells[at].1;
    if let StateCell::Encoded(bytes) = slot {
        let value: T = crate::coder::decode(bytes).map_err(|e| {
            UserError::msg(format!(
                "state '{id}' restored from a snapshot does not decode as its declared type: {e}"
            ))
        })?;
        *slot = StateCell::Live(Box::new(value));
    }
    let value = match slot {
        StateCell::Live(v) => (**v).as_any_mut().downcast_mut::<T>(),
        StateCell::Encoded(_) => None,
    };
    value.ok_or_else(|| UserError::msg(format!("state '{id}' was declared with another type")))
}

impl<'a, K: Key, O: Element> StateContext<'a, K, O> {
    /// The key.
    pub fn key(&self) -> &K {
        self.key
    }
    /// The element's timestamp, or the output timestamp of the firing timer.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }
    /// The window.
    pub fn window(&self) -> &Window {
        &self.window
    }
    /// When the current window expires: the end of the window plus the
    /// allowed lateness (the latest an event-time timer may be set for).
    pub fn window_expiration(&self) -> Timestamp {
        self.gc_time
    }
    /// Current processing time.
    pub fn processing_time(&self) -> Timestamp {
        self.now
    }
    /// Emits at the current timestamp, in the current window.
    pub fn output(&mut self, value: O) {
        self.output.push(WindowedValue::new(
            value,
            self.timestamp,
            self.window,
            PaneInfo::NO_FIRING,
        ));
    }
    /// Emits at `timestamp`, no earlier than the current timestamp minus the allowed skew.
    pub fn output_with_timestamp(&mut self, value: O, timestamp: Timestamp) -> UserResult {
        if timestamp < self.timestamp.minus_skew(self.skew) {
            return Err(UserError::msg(format!(
                "cannot output with timestamp {timestamp}: output timestamps must be no earlier than the current timestamp ({}) minus the allowed skew ({} us)",
                self.timestamp,
                self.skew.as_micros()
            )));
        }
        self.output.push(WindowedValue::new(
            value,
            timestamp,
            self.window,
            PaneInfo::NO_FIRING,
        ));
        Ok(())
    }
    /// The step's metrics.
    pub fn metrics(&mut self) -> &mut MetricsContainer {
        self.metrics
    }

    /// A single value.
    pub fn value_state<T: Element>(&mut self, id: &str) -> UserResult<ValueState<'_, T>> {
        Ok(ValueState(cell::<Option<T>>(self.state, id)?))
    }
    /// An unordered bag of values.
    pub fn bag_state<T: Element>(&mut self, id: &str) -> UserResult<BagState<'_, T>> {
        Ok(BagState(cell::<Vec<T>>(self.state, id)?))
    }
    /// A value combined with `f` as inputs are added.
    pub fn combining_state<F: CombineFn>(
        &mut self,
        id: &str,
        f: &F,
    ) -> UserResult<CombiningState<'_, F>> {
        let acc = cell::<Option<F::Accum>>(self.state, id)?;
        Ok(CombiningState { acc, f: f.clone() })
    }
    /// A map.
    pub fn map_state<MK: Key + Ord, MV: Element>(
        &mut self,
        id: &str,
    ) -> UserResult<MapState<'_, MK, MV>> {
        Ok(MapState(cell::<BTreeMap<MK, MV>>(self.state, id)?))
    }
    /// A set.
    pub fn set_state<T: Key + Ord>(&mut self, id: &str) -> UserResult<SetState<'_, T>> {
        Ok(SetState(cell::<std::collections::BTreeSet<T>>(
            self.state, id,
        )?))
    }
    /// Values ordered by timestamp.
    pub fn ordered_list_state<T: Element>(
        &mut self,
        id: &str,
    ) -> UserResult<OrderedListState<'_, T>> {
        Ok(OrderedListState(cell::<BTreeMap<Timestamp, Vec<T>>>(
            self.state, id,
        )?))
    }

    /// Sets (or resets) the event-time timer `id` to fire when the watermark
    /// passes `at`; its outputs are timestamped `at`.
    pub fn set_event_timer(&mut self, id: &str, at: Timestamp) -> UserResult {
        self.set_timer(id, TimeDomain::EventTime, at, at)
    }
    /// Sets the event-time timer `id`, with outputs (and a watermark hold) at `output`.
    pub fn set_event_timer_with_output(
        &mut self,
        id: &str,
        at: Timestamp,
        output: Timestamp,
    ) -> UserResult {
        self.set_timer(id, TimeDomain::EventTime, at, output)
    }
    /// Sets the event-time timer `id` relative to the current timestamp, as
    /// Beam's `timer.offset(offset).align(period).setRelative()`: at
    /// `timestamp + offset`, or, with a period, at the next `k * period - offset`
    /// boundary after the current timestamp. In the global window the time is
    /// capped at the end of the window.
    pub fn set_relative_event_timer(
        &mut self,
        id: &str,
        offset: Duration,
        align: Option<Duration>,
    ) -> UserResult {
        let now = self.timestamp.as_micros();
        let target = match align {
            None => now.saturating_add(offset.as_micros()),
            Some(period) => {
                let p = period.as_micros();
                if p <= 0 {
                    return Err(UserError::msg(format!(
                        "timer '{id}': the alignment period must be positive"
                    )));
                }
                // Java's `%` keeps the sign of the dividend; Beam's rule uses it.
                now.saturating_add(p) - now.saturating_add(offset.as_micros()) % p
            }
        };
        let mut at = Timestamp::from_micros(target);
        if self.window == Window::Global {
            at = at.min(crate::window::GLOBAL_WINDOW_MAX);
        }
        self.set_timer(id, TimeDomain::EventTime, at, at)
    }

    /// Sets the processing-time timer `id` to fire `delay` from now; its outputs
    /// are timestamped with the current timestamp.
    pub fn set_processing_timer(&mut self, id: &str, delay: Duration) -> UserResult {
        let (at, out) = (self.now + delay, self.timestamp);
        self.set_timer(id, TimeDomain::ProcessingTime, at, out)
    }
    /// Clears the timer `id`, if set.
    pub fn clear_timer(&mut self, id: &str) {
        if let Some(old) = self.state.timers.remove(id) {
            self.timer_changes.push(TimerChange {
                id: intern(id),
                old: Some(old),
                new: None,
            });
        }
    }
    /// When the timer `id` is set to fire, if it is.
    pub fn timer(&self, id: &str) -> Option<TimerSpec> {
        self.state.timers.get(id).copied()
    }

    fn set_timer(
        &mut self,
        id: &str,
        domain: TimeDomain,
        at: Timestamp,
        output: Timestamp,
    ) -> UserResult {
        if domain == TimeDomain::EventTime && at > self.gc_time {
            return Err(UserError::msg(format!(
                "event-time timer '{id}' at {at} is after the expiration of window {:?} ({})",
                self.window, self.gc_time
            )));
        }
        if output > self.window.max_timestamp() {
            return Err(UserError::msg(format!(
                "timer '{id}' output timestamp {output} is after the end of window {:?}",
                self.window
            )));
        }
        if output < self.timestamp.minus_skew(self.skew) {
            return Err(UserError::msg(format!(
                "timer '{id}' output timestamp {output} is before the current timestamp {} minus the allowed skew",
                self.timestamp
            )));
        }
        let spec = TimerSpec { domain, at, output };
        let old = self.state.timers.insert(intern(id), spec);
        if old != Some(spec) {
            self.timer_changes.push(TimerChange {
                id: intern(id),
                old,
                new: Some(spec),
            });
        }
        Ok(())
    }
}

/// A timer set, reset or cleared by user code: the runner keeps its timer
/// index and watermark holds in step with these.
pub(crate) struct TimerChange {
    pub(crate) id: StateId,
    pub(crate) old: Option<TimerSpec>,
    pub(crate) new: Option<TimerSpec>,
}

/// Applies a [`StatefulDoFn`] to `(K, V)` elements.
pub struct StatefulParDo<F>(F);

impl<F: StatefulDoFn> StatefulParDo<F> {
    /// A stateful ParDo running `f`.
    pub fn of(f: F) -> Self {
        StatefulParDo(f)
    }
}

impl<F: StatefulDoFn> crate::pipeline::PTransform<crate::pipeline::PCollection<(F::Key, F::Value)>>
    for StatefulParDo<F>
{
    type Output = crate::pipeline::PCollection<F::Out>;
    fn expand(
        self,
        input: &crate::pipeline::PCollection<(F::Key, F::Value)>,
    ) -> crate::error::Result<Self::Output> {
        let p = input.pipeline().clone();
        let step = p.current_scope();
        let windowing = input.windowing();
        windowing.check_groupable(&step)?;
        if windowing.window_fn.is_merging() {
            return Err(crate::error::BeamError::construction(
                &step,
                "state and timers are not supported with merging windows (sessions): window the input with a non-merging window function",
            ));
        }
        let kernel = crate::runner_support::stateful::StatefulKernelImpl {
            prototype: self.0,
            strategy: Arc::new(windowing.clone()),
            step: step.into(),
        };
        let ids = p.add_primitive(
            crate::graph::Primitive::StatefulParDo {
                kernel: Arc::new(kernel),
            },
            vec![input.id()],
            vec![crate::pipeline::OutputSpec::of::<F::Out>(
                windowing,
                input.is_bounded(),
            )],
        )?;
        Ok(crate::pipeline::PCollection::new(p, ids[0]))
    }
}
