//! Triggers, panes, lateness and processing time, driven by TestStream.

use crate::scenario;
use crate::scenarios::common::{collect, fixed10, iw, kv, ones, pane_tuple, panes, sum_panes, ts};
use beam_core::{
    AccumulationMode, ClosingBehavior, Duration, GroupByKey, OnTimeBehavior, PaneTiming, Sum,
    TestStream, Trigger, WindowFn, WindowInto,
};
use PaneTiming::{Early, Late, OnTime};

// ReduceFnRunnerTest.testPaneInfoAllStatesAfterWatermark (SEMANTICS 64).
scenario!(
    pane_info_all_states_after_watermark,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers],
    beam = "ReduceFnRunnerTest.testPaneInfoAllStatesAfterWatermark",
    replay = true,
    |env| {
        for mode in [AccumulationMode::Discarding, AccumulationMode::Accumulating] {
            let stream = TestStream::new()
                .advance_watermark_to(ts(0))
                .add_elements(ones(&[1, 2]))
                .advance_watermark_to(ts(50))
                .advance_watermark_to(ts(150));
            let (got, _) = sum_panes(
                env,
                stream,
                WindowInto::new(fixed10())
                    .triggering(
                        Trigger::repeatedly(Trigger::AfterFirst(vec![
                            Trigger::after_count(2),
                            Trigger::after_watermark(),
                        ])),
                        mode,
                        Duration::from_micros(100),
                    )
                    .with_timestamp_combiner(beam_core::TimestampCombiner::Earliest)
                    .with_closing_behavior(ClosingBehavior::FireAlways),
            );
            let got: Vec<_> = got
                .iter()
                .map(|wv| (wv.value.1, wv.timestamp.as_micros(), pane_tuple(&wv.pane)))
                .collect();
            let later = if mode == AccumulationMode::Accumulating {
                2
            } else {
                0
            };
            assert_eq!(
                got,
                vec![
                    (2, 1, (true, false, Early, 0, -1)),
                    (later, 9, (false, false, OnTime, 1, 0)),
                    (later, 9, (false, true, Late, 2, 1)),
                ],
                "{mode:?}"
            );
        }
    }
);

// ReduceFnRunnerTest.noEmptyPanesFinalIfNonEmpty / noEmptyPanesFinalAlways (SEMANTICS 65).
scenario!(
    empty_final_pane_follows_closing_behavior,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers],
    beam = "ReduceFnRunnerTest.noEmptyPanesFinalIfNonEmpty, noEmptyPanesFinalAlways",
    replay = true,
    |env| {
        for (closing, want) in [
            (ClosingBehavior::FireIfNonEmpty, 2),
            (ClosingBehavior::FireAlways, 3),
        ] {
            let stream = TestStream::new()
                .add_elements(ones(&[1, 2]))
                .advance_watermark_to(ts(20))
                .advance_watermark_to(ts(250));
            let (got, _) = sum_panes(
                env,
                stream,
                WindowInto::new(fixed10())
                    .triggering(
                        Trigger::repeatedly(Trigger::AfterFirst(vec![
                            Trigger::after_count(2),
                            Trigger::after_watermark(),
                        ])),
                        AccumulationMode::Accumulating,
                        Duration::from_micros(100),
                    )
                    .with_timestamp_combiner(beam_core::TimestampCombiner::Earliest)
                    .with_closing_behavior(closing),
            );
            assert_eq!(got.len(), want, "{closing:?}: {got:?}");
            assert!(got.iter().all(|wv| wv.value.1 == 2));
            assert_eq!((got[0].timestamp, got[1].timestamp), (ts(1), ts(9)));
        }
    }
);

// ReduceFnRunnerTest.testProcessingTime: speculative, on-time and late panes (SEMANTICS 66).
scenario!(
    processing_time_speculative_on_time_and_late,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers, ProcessingTime],
    beam = "ReduceFnRunnerTest.testProcessingTime",
    replay = true,
    |env| {
        let t = Trigger::AfterEach(vec![
            Trigger::repeatedly(Trigger::after_processing_time(Duration::from_micros(5)))
                .or_finally(Trigger::after_watermark()),
            Trigger::repeatedly(Trigger::after_processing_time(Duration::from_micros(25))),
        ]);
        let stream = TestStream::new()
            .add_elements(ones(&[1, 3, 7, 5]))
            .advance_processing_time(Duration::from_micros(6))
            .add_elements(ones(&[8, 4]))
            .advance_watermark_to(ts(11))
            .add_elements(ones(&[8, 4, 5]))
            .advance_watermark_to(ts(12))
            .add_elements(ones(&[3]))
            .advance_processing_time(Duration::from_micros(9))
            .add_elements(ones(&[5]))
            .advance_processing_time(Duration::from_micros(17))
            .add_elements(ones(&[3]))
            .advance_watermark_to(ts(125));
        let (got, _) = sum_panes(
            env,
            stream,
            WindowInto::new(fixed10())
                .triggering(
                    t,
                    AccumulationMode::Accumulating,
                    Duration::from_micros(100),
                )
                .with_timestamp_combiner(beam_core::TimestampCombiner::Earliest),
        );
        let got: Vec<_> = got
            .iter()
            .map(|wv| (wv.value.1, wv.timestamp.as_micros(), pane_tuple(&wv.pane)))
            .collect();
        assert_eq!(
            got,
            vec![
                (4, 1, (true, false, Early, 0, -1)),
                (6, 4, (false, false, OnTime, 1, 0)),
                (11, 9, (false, false, Late, 2, 1)),
                (12, 9, (false, true, Late, 3, 2)),
            ]
        );
    }
);

// ReduceFnRunnerTest.testEmptyOnTimeWithOnTimeBehaviorFireIfNonEmpty and testEmptyOnTimeFromOrFinally (SEMANTICS 67).
scenario!(empty_on_time_pane_follows_on_time_behavior, area = "Triggers and panes", features = [TestStream, Unbounded, Triggers, ProcessingTime], beam = "ReduceFnRunnerTest.testEmptyOnTimeWithOnTimeBehaviorFireIfNonEmpty, testEmptyOnTimeFromOrFinally", replay = true, |env| {
    for on_time in [OnTimeBehavior::FireIfNonEmpty, OnTimeBehavior::FireAlways] {
                let t = Trigger::AfterEach(vec![
            Trigger::repeatedly(Trigger::after_processing_time(Duration::from_micros(5))).or_finally(Trigger::after_watermark()),
            Trigger::repeatedly(Trigger::after_processing_time(Duration::from_micros(25))),
        ]);
        let stream = TestStream::new()
            .add_elements(ones(&[1, 3, 7, 5]))
            .advance_processing_time(Duration::from_micros(6))
            .advance_watermark_to(ts(11))
            .advance_watermark_to(ts(110));
        let (got, _) = sum_panes(env, stream, WindowInto::new(fixed10())
                    .triggering(t, AccumulationMode::Accumulating, Duration::from_micros(100))
                    .with_timestamp_combiner(beam_core::TimestampCombiner::Earliest)
                    .with_on_time_behavior(on_time)
                    .with_closing_behavior(ClosingBehavior::FireAlways));
        let got: Vec<_> = got.iter().map(|wv| (wv.value.1, wv.timestamp.as_micros(), pane_tuple(&wv.pane))).collect();
        let want = match on_time {
            OnTimeBehavior::FireIfNonEmpty => vec![(4, 1, (true, false, Early, 0, -1)), (4, 9, (false, true, Late, 1, 0))],
            OnTimeBehavior::FireAlways => vec![
                (4, 1, (true, false, Early, 0, -1)),
                (4, 9, (false, false, OnTime, 1, 0)),
                (4, 9, (false, true, Late, 2, 1)),
            ],
        };
        assert_eq!(got, want, "{on_time:?}");
    }
});

// ReduceFnRunnerTest.testOnlyOneOnTimePane (SEMANTICS 68).
scenario!(
    only_one_on_time_pane,
    area = "Triggers and panes",
    features = [TestStream, Unbounded],
    beam = "ReduceFnRunnerTest.testOnlyOneOnTimePane",
    replay = true,
    |env| {
        let stream = TestStream::new()
            .add_elements(ones(&[1]))
            .advance_watermark_to(ts(10))
            .add_elements(vec![kv("k", 3, 3)]);
        let (got, _) = sum_panes(
            env,
            stream,
            WindowInto::new(fixed10()).triggering(
                Trigger::Default,
                AccumulationMode::Accumulating,
                Duration::from_micros(100),
            ),
        );
        let got: Vec<_> = got
            .iter()
            .map(|wv| (wv.value.1, pane_tuple(&wv.pane)))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, (true, false, OnTime, 0, 0)),
                (4, (false, false, Late, 1, 1))
            ]
        );
    }
);

// ReduceFnRunnerTest.testMergeBeforeFinalizing (SEMANTICS 69).
scenario!(
    sessions_merge_before_finalizing,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, MergingWindows],
    beam = "ReduceFnRunnerTest.testMergeBeforeFinalizing",
    replay = true,
    |env| {
        let p = env.pipeline();
        let stream = TestStream::new()
            .add_elements(vec![kv("k", 1, 1), kv("k", 10, 10)])
            .advance_watermark_to(ts(100));
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::sessions(Duration::from_micros(10)))
                    .with_timestamp_combiner(beam_core::TimestampCombiner::Earliest),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got = panes(&got);
        assert_eq!(got.len(), 1, "{got:?}");
        let mut values = got[0].value.1.clone();
        values.sort();
        assert_eq!(values, vec![1, 10]);
        assert_eq!((got[0].timestamp, got[0].window), (ts(1), iw(1, 20)));
        assert_eq!(pane_tuple(&got[0].pane), (true, true, OnTime, 0, 0));
    }
);

// ReduceFnRunnerTest.testDropDataMultipleWindowsFinishedTrigger (SEMANTICS 70).
scenario!(
    closed_windows_drop_data_and_count_it,
    area = "Lateness and dropping",
    features = [TestStream, Unbounded, Triggers, Metrics],
    beam = "ReduceFnRunnerTest.testDropDataMultipleWindowsFinishedTrigger",
    replay = false,
    |env| {
        let p = env.pipeline();
        let stream = TestStream::new()
            .add_elements(vec![kv("k", 10, 23), kv("k", 12, 40)])
            .advance_watermark_to(ts(70))
            .add_elements(vec![kv("k", 14, 60)])
            .advance_watermark_to(ts(130))
            .add_elements(vec![kv("k", 16, 40)]);
        p.apply("Events", stream)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::sliding(
                    Duration::from_micros(100),
                    Duration::from_micros(30),
                ))
                .triggering(
                    Trigger::after_watermark(),
                    AccumulationMode::Discarding,
                    Duration::from_micros(1000),
                )
                .allow_unsafe_trigger(),
            )
            .unwrap()
            .apply("Sum", Sum::per_key())
            .unwrap();
        let r = p.run().unwrap();
        assert_eq!(
            r.metrics().counter("Sum", "dropped_due_to_closed_window"),
            Some(4)
        );
    }
);
