//! Inner joins, plain and with skewed keys spread over groups.

use crate::scenario;
use crate::scenarios::common::ts;
use beam_core::testing::PAssert;
use beam_core::{AccumulationMode, Create, Duration, InnerJoin, Trigger, WindowFn, WindowInto};

type Row = (String, u32);

/// Left: key "hot" holds most rows; right: a few rows per key, and keys
/// only one side has. A left row's time (in µs) is its value; a right row's
/// is 0 for "hot" and 1000 for the others.
fn sides() -> (Vec<Row>, Vec<(String, String)>) {
    let s = |x: &str| x.to_string();
    let mut left: Vec<Row> = (0..300).map(|i| (s("hot"), i)).collect();
    left.extend([
        (s("a"), 1000),
        (s("a"), 1001),
        (s("b"), 1002),
        (s("left-only"), 1003),
    ]);
    let right = vec![
        (s("hot"), s("h1")),
        (s("hot"), s("h2")),
        (s("hot"), s("h3")),
        (s("a"), s("a1")),
        (s("b"), s("b1")),
        (s("b"), s("b2")),
        (s("right-only"), s("r1")),
    ];
    (left, right)
}

fn right_time(key: &str) -> i64 {
    if key == "hot" {
        0
    } else {
        1000
    }
}

/// The pairs a join must give, by a nested loop; with `window` µs fixed
/// windows, only rows in the same window pair up.
fn nested_loop(
    left: &[Row],
    right: &[(String, String)],
    window: Option<i64>,
) -> Vec<(String, (u32, String))> {
    let same = |a: i64, b: i64| window.is_none_or(|w| a.div_euclid(w) == b.div_euclid(w));
    let mut out = Vec::new();
    for (lk, lv) in left {
        for (rk, rv) in right {
            if lk == rk && same(*lv as i64, right_time(rk)) {
                out.push((lk.clone(), (*lv, rv.clone())));
            }
        }
    }
    out
}

// Beam's join library (InnerJoinTest) and Spark's adaptive skew join: spreading
// hot keys changes where rows are joined, never which pairs come out.
scenario!(
    skew_join_gives_the_pairs_of_the_plain_join,
    area = "Joins",
    features = [],
    beam = "extensions/join-library InnerJoinTest; Spark's skew join (OptimizeSkewedJoin) keeps the join's result",
    replay = true,
    |env| {
        let (left, right) = sides();
        assert_eq!(nested_loop(&left, &right, None).len(), 300 * 3 + 2 + 2);
        for windowed in [false, true] {
            let p = env.pipeline();
            // Timestamps: the value's microsecond; windowed, [0, 150) and on.
            let at = |rows: Vec<Row>| -> Vec<(Row, beam_core::Timestamp)> {
                rows.into_iter().map(|r| { let t = ts(r.1 as i64); (r, t) }).collect()
            };
            let mut l = p.apply("Left", Create::timestamped(at(left.clone()))).unwrap();
            let right_at = right.iter().map(|r| (r.clone(), ts(right_time(&r.0))));
            let mut r = p.apply("Right", Create::timestamped(right_at)).unwrap();
            if windowed {
                let fixed = || WindowFn::fixed(Duration::from_micros(150));
                l = l.apply("LeftWindows", WindowInto::new(fixed())).unwrap();
                r = r.apply("RightWindows", WindowInto::new(fixed())).unwrap();
            }
            let plain = l.apply("Join", InnerJoin::with(&r)).unwrap();
            let skewed = l
                .apply("SkewJoin", InnerJoin::with(&r).with_skewed_keys(8, 0.1))
                .unwrap();
            let want_here = nested_loop(&left, &right, windowed.then_some(150));
            if windowed {
                assert_eq!(want_here.len(), 150 * 3 + 2 + 2);
            }
            PAssert::that(&plain).contains_in_any_order(want_here.clone()).unwrap();
            PAssert::that(&skewed).contains_in_any_order(want_here).unwrap();
            p.run().unwrap();
        }
    }
);

// A skew join is refused where its groups could fire differently from one
// group (triggers) or the hot keys cannot be a side input (sessions).
scenario!(
    skew_join_refuses_triggers_and_sessions,
    area = "Joins",
    features = [],
    beam = "Construction errors name the step and the reason",
    replay = false,
    |env| {
        let (left, right) = sides();
        let p = env.pipeline();
        let l = p.apply("Left", Create::of(left)).unwrap();
        let r = p.apply("Right", Create::of(right)).unwrap();
        let triggered = l
            .apply(
                "Triggered",
                WindowInto::new(WindowFn::Global).triggering(
                    Trigger::repeatedly(Trigger::after_count(2)),
                    AccumulationMode::Discarding,
                    Duration::ZERO,
                ),
            )
            .unwrap();
        let e = triggered
            .apply("SkewJoin", InnerJoin::with(&r).with_skewed_keys(4, 0.1))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("SkewJoin") && e.contains("trigger"), "{e}");
        let sessions = l
            .apply(
                "Sessions",
                WindowInto::new(WindowFn::sessions(Duration::from_secs(1))),
            )
            .unwrap();
        let e = sessions
            .apply("SkewJoin2", InnerJoin::with(&r).with_skewed_keys(4, 0.1))
            .expect_err("refused")
            .to_string();
        assert!(e.contains("SkewJoin2") && e.contains("side input"), "{e}");
    }
);
