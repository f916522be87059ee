//! The composite triggers of Beam's trigger tests (AfterEachTest,
//! AfterFirstTest, AfterAllTest, OrFinallyTriggerTest, NeverTest,
//! AfterWatermarkTest, DefaultTriggerTest, RepeatedlyTest) on scripted
//! streams: which panes fire, what they hold, and what a finished trigger
//! drops.

use crate::scenario;
use crate::scenarios::common::{fixed10, ones, sum_panes};
use beam_core::{
    AccumulationMode, Duration, PaneTiming, TestStream, Timestamp, Trigger, WindowFn, WindowInto,
    WindowedValue,
};

/// Ones for key "k" at the given timestamps, one bundle each.
fn one_by_one(stream: TestStream<(String, i64)>, times: &[i64]) -> TestStream<(String, i64)> {
    times
        .iter()
        .fold(stream, |s, &t| s.add_elements(ones(&[t])))
}

fn windowing(fn_: WindowFn, trigger: Trigger, lateness: i64) -> WindowInto<(String, i64)> {
    WindowInto::new(fn_)
        .triggering(
            trigger,
            AccumulationMode::Discarding,
            Duration::from_micros(lateness),
        )
        .allow_unsafe_trigger()
}

/// Each pane as (window start, sum, timing, is_last).
fn summary(got: &[WindowedValue<(String, i64)>]) -> Vec<(i64, i64, PaneTiming, bool)> {
    got.iter()
        .map(|wv| {
            let start = wv
                .window
                .as_interval()
                .map_or(i64::MIN, |w| w.start.as_micros());
            (start, wv.value.1, wv.pane.timing, wv.pane.is_last)
        })
        .collect()
}

/// Each pane as (window start, sum, is_last).
fn without_timing(got: &[WindowedValue<(String, i64)>]) -> Vec<(i64, i64, bool)> {
    summary(got)
        .into_iter()
        .map(|(start, sum, _, last)| (start, sum, last))
        .collect()
}

fn dropped(r: &beam_core::PipelineResult) -> Option<i64> {
    r.metrics().counter("Sum", "dropped_due_to_closed_window")
}

// AfterEach.inOrder(AfterPane(2), AfterPane(3)): a pane after two elements,
// one after three more, and then the trigger is finished: the window is
// closed and what arrives later is dropped and counted.
scenario!(
    after_each_runs_its_triggers_in_turn_then_closes,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers, Metrics],
    beam = "AfterEachStateMachineTest.testAfterEachInSequence",
    replay = true,
    |env| {
        let stream = one_by_one(TestStream::new(), &[1, 2, 3, 4, 5, 6, 7, 8])
            .advance_watermark_to_infinity();
        let trigger = Trigger::AfterEach(vec![Trigger::after_count(2), Trigger::after_count(3)]);
        let (got, r) = sum_panes(env, stream, windowing(WindowFn::Global, trigger, 0));
        let sums: Vec<i64> = got.iter().map(|wv| wv.value.1).collect();
        assert_eq!(sums, vec![2, 3], "{got:?}");
        assert!(got[1].pane.is_last, "{got:?}");
        assert_eq!(dropped(&r), Some(3));
    }
);

// AfterFirst(AfterPane(3), AfterWatermark): whichever comes first fires,
// once. The first window fires at the watermark with its two elements; the
// second fires early at its third element and drops its fourth.
scenario!(
    after_first_fires_for_whichever_comes_first,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers, Metrics],
    beam = "AfterFirstStateMachineTest.testAfterFirstElementCountOrWatermark",
    replay = true,
    |env| {
        let stream = one_by_one(TestStream::new(), &[1, 2, 11, 12, 13, 14])
            .advance_watermark_to(Timestamp::from_micros(10))
            .advance_watermark_to_infinity();
        let trigger =
            Trigger::AfterFirst(vec![Trigger::after_count(3), Trigger::after_watermark()]);
        let (got, r) = sum_panes(env, stream, windowing(fixed10(), trigger, 0));
        assert_eq!(
            summary(&got),
            vec![
                (0, 2, PaneTiming::OnTime, true),
                (10, 3, PaneTiming::Early, true),
            ]
        );
        assert_eq!(dropped(&r), Some(1));
    }
);

// AfterAll(AfterPane(2), AfterWatermark): fires once both have: the first
// window (three elements) at the watermark. The second window's single
// element never satisfies the count; it goes out in the final pane when the
// window closes.
scenario!(
    after_all_waits_for_every_trigger,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers],
    beam = "AfterAllStateMachineTest.testAfterAllElementCountAndWatermark",
    replay = true,
    |env| {
        let stream = one_by_one(TestStream::new(), &[1, 2, 3, 11])
            .advance_watermark_to(Timestamp::from_micros(10))
            .advance_watermark_to_infinity();
        let trigger = Trigger::AfterAll(vec![Trigger::after_count(2), Trigger::after_watermark()]);
        let (got, _) = sum_panes(env, stream, windowing(fixed10(), trigger, 0));
        let got = without_timing(&got);
        assert_eq!(got, vec![(0, 3, true), (10, 1, true)]);
    }
);

// Repeatedly(AfterPane(2)).orFinally(AfterPane(5)): panes of two until the
// fifth element, which fires the last pane (of one) and closes the window.
scenario!(
    or_finally_ends_a_repeated_trigger,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers, Metrics],
    beam = "OrFinallyStateMachineTest.testActualFiresButUntilFinishes",
    replay = true,
    |env| {
        let stream =
            one_by_one(TestStream::new(), &[1, 2, 3, 4, 5, 6, 7]).advance_watermark_to_infinity();
        let trigger =
            Trigger::repeatedly(Trigger::after_count(2)).or_finally(Trigger::after_count(5));
        let (got, r) = sum_panes(env, stream, windowing(WindowFn::Global, trigger, 0));
        let sums: Vec<i64> = got.iter().map(|wv| wv.value.1).collect();
        assert_eq!(sums, vec![2, 2, 1], "{got:?}");
        assert!(got[2].pane.is_last, "{got:?}");
        assert_eq!(dropped(&r), Some(2));
    }
);

// Never.ever(): no pane fires until the window is garbage collected, which
// emits everything in one final pane.
scenario!(
    never_trigger_emits_only_the_final_pane,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers],
    beam = "NeverStateMachineTest.falseAfterEndOfWindow; ReduceFnRunner garbage collection",
    replay = true,
    |env| {
        let stream = one_by_one(TestStream::new(), &[1, 4, 7, 15])
            .advance_watermark_to(Timestamp::from_micros(12))
            .advance_watermark_to_infinity();
        let (got, _) = sum_panes(env, stream, windowing(fixed10(), Trigger::Never, 0));
        let got = without_timing(&got);
        assert_eq!(got, vec![(0, 3, true), (10, 1, true)]);
    }
);

// AfterWatermark alone fires once, on time, and finishes: a late element,
// though within the allowed lateness, finds the window closed.
scenario!(
    after_watermark_without_late_firings_closes_the_window,
    area = "Lateness and dropping",
    features = [TestStream, Unbounded, Triggers, Metrics],
    beam = "AfterWatermarkStateMachineTest.testOnTimeFires (no late firings)",
    replay = true,
    |env| {
        let stream = one_by_one(TestStream::new(), &[1, 2])
            .advance_watermark_to(Timestamp::from_micros(15))
            .add_elements(ones(&[3]))
            .advance_watermark_to_infinity();
        let (got, r) = sum_panes(
            env,
            stream,
            windowing(fixed10(), Trigger::after_watermark(), 100),
        );
        assert_eq!(summary(&got), vec![(0, 2, PaneTiming::OnTime, true)]);
        assert_eq!(dropped(&r), Some(1));
    }
);

// The default trigger (Repeatedly(AfterWatermark)) with allowed lateness,
// discarding: the on-time pane, then a late pane per late bundle, each with
// only its own elements.
scenario!(
    default_trigger_fires_a_late_pane_per_late_bundle,
    area = "Lateness and dropping",
    features = [TestStream, Unbounded],
    beam = "DefaultTriggerStateMachineTest.testDefaultTriggerFixedWindows (late firings)",
    replay = true,
    |env| {
        let stream = one_by_one(TestStream::new(), &[1, 2])
            .advance_watermark_to(Timestamp::from_micros(15))
            .add_elements(ones(&[3, 4]))
            .add_elements(ones(&[5]))
            .advance_watermark_to_infinity();
        let (got, _) = sum_panes(env, stream, windowing(fixed10(), Trigger::Default, 100));
        let got: Vec<(i64, PaneTiming)> = summary(&got)
            .into_iter()
            .map(|(_, sum, timing, _)| (sum, timing))
            .collect();
        assert_eq!(
            got,
            vec![
                (2, PaneTiming::OnTime),
                (2, PaneTiming::Late),
                (1, PaneTiming::Late),
            ]
        );
    }
);

// Repeatedly(AfterPane(2)) in fixed windows: a pane per two elements, and
// the remainder in the final pane when the window closes. Where nothing is
// left (the second window), the close still fires an empty on-time pane:
// the window had only early panes, and the on-time behavior defaults to
// FIRE_ALWAYS (ReduceFnRunner's needToEmit).
scenario!(
    repeated_count_trigger_in_fixed_windows_flushes_the_rest_at_the_end,
    area = "Triggers and panes",
    features = [TestStream, Unbounded, Triggers],
    beam = "RepeatedlyStateMachineTest.testRepeatedlyAfterElementCount; ReduceFnRunner final pane",
    replay = true,
    |env| {
        let stream = one_by_one(TestStream::new(), &[1, 2, 3, 11, 12])
            .advance_watermark_to(Timestamp::from_micros(10))
            .advance_watermark_to_infinity();
        let trigger = Trigger::repeatedly(Trigger::after_count(2));
        let (got, _) = sum_panes(env, stream, windowing(fixed10(), trigger, 0));
        assert_eq!(
            summary(&got),
            vec![
                (0, 2, PaneTiming::Early, false),
                (0, 1, PaneTiming::OnTime, true),
                (10, 2, PaneTiming::Early, false),
                (10, 0, PaneTiming::OnTime, true),
            ]
        );
    }
);
