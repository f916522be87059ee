//! DoFns: user code applied to each element by [`ParDo`](crate::ParDo).
//!
//! A runner drives each DoFn instance through Beam's lifecycle:
//!
//! 1. [`DoFn::setup`] once per instance, before anything else;
//! 2. any number of bundles: [`DoFn::start_bundle`], [`DoFn::process`] for each
//!    element of the bundle, [`DoFn::finish_bundle`];
//! 3. [`DoFn::teardown`] once, after the last bundle (also after a failure).
//!
//! Bundles are chosen by the runner; a DoFn must not depend on their size or on
//! the order of elements. An element is handed over by shared reference and must
//! not be changed (the direct runner checks this, even through interior
//! mutability). Outputs inherit the element's timestamp, window and pane unless
//! given an explicit timestamp, which may move back in time by at most
//! [`DoFn::allowed_timestamp_skew`].
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{DoFn, ParDo, ProcessContext, UserResult};
//! use beam_core::testing::{PAssert, TestPipeline};
//!
//! #[derive(Clone)]
//! struct SplitWords;
//!
//! impl DoFn for SplitWords {
//!     type In = String;
//!     type Out = String;
//!     fn process(&mut self, line: &String, ctx: &mut ProcessContext<'_, String>) -> UserResult {
//!         for w in line.split_whitespace() {
//!             ctx.output(w.to_string());
//!             ctx.metrics().inc_counter("words", 1);
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let p = TestPipeline::new();
//! let lines = p.apply("Lines", beam_core::Create::of(vec!["a b".to_string(), "c".to_string()])).unwrap();
//! let words = lines.apply("Split", ParDo::of(SplitWords)).unwrap();
//! PAssert::that(&words).contains_in_any_order(vec!["a".into(), "b".into(), "c".into()]).unwrap();
//! let result = p.run().unwrap();
//! assert_eq!(result.metrics().counter("Split", "words"), Some(3));
//! ```

use crate::batch::Batch;
use crate::coder::Element;
use crate::error::{UserError, UserResult};
use crate::kernel::SideInputs;
use crate::metrics::MetricsContainer;
use crate::side_input::{PCollectionView, ViewFn};
use crate::time::{Duration, Timestamp};
use crate::window::{PaneInfo, Window, WindowedValue};
use std::marker::PhantomData;

/// User code applied to each element of a PCollection.
///
/// A DoFn is cloned for every worker that runs it, so it must be `Clone`; state
/// kept in its fields is per instance.
pub trait DoFn: Clone + Send + Sync + 'static {
    /// Input element type.
    type In: Element;
    /// Main output element type.
    type Out: Element;

    /// Called once per instance before any bundle (open connections, load models).
    fn setup(&mut self) -> UserResult {
        Ok(())
    }
    /// Called at the start of each bundle.
    fn start_bundle(&mut self, _ctx: &mut StartBundleContext<'_>) -> UserResult {
        Ok(())
    }
    /// Called for each element.
    fn process(
        &mut self,
        element: &Self::In,
        ctx: &mut ProcessContext<'_, Self::Out>,
    ) -> UserResult;
    /// Called at the end of each bundle; outputs need an explicit timestamp and window.
    fn finish_bundle(&mut self, _ctx: &mut FinishBundleContext<'_, Self::Out>) -> UserResult {
        Ok(())
    }
    /// Called once per instance after its last bundle (best effort).
    fn teardown(&mut self) -> UserResult {
        Ok(())
    }
    /// How far before the input's timestamp an output timestamp may be.
    fn allowed_timestamp_skew(&self) -> Duration {
        Duration::ZERO
    }
}

/// Identifies an additional output of a ParDo.
///
/// ```
/// let evens = beam_core::TupleTag::<u32>::new("evens");
/// assert_eq!(evens.name(), "evens");
/// ```
pub struct TupleTag<T> {
    pub(crate) id: usize,
    name: String,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for TupleTag<T> {
    fn clone(&self) -> Self {
        TupleTag {
            id: self.id,
            name: self.name.clone(),
            _t: PhantomData,
        }
    }
}

static NEXT_TAG: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

impl<T: Element> TupleTag<T> {
    /// A new tag; `name` names the output PCollection.
    pub fn new(name: impl Into<String>) -> Self {
        TupleTag {
            id: NEXT_TAG.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            name: name.into(),
            _t: PhantomData,
        }
    }
    /// The tag's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Outputs shared by the process and finish-bundle contexts.
pub(crate) struct Outputs<'a, O> {
    pub main: &'a mut Vec<WindowedValue<O>>,
    pub tagged: &'a mut [Batch],
    pub tag_ids: &'a [usize],
}

impl<O: Element> Outputs<'_, O> {
    fn tagged<T: Element>(&mut self, tag: &TupleTag<T>, wv: WindowedValue<T>) -> UserResult {
        let pos = self
            .tag_ids
            .iter()
            .position(|&id| id == tag.id)
            .ok_or_else(|| {
                UserError::msg(format!(
                    "output tag '{}' was not declared on this ParDo",
                    tag.name
                ))
            })?;
        match self.tagged[pos].downcast_mut::<T>() {
            Some(v) => {
                v.push(wv);
                Ok(())
            }
            None => Err(UserError::msg(format!(
                "output tag '{}' has another element type",
                tag.name
            ))),
        }
    }
}

/// What [`DoFn::process`] can see and do.
pub struct ProcessContext<'a, O> {
    pub(crate) timestamp: Timestamp,
    pub(crate) window: Window,
    pub(crate) pane: PaneInfo,
    pub(crate) skew: Duration,
    pub(crate) out: Outputs<'a, O>,
    pub(crate) side_inputs: &'a SideInputs,
    pub(crate) metrics: &'a mut MetricsContainer,
}

impl<O: Element> ProcessContext<'_, O> {
    /// The element's event timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }
    /// The element's window.
    pub fn window(&self) -> &Window {
        &self.window
    }
    /// The pane that produced the element.
    pub fn pane(&self) -> &PaneInfo {
        &self.pane
    }
    /// Emits to the main output with the element's timestamp, window and pane.
    #[inline]
    pub fn output(&mut self, value: O) {
        self.out.main.push(WindowedValue {
            value,
            timestamp: self.timestamp,
            window: self.window,
            pane: self.pane,
        });
    }
    fn check_skew(&self, ts: Timestamp) -> UserResult {
        check_output_timestamp(self.timestamp, &self.window, self.skew, ts).map_err(|e| {
            UserError::msg(format!(
                "{e}; override DoFn::allowed_timestamp_skew to allow more"
            ))
        })
    }
    /// Emits to the main output at `timestamp`, which may be earlier than the
    /// element's by at most the allowed skew.
    pub fn output_with_timestamp(&mut self, value: O, timestamp: Timestamp) -> UserResult {
        self.check_skew(timestamp)?;
        self.out.main.push(WindowedValue {
            value,
            timestamp,
            window: self.window,
            pane: self.pane,
        });
        Ok(())
    }
    /// Emits to the additional output `tag`.
    pub fn output_tagged<T: Element>(&mut self, tag: &TupleTag<T>, value: T) -> UserResult {
        let wv = WindowedValue {
            value,
            timestamp: self.timestamp,
            window: self.window,
            pane: self.pane,
        };
        self.out.tagged(tag, wv)
    }
    /// Emits to the additional output `tag` at `timestamp`.
    pub fn output_tagged_with_timestamp<T: Element>(
        &mut self,
        tag: &TupleTag<T>,
        value: T,
        timestamp: Timestamp,
    ) -> UserResult {
        self.check_skew(timestamp)?;
        let wv = WindowedValue {
            value,
            timestamp,
            window: self.window,
            pane: self.pane,
        };
        self.out.tagged(tag, wv)
    }
    /// Reads a side input in the window that maps from this element's window.
    pub fn side_input<'v, V: ViewFn>(
        &'v self,
        view: &'v PCollectionView<V>,
    ) -> UserResult<V::Output<'v>> {
        view.read(self.side_inputs, &self.window)
    }
    /// The step's metrics.
    pub fn metrics(&mut self) -> &mut MetricsContainer {
        self.metrics
    }
}

/// What [`DoFn::start_bundle`] can do.
pub struct StartBundleContext<'a> {
    pub(crate) metrics: &'a mut MetricsContainer,
}

impl StartBundleContext<'_> {
    /// The step's metrics.
    pub fn metrics(&mut self) -> &mut MetricsContainer {
        self.metrics
    }
}

/// What [`DoFn::finish_bundle`] can do: output with an explicit timestamp and window.
pub struct FinishBundleContext<'a, O> {
    pub(crate) out: Outputs<'a, O>,
    pub(crate) metrics: &'a mut MetricsContainer,
}

impl<O: Element> FinishBundleContext<'_, O> {
    /// Emits to the main output at `timestamp` in `window`.
    pub fn output(&mut self, value: O, timestamp: Timestamp, window: Window) {
        self.out.main.push(WindowedValue::new(
            value,
            timestamp,
            window,
            PaneInfo::NO_FIRING,
        ));
    }
    /// Emits to the additional output `tag` at `timestamp` in `window`.
    pub fn output_tagged<T: Element>(
        &mut self,
        tag: &TupleTag<T>,
        value: T,
        timestamp: Timestamp,
        window: Window,
    ) -> UserResult {
        self.out.tagged(
            tag,
            WindowedValue::new(value, timestamp, window, PaneInfo::NO_FIRING),
        )
    }
    /// The step's metrics.
    pub fn metrics(&mut self) -> &mut MetricsContainer {
        self.metrics
    }
}

/// Whether an element at `current` in `window` may be output at `ts`: no
/// earlier than `current` minus `skew`, and in the global window no later
/// than its end.
pub(crate) fn check_output_timestamp(
    current: Timestamp,
    window: &Window,
    skew: Duration,
    ts: Timestamp,
) -> UserResult {
    if ts < current.minus_skew(skew) {
        return Err(UserError::msg(format!(
            "cannot output with timestamp {ts}: output timestamps must be no earlier than the timestamp of the current input ({current}) minus the allowed skew ({} us)",
            skew.as_micros()
        )));
    }
    if ts > crate::window::GLOBAL_WINDOW_MAX && *window == Window::Global {
        return Err(UserError::msg(format!(
            "cannot output with timestamp {ts}: it is after the end of the global window"
        )));
    }
    Ok(())
}
