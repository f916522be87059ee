//! Combine functions run together: over one input (Beam Java's
//! `CombineFns.compose()`, Beam Python's `SingleInputTupleCombineFn`), or
//! each over its own part of a tuple (Beam Python's `TupleCombineFn`).
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::testing::PAssert;
//! use beam_core::{Combine, CombineFns, Create, Pipeline, PipelineOptions};
//!
//! let p = Pipeline::new(PipelineOptions::default());
//! let amounts = p.apply("Amounts", Create::of(vec![("ann".to_string(), 5i64), ("ann".to_string(), 7), ("bob".to_string(), 2)]))?;
//! let totals = amounts.apply("SumAndCount", Combine::per_key(CombineFns::sum_and_count::<i64>()))?;
//! PAssert::that(&totals).contains_in_any_order(vec![
//!     ("ann".to_string(), (12, 2)),
//!     ("bob".to_string(), (2, 1)),
//! ])?;
//! let ranges = amounts.apply("Range", Combine::per_key(CombineFns::min_and_max::<i64>()))?;
//! PAssert::that(&ranges).contains_in_any_order(vec![
//!     ("ann".to_string(), (Some(5), Some(7))),
//!     ("bob".to_string(), (Some(2), Some(2))),
//! ])?;
//! p.run()?;
//! # Ok::<(), beam_core::BeamError>(())
//! ```

use super::builtins::{CountFn, MaxFn, MinFn, SumFn, Summable};
use super::CombineFn;
use crate::Element;

/// Two combine functions over the same input; the output is the pair of
/// their outputs. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Both<A, B>(pub A, pub B);

impl<A: CombineFn, B: CombineFn<Input = A::Input>> CombineFn for Both<A, B> {
    type Input = A::Input;
    type Accum = (A::Accum, B::Accum);
    type Output = (A::Output, B::Output);
    fn create_accumulator(&self) -> Self::Accum {
        (self.0.create_accumulator(), self.1.create_accumulator())
    }
    #[inline]
    fn add_input(&self, acc: &mut Self::Accum, input: A::Input) {
        self.0.add_input(&mut acc.0, input.clone());
        self.1.add_input(&mut acc.1, input);
    }
    fn merge_accumulators(&self, acc: &mut Self::Accum, other: Self::Accum) {
        self.0.merge_accumulators(&mut acc.0, other.0);
        self.1.merge_accumulators(&mut acc.1, other.1);
    }
    fn extract_output(&self, acc: Self::Accum) -> Self::Output {
        (self.0.extract_output(acc.0), self.1.extract_output(acc.1))
    }
}

/// Two combine functions over the two parts of a pair: the first over the
/// first parts, the second over the second. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Each<A, B>(pub A, pub B);

impl<A: CombineFn, B: CombineFn> CombineFn for Each<A, B> {
    type Input = (A::Input, B::Input);
    type Accum = (A::Accum, B::Accum);
    type Output = (A::Output, B::Output);
    fn create_accumulator(&self) -> Self::Accum {
        (self.0.create_accumulator(), self.1.create_accumulator())
    }
    #[inline]
    fn add_input(&self, acc: &mut Self::Accum, (a, b): Self::Input) {
        self.0.add_input(&mut acc.0, a);
        self.1.add_input(&mut acc.1, b);
    }
    fn merge_accumulators(&self, acc: &mut Self::Accum, other: Self::Accum) {
        self.0.merge_accumulators(&mut acc.0, other.0);
        self.1.merge_accumulators(&mut acc.1, other.1);
    }
    fn extract_output(&self, acc: Self::Accum) -> Self::Output {
        (self.0.extract_output(acc.0), self.1.extract_output(acc.1))
    }
}

/// Composed combine functions; see the [module docs](self).
pub struct CombineFns;

impl CombineFns {
    /// `a` and `b` over the same input (nest for more: `both(a, both(b, c))`).
    pub fn both<A: CombineFn, B: CombineFn<Input = A::Input>>(a: A, b: B) -> Both<A, B> {
        Both(a, b)
    }
    /// `a` over the first and `b` over the second part of pairs.
    pub fn each<A: CombineFn, B: CombineFn>(a: A, b: B) -> Each<A, B> {
        Each(a, b)
    }
    /// The sum and the count of numbers: `(sum, count)`.
    pub fn sum_and_count<T: Summable>() -> Both<SumFn<T>, CountFn<T>> {
        Both(SumFn::default(), CountFn::default())
    }
    /// The smallest and the largest element: `(min, max)` (`None` for none).
    pub fn min_and_max<T: Element + PartialOrd>() -> Both<MinFn<T>, MaxFn<T>> {
        Both(MinFn::default(), MaxFn::default())
    }
}
