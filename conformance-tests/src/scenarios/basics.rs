//! Create, views with windows and defaults, large keys, and stateful edge cases.

use crate::scenario;
use crate::scenarios::common::{collect, iw, panes, s, ts};
use beam_core::testing::PAssert;
use beam_core::{
    AccumulationMode, Count, Create, Duration, GroupByKey, Map, StateContext, StatefulDoFn,
    StatefulParDo, Sum, TestStream, Timestamp, Trigger, UserResult, Window, WindowFn, WindowInto,
};

// CreateTest.testCreateWithNullsAndValues (SEMANTICS 30).
scenario!(
    create_with_nulls_and_values,
    area = "Create",
    features = [SideInputs],
    beam = "CreateTest.testCreateWithNullsAndValues",
    replay = true,
    |env| {
        let p = env.pipeline();
        let values = vec![None, Some(s("test1")), None, Some(s("test2")), None];
        let out = p.apply("Create", Create::of(values.clone())).unwrap();
        PAssert::that(&out).contains_in_any_order(values).unwrap();
        p.run().unwrap();
    }
);

// CreateTest.testCreateTimestamped and the default timestamp of Create (SEMANTICS 30).
scenario!(
    create_timestamps,
    area = "Create",
    features = [],
    beam = "CreateTest.testCreateTimestamped",
    replay = true,
    |env| {
        let p = env.pipeline();
        let timed = p
            .apply(
                "Timed",
                Create::timestamped(vec![(s("a"), ts(1)), (s("b"), ts(2)), (s("c"), ts(3))]),
            )
            .unwrap();
        let plain = p.apply("Plain", Create::of(vec![s("x")])).unwrap();
        let t = collect(&timed, "Timed");
        let u = collect(&plain, "Plain");
        p.run().unwrap();
        let t: Vec<String> = panes(&t)
            .iter()
            .map(|wv| format!("{}:{}", wv.value, wv.timestamp))
            .collect();
        assert_eq!(t, vec!["a:1", "b:2", "c:3"]);
        let u = panes(&u);
        assert_eq!(
            (u[0].timestamp, u[0].window),
            (Timestamp::MIN, Window::Global)
        );
    }
);

// GroupByKeyTest.testLargeKeys10KB / 100KB (SEMANTICS 7).
scenario!(
    large_keys,
    area = "GroupByKey",
    features = [SideInputs],
    beam = "GroupByKeyTest.testLargeKeys10KB, testLargeKeys100KB",
    replay = false,
    |env| {
        for size in [10_000, 100_000] {
            let p = env.pipeline();
            let (a, b) = ("a".repeat(size), "b".repeat(size));
            let out = p
                .apply(
                    "Create",
                    Create::of(vec![(a.clone(), 1), (a.clone(), 2), (b.clone(), 3)]),
                )
                .unwrap()
                .apply("GBK", GroupByKey::new())
                .unwrap()
                .apply(
                    "Count",
                    Map::new(|kv: &(String, Vec<i32>)| {
                        (kv.0.len(), kv.0.as_bytes()[0], kv.1.len())
                    }),
                )
                .unwrap();
            PAssert::that(&out)
                .contains_in_any_order(vec![(size, b'a', 2), (size, b'b', 1)])
                .unwrap();
            p.run().unwrap();
        }
    }
);

#[derive(Clone)]
struct CountThenExpire;

impl StatefulDoFn for CountThenExpire {
    type Key = String;
    type Value = i64;
    type Out = i64;
    fn process(
        &mut self,
        _: &String,
        _: &i64,
        ctx: &mut StateContext<'_, String, i64>,
    ) -> UserResult {
        let mut v = ctx.value_state::<i64>("n")?;
        v.write(v.read().unwrap_or(0) + 1);
        Ok(())
    }
    fn on_window_expiration(
        &mut self,
        _: &String,
        ctx: &mut StateContext<'_, String, i64>,
    ) -> UserResult {
        let n = ctx.value_state::<i64>("n")?.read().unwrap_or(0);
        ctx.output(n);
        Ok(())
    }
}

// ParDoTest.testOnWindowExpirationSimpleBoundedGlobal (SEMANTICS 57, global window).
scenario!(
    window_expiration_in_the_global_window,
    area = "State and timers",
    features = [StatefulParDo, Timers, SideInputs],
    beam = "ParDoTest.testOnWindowExpirationSimpleBoundedGlobal",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply("Kv", Create::of(vec![(s("hello"), 1), (s("hi"), 2)]))
            .unwrap()
            .apply("Expire", StatefulParDo::of(CountThenExpire))
            .unwrap();
        PAssert::that(&out)
            .in_window(Window::Global)
            .contains_in_any_order(vec![1, 1])
            .unwrap();
        p.run().unwrap();
    }
);

// Stateful ParDo with merging windows is rejected (Beam: state is not supported with merging windows).
scenario!(
    state_with_merging_windows_is_rejected,
    area = "State and timers",
    features = [StatefulParDo],
    beam = "ParDo.validateStateApplicableForInput",
    replay = false,
    |env| {
        let p = env.pipeline();
        let err = p
            .apply("Kv", Create::of(vec![(s("k"), 1)]))
            .unwrap()
            .apply(
                "Sessions",
                WindowInto::new(WindowFn::sessions(Duration::from_secs(1))),
            )
            .unwrap()
            .apply("State", StatefulParDo::of(CountThenExpire))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("State") && err.contains("merging windows"),
            "{err}"
        );
    }
);

// AfterProcessingTime aligned to a period (AfterProcessingTime.alignedTo).
scenario!(
    aligned_processing_time_trigger,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers, ProcessingTime],
    beam = "AfterProcessingTime.alignedTo",
    replay = true,
    |env| {
        let p = env.pipeline();
        let stream = TestStream::new()
            .advance_processing_time(Duration::from_micros(3))
            .add_elements(vec![((s("k"), 1i64), ts(1))])
            .advance_processing_time(Duration::from_micros(6))
            .add_elements(vec![((s("k"), 2), ts(2))])
            .advance_processing_time(Duration::from_micros(1))
            .advance_watermark_to_infinity();
        let trigger = Trigger::repeatedly(
            Trigger::after_processing_time(Duration::from_micros(1))
                .aligned_to(Duration::from_micros(10), Timestamp::EPOCH),
        );
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Window",
                WindowInto::configure().triggering(
                    trigger,
                    AccumulationMode::Discarding,
                    Duration::ZERO,
                ),
            )
            .unwrap()
            .apply("Sum", Sum::per_key())
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        // The first pane waits for processing time 10 (the alignment), not 4, so
        // it holds both elements; at the end of the global window an empty
        // on-time final pane follows (ReduceFnRunnerTest.fireNonEmptyOnDrainInGlobalWindow,
        // processing-time variant).
        let got: Vec<(i64, bool, beam_core::PaneTiming)> = panes(&got)
            .iter()
            .map(|wv| (wv.value.1, wv.pane.is_last, wv.pane.timing))
            .collect();
        assert_eq!(
            got,
            vec![
                (3, false, beam_core::PaneTiming::Early),
                (0, true, beam_core::PaneTiming::OnTime)
            ]
        );
    }
);

// Count.perKey in fixed windows.
scenario!(
    count_per_key_in_windows,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CountTest.testCountPerElementBasic (windowed)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![
                    ((s("a"), 1), ts(1)),
                    ((s("a"), 2), ts(2)),
                    ((s("a"), 3), ts(12)),
                ]),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Count", Count::per_key())
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![(s("a"), 2)])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![(s("a"), 1)])
            .unwrap();
        p.run().unwrap();
    }
);

// Distinct per window (DistinctTest.testDistinctWindowed-like).
scenario!(
    distinct_per_window,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "DistinctTest (windowed)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![(1, ts(1)), (1, ts(2)), (2, ts(3)), (1, ts(11))]),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Distinct", beam_core::Distinct::new())
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![1, 2])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![1])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct Metered;

impl StatefulDoFn for Metered {
    type Key = String;
    type Value = i64;
    type Out = i64;
    fn process(
        &mut self,
        _: &String,
        v: &i64,
        ctx: &mut StateContext<'_, String, i64>,
    ) -> UserResult {
        ctx.metrics().inc_counter("seen", 1);
        ctx.metrics().update_distribution("values", *v);
        ctx.output(*v);
        Ok(())
    }
}

// MetricsTest, for a stateful DoFn.
scenario!(
    metrics_in_stateful_dofn,
    area = "State and timers",
    features = [StatefulParDo, Metrics],
    beam = "MetricsTest.testAttemptedCounterMetrics (stateful ParDo)",
    replay = false,
    |env| {
        let p = env.pipeline();
        p.apply(
            "Kv",
            Create::of(vec![(s("a"), 5), (s("b"), 8), (s("a"), 13)]),
        )
        .unwrap()
        .apply("Metered", StatefulParDo::of(Metered))
        .unwrap();
        let r = p.run().unwrap();
        assert_eq!(r.metrics().counter("Metered", "seen"), Some(3));
        let d = r.metrics().distribution("Metered", "values").unwrap();
        assert_eq!((d.sum, d.count, d.min, d.max), (26, 3, 5, 13));
    }
);

// Element-wise transforms keep timestamps and windows (ParDoTest / MapElementsTest).
scenario!(
    elementwise_transforms_keep_metadata,
    area = "ParDo",
    features = [],
    beam = "MapElementsTest.testMapBasic (windowed)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![((s("k"), 1), ts(3)), ((s("k"), 2), ts(13))]),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Swap", beam_core::KvSwap)
            .unwrap()
            .apply("Keys", beam_core::Keys)
            .unwrap()
            .apply("Double", Map::new(|x: &i32| x * 2))
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got: Vec<(i32, i64, Window)> = panes(&got)
            .iter()
            .map(|wv| (wv.value, wv.timestamp.as_micros(), wv.window))
            .collect();
        assert_eq!(got, vec![(2, 3, iw(0, 10)), (4, 13, iw(10, 20))]);
    }
);

// CombineTest.testGlobalCombineWithDefaultsAndTriggers (SEMANTICS 26).
scenario!(
    global_combine_with_defaults_and_triggers,
    area = "Combine and composites",
    features = [Triggers, SideInputs],
    beam = "CombineTest.testGlobalCombineWithDefaultsAndTriggers",
    replay = true,
    |env| {
        let p = env.pipeline();
        let sums = p
            .apply("Create", Create::of(vec![1i64, 1]))
            .unwrap()
            .apply(
                "Triggered",
                WindowInto::configure()
                    .triggering(
                        Trigger::repeatedly(Trigger::after_count(1)),
                        AccumulationMode::Accumulating,
                        Duration::ZERO,
                    )
                    .with_closing_behavior(beam_core::ClosingBehavior::FireAlways),
            )
            .unwrap()
            .apply("Sum", Sum::globally())
            .unwrap();
        let got = collect(&sums, "Out");
        p.run().unwrap();
        let got = panes(&got);
        assert!((1..=3).contains(&got.len()), "{got:?}");
        let last: Vec<(i64, bool)> = got
            .iter()
            .filter(|wv| wv.pane.is_last)
            .map(|wv| (wv.value, wv.pane.is_last))
            .collect();
        assert_eq!(last, vec![(2, true)], "{got:?}");
    }
);
