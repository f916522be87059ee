//! Reshuffle (Beam's ReshuffleTest): elements, timestamps and windows come
//! through a redistribution unchanged, after windowing and after grouping.

use crate::scenario;
use crate::scenarios::common::{collect, iw, panes, s, sorted_values, ts};
use crate::scenarios::grouping::arbitrary_kvs;
use beam_core::testing::PAssert;
use beam_core::{
    Create, Duration, GroupByKey, Map, Reshuffle, Timestamp, Window, WindowFn, WindowInto,
};

// ReshuffleTest.testJustReshuffle.
scenario!(
    just_reshuffle,
    area = "Flatten and Reshuffle",
    features = [SideInputs],
    beam = "ReshuffleTest.testJustReshuffle",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply("Create", Create::of(arbitrary_kvs()))
            .unwrap()
            .apply("Reshuffle", Reshuffle)
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(arbitrary_kvs())
            .unwrap();
        p.run().unwrap();
    }
);

/// The groups of `kvs` (at `times`) under `window`, through a Reshuffle:
/// each group with its window.
fn groups_after(
    env: &crate::Env,
    window: WindowFn,
    kvs: Vec<((String, i64), Timestamp)>,
) -> Vec<(String, Vec<i64>, Window)> {
    let p = env.pipeline();
    let out = p
        .apply("Create", Create::timestamped(kvs))
        .unwrap()
        .apply("Window", WindowInto::new(window))
        .unwrap()
        .apply("Group", GroupByKey::new())
        .unwrap()
        .apply("Reshuffle", Reshuffle)
        .unwrap()
        .apply("Sorted", Map::new(sorted_values::<String, i64>))
        .unwrap();
    let got = collect(&out, "Out");
    p.run().unwrap();
    let mut v: Vec<_> = panes(&got)
        .into_iter()
        .map(|wv| (wv.value.0, wv.value.1, wv.window))
        .collect();
    v.sort_by_key(|x| format!("{x:?}"));
    v
}

/// `want`, in the order of [`groups_after`].
fn sorted(mut want: Vec<(String, Vec<i64>, Window)>) -> Vec<(String, Vec<i64>, Window)> {
    want.sort_by_key(|x| format!("{x:?}"));
    want
}

fn timed_kvs() -> Vec<((String, i64), Timestamp)> {
    vec![
        ((s("k1"), 3), ts(0)),
        ((s("k2"), 4), ts(2)),
        ((s("k1"), 5), ts(9)),
        ((s("k1"), 6), ts(25)),
        ((s("k2"), 7), ts(12)),
    ]
}

// ReshuffleTest.testReshuffleAfterFixedWindowsAndGroupByKey.
scenario!(
    reshuffle_after_fixed_windows_and_group_by_key,
    area = "Flatten and Reshuffle",
    features = [],
    beam = "ReshuffleTest.testReshuffleAfterFixedWindowsAndGroupByKey",
    replay = true,
    |env| {
        let got = groups_after(env, WindowFn::fixed(Duration::from_micros(10)), timed_kvs());
        assert_eq!(
            got,
            sorted(vec![
                (s("k1"), vec![3, 5], iw(0, 10)),
                (s("k1"), vec![6], iw(20, 30)),
                (s("k2"), vec![4], iw(0, 10)),
                (s("k2"), vec![7], iw(10, 20)),
            ])
        );
    }
);

// ReshuffleTest.testReshuffleAfterSlidingWindowsAndGroupByKey.
scenario!(
    reshuffle_after_sliding_windows_and_group_by_key,
    area = "Flatten and Reshuffle",
    features = [],
    beam = "ReshuffleTest.testReshuffleAfterSlidingWindowsAndGroupByKey",
    replay = true,
    |env| {
        let got = groups_after(
            env,
            WindowFn::sliding(Duration::from_micros(10), Duration::from_micros(5)),
            vec![((s("k"), 1), ts(1)), ((s("k"), 2), ts(7))],
        );
        assert_eq!(
            got,
            sorted(vec![
                (s("k"), vec![1], iw(-5, 5)),
                (s("k"), vec![1, 2], iw(0, 10)),
                (s("k"), vec![2], iw(5, 15)),
            ])
        );
    }
);

// ReshuffleTest.testReshuffleAfterSessionsAndGroupByKey.
scenario!(
    reshuffle_after_sessions_and_group_by_key,
    area = "Flatten and Reshuffle",
    features = [MergingWindows],
    beam = "ReshuffleTest.testReshuffleAfterSessionsAndGroupByKey",
    replay = true,
    |env| {
        let got = groups_after(
            env,
            WindowFn::sessions(Duration::from_micros(10)),
            timed_kvs(),
        );
        assert_eq!(
            got,
            sorted(vec![
                (s("k1"), vec![3, 5], iw(0, 19)),
                (s("k1"), vec![6], iw(25, 35)),
                // Touching sessions do not merge.
                (s("k2"), vec![4], iw(2, 12)),
                (s("k2"), vec![7], iw(12, 22)),
            ])
        );
    }
);

// ReshuffleTest.testReshuffleAfterFixedWindows / testReshuffleAfterSlidingWindows:
// each element keeps its timestamp and window (sliding windows keep every copy).
scenario!(
    reshuffle_keeps_each_window_copy,
    area = "Flatten and Reshuffle",
    features = [],
    beam = "ReshuffleTest.testReshuffleAfterFixedWindows, testReshuffleAfterSlidingWindows",
    replay = true,
    |env| {
        for (window, want) in [
            (
                WindowFn::fixed(Duration::from_micros(10)),
                vec![(3, 3, iw(0, 10)), (14, 14, iw(10, 20))],
            ),
            (
                WindowFn::sliding(Duration::from_micros(10), Duration::from_micros(5)),
                vec![
                    (3, 3, iw(-5, 5)),
                    (3, 3, iw(0, 10)),
                    (14, 14, iw(5, 15)),
                    (14, 14, iw(10, 20)),
                ],
            ),
        ] {
            let p = env.pipeline();
            let out = p
                .apply(
                    "Create",
                    Create::timestamped(vec![(3i64, ts(3)), (14, ts(14))]),
                )
                .unwrap()
                .apply("Window", WindowInto::new(window))
                .unwrap()
                .apply("Reshuffle", Reshuffle)
                .unwrap();
            let got = collect(&out, "Out");
            p.run().unwrap();
            let mut got: Vec<_> = panes(&got)
                .into_iter()
                .map(|wv| (wv.value, wv.timestamp.as_micros(), wv.window))
                .collect();
            got.sort_by_key(|x| format!("{x:?}"));
            let mut want = want;
            want.sort_by_key(|x| format!("{x:?}"));
            assert_eq!(got, want);
        }
    }
);
