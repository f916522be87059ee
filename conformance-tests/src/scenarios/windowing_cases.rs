//! More of Beam's WindowTest, WindowingTest and GroupByKeyTest windowing
//! cases: empty input, output timestamps, windows kept through a grouping,
//! and grouping in the global window after windowed work.

use crate::scenario;
use crate::scenarios::common::{collect, iw, panes, s, sorted_values, ts};
use beam_core::testing::PAssert;
use beam_core::{
    Count, Create, Duration, GroupByKey, Map, Sum, TimestampCombiner, Window, WindowFn, WindowInto,
};

fn fixed(n: i64) -> WindowFn {
    WindowFn::fixed(Duration::from_micros(n))
}

// WindowingTest.testEmptyInput.
scenario!(
    windowing_nothing_gives_nothing,
    area = "Windowing",
    features = [SideInputs],
    beam = "WindowingTest.testEmptyInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply("Empty", Create::of(Vec::<String>::new()))
            .unwrap()
            .apply("Window", WindowInto::new(fixed(10)))
            .unwrap()
            .apply("Count", Count::per_element())
            .unwrap();
        PAssert::that(&out).is_empty().unwrap();
        p.run().unwrap();
    }
);

// WindowTest.testTimestampCombinerEndOfWindow: a grouping's output is at the
// end of its window, whatever its inputs' timestamps.
scenario!(
    grouping_output_at_the_end_of_the_window,
    area = "Windowing",
    features = [],
    beam = "WindowTest.testTimestampCombinerEndOfWindow",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![((s("k"), 1i64), ts(1)), ((s("k"), 2), ts(3))]),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(fixed(10)).with_timestamp_combiner(TimestampCombiner::EndOfWindow),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got = panes(&got);
        assert_eq!(got.len(), 1);
        assert_eq!((got[0].timestamp, got[0].window), (ts(9), iw(0, 10)));
    }
);

// GroupByKeyTest.testIdentityWindowFnPropagation: after a grouping in fixed
// windows, a second grouping without re-windowing groups within the same
// windows.
scenario!(
    windows_carry_through_a_grouping,
    area = "Windowing",
    features = [SideInputs],
    beam = "GroupByKeyTest.testIdentityWindowFnPropagation",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![
                    ((s("a"), 1i64), ts(1)),
                    ((s("b"), 2), ts(2)),
                    ((s("a"), 3), ts(12)),
                ]),
            )
            .unwrap()
            .apply("Window", WindowInto::new(fixed(10)))
            .unwrap()
            .apply("SumPerKey", Sum::per_key())
            .unwrap()
            .apply("AllKeys", Map::new(|kv: &(String, i64)| (s("all"), kv.1)))
            .unwrap()
            .apply("SumAgain", Sum::per_key())
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![(s("all"), 3)])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![(s("all"), 3)])
            .unwrap();
        p.run().unwrap();
    }
);

// WindowingTest.testWindowPreservation's counterpart: re-windowing into the
// global window after windowed sums gathers them all again.
scenario!(
    rewindowing_into_the_global_window,
    area = "Windowing",
    features = [SideInputs],
    beam = "WindowTest (re-windowing into GlobalWindows after a windowed grouping)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![
                    ((s("a"), 1i64), ts(1)),
                    ((s("a"), 2), ts(15)),
                    ((s("a"), 4), ts(27)),
                ]),
            )
            .unwrap()
            .apply("Window", WindowInto::new(fixed(10)))
            .unwrap()
            .apply("PerWindow", Sum::per_key())
            .unwrap()
            .apply("Global", WindowInto::new(WindowFn::Global))
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap()
            .apply("Sorted", Map::new(sorted_values::<String, i64>))
            .unwrap();
        PAssert::that(&out)
            .in_window(Window::Global)
            .contains_in_any_order(vec![(s("a"), vec![1, 2, 4])])
            .unwrap();
        p.run().unwrap();
    }
);

// WindowingTest.testNonPartitioningWindowing with sessions: per-key sessions
// and their counts.
scenario!(
    session_counts_per_key,
    area = "Windowing",
    features = [MergingWindows, SideInputs],
    beam = "WindowingTest.testMergingWindowing (counts per key and session)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let words = vec![
            (s("a"), ts(1)),
            (s("a"), ts(2)),
            (s("b"), ts(3)),
            (s("a"), ts(20)),
            (s("b"), ts(11)),
        ];
        let out = p
            .apply("Create", Create::timestamped(words))
            .unwrap()
            .apply(
                "Sessions",
                WindowInto::new(WindowFn::sessions(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Count", Count::per_element())
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let mut got: Vec<(String, u64, Window)> = panes(&got)
            .into_iter()
            .map(|wv| (wv.value.0, wv.value.1, wv.window))
            .collect();
        got.sort_by_key(|x| format!("{x:?}"));
        let mut want = vec![
            (s("a"), 2, iw(1, 12)),
            (s("a"), 1, iw(20, 30)),
            (s("b"), 2, iw(3, 21)),
        ];
        want.sort_by_key(|x| format!("{x:?}"));
        assert_eq!(got, want);
    }
);
