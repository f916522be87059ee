//! [`WindowInto`]: assigns elements to windows.

use crate::batch::Batch;
use crate::coder::Element;
use crate::error::{BeamError, Result};
use crate::graph::Primitive;
use crate::kernel::{WindowKernel, DROPPED_IN_NO_WINDOW};
use crate::metrics::MetricsContainer;
use crate::pipeline::{OutputSpec, PCollection, PTransform};
use crate::time::Duration;
use crate::trigger::{AccumulationMode, ClosingBehavior, OnTimeBehavior, Trigger};
use crate::window::WindowedValue;
use crate::windowfn::{TimestampCombiner, WindowFn, WindowingStrategy};
use std::marker::PhantomData;
use std::sync::Arc;

/// Assigns each element to the windows of a [`WindowFn`] by its timestamp, and
/// sets how later groupings treat time.
///
/// ```
/// # use runner_direct as _;
/// use beam_core::{Create, Count, Duration, Timestamp, WindowFn, WindowInto};
/// use beam_core::testing::{PAssert, TestPipeline};
/// let p = TestPipeline::new();
/// let events = p.apply("Events", Create::timestamped(vec![
///     ('a', Timestamp::from_millis(1)), ('a', Timestamp::from_millis(2)), ('a', Timestamp::from_millis(11)),
/// ])).unwrap();
/// let windowed = events.apply("Window", WindowInto::new(WindowFn::fixed(Duration::from_millis(10)))).unwrap();
/// let counts = windowed.apply("Count", Count::per_element()).unwrap();
/// PAssert::that(&counts).contains_in_any_order(vec![('a', 2), ('a', 1)]).unwrap();
/// p.run().unwrap();
/// ```
pub struct WindowInto<T> {
    window_fn: Option<WindowFn>,
    combiner: Option<TimestampCombiner>,
    lateness: Option<Duration>,
    trigger: Option<(Trigger, AccumulationMode)>,
    on_time: Option<OnTimeBehavior>,
    closing: Option<ClosingBehavior>,
    allow_unsafe: bool,
    _t: PhantomData<fn(T)>,
}

impl<T: Element> WindowInto<T> {
    /// Windows by `window_fn`.
    pub fn new(window_fn: WindowFn) -> Self {
        WindowInto {
            window_fn: Some(window_fn),
            ..Self::configure()
        }
    }
    /// Keeps the windows elements are in and changes only how later groupings
    /// fire (Beam's `Window.configure()`).
    pub fn configure() -> Self {
        WindowInto {
            window_fn: None,
            combiner: None,
            lateness: None,
            trigger: None,
            on_time: None,
            closing: None,
            allow_unsafe: false,
            _t: PhantomData,
        }
    }
    /// Fires panes by `trigger`, accumulating or discarding, accepting data up to
    /// `allowed_lateness` after the end of a window. All three are required
    /// together, as in Beam.
    pub fn triggering(
        mut self,
        trigger: Trigger,
        mode: AccumulationMode,
        allowed_lateness: Duration,
    ) -> Self {
        self.trigger = Some((trigger, mode));
        self.lateness = Some(allowed_lateness);
        self
    }
    /// Whether an empty on-time pane is emitted.
    pub fn with_on_time_behavior(mut self, b: OnTimeBehavior) -> Self {
        self.on_time = Some(b);
        self
    }
    /// Whether an empty final pane is emitted.
    pub fn with_closing_behavior(mut self, b: ClosingBehavior) -> Self {
        self.closing = Some(b);
        self
    }
    /// Accepts a trigger that may finish while late data is still allowed (such
    /// data is then dropped); rejected by default as Beam does.
    pub fn allow_unsafe_trigger(mut self) -> Self {
        self.allow_unsafe = true;
        self
    }
    /// Sets how groupings compute output timestamps.
    pub fn with_timestamp_combiner(mut self, c: TimestampCombiner) -> Self {
        self.combiner = Some(c);
        self
    }
    /// Sets how long after the end of a window late data is still accepted.
    pub fn with_allowed_lateness(mut self, d: Duration) -> Self {
        self.lateness = Some(d);
        self
    }
}

struct AssignKernel<T> {
    window_fn: WindowFn,
    _t: PhantomData<fn(T)>,
}

impl<T: Element> WindowKernel for AssignKernel<T> {
    fn assign(&self, input: Batch, metrics: &mut MetricsContainer) -> Batch {
        let values = match input.downcast::<T>() {
            Ok(v) => v,
            Err(b) => return b,
        };
        if matches!(
            self.window_fn,
            WindowFn::Global | WindowFn::Fixed { .. } | WindowFn::Sessions { .. }
        ) {
            // Exactly one window per element: assigned in place, nothing moves.
            let mut values = values;
            for wv in &mut values {
                let ts = wv.timestamp;
                self.window_fn.assign(ts, |w| wv.window = w);
            }
            return Batch::new(values);
        }
        let mut out = Vec::with_capacity(values.len());
        let mut dropped = 0;
        for wv in values {
            let mut first = None;
            self.window_fn.assign(wv.timestamp, |w| {
                if first.is_none() {
                    first = Some(w);
                } else {
                    out.push(WindowedValue::new(
                        wv.value.clone(),
                        wv.timestamp,
                        w,
                        wv.pane,
                    ));
                }
            });
            match first {
                Some(w) => out.push(WindowedValue::new(wv.value, wv.timestamp, w, wv.pane)),
                None => dropped += 1,
            }
        }
        if dropped > 0 {
            metrics.inc_counter(DROPPED_IN_NO_WINDOW, dropped);
        }
        Batch::new(out)
    }
}

/// Keeps every element's window (for [`WindowInto::configure`]).
struct KeepWindows;

impl WindowKernel for KeepWindows {
    fn assign(&self, input: Batch, _: &mut MetricsContainer) -> Batch {
        input
    }
}

impl<T: Element> PTransform<PCollection<T>> for WindowInto<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<T>> {
        let p = input.pipeline().clone();
        let step = p.current_scope();
        if let Some(f) = &self.window_fn {
            f.validate()
                .map_err(|m| BeamError::construction(&step, m))?;
            if let WindowFn::InvalidWindows(_) = f {
                return Err(BeamError::construction(
                    &step,
                    "InvalidWindows cannot be assigned",
                ));
            }
        }
        if self.lateness.is_some_and(|d| d.as_micros() < 0) {
            return Err(BeamError::construction(
                &step,
                "allowed lateness must not be negative",
            ));
        }
        let mut strategy = input.windowing();
        if let Some(f) = &self.window_fn {
            strategy.window_fn = f.clone();
        }
        if let Some(c) = self.combiner {
            strategy.timestamp_combiner = c;
        }
        if let Some(l) = self.lateness {
            strategy.allowed_lateness = l;
        }
        if let Some((t, mode)) = self.trigger {
            t.validate()
                .map_err(|m| BeamError::construction(&step, m))?;
            strategy.trigger = t;
            strategy.accumulation_mode = mode;
        }
        if let Some(b) = self.on_time {
            strategy.on_time_behavior = b;
        }
        if let Some(b) = self.closing {
            strategy.closing_behavior = b;
        }
        // A trigger that can finish while late data is still allowed loses that data.
        if strategy.trigger.may_finish()
            && strategy.allowed_lateness > Duration::ZERO
            && !self.allow_unsafe
        {
            return Err(BeamError::construction(
                &step,
                format!(
                    "Unsafe trigger '{}' may lose data: it can finish while late data is still allowed; wrap it in Trigger::repeatedly, add late firings, or call allow_unsafe_trigger()",
                    strategy.trigger
                ),
            ));
        }
        let kernel: Arc<dyn WindowKernel> = match self.window_fn {
            Some(window_fn) => Arc::new(AssignKernel::<T> {
                window_fn,
                _t: PhantomData,
            }),
            None => Arc::new(KeepWindows),
        };
        let ids = p.add_primitive(
            Primitive::WindowInto { kernel },
            vec![input.id()],
            vec![OutputSpec::of::<T>(strategy, input.is_bounded())],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}

/// Keeps every element's window and sets the windowing strategy as it is
/// given (Beam's `setWindowingStrategyInternal`): for composites that take a
/// grouping's output back to the strategy of its input (a merging window
/// function merges again in the next grouping).
pub(crate) struct SetWindowing<T> {
    strategy: WindowingStrategy,
    _t: PhantomData<fn(T)>,
}

impl<T> SetWindowing<T> {
    pub(crate) fn new(strategy: WindowingStrategy) -> Self {
        SetWindowing {
            strategy,
            _t: PhantomData,
        }
    }
}

impl<T: Element> PTransform<PCollection<T>> for SetWindowing<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<T>> {
        let p = input.pipeline().clone();
        let ids = p.add_primitive(
            Primitive::WindowInto {
                kernel: Arc::new(KeepWindows),
            },
            vec![input.id()],
            vec![OutputSpec::of::<T>(self.strategy, input.is_bounded())],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}
