//! Window functions: user-defined (merging and not), offsets, re-windowing.

use crate::scenario;
use crate::scenarios::common::{collect, iw, panes, s, ts};
use beam_core::testing::PAssert;
use beam_core::windowfn::{CustomWindowFn, CustomWindows};
use beam_core::{
    AccumulationMode, Count, Create, Duration, Flatten, GroupByKey, IntervalWindow, Map,
    PCollectionList, Timestamp, Trigger, Window, WindowFn, WindowInto,
};

/// Elements at whole tens of seconds open a 30 s window, others a 5 s one;
/// small windows inside a big one merge into it (WindowTest's custom merging fn).
#[derive(Debug)]
struct BigAndSmall;

impl CustomWindowFn for BigAndSmall {
    fn name(&self) -> String {
        "BigAndSmall".into()
    }
    fn assign(&self, t: Timestamp) -> Vec<IntervalWindow> {
        let size = if t.as_micros() % 10_000_000 == 0 {
            30
        } else {
            5
        };
        vec![IntervalWindow::new(t, t + Duration::from_secs(size))]
    }
    fn is_merging(&self) -> bool {
        true
    }
    fn merge(&self, windows: &[IntervalWindow]) -> Vec<(Vec<IntervalWindow>, IntervalWindow)> {
        let mut groups = Vec::new();
        for big in windows
            .iter()
            .filter(|w| w.end - w.start == Duration::from_secs(30))
        {
            let inside: Vec<IntervalWindow> = windows
                .iter()
                .filter(|w| *w != big && w.start >= big.start && w.end <= big.end)
                .copied()
                .collect();
            if !inside.is_empty() {
                let mut members = inside;
                members.push(*big);
                groups.push((members, *big));
            }
        }
        groups
    }
}

// WindowTest.testMergingCustomWindows (SEMANTICS 15).
scenario!(
    custom_merging_window_fn,
    area = "Windowing",
    features = [MergingWindows, SideInputs],
    beam = "WindowTest.testMergingCustomWindows",
    replay = true,
    |env| {
        let p = env.pipeline();
        let sec = Timestamp::from_secs;
        let counts = p
            .apply(
                "Create",
                Create::timestamped(vec![
                    (s("big"), sec(10)),
                    (s("small1"), sec(20)),
                    (s("small2"), sec(39)),
                ]),
            )
            .unwrap()
            .apply(
                "Custom",
                WindowInto::new(WindowFn::Custom(CustomWindows::new(BigAndSmall))),
            )
            .unwrap()
            .apply("Count", Count::globally().without_defaults())
            .unwrap();
        PAssert::that(&counts)
            .contains_in_any_order(vec![2, 1])
            .unwrap();
        p.run().unwrap();
    }
);

/// Windows of one element's second, never merging.
#[derive(Debug)]
struct Seconds;

impl CustomWindowFn for Seconds {
    fn name(&self) -> String {
        "Seconds".into()
    }
    fn assign(&self, t: Timestamp) -> Vec<IntervalWindow> {
        let start = t.as_micros().div_euclid(1_000_000) * 1_000_000;
        vec![IntervalWindow::new(
            Timestamp::from_micros(start),
            Timestamp::from_micros(start + 1_000_000),
        )]
    }
    fn side_input_window(&self, main: &Window) -> Result<Window, String> {
        Ok(Window::Interval(self.assign(main.max_timestamp())[0]))
    }
}

// A non-merging user-defined window function, grouped and as a side input.
scenario!(
    custom_non_merging_window_fn,
    area = "Windowing",
    features = [SideInputs],
    beam = "WindowingTest (custom WindowFn)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let f = || WindowFn::Custom(CustomWindows::new(Seconds));
        let grouped = p
            .apply(
                "Create",
                Create::timestamped(vec![
                    ((1, 'a'), ts(100)),
                    ((1, 'b'), ts(900_000)),
                    ((1, 'c'), ts(1_000_000)),
                ]),
            )
            .unwrap()
            .apply("Window", WindowInto::new(f()))
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap()
            .apply("Len", Map::new(|kv: &(i32, Vec<char>)| kv.1.len()))
            .unwrap();
        PAssert::that(&grouped)
            .in_window(iw(0, 1_000_000))
            .contains_in_any_order(vec![2])
            .unwrap();
        PAssert::that(&grouped)
            .in_window(iw(1_000_000, 2_000_000))
            .contains_in_any_order(vec![1])
            .unwrap();
        p.run().unwrap();
    }
);

// WindowTest.testNoWindowFnDoesNotReassignWindows (SEMANTICS 16): configure() keeps windows.
scenario!(
    configure_keeps_windows,
    area = "Windowing",
    features = [SideInputs],
    beam = "WindowTest.testNoWindowFnDoesNotReassignWindows",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![(1, ts(1)), (2, ts(12)), (3, ts(13))]),
            )
            .unwrap()
            .apply(
                "Fixed",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Plus", Map::new(|x: &i32| x + 10))
            .unwrap()
            .apply(
                "Configure",
                WindowInto::configure().triggering(
                    Trigger::Never,
                    AccumulationMode::Discarding,
                    Duration::ZERO,
                ),
            )
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![11])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![12, 13])
            .unwrap();
        p.run().unwrap();
    }
);

// WindowingTest.testWindowPreservation (SEMANTICS 13).
scenario!(
    flatten_preserves_windows,
    area = "Windowing",
    features = [],
    beam = "WindowingTest.testWindowPreservation",
    replay = true,
    |env| {
        let p = env.pipeline();
        let a = p
            .apply(
                "A",
                Create::timestamped(vec![(s("a"), ts(1)), (s("b"), ts(2))]),
            )
            .unwrap();
        let b = p
            .apply(
                "B",
                Create::timestamped(vec![(s("a"), ts(3)), (s("b"), ts(4))]),
            )
            .unwrap();
        let fixed = |name: &str, pc: &beam_core::PCollection<String>| {
            pc.apply(
                name,
                WindowInto::new(WindowFn::fixed(Duration::from_micros(5))),
            )
            .unwrap()
        };
        let all = PCollectionList::of(vec![fixed("WA", &a), fixed("WB", &b)])
            .unwrap()
            .apply("Flatten", Flatten)
            .unwrap()
            .apply(
                "Count",
                WindowInto::configure()
                    .with_timestamp_combiner(beam_core::TimestampCombiner::Earliest),
            )
            .unwrap()
            .apply("PerElement", Count::per_element())
            .unwrap();
        let got = collect(&all, "Out");
        p.run().unwrap();
        let got: Vec<(String, u64, i64, Window)> = panes(&got)
            .into_iter()
            .map(|wv| (wv.value.0, wv.value.1, wv.timestamp.as_micros(), wv.window))
            .collect();
        assert_eq!(
            got,
            vec![(s("a"), 2, 1, iw(0, 5)), (s("b"), 2, 2, iw(0, 5))]
        );
    }
);

// Sliding windows with an offset, and fixed windows with an offset.
scenario!(
    window_offsets,
    area = "Windowing",
    features = [],
    beam = "SlidingWindows/FixedWindows withOffset",
    replay = true,
    |env| {
        let p = env.pipeline();
        let input = p
            .apply("Create", Create::timestamped(vec![(1, ts(2)), (1, ts(7))]))
            .unwrap();
        let sliding = input
            .apply(
                "Sliding",
                WindowInto::new(WindowFn::Sliding {
                    size: Duration::from_micros(10),
                    period: Duration::from_micros(5),
                    offset: Duration::from_micros(1),
                }),
            )
            .unwrap()
            .apply("CountSliding", Count::globally().without_defaults())
            .unwrap();
        let fixed = input
            .apply(
                "Fixed",
                WindowInto::new(WindowFn::Fixed {
                    size: Duration::from_micros(10),
                    offset: Duration::from_micros(5),
                }),
            )
            .unwrap()
            .apply("CountFixed", Count::globally().without_defaults())
            .unwrap();
        PAssert::that(&sliding)
            .in_window(iw(-4, 6))
            .contains_in_any_order(vec![1])
            .unwrap();
        PAssert::that(&sliding)
            .in_window(iw(1, 11))
            .contains_in_any_order(vec![2])
            .unwrap();
        PAssert::that(&sliding)
            .in_window(iw(6, 16))
            .contains_in_any_order(vec![1])
            .unwrap();
        PAssert::that(&fixed)
            .in_window(iw(-5, 5))
            .contains_in_any_order(vec![1])
            .unwrap();
        PAssert::that(&fixed)
            .in_window(iw(5, 15))
            .contains_in_any_order(vec![1])
            .unwrap();
        // Invalid parameters are refused when applied.
        assert!(input
            .apply("Bad", WindowInto::new(WindowFn::fixed(Duration::ZERO)))
            .is_err());
        p.run().unwrap();
    }
);
