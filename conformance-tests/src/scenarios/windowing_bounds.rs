//! Window boundaries: windows before the epoch, half-open bounds, elements
//! in no window (between sliding windows with gaps, or refused by a custom
//! window function: dropped and counted), and sessions that an element
//! arriving later joins (Beam's FixedWindowsTest, SlidingWindowsTest,
//! MergingWindowsTest).

use crate::scenario;
use crate::scenarios::common::{collect, iw, ones, panes, s, ts};
use beam_core::kernel::DROPPED_IN_NO_WINDOW;
use beam_core::testing::PAssert;
use beam_core::windowfn::{CustomWindowFn, CustomWindows};
use beam_core::{
    Count, Create, Duration, IntervalWindow, Sum, TestStream, Timestamp, WindowFn, WindowInto,
};

fn counted(env: &crate::Env, fn_: WindowFn, times: &[i64]) -> Vec<(beam_core::Window, i64)> {
    counted_and_dropped(env, fn_, times).0
}

/// The count of "x" per window, and how many elements the WindowInto
/// dropped for falling in no window.
fn counted_and_dropped(
    env: &crate::Env,
    fn_: WindowFn,
    times: &[i64],
) -> (Vec<(beam_core::Window, i64)>, Option<i64>) {
    let p = env.pipeline();
    let out = p
        .apply(
            "Input",
            Create::timestamped(times.iter().map(|&t| (s("x"), ts(t))).collect::<Vec<_>>()),
        )
        .unwrap()
        .apply("Window", WindowInto::new(fn_))
        .unwrap()
        .apply("Count", Count::per_element())
        .unwrap();
    let got = collect(&out, "Out");
    let r = p.run().unwrap();
    let mut v: Vec<_> = panes(&got)
        .into_iter()
        .map(|wv| (wv.window, wv.value.1 as i64))
        .collect();
    v.sort();
    (v, r.metrics().counter("Window", DROPPED_IN_NO_WINDOW))
}

// FixedWindowsTest.testTimeUnit / negative timestamps: a window of a time
// before the epoch starts at the multiple of the size at or before it
// (floor, not truncation toward zero).
scenario!(
    windows_before_the_epoch,
    area = "Windowing",
    features = [],
    beam = "FixedWindowsTest.testDefaultWindowMappingFn (timestamps before the epoch)",
    replay = true,
    |env| {
        assert_eq!(
            counted(
                env,
                WindowFn::fixed(Duration::from_micros(10)),
                &[-1, -10, -11, 0]
            ),
            vec![(iw(-20, -10), 1), (iw(-10, 0), 2), (iw(0, 10), 1)]
        );
        assert_eq!(
            counted(
                env,
                WindowFn::sliding(Duration::from_micros(10), Duration::from_micros(5)),
                &[-1]
            ),
            vec![(iw(-10, 0), 1), (iw(-5, 5), 1)]
        );
    }
);

// Windows are half-open: [start, end). A timestamp at a window's end
// belongs to the next window.
scenario!(
    window_bounds_are_half_open,
    area = "Windowing",
    features = [],
    beam = "FixedWindowsTest.testSimpleFixedWindow, SlidingWindowsTest.testSimpleSlidingWindow",
    replay = true,
    |env| {
        assert_eq!(
            counted(
                env,
                WindowFn::fixed(Duration::from_micros(10)),
                &[9, 10, 19, 20]
            ),
            vec![(iw(0, 10), 1), (iw(10, 20), 2), (iw(20, 30), 1)]
        );
        assert_eq!(
            counted(
                env,
                WindowFn::sliding(Duration::from_micros(10), Duration::from_micros(5)),
                &[4, 5]
            ),
            vec![(iw(-5, 5), 1), (iw(0, 10), 2), (iw(5, 15), 1)]
        );
    }
);

// SlidingWindowsTest (period longer than the size): a timestamp between two
// windows is in none. Beam drops such an element silently; here it is
// dropped and counted (`dropped_in_no_window` on the WindowInto step).
scenario!(
    sliding_windows_with_gaps_count_what_falls_between,
    area = "Windowing",
    features = [Metrics],
    beam = "SlidingWindowsTest (period longer than the size)",
    replay = true,
    |env| {
        assert_eq!(
            counted_and_dropped(
                env,
                WindowFn::sliding(Duration::from_micros(5), Duration::from_micros(10)),
                &[2, 4, 7, 8, 12]
            ),
            (vec![(iw(0, 5), 2), (iw(10, 15), 1)], Some(2))
        );
    }
);

/// Windows of 10 for even tens only: a time in an odd ten is in no window.
#[derive(Debug)]
struct EvenTens;

impl CustomWindowFn for EvenTens {
    fn name(&self) -> String {
        "EvenTens".into()
    }
    fn assign(&self, t: Timestamp) -> Vec<IntervalWindow> {
        let start = t.as_micros().div_euclid(10) * 10;
        if start.div_euclid(10) % 2 == 0 {
            vec![IntervalWindow::new(ts(start), ts(start + 10))]
        } else {
            vec![]
        }
    }
}

// A user-defined window function may put an element in no window (Beam's
// WindowFn.assignWindows returning an empty collection): the element is
// dropped and counted.
scenario!(
    custom_window_fn_assigning_no_window_counts_the_drop,
    area = "Windowing",
    features = [Metrics],
    beam = "WindowFn.assignWindows (an empty collection of windows)",
    replay = true,
    |env| {
        assert_eq!(
            counted_and_dropped(
                env,
                WindowFn::Custom(CustomWindows::new(EvenTens)),
                &[1, 5, 12, 25, 31]
            ),
            (vec![(iw(0, 10), 2), (iw(20, 30), 1)], Some(2))
        );
        // Windows that hold every element count nothing.
        assert_eq!(
            counted_and_dropped(env, WindowFn::fixed(Duration::from_micros(10)), &[1]).1,
            None
        );
    }
);

// On a stream: two sessions [0, 10) and [15, 25) stay apart until an
// element at 7 arrives (before the watermark closes either); its session
// [7, 17) overlaps both, and the three merge into [0, 25).
scenario!(
    sessions_merge_when_a_bridging_element_arrives,
    area = "Windowing",
    features = [TestStream, Unbounded, MergingWindows],
    beam =
        "MergingWindowsTest / ReduceFnRunnerTest.testMergingWithCloseBeforeGC (a bridging element)",
    replay = true,
    |env| {
        let stream = TestStream::new()
            .add_elements(ones(&[0, 15]))
            .advance_watermark_to(ts(5))
            .add_elements(ones(&[7]))
            .advance_watermark_to_infinity();
        let p = env.pipeline();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::sessions(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Sum", Sum::per_key())
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 25))
            .contains_in_any_order(vec![(s("k"), 3)])
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        assert_eq!(got.lock().unwrap().len(), 1, "one merged session");
    }
);
