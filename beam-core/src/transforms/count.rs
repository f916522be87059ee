//! [`Count`] and [`Distinct`].

use crate::coder::{Element, Key};
use crate::combine::builtins::CountFn;
use crate::combine::{Combine, CombineGlobally};
use crate::error::Result;
use crate::gbk::add_grouping;
use crate::pipeline::{PCollection, PTransform};
use crate::runner_support::aggregation::Aggregation;
use crate::transforms::elementwise::Keys;
use std::marker::PhantomData;

/// Counting: [`Count::globally`], [`Count::per_element`], [`Count::per_key`].
///
/// ```
/// # use runner_direct as _;
/// use beam_core::{Count, Create};
/// use beam_core::testing::{PAssert, TestPipeline};
/// let p = TestPipeline::new();
/// let words = p.apply("Words", Create::of(vec!['a', 'b', 'a'])).unwrap();
/// let counts = words.apply("Count", Count::per_element()).unwrap();
/// PAssert::that(&counts).contains_in_any_order(vec![('a', 2), ('b', 1)]).unwrap();
/// p.run().unwrap();
/// ```
pub struct Count;

impl Count {
    /// The number of elements (0 for an empty global window).
    pub fn globally<T: Element>() -> CombineGlobally<CountFn<T>> {
        Combine::globally(CountFn::default())
    }
    /// `(element, occurrences)` for each distinct element per window.
    pub fn per_element<T: Key>() -> CountPerElement<T> {
        CountPerElement(PhantomData)
    }
    /// `(key, number of values)` per key and window.
    pub fn per_key<K: Key, V: Element>() -> CountPerKey<K, V> {
        CountPerKey(PhantomData)
    }
}

/// See [`Count::per_element`].
pub struct CountPerElement<T>(PhantomData<fn(T)>);
/// See [`Count::per_key`].
pub struct CountPerKey<K, V>(PhantomData<fn(K, V)>);

/// Counts elements keyed by themselves: a combine whose key is the whole
/// element, so no `(element, ())` pair is built per element.
struct CountOccurrences<T>(PhantomData<fn(T)>);

impl<T: Key> Aggregation for CountOccurrences<T> {
    type In = T;
    type K = T;
    type V = ();
    type Acc = u64;
    type Out = u64;
    fn key<'a>(&self, input: &'a T) -> &'a T {
        input
    }
    #[inline]
    fn split(&self, input: T) -> (T, ()) {
        (input, ())
    }
    fn create(&self) -> u64 {
        0
    }
    #[inline]
    fn add(&self, acc: &mut u64, _: ()) {
        *acc += 1
    }
    fn merge(&self, acc: &mut u64, other: u64) {
        *acc += other
    }
    fn extract(&self, acc: u64) -> u64 {
        acc
    }
}

struct CountPerElementPrimitive<T>(PhantomData<fn(T)>);

impl<T: Key> PTransform<PCollection<T>> for CountPerElementPrimitive<T> {
    type Output = PCollection<(T, u64)>;
    fn expand(self, input: &PCollection<T>) -> Result<Self::Output> {
        add_grouping(input, CountOccurrences::<T>(PhantomData), true)
    }
}

impl<T: Key> PTransform<PCollection<T>> for CountPerElement<T> {
    type Output = PCollection<(T, u64)>;
    fn expand(self, input: &PCollection<T>) -> Result<Self::Output> {
        input.apply("Combine.perElement", CountPerElementPrimitive(PhantomData))
    }
}

impl<K: Key, V: Element> PTransform<PCollection<(K, V)>> for CountPerKey<K, V> {
    type Output = PCollection<(K, u64)>;
    fn expand(self, input: &PCollection<(K, V)>) -> Result<Self::Output> {
        input.apply("Combine.perKey", Combine::per_key(CountFn::<V>::default()))
    }
}

/// The distinct elements of each window.
///
/// ```
/// # use runner_direct as _;
/// use beam_core::{Create, Distinct};
/// use beam_core::testing::{PAssert, TestPipeline};
/// let p = TestPipeline::new();
/// let xs = p.apply("Xs", Create::of(vec![1, 2, 1, 3, 2])).unwrap();
/// PAssert::that(&xs.apply("Distinct", Distinct::new()).unwrap()).contains_in_any_order(vec![1, 2, 3]).unwrap();
/// p.run().unwrap();
/// ```
pub struct Distinct<T>(PhantomData<fn(T)>);

impl<T: Key> Distinct<T> {
    /// A Distinct.
    pub fn new() -> Self {
        Distinct(PhantomData)
    }
}

impl<T: Key> Default for Distinct<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Key> PTransform<PCollection<T>> for Distinct<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<Self::Output> {
        input
            .apply("Count", Count::per_element())?
            .apply("Keys", Keys)
    }
}
