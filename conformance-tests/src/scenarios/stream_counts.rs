//! Count triggers on streams (Beam's trigger tests with
//! `Repeatedly.forever(AfterPane.elementCountAtLeast(n))`), in both
//! accumulation modes, and two TestStreams flattened (TestStreamTest).

use crate::scenario;
use crate::scenarios::common::{iw, kv, s, sum_panes, ts};
use beam_core::testing::PAssert;
use beam_core::{
    AccumulationMode, Count, Duration, Flatten, PCollectionList, TestStream, Trigger, WindowFn,
    WindowInto,
};

/// Five ones for key "k", one bundle each, then the end of the stream.
fn five_ones() -> TestStream<(String, i64)> {
    let mut t = TestStream::new();
    for i in 1..=5 {
        t = t.add_elements(vec![kv("k", 1, i)]);
    }
    t.advance_watermark_to_infinity()
}

fn every_two(mode: AccumulationMode) -> WindowInto<(String, i64)> {
    WindowInto::new(WindowFn::Global).triggering(
        Trigger::repeatedly(Trigger::after_count(2)),
        mode,
        Duration::ZERO,
    )
}

// Repeatedly(AfterPane.elementCountAtLeast(2)), discarding: a pane per two
// elements, and the remainder when the window closes.
scenario!(
    count_trigger_discarding_in_the_global_window,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers],
    beam = "TriggerStateMachineTest / ReduceFnRunnerTest: Repeatedly(AfterPane.elementCountAtLeast(2)), discarding",
    replay = true,
    |env| {
        let (got, _) = sum_panes(env, five_ones(), every_two(AccumulationMode::Discarding));
        let sums: Vec<i64> = got.iter().map(|wv| wv.value.1).collect();
        assert_eq!(sums, vec![2, 2, 1], "{got:?}");
        assert!(got.last().is_some_and(|wv| wv.pane.is_last), "{got:?}");
    }
);

// The same, accumulating: each pane holds everything so far.
scenario!(
    count_trigger_accumulating_in_the_global_window,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers],
    beam = "TriggerStateMachineTest / ReduceFnRunnerTest: Repeatedly(AfterPane.elementCountAtLeast(2)), accumulating",
    replay = true,
    |env| {
        let (got, _) = sum_panes(env, five_ones(), every_two(AccumulationMode::Accumulating));
        let sums: Vec<i64> = got.iter().map(|wv| wv.value.1).collect();
        assert_eq!(sums, vec![2, 4, 5], "{got:?}");
        let indices: Vec<i64> = got.iter().map(|wv| wv.pane.index).collect();
        assert_eq!(indices, vec![0, 1, 2]);
    }
);

// TestStreamTest.testMultipleStreams: two test streams flattened; windows
// close as both watermarks pass them.
scenario!(
    two_test_streams_flattened,
    area = "TestStream",
    features = [TestStream, Unbounded, SideInputs],
    beam = "TestStreamTest.testMultipleStreams",
    replay = true,
    |env| {
        let p = env.pipeline();
        let a = p
            .apply(
                "A",
                TestStream::<String>::new()
                    .add_elements(vec![(s("a"), ts(1))])
                    .advance_watermark_to(ts(12))
                    .add_elements(vec![(s("a"), ts(14))])
                    .advance_watermark_to_infinity(),
            )
            .unwrap();
        let b = p
            .apply(
                "B",
                TestStream::<String>::new()
                    .add_elements(vec![(s("b"), ts(3)), (s("a"), ts(5))])
                    .advance_watermark_to_infinity(),
            )
            .unwrap();
        let out = PCollectionList::of(vec![a, b])
            .unwrap()
            .apply("Flatten", Flatten)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Count", Count::per_element())
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![(s("a"), 2), (s("b"), 1)])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![(s("a"), 1)])
            .unwrap();
        p.run().unwrap();
    }
);
