//! [`GroupByKey`]: the primitive that groups `(K, V)` into `(K, Vec<V>)` per key and window.

use crate::coder::{Element, Key};
use crate::error::{BeamError, Result};
use crate::graph::Primitive;
use crate::kernel::GroupingKernel;
use crate::pipeline::{OutputSpec, PCollection, PTransform};
use crate::runner_support::aggregation::{Aggregation, TableKernel};
use crate::trigger::Trigger;
use crate::windowfn::{WindowFn, WindowingStrategy};
use std::marker::PhantomData;
use std::sync::Arc;

/// Groups the values of each key and window.
///
/// Keys are compared with `Eq`/`Hash`, which must agree with their encoding. The
/// order of values in a group is unspecified. Each output carries the window,
/// a timestamp from the strategy's timestamp combiner (the window's end by
/// default) and the pane that fired it. With a merging window function
/// (sessions), the windows of each key are merged first, and the output's
/// windows can not be merged again: apply a new [`WindowInto`](crate::WindowInto)
/// before grouping once more.
///
/// ```
/// # use runner_direct as _;
/// use beam_core::{Create, GroupByKey};
/// use beam_core::testing::{PAssert, TestPipeline};
/// let p = TestPipeline::new();
/// let pairs = p.apply("Pairs", Create::of(vec![('a', 1), ('b', 2), ('a', 3)])).unwrap();
/// let grouped = pairs.apply("Group", GroupByKey::new()).unwrap();
/// PAssert::that(&grouped).satisfies(|groups: &[(char, Vec<i32>)]| {
///     let mut a: Vec<i32> = groups.iter().find(|g| g.0 == 'a').unwrap().1.clone();
///     a.sort();
///     assert_eq!(a, vec![1, 3]);
///     assert_eq!(groups.len(), 2);
/// }).unwrap();
/// p.run().unwrap();
/// ```
pub struct GroupByKey<K, V>(PhantomData<fn() -> (K, V)>);

impl<K, V> GroupByKey<K, V> {
    /// A GroupByKey.
    pub fn new() -> Self {
        GroupByKey(PhantomData)
    }
}

impl<K, V> Default for GroupByKey<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

struct Gather<K, V>(PhantomData<fn() -> (K, V)>);

impl<K: Key, V: Element> Aggregation for Gather<K, V> {
    const LIFTABLE: bool = false;
    type In = (K, V);
    type K = K;
    type V = V;
    type Acc = Vec<V>;
    type Out = Vec<V>;
    fn key<'a>(&self, input: &'a (K, V)) -> &'a K {
        &input.0
    }
    fn split(&self, input: (K, V)) -> (K, V) {
        input
    }
    fn create(&self) -> Vec<V> {
        Vec::new()
    }
    #[inline]
    fn add(&self, acc: &mut Vec<V>, value: V) {
        acc.push(value)
    }
    fn merge(&self, acc: &mut Vec<V>, mut other: Vec<V>) {
        acc.append(&mut other)
    }
    fn extract(&self, acc: Vec<V>) -> Vec<V> {
        acc
    }
}

/// Checks a grouping's input and returns its output strategy.
pub(crate) fn grouping_output_strategy(
    step: &str,
    input: &WindowingStrategy,
    bounded: bool,
) -> Result<WindowingStrategy> {
    input.check_groupable(step)?;
    if !bounded && input.window_fn == WindowFn::Global && input.trigger == Trigger::Default {
        return Err(BeamError::construction(
            step,
            "GroupByKey cannot be applied to a non-bounded PCollection in the global window without a trigger; use WindowInto with a non-global window function or a trigger",
        ));
    }
    let mut out = input.clone();
    if input.window_fn.is_merging() {
        out.window_fn = WindowFn::InvalidWindows(Box::new(input.window_fn.clone()));
    }
    Ok(out)
}

/// Adds a grouping primitive built from `agg` to the pipeline.
pub(crate) fn add_grouping<A: Aggregation>(
    input: &PCollection<A::In>,
    agg: A,
    combine: bool,
) -> Result<PCollection<(A::K, A::Out)>> {
    let p = input.pipeline().clone();
    let step = p.current_scope();
    let (windowing, bounded, _) = p.pcollection_info(input.id());
    let out_strategy = grouping_output_strategy(&step, &windowing, bounded)?;
    let kernel: Arc<dyn GroupingKernel> = Arc::new(TableKernel {
        agg: Arc::new(agg),
        strategy: Arc::new(windowing.clone()),
        step: step.into(),
    });
    let primitive = if combine {
        Primitive::CombinePerKey { kernel }
    } else {
        Primitive::GroupByKey { kernel }
    };
    let ids = p.add_primitive(
        primitive,
        vec![input.id()],
        vec![OutputSpec::of::<(A::K, A::Out)>(out_strategy, bounded)],
    )?;
    Ok(PCollection::new(p, ids[0]))
}

impl<K: Key, V: Element> PTransform<PCollection<(K, V)>> for GroupByKey<K, V> {
    type Output = PCollection<(K, Vec<V>)>;
    fn expand(self, input: &PCollection<(K, V)>) -> Result<Self::Output> {
        add_grouping(input, Gather::<K, V>(PhantomData), false)
    }
}
