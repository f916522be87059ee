//! TestStream scenarios (Beam's TestStreamTest and related): late data and dropping, processing-time panes, and construction rules for unbounded input.

use crate::scenario;
use crate::scenarios::common::{collect, fixed10, iw, ones, panes, s, sum_panes, ts};
use beam_core::{
    AccumulationMode, ClosingBehavior, Duration, GroupByKey, PaneTiming, Sum, TestStream,
    Timestamp, Trigger, WindowFn, WindowInto,
};
use PaneTiming::{Early, OnTime};

// TestStreamTest.testLateDataAccumulating (SEMANTICS 58).
scenario!(
    late_data_accumulating,
    area = "Lateness and dropping",
    features = [TestStream, Unbounded, Triggers, ProcessingTime, Metrics],
    beam = "TestStreamTest.testLateDataAccumulating",
    replay = true,
    |env| {
        let min = |m: i64| Timestamp::from_micros(m * 60_000_000);
        let at0 = |v: i64| ((s("k"), v), Timestamp::EPOCH);
        let stream = TestStream::new()
            .add_elements(vec![at0(1), at0(2), at0(3)])
            .advance_watermark_to(min(6))
            .add_elements(vec![at0(4), at0(5)])
            .advance_watermark_to(min(20))
            .add_elements(vec![at0(-1), at0(-2), at0(-3)])
            .advance_watermark_to_infinity();
        let trigger = Trigger::after_watermark()
            .with_early_firings(Trigger::after_processing_time(Duration::from_mins(2)))
            .with_late_firings(Trigger::after_count(1));
        let (got, r) = sum_panes(
            env,
            stream,
            WindowInto::new(WindowFn::fixed(Duration::from_mins(5)))
                .triggering(
                    trigger,
                    AccumulationMode::Accumulating,
                    Duration::from_mins(5),
                )
                .with_closing_behavior(ClosingBehavior::FireAlways),
        );
        let on_time: Vec<i64> = got
            .iter()
            .filter(|wv| wv.pane.timing == OnTime)
            .map(|wv| wv.value.1)
            .collect();
        let last: Vec<i64> = got
            .iter()
            .filter(|wv| wv.pane.is_last)
            .map(|wv| wv.value.1)
            .collect();
        assert_eq!(on_time, vec![6]);
        assert_eq!(last, vec![15]);
        assert!(
            got.iter().all(|wv| (6..=15).contains(&wv.value.1)),
            "{got:?}"
        );
        assert_eq!(
            r.metrics().counter("Sum", "dropped_due_to_lateness"),
            Some(3)
        );
    }
);

// TestStreamTest.testDiscardingMode (SEMANTICS 59): late elements reach the final pane despite Never.
scenario!(
    discarding_mode_final_pane_despite_never,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers],
    beam = "TestStreamTest.testDiscardingMode",
    replay = true,
    |env| {
        let p = env.pipeline();
        let e = |v: &str, t: i64| ((s("k"), s(v)), ts(t));
        let stream = TestStream::new()
            .advance_watermark_to(ts(0))
            .add_elements(vec![e("firstPane", 100), e("alsoFirstPane", 200)])
            .add_elements(vec![e("onTimePane", 500)])
            .advance_watermark_to(ts(1000))
            .add_elements(vec![e("finalLatePane", 750), e("alsoFinalLatePane", 250)])
            .advance_watermark_to_infinity();
        let trigger = Trigger::after_watermark()
            .with_early_firings(Trigger::after_count(2))
            .with_late_firings(Trigger::Never);
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(1000))).triggering(
                    trigger,
                    AccumulationMode::Discarding,
                    Duration::from_micros(5000),
                ),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got = panes(&got);
        let sorted = |v: &Vec<String>| {
            let mut v = v.clone();
            v.sort();
            v
        };
        let all: Vec<String> = got.iter().flat_map(|wv| wv.value.1.clone()).collect();
        assert_eq!(sorted(&all).len(), 5);
        let on_time: Vec<Vec<String>> = got
            .iter()
            .filter(|wv| wv.pane.timing == OnTime)
            .map(|wv| sorted(&wv.value.1))
            .collect();
        assert_eq!(on_time, vec![vec![s("onTimePane")]]);
        let last: Vec<Vec<String>> = got
            .iter()
            .filter(|wv| wv.pane.is_last)
            .map(|wv| sorted(&wv.value.1))
            .collect();
        assert_eq!(last, vec![vec![s("alsoFinalLatePane"), s("finalLatePane")]]);
    }
);

// TestStreamTest.testFirstElementLate (SEMANTICS 60).
scenario!(
    first_element_late_is_dropped,
    area = "Lateness and dropping",
    features = [TestStream, Unbounded, Triggers],
    beam = "TestStreamTest.testFirstElementLate",
    replay = true,
    |env| {
        let p = env.pipeline();
        let stream = TestStream::new()
            .advance_watermark_to(ts(0))
            .add_elements(vec![((s("k"), s("late")), ts(-1_000_000))])
            .add_elements(vec![((s("k"), s("onTime")), ts(100))])
            .advance_watermark_to_infinity();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(1000))).triggering(
                    Trigger::Default,
                    AccumulationMode::Discarding,
                    Duration::from_micros(5000),
                ),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got = panes(&got);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].window, got[0].value.1.clone()),
            (iw(0, 1000), vec![s("onTime")])
        );
    }
);

// TestStreamTest.testEarlyPanesOfWindow (SEMANTICS 61).
scenario!(
    early_panes_on_processing_time,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers, ProcessingTime],
    beam = "TestStreamTest.testEarlyPanesOfWindow",
    replay = true,
    |env| {
        let sec = |x: i64| Timestamp::from_secs(x);
        let six_min = Duration::from_mins(6);
        let stream = TestStream::new()
            .add_elements(vec![((s("key"), 1), sec(1))])
            .advance_processing_time(six_min)
            .add_elements(vec![((s("key"), 2), sec(2))])
            .advance_processing_time(six_min)
            .add_elements(vec![((s("key"), 3), sec(3))])
            .advance_processing_time(six_min)
            .advance_watermark_to_infinity();
        let trigger = Trigger::after_watermark()
            .with_early_firings(Trigger::after_processing_time(Duration::from_mins(5)));
        let (got, _) = sum_panes(
            env,
            stream,
            WindowInto::new(WindowFn::fixed(Duration::from_mins(30))).triggering(
                trigger,
                AccumulationMode::Accumulating,
                Duration::ZERO,
            ),
        );
        let got: Vec<(i64, PaneTiming)> =
            got.iter().map(|wv| (wv.value.1, wv.pane.timing)).collect();
        let mut early: Vec<i64> = got.iter().filter(|g| g.1 == Early).map(|g| g.0).collect();
        early.sort();
        assert_eq!(early, vec![1, 3, 6]);
        assert_eq!(
            got.iter()
                .filter(|g| g.1 == OnTime)
                .map(|g| g.0)
                .collect::<Vec<_>>(),
            vec![6]
        );
    }
);

// TestStreamTest.testProcessingTimeTrigger (SEMANTICS 61, global window).
scenario!(
    processing_time_trigger_in_global_window,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers, ProcessingTime],
    beam = "TestStreamTest.testProcessingTimeTrigger",
    replay = true,
    |env| {
        let sec = |x: i64| Timestamp::from_secs(x);
        let stream = TestStream::new()
            .add_elements(vec![((s("k"), 1), sec(1)), ((s("k"), 2), sec(2))])
            .advance_processing_time(Duration::from_mins(12))
            .add_elements(vec![((s("k"), 3), sec(3))])
            .advance_processing_time(Duration::from_mins(6))
            .advance_watermark_to_infinity();
        let trigger = Trigger::repeatedly(Trigger::after_processing_time(Duration::from_mins(5)));
        let (got, _) = sum_panes(
            env,
            stream,
            WindowInto::configure().triggering(
                trigger,
                AccumulationMode::Accumulating,
                Duration::ZERO,
            ),
        );
        let early: Vec<i64> = got
            .iter()
            .filter(|wv| wv.pane.timing == Early)
            .map(|wv| wv.value.1)
            .collect();
        assert_eq!(early, vec![3, 6]);
    }
);

// GroupByKeyTest.testCombiningAccumulatingProcessingTime (SEMANTICS 8): no spurious pane after expiry.
scenario!(
    processing_time_timer_after_expiry_emits_nothing,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers, ProcessingTime],
    beam = "GroupByKeyTest.testCombiningAccumulatingProcessingTime",
    replay = true,
    |env| {
        let p = env.pipeline();
        let stream = TestStream::new()
            .advance_watermark_to(ts(0))
            .add_elements(vec![(2i64, ts(2)), (5, ts(5))])
            .advance_watermark_to(ts(100))
            .advance_processing_time(Duration::from_millis(10))
            .advance_watermark_to_infinity();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(100)))
                    .triggering(
                        Trigger::repeatedly(Trigger::after_processing_time(Duration::from_millis(
                            10,
                        ))),
                        AccumulationMode::Accumulating,
                        Duration::ZERO,
                    )
                    .with_timestamp_combiner(beam_core::TimestampCombiner::Earliest),
            )
            .unwrap()
            .apply("Sum", Sum::globally().without_defaults())
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got: Vec<i64> = panes(&got).iter().map(|wv| wv.value).collect();
        assert_eq!(got, vec![7]);
    }
);

// TestStreamTest.testElementsAtAlmostPositiveInfinity (SEMANTICS 62).
scenario!(
    elements_at_almost_positive_infinity,
    area = "TestStream",
    features = [TestStream, Unbounded],
    beam = "TestStreamTest.testElementsAtAlmostPositiveInfinity",
    replay = true,
    |env| {
        let p = env.pipeline();
        let end = beam_core::GLOBAL_WINDOW_MAX;
        let stream = TestStream::new()
            .add_elements(vec![((s("k"), s("foo")), end), ((s("k"), s("bar")), end)])
            .advance_watermark_to_infinity();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_hours(6))),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got = panes(&got);
        assert_eq!(got.len(), 1);
        assert!(got[0].window.as_interval().unwrap().contains(end));
        assert_eq!(got[0].value.1.len(), 2);
        // The builder rejects elements past the end of the global window and watermarks going back.
        let q = env.pipeline();
        assert!(q
            .apply(
                "Bad",
                TestStream::new().add_elements(vec![(1, Timestamp::MAX)])
            )
            .is_err());
        assert!(q
            .apply(
                "Back",
                TestStream::<i32>::new()
                    .advance_watermark_to(ts(5))
                    .advance_watermark_to(ts(4))
            )
            .is_err());
    }
);

// GroupByKeyTest: unbounded input in the global window without a trigger is rejected (SEMANTICS 9).
scenario!(
    unbounded_global_window_needs_a_trigger,
    area = "Triggers and panes",
    features = [TestStream, Unbounded],
    beam = "GroupByKeyTest.testGroupByKeyNonGlobalWindowsWithoutTrigger (construction errors)",
    replay = false,
    |env| {
        let p = env.pipeline();
        let events = p
            .apply("Events", TestStream::new().add_elements(ones(&[1])))
            .unwrap();
        let err = events
            .apply("Group", GroupByKey::new())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("non-bounded PCollection in the global window without a trigger"),
            "{err}"
        );
        let err = events
            .apply(
                "Unsafe",
                WindowInto::new(fixed10()).triggering(
                    Trigger::after_count(1),
                    AccumulationMode::Discarding,
                    Duration::from_micros(5),
                ),
            )
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("Unsafe trigger"), "{err}");
        // With a trigger, or with late firings, it is accepted.
        events
            .apply(
                "Triggered",
                WindowInto::configure().triggering(
                    Trigger::repeatedly(Trigger::after_count(1)),
                    AccumulationMode::Discarding,
                    Duration::ZERO,
                ),
            )
            .unwrap()
            .apply("Group2", GroupByKey::new())
            .unwrap();
        events
            .apply(
                "LateFirings",
                WindowInto::new(fixed10()).triggering(
                    Trigger::after_watermark().with_late_firings(Trigger::after_count(1)),
                    AccumulationMode::Discarding,
                    Duration::from_micros(5),
                ),
            )
            .unwrap();
    }
);

// ReshuffleTest.testReshuffleWithTimestampsStreaming (SEMANTICS 31): reshuffle never drops late data.
scenario!(
    reshuffle_keeps_late_data,
    area = "Lateness and dropping",
    features = [TestStream, Unbounded],
    beam = "ReshuffleTest.testReshuffleWithTimestampsStreaming",
    replay = true,
    |env| {
        let p = env.pipeline();
        let day = 86_400_000_000i64;
        let stream = TestStream::new()
            .advance_watermark_to(ts(48 * day))
            .add_elements(vec![
                (0, ts(0)),
                (1, ts(48 * day)),
                (2, Timestamp::MAX - Duration::from_micros(48 * day)),
            ])
            .advance_watermark_to_infinity();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply("Reshuffle", beam_core::Reshuffle)
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        assert_eq!(panes(&got).len(), 3);
    }
);
