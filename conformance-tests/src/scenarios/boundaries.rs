//! Boundary and hostile inputs: a TestStream's construction checks, the error
//! of a failing DoFn on a huge element, many keys in one grouping, and
//! ties between equal timestamps.

use crate::scenario;
use crate::scenarios::common::{s, ts};
use beam_core::testing::PAssert;
use beam_core::{
    Create, Duration, GroupByKey, Latest, TestStream, Timestamp, TryMap, UserError,
    GLOBAL_WINDOW_MAX,
};

// TestStreamTest.testElementAtPositiveInfinityThrows and
// testAdvanceWatermarkNonMonotonicThrows; processing time cannot go back.
// Each is refused when the pipeline is built, naming the step.
scenario!(
    test_stream_construction_checks,
    area = "TestStream",
    features = [],
    beam = "TestStreamTest.testElementAtPositiveInfinityThrows, testAdvanceWatermarkNonMonotonicThrows",
    replay = false,
    |env| {
        let refused = |name: &str, stream: TestStream<i32>| -> String {
            let p = env.pipeline();
            let e = p.apply(name, stream).expect_err("refused").to_string();
            assert!(e.contains(name), "{e}");
            e
        };
        let e = refused(
            "AfterTheEnd",
            TestStream::new()
                .add_elements(vec![(1, GLOBAL_WINDOW_MAX)])
                .add_elements(vec![(2, GLOBAL_WINDOW_MAX + Duration::from_micros(1))]),
        );
        assert!(e.contains("after the end of the global window"), "{e}");
        let e = refused(
            "Backwards",
            TestStream::new()
                .advance_watermark_to(ts(0))
                .advance_watermark_to(ts(-1)),
        );
        assert!(e.contains("must not go back"), "{e}");
        let e = refused(
            "ClockBack",
            TestStream::new().advance_processing_time(Duration::from_micros(-1)),
        );
        assert!(e.contains("processing time"), "{e}");
        // At the end of the global window is still allowed.
        let p = env.pipeline();
        let ok = p
            .apply(
                "AtTheEnd",
                TestStream::new()
                    .add_elements(vec![(1, GLOBAL_WINDOW_MAX)])
                    .advance_watermark_to_infinity(),
            )
            .unwrap();
        let _ = ok;
    }
);

// ParDoTest.testParDoWithErrorInProcessElement, with a 100 000-character
// element: the run fails with the step's name and the element, shortened.
scenario!(
    failing_dofn_names_the_step_and_a_shortened_element,
    area = "ParDo",
    features = [],
    beam = "ParDoTest.testParDoWithErrorInProcessElement",
    replay = false,
    |env| {
        let p = env.pipeline();
        let huge = format!("start{}", "x".repeat(100_000));
        p.apply("Input", Create::of(vec![s("fine"), huge]))
            .unwrap()
            .apply(
                "Check",
                TryMap::new(|x: &String| {
                    if x.len() > 10 {
                        Err(UserError::msg("too long"))
                    } else {
                        Ok(x.len())
                    }
                }),
            )
            .unwrap();
        let e = p.run().expect_err("the run fails").to_string();
        assert!(e.contains("Check") && e.contains("too long"), "{e}");
        assert!(e.contains("startxxx"), "{e}");
        assert!(
            e.len() < 2_000,
            "the element is shortened: {} chars",
            e.len()
        );
    }
);

// GroupByKeyTest at scale: 50 000 keys of two values each, every group
// whole and none repeated.
scenario!(
    group_by_key_over_many_keys,
    area = "GroupByKey",
    features = [],
    beam = "GroupByKeyTest.testGroupByKey (50 000 keys)",
    replay = false,
    |env| {
        const KEYS: i64 = 50_000;
        let p = env.pipeline();
        let input: Vec<(i64, i64)> = (0..2 * KEYS).map(|i| (i / 2, i)).collect();
        let groups = p
            .apply("Input", Create::of(input))
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap();
        PAssert::that(&groups)
            .satisfies(|got: &[(i64, Vec<i64>)]| {
                assert_eq!(got.len(), KEYS as usize, "one group per key");
                let mut seen = vec![false; KEYS as usize];
                for (k, vs) in got {
                    let mut vs = vs.clone();
                    vs.sort();
                    assert_eq!(vs, vec![2 * k, 2 * k + 1], "key {k}");
                    assert!(!seen[*k as usize], "key {k} twice");
                    seen[*k as usize] = true;
                }
            })
            .unwrap();
        p.run().unwrap();
    }
);

// Latest between values of the same timestamp: Beam picks any; here the
// choice is the same however the input is split and bundled (the value
// whose encoding sorts last).
scenario!(
    latest_ties_do_not_depend_on_bundling,
    area = "Combine and composites",
    features = [],
    beam = "LatestTest (equal timestamps)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let mut input = Vec::new();
        for k in 0..20 {
            for v in (0..500).rev().chain(500..1000) {
                input.push((
                    (format!("k{k}"), format!("v{v:03}")),
                    Timestamp::from_secs(7),
                ));
            }
        }
        let latest = p
            .apply("Input", Create::timestamped(input))
            .unwrap()
            .apply("Latest", Latest::per_key())
            .unwrap();
        PAssert::that(&latest)
            .contains_in_any_order((0..20).map(|k| (format!("k{k}"), s("v999"))).collect())
            .unwrap();
        p.run().unwrap();
    }
);
