//! Side inputs scenarios.

use crate::scenario;
use crate::scenarios::common::{s, ts};

use beam_core::side_input::{IterableView, MapView, MultimapView, SingletonView};
use beam_core::testing::PAssert;
use beam_core::{
    Create, DoFn, Duration, GroupByKey, PCollectionView, ParDo, ProcessContext, Sum, TestStream,
    Timestamp, UserResult, View, WindowFn, WindowInto,
};

#[derive(Clone)]
struct WithSingleton(PCollectionView<SingletonView<i64>>);

impl DoFn for WithSingleton {
    type In = String;
    type Out = String;
    fn process(&mut self, x: &String, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let v = *ctx.side_input(&self.0)?;
        ctx.output(format!("{x}{v}"));
        Ok(())
    }
}

fn fixed(n: i64) -> WindowFn {
    WindowFn::fixed(Duration::from_micros(n))
}

// ViewTest.testWindowedSideInputFixedToFixed / FixedToGlobal / FixedToFixedWithDefault.
scenario!(
    windowed_side_inputs_map_main_windows_to_side_windows,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testWindowedSideInputFixedToFixed / FixedToGlobal / FixedToFixedWithDefault.",
    replay = true,
    |env| {
        type Case = (Vec<(i64, i64)>, WindowFn, Option<i64>, Vec<&'static str>);
        let cases: Vec<Case> = vec![
            (
                vec![(1, 1), (2, 11), (3, 13)],
                fixed(10),
                None,
                vec!["A1", "B5", "C1"],
            ),
            (
                vec![(1, 1), (2, 11), (3, 13)],
                WindowFn::Global,
                None,
                vec!["A6", "B6", "C6"],
            ),
            (
                vec![(2, 11), (3, 13)],
                fixed(10),
                Some(0),
                vec!["A0", "B5", "C0"],
            ),
        ];
        for (side_values, side_window, default, want) in cases {
            let p = env.pipeline();
            let side = p
                .apply(
                    "Side",
                    Create::timestamped(side_values.into_iter().map(|(v, t)| (v, ts(t)))),
                )
                .unwrap()
                .apply("SideWindow", WindowInto::new(side_window))
                .unwrap()
                .apply("Sum", Sum::globally().without_defaults())
                .unwrap();
            let view = match default {
                Some(d) => side
                    .apply("View", View::as_singleton_with_default(d))
                    .unwrap(),
                None => side.apply("View", View::as_singleton()).unwrap(),
            };
            let out = p
                .apply(
                    "Main",
                    Create::timestamped(vec![(s("A"), ts(4)), (s("B"), ts(15)), (s("C"), ts(7))]),
                )
                .unwrap()
                .apply("MainWindow", WindowInto::new(fixed(10)))
                .unwrap()
                .apply(
                    "Read",
                    ParDo::of(WithSingleton(view.clone())).with_side_input(&view),
                )
                .unwrap();
            PAssert::that(&out)
                .contains_in_any_order(want.into_iter().map(String::from).collect())
                .unwrap();
            p.run().unwrap();
        }
    }
);

// ViewTest.testEmptySingletonSideInput, testNonSingletonSideInput: reading fails the run.
scenario!(
    singleton_views_need_exactly_one_element,
    area = "Side inputs",
    features = [SideInputs],
    beam =
        "ViewTest.testEmptySingletonSideInput, testNonSingletonSideInput: reading fails the run.",
    replay = true,
    |env| {
        for values in [vec![], vec![1i64, 2, 3]] {
            let p = env.pipeline();
            let view = p
                .apply("Side", Create::of(values.clone()))
                .unwrap()
                .apply("View", View::as_singleton())
                .unwrap();
            p.apply("Main", Create::of(vec![s("x")]))
                .unwrap()
                .apply(
                    "Read",
                    ParDo::of(WithSingleton(view.clone())).with_side_input(&view),
                )
                .unwrap();
            let err = p.run().unwrap_err().to_string();
            assert!(
                err.contains("Read") && err.contains("side input") && err.contains("singleton"),
                "{err}"
            );
        }
    }
);

#[derive(Clone)]
struct CountSide(PCollectionView<IterableView<i32>>);

impl DoFn for CountSide {
    type In = String;
    type Out = (String, usize);
    fn process(&mut self, x: &String, ctx: &mut ProcessContext<'_, (String, usize)>) -> UserResult {
        let n = ctx.side_input(&self.0)?.len();
        ctx.output((x.clone(), n));
        Ok(())
    }
}

// A side input of an empty PCollection reads as empty.
scenario!(
    empty_iterable_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "A side input of an empty PCollection reads as empty.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = p
            .apply("Side", Create::<i32>::of(vec![]))
            .unwrap()
            .apply("View", View::as_iterable())
            .unwrap();
        let out = p
            .apply("Main", Create::of(vec![s("a"), s("b")]))
            .unwrap()
            .apply(
                "Read",
                ParDo::of(CountSide(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![(s("a"), 0), (s("b"), 0)])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
pub(crate) struct Lookup {
    pub(crate) map: Option<PCollectionView<MapView<String, i32>>>,
    pub(crate) multi: Option<PCollectionView<MultimapView<String, i32>>>,
}

impl DoFn for Lookup {
    type In = String;
    type Out = (String, i32);
    fn process(&mut self, x: &String, ctx: &mut ProcessContext<'_, (String, i32)>) -> UserResult {
        let key = x[..1].to_string();
        if let Some(v) = &self.map {
            if let Some(n) = ctx.side_input(v)?.get(&key) {
                ctx.output((x.clone(), *n));
            }
        }
        if let Some(v) = &self.multi {
            let found: Vec<i32> = ctx.side_input(v)?.get(&key).cloned().unwrap_or_default();
            for n in found {
                ctx.output((x.clone(), n));
            }
        }
        Ok(())
    }
}

// ViewTest.testMultimapSideInput and testWindowedMapSideInput; duplicate keys in a map fail.
scenario!(map_and_multimap_views, area = "Side inputs", features = [SideInputs], beam = "ViewTest.testMultimapSideInput and testWindowedMapSideInput; duplicate keys in a map fail.", replay = true, |env| {
    let p = env.pipeline();
    let side = p
        .apply(
            "Side",
            Create::of(vec![(s("a"), 1), (s("a"), 1), (s("a"), 2), (s("b"), 3)]),
        )
        .unwrap();
    let multi = side.apply("Multi", View::as_multimap()).unwrap();
    let out = p
        .apply(
            "Main",
            Create::of(vec![s("apple"), s("banana"), s("blackberry")]),
        )
        .unwrap()
        .apply(
            "Lookup",
            ParDo::of(Lookup {
                map: None,
                multi: Some(multi.clone()),
            })
            .with_side_input(&multi),
        )
        .unwrap();
    PAssert::that(&out)
        .contains_in_any_order(vec![
            (s("apple"), 1),
            (s("apple"), 1),
            (s("apple"), 2),
            (s("banana"), 3),
            (s("blackberry"), 3),
        ])
        .unwrap();
    p.run().unwrap();

    let p = env.pipeline();
    let side = p
        .apply(
            "Side",
            Create::timestamped(vec![
                ((s("a"), 1), ts(1)),
                ((s("b"), 2), ts(4)),
                ((s("b"), 3), ts(18)),
            ]),
        )
        .unwrap()
        .apply("Window", WindowInto::new(fixed(10)))
        .unwrap();
    let map = side.apply("Map", View::as_map()).unwrap();
    let out = p
        .apply(
            "Main",
            Create::timestamped(vec![
                (s("apple"), ts(5)),
                (s("banana"), ts(4)),
                (s("blackberry"), ts(16)),
            ]),
        )
        .unwrap()
        .apply("MainWindow", WindowInto::new(fixed(10)))
        .unwrap()
        .apply(
            "Lookup",
            ParDo::of(Lookup {
                map: Some(map.clone()),
                multi: None,
            })
            .with_side_input(&map),
        )
        .unwrap();
    PAssert::that(&out)
        .contains_in_any_order(vec![
            (s("apple"), 1),
            (s("banana"), 2),
            (s("blackberry"), 3),
        ])
        .unwrap();
    p.run().unwrap();

    let p = env.pipeline();
    let map = p
        .apply("Side", Create::of(vec![(s("a"), 1), (s("a"), 2)]))
        .unwrap()
        .apply("Map", View::as_map())
        .unwrap();
    p.apply("Main", Create::of(vec![s("apple")]))
        .unwrap()
        .apply(
            "Lookup",
            ParDo::of(Lookup {
                map: Some(map.clone()),
                multi: None,
            })
            .with_side_input(&map),
        )
        .unwrap();
    let err = p.run().unwrap_err().to_string();
    assert!(
        err.contains("duplicate key") && err.contains("Lookup"),
        "{err}"
    );
});

// ParDoTest.testSideInputsWithMultipleWindows: windows are exploded before the lookup.
scenario!(
    side_input_read_from_each_sliding_window,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ParDoTest.testSideInputsWithMultipleWindows: windows are exploded before the lookup.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = p
            .apply("Side", Create::of(vec![1i64]))
            .unwrap()
            .apply("View", View::as_singleton())
            .unwrap();
        let out = p
            .apply("Main", Create::timestamped(vec![(s("a"), ts(3_000_000))]))
            .unwrap()
            .apply(
                "Sliding",
                WindowInto::new(WindowFn::sliding(
                    Duration::from_secs(5),
                    Duration::from_secs(1),
                )),
            )
            .unwrap()
            .apply(
                "Read",
                ParDo::of(WithSingleton(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("a1"); 5])
            .unwrap();
        p.run().unwrap();
    }
);

// A sessions-windowed PCollection has no side-input window mapping.
scenario!(
    session_windowed_side_inputs_are_rejected,
    area = "Side inputs",
    features = [MergingWindows, SideInputs],
    beam = "A sessions-windowed PCollection has no side-input window mapping.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let err = p
            .apply("Side", Create::of(vec![1i64]))
            .unwrap()
            .apply(
                "Sessions",
                WindowInto::new(WindowFn::sessions(Duration::from_secs(1))),
            )
            .unwrap()
            .apply("View", View::as_singleton())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("View") && err.contains("side-input"), "{err}");
    }
);

#[derive(Clone)]
struct ReadSingleton(PCollectionView<SingletonView<i64>>);

impl DoFn for ReadSingleton {
    type In = i64;
    type Out = i64;
    fn process(&mut self, _: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
        let v = *ctx.side_input(&self.0)?;
        ctx.output(v);
        Ok(())
    }
}

// ViewTest.testWindowedSingletonSideInput (SEMANTICS 32).
scenario!(
    windowed_singleton_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testWindowedSingletonSideInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let fixed = || WindowInto::new(WindowFn::fixed(Duration::from_micros(10)));
        let view = p
            .apply(
                "Side",
                Create::timestamped(vec![(47i64, ts(1)), (48, ts(11))]),
            )
            .unwrap()
            .apply("SideWindow", fixed())
            .unwrap()
            .apply("View", View::as_singleton())
            .unwrap();
        let out = p
            .apply(
                "Main",
                Create::timestamped(vec![(1i64, ts(4)), (2, ts(8)), (3, ts(12))]),
            )
            .unwrap()
            .apply("MainWindow", fixed())
            .unwrap()
            .apply(
                "Read",
                ParDo::of(ReadSingleton(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![47, 47, 48])
            .unwrap();
        p.run().unwrap();
    }
);

// CombineTest.testWindowedCombineGloballyAsSingletonView (SEMANTICS 27): per-window defaults.
scenario!(
    combined_singleton_view_with_per_window_default,
    area = "Side inputs",
    features = [SideInputs],
    beam = "CombineTest.testWindowedCombineGloballyAsSingletonView",
    replay = true,
    |env| {
        let p = env.pipeline();
        let minute = || WindowInto::new(WindowFn::fixed(Duration::from_mins(1)));
        let view = p
            .apply(
                "Side",
                Create::timestamped(vec![(1i64, ts(100)), (3, ts(100))]),
            )
            .unwrap()
            .apply("SideWindow", minute())
            .unwrap()
            .apply("Sum", Sum::globally().without_defaults())
            .unwrap()
            .apply("View", View::as_singleton_with_default(0))
            .unwrap();
        let out = p
            .apply(
                "Main",
                Create::timestamped(vec![(0i64, ts(100)), (0, Timestamp::MIN)]),
            )
            .unwrap()
            .apply("MainWindow", minute())
            .unwrap()
            .apply(
                "Read",
                ParDo::of(ReadSingleton(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![4, 0])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct SumSide(PCollectionView<IterableView<i64>>);

impl DoFn for SumSide {
    type In = i64;
    type Out = i64;
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
        let total: i64 = ctx.side_input(&self.0)?.iter().sum();
        ctx.output(x * 100 + total);
        Ok(())
    }
}

// ViewTest.testWindowedIterableSideInput.
scenario!(
    windowed_iterable_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testWindowedIterableSideInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let fixed = || WindowInto::new(WindowFn::fixed(Duration::from_micros(10)));
        let view = p
            .apply(
                "Side",
                Create::timestamped(vec![(1i64, ts(1)), (2, ts(2)), (5, ts(15))]),
            )
            .unwrap()
            .apply("SideWindow", fixed())
            .unwrap()
            .apply("View", View::as_iterable())
            .unwrap();
        let out = p
            .apply(
                "Main",
                Create::timestamped(vec![(1i64, ts(4)), (2, ts(14)), (3, ts(25))]),
            )
            .unwrap()
            .apply("MainWindow", fixed())
            .unwrap()
            .apply(
                "Read",
                ParDo::of(SumSide(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![103, 205, 300])
            .unwrap();
        p.run().unwrap();
    }
);

// ViewTest.testWindowedSideInputNotPresent (SEMANTICS 34): a missing side window reads the default.
scenario!(
    windowed_side_input_not_present,
    area = "Side inputs",
    features = [SideInputs, TestStream, Unbounded],
    beam = "ViewTest.testWindowedSideInputNotPresent",
    replay = true,
    |env| {
        let p = env.pipeline();
        let sec = Timestamp::from_secs;
        let stream = TestStream::new()
            .add_elements(vec![((1000i64, 1000i64), sec(1))])
            .advance_watermark_to_infinity();
        let input = p.apply("Events", stream).unwrap();
        let view = input
            .apply("Values", beam_core::Values)
            .unwrap()
            .apply(
                "SideWindow",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(100))),
            )
            .unwrap()
            .apply("Sum", Sum::globally().without_defaults())
            .unwrap()
            .apply(
                "Rewindow",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(10))),
            )
            .unwrap()
            .apply("View", View::as_singleton_with_default(0))
            .unwrap();
        let out = input
            .apply(
                "MainWindow",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(10))),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap()
            .apply("Keys", beam_core::Keys)
            .unwrap()
            .apply(
                "Read",
                ParDo::of(ReadSingleton(view.clone())).with_side_input(&view),
            )
            .unwrap();
        // The sum lands at 99 999 999 us, in [90 s, 100 s); the main window [0, 10 s) reads the default.
        PAssert::that(&out).contains_in_any_order(vec![0]).unwrap();
        p.run().unwrap();
    }
);
