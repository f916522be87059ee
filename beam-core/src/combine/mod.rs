//! Combining: [`CombineFn`] and the transforms that apply one globally or per key.
//!
//! A CombineFn folds inputs into an accumulator, merges accumulators built on
//! different workers, and extracts the output. Because it can merge, runners
//! *lift* it: each worker pre-combines its share of every key before the shuffle,
//! so only one accumulator per key and worker crosses the network. The direct
//! runner pre-combines every bundle separately and merges, so a CombineFn whose
//! merge is wrong fails in tests.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Combine, CombineFn, Create};
//! use beam_core::testing::{PAssert, TestPipeline};
//!
//! /// Concatenates strings in sorted order.
//! #[derive(Clone)]
//! struct Concat;
//! impl CombineFn for Concat {
//!     type Input = String;
//!     type Accum = Vec<String>;
//!     type Output = String;
//!     fn create_accumulator(&self) -> Vec<String> { Vec::new() }
//!     fn add_input(&self, acc: &mut Vec<String>, x: String) { acc.push(x) }
//!     fn merge_accumulators(&self, acc: &mut Vec<String>, mut other: Vec<String>) { acc.append(&mut other) }
//!     fn extract_output(&self, mut acc: Vec<String>) -> String { acc.sort(); acc.concat() }
//! }
//!
//! let p = TestPipeline::new();
//! let kv = p.apply("Kv", Create::of(vec![("a".to_string(), "1".to_string()), ("a".into(), "4".into()), ("b".into(), "13".into())])).unwrap();
//! let per_key = kv.apply("Concat", Combine::per_key(Concat)).unwrap();
//! PAssert::that(&per_key).contains_in_any_order(vec![("a".to_string(), "14".to_string()), ("b".into(), "13".into())]).unwrap();
//! p.run().unwrap();
//! ```

pub mod builtins;
pub mod composed;
pub mod fanout;
pub mod latest;

use crate::coder::{Element, Key};
use crate::dofn::{DoFn, ProcessContext};
use crate::error::{BeamError, Result, UserResult};
use crate::gbk::add_grouping;
use crate::pardo::ParDo;
use crate::pipeline::{PCollection, PTransform};
use crate::runner_support::aggregation::Aggregation;
use crate::side_input::{IterableView, PCollectionView, View};
use crate::transforms::elementwise::Values;
use crate::transforms::flatten::{Flatten, PCollectionList};
use crate::transforms::roots::Impulse;
use crate::windowfn::WindowFn;
use std::marker::PhantomData;

/// Folds inputs into an output through a mergeable accumulator.
pub trait CombineFn: Clone + Send + Sync + 'static {
    /// Input type.
    type Input: Element;
    /// Accumulator type; encodable so it can be shipped between workers.
    type Accum: Element;
    /// Output type.
    type Output: Element;
    /// An accumulator for no inputs.
    fn create_accumulator(&self) -> Self::Accum;
    /// Adds one input.
    fn add_input(&self, acc: &mut Self::Accum, input: Self::Input);
    /// Merges `other` into `acc`.
    fn merge_accumulators(&self, acc: &mut Self::Accum, other: Self::Accum);
    /// The output for an accumulator.
    fn extract_output(&self, acc: Self::Accum) -> Self::Output;
}

pub(crate) struct CombineAggregation<K, F> {
    f: F,
    _k: PhantomData<fn() -> K>,
}

impl<K: Key, F: CombineFn> Aggregation for CombineAggregation<K, F> {
    type In = (K, F::Input);
    type K = K;
    type V = F::Input;
    type Acc = F::Accum;
    type Out = F::Output;
    fn key<'a>(&self, input: &'a (K, F::Input)) -> &'a K {
        &input.0
    }
    fn split(&self, input: (K, F::Input)) -> (K, F::Input) {
        input
    }
    fn create(&self) -> F::Accum {
        self.f.create_accumulator()
    }
    #[inline]
    fn add(&self, acc: &mut F::Accum, value: F::Input) {
        self.f.add_input(acc, value)
    }
    fn merge(&self, acc: &mut F::Accum, other: F::Accum) {
        self.f.merge_accumulators(acc, other)
    }
    fn extract(&self, acc: F::Accum) -> F::Output {
        self.f.extract_output(acc)
    }
}

/// Entry points: [`Combine::per_key`] and [`Combine::globally`].
pub struct Combine;

impl Combine {
    /// Combines the values of each key and window.
    pub fn per_key<K: Key, F: CombineFn>(f: F) -> CombinePerKey<K, F> {
        CombinePerKey { f, _k: PhantomData }
    }
    /// Combines all elements of each window.
    pub fn globally<F: CombineFn>(f: F) -> CombineGlobally<F> {
        CombineGlobally { f, defaults: true }
    }
}

/// Combines the values of each key and window: `(K, I)` into `(K, O)`.
pub struct CombinePerKey<K, F> {
    f: F,
    _k: PhantomData<fn() -> K>,
}

impl<K: Key, F: CombineFn> PTransform<PCollection<(K, F::Input)>> for CombinePerKey<K, F> {
    type Output = PCollection<(K, F::Output)>;
    fn expand(self, input: &PCollection<(K, F::Input)>) -> Result<Self::Output> {
        input.apply(
            "Combine.perKey",
            CombinePerKeyPrimitive(CombineAggregation {
                f: self.f,
                _k: PhantomData,
            }),
        )
    }
}

struct CombinePerKeyPrimitive<K, F>(CombineAggregation<K, F>);

impl<K: Key, F: CombineFn> PTransform<PCollection<(K, F::Input)>> for CombinePerKeyPrimitive<K, F> {
    type Output = PCollection<(K, F::Output)>;
    fn expand(self, input: &PCollection<(K, F::Input)>) -> Result<Self::Output> {
        add_grouping(input, self.0, true)
    }
}

/// Combine.globally's grouping: every element under the unit key, moved
/// into its accumulator rather than cloned into a `((), element)` pair.
struct GlobalAggregation<F>(F);

impl<F: CombineFn> Aggregation for GlobalAggregation<F> {
    type In = F::Input;
    type K = ();
    type V = F::Input;
    type Acc = F::Accum;
    type Out = F::Output;
    fn key<'a>(&self, _: &'a F::Input) -> &'a () {
        &()
    }
    #[inline]
    fn split(&self, input: F::Input) -> ((), F::Input) {
        ((), input)
    }
    fn create(&self) -> F::Accum {
        self.0.create_accumulator()
    }
    #[inline]
    fn add(&self, acc: &mut F::Accum, value: F::Input) {
        self.0.add_input(acc, value)
    }
    fn merge(&self, acc: &mut F::Accum, other: F::Accum) {
        self.0.merge_accumulators(acc, other)
    }
    fn extract(&self, acc: F::Accum) -> F::Output {
        self.0.extract_output(acc)
    }
}

struct CombineGloballyPrimitive<F>(F);

impl<F: CombineFn> PTransform<PCollection<F::Input>> for CombineGloballyPrimitive<F> {
    type Output = PCollection<((), F::Output)>;
    fn expand(self, input: &PCollection<F::Input>) -> Result<Self::Output> {
        add_grouping(input, GlobalAggregation(self.0), true)
    }
}

/// Combines all elements of each window into one output.
///
/// By default, an empty input in the global window still produces one output,
/// the combination of nothing (Beam's default value); [`without_defaults`](Self::without_defaults)
/// turns that off, and is required for inputs not in the global window.
pub struct CombineGlobally<F> {
    f: F,
    defaults: bool,
}

impl<F: CombineFn> CombineGlobally<F> {
    /// Produces nothing for empty input.
    pub fn without_defaults(mut self) -> Self {
        self.defaults = false;
        self
    }
}

#[derive(Clone)]
struct DefaultIfEmpty<F: CombineFn> {
    f: F,
    view: PCollectionView<IterableView<F::Output>>,
}

impl<F: CombineFn> DoFn for DefaultIfEmpty<F> {
    type In = ();
    type Out = F::Output;
    fn process(&mut self, _: &(), ctx: &mut ProcessContext<'_, F::Output>) -> UserResult {
        if ctx.side_input(&self.view)?.is_empty() {
            let out = self.f.extract_output(self.f.create_accumulator());
            ctx.output(out);
        }
        Ok(())
    }
}

impl<F: CombineFn> PTransform<PCollection<F::Input>> for CombineGlobally<F> {
    type Output = PCollection<F::Output>;
    fn expand(self, input: &PCollection<F::Input>) -> Result<Self::Output> {
        if self.defaults && input.windowing().window_fn != WindowFn::Global {
            return Err(BeamError::construction(
                input.pipeline().current_scope(),
                "default values are not supported in Combine::globally if the input is not in the global window; use .without_defaults()",
            ));
        }
        let combined = input.apply("Combine", CombineGloballyPrimitive(self.f.clone()))?;
        let values = combined.apply("Values", Values)?;
        if !self.defaults {
            return Ok(values);
        }
        let view = values.apply("AsIterable", View::as_iterable())?;
        let default = input.pipeline().apply("Impulse", Impulse)?.apply(
            "DefaultIfEmpty",
            ParDo::of(DefaultIfEmpty {
                f: self.f,
                view: view.clone(),
            })
            .with_side_input(&view),
        )?;
        PCollectionList::of(vec![values, default])?.apply("Flatten", Flatten)
    }
}
