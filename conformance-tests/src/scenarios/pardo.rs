//! ParDo scenarios.

use crate::scenarios::common::{iw, s, ts};
use crate::{scenario, Env};

use beam_core::testing::PAssert;
use beam_core::{
    BeamError, Create, DoFn, Duration, FinishBundleContext, Map, ParDo, ProcessContext, Reify,
    StartBundleContext, Timestamp, TupleTag, UserError, UserResult, WindowFn, WindowInto,
    WindowedValue,
};
use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<String>>>;

#[derive(Clone)]
struct Lifecycle {
    log: Arc<Mutex<Vec<String>>>,
    state: &'static str,
    fail_in: Option<&'static str>,
    /// Assigned at setup, unique per instance.
    instance: Option<u64>,
}

static NEXT_INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Lifecycle {
    fn step(&mut self, name: &'static str, allowed_from: &[&str]) -> UserResult {
        if name == "setup" {
            self.instance = Some(NEXT_INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        }
        let id = self
            .instance
            .map_or("unset".to_string(), |i| format!("instance{i}"));
        self.log.lock().unwrap().push(format!("{id} {name}"));
        if !allowed_from.contains(&self.state) {
            return Err(UserError::msg(format!(
                "{name} called in state {}",
                self.state
            )));
        }
        self.state = name;
        if self.fail_in == Some(name) {
            return Err(UserError::msg(format!("failing in {name}")));
        }
        Ok(())
    }
}

impl DoFn for Lifecycle {
    type In = i32;
    type Out = String;
    fn setup(&mut self) -> UserResult {
        self.step("setup", &["new"])
    }
    fn start_bundle(&mut self, _: &mut StartBundleContext<'_>) -> UserResult {
        self.step("start_bundle", &["setup", "finish_bundle"])
    }
    fn process(&mut self, x: &i32, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        self.step("process", &["start_bundle", "process"])?;
        ctx.output(format!("processing: {x}"));
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut FinishBundleContext<'_, String>) -> UserResult {
        self.step("finish_bundle", &["start_bundle", "process"])?;
        ctx.output(s("finished"), Timestamp::MIN, beam_core::Window::Global);
        Ok(())
    }
    fn teardown(&mut self) -> UserResult {
        self.step(
            "teardown",
            &["setup", "finish_bundle", "process", "start_bundle"],
        )
    }
}

fn lifecycle(env: &Env, fail_in: Option<&'static str>) -> (Log, Result<Vec<String>, BeamError>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let p = env.pipeline();
    let out = p
        .apply("Create", Create::of(vec![3, -42, 666]))
        .unwrap()
        .apply(
            "Lifecycle",
            ParDo::of(Lifecycle {
                log: log.clone(),
                state: "new",
                fail_in,
                instance: None,
            }),
        )
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    PAssert::that(&out)
        .satisfies(move |all: &[String]| *sink.lock().unwrap() = all.to_vec())
        .unwrap();
    let r = p.run().map(|_| seen.lock().unwrap().clone());
    (log, r)
}

// ParDoTest.testParDo and ParDoLifecycleTest.testFnCallSequence.
scenario!(
    lifecycle_runs_in_order_and_outputs_arrive,
    area = "ParDo",
    features = [Lifecycle],
    beam = "ParDoTest.testParDo and ParDoLifecycleTest.testFnCallSequence.",
    replay = true,
    |env| {
        let (log, result) = lifecycle(env, None);
        let out = result.unwrap();
        let mut processed: Vec<&String> =
            out.iter().filter(|x| x.starts_with("processing")).collect();
        processed.sort();
        assert_eq!(
            processed,
            vec!["processing: -42", "processing: 3", "processing: 666"]
        );
        assert!(out.iter().any(|x| x == "finished"));
        let log = log.lock().unwrap();
        // Per instance (runners may create several): setup first and once,
        // teardown last and once, bundles paired in between.
        for (id, calls) in per_instance(&log) {
            let count = |c: &str| calls.iter().filter(|x| **x == c).count();
            assert_eq!(
                (count("setup"), count("teardown")),
                (1, 1),
                "{id}: {calls:?}"
            );
            assert_eq!(
                count("start_bundle"),
                count("finish_bundle"),
                "{id}: {calls:?}"
            );
            assert!(
                calls.first() == Some(&"setup") && calls.last() == Some(&"teardown"),
                "{id}: {calls:?}"
            );
        }
    }
);

/// The calls each DoFn instance saw, in order.
fn per_instance(log: &[String]) -> std::collections::BTreeMap<&str, Vec<&str>> {
    let mut m: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for l in log {
        if let Some((id, call)) = l.split_once(' ') {
            m.entry(id).or_default().push(call);
        }
    }
    m
}

// ParDoLifecycleTest.testTeardownCalledAfterExceptionIn{Setup,StartBundle,ProcessElement,FinishBundle}.
scenario!(teardown_runs_after_a_failure_anywhere, area = "ParDo", features = [Lifecycle], beam = "ParDoLifecycleTest.testTeardownCalledAfterExceptionIn{Setup,StartBundle,ProcessElement,FinishBundle}.", replay = true, |env| {
    for phase in ["setup", "start_bundle", "process", "finish_bundle"] {
        let (log, result) = lifecycle(env, Some(phase));
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("Lifecycle") && err.contains(&format!("failing in {phase}")),
            "{err}"
        );
        let log = log.lock().unwrap();
        // Every instance that was set up is torn down.
        for (id, calls) in per_instance(&log) {
            assert_eq!(calls.last(), Some(&"teardown"), "{phase}, {id}: {calls:?}");
        }
    }
});

#[derive(Clone)]
struct Shift(i64, Duration);

impl DoFn for Shift {
    type In = i64;
    type Out = String;
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let t = ctx.timestamp() + Duration::from_micros(self.0);
        ctx.output_with_timestamp(format!("processing: {x}, timestamp: {}", t.as_micros()), t)
    }
    fn allowed_timestamp_skew(&self) -> Duration {
        self.1
    }
}

// ParDoTest.testParDoShiftTimestamp and testParDoShiftTimestampInvalid.
scenario!(
    output_timestamps_may_move_back_by_the_allowed_skew_only,
    area = "ParDo",
    features = [SideInputs],
    beam = "ParDoTest.testParDoShiftTimestamp and testParDoShiftTimestampInvalid.",
    replay = true,
    |env| {
        let make = |shift: i64| {
            let p = env.pipeline();
            let out = p
                .apply(
                    "Create",
                    Create::timestamped(vec![(3i64, ts(3)), (42, ts(42)), (6, ts(6))]),
                )
                .unwrap()
                .apply(
                    "Shift",
                    ParDo::of(Shift(shift, Duration::from_micros(1000))),
                )
                .unwrap();
            (p, out)
        };
        let (p, out) = make(-1000);
        PAssert::that(&out)
            .contains_in_any_order(vec![
                s("processing: 3, timestamp: -997"),
                s("processing: 42, timestamp: -958"),
                s("processing: 6, timestamp: -994"),
            ])
            .unwrap();
        p.run().unwrap();
        let (p, _) = make(-1001);
        let err = p.run().unwrap_err().to_string();
        assert!(
            err.contains("Shift")
                && err.contains("no earlier than")
                && err.contains("allowed skew"),
            "{err}"
        );
    }
);

#[derive(Clone)]
struct FinishInWindow;

impl DoFn for FinishInWindow {
    type In = String;
    type Out = String;
    fn process(&mut self, x: &String, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        ctx.output(format!("{x}:{}", ctx.timestamp().as_micros()));
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut FinishBundleContext<'_, String>) -> UserResult {
        ctx.output(s("finish"), ts(3), iw(3, 4));
        Ok(())
    }
}

// ParDoTest.testWindowingInStartAndFinishBundle.
scenario!(
    finish_bundle_outputs_carry_their_explicit_window,
    area = "ParDo",
    features = [SideInputs],
    beam = "ParDoTest.testWindowingInStartAndFinishBundle.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply("Create", Create::timestamped(vec![(s("elem"), ts(1))]))
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(1))),
            )
            .unwrap()
            .apply("Fn", ParDo::of(FinishInWindow))
            .unwrap()
            .apply("Reify", Reify)
            .unwrap()
            .apply(
                "Format",
                Map::new(|wv: &WindowedValue<String>| format!("{}:{:?}", wv.value, wv.window)),
            )
            .unwrap();
        PAssert::that(&out)
            .satisfies(|all: &[String]| {
                assert_eq!(
                    all.iter().filter(|x| *x == "elem:1:[1, 2)").count(),
                    1,
                    "{all:?}"
                );
                assert!(
                    all.iter()
                        .all(|x| x == "elem:1:[1, 2)" || x == "finish:[3, 4)"),
                    "{all:?}"
                );
            })
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct Split {
    odd: TupleTag<i32>,
    text: TupleTag<String>,
    unused: TupleTag<u8>,
}

impl DoFn for Split {
    type In = i32;
    type Out = i32;
    fn process(&mut self, x: &i32, ctx: &mut ProcessContext<'_, i32>) -> UserResult {
        if x % 2 == 0 {
            ctx.output(*x);
        } else {
            ctx.output_tagged(&self.odd, *x)?;
        }
        ctx.output_tagged(&self.text, format!("#{x}"))
    }
}

// ParDoTest.testParDoWithTaggedOutput and testParDoWithEmptyTaggedOutput.
scenario!(
    tagged_outputs,
    area = "ParDo",
    features = [SideInputs],
    beam = "ParDoTest.testParDoWithTaggedOutput and testParDoWithEmptyTaggedOutput.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let f = Split {
            odd: TupleTag::new("odd"),
            text: TupleTag::new("text"),
            unused: TupleTag::new("unused"),
        };
        let outs = p
            .apply("Create", Create::of(vec![1, 2, 3, 4]))
            .unwrap()
            .apply(
                "Split",
                ParDo::of(f.clone())
                    .with_output(&f.odd)
                    .with_output(&f.text)
                    .with_output(&f.unused),
            )
            .unwrap();
        PAssert::that(&outs.main)
            .contains_in_any_order(vec![2, 4])
            .unwrap();
        PAssert::that(&outs.get(&f.odd).unwrap())
            .contains_in_any_order(vec![1, 3])
            .unwrap();
        PAssert::that(&outs.get(&f.text).unwrap())
            .contains_in_any_order(vec![s("#1"), s("#2"), s("#3"), s("#4")])
            .unwrap();
        PAssert::that(&outs.get(&f.unused).unwrap())
            .is_empty()
            .unwrap();
        p.run().unwrap();

        // Writing to an undeclared tag fails with the step's name.
        let p = env.pipeline();
        p.apply("Create", Create::of(vec![1]))
            .unwrap()
            .apply("Undeclared", ParDo::of(f.clone()).with_output(&f.odd))
            .unwrap();
        let err = p.run().unwrap_err().to_string();
        assert!(
            err.contains("Undeclared") && err.contains("'text' was not declared"),
            "{err}"
        );
    }
);

#[derive(Clone)]
struct Metered(&'static str);

impl DoFn for Metered {
    type In = i64;
    type Out = i64;
    fn start_bundle(&mut self, ctx: &mut StartBundleContext<'_>) -> UserResult {
        ctx.metrics().update_distribution("bundle", 10);
        Ok(())
    }
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
        ctx.metrics().inc_counter("count", 1);
        ctx.metrics().update_distribution("input", *x);
        if self.0 == "MyStep2" {
            ctx.metrics().set_gauge("my-gauge", 12);
        }
        ctx.output(*x);
        if self.0 == "MyStep1" {
            ctx.output(*x);
        }
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut FinishBundleContext<'_, i64>) -> UserResult {
        ctx.metrics().update_distribution("bundle", 40);
        Ok(())
    }
}

// MetricsTest.testAttemptedAndCommittedMetrics (counters, distributions, gauges).
scenario!(
    metrics_are_attributed_to_steps,
    area = "ParDo",
    features = [Metrics],
    beam = "MetricsTest.testAttemptedAndCommittedMetrics (counters, distributions, gauges).",
    replay = true,
    |env| {
        let p = env.pipeline();
        p.apply("Create", Create::of(vec![5i64, 8, 13]))
            .unwrap()
            .apply("MyStep1", ParDo::of(Metered("MyStep1")))
            .unwrap()
            .apply("MyStep2", ParDo::of(Metered("MyStep2")))
            .unwrap();
        let r = p.run().unwrap();
        let m = r.metrics();
        assert_eq!(m.counter("MyStep1", "count"), Some(3));
        assert_eq!(m.counter("MyStep2", "count"), Some(6));
        let d = m.distribution("MyStep1", "input").unwrap();
        assert_eq!((d.sum, d.count, d.min, d.max), (26, 3, 5, 13));
        let d = m.distribution("MyStep2", "input").unwrap();
        assert_eq!((d.sum, d.count, d.min, d.max), (52, 6, 5, 13));
        let b = m.distribution("MyStep1", "bundle").unwrap();
        assert_eq!((b.min, b.max), (10, 40));
        assert_eq!(m.gauge("MyStep2", "my-gauge"), Some(12));
        assert_eq!(m.counter("MyStep3", "count"), None);
    }
);
