//! Flatten (Beam's FlattenTest): unions of bounded, empty, windowed and
//! streaming PCollections, and what follows them.

use crate::scenario;
use crate::scenarios::common::{iw, s, sorted_values, ts};
use beam_core::testing::PAssert;
use beam_core::{
    Create, Duration, FlatMap, Flatten, GroupByKey, Map, PCollectionList, ParDo, Sum, TestStream,
    View, WindowFn, WindowInto,
};

fn words(p: &beam_core::Pipeline, name: &str, w: &[&str]) -> beam_core::PCollection<String> {
    p.apply(name, Create::of(w.iter().map(|x| s(x)).collect::<Vec<_>>()))
        .unwrap()
}

fn all(lists: &[&[&str]]) -> Vec<String> {
    lists.iter().flat_map(|l| l.iter().map(|x| s(x))).collect()
}

const LINES: &[&str] = &["Pipelines", "run", "on", "runners"];
const LINES2: &[&str] = &["x", "y", "z"];
const NO_LINES: &[&str] = &[];

// FlattenTest.testFlattenPCollections: three inputs, one of them empty.
scenario!(
    flatten_three_inputs_one_empty,
    area = "Flatten and Reshuffle",
    features = [SideInputs],
    beam = "FlattenTest.testFlattenPCollections",
    replay = true,
    |env| {
        let p = env.pipeline();
        let list = PCollectionList::of(vec![
            words(&p, "A", LINES),
            words(&p, "B", NO_LINES),
            words(&p, "C", LINES2),
        ])
        .unwrap();
        let out = list.apply("Flatten", Flatten).unwrap();
        PAssert::that(&out)
            .contains_in_any_order(all(&[LINES, LINES2]))
            .unwrap();
        p.run().unwrap();
    }
);

// FlattenTest.testFlattenPCollectionsThenParDo.
scenario!(
    flatten_then_pardo,
    area = "Flatten and Reshuffle",
    features = [SideInputs],
    beam = "FlattenTest.testFlattenPCollectionsThenParDo",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = PCollectionList::of(vec![words(&p, "A", LINES), words(&p, "B", LINES2)])
            .unwrap()
            .apply("Flatten", Flatten)
            .unwrap()
            .apply("Upper", Map::new(|x: &String| x.to_uppercase()))
            .unwrap();
        let want: Vec<String> = all(&[LINES, LINES2])
            .iter()
            .map(|x| x.to_uppercase())
            .collect();
        PAssert::that(&out).contains_in_any_order(want).unwrap();
        p.run().unwrap();
    }
);

// FlattenTest.testFlattenPCollectionsEmpty and testFlattenPCollectionsEmptyThenParDo.
scenario!(
    flatten_of_nothing_then_pardo_is_empty,
    area = "Flatten and Reshuffle",
    features = [SideInputs],
    beam = "FlattenTest.testFlattenPCollectionsEmpty, testFlattenPCollectionsEmptyThenParDo",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = PCollectionList::<String>::empty(&p)
            .apply("Flatten", Flatten)
            .unwrap()
            .apply("Upper", Map::new(|x: &String| x.to_uppercase()))
            .unwrap();
        PAssert::that(&out).is_empty().unwrap();
        p.run().unwrap();
    }
);

// FlattenTest.testEmptyFlattenAsSideInput: a view of an empty union reads as empty.
scenario!(
    empty_flatten_as_side_input,
    area = "Flatten and Reshuffle",
    features = [SideInputs],
    beam = "FlattenTest.testEmptyFlattenAsSideInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = PCollectionList::<String>::empty(&p)
            .apply("Flatten", Flatten)
            .unwrap()
            .apply("View", View::as_iterable())
            .unwrap();
        #[derive(Clone)]
        struct Read(beam_core::PCollectionView<beam_core::side_input::IterableView<String>>);
        impl beam_core::DoFn for Read {
            type In = i32;
            type Out = String;
            fn process(
                &mut self,
                _: &i32,
                ctx: &mut beam_core::ProcessContext<'_, String>,
            ) -> beam_core::UserResult {
                let side: Vec<String> = ctx.side_input(&self.0)?.to_vec();
                for x in side {
                    ctx.output(x);
                }
                ctx.output(s("main"));
                Ok(())
            }
        }
        let out = p
            .apply("Main", Create::of(vec![1]))
            .unwrap()
            .apply("Read", ParDo::of(Read(view.clone())).with_side_input(&view))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("main")])
            .unwrap();
        p.run().unwrap();
    }
);

// FlattenTest.testCompatibleWindowFnPropagation: a union of inputs in the same
// windowing keeps it, and a GroupByKey after it groups across the inputs.
scenario!(
    flatten_keeps_compatible_windows,
    area = "Flatten and Reshuffle",
    features = [SideInputs],
    beam = "FlattenTest.testCompatibleWindowFnPropagation",
    replay = true,
    |env| {
        let p = env.pipeline();
        let fixed = || WindowInto::new(WindowFn::fixed(Duration::from_micros(10)));
        let a = p
            .apply(
                "A",
                Create::timestamped(vec![((s("k"), 1), ts(1)), ((s("k"), 2), ts(12))]),
            )
            .unwrap()
            .apply("WA", fixed())
            .unwrap();
        let b = p
            .apply(
                "B",
                Create::timestamped(vec![((s("k"), 10), ts(5)), ((s("j"), 20), ts(15))]),
            )
            .unwrap()
            .apply("WB", fixed())
            .unwrap();
        let out = PCollectionList::of(vec![a, b])
            .unwrap()
            .apply("Flatten", Flatten)
            .unwrap()
            .apply("Sum", Sum::per_key())
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![(s("k"), 11)])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![(s("k"), 2), (s("j"), 20)])
            .unwrap();
        p.run().unwrap();
    }
);

// FlattenTest.testFlattenIterables: Flatten.iterables, a FlatMap of lists.
scenario!(
    flatten_iterables,
    area = "Flatten and Reshuffle",
    features = [SideInputs],
    beam = "FlattenTest.testFlattenIterables, testFlattenIterablesEmpty",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Lists",
                Create::of(vec![vec![s("a"), s("b")], vec![], vec![s("c")]]),
            )
            .unwrap()
            .apply("Flatten", FlatMap::new(|l: &Vec<String>| l.clone()))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("a"), s("b"), s("c")])
            .unwrap();
        let none = p
            .apply("Empty", Create::of(Vec::<Vec<String>>::new()))
            .unwrap()
            .apply("FlattenEmpty", FlatMap::new(|l: &Vec<String>| l.clone()))
            .unwrap();
        PAssert::that(&none).is_empty().unwrap();
        p.run().unwrap();
    }
);

// FlattenTest (streaming): a stream and a bounded input flatten into one
// stream; windows close as the stream's watermark passes them, so the
// stream's element at 25, behind its watermark of 30, is dropped as late.
scenario!(
    flatten_a_stream_with_a_bounded_input,
    area = "Flatten and Reshuffle",
    features = [TestStream, Unbounded],
    beam = "FlattenTest (unbounded and bounded inputs)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let stream = p
            .apply(
                "Stream",
                TestStream::<(String, i64)>::new()
                    .add_elements(vec![((s("k"), 1), ts(1)), ((s("k"), 2), ts(11))])
                    .advance_watermark_to(ts(30))
                    .add_elements(vec![((s("k"), 4), ts(25))])
                    .advance_watermark_to_infinity(),
            )
            .unwrap();
        let bounded = p
            .apply(
                "Bounded",
                Create::timestamped(vec![((s("k"), 100), ts(3)), ((s("k"), 200), ts(27))]),
            )
            .unwrap();
        let out = PCollectionList::of(vec![stream, bounded])
            .unwrap()
            .apply("Flatten", Flatten)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Sum", Sum::per_key())
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![(s("k"), 101)])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![(s("k"), 2)])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(20, 30))
            .contains_in_any_order(vec![(s("k"), 200)])
            .unwrap();
        p.run().unwrap();
    }
);

// FlattenTest.testFlattenPCollectionsThenGroupByKey (the values of a key
// from each input meet in one group).
scenario!(
    flatten_then_group_by_key,
    area = "Flatten and Reshuffle",
    features = [SideInputs],
    beam = "FlattenTest.testFlattenPCollections followed by GroupByKey",
    replay = true,
    |env| {
        let p = env.pipeline();
        let a = p
            .apply("A", Create::of(vec![(s("k1"), 1), (s("k2"), 2)]))
            .unwrap();
        let b = p
            .apply("B", Create::of(vec![(s("k1"), 3), (s("k3"), 4)]))
            .unwrap();
        let c = p.apply("C", Create::of(vec![(s("k1"), 5)])).unwrap();
        let out = PCollectionList::of(vec![a, b, c])
            .unwrap()
            .apply("Flatten", Flatten)
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap()
            .apply("Sorted", Map::new(sorted_values::<String, i32>))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![
                (s("k1"), vec![1, 3, 5]),
                (s("k2"), vec![2]),
                (s("k3"), vec![4]),
            ])
            .unwrap();
        p.run().unwrap();
    }
);
