//! Testing users' pipelines: [`PAssert`] and [`TestPipeline`].
//!
//! `PAssert` adds an assertion to the pipeline itself: it gathers the whole
//! PCollection (optionally one window of it) as a side input of a single check
//! step, so it works on every runner, and also on empty PCollections. A failed
//! assertion fails the run with the step name `PAssert$N/Check` and a diff.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, Duration, Timestamp, Window, WindowFn, WindowInto};
//! use beam_core::testing::{PAssert, TestPipeline};
//! let p = TestPipeline::new();
//! let xs = p.apply("Xs", Create::timestamped(vec![(1, Timestamp::from_millis(1)), (2, Timestamp::from_millis(12))])).unwrap()
//!     .apply("Fixed", WindowInto::new(WindowFn::fixed(Duration::from_millis(10)))).unwrap();
//! let first = Window::interval(Timestamp::EPOCH, Timestamp::from_millis(10));
//! PAssert::that(&xs).in_window(first).contains_in_any_order(vec![1]).unwrap();
//! PAssert::that(&xs).contains_in_any_order(vec![1, 2]).unwrap();
//! p.run().unwrap();
//! ```
//! # use runner_direct as _;

use crate::coder::{self, Element};
use crate::dofn::{DoFn, ProcessContext};
use crate::error::{Result, UserError, UserResult};
use crate::options::PipelineOptions;
use crate::pardo::ParDo;
use crate::pipeline::{PCollection, PTransform, Pipeline};
use crate::side_input::{IterableView, PCollectionView, View};
use crate::time::Duration;
use crate::transforms::roots::Impulse;
use crate::transforms::windowing::WindowInto;
use crate::trigger::{AccumulationMode, Trigger};
use crate::window::Window;
use crate::windowfn::WindowFn;
use std::sync::Arc;

/// Pipelines for tests.
pub struct TestPipeline;

impl TestPipeline {
    /// A pipeline on the runner named by the `BEAM_TEST_RUNNER` environment
    /// variable, or the direct runner.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Pipeline {
        let runner = std::env::var("BEAM_TEST_RUNNER").unwrap_or_else(|_| "direct".to_string());
        Self::with_runner(&runner)
    }
    /// A pipeline on the runner `name`.
    pub fn with_runner(name: &str) -> Pipeline {
        Pipeline::new(PipelineOptions::default().with_runner(name))
    }
}

type Matcher<T> = Arc<dyn Fn(&[T]) -> std::result::Result<(), String> + Send + Sync>;

/// Assertions on the contents of a PCollection, checked when the pipeline runs.
pub struct PAssert<T> {
    pcoll: PCollection<T>,
    window: Option<Window>,
}

impl<T: Element> PAssert<T> {
    /// Assertions on `pcoll`.
    pub fn that(pcoll: &PCollection<T>) -> Self {
        PAssert {
            pcoll: pcoll.clone(),
            window: None,
        }
    }
    /// Restricts the assertion to the elements in `window`.
    pub fn in_window(mut self, window: Window) -> Self {
        self.window = Some(window);
        self
    }
    /// The PCollection holds exactly `expected`, in any order.
    pub fn contains_in_any_order(self, expected: Vec<T>) -> Result<()> {
        let expected_sorted = sorted_encodings(&expected)
            .map_err(|e| crate::BeamError::construction("PAssert", e))?;
        self.add(Arc::new(move |actual: &[T]| {
            let got = sorted_encodings(actual)?;
            if got == expected_sorted {
                return Ok(());
            }
            Err(format!(
                "expected (in any order) {} elements: {}\n  but got {} elements: {}",
                expected.len(),
                coder::describe(&expected),
                actual.len(),
                coder::describe(&actual)
            ))
        }))
    }
    /// The PCollection is empty.
    pub fn is_empty(self) -> Result<()> {
        self.add(Arc::new(|actual: &[T]| {
            if actual.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "expected no elements, got {}",
                    coder::describe(&actual)
                ))
            }
        }))
    }
    /// `check` accepts the contents (it fails by panicking, e.g. with `assert!`).
    pub fn satisfies<F: Fn(&[T]) + Send + Sync + 'static>(self, check: F) -> Result<()> {
        self.add(Arc::new(move |actual: &[T]| {
            crate::user_code::catch(|| check(actual)).map_err(|m| format!("predicate failed: {m}"))
        }))
    }

    fn add(self, matcher: Matcher<T>) -> Result<()> {
        let p = self.pcoll.pipeline().clone();
        let name = format!("PAssert${}", p.next_id());
        self.pcoll.apply(
            &name,
            AssertTransform {
                window: self.window,
                matcher,
            },
        )
    }
}

fn sorted_encodings<T: Element>(values: &[T]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let mut v = values
        .iter()
        .map(coder::encode_to_vec)
        .collect::<std::result::Result<Vec<_>, _>>()?;
    v.sort();
    Ok(v)
}

struct AssertTransform<T> {
    window: Option<Window>,
    matcher: Matcher<T>,
}

#[derive(Clone)]
struct ReifyWindow<T>(std::marker::PhantomData<fn(T)>);

impl<T: Element> DoFn for ReifyWindow<T> {
    type In = T;
    type Out = (Window, T);
    fn process(&mut self, x: &T, ctx: &mut ProcessContext<'_, (Window, T)>) -> UserResult {
        let w = *ctx.window();
        ctx.output((w, x.clone()));
        Ok(())
    }
}

struct CheckFn<T: Element> {
    view: PCollectionView<IterableView<(Window, T)>>,
    window: Option<Window>,
    matcher: Matcher<T>,
}

impl<T: Element> Clone for CheckFn<T> {
    fn clone(&self) -> Self {
        CheckFn {
            view: self.view.clone(),
            window: self.window,
            matcher: self.matcher.clone(),
        }
    }
}

impl<T: Element> DoFn for CheckFn<T> {
    type In = ();
    type Out = ();
    fn process(&mut self, _: &(), ctx: &mut ProcessContext<'_, ()>) -> UserResult {
        let all = ctx.side_input(&self.view)?;
        let actual: Vec<T> = all
            .iter()
            .filter(|(w, _)| self.window.is_none_or(|want| *w == want))
            .map(|(_, x)| x.clone())
            .collect();
        (self.matcher)(&actual).map_err(|m| match self.window {
            Some(w) => UserError::msg(format!("assertion failed in window {w:?}: {m}")),
            None => UserError::msg(format!("assertion failed: {m}")),
        })
    }
}

impl<T: Element> PTransform<PCollection<T>> for AssertTransform<T> {
    type Output = ();
    fn expand(self, input: &PCollection<T>) -> Result<()> {
        let view = input
            .apply(
                "ReifyWindows",
                ParDo::of(ReifyWindow::<T>(std::marker::PhantomData)),
            )?
            // As Beam's PAssert: on a stream, the one pane fires when the
            // input is complete.
            .apply(
                "GlobalWindow",
                WindowInto::new(WindowFn::Global).triggering(
                    Trigger::Never,
                    AccumulationMode::Discarding,
                    Duration::ZERO,
                ),
            )?
            .apply("AsIterable", View::as_iterable())?;
        input.pipeline().apply("Impulse", Impulse)?.apply(
            "Check",
            ParDo::of(CheckFn {
                view: view.clone(),
                window: self.window,
                matcher: self.matcher,
            })
            .with_side_input(&view),
        )?;
        Ok(())
    }
}
