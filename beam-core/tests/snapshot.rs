//! Snapshots of grouping tables and stateful processors: a table restored from
//! a snapshot taken between any two calls behaves exactly like the original.
//!
//! Each case drives the kernel of a real pipeline step with a seeded random
//! schedule of bundles (on-time, late and droppable elements), watermark
//! advances and processing-time advances, once straight through and once
//! snapshotting and restoring into a fresh table after every call, and
//! compares the panes, output watermarks and processing-time deadlines.

use beam_core::graph::Primitive;
use beam_core::kernel::{GroupingEnv, GroupingKernel, StatefulKernel, WindowKernel};
use beam_core::trigger::{AccumulationMode, ClosingBehavior, Trigger};
use beam_core::windowfn::WindowFn;
use beam_core::{
    Batch, Create, Duration, GroupByKey, MetricsContainer, Pipeline, PipelineOptions, StateContext,
    StatefulDoFn, StatefulParDo, Sum, Timestamp, UserResult, WindowInto, WindowedValue,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

type Kv = (String, i64);

/// One call a runner makes.
#[derive(Clone, Debug)]
enum Call {
    Bundle(Vec<(Kv, Timestamp)>),
    Watermark(Timestamp),
    Clock(Timestamp),
}

/// A random schedule: time moves forward, some elements arrive late (behind
/// the watermark, some past the allowed lateness), keys collide.
fn schedule(seed: u64, calls: usize) -> Vec<Call> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut wm, mut clock) = (0i64, 1_000_000i64);
    let mut out = vec![Call::Clock(Timestamp::from_micros(clock))];
    for _ in 0..calls {
        match rng.random_range(0..10) {
            0..=5 => {
                let n = rng.random_range(1..8);
                let bundle = (0..n)
                    .map(|_| {
                        let key = format!("k{}", rng.random_range(0..4));
                        let t = wm + rng.random_range(-400..300);
                        ((key, rng.random_range(1..100)), Timestamp::from_micros(t))
                    })
                    .collect();
                out.push(Call::Bundle(bundle));
            }
            6..=7 => {
                wm += rng.random_range(1..120);
                out.push(Call::Watermark(Timestamp::from_micros(wm)));
            }
            _ => {
                clock += rng.random_range(1..40);
                out.push(Call::Clock(Timestamp::from_micros(clock)));
            }
        }
    }
    out.push(Call::Watermark(Timestamp::MAX));
    out
}

/// What a runner drives, for groupings and stateful ParDos alike.
trait Driven {
    fn call(&mut self, input: Option<Batch>, call: &Call);
    fn observe(&mut self) -> (Vec<String>, Timestamp, Option<Timestamp>);
    fn snapshot_and_restore(&mut self);
}

struct Table {
    kernel: Arc<dyn GroupingKernel>,
    table: Box<dyn beam_core::kernel::GroupingTable>,
    metrics: MetricsContainer,
}

impl Driven for Table {
    fn call(&mut self, input: Option<Batch>, call: &Call) {
        let env = &mut GroupingEnv {
            metrics: &mut self.metrics,
            checks: false,
        };
        match (call, input) {
            (Call::Bundle(_), Some(b)) => self.table.add(b, env).unwrap(),
            (Call::Watermark(t), _) => self.table.advance_input_watermark(*t, env).unwrap(),
            (Call::Clock(t), _) => self.table.advance_processing_time(*t, env).unwrap(),
            _ => unreachable!(),
        }
    }
    fn observe(&mut self) -> (Vec<String>, Timestamp, Option<Timestamp>) {
        let panes = self
            .table
            .take_output()
            .map(debug_sorted)
            .unwrap_or_default();
        let t = &self.table;
        (panes, t.output_watermark(), t.next_processing_time())
    }
    fn snapshot_and_restore(&mut self) {
        let bytes = self.table.snapshot().unwrap();
        self.table = self.kernel.restore_table(&bytes).unwrap();
    }
}

struct Processor {
    kernel: Arc<dyn StatefulKernel>,
    processor: Box<dyn beam_core::kernel::StatefulProcessor>,
    metrics: MetricsContainer,
}

impl Driven for Processor {
    fn call(&mut self, input: Option<Batch>, call: &Call) {
        let (p, m) = (&mut self.processor, &mut self.metrics);
        match (call, input) {
            (Call::Bundle(_), Some(b)) => p.process_batch(b, m).unwrap(),
            (Call::Watermark(t), _) => p.advance_input_watermark(*t, m).unwrap(),
            (Call::Clock(t), _) => p.advance_processing_time(*t, m).unwrap(),
            _ => unreachable!(),
        }
    }
    fn observe(&mut self) -> (Vec<String>, Timestamp, Option<Timestamp>) {
        let out = self
            .processor
            .take_output()
            .map(debug_sorted)
            .unwrap_or_default();
        let p = &self.processor;
        (out, p.output_watermark(), p.next_processing_time())
    }
    fn snapshot_and_restore(&mut self) {
        let bytes = self.processor.snapshot().unwrap();
        self.processor.teardown().unwrap();
        self.processor = self.kernel.restore(&bytes).unwrap();
        self.processor.setup().unwrap();
    }
}

/// A batch's elements as Debug strings, sorted: within one call, panes of
/// different windows may come in any order.
fn debug_sorted(batch: Batch) -> Vec<String> {
    let mut v: Vec<String> = if let Some(vs) = batch.downcast_ref::<(String, Vec<i64>)>() {
        vs.iter().map(|wv| format!("{wv:?}")).collect()
    } else if let Some(vs) = batch.downcast_ref::<(String, i64)>() {
        vs.iter().map(|wv| format!("{wv:?}")).collect()
    } else {
        panic!("unexpected output type")
    };
    v.sort();
    v
}

/// Runs the schedule, restoring from a snapshot after every call if asked;
/// returns what was observed after each call.
fn drive(
    d: &mut dyn Driven,
    window: &dyn WindowKernel,
    calls: &[Call],
    restore_every_call: bool,
) -> Vec<(Vec<String>, Timestamp, Option<Timestamp>)> {
    let mut seen = Vec::new();
    for call in calls {
        let input = match call {
            Call::Bundle(elems) => {
                let values: Vec<WindowedValue<Kv>> = elems
                    .iter()
                    .map(|(kv, t)| WindowedValue::timestamped(kv.clone(), *t))
                    .collect();
                Some(window.assign(Batch::new(values), &mut MetricsContainer::new()))
            }
            _ => None,
        };
        d.call(input, call);
        if restore_every_call {
            d.snapshot_and_restore();
        }
        seen.push(d.observe());
    }
    seen
}

/// The window kernel and the first grouping or stateful step of `p`.
fn kernels(p: &Pipeline) -> (Arc<dyn WindowKernel>, Primitive) {
    let graph = p.graph();
    let window = graph
        .transforms
        .iter()
        .find_map(|t| match &t.primitive {
            Primitive::WindowInto { kernel } => Some(kernel.clone()),
            _ => None,
        })
        .expect("a WindowInto step");
    let keyed = graph
        .transforms
        .iter()
        .find(|t| {
            matches!(
                t.primitive,
                Primitive::GroupByKey { .. }
                    | Primitive::CombinePerKey { .. }
                    | Primitive::StatefulParDo { .. }
            )
        })
        .expect("a keyed step")
        .primitive
        .clone();
    (window, keyed)
}

fn driven(keyed: &Primitive) -> Box<dyn Driven> {
    match keyed {
        Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel } => Box::new(Table {
            kernel: kernel.clone(),
            table: kernel.new_table(),
            metrics: MetricsContainer::default(),
        }),
        Primitive::StatefulParDo { kernel } => {
            let mut processor = kernel.instantiate();
            processor.setup().unwrap();
            Box::new(Processor {
                kernel: kernel.clone(),
                processor,
                metrics: MetricsContainer::default(),
            })
        }
        _ => unreachable!(),
    }
}

/// Checks that restoring after every call changes nothing, over many schedules.
fn check_restores(build: impl Fn(&Pipeline)) {
    let p = Pipeline::new(PipelineOptions::default().with_runner("direct"));
    build(&p);
    let (window, keyed) = kernels(&p);
    let mut fired = 0;
    for seed in 0..25 {
        let calls = schedule(seed, 60);
        let straight = drive(driven(&keyed).as_mut(), window.as_ref(), &calls, false);
        let restored = drive(driven(&keyed).as_mut(), window.as_ref(), &calls, true);
        for (i, (a, b)) in straight.iter().zip(&restored).enumerate() {
            assert_eq!(a, b, "seed {seed}, after call {i}: {:?}", calls[i]);
        }
        fired += straight.iter().map(|s| s.0.len()).sum::<usize>();
    }
    assert!(fired > 100, "the schedules fire panes ({fired})");
}

fn input(p: &Pipeline) -> beam_core::PCollection<Kv> {
    p.apply("Input", Create::of(vec![("k".to_string(), 1i64)]))
        .unwrap()
}

#[test]
fn fixed_windows_with_early_late_and_processing_time_firings() {
    check_restores(|p| {
        let trigger = Trigger::after_watermark()
            .with_early_firings(Trigger::after_processing_time(Duration::from_micros(25)))
            .with_late_firings(Trigger::after_count(2));
        input(p)
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(100))).triggering(
                    trigger,
                    AccumulationMode::Accumulating,
                    Duration::from_micros(150),
                ),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap();
    });
}

#[test]
fn merging_sessions_with_count_triggers() {
    check_restores(|p| {
        let trigger = Trigger::repeatedly(Trigger::after_count(3));
        input(p)
            .apply(
                "Window",
                WindowInto::new(WindowFn::sessions(Duration::from_micros(40)))
                    .triggering(
                        trigger,
                        AccumulationMode::Discarding,
                        Duration::from_micros(80),
                    )
                    .with_closing_behavior(ClosingBehavior::FireAlways),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap();
    });
}

#[test]
fn sliding_windows_combine_per_key() {
    check_restores(|p| {
        input(p)
            .apply(
                "Window",
                WindowInto::new(WindowFn::sliding(
                    Duration::from_micros(90),
                    Duration::from_micros(30),
                ))
                .with_allowed_lateness(Duration::from_micros(100)),
            )
            .unwrap()
            .apply("Sum", Sum::per_key())
            .unwrap();
    });
}

/// Sums each key's values per window in value, bag and combining state;
/// flushes on an event-time timer and reports on a processing-time timer.
#[derive(Clone)]
struct Tally;

impl StatefulDoFn for Tally {
    type Key = String;
    type Value = i64;
    type Out = (String, i64);
    fn process(
        &mut self,
        key: &String,
        v: &i64,
        ctx: &mut StateContext<'_, String, (String, i64)>,
    ) -> UserResult {
        let mut total = ctx.value_state::<i64>("total")?;
        let t = total.read().unwrap_or(0) + v;
        total.write(t);
        ctx.bag_state::<i64>("seen")?.add(*v);
        ctx.combining_state(
            "max",
            &beam_core::combine::builtins::MaxFn::<i64>::default(),
        )?
        .add(*v);
        if ctx.timer("flush").is_none() {
            let at = ctx.timestamp() + Duration::from_micros(50);
            ctx.set_event_timer("flush", at.min(ctx.window().max_timestamp()))?;
        }
        if ctx.timer("report").is_none() {
            ctx.set_processing_timer("report", Duration::from_micros(30))?;
        }
        let _ = key;
        Ok(())
    }
    fn on_timer(
        &mut self,
        key: &String,
        timer: &str,
        ctx: &mut StateContext<'_, String, (String, i64)>,
    ) -> UserResult {
        let seen = ctx.bag_state::<i64>("seen")?.read();
        let max = ctx
            .combining_state(
                "max",
                &beam_core::combine::builtins::MaxFn::<i64>::default(),
            )?
            .read();
        let total = ctx.value_state::<i64>("total")?.read().unwrap_or(0);
        let tag = if timer == "flush" { 1 } else { 2 };
        ctx.output((
            format!("{key}/{timer}"),
            tag * total + seen.len() as i64 + max.unwrap_or(0),
        ));
        if timer == "flush" {
            ctx.bag_state::<i64>("seen")?.clear();
        }
        Ok(())
    }
    fn on_window_expiration(
        &mut self,
        key: &String,
        ctx: &mut StateContext<'_, String, (String, i64)>,
    ) -> UserResult {
        let total = ctx.value_state::<i64>("total")?.read().unwrap_or(0);
        ctx.output((format!("{key}/expired"), total));
        Ok(())
    }
}

#[test]
fn stateful_pardo_state_and_timers() {
    check_restores(|p| {
        input(p)
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(100)))
                    .with_allowed_lateness(Duration::from_micros(60)),
            )
            .unwrap()
            .apply("Tally", StatefulParDo::of(Tally))
            .unwrap();
    });
}

#[test]
fn a_snapshot_restores_only_into_its_own_step() {
    let p = Pipeline::new(PipelineOptions::default().with_runner("direct"));
    let windowed = input(&p)
        .apply(
            "Window",
            WindowInto::new(WindowFn::fixed(Duration::from_micros(100))),
        )
        .unwrap();
    windowed.apply("A", GroupByKey::new()).unwrap();
    windowed.apply("B", GroupByKey::new()).unwrap();
    let graph = p.graph();
    let tables: Vec<Arc<dyn GroupingKernel>> = graph
        .transforms
        .iter()
        .filter_map(|t| match &t.primitive {
            Primitive::GroupByKey { kernel } => Some(kernel.clone()),
            _ => None,
        })
        .collect();
    let snapshot = tables[0].new_table().snapshot().unwrap();
    let err = tables[1].restore_table(&snapshot).err().expect("refused");
    let msg = err.to_string();
    assert!(msg.contains("'A'") && msg.contains("B"), "{msg}");
    let err = tables[0]
        .restore_table(&snapshot[..snapshot.len() / 2])
        .err();
    assert!(err.is_some(), "a truncated snapshot is refused");
}
