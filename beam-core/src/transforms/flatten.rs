//! [`Flatten`]: the union of PCollections of one type, and [`Reshuffle`].

use crate::coder::Element;
use crate::error::{BeamError, Result};
use crate::graph::Primitive;
use crate::pipeline::{OutputSpec, PCollection, PTransform, Pipeline};
use crate::windowfn::{WindowFn, WindowingStrategy};

/// A list of PCollections of one type (possibly empty), the input of [`Flatten`].
pub struct PCollectionList<T> {
    pipeline: Pipeline,
    items: Vec<PCollection<T>>,
}

impl<T: Element> PCollectionList<T> {
    /// An empty list in `pipeline`.
    pub fn empty(pipeline: &Pipeline) -> Self {
        PCollectionList {
            pipeline: pipeline.clone(),
            items: Vec::new(),
        }
    }
    /// A list of the given PCollections (at least one).
    pub fn of(items: Vec<PCollection<T>>) -> Result<Self> {
        let pipeline = items.first().map(|p| p.pipeline().clone()).ok_or_else(|| {
            BeamError::construction(
                "",
                "PCollectionList::of needs an element; use PCollectionList::empty",
            )
        })?;
        Ok(PCollectionList { pipeline, items })
    }
    /// This list with `item` appended.
    pub fn and(mut self, item: PCollection<T>) -> Self {
        self.items.push(item);
        self
    }
    /// Applies `transform` to the list.
    pub fn apply<X: PTransform<PCollectionList<T>>>(
        &self,
        name: &str,
        transform: X,
    ) -> Result<X::Output> {
        self.pipeline.apply_to(name, self, transform)
    }
    /// The PCollections.
    pub fn items(&self) -> &[PCollection<T>] {
        &self.items
    }
}

/// Merges several PCollections of one type into one.
///
/// The inputs must have compatible window functions (equal, or all sessions).
/// Flattening nothing gives an empty PCollection; one input gives a new
/// PCollection with its elements.
///
/// ```
/// # use runner_direct as _;
/// use beam_core::{Create, Flatten, PCollectionList};
/// use beam_core::testing::{PAssert, TestPipeline};
/// let p = TestPipeline::new();
/// let a = p.apply("A", Create::of(vec![1, 2])).unwrap();
/// let b = p.apply("B", Create::of(vec![3])).unwrap();
/// let all = PCollectionList::of(vec![a, b]).unwrap().apply("Flatten", Flatten).unwrap();
/// PAssert::that(&all).contains_in_any_order(vec![1, 2, 3]).unwrap();
/// p.run().unwrap();
/// ```
pub struct Flatten;

fn compatible(a: &WindowFn, b: &WindowFn) -> bool {
    a == b || (matches!(a, WindowFn::Sessions { .. }) && matches!(b, WindowFn::Sessions { .. }))
}

impl<T: Element> PTransform<PCollectionList<T>> for Flatten {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollectionList<T>) -> Result<PCollection<T>> {
        let p = input.pipeline.clone();
        let step = p.current_scope();
        let mut windowing = WindowingStrategy::global();
        let mut bounded = true;
        for (i, pc) in input.items.iter().enumerate() {
            let w = pc.windowing();
            if i == 0 {
                windowing = w;
            } else if !compatible(&windowing.window_fn, &w.window_fn) {
                return Err(BeamError::construction(
                    step,
                    format!(
                        "inputs to Flatten had incompatible window functions: {:?} and {:?}",
                        windowing.window_fn, w.window_fn
                    ),
                ));
            }
            bounded &= pc.is_bounded();
        }
        let ids = p.add_primitive(
            Primitive::Flatten,
            input.items.iter().map(|pc| pc.id()).collect(),
            vec![OutputSpec::of::<T>(windowing, bounded)],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}

/// Redistributes elements across workers, breaking fusion. Elements, timestamps,
/// windows and panes are unchanged, and late data is never dropped.
pub struct Reshuffle;

impl<T: Element> PTransform<PCollection<T>> for Reshuffle {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<T>> {
        let p = input.pipeline().clone();
        let ids = p.add_primitive(
            Primitive::Reshuffle,
            vec![input.id()],
            vec![OutputSpec::of::<T>(input.windowing(), input.is_bounded())],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}
