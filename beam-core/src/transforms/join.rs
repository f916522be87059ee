//! [`InnerJoin`]: the pairs of a left and a right value with the same key, per
//! window (Beam's `Join.innerJoin`, Spark's `join`), over [`CoGroupByKey`].
//!
//! A key that holds most of the left side would put all its rows on one
//! worker. [`InnerJoin::with_skewed_keys`] does what Spark's adaptive skew
//! join does: the hot keys are found from a sample of the left side (every
//! 16th row; a key is hot in a window when its share of the sampled rows
//! reaches `min_share`), their left rows are spread round-robin over
//! `fanout` groups, and their right rows are sent to each of those groups.
//! The pairs are those of the plain join, whatever is hot.
//!
//! The hot keys reach the spreading steps as a side input per window, so a
//! skew join needs windows with a side-input mapping (not sessions) and the
//! default trigger (a trigger would fire the groups of a hot key at other
//! moments than one group); it is refused otherwise when the pipeline is
//! built.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::testing::{PAssert, TestPipeline};
//! use beam_core::{Create, InnerJoin};
//! let p = TestPipeline::new();
//! let s = |x: &str| x.to_string();
//! let clicks = p.apply("Clicks", Create::of(vec![(s("home"), 1u32), (s("home"), 2), (s("cart"), 3)]))?;
//! let pages = p.apply("Pages", Create::of(vec![(s("home"), s("Home")), (s("faq"), s("FAQ"))]))?;
//! let joined = clicks.apply("Join", InnerJoin::with(&pages).with_skewed_keys(4, 0.25))?;
//! PAssert::that(&joined).contains_in_any_order(vec![
//!     (s("home"), (1, s("Home"))),
//!     (s("home"), (2, s("Home"))),
//! ])?;
//! p.run()?;
//! # Ok::<(), beam_core::BeamError>(())
//! ```

use crate::coder::{Element, Key};
use crate::combine::{Combine, CombineFn};
use crate::dofn::{DoFn, ProcessContext, TupleTag};
use crate::error::{BeamError, Result, UserResult};
use crate::pardo::ParDo;
use crate::pipeline::{PCollection, PTransform};
use crate::side_input::{PCollectionView, SingletonView, View};
use crate::transforms::cogbk::{CoGbkResult, CoGroupByKey, KeyedPCollectionTuple};
use crate::transforms::count::Count;
use crate::trigger::Trigger;
use std::collections::HashSet;
use std::marker::PhantomData;

/// Every how many left rows one is sampled to find hot keys.
const SAMPLE_EVERY: u64 = 16;

/// An inner join of the input (left) with another keyed PCollection
/// (right); see the [module docs](self).
pub struct InnerJoin<K, R> {
    right: PCollection<(K, R)>,
    skew: Option<(u32, f64)>,
}

impl<K: Key, R: Element> InnerJoin<K, R> {
    /// Joins the input with `right`.
    pub fn with(right: &PCollection<(K, R)>) -> Self {
        InnerJoin {
            right: right.clone(),
            skew: None,
        }
    }
    /// Spreads each hot key's left rows over `fanout` groups (and sends its
    /// right rows to each); a key is hot when it has at least `min_share`
    /// (0 to 1) of the sampled left rows of its window.
    pub fn with_skewed_keys(mut self, fanout: u32, min_share: f64) -> Self {
        self.skew = Some((fanout, min_share));
        self
    }
}

impl<K: Key, L: Element, R: Element> PTransform<PCollection<(K, L)>> for InnerJoin<K, R> {
    type Output = PCollection<(K, (L, R))>;
    fn expand(self, left: &PCollection<(K, L)>) -> Result<Self::Output> {
        let Some((fanout, min_share)) = self.skew else {
            let (l, r) = (TupleTag::<L>::new("left"), TupleTag::<R>::new("right"));
            return KeyedPCollectionTuple::of(&l, left)
                .and(&r, &self.right)
                .apply("CoGroupByKey", CoGroupByKey)?
                .apply("Pairs", ParDo::of(Pairs::<K, K, L, R> { l, r, key: |k| k }));
        };
        let step = left.pipeline().current_scope();
        let strategy = left.windowing();
        let refuse = |why: String| Err(BeamError::construction(step.clone(), why));
        if fanout < 1 || !(min_share > 0.0 && min_share <= 1.0) {
            return refuse(format!(
                "a skew join needs a fanout of at least 1 and a hot-key share in (0, 1], not {fanout} and {min_share}"
            ));
        }
        if strategy.trigger != Trigger::Default {
            return refuse(format!(
                "a skew join groups a hot key in several groups, and the trigger '{}' would fire them at other moments than one group; join without with_skewed_keys, or use the default trigger",
                strategy.trigger
            ));
        }
        if let Err(e) = strategy.window_fn.side_input_window(&crate::Window::Global) {
            return refuse(format!(
                "a skew join finds hot keys per window, as a side input: {e}"
            ));
        }
        let hot = left
            .apply(
                "SampleKeys",
                ParDo::of(SampleKeys::<K, L> {
                    seen: 0,
                    _t: PhantomData,
                }),
            )?
            .apply("SampledPerKey", Count::per_element())?
            .apply(
                "HotKeys",
                Combine::globally(HotKeysFn::<K> {
                    min_share,
                    _k: PhantomData,
                })
                .without_defaults(),
            )?
            .apply("AsView", View::as_singleton_with_default(HashSet::new()))?;
        let salted_left = left.apply(
            "SpreadHotLeft",
            ParDo::of(SpreadLeft::<K, L> {
                hot: hot.clone(),
                fanout,
                next: 0,
                _l: PhantomData,
            })
            .with_side_input(&hot),
        )?;
        let salted_right = self.right.apply(
            "CopyHotRight",
            ParDo::of(CopyRight::<K, R> {
                hot: hot.clone(),
                fanout,
                _r: PhantomData,
            })
            .with_side_input(&hot),
        )?;
        let (l, r) = (TupleTag::<L>::new("left"), TupleTag::<R>::new("right"));
        KeyedPCollectionTuple::of(&l, &salted_left)
            .and(&r, &salted_right)
            .apply("CoGroupByKey", CoGroupByKey)?
            .apply(
                "Pairs",
                ParDo::of(Pairs::<(K, u32), K, L, R> {
                    l,
                    r,
                    key: |(k, _)| k,
                }),
            )
    }
}

/// Every pair of one key's left and right values.
fn pairs<K: Key, L: Element, R: Element>(
    k: &K,
    result: &CoGbkResult,
    l: &TupleTag<L>,
    r: &TupleTag<R>,
    ctx: &mut ProcessContext<'_, (K, (L, R))>,
) -> UserResult {
    let rights = result.get(r)?;
    if rights.is_empty() {
        return Ok(());
    }
    for left in result.get(l)? {
        for right in &rights {
            ctx.output((k.clone(), (left.clone(), right.clone())));
        }
    }
    Ok(())
}

/// The pairs of each group, keyed by the join key of its group key `G`
/// (the key itself, or the key of a salted key).
struct Pairs<G, K, L, R> {
    l: TupleTag<L>,
    r: TupleTag<R>,
    key: fn(&G) -> &K,
}

impl<G, K, L, R> Clone for Pairs<G, K, L, R> {
    fn clone(&self) -> Self {
        Pairs {
            l: self.l.clone(),
            r: self.r.clone(),
            key: self.key,
        }
    }
}

impl<G: Key, K: Key, L: Element, R: Element> DoFn for Pairs<G, K, L, R> {
    type In = (G, CoGbkResult);
    type Out = (K, (L, R));
    fn process(
        &mut self,
        (g, res): &Self::In,
        ctx: &mut ProcessContext<'_, Self::Out>,
    ) -> UserResult {
        pairs((self.key)(g), res, &self.l, &self.r, ctx)
    }
}

/// The key of every `SAMPLE_EVERY`-th left row.
struct SampleKeys<K, L> {
    seen: u64,
    _t: PhantomData<fn() -> (K, L)>,
}

impl<K, L> Clone for SampleKeys<K, L> {
    fn clone(&self) -> Self {
        SampleKeys {
            seen: 0,
            _t: PhantomData,
        }
    }
}

impl<K: Key, L: Element> DoFn for SampleKeys<K, L> {
    type In = (K, L);
    type Out = K;
    fn process(&mut self, (k, _): &(K, L), ctx: &mut ProcessContext<'_, K>) -> UserResult {
        if self.seen.is_multiple_of(SAMPLE_EVERY) {
            ctx.output(k.clone());
        }
        self.seen += 1;
        Ok(())
    }
}

/// The keys with at least `min_share` of the sampled rows. Its inputs are
/// whole counts (one per key and window), and at most `1 / min_share` keys
/// can each hold `min_share` of the total, so an accumulator keeps only that
/// many of the largest counts: its memory is bounded by the share, not by
/// the number of distinct keys, and the result is exact.
struct HotKeysFn<K> {
    min_share: f64,
    _k: PhantomData<fn() -> K>,
}

impl<K> Clone for HotKeysFn<K> {
    fn clone(&self) -> Self {
        HotKeysFn {
            min_share: self.min_share,
            _k: PhantomData,
        }
    }
}

impl<K> HotKeysFn<K> {
    /// How many of the largest counts can hold a hot key.
    fn candidates(&self) -> usize {
        if self.min_share > 0.0 {
            (1.0 / self.min_share).ceil() as usize + 1
        } else {
            usize::MAX
        }
    }
    /// Keeps the largest counts once twice as many as needed are held.
    fn bound(&self, counts: &mut Vec<(K, u64)>) {
        let keep = self.candidates();
        if counts.len() / 2 > keep {
            counts.select_nth_unstable_by(keep, |a, b| b.1.cmp(&a.1));
            counts.truncate(keep);
        }
    }
}

impl<K: Key> CombineFn for HotKeysFn<K> {
    type Input = (K, u64);
    type Accum = (u64, Vec<(K, u64)>);
    type Output = HashSet<K>;
    fn create_accumulator(&self) -> Self::Accum {
        (0, Vec::new())
    }
    fn add_input(&self, acc: &mut Self::Accum, input: (K, u64)) {
        acc.0 += input.1;
        acc.1.push(input);
        self.bound(&mut acc.1);
    }
    fn merge_accumulators(&self, acc: &mut Self::Accum, other: Self::Accum) {
        acc.0 += other.0;
        acc.1.extend(other.1);
        self.bound(&mut acc.1);
    }
    fn extract_output(&self, (total, counts): Self::Accum) -> HashSet<K> {
        let min = (total as f64 * self.min_share).max(1.0);
        counts
            .into_iter()
            .filter(|(_, n)| *n as f64 >= min)
            .map(|(k, _)| k)
            .collect()
    }
}

type HotView<K> = PCollectionView<SingletonView<HashSet<K>>>;

/// A hot key's left rows round-robin over `fanout` salts; the others at 0.
struct SpreadLeft<K: Key, L> {
    hot: HotView<K>,
    fanout: u32,
    next: u32,
    _l: PhantomData<fn() -> L>,
}

impl<K: Key, L> Clone for SpreadLeft<K, L> {
    fn clone(&self) -> Self {
        SpreadLeft {
            hot: self.hot.clone(),
            fanout: self.fanout,
            next: 0,
            _l: PhantomData,
        }
    }
}

impl<K: Key, L: Element> DoFn for SpreadLeft<K, L> {
    type In = (K, L);
    type Out = ((K, u32), L);
    fn process(&mut self, (k, v): &(K, L), ctx: &mut ProcessContext<'_, Self::Out>) -> UserResult {
        let salt = if ctx.side_input(&self.hot)?.contains(k) {
            self.next = (self.next + 1) % self.fanout;
            self.next
        } else {
            0
        };
        ctx.output(((k.clone(), salt), v.clone()));
        Ok(())
    }
}

/// A hot key's right rows to every salt; the others to 0.
struct CopyRight<K: Key, R> {
    hot: HotView<K>,
    fanout: u32,
    _r: PhantomData<fn() -> R>,
}

impl<K: Key, R> Clone for CopyRight<K, R> {
    fn clone(&self) -> Self {
        CopyRight {
            hot: self.hot.clone(),
            fanout: self.fanout,
            _r: PhantomData,
        }
    }
}

impl<K: Key, R: Element> DoFn for CopyRight<K, R> {
    type In = (K, R);
    type Out = ((K, u32), R);
    fn process(&mut self, (k, v): &(K, R), ctx: &mut ProcessContext<'_, Self::Out>) -> UserResult {
        let salts = if ctx.side_input(&self.hot)?.contains(k) {
            self.fanout
        } else {
            1
        };
        for salt in 0..salts {
            ctx.output(((k.clone(), salt), v.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hot_keys_are_exact_with_a_bounded_accumulator() {
        let f = HotKeysFn::<u64> {
            min_share: 0.01,
            _k: PhantomData,
        };
        // 50 000 keys of count 1..=3, and five hot ones.
        let mut counts: Vec<(u64, u64)> = (0..50_000).map(|k| (k, 1 + k % 3)).collect();
        counts.extend((0..5).map(|k| (1_000_000 + k, 5_000 + k)));
        let total: u64 = counts.iter().map(|c| c.1).sum();
        let exact: HashSet<u64> = counts
            .iter()
            .filter(|c| c.1 as f64 >= total as f64 * 0.01)
            .map(|c| c.0)
            .collect();
        assert_eq!(exact.len(), 5);
        // Spread over accumulators in an order that puts the hot keys last.
        let mut parts: Vec<_> = (0..7).map(|_| f.create_accumulator()).collect();
        for (i, c) in counts.into_iter().enumerate() {
            f.add_input(&mut parts[i % 7], c);
            assert!(parts[i % 7].1.len() <= 2 * f.candidates() + 1);
        }
        let mut acc = f.create_accumulator();
        for part in parts {
            f.merge_accumulators(&mut acc, part);
        }
        assert!(acc.1.len() <= 2 * f.candidates() + 1);
        assert_eq!(f.extract_output(acc), exact);
    }
}
