//! Built-in combiners: sum, count, min, max, mean, top-N and to-list, each
//! usable globally or per key.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, Mean, Sum, Top};
//! use beam_core::testing::{PAssert, TestPipeline};
//! let p = TestPipeline::new();
//! let xs = p.apply("Xs", Create::of(vec![3i64, 1, 4, 1, 5])).unwrap();
//! PAssert::that(&xs.apply("Sum", Sum::globally()).unwrap()).contains_in_any_order(vec![14]).unwrap();
//! PAssert::that(&xs.apply("Mean", Mean::globally()).unwrap()).contains_in_any_order(vec![2.8]).unwrap();
//! PAssert::that(&xs.apply("Top2", Top::largest(2)).unwrap()).contains_in_any_order(vec![vec![5, 4]]).unwrap();
//! p.run().unwrap();
//! ```

use super::{Combine, CombineFn, CombineGlobally, CombinePerKey};
use crate::coder::{Element, Key};
use crate::error::Result;
use crate::pipeline::{PCollection, PTransform};
use crate::transforms::elementwise::FlatMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

macro_rules! unit_fn {
    ($name:ident) => {
        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name(PhantomData)
            }
        }
        impl<T> Default for $name<T> {
            fn default() -> Self {
                $name(PhantomData)
            }
        }
    };
}

/// Numbers [`Sum`] can add. Integers are added in a wider accumulator
/// (`i128` or `u128`) and the total is checked when it is output: a total that
/// does not fit the element type fails the step (naming it and the total)
/// instead of wrapping to a plausible wrong number, and whether it fits never
/// depends on the order the elements were added in. Sum as `i128` (or `f64`)
/// when totals may be larger than the element type. Floating-point sums
/// follow IEEE 754.
pub trait Summable: Element + Default {
    /// The accumulator type.
    type Wide: Element + Default;
    /// The value as an accumulator.
    fn widen(self) -> Self::Wide;
    /// Adds to an accumulator (panics, failing the step, if even it overflows).
    fn add_wide(acc: &mut Self::Wide, x: Self::Wide);
    /// The total as the element type (panics, failing the step, if it does not fit).
    fn narrow(total: Self::Wide) -> Self;
}

macro_rules! summable_int {
    ($wide:ty: $($t:ty),*) => {$(
        impl Summable for $t {
            type Wide = $wide;
            #[inline]
            fn widen(self) -> $wide {
                self as $wide
            }
            #[inline]
            fn add_wide(acc: &mut $wide, x: $wide) {
                match acc.checked_add(x) {
                    Some(sum) => *acc = sum,
                    None => overflow(stringify!($wide), &*acc, &x),
                }
            }
            fn narrow(total: $wide) -> $t {
                <$t>::try_from(total).unwrap_or_else(|_| too_large(stringify!($t), &total))
            }
        }
    )*};
}
summable_int!(i128: i8, i16, i32, i64, i128, isize);
summable_int!(u128: u8, u16, u32, u64, u128, usize);

macro_rules! summable_float {
    ($($t:ty),*) => {$(
        impl Summable for $t {
            type Wide = $t;
            #[inline]
            fn widen(self) -> $t {
                self
            }
            #[inline]
            fn add_wide(acc: &mut $t, x: $t) {
                *acc += x
            }
            fn narrow(total: $t) -> $t {
                total
            }
        }
    )*};
}
summable_float!(f32, f64);

#[cold]
#[inline(never)]
fn overflow(ty: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display) -> ! {
    panic!("integer overflow: the sum {a} + {b} does not fit in {ty}")
}

#[cold]
#[inline(never)]
fn too_large(ty: &str, total: &dyn std::fmt::Display) -> ! {
    panic!("integer overflow: the total {total} does not fit in {ty} (sum a wider type, such as i128, to total larger values)")
}

/// Sums numbers (see [`Summable`] for overflow).
pub struct SumFn<T>(PhantomData<fn(T)>);
unit_fn!(SumFn);

impl<T: Summable> CombineFn for SumFn<T> {
    type Input = T;
    type Accum = T::Wide;
    type Output = T;
    fn create_accumulator(&self) -> T::Wide {
        T::Wide::default()
    }
    #[inline]
    fn add_input(&self, acc: &mut T::Wide, x: T) {
        T::add_wide(acc, x.widen())
    }
    fn merge_accumulators(&self, acc: &mut T::Wide, other: T::Wide) {
        T::add_wide(acc, other)
    }
    fn extract_output(&self, acc: T::Wide) -> T {
        T::narrow(acc)
    }
}

/// Counts elements.
pub struct CountFn<T>(PhantomData<fn(T)>);
unit_fn!(CountFn);

impl<T: Element> CombineFn for CountFn<T> {
    type Input = T;
    type Accum = u64;
    type Output = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    #[inline]
    fn add_input(&self, acc: &mut u64, _: T) {
        *acc = acc
            .checked_add(1)
            .unwrap_or_else(|| overflow("u64", acc, &1))
    }
    fn merge_accumulators(&self, acc: &mut u64, other: u64) {
        *acc = acc
            .checked_add(other)
            .unwrap_or_else(|| overflow("u64", acc, &other))
    }
    fn extract_output(&self, acc: u64) -> u64 {
        acc
    }
}

/// The smallest element (`None` for no input).
pub struct MinFn<T>(PhantomData<fn(T)>);
unit_fn!(MinFn);
/// The largest element (`None` for no input).
pub struct MaxFn<T>(PhantomData<fn(T)>);
unit_fn!(MaxFn);

fn keep<T: PartialOrd>(acc: &mut Option<T>, x: T, better: std::cmp::Ordering) {
    match acc {
        Some(a) if x.partial_cmp(a) != Some(better) => {}
        _ => *acc = Some(x),
    }
}

impl<T: Element + PartialOrd> CombineFn for MinFn<T> {
    type Input = T;
    type Accum = Option<T>;
    type Output = Option<T>;
    fn create_accumulator(&self) -> Option<T> {
        None
    }
    fn add_input(&self, acc: &mut Option<T>, x: T) {
        keep(acc, x, std::cmp::Ordering::Less)
    }
    fn merge_accumulators(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(x) = other {
            keep(acc, x, std::cmp::Ordering::Less)
        }
    }
    fn extract_output(&self, acc: Option<T>) -> Option<T> {
        acc
    }
}

impl<T: Element + PartialOrd> CombineFn for MaxFn<T> {
    type Input = T;
    type Accum = Option<T>;
    type Output = Option<T>;
    fn create_accumulator(&self) -> Option<T> {
        None
    }
    fn add_input(&self, acc: &mut Option<T>, x: T) {
        keep(acc, x, std::cmp::Ordering::Greater)
    }
    fn merge_accumulators(&self, acc: &mut Option<T>, other: Option<T>) {
        if let Some(x) = other {
            keep(acc, x, std::cmp::Ordering::Greater)
        }
    }
    fn extract_output(&self, acc: Option<T>) -> Option<T> {
        acc
    }
}

/// Numbers that can be averaged.
pub trait AsF64 {
    /// The value as `f64`.
    fn as_f64(&self) -> f64;
}

macro_rules! as_f64 {
    ($($t:ty),*) => { $(impl AsF64 for $t { fn as_f64(&self) -> f64 { *self as f64 } })* };
}
as_f64!(i8, i16, i32, i64, u8, u16, u32, u64, usize, isize, f32, f64);

/// Running sum and count of a mean.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MeanAccumulator {
    /// Sum of inputs.
    pub sum: f64,
    /// Number of inputs.
    pub count: u64,
}

/// The arithmetic mean (NaN for no input).
pub struct MeanFn<T>(PhantomData<fn(T)>);
unit_fn!(MeanFn);

impl<T: Element + AsF64> CombineFn for MeanFn<T> {
    type Input = T;
    type Accum = MeanAccumulator;
    type Output = f64;
    fn create_accumulator(&self) -> MeanAccumulator {
        MeanAccumulator::default()
    }
    fn add_input(&self, acc: &mut MeanAccumulator, x: T) {
        acc.sum += x.as_f64();
        acc.count += 1;
    }
    fn merge_accumulators(&self, acc: &mut MeanAccumulator, other: MeanAccumulator) {
        acc.sum += other.sum;
        acc.count += other.count;
    }
    fn extract_output(&self, acc: MeanAccumulator) -> f64 {
        if acc.count == 0 {
            f64::NAN
        } else {
            acc.sum / acc.count as f64
        }
    }
}

/// The `n` largest (or smallest) elements, best first.
#[derive(Clone)]
pub struct TopFn<T> {
    n: usize,
    largest: bool,
    _t: PhantomData<fn(T)>,
}

impl<T: Ord> TopFn<T> {
    fn order(&self, acc: &mut Vec<T>) {
        if self.largest {
            acc.sort_unstable_by(|a, b| b.cmp(a));
        } else {
            acc.sort_unstable();
        }
        acc.truncate(self.n);
    }
}

impl<T: Element + Ord> CombineFn for TopFn<T> {
    type Input = T;
    type Accum = Vec<T>;
    type Output = Vec<T>;
    fn create_accumulator(&self) -> Vec<T> {
        Vec::new()
    }
    fn add_input(&self, acc: &mut Vec<T>, x: T) {
        acc.push(x);
        if acc.len() > 2 * self.n.max(8) {
            self.order(acc);
        }
    }
    fn merge_accumulators(&self, acc: &mut Vec<T>, mut other: Vec<T>) {
        acc.append(&mut other);
        if acc.len() > 2 * self.n.max(8) {
            self.order(acc);
        }
    }
    fn extract_output(&self, mut acc: Vec<T>) -> Vec<T> {
        self.order(&mut acc);
        acc
    }
}

/// All elements as a list (in no particular order).
pub struct ToListFn<T>(PhantomData<fn(T)>);
unit_fn!(ToListFn);

impl<T: Element> CombineFn for ToListFn<T> {
    type Input = T;
    type Accum = Vec<T>;
    type Output = Vec<T>;
    fn create_accumulator(&self) -> Vec<T> {
        Vec::new()
    }
    fn add_input(&self, acc: &mut Vec<T>, x: T) {
        acc.push(x)
    }
    fn merge_accumulators(&self, acc: &mut Vec<T>, mut other: Vec<T>) {
        acc.append(&mut other)
    }
    fn extract_output(&self, acc: Vec<T>) -> Vec<T> {
        acc
    }
}

/// Sums: [`Sum::globally`], [`Sum::per_key`].
pub struct Sum;
impl Sum {
    /// The sum of all elements (0 for an empty global window).
    pub fn globally<T: Summable>() -> CombineGlobally<SumFn<T>> {
        Combine::globally(SumFn::default())
    }
    /// The sum of each key's values.
    pub fn per_key<K: Key, T: Summable>() -> CombinePerKey<K, SumFn<T>> {
        Combine::per_key(SumFn::default())
    }
}

/// Means: [`Mean::globally`], [`Mean::per_key`].
pub struct Mean;
impl Mean {
    /// The mean of all elements.
    pub fn globally<T: Element + AsF64>() -> CombineGlobally<MeanFn<T>> {
        Combine::globally(MeanFn::default())
    }
    /// The mean of each key's values.
    pub fn per_key<K: Key, T: Element + AsF64>() -> CombinePerKey<K, MeanFn<T>> {
        Combine::per_key(MeanFn::default())
    }
}

/// Lists: [`ToList::globally`], [`ToList::per_key`].
pub struct ToList;
impl ToList {
    /// All elements as one list.
    pub fn globally<T: Element>() -> CombineGlobally<ToListFn<T>> {
        Combine::globally(ToListFn::default())
    }
    /// Each key's values as a list.
    pub fn per_key<K: Key, T: Element>() -> CombinePerKey<K, ToListFn<T>> {
        Combine::per_key(ToListFn::default())
    }
}

/// Top-N: [`Top::largest`], [`Top::smallest`], and their per-key forms.
pub struct Top;
impl Top {
    /// The `n` largest elements, largest first.
    pub fn largest<T: Element + Ord>(n: usize) -> CombineGlobally<TopFn<T>> {
        Combine::globally(TopFn {
            n,
            largest: true,
            _t: PhantomData,
        })
    }
    /// The `n` smallest elements, smallest first.
    pub fn smallest<T: Element + Ord>(n: usize) -> CombineGlobally<TopFn<T>> {
        Combine::globally(TopFn {
            n,
            largest: false,
            _t: PhantomData,
        })
    }
    /// The `n` largest values of each key.
    pub fn largest_per_key<K: Key, T: Element + Ord>(n: usize) -> CombinePerKey<K, TopFn<T>> {
        Combine::per_key(TopFn {
            n,
            largest: true,
            _t: PhantomData,
        })
    }
    /// The `n` smallest values of each key.
    pub fn smallest_per_key<K: Key, T: Element + Ord>(n: usize) -> CombinePerKey<K, TopFn<T>> {
        Combine::per_key(TopFn {
            n,
            largest: false,
            _t: PhantomData,
        })
    }
}

/// Minimum: [`Min::globally`] (`None` for empty input), [`Min::per_key`].
pub struct Min;
/// Maximum: [`Max::globally`] (`None` for empty input), [`Max::per_key`].
pub struct Max;

/// Per-key min or max, without the `Option` (a key always has a value).
pub struct ExtremumPerKey<K, T, F> {
    f: F,
    _t: PhantomData<fn(K, T)>,
}

impl<
        K: Key,
        T: Element + PartialOrd + DeserializeOwned,
        F: CombineFn<Input = T, Output = Option<T>>,
    > PTransform<PCollection<(K, T)>> for ExtremumPerKey<K, T, F>
{
    type Output = PCollection<(K, T)>;
    fn expand(self, input: &PCollection<(K, T)>) -> Result<PCollection<(K, T)>> {
        input.apply("Combine", Combine::per_key(self.f))?.apply(
            "Unwrap",
            FlatMap::new(|kv: &(K, Option<T>)| kv.1.clone().map(|v| (kv.0.clone(), v))),
        )
    }
}

impl Min {
    /// The smallest element.
    pub fn globally<T: Element + PartialOrd>() -> CombineGlobally<MinFn<T>> {
        Combine::globally(MinFn::default())
    }
    /// The smallest value of each key.
    pub fn per_key<K: Key, T: Element + PartialOrd>() -> ExtremumPerKey<K, T, MinFn<T>> {
        ExtremumPerKey {
            f: MinFn::default(),
            _t: PhantomData,
        }
    }
}

impl Max {
    /// The largest element.
    pub fn globally<T: Element + PartialOrd>() -> CombineGlobally<MaxFn<T>> {
        Combine::globally(MaxFn::default())
    }
    /// The largest value of each key.
    pub fn per_key<K: Key, T: Element + PartialOrd>() -> ExtremumPerKey<K, T, MaxFn<T>> {
        ExtremumPerKey {
            f: MaxFn::default(),
            _t: PhantomData,
        }
    }
}
