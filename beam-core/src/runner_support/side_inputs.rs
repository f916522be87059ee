//! What a ParDo knows of its side inputs while they still arrive, and which
//! main-input elements it can process now (the role of Beam's
//! `PushbackSideInputDoFnRunner` and `SideInputHandler`).
//!
//! A view of a bounded PCollection is built once that PCollection is
//! complete; until then every main-input element waits. A view of a stream
//! (see [`View`](crate::View)) is built pane by pane: a side window is
//! *ready* once it has fired or the side input's watermark has passed its
//! end, and a main-input element is processed as soon as the side windows it
//! reads are all ready. A window that never fired reads as empty (or as the
//! singleton's default); a later firing replaces the contents of an earlier
//! one, so a view in the global window with a repeated trigger follows the
//! latest value. Elements that wait hold the ParDo's output watermark at
//! their timestamps.
//!
//! ```
//! use beam_core::graph::Graph;
//! use beam_core::runner_support::side_inputs::SideInputTracker;
//! use beam_core::{Pipeline, PipelineOptions, Create, ParDo, View, DoFn, ProcessContext, UserResult, PCollectionView};
//! use beam_core::side_input::SingletonView;
//! # #[derive(Clone)] struct Read(PCollectionView<SingletonView<i64>>);
//! # impl DoFn for Read { type In = i64; type Out = i64;
//! #   fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult { ctx.output(*x); Ok(()) } }
//! let p = Pipeline::new(PipelineOptions::default());
//! let view = p.apply("Side", Create::of(vec![7i64]))?.apply("View", View::as_singleton())?;
//! p.apply("Main", Create::of(vec![1i64]))?
//!     .apply("Read", ParDo::of(Read(view.clone())).with_side_input(&view))?;
//! let graph = p.graph();
//! let read = graph.transforms.iter().position(|t| t.name == "Read").unwrap();
//! let tracker = SideInputTracker::for_step(&graph, read);
//! // A bounded view is ready only once its PCollection is complete.
//! assert!(!tracker.is_complete());
//! # Ok::<(), beam_core::BeamError>(())
//! ```

use crate::batch::Batch;
use crate::error::{BeamError, Result};
use crate::graph::Graph;
use crate::kernel::{SideInputs, ViewKernel};
use crate::time::Timestamp;
use crate::window::Window;
use std::collections::HashSet;
use std::sync::Arc;

/// The side inputs of one ParDo on one worker, as far as they have arrived.
pub struct SideInputTracker {
    step: String,
    sides: Vec<TrackedSide>,
    views: SideInputs,
    version: u64,
}

struct TrackedSide {
    view_id: usize,
    /// The view's PCollection, as errors name it.
    name: String,
    kernel: Arc<dyn ViewKernel>,
    watermark: Timestamp,
    /// A bounded view: its batches until the PCollection is complete.
    buffered: Vec<Batch>,
    /// Whether the view can be read (a bounded one once built; a view of a
    /// stream from the start, window by window).
    built: bool,
    /// A view of a stream: the windows that have fired.
    fired: HashSet<Window>,
}

impl SideInputTracker {
    /// The side inputs of ParDo `t` of `graph`, none of them arrived yet.
    pub fn for_step(graph: &Graph, t: usize) -> Self {
        let node = &graph.transforms[t];
        let mut views = SideInputs::new();
        let sides = node
            .side_inputs()
            .iter()
            .map(|s| {
                let of_stream = s.kernel.of_stream();
                if of_stream {
                    views.insert(s.view_id, s.kernel.empty_view());
                }
                TrackedSide {
                    view_id: s.view_id,
                    name: graph.pcollections[s.pcollection].name.clone(),
                    kernel: s.kernel.clone(),
                    watermark: Timestamp::MIN,
                    buffered: Vec::new(),
                    built: of_stream,
                    fired: HashSet::new(),
                }
            })
            .collect();
        SideInputTracker {
            step: node.name.clone(),
            sides,
            views,
            version: 0,
        }
    }

    fn error(&self, i: usize, message: String) -> BeamError {
        BeamError::SideInput {
            step: self.step.clone(),
            view: self.sides[i].name.clone(),
            message,
        }
    }

    /// A bundle of side input `i` (in the order of the step's side inputs).
    pub fn add(&mut self, i: usize, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let side = &mut self.sides[i];
        if !side.kernel.of_stream() {
            side.buffered.push(batch);
            return Ok(());
        }
        let view = self
            .views
            .get_mut(side.view_id)
            .expect("a view of a stream is in the views from the start");
        match side.kernel.add_panes(view, batch) {
            Ok(fired) => {
                side.fired.extend(fired);
                self.version += 1;
                Ok(())
            }
            Err(m) => Err(self.error(i, m)),
        }
    }

    /// Side input `i`'s watermark is now `wm` (an earlier one is ignored);
    /// a bounded view is built when it reaches the end of time.
    pub fn advance_watermark(&mut self, i: usize, wm: Timestamp) -> Result<()> {
        let side = &mut self.sides[i];
        if wm <= side.watermark {
            return Ok(());
        }
        side.watermark = wm;
        self.version += 1;
        if wm == Timestamp::MAX && !side.built {
            let batches = std::mem::take(&mut side.buffered);
            match side.kernel.materialize(batches) {
                Ok(view) => {
                    side.built = true;
                    let id = side.view_id;
                    self.views.insert(id, view);
                }
                Err(m) => return Err(self.error(i, m)),
            }
        }
        Ok(())
    }

    /// Whether every side input is complete (its watermark at the end of time).
    pub fn is_complete(&self) -> bool {
        self.sides
            .iter()
            .all(|s| s.built && s.watermark == Timestamp::MAX)
    }

    /// Changes whenever a side window may have become ready: a caller with
    /// waiting elements tries them again only when it moved.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The views as they are now, for the ParDo's bundles.
    pub fn views(&self) -> &SideInputs {
        &self.views
    }

    /// The names of the side inputs that are not complete.
    pub fn incomplete(&self) -> Vec<&str> {
        self.sides
            .iter()
            .filter(|s| s.watermark < Timestamp::MAX)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// Whether an element in main-input window `main` can read every side
    /// input now. A window with no side-input mapping counts as ready, so the
    /// read itself reports the error.
    pub fn is_ready(&self, main: &Window) -> bool {
        self.sides.iter().all(|s| {
            if !s.kernel.of_stream() {
                return s.built;
            }
            match s.kernel.side_window(main) {
                Ok(w) => s.watermark > w.max_timestamp() || s.fired.contains(&w),
                Err(_) => true,
            }
        })
    }

    /// Moves the elements of `batch` that can be processed now into the
    /// returned batch; what is left in `batch` waits.
    pub fn take_ready(&self, batch: &mut Batch) -> Batch {
        if self.is_complete() {
            let all = batch.empty_like();
            return std::mem::replace(batch, all);
        }
        // Elements of a bundle mostly share a few windows: each window's
        // readiness is looked up once per run of equal windows.
        let mut last: Option<(Window, bool)> = None;
        batch.take_where(|w| match &last {
            Some((seen, ready)) if seen == w => *ready,
            _ => {
                let ready = self.is_ready(w);
                last = Some((*w, ready));
                ready
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::side_input::SingletonView;
    use crate::window::{IntervalWindow, PaneInfo, WindowedValue};
    use crate::TestStream;
    use crate::{
        Create, DoFn, Duration, PCollectionView, ParDo, Pipeline, PipelineOptions, ProcessContext,
        UserResult, View, WindowFn, WindowInto,
    };

    #[derive(Clone)]
    struct Read(PCollectionView<SingletonView<i64>>);
    impl DoFn for Read {
        type In = i64;
        type Out = i64;
        fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
            ctx.output(*x + *ctx.side_input(&self.0)?);
            Ok(())
        }
    }

    fn secs(n: i64) -> Timestamp {
        Timestamp::from_secs(n)
    }

    fn window(start: i64) -> Window {
        Window::Interval(IntervalWindow::new(secs(start), secs(start + 10)))
    }

    /// A ParDo reading a singleton view of a stream in 10 s windows.
    fn stream_tracker() -> (SideInputTracker, PCollectionView<SingletonView<i64>>) {
        let p = Pipeline::new(PipelineOptions::default());
        let fixed = || WindowInto::new(WindowFn::fixed(Duration::from_secs(10)));
        let view = p
            .apply(
                "Side",
                TestStream::<i64>::new().advance_watermark_to_infinity(),
            )
            .unwrap()
            .apply("SideWindow", fixed())
            .unwrap()
            .apply("View", View::as_singleton_with_default(0))
            .unwrap();
        p.apply("Main", Create::of(vec![1i64]))
            .unwrap()
            .apply("MainWindow", fixed())
            .unwrap()
            .apply("Read", ParDo::of(Read(view.clone())).with_side_input(&view))
            .unwrap();
        let graph = p.graph();
        let read = graph
            .transforms
            .iter()
            .position(|t| t.name == "Read")
            .unwrap();
        (SideInputTracker::for_step(&graph, read), view)
    }

    fn pane(start: i64, values: Vec<i64>, index: i64) -> WindowedValue<((), Vec<i64>)> {
        WindowedValue {
            value: ((), values),
            timestamp: secs(start + 10) - Duration::from_micros(1),
            window: window(start),
            pane: PaneInfo {
                index,
                ..PaneInfo::NO_FIRING
            },
        }
    }

    #[test]
    fn a_stream_window_is_ready_once_fired_or_passed_by_the_watermark() {
        let (mut t, _) = stream_tracker();
        assert!(!t.is_ready(&window(0)) && !t.is_ready(&window(10)));
        t.add(0, Batch::new(vec![pane(10, vec![5], 0)])).unwrap();
        assert!(!t.is_ready(&window(0)) && t.is_ready(&window(10)));
        t.advance_watermark(0, secs(10)).unwrap();
        assert!(t.is_ready(&window(0)) && !t.is_ready(&window(20)));
        assert!(!t.is_complete());
    }

    #[test]
    fn take_ready_keeps_the_elements_whose_side_window_is_not_ready() {
        let (mut t, _) = stream_tracker();
        t.add(0, Batch::new(vec![pane(10, vec![5], 0)])).unwrap();
        let at = |ts: i64| WindowedValue {
            value: ts,
            timestamp: secs(ts),
            window: window(ts - ts.rem_euclid(10)),
            pane: PaneInfo::NO_FIRING,
        };
        let mut batch = Batch::new(vec![at(1), at(12), at(25), at(15)]);
        let ready = t.take_ready(&mut batch);
        let got = |b: Batch| -> Vec<i64> {
            b.downcast::<i64>()
                .unwrap()
                .into_iter()
                .map(|w| w.value)
                .collect()
        };
        assert_eq!(got(ready), vec![12, 15]);
        assert_eq!(got(batch), vec![1, 25]);
    }

    #[test]
    fn a_later_pane_replaces_an_earlier_one_and_an_earlier_one_is_ignored() {
        let (mut t, view) = stream_tracker();
        let version = t.version();
        t.add(
            0,
            Batch::new(vec![pane(0, vec![1], 0), pane(0, vec![3], 2)]),
        )
        .unwrap();
        t.add(0, Batch::new(vec![pane(0, vec![2], 1)])).unwrap();
        assert!(t.version() > version);
        assert_eq!(*view.read(t.views(), &window(0)).unwrap(), 3);
        // A window that never fired reads as the default.
        assert_eq!(*view.read(t.views(), &window(10)).unwrap(), 0);
    }
}
