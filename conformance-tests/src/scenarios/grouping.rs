//! GroupByKey scenarios.

use crate::scenarios::common::{iw, s, ts};
use crate::{scenario, Env};

use beam_core::testing::PAssert;
use beam_core::{
    Count, Create, Duration, GroupByKey, Map, PaneInfo, Reify, TimestampCombiner, WindowFn,
    WindowInto, WindowedValue,
};

fn sorted_groups(groups: &[(String, Vec<i32>)]) -> Vec<(String, Vec<i32>)> {
    let mut g: Vec<(String, Vec<i32>)> = groups
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort();
            (k.clone(), v)
        })
        .collect();
    g.sort();
    g
}

/// Beam's ARBITRARY_KVS (GroupByKeyTest, ReshuffleTest).
pub(crate) fn arbitrary_kvs() -> Vec<(String, i32)> {
    vec![
        (s("k1"), 3),
        (s("k5"), i32::MAX),
        (s("k5"), i32::MIN),
        (s("k2"), 66),
        (s("k1"), 4),
        (s("k2"), -33),
        (s("k3"), 0),
    ]
}

// GroupByKeyTest.testGroupByKey and testGroupByKeyEmpty.
scenario!(
    group_by_key_groups_values_per_key,
    area = "GroupByKey",
    features = [SideInputs],
    beam = "GroupByKeyTest.testGroupByKey and testGroupByKeyEmpty.",
    replay = true,
    |env| {
        {
            let p = env.pipeline();
            let grouped = p
                .apply("Create", Create::of(arbitrary_kvs()))
                .unwrap()
                .apply("GBK", GroupByKey::new())
                .unwrap();
            PAssert::that(&grouped)
                .satisfies(|g: &[(String, Vec<i32>)]| {
                    assert_eq!(
                        sorted_groups(g),
                        vec![
                            (s("k1"), vec![3, 4]),
                            (s("k2"), vec![-33, 66]),
                            (s("k3"), vec![0]),
                            (s("k5"), vec![i32::MIN, i32::MAX]),
                        ]
                    )
                })
                .unwrap();
            let empty = p
                .apply("Empty", Create::<(String, i32)>::of(vec![]))
                .unwrap()
                .apply("GBKEmpty", GroupByKey::new())
                .unwrap();
            PAssert::that(&empty).is_empty().unwrap();
            p.run().unwrap();
        }
    }
);

// GroupByKeyTest.testGroupByKeyAndWindows.
scenario!(
    group_by_key_in_fixed_windows,
    area = "GroupByKey",
    features = [SideInputs],
    beam = "GroupByKeyTest.testGroupByKeyAndWindows.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let input = arbitrary_kvs()
            .into_iter()
            .zip(1..)
            .map(|(kv, t)| (kv, ts(t)));
        let grouped = p
            .apply("Create", Create::timestamped(input))
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(5))),
            )
            .unwrap()
            .apply("GBK", GroupByKey::new())
            .unwrap();
        PAssert::that(&grouped)
            .in_window(iw(0, 5))
            .satisfies(|g: &[(String, Vec<i32>)]| {
                assert_eq!(
                    sorted_groups(g),
                    vec![
                        (s("k1"), vec![3]),
                        (s("k2"), vec![66]),
                        (s("k5"), vec![i32::MIN, i32::MAX])
                    ]
                )
            })
            .unwrap();
        PAssert::that(&grouped)
            .in_window(iw(5, 10))
            .satisfies(|g: &[(String, Vec<i32>)]| {
                assert_eq!(
                    sorted_groups(g),
                    vec![(s("k1"), vec![4]), (s("k2"), vec![-33]), (s("k3"), vec![0])]
                )
            })
            .unwrap();
        p.run().unwrap();
    }
);

fn grouped_with_windows(
    env: &Env,
    window_fn: WindowFn,
    input: Vec<((String, i32), i64)>,
) -> Vec<(String, Vec<i32>, beam_core::Window, i64)> {
    let p = env.pipeline();
    let out = p
        .apply(
            "Create",
            Create::timestamped(input.into_iter().map(|(kv, t)| (kv, ts(t)))),
        )
        .unwrap()
        .apply("Window", WindowInto::new(window_fn))
        .unwrap()
        .apply("GBK", GroupByKey::new())
        .unwrap()
        .apply("Reify", Reify)
        .unwrap();
    let result = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = result.clone();
    PAssert::that(&out)
        .satisfies(move |all: &[WindowedValue<(String, Vec<i32>)>]| {
            let mut v: Vec<_> = all
                .iter()
                .map(|wv| {
                    let mut vals = wv.value.1.clone();
                    vals.sort();
                    assert_eq!(wv.pane, PaneInfo::ON_TIME_AND_ONLY_FIRING);
                    (
                        wv.value.0.clone(),
                        vals,
                        wv.window,
                        wv.timestamp.as_micros(),
                    )
                })
                .collect();
            v.sort();
            *sink.lock().unwrap() = v;
        })
        .unwrap();
    p.run().unwrap();
    let v = result.lock().unwrap().clone();
    v
}

// GroupByKeyTest.testGroupByKeyMultipleWindows: Sliding(5 every 3).
scenario!(
    group_by_key_in_sliding_windows,
    area = "GroupByKey",
    features = [],
    beam = "GroupByKeyTest.testGroupByKeyMultipleWindows: Sliding(5 every 3).",
    replay = true,
    |env| {
        let got = grouped_with_windows(
            env,
            WindowFn::sliding(Duration::from_micros(5), Duration::from_micros(3)),
            vec![((s("foo"), 1), 1), ((s("foo"), 4), 4), ((s("bar"), 3), 3)],
        );
        let got: Vec<_> = got.into_iter().map(|(k, v, w, _)| (k, v, w)).collect();
        assert_eq!(
            got,
            vec![
                (s("bar"), vec![3], iw(0, 5)),
                (s("bar"), vec![3], iw(3, 8)),
                (s("foo"), vec![1], iw(-3, 2)),
                (s("foo"), vec![1, 4], iw(0, 5)),
                (s("foo"), vec![4], iw(3, 8)),
            ]
        );
    }
);

// GroupByKeyTest.testGroupByKeyMergingWindows: Sessions(4), sessions are per key.
scenario!(
    group_by_key_in_session_windows,
    area = "GroupByKey",
    features = [MergingWindows],
    beam = "GroupByKeyTest.testGroupByKeyMergingWindows: Sessions(4), sessions are per key.",
    replay = true,
    |env| {
        let got = grouped_with_windows(
            env,
            WindowFn::sessions(Duration::from_micros(4)),
            vec![
                ((s("foo"), 1), 1),
                ((s("foo"), 4), 4),
                ((s("bar"), 3), 3),
                ((s("foo"), 9), 9),
            ],
        );
        assert_eq!(
            got,
            vec![
                (s("bar"), vec![3], iw(3, 7), 6),
                (s("foo"), vec![1, 4], iw(1, 8), 7),
                (s("foo"), vec![9], iw(9, 13), 12),
            ]
        );
    }
);

// IntervalWindow.isDisjoint: touching sessions do not merge.
scenario!(
    touching_sessions_stay_apart,
    area = "GroupByKey",
    features = [MergingWindows],
    beam = "IntervalWindow.isDisjoint: touching sessions do not merge.",
    replay = true,
    |env| {
        let got = grouped_with_windows(
            env,
            WindowFn::sessions(Duration::from_micros(10)),
            vec![((s("k"), 1), 1), ((s("k"), 11), 11)],
        );
        assert_eq!(got.len(), 2, "{got:?}");
    }
);

fn windowed_count(env: &Env, window_fn: WindowFn, input: Vec<(&str, i64)>) -> Vec<String> {
    let p = env.pipeline();
    let out = p
        .apply(
            "Create",
            Create::timestamped(input.into_iter().map(|(v, t)| (s(v), ts(t)))),
        )
        .unwrap()
        .apply(
            "Window",
            WindowInto::new(window_fn).with_timestamp_combiner(TimestampCombiner::Earliest),
        )
        .unwrap()
        .apply("Count", Count::per_element())
        .unwrap()
        .apply("Reify", Reify)
        .unwrap()
        .apply(
            "Format",
            Map::new(|wv: &WindowedValue<(String, u64)>| {
                format!(
                    "{}:{}:{}:{:?}",
                    wv.value.0, wv.value.1, wv.timestamp, wv.window
                )
            }),
        )
        .unwrap();
    let result = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = result.clone();
    PAssert::that(&out)
        .satisfies(move |all: &[String]| {
            let mut v = all.to_vec();
            v.sort();
            *sink.lock().unwrap() = v;
        })
        .unwrap();
    p.run().unwrap();
    let v = result.lock().unwrap().clone();
    v
}

// WindowingTest.testPartitioningWindowing.
scenario!(
    windowed_count_in_fixed_windows,
    area = "GroupByKey",
    features = [],
    beam = "WindowingTest.testPartitioningWindowing.",
    replay = true,
    |env| {
        let got = windowed_count(
            env,
            WindowFn::fixed(Duration::from_micros(10)),
            vec![("a", 1), ("b", 2), ("b", 3), ("c", 11), ("d", 11)],
        );
        assert_eq!(
            got,
            vec![
                "a:1:1:[0, 10)",
                "b:2:2:[0, 10)",
                "c:1:11:[10, 20)",
                "d:1:11:[10, 20)"
            ]
        );
    }
);

// WindowingTest.testNonPartitioningWindowing: each element keeps its own
// timestamp in every sliding window it is in. (This expected output times moved
// past the previous window, from WindowFn.getOutputTime, until Beam Java
// removed it: BEAM-12011, apache/beam#14268 and #14540.)
scenario!(
    windowed_count_in_sliding_windows_keeps_element_timestamps,
    area = "GroupByKey",
    features = [],
    beam = "WindowingTest.testNonPartitioningWindowing (without getOutputTime, removed by apache/beam#14268).",
    replay = true,
    |env| {
        let got = windowed_count(
            env,
            WindowFn::sliding(Duration::from_micros(10), Duration::from_micros(5)),
            vec![("a", 1), ("a", 7), ("b", 8)],
        );
        assert_eq!(
            got,
            vec![
                "a:1:1:[-5, 5)",
                "a:1:7:[5, 15)",
                "a:2:1:[0, 10)",
                "b:1:8:[0, 10)",
                "b:1:8:[5, 15)"
            ]
        );
    }
);

// WindowingTest.testMergingWindowing.
scenario!(
    windowed_count_in_sessions,
    area = "GroupByKey",
    features = [MergingWindows],
    beam = "WindowingTest.testMergingWindowing.",
    replay = true,
    |env| {
        let got = windowed_count(
            env,
            WindowFn::sessions(Duration::from_micros(10)),
            vec![("a", 1), ("a", 5), ("a", 20)],
        );
        assert_eq!(got, vec!["a:1:20:[20, 30)", "a:2:1:[1, 15)"]);
    }
);

// GroupByKeyTest.testTimestampCombinerEarliest/Latest and WindowingTest.testTimestampCombinerDefault.
scenario!(timestamp_combiners, area = "GroupByKey", features = [SideInputs], beam = "GroupByKeyTest.testTimestampCombinerEarliest/Latest and WindowingTest.testTimestampCombinerDefault.", replay = true, |env| {
    let ten_min = 600_000_000;
    for (combiner, want) in [
        (Some(TimestampCombiner::Earliest), 0),
        (Some(TimestampCombiner::Latest), 10),
        (None, ten_min - 1),
    ] {
        let p = env.pipeline();
        let mut w = WindowInto::new(WindowFn::fixed(Duration::from_mins(10)));
        if let Some(c) = combiner {
            w = w.with_timestamp_combiner(c);
        }
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![((0, s("hello")), ts(0)), ((0, s("goodbye")), ts(10))]),
            )
            .unwrap()
            .apply("Window", w)
            .unwrap()
            .apply("GBK", GroupByKey::new())
            .unwrap()
            .apply("Reify", Reify)
            .unwrap()
            .apply(
                "Ts",
                Map::new(|wv: &WindowedValue<(i32, Vec<String>)>| wv.timestamp.as_micros()),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![want])
            .unwrap();
        p.run().unwrap();
    }
});

// GroupByKeyTest: a GroupByKey after a sessions GroupByKey needs re-windowing.
scenario!(
    regrouping_merged_windows_needs_rewindowing,
    area = "GroupByKey",
    features = [MergingWindows, SideInputs],
    beam = "GroupByKeyTest: a GroupByKey after a sessions GroupByKey needs re-windowing.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let g = p
            .apply("Create", Create::timestamped(vec![((1, 1), ts(1))]))
            .unwrap()
            .apply(
                "Sessions",
                WindowInto::new(WindowFn::sessions(Duration::from_micros(4))),
            )
            .unwrap()
            .apply("GBK1", GroupByKey::new())
            .unwrap();
        let err = g
            .apply("GBK2", GroupByKey::new())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("GBK2") && err.contains("merge function"),
            "{err}"
        );
        let rewindowed = g
            .apply(
                "Fixed",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("GBK3", GroupByKey::new())
            .unwrap()
            .apply("Len", Map::new(|kv: &(i32, Vec<Vec<i32>>)| kv.1.len()))
            .unwrap();
        PAssert::that(&rewindowed)
            .contains_in_any_order(vec![1])
            .unwrap();
        p.run().unwrap();
    }
);

// A single key with a million values.
scenario!(
    one_key_with_a_million_values,
    area = "GroupByKey",
    features = [SideInputs],
    beam = "A single key with a million values.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply("Create", Create::of((0..1_000_000u32).map(|i| (7u8, i))))
            .unwrap()
            .apply("GBK", GroupByKey::new())
            .unwrap()
            .apply(
                "Check",
                Map::new(|kv: &(u8, Vec<u32>)| {
                    let mut v = kv.1.clone();
                    v.sort_unstable();
                    (
                        kv.0,
                        v.len(),
                        v.iter().enumerate().all(|(i, x)| i as u32 == *x),
                    )
                }),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![(7, 1_000_000, true)])
            .unwrap();
        p.run().unwrap();
    }
);

// ReshuffleTest.testReshufflePreservesMetadata (batch part).
scenario!(
    reshuffle_preserves_timestamps_windows_and_panes,
    area = "GroupByKey",
    features = [SideInputs],
    beam = "ReshuffleTest.testReshufflePreservesMetadata (batch part).",
    replay = true,
    |env| {
        let p = env.pipeline();
        let grouped = p
            .apply(
                "Create",
                Create::timestamped(vec![((s("k"), 1), ts(3)), ((s("k"), 2), ts(14))]),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("GBK", GroupByKey::new())
            .unwrap()
            .apply("Reify", Reify)
            .unwrap();
        let after = grouped.apply("Reshuffle", beam_core::Reshuffle).unwrap();
        let before_meta = grouped
            .apply(
                "MetaBefore",
                Map::new(|wv: &WindowedValue<(String, Vec<i32>)>| {
                    format!("{:?}{:?}{:?}", wv.timestamp, wv.window, wv.pane)
                }),
            )
            .unwrap();
        let after_meta = after
            .apply("Reify2", Reify)
            .unwrap()
            .apply(
                "MetaAfter",
                Map::new(|wv: &WindowedValue<WindowedValue<(String, Vec<i32>)>>| {
                    assert_eq!(
                        (wv.timestamp, wv.window, wv.pane),
                        (wv.value.timestamp, wv.value.window, wv.value.pane)
                    );
                    format!("{:?}{:?}{:?}", wv.timestamp, wv.window, wv.pane)
                }),
            )
            .unwrap();
        let want = vec![
            format!(
                "{:?}{:?}{:?}",
                ts(9),
                iw(0, 10),
                PaneInfo::ON_TIME_AND_ONLY_FIRING
            ),
            format!(
                "{:?}{:?}{:?}",
                ts(19),
                iw(10, 20),
                PaneInfo::ON_TIME_AND_ONLY_FIRING
            ),
        ];
        PAssert::that(&before_meta)
            .contains_in_any_order(want.clone())
            .unwrap();
        PAssert::that(&after_meta)
            .contains_in_any_order(want)
            .unwrap();
        p.run().unwrap();
    }
);
