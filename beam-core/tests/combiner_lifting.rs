//! Combiner lifting: a grouping fed bundles pre-combined per key and window
//! (by its kernel's `PartialTable`, as runners do before a shuffle) emits the
//! same panes as one fed the raw elements.
//!
//! Bundles mix runs of one key and window (clustered input, which the partial
//! table combines before looking the key up) with keys and windows that
//! alternate, under fixed and sliding windows and the three timestamp combiners.

use beam_core::graph::Primitive;
use beam_core::kernel::{GroupingEnv, GroupingKernel, WindowKernel};
use beam_core::windowfn::{TimestampCombiner, WindowFn};
use beam_core::{
    Batch, Create, Duration, MetricsContainer, Pipeline, PipelineOptions, Sum, Timestamp,
    WindowInto, WindowedValue,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

type Kv = (String, i64);

/// The window kernel and grouping kernel of `Sum::per_key` under `window_fn`.
fn kernels(
    window_fn: WindowFn,
    combiner: TimestampCombiner,
) -> (Arc<dyn WindowKernel>, Arc<dyn GroupingKernel>) {
    let p = Pipeline::new(PipelineOptions::default());
    p.apply("Input", Create::of(Vec::<Kv>::new()))
        .unwrap()
        .apply(
            "Window",
            WindowInto::new(window_fn).with_timestamp_combiner(combiner),
        )
        .unwrap()
        .apply("Sum", Sum::per_key())
        .unwrap();
    let graph = p.graph();
    let mut window = None;
    let mut grouping = None;
    for t in &graph.transforms {
        match &t.primitive {
            Primitive::WindowInto { kernel } => window = Some(kernel.clone()),
            Primitive::CombinePerKey { kernel } => grouping = Some(kernel.clone()),
            _ => {}
        }
    }
    (window.unwrap(), grouping.unwrap())
}

/// A bundle: runs of one key at nearby times, and single elements of any key.
fn bundle(rng: &mut StdRng, base: i64) -> Vec<WindowedValue<Kv>> {
    let mut out = Vec::new();
    while out.len() < 40 {
        let key = format!("k{}", rng.random_range(0..5));
        let run = if rng.random_bool(0.5) {
            rng.random_range(2..12)
        } else {
            1
        };
        let start = base + rng.random_range(0..4_000);
        for i in 0..run {
            let t = Timestamp::from_micros(start + i * rng.random_range(0..200));
            out.push(WindowedValue::timestamped(
                (key.clone(), rng.random_range(-50..100)),
                t,
            ));
        }
    }
    out
}

fn panes(table: &mut Box<dyn beam_core::kernel::GroupingTable>) -> Vec<String> {
    let mut v: Vec<String> = table
        .take_output()
        .map(|b| {
            b.downcast_ref::<Kv>()
                .expect("(String, i64) panes")
                .iter()
                .map(|wv| format!("{wv:?}"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn pre_combined_bundles_give_the_panes_of_raw_ones() {
    let window_fns = [
        WindowFn::fixed(Duration::from_micros(1_000)),
        WindowFn::sliding(Duration::from_micros(1_000), Duration::from_micros(250)),
    ];
    let combiners = [
        TimestampCombiner::EndOfWindow,
        TimestampCombiner::Earliest,
        TimestampCombiner::Latest,
    ];
    for (case, (window_fn, combiner)) in window_fns
        .iter()
        .flat_map(|w| combiners.iter().map(move |c| (w.clone(), *c)))
        .enumerate()
    {
        let (window, grouping) = kernels(window_fn, combiner);
        let mut partials = grouping
            .lifted()
            .expect("Sum under the default trigger lifts");
        let mut raw = grouping.new_table();
        let mut lifted = grouping.new_table();
        let mut metrics = MetricsContainer::new();
        let mut rng = StdRng::seed_from_u64(case as u64);
        for round in 0..30 {
            let base = round * 2_000;
            let elements = bundle(&mut rng, base);
            let env = &mut GroupingEnv {
                metrics: &mut metrics,
                checks: false,
            };
            raw.add(
                window.assign(Batch::new(elements.clone()), &mut MetricsContainer::new()),
                env,
            )
            .unwrap();
            partials
                .add(window.assign(Batch::new(elements), &mut MetricsContainer::new()))
                .unwrap();
            // Taken a part at a time, as a runner flushes a large table.
            let part = rng.random_range(1..=64);
            loop {
                let pre_combined = partials.take(part);
                if pre_combined.is_empty() {
                    break;
                }
                assert!(pre_combined.len() <= part);
                lifted.add_partials(pre_combined, env).unwrap();
            }
            let wm = Timestamp::from_micros(base);
            raw.advance_input_watermark(wm, env).unwrap();
            lifted.advance_input_watermark(wm, env).unwrap();
            assert_eq!(
                panes(&mut raw),
                panes(&mut lifted),
                "case {case}, round {round}"
            );
            assert_eq!(raw.output_watermark(), lifted.output_watermark());
        }
        let env = &mut GroupingEnv {
            metrics: &mut metrics,
            checks: false,
        };
        raw.advance_input_watermark(Timestamp::MAX, env).unwrap();
        lifted.advance_input_watermark(Timestamp::MAX, env).unwrap();
        let last = panes(&mut raw);
        assert!(!last.is_empty());
        assert_eq!(last, panes(&mut lifted), "case {case}, end");
    }
}
