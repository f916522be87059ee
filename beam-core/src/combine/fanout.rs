//! Hot-key fanout for [`CombinePerKey`](super::CombinePerKey): the values of a
//! hot key are spread over `n` intermediate keys, combined partially there
//! (in parallel, on as many workers), and the partial accumulators are
//! combined per original key, as Beam's `Combine.perKey(fn).withHotKeyFanout(n)`
//! and the salting pattern do.
//!
//! The expansion is Beam's:
//!
//! 1. `SplitHotKeys`: a key whose fanout is 1 or less goes on as it is
//!    (cold); a hot key's values go round-robin to `(key, 0..n)`.
//! 2. `PreCombineHot`: the hot values are combined per `(key, salt)` into
//!    accumulators, with the input's windowing in discarding mode (each pane
//!    brings what is new) and without empty panes.
//! 3. `StripSalt` and `RestoreWindowing`: the accumulators go back to their
//!    key, under the input's windowing (merging windows merge again).
//! 4. `PostCombine`: cold values and hot accumulators are combined per key.
//!
//! Windows, timestamps and panes are as without fanout for triggers that
//! fire on the watermark, at the end of a window and for late data
//! (the default trigger, [`Trigger::AfterWatermark`] with late firings of
//! `AfterCount(1)`, `Never`), and for any trigger whose element counts are
//! all one. A trigger that counts more elements or waits for processing
//! time would run once in each stage, firing at other moments than without
//! fanout, so a fanout over such a trigger is refused when the pipeline is
//! built.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::testing::{PAssert, TestPipeline};
//! use beam_core::{Create, Sum};
//! let p = TestPipeline::new();
//! let home = || "home".to_string();
//! let clicks = p.apply("Clicks", Create::of(vec![(home(), 1u64), (home(), 1), ("cart".to_string(), 1)]))?;
//! let per_page = clicks.apply(
//!     "PerPage",
//!     Sum::per_key::<String, u64>()
//!         .with_hot_key_fanout_fn(|page: &String| if page == "home" { 8 } else { 1 }),
//! )?;
//! PAssert::that(&per_page).contains_in_any_order(vec![(home(), 2), ("cart".to_string(), 1)])?;
//! p.run()?;
//! # Ok::<(), beam_core::BeamError>(())
//! ```

use super::{Combine, CombineFn};
use crate::coder::Key;
use crate::dofn::{DoFn, ProcessContext, TupleTag};
use crate::error::{BeamError, Result, UserResult};
use crate::pardo::ParDo;
use crate::pipeline::{PCollection, PTransform};
use crate::transforms::elementwise::Map;
use crate::transforms::flatten::{Flatten, PCollectionList};
use crate::transforms::windowing::{SetWindowing, WindowInto};
use crate::trigger::{AccumulationMode, ClosingBehavior, OnTimeBehavior, Trigger};
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use std::sync::Arc;

/// How many intermediate keys each key's values are spread over.
type FanoutFn<K> = Arc<dyn Fn(&K) -> u32 + Send + Sync>;

/// [`CombinePerKey`](super::CombinePerKey) with hot-key fanout; see the
/// [module docs](self).
pub struct CombinePerKeyWithHotKeyFanout<K, F> {
    pub(super) f: F,
    pub(super) fanout: FanoutFn<K>,
}

/// What the final combine takes: a cold key's value, or a hot key's partial
/// accumulator.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum InputOrAccum<I, A> {
    /// A value of a key that was not spread.
    Input(I),
    /// A partial accumulator of a spread key.
    Accum(A),
}

/// Whether `trigger` fires at the same moments when it runs in both stages
/// of a fanout as when it runs once: it does not wait for processing time,
/// and every element count it has is 1 (one accumulator stands for at
/// least one element).
pub(crate) fn fanout_keeps_panes(trigger: &Trigger) -> bool {
    let keeps = fanout_keeps_panes;
    match trigger {
        Trigger::Default | Trigger::Never => true,
        Trigger::AfterCount(n) => *n <= 1,
        Trigger::AfterProcessingTime { .. } => false,
        Trigger::AfterWatermark { early, late } => {
            early.as_deref().is_none_or(keeps) && late.as_deref().is_none_or(keeps)
        }
        Trigger::AfterEach(ts) | Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => {
            ts.iter().all(keeps)
        }
        Trigger::Repeatedly(t) => keeps(t),
        Trigger::OrFinally(a, b) => keeps(a) && keeps(b),
    }
}

impl<K: Key, F: CombineFn> PTransform<PCollection<(K, F::Input)>>
    for CombinePerKeyWithHotKeyFanout<K, F>
{
    type Output = PCollection<(K, F::Output)>;
    fn expand(self, input: &PCollection<(K, F::Input)>) -> Result<Self::Output> {
        let strategy = input.windowing();
        if !fanout_keeps_panes(&strategy.trigger) {
            return Err(BeamError::construction(
                input.pipeline().current_scope(),
                format!(
                    "hot-key fanout runs the trigger in two combining stages, and '{}' would fire at other moments there (it counts more than one element or waits for processing time); combine without fanout, or use a watermark trigger",
                    strategy.trigger
                ),
            ));
        }
        let hot = TupleTag::<((K, u32), F::Input)>::new("hot");
        let split = input.apply(
            "SplitHotKeys",
            ParDo::of(SplitHotKeys::<K, F> {
                fanout: self.fanout,
                hot: hot.clone(),
                next: 0,
                _f: PhantomData,
            })
            .with_output(&hot),
        )?;
        let partials = split
            .get(&hot)?
            .apply(
                "Discarding",
                WindowInto::configure()
                    .triggering(
                        strategy.trigger.clone(),
                        AccumulationMode::Discarding,
                        strategy.allowed_lateness,
                    )
                    .with_on_time_behavior(OnTimeBehavior::FireIfNonEmpty)
                    .with_closing_behavior(ClosingBehavior::FireIfNonEmpty)
                    .allow_unsafe_trigger(),
            )?
            .apply(
                "PreCombineHot",
                Combine::per_key(PreCombine(self.f.clone())),
            )?
            .apply(
                "StripSalt",
                Map::new(|((k, _), acc): &((K, u32), F::Accum)| {
                    (k.clone(), InputOrAccum::Accum(acc.clone()))
                }),
            )?
            .apply("RestoreWindowing", SetWindowing::new(strategy))?;
        PCollectionList::of(vec![split.main, partials])?
            .apply("HotAndCold", Flatten)?
            .apply("PostCombine", Combine::per_key(PostCombine(self.f)))
    }
}

struct SplitHotKeys<K, F: CombineFn> {
    fanout: FanoutFn<K>,
    hot: TupleTag<((K, u32), F::Input)>,
    /// Round-robin over the intermediate keys.
    next: u32,
    _f: PhantomData<fn() -> F>,
}

impl<K, F: CombineFn> Clone for SplitHotKeys<K, F> {
    fn clone(&self) -> Self {
        SplitHotKeys {
            fanout: self.fanout.clone(),
            hot: self.hot.clone(),
            next: self.next,
            _f: PhantomData,
        }
    }
}

impl<K: Key, F: CombineFn> DoFn for SplitHotKeys<K, F> {
    type In = (K, F::Input);
    type Out = (K, InputOrAccum<F::Input, F::Accum>);
    fn process(&mut self, kv: &Self::In, ctx: &mut ProcessContext<'_, Self::Out>) -> UserResult {
        let (k, v) = kv;
        let n = (self.fanout)(k);
        if n <= 1 {
            ctx.output((k.clone(), InputOrAccum::Input(v.clone())));
            return Ok(());
        }
        self.next = self.next.wrapping_add(1);
        ctx.output_tagged(&self.hot, ((k.clone(), self.next % n), v.clone()))
    }
}

/// The first stage: combines into accumulators, which it outputs as they are.
#[derive(Clone)]
struct PreCombine<F>(F);

impl<F: CombineFn> CombineFn for PreCombine<F> {
    type Input = F::Input;
    type Accum = F::Accum;
    type Output = F::Accum;
    fn create_accumulator(&self) -> F::Accum {
        self.0.create_accumulator()
    }
    fn add_input(&self, acc: &mut F::Accum, input: F::Input) {
        self.0.add_input(acc, input)
    }
    fn merge_accumulators(&self, acc: &mut F::Accum, other: F::Accum) {
        self.0.merge_accumulators(acc, other)
    }
    fn extract_output(&self, acc: F::Accum) -> F::Accum {
        acc
    }
}

/// The second stage: adds cold values, merges hot accumulators.
#[derive(Clone)]
struct PostCombine<F>(F);

impl<F: CombineFn> CombineFn for PostCombine<F> {
    type Input = InputOrAccum<F::Input, F::Accum>;
    type Accum = F::Accum;
    type Output = F::Output;
    fn create_accumulator(&self) -> F::Accum {
        self.0.create_accumulator()
    }
    fn add_input(&self, acc: &mut F::Accum, input: Self::Input) {
        match input {
            InputOrAccum::Input(v) => self.0.add_input(acc, v),
            InputOrAccum::Accum(a) => self.0.merge_accumulators(acc, a),
        }
    }
    fn merge_accumulators(&self, acc: &mut F::Accum, other: F::Accum) {
        self.0.merge_accumulators(acc, other)
    }
    fn extract_output(&self, acc: F::Accum) -> F::Output {
        self.0.extract_output(acc)
    }
}

impl<K: Key, F: CombineFn> super::CombinePerKey<K, F> {
    /// Spreads every key's values over `fanout` intermediate keys before
    /// combining them per key; see the [fanout module](self). A fanout of 0
    /// or 1 changes nothing.
    pub fn with_hot_key_fanout(self, fanout: u32) -> CombinePerKeyWithHotKeyFanout<K, F> {
        self.with_hot_key_fanout_fn(move |_: &K| fanout)
    }

    /// Spreads each key's values over `fanout(key)` intermediate keys (1 or
    /// less: not spread), so only the hot keys pay for the extra stage.
    pub fn with_hot_key_fanout_fn(
        self,
        fanout: impl Fn(&K) -> u32 + Send + Sync + 'static,
    ) -> CombinePerKeyWithHotKeyFanout<K, F> {
        CombinePerKeyWithHotKeyFanout {
            f: self.f,
            fanout: Arc::new(fanout),
        }
    }
}
