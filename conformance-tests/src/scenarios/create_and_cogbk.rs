//! More of Beam's CreateTest and CoGroupByKeyTest: empty and keyed Creates,
//! and CoGroupByKey in windows and with an empty input.

use crate::scenario;
use crate::scenarios::common::{iw, s, ts};
use beam_core::testing::PAssert;
use beam_core::{
    CoGbkResult, CoGroupByKey, Create, Duration, KeyedPCollectionTuple, Map, TupleTag, WindowFn,
    WindowInto,
};

// CreateTest.testCreateEmpty and testCreateTimestampedEmpty.
scenario!(
    create_nothing,
    area = "Create",
    features = [SideInputs],
    beam = "CreateTest.testCreateEmpty, testCreateTimestampedEmpty",
    replay = true,
    |env| {
        let p = env.pipeline();
        let plain = p.apply("Empty", Create::of(Vec::<String>::new())).unwrap();
        PAssert::that(&plain).is_empty().unwrap();
        let timed = p
            .apply(
                "TimedEmpty",
                Create::timestamped(Vec::<(String, beam_core::Timestamp)>::new()),
            )
            .unwrap();
        PAssert::that(&timed).is_empty().unwrap();
        p.run().unwrap();
    }
);

// CreateTest.testCreateWithKVWithTypes: key-value pairs, and many elements
// spread over workers (CreateTest.testCreate with a larger list).
scenario!(
    create_pairs_and_many_elements,
    area = "Create",
    features = [SideInputs],
    beam = "CreateTest.testCreateWithKVWithTypes, testCreate",
    replay = true,
    |env| {
        let p = env.pipeline();
        let pairs = vec![(s("a"), 1i64), (s("b"), 2), (s("a"), 3)];
        let kv = p.apply("Pairs", Create::of(pairs.clone())).unwrap();
        PAssert::that(&kv).contains_in_any_order(pairs).unwrap();
        let many: Vec<i64> = (0..10_000).collect();
        let big = p.apply("Many", Create::of(many.clone())).unwrap();
        PAssert::that(&big).contains_in_any_order(many).unwrap();
        p.run().unwrap();
    }
);

fn summary(
    ta: TupleTag<i64>,
    tb: TupleTag<String>,
) -> impl Fn(&(String, CoGbkResult)) -> (String, Vec<i64>, Vec<String>) + Clone {
    move |(k, r): &(String, CoGbkResult)| {
        let mut a = r.get(&ta).unwrap_or_default();
        a.sort();
        let mut b = r.get(&tb).unwrap_or_default();
        b.sort();
        (k.clone(), a, b)
    }
}

// CoGroupByKeyTest.testCoGroupByKeyWithWindowing: inputs in fixed windows
// join within each window only.
scenario!(
    co_group_by_key_in_windows,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CoGroupByKeyTest.testCoGroupByKeyWithWindowing",
    replay = true,
    |env| {
        let p = env.pipeline();
        let (ta, tb) = (TupleTag::<i64>::new("a"), TupleTag::<String>::new("b"));
        let a = p
            .apply(
                "A",
                Create::timestamped(vec![((s("k"), 1i64), ts(1)), ((s("k"), 2), ts(11))]),
            )
            .unwrap()
            .apply(
                "WA",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap();
        let b = p
            .apply(
                "B",
                Create::timestamped(vec![((s("k"), s("x")), ts(5)), ((s("j"), s("y")), ts(15))]),
            )
            .unwrap()
            .apply(
                "WB",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap();
        let out = KeyedPCollectionTuple::of(&ta, &a)
            .and(&tb, &b)
            .apply("CoGBK", CoGroupByKey)
            .unwrap()
            .apply("Summary", Map::new(summary(ta.clone(), tb.clone())))
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![(s("k"), vec![1], vec![s("x")])])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![
                (s("k"), vec![2], vec![]),
                (s("j"), vec![], vec![s("y")]),
            ])
            .unwrap();
        p.run().unwrap();
    }
);

// CoGroupByKeyTest.testCoGroupByKeyGetOnly / an empty input: every key of
// the other input, with nothing from the empty one.
scenario!(
    co_group_by_key_with_an_empty_input,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CoGroupByKeyTest.testCoGroupByKeyGetOnly (one input empty)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let (ta, tb) = (TupleTag::<i64>::new("a"), TupleTag::<String>::new("b"));
        let a = p
            .apply(
                "A",
                Create::of(vec![(s("k1"), 1i64), (s("k2"), 2), (s("k1"), 3)]),
            )
            .unwrap();
        let b = p
            .apply("B", Create::of(Vec::<(String, String)>::new()))
            .unwrap();
        let out = KeyedPCollectionTuple::of(&ta, &a)
            .and(&tb, &b)
            .apply("CoGBK", CoGroupByKey)
            .unwrap()
            .apply("Summary", Map::new(summary(ta.clone(), tb.clone())))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![
                (s("k1"), vec![1, 3], vec![]),
                (s("k2"), vec![2], vec![]),
            ])
            .unwrap();
        p.run().unwrap();
    }
);
