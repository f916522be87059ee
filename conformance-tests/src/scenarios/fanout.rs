//! Hot-key fanout (Beam's `Combine.perKey(fn).withHotKeyFanout(n)`): the
//! same panes, windows, timestamps and values as the combine without fanout,
//! for each kind of trigger it accepts, and a refusal for the others.

use crate::scenario;
use crate::scenarios::common::{collect, iw, kv, pane_tuple, panes, s, ts, Collected};
use beam_core::{
    AccumulationMode, Create, Duration, PCollection, PaneTiming, Sum, TestStream, Timestamp,
    Trigger, Window, WindowFn, WindowInto,
};

type Sums = Collected<(String, i64)>;

type Row = (
    String,
    i64,
    Timestamp,
    Window,
    (bool, bool, PaneTiming, i64, i64),
);

fn rows(c: &Sums) -> Vec<Row> {
    let mut v: Vec<Row> = panes(c)
        .into_iter()
        .map(|wv| {
            let (k, n) = wv.value;
            (k, n, wv.timestamp, wv.window, pane_tuple(&wv.pane))
        })
        .collect();
    v.sort_by_key(|r| (r.0.clone(), r.2, r.4 .3, r.1));
    v
}

/// Sums `input` per key with and without fanout (key "a" over 4
/// intermediate keys, the others not spread); collects both.
fn both(input: &PCollection<(String, i64)>) -> (Sums, Sums) {
    let plain = input.apply("Plain", Sum::per_key()).unwrap();
    let spread = input
        .apply(
            "Spread",
            Sum::per_key().with_hot_key_fanout_fn(|k: &String| if k == "a" { 4 } else { 1 }),
        )
        .unwrap();
    (collect(&plain, "Plain"), collect(&spread, "Spread"))
}

fn table() -> Vec<((String, i64), Timestamp)> {
    let mut v = Vec::new();
    for i in 0..40 {
        v.push(kv("a", i, i % 25));
    }
    v.extend([kv("b", 1, 3), kv("b", 13, 14), kv("c", 5, 21)]);
    v
}

/// Sums `events` in `window_fn` with and without fanout, checks that every
/// pane is the same, and returns the (key, sum, window) of each.
fn batch_sums(
    env: &crate::Env,
    events: Vec<((String, i64), Timestamp)>,
    window_fn: WindowFn,
) -> Vec<(String, i64, Window)> {
    let p = env.pipeline();
    let input = p
        .apply("Events", Create::timestamped(events))
        .unwrap()
        .apply("Window", WindowInto::new(window_fn))
        .unwrap();
    let (plain, spread) = both(&input);
    p.run().unwrap();
    let got = rows(&spread);
    assert_eq!(got, rows(&plain));
    got.iter().map(|r| (r.0.clone(), r.1, r.3)).collect()
}

// CombineTest.testHotKeyCombining, in fixed windows.
scenario!(
    hot_key_fanout_in_fixed_windows_equals_the_plain_combine,
    area = "Combine and composites",
    features = [],
    beam = "CombineTest.testHotKeyCombining",
    replay = true,
    |env| {
        let sums = batch_sums(env, table(), WindowFn::fixed(Duration::from_micros(10)));
        let a = |w: i64| (0..40).filter(|i| (i % 25) / 10 == w).sum::<i64>();
        for (key, sum, window) in [
            (s("a"), a(0), iw(0, 10)),
            (s("a"), a(1), iw(10, 20)),
            (s("a"), a(2), iw(20, 30)),
            (s("b"), 1, iw(0, 10)),
            (s("b"), 13, iw(10, 20)),
            (s("c"), 5, iw(20, 30)),
        ] {
            assert!(sums.contains(&(key, sum, window)), "{sums:?}");
        }
        assert_eq!(sums.len(), 6, "{sums:?}");
    }
);

// CombineTest.testHotKeyCombining with sessions: the intermediate keys'
// sessions merge again into each key's sessions.
scenario!(
    hot_key_fanout_in_sessions_equals_the_plain_combine,
    area = "Combine and composites",
    features = [MergingWindows],
    beam = "CombineTest.testSessionsCombine, with withHotKeyFanout",
    replay = true,
    |env| {
        // Key "a": 0..8 each 3 apart (one session over the intermediate keys,
        // whose own sessions have gaps), then 40 and 41.
        let mut events: Vec<((String, i64), Timestamp)> =
            (0..8).map(|i| kv("a", 1, i * 3)).collect();
        events.extend([kv("a", 10, 40), kv("a", 10, 41), kv("b", 7, 1)]);
        let sums = batch_sums(env, events, WindowFn::sessions(Duration::from_micros(4)));
        assert_eq!(
            sums,
            vec![
                (s("a"), 8, iw(0, 25)),
                (s("a"), 20, iw(40, 45)),
                (s("b"), 7, iw(1, 5)),
            ]
        );
    }
);

/// A stream of key "a" (and one "b") with an on-time part and late elements,
/// one element per step so that panes do not depend on bundling.
fn late_stream() -> TestStream<(String, i64)> {
    let mut stream = TestStream::new().advance_watermark_to(ts(0));
    for (i, t) in [1, 4, 7, 2].into_iter().enumerate() {
        stream = stream.add_elements(vec![kv("a", i as i64 + 1, t)]);
    }
    stream = stream
        .add_elements(vec![kv("b", 100, 5)])
        .advance_watermark_to(ts(15));
    for (v, t) in [(10, 3), (20, 8)] {
        stream = stream.add_elements(vec![kv("a", v, t)]);
    }
    stream
        .advance_watermark_to(ts(40))
        .add_elements(vec![kv("a", 1000, 6)])
        .advance_watermark_to_infinity()
}

fn late_firings(env: &crate::Env, mode: AccumulationMode) -> Vec<Row> {
    let p = env.pipeline();
    let input = p
        .apply("Events", late_stream())
        .unwrap()
        .apply(
            "Window",
            WindowInto::new(WindowFn::fixed(Duration::from_micros(10))).triggering(
                Trigger::after_watermark().with_late_firings(Trigger::after_count(1)),
                mode,
                Duration::from_micros(20),
            ),
        )
        .unwrap();
    let (plain, spread) = both(&input);
    p.run().unwrap();
    let got = rows(&spread);
    assert_eq!(got, rows(&plain));
    got
}

// TestStreamTest.testLateDataAccumulating's shape, with fanout: the on-time
// pane and one late pane per late element, accumulating; the element after
// the allowed lateness is dropped in both.
scenario!(
    hot_key_fanout_late_firings_accumulating_equal_the_plain_combine,
    area = "Combine and composites",
    features = [TestStream, Unbounded, Triggers],
    beam = "CombineTest.testHotKeyCombiningWithAccumulationMode",
    replay = true,
    |env| {
        let got = late_firings(env, AccumulationMode::Accumulating);
        let a: Vec<(i64, PaneTiming)> = got
            .iter()
            .filter(|r| r.0 == "a")
            .map(|r| (r.1, r.4 .2))
            .collect();
        assert_eq!(
            a,
            vec![
                (10, PaneTiming::OnTime),
                (20, PaneTiming::Late),
                (40, PaneTiming::Late),
            ]
        );
    }
);

scenario!(
    hot_key_fanout_late_firings_discarding_equal_the_plain_combine,
    area = "Combine and composites",
    features = [TestStream, Unbounded, Triggers],
    beam = "TestStreamTest.testDiscardingMode, with withHotKeyFanout",
    replay = true,
    |env| {
        let got = late_firings(env, AccumulationMode::Discarding);
        let a: Vec<i64> = got.iter().filter(|r| r.0 == "a").map(|r| r.1).collect();
        assert_eq!(a, vec![10, 10, 20]);
    }
);

// A pane per element in the global window (Repeatedly(AfterCount(1))),
// accumulating: the running sums, and the final pane at the end.
scenario!(
    hot_key_fanout_per_element_panes_equal_the_plain_combine,
    area = "Combine and composites",
    features = [TestStream, Unbounded, Triggers],
    beam = "CombineTest.testHotKeyCombiningWithAccumulationMode",
    replay = true,
    |env| {
        let p = env.pipeline();
        let mut stream = TestStream::new();
        for v in 1..=5 {
            stream = stream.add_elements(vec![kv("a", v, v)]);
        }
        let input = p
            .apply("Events", stream.advance_watermark_to_infinity())
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::Global).triggering(
                    Trigger::repeatedly(Trigger::after_count(1)),
                    AccumulationMode::Accumulating,
                    Duration::ZERO,
                ),
            )
            .unwrap();
        let (plain, spread) = both(&input);
        p.run().unwrap();
        let got = rows(&spread);
        assert_eq!(got, rows(&plain));
        let sums: Vec<i64> = got.iter().map(|r| r.1).collect();
        // The last pane is the final one, when the window closes at the end.
        assert_eq!(sums, vec![1, 3, 6, 10, 15, 15]);
        assert!(got.last().is_some_and(|r| r.4 .1), "{got:?}");
    }
);

// A trigger that counts more than one element, or waits for processing
// time, would fire at other moments in the two stages: refused.
scenario!(
    hot_key_fanout_refuses_counting_and_processing_time_triggers,
    area = "Combine and composites",
    features = [],
    beam = "(construction rule)",
    replay = false,
    |env| {
        for trigger in [
            Trigger::repeatedly(Trigger::after_count(2)),
            Trigger::after_watermark()
                .with_early_firings(Trigger::after_processing_time(Duration::from_secs(1))),
        ] {
            let p = env.pipeline();
            let input = p
                .apply("Table", Create::timestamped(table()))
                .unwrap()
                .apply(
                    "Window",
                    WindowInto::new(WindowFn::fixed(Duration::from_micros(10))).triggering(
                        trigger.clone(),
                        AccumulationMode::Discarding,
                        Duration::ZERO,
                    ),
                )
                .unwrap();
            let e = input
                .apply("Spread", Sum::per_key().with_hot_key_fanout(4))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("fanout") && e.contains(&trigger.to_string()),
                "{e}"
            );
        }
    }
);
