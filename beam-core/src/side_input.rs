//! Side inputs: views of a PCollection, read by a ParDo per window.
//!
//! When a main input element in window `w` reads a view, the view's window
//! is the one its own window function maps `w` to (the side window
//! containing `w`'s max timestamp; a globally windowed view is visible from
//! every window). A window with no side data reads as empty, or as the
//! singleton's default.
//!
//! A view of a bounded PCollection is built once that is complete, and main
//! input waits until then. A view of a stream (an unbounded PCollection) is
//! built window by window, as Beam's streaming runners do:
//!
//! - its elements are grouped under one key with the stream's windowing and
//!   trigger, and each firing of a window *replaces* that window's contents
//!   (the grouping discards fired panes, and a firing with nothing new
//!   replaces nothing). An accumulating `Combine` in front makes each firing
//!   the running result; a discarding trigger makes it the latest elements;
//! - a main-input element is processed once every side window it reads is
//!   *ready*: it has fired, or the side input's watermark has passed its end
//!   (an empty window then reads as empty or the default). Until then the
//!   element waits and holds the ParDo's output watermark at its timestamp;
//! - a stream in the global window needs a trigger to be viewed (it would
//!   otherwise never be ready). The slowly updating side input is this case:
//!   a [`PeriodicImpulse`](crate::PeriodicImpulse) re-reads a file or a table
//!   every minute, in the global window with `Repeatedly(AfterCount(1))`,
//!   discarding, and the `Max` of each firing's `(tick, value)` pairs as a
//!   singleton.
//!
//! Windows of a view of a stream are kept for the whole run (a late main
//! element may still read one).
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, DoFn, ParDo, ProcessContext, UserResult, View, PCollectionView};
//! use beam_core::side_input::SingletonView;
//! use beam_core::testing::{PAssert, TestPipeline};
//!
//! #[derive(Clone)]
//! struct AddOffset(PCollectionView<SingletonView<i64>>);
//! impl DoFn for AddOffset {
//!     type In = i64;
//!     type Out = i64;
//!     fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
//!         let offset = *ctx.side_input(&self.0)?;
//!         ctx.output(x + offset);
//!         Ok(())
//!     }
//! }
//!
//! let p = TestPipeline::new();
//! let offset = p.apply("Offset", Create::of(vec![100i64])).unwrap()
//!     .apply("AsSingleton", View::as_singleton()).unwrap();
//! let nums = p.apply("Nums", Create::of(vec![1i64, 2])).unwrap();
//! let out = nums.apply("Add", ParDo::of(AddOffset(offset.clone())).with_side_input(&offset)).unwrap();
//! PAssert::that(&out).contains_in_any_order(vec![101, 102]).unwrap();
//! p.run().unwrap();
//! ```

use crate::batch::Batch;
use crate::coder::{Element, Key};
use crate::error::{BeamError, Result, UserError, UserResult};
use crate::gbk::GroupByKey;
use crate::graph::SideInputSpec;
use crate::kernel::{SideInputs, ViewKernel};
use crate::pipeline::{PCollection, PTransform};
use crate::transforms::elementwise::Map;
use crate::transforms::windowing::SetWindowing;
use crate::trigger::{AccumulationMode, ClosingBehavior, OnTimeBehavior, Trigger};
use crate::window::Window;
use crate::windowfn::WindowFn;
use std::any::Any;
use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

/// How a view is built from one window's elements and how a DoFn reads it.
pub trait ViewFn: Send + Sync + 'static {
    /// Element type of the PCollection.
    type Input: Element;
    /// The built form of one window.
    type Materialized: Send + Sync + 'static;
    /// What a DoFn reads.
    type Output<'a>;
    /// Builds one window's view from its elements.
    fn build(&self, values: Vec<Self::Input>) -> Self::Materialized;
    /// Reads one window's view; `None` when the window has no elements.
    fn read<'a>(
        &'a self,
        window: Option<&'a Self::Materialized>,
    ) -> std::result::Result<Self::Output<'a>, String>;
}

/// All elements, in no particular order.
pub struct IterableView<T>(PhantomData<fn() -> T>);

impl<T: Element> ViewFn for IterableView<T> {
    type Input = T;
    type Materialized = Vec<T>;
    type Output<'a> = &'a [T];
    fn build(&self, values: Vec<T>) -> Vec<T> {
        values
    }
    fn read<'a>(&'a self, w: Option<&'a Vec<T>>) -> std::result::Result<&'a [T], String> {
        Ok(w.map(Vec::as_slice).unwrap_or(&[]))
    }
}

/// Exactly one element per window (or a default for empty windows).
pub struct SingletonView<T> {
    default: Option<T>,
}

impl<T: Element> ViewFn for SingletonView<T> {
    type Input = T;
    type Materialized = Vec<T>;
    type Output<'a> = &'a T;
    fn build(&self, values: Vec<T>) -> Vec<T> {
        values
    }
    fn read<'a>(&'a self, w: Option<&'a Vec<T>>) -> std::result::Result<&'a T, String> {
        match w.map(Vec::as_slice).unwrap_or(&[]) {
            [one] => Ok(one),
            [] => self.default.as_ref().ok_or_else(|| {
                "the PCollection is empty in this window and the singleton view has no default (use View::as_singleton_with_default)".to_string()
            }),
            many => Err(format!(
                "a singleton view needs exactly one element per window, found {} (first: {:?})",
                many.len(),
                many[0]
            )),
        }
    }
}

/// A map from unique keys to values.
pub struct MapView<K, V> {
    empty: HashMap<K, V>,
}

impl<K: Key, V: Element> ViewFn for MapView<K, V> {
    type Input = (K, V);
    type Materialized = std::result::Result<HashMap<K, V>, String>;
    type Output<'a> = &'a HashMap<K, V>;
    fn build(&self, values: Vec<(K, V)>) -> Self::Materialized {
        let mut m = HashMap::with_capacity(values.len());
        for (k, v) in values {
            if m.contains_key(&k) {
                return Err(format!(
                    "duplicate key {k:?} in a map view (use View::as_multimap)"
                ));
            }
            m.insert(k, v);
        }
        Ok(m)
    }
    fn read<'a>(
        &'a self,
        w: Option<&'a Self::Materialized>,
    ) -> std::result::Result<&'a HashMap<K, V>, String> {
        match w {
            None => Ok(&self.empty),
            Some(Ok(m)) => Ok(m),
            Some(Err(e)) => Err(e.clone()),
        }
    }
}

/// A map from keys to all their values.
pub struct MultimapView<K, V> {
    empty: HashMap<K, Vec<V>>,
}

impl<K: Key, V: Element> ViewFn for MultimapView<K, V> {
    type Input = (K, V);
    type Materialized = HashMap<K, Vec<V>>;
    type Output<'a> = &'a HashMap<K, Vec<V>>;
    fn build(&self, values: Vec<(K, V)>) -> Self::Materialized {
        let mut m: HashMap<K, Vec<V>> = HashMap::new();
        for (k, v) in values {
            m.entry(k).or_default().push(v);
        }
        m
    }
    fn read<'a>(
        &'a self,
        w: Option<&'a Self::Materialized>,
    ) -> std::result::Result<Self::Output<'a>, String> {
        Ok(w.unwrap_or(&self.empty))
    }
}

struct Materialized<M> {
    per_window: HashMap<Window, Arc<M>>,
    /// For a view of a stream: the index of the pane each window holds.
    panes: HashMap<Window, i64>,
}

/// The typed kernel of a view. A view of a bounded PCollection is built
/// once it is complete, from its elements; a view of a stream is built from
/// the panes of a grouping of all its elements under one key (see
/// [`View`]), so its PCollection holds `((), Vec<V::Input>)`, one element
/// per window and firing.
struct TypedViewKernel<V> {
    view_fn: Arc<V>,
    window_fn: WindowFn,
    of_stream: bool,
}

impl<V: ViewFn> TypedViewKernel<V> {
    fn wrong_type(b: &Batch) -> String {
        format!("side input batch of {} has the wrong type", b.type_name())
    }

    fn empty() -> Materialized<V::Materialized> {
        Materialized {
            per_window: HashMap::new(),
            panes: HashMap::new(),
        }
    }

    /// Puts each pane's contents into `m` unless `m` holds a later pane of
    /// its window.
    fn put_panes(
        &self,
        m: &mut Materialized<V::Materialized>,
        panes: Vec<crate::window::WindowedValue<((), Vec<V::Input>)>>,
        fired: &mut Vec<Window>,
    ) {
        for wv in panes {
            let later = m.panes.get(&wv.window).is_some_and(|&i| i > wv.pane.index);
            if later {
                continue;
            }
            m.panes.insert(wv.window, wv.pane.index);
            m.per_window
                .insert(wv.window, Arc::new(self.view_fn.build(wv.value.1)));
            fired.push(wv.window);
        }
    }
}

impl<V: ViewFn> ViewKernel for TypedViewKernel<V> {
    fn materialize(
        &self,
        batches: Vec<Batch>,
    ) -> std::result::Result<Arc<dyn Any + Send + Sync>, String> {
        if self.of_stream {
            let mut view: Arc<dyn Any + Send + Sync> = Arc::new(Self::empty());
            for b in batches {
                self.add_panes(&mut view, b)?;
            }
            return Ok(view);
        }
        let mut by_window: HashMap<Window, Vec<V::Input>> = HashMap::new();
        for b in batches {
            let values = b.downcast::<V::Input>().map_err(|b| Self::wrong_type(&b))?;
            for wv in values {
                by_window.entry(wv.window).or_default().push(wv.value);
            }
        }
        let per_window = by_window
            .into_iter()
            .map(|(w, vals)| (w, Arc::new(self.view_fn.build(vals))))
            .collect();
        Ok(Arc::new(Materialized::<V::Materialized> {
            per_window,
            panes: HashMap::new(),
        }))
    }

    fn of_stream(&self) -> bool {
        self.of_stream
    }

    fn empty_view(&self) -> Arc<dyn Any + Send + Sync> {
        Arc::new(Self::empty())
    }

    fn add_panes(
        &self,
        view: &mut Arc<dyn Any + Send + Sync>,
        panes: Batch,
    ) -> std::result::Result<Vec<Window>, String> {
        let panes = panes
            .downcast::<((), Vec<V::Input>)>()
            .map_err(|b| Self::wrong_type(&b))?;
        let mut fired = Vec::new();
        // In place when nothing else holds the view (the usual case: bundles
        // only borrow it); else on a copy of the window map, whose contents
        // are shared.
        if let Some(m) =
            Arc::get_mut(view).and_then(|m| m.downcast_mut::<Materialized<V::Materialized>>())
        {
            self.put_panes(m, panes, &mut fired);
            return Ok(fired);
        }
        let current = view
            .downcast_ref::<Materialized<V::Materialized>>()
            .ok_or_else(|| "a view of another type".to_string())?;
        let mut m = Materialized {
            per_window: current.per_window.clone(),
            panes: current.panes.clone(),
        };
        self.put_panes(&mut m, panes, &mut fired);
        *view = Arc::new(m);
        Ok(fired)
    }

    fn side_window(&self, main: &Window) -> std::result::Result<Window, String> {
        self.window_fn.side_input_window(main)
    }
}

/// A typed handle to a side input view, given to [`ParDo::with_side_input`](crate::ParDo::with_side_input)
/// and read with [`ProcessContext::side_input`](crate::ProcessContext::side_input).
pub struct PCollectionView<V: ViewFn> {
    view_id: usize,
    pcollection: usize,
    name: String,
    window_fn: WindowFn,
    view_fn: Arc<V>,
    of_stream: bool,
}

impl<V: ViewFn> Clone for PCollectionView<V> {
    fn clone(&self) -> Self {
        PCollectionView {
            view_id: self.view_id,
            pcollection: self.pcollection,
            name: self.name.clone(),
            window_fn: self.window_fn.clone(),
            view_fn: self.view_fn.clone(),
            of_stream: self.of_stream,
        }
    }
}

impl<V: ViewFn> PCollectionView<V> {
    pub(crate) fn spec(&self) -> SideInputSpec {
        SideInputSpec {
            view_id: self.view_id,
            pcollection: self.pcollection,
            kernel: Arc::new(TypedViewKernel {
                view_fn: self.view_fn.clone(),
                window_fn: self.window_fn.clone(),
                of_stream: self.of_stream,
            }),
        }
    }

    pub(crate) fn read<'v>(
        &'v self,
        side_inputs: &'v SideInputs,
        main_window: &Window,
    ) -> UserResult<V::Output<'v>> {
        let fail = |m: String| UserError::msg(format!("side input '{}': {m}", self.name));
        let any = side_inputs
            .get(self.view_id)
            .ok_or_else(|| fail("the view was not declared with ParDo::with_side_input".into()))?;
        let m = any
            .downcast_ref::<Materialized<V::Materialized>>()
            .ok_or_else(|| fail("materialized with another type".into()))?;
        let side_window = self
            .window_fn
            .side_input_window(main_window)
            .map_err(fail)?;
        self.view_fn
            .read(m.per_window.get(&side_window).map(|m| &**m))
            .map_err(fail)
    }
}

/// Creates views: `pcoll.apply("AsMap", View::as_map())`.
pub struct View<V>(V);

impl<T: Element> View<IterableView<T>> {
    /// All elements of each window.
    pub fn as_iterable() -> Self {
        View(IterableView(PhantomData))
    }
}

impl<T: Element> View<SingletonView<T>> {
    /// The single element of each window; reading an empty window or one with
    /// several elements fails.
    pub fn as_singleton() -> Self {
        View(SingletonView { default: None })
    }
    /// The single element of each window, or `default` for an empty window.
    pub fn as_singleton_with_default(default: T) -> Self {
        View(SingletonView {
            default: Some(default),
        })
    }
}

impl<K: Key, V: Element> View<MapView<K, V>> {
    /// A map per window; duplicate keys fail when read.
    pub fn as_map() -> Self {
        View(MapView {
            empty: HashMap::new(),
        })
    }
}

impl<K: Key + Hash, V: Element> View<MultimapView<K, V>> {
    /// A multimap per window.
    pub fn as_multimap() -> Self {
        View(MultimapView {
            empty: HashMap::new(),
        })
    }
}

impl<V: ViewFn> PTransform<PCollection<V::Input>> for View<V> {
    type Output = PCollectionView<V>;
    fn expand(self, input: &PCollection<V::Input>) -> Result<PCollectionView<V>> {
        let p = input.pipeline();
        let step = p.current_scope();
        let strategy = input.windowing();
        let window_fn = strategy.window_fn.clone();
        // A window function without a side-input window mapping cannot back a view.
        if let Err(e) = window_fn.side_input_window(&Window::Global) {
            return Err(BeamError::construction(
                step,
                format!("unable to create a side-input view: {e}"),
            ));
        }
        let mut view = PCollectionView {
            view_id: 0,
            pcollection: input.id(),
            name: step.clone(),
            window_fn,
            view_fn: Arc::new(self.0),
            of_stream: false,
        };
        if !input.is_bounded() {
            if strategy.window_fn == WindowFn::Global && strategy.trigger == Trigger::Default {
                return Err(BeamError::construction(
                    step,
                    "unable to create a side-input view of an unbounded PCollection in the global window without a trigger: its one window would never be ready; use WindowInto with non-global windows, or with a trigger (Repeatedly(AfterCount(1)) for a view that follows the latest value)",
                ));
            }
            // A view of a stream follows the firings of one grouping of all
            // its elements, in discarding mode: each pane is what the input
            // fired since the last one, and it replaces the window's
            // contents. A firing with nothing new replaces nothing.
            let mut firing = strategy;
            firing.accumulation_mode = AccumulationMode::Discarding;
            firing.on_time_behavior = OnTimeBehavior::FireIfNonEmpty;
            firing.closing_behavior = ClosingBehavior::FireIfNonEmpty;
            let panes = input
                .apply("OneKey", Map::new(|x: &V::Input| ((), x.clone())))?
                .apply("LatestFiring", SetWindowing::new(firing))?
                .apply("Panes", GroupByKey::<(), V::Input>::new())?;
            view.pcollection = panes.id();
            view.of_stream = true;
        }
        view.view_id = p.next_id();
        Ok(view)
    }
}
