//! Element-wise composites, each a ParDo over a closure: [`Map`], [`TryMap`],
//! [`FlatMap`], [`Filter`], [`Keys`], [`Values`], [`KvSwap`], [`WithKeys`],
//! [`WithTimestamps`], [`Partition`].
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, Filter, FlatMap, Map};
//! use beam_core::testing::{PAssert, TestPipeline};
//! let p = TestPipeline::new();
//! let lines = p.apply("Lines", Create::of(vec!["a bb".to_string(), "ccc".to_string()])).unwrap();
//! let words = lines.apply("Split", FlatMap::new(|l: &String| l.split(' ').map(String::from).collect::<Vec<_>>())).unwrap();
//! let long = words.apply("Long", Filter::new(|w: &String| w.len() > 1)).unwrap();
//! let lens = long.apply("Len", Map::new(|w: &String| w.len())).unwrap();
//! PAssert::that(&lens).contains_in_any_order(vec![2, 3]).unwrap();
//! p.run().unwrap();
//! ```

use crate::coder::Element;
use crate::dofn::{check_output_timestamp, DoFn, ProcessContext, TupleTag};
use crate::error::{Result, UserError, UserResult};
use crate::pardo::ParDo;
use crate::pipeline::{PCollection, PTransform};
use crate::time::{Duration, Timestamp};
use crate::transforms::in_place::{InPlace, InPlaceStep};
use crate::window::WindowedValue;
use std::marker::PhantomData;

macro_rules! closure_dofn {
    ($(#[$doc:meta])* $name:ident, $fnname:ident, |$f:ident, $x:ident, $ctx:ident| -> $out:ty $body:block, bound $($bound:tt)+) => {
        $(#[$doc])*
        pub struct $name<I, O, F> {
            f: F,
            _t: PhantomData<fn(I) -> O>,
        }
        impl<I, O, F: Clone> Clone for $name<I, O, F> {
            fn clone(&self) -> Self {
                $name { f: self.f.clone(), _t: PhantomData }
            }
        }
        impl<I: Element, O, F> $name<I, O, F> where F: $($bound)+ {
            /// Wraps the function.
            pub fn new(f: F) -> Self {
                $name { f, _t: PhantomData }
            }
        }
        #[doc(hidden)]
        pub struct $fnname<I, O, F>(F, PhantomData<fn(I) -> O>);
        impl<I, O, F: Clone> Clone for $fnname<I, O, F> {
            fn clone(&self) -> Self {
                $fnname(self.0.clone(), PhantomData)
            }
        }
        impl<I: Element, O: 'static, F> DoFn for $fnname<I, O, F> where F: $($bound)+ {
            type In = I;
            type Out = $out;
            #[inline]
            fn process(&mut self, $x: &I, $ctx: &mut ProcessContext<'_, $out>) -> UserResult {
                let $f = &self.0;
                $body
            }
        }
        impl<I: Element, O: 'static, F> PTransform<PCollection<I>> for $name<I, O, F> where F: $($bound)+ {
            type Output = PCollection<$out>;
            fn expand(self, input: &PCollection<I>) -> Result<PCollection<$out>> {
                input.apply("ParDo", ParDo::of($fnname(self.f, PhantomData)))
            }
        }
    };
}

closure_dofn!(
    /// Applies a function to each element.
    Map, MapFn, |f, x, ctx| -> O {
        ctx.output(f(x));
        Ok(())
    },
    bound Fn(&I) -> O + Clone + Send + Sync + 'static, O: Element
);

closure_dofn!(
    /// Applies a fallible function to each element; an error fails the pipeline
    /// with the step and element.
    TryMap, TryMapFn, |f, x, ctx| -> O {
        ctx.output(f(x)?);
        Ok(())
    },
    bound Fn(&I) -> UserResult<O> + Clone + Send + Sync + 'static, O: Element
);

closure_dofn!(
    /// Applies a function to each element and its context: its timestamp,
    /// window and pane (`ctx.timestamp()`, `ctx.window()`, `ctx.pane()`), as
    /// Beam Python's `beam.Map(f, w=beam.DoFn.WindowParam)`. (To keep the
    /// context as data, [`Reify`] turns each element into its windowed value.)
    ///
    /// ```
    /// # use runner_direct as _;
    /// use beam_core::testing::PAssert;
    /// use beam_core::{Create, Duration, MapWithContext, Pipeline, PipelineOptions};
    /// use beam_core::{Timestamp, WindowFn, WindowInto, WithTimestamps};
    ///
    /// let p = Pipeline::new(PipelineOptions::default());
    /// let described = p
    ///     .apply("Clicks", Create::of(vec![65_000i64, 130_000]))?
    ///     .apply("Time", WithTimestamps::of(|ms: &i64| Timestamp::from_millis(*ms)))?
    ///     .apply("Minutes", WindowInto::new(WindowFn::fixed(Duration::from_secs(60))))?
    ///     .apply("Describe", MapWithContext::new(|ms: &i64, ctx| {
    ///         let w = ctx.window().as_interval().expect("an interval window");
    ///         format!("{ms} in [{}, {})", w.start.as_millis(), w.end.as_millis())
    ///     }))?;
    /// PAssert::that(&described).contains_in_any_order(vec![
    ///     "65000 in [60000, 120000)".to_string(),
    ///     "130000 in [120000, 180000)".to_string(),
    /// ])?;
    /// p.run()?;
    /// # Ok::<(), beam_core::BeamError>(())
    /// ```
    MapWithContext, MapWithContextFn, |f, x, ctx| -> O {
        let y = f(x, &*ctx);
        ctx.output(y);
        Ok(())
    },
    bound Fn(&I, &ProcessContext<'_, O>) -> O + Clone + Send + Sync + 'static, O: Element
);

closure_dofn!(
    /// Applies a function returning any number of outputs to each element.
    FlatMap, FlatMapFn, |f, x, ctx| -> O::Item {
        for y in f(x) {
            ctx.output(y);
        }
        Ok(())
    },
    bound Fn(&I) -> O + Clone + Send + Sync + 'static, O: IntoIterator, O::Item: Element
);

/// Keeps the elements satisfying a predicate.
pub struct Filter<T, F> {
    f: F,
    _t: PhantomData<fn(T)>,
}

impl<T: Element, F: Fn(&T) -> bool + Clone + Send + Sync + 'static> Filter<T, F> {
    /// Keeps the elements for which `f` is true.
    pub fn new(f: F) -> Self {
        Filter { f, _t: PhantomData }
    }
}

impl<T: Element, F: Fn(&T) -> bool + Clone + Send + Sync + 'static> PTransform<PCollection<T>>
    for Filter<T, F>
{
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<T>> {
        input.apply(
            "ParDo",
            InPlaceStep {
                f: KeepIf(self.f),
                _t: PhantomData,
            },
        )
    }
}

/// Filter's step: keeps an element if the predicate holds, moving it.
#[derive(Clone)]
struct KeepIf<F>(F);

impl<T: Element, F: Fn(&T) -> bool + Clone + Send + Sync + 'static> InPlace<T> for KeepIf<F> {
    #[inline]
    fn apply(&self, wv: &mut WindowedValue<T>) -> UserResult<bool> {
        Ok((self.0)(&wv.value))
    }
}

/// The keys of `(K, V)` pairs.
pub struct Keys;
/// The values of `(K, V)` pairs.
pub struct Values;
/// `(K, V)` into `(V, K)`.
pub struct KvSwap;

impl<K: Element, V: Element> PTransform<PCollection<(K, V)>> for Keys {
    type Output = PCollection<K>;
    fn expand(self, input: &PCollection<(K, V)>) -> Result<PCollection<K>> {
        input.apply("Map", Map::new(|kv: &(K, V)| kv.0.clone()))
    }
}

impl<K: Element, V: Element> PTransform<PCollection<(K, V)>> for Values {
    type Output = PCollection<V>;
    fn expand(self, input: &PCollection<(K, V)>) -> Result<PCollection<V>> {
        input.apply("Map", Map::new(|kv: &(K, V)| kv.1.clone()))
    }
}

impl<K: Element, V: Element> PTransform<PCollection<(K, V)>> for KvSwap {
    type Output = PCollection<(V, K)>;
    fn expand(self, input: &PCollection<(K, V)>) -> Result<PCollection<(V, K)>> {
        input.apply("Map", Map::new(|kv: &(K, V)| (kv.1.clone(), kv.0.clone())))
    }
}

/// Pairs each element with a key computed from it.
pub struct WithKeys<T, K, F> {
    f: F,
    _t: PhantomData<fn(T) -> K>,
}

impl<T: Element, K: Element, F: Fn(&T) -> K + Clone + Send + Sync + 'static> WithKeys<T, K, F> {
    /// Keys each element by `f(element)`.
    pub fn of(f: F) -> Self {
        WithKeys { f, _t: PhantomData }
    }
}

impl<T: Element, K: Element, F: Fn(&T) -> K + Clone + Send + Sync + 'static>
    PTransform<PCollection<T>> for WithKeys<T, K, F>
{
    type Output = PCollection<(K, T)>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<(K, T)>> {
        let f = self.f;
        input.apply("Map", Map::new(move |x: &T| (f(x), x.clone())))
    }
}

/// Sets each element's timestamp from a function of the element.
///
/// Moving a timestamp earlier than the element's current one by more than the
/// allowed skew (zero by default) fails the pipeline.
pub struct WithTimestamps<T, F> {
    f: F,
    skew: Duration,
    _t: PhantomData<fn(T)>,
}

impl<T: Element, F: Fn(&T) -> Timestamp + Clone + Send + Sync + 'static> WithTimestamps<T, F> {
    /// Timestamps each element with `f(element)`.
    pub fn of(f: F) -> Self {
        WithTimestamps {
            f,
            skew: Duration::ZERO,
            _t: PhantomData,
        }
    }
    /// Allows moving timestamps back by up to `skew`.
    pub fn with_allowed_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }
}

/// WithTimestamps' step: sets each element's timestamp in place.
#[derive(Clone)]
struct Retime<F> {
    f: F,
    skew: Duration,
}

impl<T: Element, F: Fn(&T) -> Timestamp + Clone + Send + Sync + 'static> InPlace<T> for Retime<F> {
    #[inline]
    fn apply(&self, wv: &mut WindowedValue<T>) -> UserResult<bool> {
        let t = (self.f)(&wv.value);
        check_output_timestamp(wv.timestamp, &wv.window, self.skew, t).map_err(|e| {
            UserError::msg(format!(
                "{e}; WithTimestamps::with_allowed_skew allows more"
            ))
        })?;
        wv.timestamp = t;
        Ok(true)
    }
}

impl<T: Element, F: Fn(&T) -> Timestamp + Clone + Send + Sync + 'static> PTransform<PCollection<T>>
    for WithTimestamps<T, F>
{
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<T>> {
        input.apply(
            "ParDo",
            InPlaceStep {
                f: Retime {
                    f: self.f,
                    skew: self.skew,
                },
                _t: PhantomData,
            },
        )
    }
}

/// Splits a PCollection into `n` by a function returning each element's partition.
///
/// ```
/// # use runner_direct as _;
/// use beam_core::{Create, Partition};
/// use beam_core::testing::{PAssert, TestPipeline};
/// let p = TestPipeline::new();
/// let nums = p.apply("Nums", Create::of(vec![1, 2, 3, 4, 5])).unwrap();
/// let parts = nums.apply("EvenOdd", Partition::of(2, |x: &i32, _n| (*x % 2) as usize)).unwrap();
/// PAssert::that(&parts[0]).contains_in_any_order(vec![2, 4]).unwrap();
/// PAssert::that(&parts[1]).contains_in_any_order(vec![1, 3, 5]).unwrap();
/// p.run().unwrap();
/// ```
pub struct Partition<T, F> {
    n: usize,
    f: F,
    _t: PhantomData<fn(T)>,
}

impl<T: Element, F: Fn(&T, usize) -> usize + Clone + Send + Sync + 'static> Partition<T, F> {
    /// `n` partitions; `f(element, n)` must return an index below `n`.
    pub fn of(n: usize, f: F) -> Self {
        Partition {
            n,
            f,
            _t: PhantomData,
        }
    }
}

#[derive(Clone)]
struct PartitionFn<T: Element, F> {
    f: F,
    tags: Vec<TupleTag<T>>,
}

impl<T: Element, F: Fn(&T, usize) -> usize + Clone + Send + Sync + 'static> DoFn
    for PartitionFn<T, F>
{
    type In = T;
    type Out = T;
    fn process(&mut self, x: &T, ctx: &mut ProcessContext<'_, T>) -> UserResult {
        let n = self.tags.len();
        let i = (self.f)(x, n);
        match i {
            0 => ctx.output(x.clone()),
            i if i < n => ctx.output_tagged(&self.tags[i], x.clone())?,
            _ => {
                return Err(UserError::msg(format!(
                    "partition function returned {i}, not below {n}"
                )))
            }
        }
        Ok(())
    }
}

impl<T: Element, F: Fn(&T, usize) -> usize + Clone + Send + Sync + 'static>
    PTransform<PCollection<T>> for Partition<T, F>
{
    type Output = Vec<PCollection<T>>;
    fn expand(self, input: &PCollection<T>) -> Result<Vec<PCollection<T>>> {
        if self.n == 0 {
            return Err(crate::BeamError::construction(
                input.pipeline().current_scope(),
                "Partition needs at least one partition",
            ));
        }
        let tags: Vec<TupleTag<T>> = (0..self.n).map(|i| TupleTag::new(format!("{i}"))).collect();
        let fun = PartitionFn {
            f: self.f,
            tags: tags.clone(),
        };
        if self.n == 1 {
            return Ok(vec![input.apply("ParDo", ParDo::of(fun))?]);
        }
        let mut pardo = ParDo::of(fun).with_output(&tags[1]);
        for t in &tags[2..] {
            pardo = pardo.with_output(t);
        }
        let outs = input.apply("ParDo", pardo)?;
        let mut result = vec![outs.main.clone()];
        for t in &tags[1..] {
            result.push(outs.get(t)?);
        }
        Ok(result)
    }
}

/// Makes each element's metadata part of its value: `T` into
/// `WindowedValue<T>` (value, timestamp, window, pane), like Beam's `Reify`.
pub struct Reify;

#[derive(Clone)]
struct ReifyFn<T>(PhantomData<fn(T)>);

impl<T: Element> DoFn for ReifyFn<T> {
    type In = T;
    type Out = crate::window::WindowedValue<T>;
    fn process(&mut self, x: &T, ctx: &mut ProcessContext<'_, Self::Out>) -> UserResult {
        let wv = crate::window::WindowedValue::new(
            x.clone(),
            ctx.timestamp(),
            *ctx.window(),
            *ctx.pane(),
        );
        ctx.output(wv);
        Ok(())
    }
}

impl<T: Element> PTransform<PCollection<T>> for Reify {
    type Output = PCollection<crate::window::WindowedValue<T>>;
    fn expand(self, input: &PCollection<T>) -> Result<Self::Output> {
        input.apply("ParDo", ParDo::of(ReifyFn::<T>(PhantomData)))
    }
}
