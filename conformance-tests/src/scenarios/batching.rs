//! Beam's GroupIntoBatchesTest and LatestTest: batches of a key's values by
//! size, by buffering time and at the window's expiration; the latest value
//! by event time, globally and per key.

use crate::scenario;
use crate::scenarios::common::{collect, iw, panes, s};
use beam_core::testing::PAssert;
use beam_core::{
    AccumulationMode, Create, Duration, GroupIntoBatches, Latest, Map, TestStream, Timestamp,
    Trigger, WindowFn, WindowInto, WindowedValue,
};

/// Beam's test data: `n` values under one key, cycling through ten names.
fn scientists(n: usize) -> Vec<(String, String)> {
    const NAMES: [&str; 10] = [
        "Einstein",
        "Darwin",
        "Copernicus",
        "Pasteur",
        "Curie",
        "Faraday",
        "Newton",
        "Bohr",
        "Galilei",
        "Maxwell",
    ];
    (0..n).map(|i| (s("key"), s(NAMES[i % 10]))).collect()
}

/// Each batch as (window, timestamp in seconds, values), sorted.
fn batches(
    got: Vec<WindowedValue<(String, Vec<String>)>>,
) -> Vec<(beam_core::Window, i64, Vec<String>)> {
    let mut v: Vec<_> = got
        .into_iter()
        .map(|wv| (wv.window, wv.timestamp.as_micros() / 1_000_000, wv.value.1))
        .collect();
    v.sort();
    v
}

fn secs(x: i64) -> Timestamp {
    Timestamp::from_secs(x)
}

/// Runs `stream` through `window` and `batch` on the scenario's runner;
/// returns the batches (see [`batches`]).
fn batched(
    env: &crate::Env,
    stream: TestStream<(String, String)>,
    window: WindowInto<(String, String)>,
    batch: GroupIntoBatches<String, String>,
) -> Vec<(beam_core::Window, i64, Vec<String>)> {
    let p = env.pipeline();
    let out = p
        .apply("Events", stream)
        .unwrap()
        .apply("Window", window)
        .unwrap()
        .apply("Batch", batch)
        .unwrap();
    let got = collect(&out, "Out");
    p.run().unwrap();
    batches(panes(&got))
}

// GroupIntoBatchesTest.testInGlobalWindowBatchSizeCount and
// testWithUnevenBatches: 10 values in batches of 5 make two; 11 make three,
// the last of one; no value is lost or repeated.
scenario!(
    group_into_batches_by_count_in_the_global_window,
    area = "State and timers",
    features = [StatefulParDo, Timers],
    beam = "GroupIntoBatchesTest.testInGlobalWindowBatchSizeCount, testWithUnevenBatches",
    replay = true,
    |env| {
        for (n, sizes) in [(10, vec![5, 5]), (11, vec![1, 5, 5])] {
            let p = env.pipeline();
            let out = p
                .apply("Input", Create::of(scientists(n)))
                .unwrap()
                .apply("Batch", GroupIntoBatches::of_size(5))
                .unwrap();
            let sizes_seen = out
                .apply("Size", Map::new(|b: &(String, Vec<String>)| b.1.len()))
                .unwrap();
            PAssert::that(&sizes_seen)
                .contains_in_any_order(sizes)
                .unwrap();
            let values = out
                .apply(
                    "Values",
                    beam_core::FlatMap::new(|b: &(String, Vec<String>)| b.1.clone()),
                )
                .unwrap();
            PAssert::that(&values)
                .contains_in_any_order(scientists(n).into_iter().map(|kv| kv.1).collect())
                .unwrap();
            p.run().unwrap();
        }
    }
);

// GroupIntoBatchesTest.testInStreamingMode: one value a second in 6 s
// windows, batches of 5: the first window gives a full batch and, when it
// expires, the one value left; the second window its four values.
scenario!(
    group_into_batches_in_streaming_fixed_windows,
    area = "State and timers",
    features = [StatefulParDo, Timers, TestStream, Unbounded],
    beam = "GroupIntoBatchesTest.testInStreamingMode",
    replay = true,
    |env| {
        let mut stream = TestStream::new().advance_watermark_to(secs(0));
        for (i, kv) in scientists(10).into_iter().enumerate() {
            stream = stream.add_elements(vec![(kv, secs(i as i64))]);
        }
        let stream = stream
            .advance_watermark_to(secs(5))
            .advance_watermark_to(secs(7))
            .advance_watermark_to(secs(10))
            .advance_watermark_to_infinity();
        let got = batched(
            env,
            stream,
            WindowInto::new(WindowFn::fixed(Duration::from_secs(6))),
            GroupIntoBatches::of_size(5),
        );
        let names: Vec<String> = scientists(10).into_iter().map(|kv| kv.1).collect();
        let w = |a: i64| iw(a * 1_000_000, (a + 6) * 1_000_000);
        assert_eq!(
            got,
            vec![
                (w(0), 0, names[0..5].to_vec()),
                (w(0), 5, names[5..6].to_vec()),
                (w(6), 6, names[6..10].to_vec()),
            ]
        );
    }
);

// GroupIntoBatchesTest.testBufferingTimerInFixedWindow: processing time
// moves 2 s after each value and a batch waits at most 5 s, so batches hold
// three values at most; what is left goes out when its window expires.
scenario!(
    group_into_batches_buffering_timer_in_fixed_windows,
    area = "State and timers",
    features = [StatefulParDo, Timers, TestStream, Unbounded, ProcessingTime],
    beam = "GroupIntoBatchesTest.testBufferingTimerInFixedWindow",
    replay = true,
    |env| {
        let mut stream = TestStream::new().advance_watermark_to(secs(0));
        for (i, kv) in scientists(10).into_iter().enumerate() {
            stream = stream
                .add_elements(vec![(kv, secs(i as i64))])
                .advance_processing_time(Duration::from_secs(2));
        }
        let stream = stream
            .advance_watermark_to(secs(10))
            .advance_watermark_to_infinity();
        let got = batched(
            env,
            stream,
            WindowInto::new(WindowFn::fixed(Duration::from_secs(4))),
            GroupIntoBatches::of_size(5).with_max_buffering_duration(Duration::from_secs(5)),
        );
        let names: Vec<String> = scientists(10).into_iter().map(|kv| kv.1).collect();
        let w = |a: i64| iw(a * 1_000_000, (a + 4) * 1_000_000);
        assert_eq!(
            got,
            vec![
                (w(0), 0, names[0..3].to_vec()),
                (w(0), 3, names[3..4].to_vec()),
                (w(4), 4, names[4..7].to_vec()),
                (w(4), 7, names[7..8].to_vec()),
                (w(8), 8, names[8..10].to_vec()),
            ]
        );
    }
);

// GroupIntoBatchesTest.testBufferingTimerInGlobalWindow: a batch size larger
// than the input, in the global window (whose trigger a ParDo ignores): the
// buffering time alone cuts the two bursts apart.
scenario!(
    group_into_batches_buffering_timer_in_the_global_window,
    area = "State and timers",
    features = [
        StatefulParDo,
        Timers,
        TestStream,
        Unbounded,
        ProcessingTime,
        Triggers
    ],
    beam = "GroupIntoBatchesTest.testBufferingTimerInGlobalWindow",
    replay = true,
    |env| {
        let timed = |from: usize| -> Vec<((String, String), Timestamp)> {
            scientists(5)
                .into_iter()
                .enumerate()
                .map(|(i, kv)| (kv, secs((from + i) as i64)))
                .collect()
        };
        let stream = TestStream::new()
            .add_elements(timed(0))
            .advance_processing_time(Duration::from_secs(100))
            .add_elements(timed(5))
            .advance_processing_time(Duration::from_secs(100))
            .advance_watermark_to(secs(10))
            .advance_watermark_to_infinity();
        let got = batched(
            env,
            stream,
            WindowInto::new(WindowFn::Global).triggering(
                Trigger::repeatedly(Trigger::after_count(2)),
                AccumulationMode::Discarding,
                Duration::ZERO,
            ),
            GroupIntoBatches::of_size(15).with_max_buffering_duration(Duration::from_secs(5)),
        );
        let mut first: Vec<String> = scientists(5).into_iter().map(|kv| kv.1).collect();
        first.sort();
        let got: Vec<(i64, Vec<String>)> = got
            .into_iter()
            .map(|(_, t, mut v)| {
                v.sort();
                (t, v)
            })
            .collect();
        assert_eq!(got, vec![(0, first.clone()), (5, first)]);
    }
);

// A batch size of zero or a buffering duration of zero is refused when the
// pipeline is built.
scenario!(
    group_into_batches_refuses_empty_limits,
    area = "State and timers",
    features = [],
    beam = "GroupIntoBatches.ofSize, withMaxBufferingDuration (argument checks)",
    replay = false,
    |env| {
        let p = env.pipeline();
        let input = p.apply("Input", Create::of(scientists(3))).unwrap();
        let e = input
            .apply("Zero", GroupIntoBatches::of_size(0))
            .unwrap_err()
            .to_string();
        assert!(e.contains("Zero") && e.contains("batch size"), "{e}");
        let e = input
            .apply(
                "NoWait",
                GroupIntoBatches::of_size(2).with_max_buffering_duration(Duration::ZERO),
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("NoWait") && e.contains("buffering"), "{e}");
    }
);

// LatestTest.testGloballyEventTimestamp and testGloballyEmptyCollection.
scenario!(
    latest_globally_and_of_nothing,
    area = "Combine and composites",
    features = [],
    beam = "LatestTest.testGloballyEventTimestamp, testGloballyEmptyCollection",
    replay = true,
    |env| {
        let p = env.pipeline();
        let latest = p
            .apply(
                "Input",
                Create::timestamped(vec![
                    (s("foo"), Timestamp::from_millis(100)),
                    (s("bar"), Timestamp::from_millis(300)),
                    (s("baz"), Timestamp::from_millis(200)),
                ]),
            )
            .unwrap()
            .apply("Latest", Latest::globally())
            .unwrap();
        PAssert::that(&latest)
            .contains_in_any_order(vec![Some(s("bar"))])
            .unwrap();
        let none = p
            .apply("Nothing", Create::<String>::of(vec![]))
            .unwrap()
            .apply("LatestOfNothing", Latest::globally())
            .unwrap();
        PAssert::that(&none)
            .contains_in_any_order(vec![None])
            .unwrap();
        p.run().unwrap();
    }
);

// LatestTest.testPerKeyEventTimestamp and testPerKeyEmptyCollection, and the
// latest per key of each fixed window.
scenario!(
    latest_per_key_and_per_window,
    area = "Combine and composites",
    features = [],
    beam = "LatestTest.testPerKeyEventTimestamp, testPerKeyEmptyCollection",
    replay = true,
    |env| {
        let p = env.pipeline();
        let input = p
            .apply(
                "Input",
                Create::timestamped(vec![
                    ((s("A"), s("foo")), Timestamp::from_millis(100)),
                    ((s("B"), s("bar")), Timestamp::from_millis(300)),
                    ((s("A"), s("baz")), Timestamp::from_millis(200)),
                    ((s("A"), s("qux")), Timestamp::from_millis(1100)),
                ]),
            )
            .unwrap();
        let latest = input.apply("Latest", Latest::per_key()).unwrap();
        PAssert::that(&latest)
            .contains_in_any_order(vec![(s("A"), s("qux")), (s("B"), s("bar"))])
            .unwrap();
        let per_window = input
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(1))),
            )
            .unwrap()
            .apply("LatestPerWindow", Latest::per_key())
            .unwrap();
        let second = |a: i64| iw(a * 1_000_000, (a + 1) * 1_000_000);
        PAssert::that(&per_window)
            .in_window(second(0))
            .contains_in_any_order(vec![(s("A"), s("baz")), (s("B"), s("bar"))])
            .unwrap();
        PAssert::that(&per_window)
            .in_window(second(1))
            .contains_in_any_order(vec![(s("A"), s("qux"))])
            .unwrap();
        let none = p
            .apply("Nothing", Create::<(String, String)>::of(vec![]))
            .unwrap()
            .apply("LatestOfNothing", Latest::per_key())
            .unwrap();
        PAssert::that(&none).is_empty().unwrap();
        p.run().unwrap();
    }
);

// Batches are per key: each key's values are cut on their own, and no batch
// mixes keys.
scenario!(
    group_into_batches_per_key,
    area = "State and timers",
    features = [StatefulParDo, Timers],
    beam = "GroupIntoBatchesTest (several keys)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let mut input = Vec::new();
        for (k, n) in [("a", 7), ("b", 4), ("c", 3)] {
            input.extend((0..n).map(|i| (s(k), format!("{k}{i}"))));
        }
        let out = p
            .apply("Input", Create::of(input))
            .unwrap()
            .apply("Batch", GroupIntoBatches::of_size(3))
            .unwrap()
            .apply(
                "Shape",
                Map::new(|b: &(String, Vec<String>)| {
                    let own = b.1.iter().all(|v| v.starts_with(b.0.as_str()));
                    (b.0.clone(), b.1.len(), own)
                }),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![
                (s("a"), 3, true),
                (s("a"), 3, true),
                (s("a"), 1, true),
                (s("b"), 3, true),
                (s("b"), 1, true),
                (s("c"), 3, true),
            ])
            .unwrap();
        p.run().unwrap();
    }
);

// Latest.globally in fixed windows needs without_defaults (as any global
// combine outside the global window); then each window with elements has
// its latest, and a window without any has nothing.
scenario!(
    latest_globally_per_window,
    area = "Combine and composites",
    features = [],
    beam = "LatestTest.testGloballyEventTimestamp (windowed), Combine.globally withoutDefaults",
    replay = true,
    |env| {
        let p = env.pipeline();
        let windowed = p
            .apply(
                "Input",
                Create::timestamped(vec![
                    (s("a"), Timestamp::from_millis(100)),
                    (s("b"), Timestamp::from_millis(900)),
                    (s("c"), Timestamp::from_millis(300)),
                    (s("d"), Timestamp::from_millis(2500)),
                ]),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(1))),
            )
            .unwrap();
        let e = windowed
            .apply("WithDefaults", Latest::globally())
            .expect_err("refused")
            .to_string();
        assert!(e.contains("WithDefaults"), "{e}");
        let latest = windowed
            .apply("Latest", Latest::globally().without_defaults())
            .unwrap();
        PAssert::that(&latest)
            .contains_in_any_order(vec![Some(s("b")), Some(s("d"))])
            .unwrap();
        p.run().unwrap();
    }
);
