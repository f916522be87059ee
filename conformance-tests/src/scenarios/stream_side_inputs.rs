//! Side inputs of streams: a side window is read once it has fired or the
//! side watermark has passed it, and a later firing replaces an earlier one.

use crate::scenario;
use beam_core::side_input::{IterableView, SingletonView};
use beam_core::testing::PAssert;
use beam_core::{
    AccumulationMode, DoFn, Duration, GroupByKey, Map, PCollection, PCollectionView, ParDo,
    ProcessContext, Sum, TestStream, Timestamp, Trigger, UserResult, View, WindowFn, WindowInto,
};

/// Elements of one script: `(true, v)` goes to the side input, `(false, v)`
/// to the main input.
type Tagged = (bool, i64);

fn split(events: &PCollection<Tagged>, name: &str, side: bool) -> PCollection<i64> {
    events
        .apply(
            name,
            beam_core::FlatMap::new(move |(s, v): &Tagged| (*s == side).then_some(*v)),
        )
        .unwrap()
}

#[derive(Clone)]
struct WithSingleton(PCollectionView<SingletonView<i64>>);

impl DoFn for WithSingleton {
    type In = i64;
    type Out = String;
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let v = *ctx.side_input(&self.0)?;
        ctx.output(format!("{x}:{v}"));
        Ok(())
    }
}

#[derive(Clone)]
struct WithIterable(PCollectionView<IterableView<i64>>);

impl DoFn for WithIterable {
    type In = i64;
    type Out = String;
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let mut all = ctx.side_input(&self.0)?.to_vec();
        all.sort();
        ctx.output(format!("{x}:{all:?}"));
        Ok(())
    }
}

fn repeated_count_in_global(mode: AccumulationMode) -> WindowInto<i64> {
    WindowInto::new(WindowFn::Global).triggering(
        Trigger::repeatedly(Trigger::after_count(1)),
        mode,
        Duration::ZERO,
    )
}

// ViewTest's windowed side inputs, on a stream (Beam's pushback of main input
// until the side window is ready, runners-core SideInputHandler).
scenario!(
    stream_side_window_is_read_once_ready,
    area = "Side inputs",
    features = [SideInputs, TestStream, Unbounded],
    beam = "ViewTest.testWindowedSideInputFixedToFixed on a stream: main input waits for its side window (PushbackSideInputDoFnRunner)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let sec = Timestamp::from_secs;
        let stream = TestStream::<Tagged>::new()
            // Main elements of [0, 10 s) arrive before any side data of their
            // side window [0, 20 s).
            .add_elements(vec![((false, 1), sec(1)), ((false, 2), sec(2))])
            .add_elements(vec![((true, 5), sec(3)), ((false, 12), sec(12))])
            .advance_watermark_to(sec(15))
            .add_elements(vec![((true, 7), sec(15))])
            .advance_watermark_to(sec(20))
            // Late for its main window, but its side window has fired.
            .add_elements(vec![((false, 3), sec(3)), ((false, 25), sec(25))])
            // [20 s, 30 s) ends while 25 waits for side window [20 s, 40 s):
            // the wait holds the watermark, so 25 is not late downstream.
            .advance_watermark_to(sec(30))
            .add_elements(vec![((true, 33), sec(33))])
            // Side window [40 s, 60 s) never gets data: the default.
            .add_elements(vec![((false, 45), sec(45))])
            .advance_watermark_to_infinity();
        let events = p.apply("Events", stream).unwrap();
        let view = split(&events, "SideValues", true)
            .apply(
                "SideWindow",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(20))),
            )
            .unwrap()
            .apply("Sum", Sum::globally().without_defaults())
            .unwrap()
            .apply("View", View::as_singleton_with_default(0))
            .unwrap();
        let read = split(&events, "MainValues", false)
            .apply(
                "MainWindow",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(10))),
            )
            .unwrap()
            .apply(
                "Read",
                ParDo::of(WithSingleton(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&read)
            .contains_in_any_order(
                ["1:12", "2:12", "12:12", "3:12", "25:33", "45:0"]
                    .map(String::from)
                    .to_vec(),
            )
            .unwrap();
        // Downstream, each main window groups what read in it on time; the
        // late "3:12" is dropped there (the grouping's input watermark had
        // passed its window).
        let grouped = read
            .apply("OneKey", Map::new(|s: &String| ((), s.clone())))
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap()
            .apply(
                "Sorted",
                Map::new(|(_, v): &((), Vec<String>)| {
                    let mut v = v.clone();
                    v.sort();
                    v.join(",")
                }),
            )
            .unwrap();
        PAssert::that(&grouped)
            .contains_in_any_order(
                ["1:12,2:12", "12:12", "25:33", "45:0"]
                    .map(String::from)
                    .to_vec(),
            )
            .unwrap();
        p.run().unwrap();
    }
);

// ParDoTest.testTriggeredLatestSingleton's model, with a count trigger: a
// global-window view of a stream follows its latest firing.
scenario!(
    triggered_stream_view_follows_the_latest_firing,
    area = "Side inputs",
    features = [SideInputs, Triggers, TestStream, Unbounded],
    beam = "ParDoTest.testTriggeredLatestSingleton (UsesTriggeredSideInputs): a triggered view reads its latest pane",
    replay = true,
    |env| {
        let p = env.pipeline();
        let sec = Timestamp::from_secs;
        let stream = TestStream::<Tagged>::new()
            .add_elements(vec![((true, 1), sec(1))])
            .add_elements(vec![((false, 10), sec(2))])
            .add_elements(vec![((true, 2), sec(3))])
            .add_elements(vec![((false, 20), sec(4))])
            .add_elements(vec![((true, 4), sec(5))])
            .add_elements(vec![((false, 30), sec(6))])
            .advance_watermark_to_infinity();
        let events = p.apply("Events", stream).unwrap();
        let running_sum = split(&events, "SideValues", true)
            .apply(
                "EveryElement",
                repeated_count_in_global(AccumulationMode::Accumulating),
            )
            .unwrap()
            .apply("Sum", Sum::globally())
            .unwrap()
            .apply("View", View::as_singleton())
            .unwrap();
        let latest_pane = split(&events, "SideValuesAgain", true)
            .apply(
                "EveryElementDiscarding",
                repeated_count_in_global(AccumulationMode::Discarding),
            )
            .unwrap()
            .apply("LatestPane", View::as_iterable())
            .unwrap();
        let main = split(&events, "MainValues", false);
        let sums = main
            .apply(
                "ReadSum",
                ParDo::of(WithSingleton(running_sum.clone())).with_side_input(&running_sum),
            )
            .unwrap();
        PAssert::that(&sums)
            .contains_in_any_order(["10:1", "20:3", "30:7"].map(String::from).to_vec())
            .unwrap();
        // In discarding mode each firing holds only what is new: the view is
        // the latest firing, not every element so far.
        let panes = main
            .apply(
                "ReadPane",
                ParDo::of(WithIterable(latest_pane.clone())).with_side_input(&latest_pane),
            )
            .unwrap();
        PAssert::that(&panes)
            .contains_in_any_order(["10:[1]", "20:[2]", "30:[4]"].map(String::from).to_vec())
            .unwrap();
        p.run().unwrap();
    }
);

// A stream in the global window without a trigger has no ready window.
scenario!(
    untriggered_global_view_of_a_stream_is_refused,
    area = "Side inputs",
    features = [SideInputs, TestStream, Unbounded],
    beam = "ViewTest.testViewUnboundedAsSingletonDirect and siblings: a view of an unbounded PCollection in the global window needs a trigger",
    replay = false,
    |env| {
        let p = env.pipeline();
        let events = p
            .apply(
                "Events",
                TestStream::<i64>::new().advance_watermark_to_infinity(),
            )
            .unwrap();
        let err = events
            .apply("View", View::as_singleton())
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("View") && err.contains("unbounded") && err.contains("trigger"),
            "{err}"
        );
    }
);
