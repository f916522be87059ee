//! Views (Beam's ViewTest and ParDoTest's side-input cases): singletons,
//! lists, maps and multimaps in the global window, empty, combined, read by
//! several ParDos and by a multi-output ParDo.

use crate::scenario;
use crate::scenarios::common::s;
use beam_core::side_input::{IterableView, MapView, MultimapView, SingletonView};
use beam_core::testing::PAssert;
use beam_core::{
    Create, DoFn, PCollectionView, ParDo, Pipeline, ProcessContext, Sum, TupleTag, UserResult, View,
};

fn side_ints(p: &Pipeline, v: Vec<i64>) -> beam_core::PCollection<i64> {
    p.apply("Side", Create::of(v)).unwrap()
}

fn main_words(p: &Pipeline, w: &[&str]) -> beam_core::PCollection<String> {
    p.apply(
        "Main",
        Create::of(w.iter().map(|x| s(x)).collect::<Vec<_>>()),
    )
    .unwrap()
}

#[derive(Clone)]
struct WithSingleton(PCollectionView<SingletonView<i64>>);

impl DoFn for WithSingleton {
    type In = String;
    type Out = String;
    fn process(&mut self, x: &String, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let v = *ctx.side_input(&self.0)?;
        ctx.output(format!("{x}:{v}"));
        Ok(())
    }
}

// ViewTest.testSingletonSideInput.
scenario!(
    singleton_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testSingletonSideInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = side_ints(&p, vec![47])
            .apply("View", View::as_singleton())
            .unwrap();
        let out = main_words(&p, &["a", "b", "c"])
            .apply(
                "Read",
                ParDo::of(WithSingleton(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("a:47"), s("b:47"), s("c:47")])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct EachOfList(PCollectionView<IterableView<i64>>);

impl DoFn for EachOfList {
    type In = String;
    type Out = String;
    fn process(&mut self, x: &String, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let side: Vec<i64> = ctx.side_input(&self.0)?.to_vec();
        if side.is_empty() {
            ctx.output(format!("{x}:empty"));
        }
        for v in side {
            ctx.output(format!("{x}:{v}"));
        }
        Ok(())
    }
}

// ViewTest.testListSideInput, testIterableSideInput.
scenario!(
    list_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testListSideInput, testIterableSideInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = side_ints(&p, vec![11, 13, 17, 23])
            .apply("View", View::as_iterable())
            .unwrap();
        let out = main_words(&p, &["29", "31"])
            .apply(
                "Read",
                ParDo::of(EachOfList(view.clone())).with_side_input(&view),
            )
            .unwrap();
        let mut want = Vec::new();
        for m in ["29", "31"] {
            for v in [11, 13, 17, 23] {
                want.push(format!("{m}:{v}"));
            }
        }
        PAssert::that(&out).contains_in_any_order(want).unwrap();
        p.run().unwrap();
    }
);

// ViewTest.testEmptyListSideInput, testEmptyIterableSideInput.
scenario!(
    empty_list_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testEmptyListSideInput, testEmptyIterableSideInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = side_ints(&p, vec![])
            .apply("View", View::as_iterable())
            .unwrap();
        let out = main_words(&p, &["x"])
            .apply(
                "Read",
                ParDo::of(EachOfList(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("x:empty")])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct ByFirstLetter(PCollectionView<MapView<String, i64>>);

impl DoFn for ByFirstLetter {
    type In = String;
    type Out = (String, i64);
    fn process(&mut self, x: &String, ctx: &mut ProcessContext<'_, (String, i64)>) -> UserResult {
        let map = ctx.side_input(&self.0)?;
        match map.get(&x[..1]) {
            Some(v) => {
                let v = *v;
                ctx.output((x.clone(), v));
            }
            None if map.is_empty() => ctx.output((s("isEmpty"), 0)),
            None => {}
        }
        Ok(())
    }
}

fn map_case(env: &crate::Env, side: Vec<(String, i64)>, sum_first: bool) -> Vec<(String, i64)> {
    let p = env.pipeline();
    let mut kvs = p.apply("Side", Create::of(side)).unwrap();
    if sum_first {
        kvs = kvs.apply("Sum", Sum::per_key()).unwrap();
    }
    let view = kvs.apply("View", View::as_map()).unwrap();
    let out = main_words(&p, &["apple", "banana", "blackberry"])
        .apply(
            "Read",
            ParDo::of(ByFirstLetter(view.clone())).with_side_input(&view),
        )
        .unwrap();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    PAssert::that(&out)
        .satisfies(move |all: &[(String, i64)]| *sink.lock().unwrap() = all.to_vec())
        .unwrap();
    p.run().unwrap();
    let mut v = got.lock().unwrap().clone();
    v.sort();
    v
}

// ViewTest.testMapSideInput, testEmptyMapSideInput, testCombinedMapSideInput.
scenario!(
    map_side_inputs_plain_empty_and_combined,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testMapSideInput, testEmptyMapSideInput, testCombinedMapSideInput",
    replay = true,
    |env| {
        assert_eq!(
            map_case(env, vec![(s("a"), 1), (s("b"), 3)], false),
            vec![(s("apple"), 1), (s("banana"), 3), (s("blackberry"), 3)]
        );
        assert_eq!(
            map_case(env, vec![], false),
            vec![(s("isEmpty"), 0), (s("isEmpty"), 0), (s("isEmpty"), 0)]
        );
        assert_eq!(
            map_case(env, vec![(s("a"), 1), (s("a"), 20), (s("b"), 3)], true),
            vec![(s("apple"), 21), (s("banana"), 3), (s("blackberry"), 3)]
        );
    }
);

#[derive(Clone)]
pub(crate) struct Entries(pub(crate) PCollectionView<MultimapView<String, i64>>);

impl DoFn for Entries {
    type In = i32;
    type Out = String;
    fn process(&mut self, _: &i32, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let map = ctx.side_input(&self.0)?;
        let mut entries: Vec<String> = map
            .iter()
            .map(|(k, vs)| {
                let mut vs = vs.clone();
                vs.sort();
                format!("{k}={vs:?}")
            })
            .collect();
        entries.sort();
        ctx.output(if entries.is_empty() {
            s("isEmpty")
        } else {
            entries.join(" ")
        });
        Ok(())
    }
}

// ViewTest.testMultimapAsEntrySetSideInput, testEmptyMultimapSideInput.
scenario!(
    multimap_entries_and_empty_multimap,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testMultimapAsEntrySetSideInput, testEmptyMultimapSideInput",
    replay = true,
    |env| {
        for (side, want) in [
            (
                vec![(s("a"), 1), (s("b"), 2), (s("b"), 3)],
                "a=[1] b=[2, 3]",
            ),
            (vec![], "isEmpty"),
        ] {
            let p = env.pipeline();
            let view = p
                .apply("Side", Create::of(side))
                .unwrap()
                .apply("View", View::as_multimap())
                .unwrap();
            let out = p
                .apply("Main", Create::of(vec![1]))
                .unwrap()
                .apply(
                    "Read",
                    ParDo::of(Entries(view.clone())).with_side_input(&view),
                )
                .unwrap();
            PAssert::that(&out)
                .contains_in_any_order(vec![s(want)])
                .unwrap();
            p.run().unwrap();
        }
    }
);

#[derive(Clone)]
struct OptionalSingleton(PCollectionView<SingletonView<Option<i64>>>);

impl DoFn for OptionalSingleton {
    type In = String;
    type Out = String;
    fn process(&mut self, x: &String, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let v = ctx.side_input(&self.0)?;
        ctx.output(format!("{x}:{v:?}"));
        Ok(())
    }
}

// ViewTest.testSideInputWithNullDefault: the default of an empty singleton may be null.
scenario!(
    singleton_side_input_with_null_default,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testSideInputWithNullDefault",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = p
            .apply("Side", Create::of(Vec::<Option<i64>>::new()))
            .unwrap()
            .apply("View", View::as_singleton_with_default(None))
            .unwrap();
        let out = main_words(&p, &["a"])
            .apply(
                "Read",
                ParDo::of(OptionalSingleton(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("a:None")])
            .unwrap();
        p.run().unwrap();
    }
);

// ParDoTest.testParDoWithSideInputsIsCumulative: two ParDos read one view.
scenario!(
    one_view_read_by_two_pardos,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ParDoTest.testParDoWithSideInputsIsCumulative",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = side_ints(&p, vec![11])
            .apply("View", View::as_singleton())
            .unwrap();
        let main = main_words(&p, &["a", "b"]);
        let first = main
            .apply(
                "First",
                ParDo::of(WithSingleton(view.clone())).with_side_input(&view),
            )
            .unwrap();
        let second = first
            .apply(
                "Second",
                ParDo::of(WithSingleton(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&first)
            .contains_in_any_order(vec![s("a:11"), s("b:11")])
            .unwrap();
        PAssert::that(&second)
            .contains_in_any_order(vec![s("a:11:11"), s("b:11:11")])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct SplitWithSide {
    view: PCollectionView<SingletonView<i64>>,
    big: TupleTag<i64>,
}

impl DoFn for SplitWithSide {
    type In = i64;
    type Out = i64;
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
        let limit = *ctx.side_input(&self.view)?;
        if *x > limit {
            ctx.output_tagged(&self.big, *x)?;
        } else {
            ctx.output(*x);
        }
        Ok(())
    }
}

// ParDoTest.testMultiOutputParDoWithSideInputs.
scenario!(
    multi_output_pardo_with_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ParDoTest.testMultiOutputParDoWithSideInputs",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = side_ints(&p, vec![10])
            .apply("View", View::as_singleton())
            .unwrap();
        let big = TupleTag::<i64>::new("big");
        let outs = p
            .apply("Main", Create::of(vec![3i64, 42, 10, 11, -1]))
            .unwrap()
            .apply(
                "Split",
                ParDo::of(SplitWithSide {
                    view: view.clone(),
                    big: big.clone(),
                })
                .with_side_input(&view)
                .with_output(&big),
            )
            .unwrap();
        PAssert::that(&outs.main)
            .contains_in_any_order(vec![3, 10, -1])
            .unwrap();
        PAssert::that(&outs.get(&big).unwrap())
            .contains_in_any_order(vec![42, 11])
            .unwrap();
        p.run().unwrap();
    }
);

// ParDoTest.testParDoReadingFromUnknownSideInput: reading a view the ParDo
// did not declare fails, naming the step.
scenario!(
    reading_an_undeclared_side_input_fails,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ParDoTest.testParDoReadingFromUnknownSideInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = side_ints(&p, vec![1])
            .apply("View", View::as_singleton())
            .unwrap();
        main_words(&p, &["a"])
            .apply("Undeclared", ParDo::of(WithSingleton(view)))
            .unwrap();
        let err = p.run().unwrap_err().to_string();
        assert!(
            err.contains("Undeclared") && err.contains("side input"),
            "{err}"
        );
    }
);
