//! [`WindowInto`]: assigns elements to windows.

use crate::batch::Batch;
use crate::coder::Element;
use crate::error::{BeamError, Result};
use crate::graph::Primitive;
use crate::kernel::WindowKernel;
use crate::pipeline::{OutputSpec, PCollection, PTransform};
use crate::time::Duration;
use crate::window::WindowedValue;
use crate::windowfn::{TimestampCombiner, WindowFn};
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
    window_fn: WindowFn,
    combiner: Option<TimestampCombiner>,
    lateness: Option<Duration>,
    _t: PhantomData<fn(T)>,
}

impl<T: Element> WindowInto<T> {
    /// Windows by `window_fn`.
    pub fn new(window_fn: WindowFn) -> Self {
        WindowInto {
            window_fn,
            combiner: None,
            lateness: None,
            _t: PhantomData,
        }
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
    fn assign(&self, input: Batch) -> Batch {
        let values = match input.downcast::<T>() {
            Ok(v) => v,
            Err(b) => return b,
        };
        let mut out = Vec::with_capacity(values.len());
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
            if let Some(w) = first {
                out.push(WindowedValue::new(wv.value, wv.timestamp, w, wv.pane));
            }
        }
        Batch::new(out)
    }
}

impl<T: Element> PTransform<PCollection<T>> for WindowInto<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<T>> {
        let p = input.pipeline().clone();
        let step = p.current_scope();
        self.window_fn
            .validate()
            .map_err(|m| BeamError::construction(&step, m))?;
        if let WindowFn::InvalidWindows(_) = self.window_fn {
            return Err(BeamError::construction(
                &step,
                "InvalidWindows cannot be assigned",
            ));
        }
        if self.lateness.is_some_and(|d| d.as_micros() < 0) {
            return Err(BeamError::construction(
                &step,
                "allowed lateness must not be negative",
            ));
        }
        let mut strategy = input.windowing();
        strategy.window_fn = self.window_fn.clone();
        if let Some(c) = self.combiner {
            strategy.timestamp_combiner = c;
        }
        if let Some(l) = self.lateness {
            strategy.allowed_lateness = l;
        }
        let ids = p.add_primitive(
            Primitive::WindowInto {
                kernel: Arc::new(AssignKernel::<T> {
                    window_fn: self.window_fn,
                    _t: PhantomData,
                }),
            },
            vec![input.id()],
            vec![OutputSpec::of::<T>(strategy, input.is_bounded())],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}
