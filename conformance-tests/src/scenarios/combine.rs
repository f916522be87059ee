//! Combine and composites scenarios.

use crate::scenario;
use crate::scenarios::common::{s, ts};

use beam_core::testing::PAssert;
use beam_core::{
    CoGbkResult, CoGroupByKey, Combine, CombineFn, Count, Create, Distinct, Duration, Filter,
    Flatten, KeyedPCollectionTuple, Keys, KvSwap, Map, Max, Mean, Min, PCollectionList, Partition,
    Sum, ToList, Top, TupleTag, Values, WindowFn, WindowInto, WithKeys, WithTimestamps,
};

/// Beam's TestCombineFn: sorted characters of the concatenated inputs. The
/// accumulators handed to merge are consumed, so a runner cannot reuse them.
#[derive(Clone)]
struct SortedChars;

impl CombineFn for SortedChars {
    type Input = i32;
    type Accum = Vec<String>;
    type Output = String;
    fn create_accumulator(&self) -> Vec<String> {
        Vec::new()
    }
    fn add_input(&self, acc: &mut Vec<String>, x: i32) {
        acc.push(x.to_string())
    }
    fn merge_accumulators(&self, acc: &mut Vec<String>, mut other: Vec<String>) {
        acc.append(&mut other)
    }
    fn extract_output(&self, acc: Vec<String>) -> String {
        let mut c: Vec<char> = acc.concat().chars().collect();
        c.sort();
        c.into_iter().collect()
    }
}

fn table() -> Vec<(String, i32)> {
    vec![
        (s("a"), 1),
        (s("a"), 1),
        (s("a"), 4),
        (s("b"), 1),
        (s("b"), 13),
    ]
}

// CombineTest.testSimpleCombine and testSimpleCombineEmpty.
scenario!(
    simple_combine_globally_and_per_key,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CombineTest.testSimpleCombine and testSimpleCombineEmpty.",
    replay = true,
    |env| {
        {
            let p = env.pipeline();
            let t = p.apply("Table", Create::of(table())).unwrap();
            let sum = t
                .apply("Values", Values)
                .unwrap()
                .apply("Sum", Sum::globally())
                .unwrap();
            let per_key = t.apply("PerKey", Combine::per_key(SortedChars)).unwrap();
            PAssert::that(&sum).contains_in_any_order(vec![20]).unwrap();
            PAssert::that(&per_key)
                .contains_in_any_order(vec![(s("a"), s("114")), (s("b"), s("113"))])
                .unwrap();
            let empty = p
                .apply("Empty", Create::<(String, i32)>::of(vec![]))
                .unwrap();
            let empty_sum = empty
                .apply("EmptyValues", Values)
                .unwrap()
                .apply("EmptySum", Sum::globally())
                .unwrap();
            let empty_per_key = empty
                .apply("EmptyPerKey", Combine::per_key(SortedChars))
                .unwrap();
            PAssert::that(&empty_sum)
                .contains_in_any_order(vec![0])
                .unwrap();
            PAssert::that(&empty_per_key).is_empty().unwrap();
            p.run().unwrap();
        }
    }
);

fn windowed_table(
    p: &beam_core::Pipeline,
    window_fn: WindowFn,
) -> beam_core::PCollection<(String, i32)> {
    let times = [0, 1, 6, 7, 8];
    p.apply(
        "Table",
        Create::timestamped(table().into_iter().zip(times).map(|(kv, t)| (kv, ts(t)))),
    )
    .unwrap()
    .apply("Window", WindowInto::new(window_fn))
    .unwrap()
}

// CombineTest.testFixedWindowsCombine.
scenario!(
    combine_in_fixed_windows,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CombineTest.testFixedWindowsCombine.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let t = windowed_table(&p, WindowFn::fixed(Duration::from_micros(2)));
        let sums = t
            .apply("Values", Values)
            .unwrap()
            .apply("Sum", Sum::globally().without_defaults())
            .unwrap();
        let per_key = t.apply("PerKey", Combine::per_key(SortedChars)).unwrap();
        PAssert::that(&sums)
            .contains_in_any_order(vec![2, 5, 13])
            .unwrap();
        PAssert::that(&per_key)
            .contains_in_any_order(vec![
                (s("a"), s("11")),
                (s("a"), s("4")),
                (s("b"), s("1")),
                (s("b"), s("13")),
            ])
            .unwrap();
        p.run().unwrap();
    }
);

// CombineTest.testSessionsCombine: key-less sessions merge to [0, 15).
scenario!(
    combine_in_sessions,
    area = "Combine and composites",
    features = [MergingWindows, SideInputs],
    beam = "CombineTest.testSessionsCombine: key-less sessions merge to [0, 15).",
    replay = true,
    |env| {
        let p = env.pipeline();
        let times = [0, 4, 7, 10, 16];
        let t = p
            .apply(
                "Table",
                Create::timestamped(table().into_iter().zip(times).map(|(kv, t)| (kv, ts(t)))),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::sessions(Duration::from_micros(5))),
            )
            .unwrap();
        let sums = t
            .apply("Values", Values)
            .unwrap()
            .apply("Sum", Sum::globally().without_defaults())
            .unwrap();
        let per_key = t.apply("PerKey", Combine::per_key(SortedChars)).unwrap();
        PAssert::that(&sums)
            .contains_in_any_order(vec![7, 13])
            .unwrap();
        PAssert::that(&per_key)
            .contains_in_any_order(vec![
                (s("a"), s("114")),
                (s("b"), s("1")),
                (s("b"), s("13")),
            ])
            .unwrap();
        p.run().unwrap();
    }
);

// CombineTest.testSlidingWindowsCombine.
scenario!(
    combine_in_sliding_windows,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CombineTest.testSlidingWindowsCombine.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let lists = p
            .apply(
                "Create",
                Create::timestamped(vec![(s("a"), ts(1)), (s("b"), ts(2)), (s("c"), ts(3))]),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::sliding(
                    Duration::from_micros(3),
                    Duration::from_micros(1),
                )),
            )
            .unwrap()
            .apply("ToList", ToList::globally().without_defaults())
            .unwrap()
            .apply(
                "Sort",
                Map::new(|v: &Vec<String>| {
                    let mut v = v.clone();
                    v.sort();
                    v.concat()
                }),
            )
            .unwrap();
        PAssert::that(&lists)
            .contains_in_any_order(["a", "ab", "abc", "bc", "c"].map(String::from).to_vec())
            .unwrap();
        p.run().unwrap();
    }
);

// Combine.globally with defaults is only for the global window.
scenario!(
    windowed_combine_globally_needs_without_defaults,
    area = "Combine and composites",
    features = [],
    beam = "Combine.globally with defaults is only for the global window.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let t = windowed_table(&p, WindowFn::fixed(Duration::from_micros(2)));
        let err = t
            .apply("Values", Values)
            .unwrap()
            .apply("Sum", Sum::globally())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("without_defaults"), "{err}");
    }
);

scenario!(
    built_in_combiners,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "own scenario",
    replay = true,
    |env| {
        let p = env.pipeline();
        let xs = p
            .apply("Xs", Create::of(vec![3i64, 1, 4, 1, 5, 9, 2, 6]))
            .unwrap();
        PAssert::that(&xs.apply("Count", Count::globally()).unwrap())
            .contains_in_any_order(vec![8])
            .unwrap();
        PAssert::that(&xs.apply("Min", Min::globally()).unwrap())
            .contains_in_any_order(vec![Some(1)])
            .unwrap();
        PAssert::that(&xs.apply("Max", Max::globally()).unwrap())
            .contains_in_any_order(vec![Some(9)])
            .unwrap();
        PAssert::that(&xs.apply("Mean", Mean::globally()).unwrap())
            .contains_in_any_order(vec![3.875])
            .unwrap();
        PAssert::that(&xs.apply("Top3", Top::largest(3)).unwrap())
            .contains_in_any_order(vec![vec![9, 6, 5]])
            .unwrap();
        PAssert::that(&xs.apply("Bottom2", Top::smallest(2)).unwrap())
            .contains_in_any_order(vec![vec![1, 1]])
            .unwrap();
        let kv = p.apply("Kv", Create::of(table())).unwrap();
        PAssert::that(&kv.apply("SumPerKey", Sum::per_key()).unwrap())
            .contains_in_any_order(vec![(s("a"), 6), (s("b"), 14)])
            .unwrap();
        PAssert::that(&kv.apply("CountPerKey", Count::per_key()).unwrap())
            .contains_in_any_order(vec![(s("a"), 3), (s("b"), 2)])
            .unwrap();
        PAssert::that(&kv.apply("MinPerKey", Min::per_key()).unwrap())
            .contains_in_any_order(vec![(s("a"), 1), (s("b"), 1)])
            .unwrap();
        PAssert::that(&kv.apply("MaxPerKey", Max::per_key()).unwrap())
            .contains_in_any_order(vec![(s("a"), 4), (s("b"), 13)])
            .unwrap();
        PAssert::that(&kv.apply("MeanPerKey", Mean::per_key()).unwrap())
            .contains_in_any_order(vec![(s("a"), 2.0), (s("b"), 7.0)])
            .unwrap();
        PAssert::that(&kv.apply("TopPerKey", Top::largest_per_key(1)).unwrap())
            .contains_in_any_order(vec![(s("a"), vec![4]), (s("b"), vec![13])])
            .unwrap();
        let empty = p.apply("Empty", Create::<i64>::of(vec![])).unwrap();
        PAssert::that(&empty.apply("EmptyCount", Count::globally()).unwrap())
            .contains_in_any_order(vec![0])
            .unwrap();
        PAssert::that(&empty.apply("EmptyMax", Max::globally()).unwrap())
            .contains_in_any_order(vec![None])
            .unwrap();
        PAssert::that(&empty.apply("EmptyList", ToList::globally()).unwrap())
            .contains_in_any_order(vec![vec![]])
            .unwrap();
        p.run().unwrap();
    }
);

// FlattenTest: multiple copies, empty list, single input, incompatible windows.
scenario!(
    flatten_cases,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "FlattenTest: multiple copies, empty list, single input, incompatible windows.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let longs = p.apply("Longs", Create::of(0..5i64)).unwrap();
        let plus_ten = longs.apply("PlusTen", Map::new(|x: &i64| x + 10)).unwrap();
        let all = PCollectionList::of(vec![longs.clone(), longs.clone(), plus_ten])
            .unwrap()
            .apply("Flatten", Flatten)
            .unwrap();
        let mut want: Vec<i64> = (0..5).chain(0..5).chain(10..15).collect();
        want.sort();
        PAssert::that(&all).contains_in_any_order(want).unwrap();
        let nothing = PCollectionList::<i64>::empty(&p)
            .apply("FlattenNothing", Flatten)
            .unwrap();
        PAssert::that(&nothing).is_empty().unwrap();
        let single = PCollectionList::of(vec![longs.clone()])
            .unwrap()
            .apply("FlattenOne", Flatten)
            .unwrap();
        assert_ne!(single.id(), longs.id());
        PAssert::that(&single)
            .contains_in_any_order((0..5).collect())
            .unwrap();
        p.run().unwrap();

        let p = env.pipeline();
        let a = p
            .apply("A", Create::of(vec![1]))
            .unwrap()
            .apply(
                "W1",
                WindowInto::new(WindowFn::fixed(Duration::from_mins(1))),
            )
            .unwrap();
        let b = p
            .apply("B", Create::of(vec![1]))
            .unwrap()
            .apply(
                "W2",
                WindowInto::new(WindowFn::fixed(Duration::from_mins(2))),
            )
            .unwrap();
        let err = PCollectionList::of(vec![a, b])
            .unwrap()
            .apply("Flatten", Flatten)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("incompatible window"), "{err}");
    }
);

// FlattenTest.testFlattenMultiplePCollectionsHavingMultipleConsumers.
scenario!(
    flatten_inputs_with_other_consumers,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "FlattenTest.testFlattenMultiplePCollectionsHavingMultipleConsumers.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let words = p
            .apply("Words", Create::of(vec![s("AA"), s("BBB"), s("CC")]))
            .unwrap();
        let even = words
            .apply("Even", Filter::new(|w: &String| w.len().is_multiple_of(2)))
            .unwrap();
        let odd = words
            .apply("Odd", Filter::new(|w: &String| w.len() % 2 == 1))
            .unwrap();
        let all = PCollectionList::of(vec![even.clone(), odd.clone()])
            .unwrap()
            .apply("Flatten", Flatten)
            .unwrap();
        PAssert::that(&even)
            .contains_in_any_order(vec![s("AA"), s("CC")])
            .unwrap();
        PAssert::that(&odd)
            .contains_in_any_order(vec![s("BBB")])
            .unwrap();
        PAssert::that(&all)
            .contains_in_any_order(vec![s("AA"), s("BBB"), s("CC")])
            .unwrap();
        p.run().unwrap();
    }
);

scenario!(
    element_wise_composites,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "own scenario",
    replay = true,
    |env| {
        let p = env.pipeline();
        let words = p
            .apply(
                "Words",
                Create::of(vec![s("apple"), s("bob"), s("apple"), s("cat")]),
            )
            .unwrap();
        PAssert::that(&words.apply("Distinct", Distinct::new()).unwrap())
            .contains_in_any_order(vec![s("apple"), s("bob"), s("cat")])
            .unwrap();
        let keyed = words
            .apply("WithKeys", WithKeys::of(|w: &String| w.len()))
            .unwrap();
        PAssert::that(&keyed.apply("Keys", Keys).unwrap())
            .contains_in_any_order(vec![5, 3, 5, 3])
            .unwrap();
        PAssert::that(&keyed.apply("Swap", KvSwap).unwrap())
            .contains_in_any_order(vec![
                (s("apple"), 5),
                (s("bob"), 3),
                (s("apple"), 5),
                (s("cat"), 3),
            ])
            .unwrap();
        let parts = words
            .apply("Partition", Partition::of(3, |w: &String, n| w.len() % n))
            .unwrap();
        assert_eq!(parts.len(), 3);
        PAssert::that(&parts[0])
            .contains_in_any_order(vec![s("bob"), s("cat")])
            .unwrap();
        PAssert::that(&parts[1]).is_empty().unwrap();
        PAssert::that(&parts[2])
            .contains_in_any_order(vec![s("apple"), s("apple")])
            .unwrap();
        let timed = words
            .apply("Stamp", WithTimestamps::of(|w: &String| ts(w.len() as i64)))
            .unwrap()
            .apply("Reify", beam_core::Reify)
            .unwrap()
            .apply(
                "Ts",
                Map::new(|wv: &beam_core::WindowedValue<String>| wv.timestamp.as_micros()),
            )
            .unwrap();
        PAssert::that(&timed)
            .contains_in_any_order(vec![5, 3, 5, 3])
            .unwrap();
        p.run().unwrap();

        let p = env.pipeline();
        p.apply("Words", Create::of(vec![s("x")]))
            .unwrap()
            .apply("BadPartition", Partition::of(2, |_: &String, _| 7))
            .unwrap();
        let err = p.run().unwrap_err().to_string();
        assert!(
            err.contains("BadPartition") && err.contains("\"x\"") && err.contains("returned 7"),
            "{err}"
        );
    }
);

// CoGroupByKeyTest: three inputs, keys missing from some.
scenario!(
    co_group_by_key_over_three_inputs,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CoGroupByKeyTest: three inputs, keys missing from some.",
    replay = true,
    |env| {
        let p = env.pipeline();
        let (ta, tb, tc) = (
            TupleTag::<i32>::new("a"),
            TupleTag::<String>::new("b"),
            TupleTag::<f64>::new("c"),
        );
        let a = p
            .apply("A", Create::of(vec![(1u32, 10), (1, 11), (2, 20)]))
            .unwrap();
        let b = p
            .apply("B", Create::of(vec![(1u32, s("one")), (3, s("three"))]))
            .unwrap();
        let c = p.apply("C", Create::of(vec![(3u32, 0.5)])).unwrap();
        let joined = KeyedPCollectionTuple::of(&ta, &a)
            .and(&tb, &b)
            .and(&tc, &c)
            .apply("CoGBK", CoGroupByKey)
            .unwrap();
        let summary = joined
            .apply(
                "Summary",
                Map::new(move |(k, r): &(u32, CoGbkResult)| {
                    let mut a = r.get(&ta).unwrap();
                    a.sort();
                    (*k, a, r.get(&tb).unwrap(), r.get(&tc).unwrap().len())
                }),
            )
            .unwrap();
        PAssert::that(&summary)
            .contains_in_any_order(vec![
                (1, vec![10, 11], vec![s("one")], 0),
                (2, vec![20], vec![], 0),
                (3, vec![], vec![s("three")], 1),
            ])
            .unwrap();
        p.run().unwrap();
    }
);

/// Beam's UniqueInts: the set of distinct inputs.
#[derive(Clone)]
struct UniqueInts;

impl CombineFn for UniqueInts {
    type Input = i32;
    type Accum = std::collections::BTreeSet<i32>;
    type Output = Vec<i32>;
    fn create_accumulator(&self) -> Self::Accum {
        Default::default()
    }
    fn add_input(&self, acc: &mut Self::Accum, x: i32) {
        acc.insert(x);
    }
    fn merge_accumulators(&self, acc: &mut Self::Accum, other: Self::Accum) {
        acc.extend(other);
    }
    fn extract_output(&self, acc: Self::Accum) -> Vec<i32> {
        acc.into_iter().collect()
    }
}

// CombineTest.testBasicCombine and testBasicCombineEmpty (SEMANTICS 19).
scenario!(
    basic_combine_unique_ints,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CombineTest.testBasicCombine, testBasicCombineEmpty",
    replay = true,
    |env| {
        let p = env.pipeline();
        let t = p.apply("Table", Create::of(table())).unwrap();
        let globally = t
            .apply("Values", Values)
            .unwrap()
            .apply("Unique", Combine::globally(UniqueInts))
            .unwrap();
        let per_key = t
            .apply("UniquePerKey", Combine::per_key(UniqueInts))
            .unwrap();
        PAssert::that(&globally)
            .contains_in_any_order(vec![vec![1, 4, 13]])
            .unwrap();
        PAssert::that(&per_key)
            .contains_in_any_order(vec![(s("a"), vec![1, 4]), (s("b"), vec![1, 13])])
            .unwrap();
        let empty = p
            .apply("Empty", Create::<i32>::of(vec![]))
            .unwrap()
            .apply("UniqueEmpty", Combine::globally(UniqueInts))
            .unwrap();
        PAssert::that(&empty)
            .contains_in_any_order(vec![vec![]])
            .unwrap();
        p.run().unwrap();
    }
);

/// Sums, but panics on 13.
#[derive(Clone)]
struct Unlucky;

impl CombineFn for Unlucky {
    type Input = i32;
    type Accum = i64;
    type Output = i64;
    fn create_accumulator(&self) -> i64 {
        0
    }
    fn add_input(&self, acc: &mut i64, x: i32) {
        assert!(x != 13, "thirteen is unlucky");
        *acc += i64::from(x);
    }
    fn merge_accumulators(&self, acc: &mut i64, other: i64) {
        *acc += other
    }
    fn extract_output(&self, acc: i64) -> i64 {
        acc
    }
}

// A panic in a CombineFn fails the run with the step's name, on every runner (ParDoTest error contracts).
scenario!(
    combine_fn_panic_fails_the_run,
    area = "Combine and composites",
    features = [],
    beam = "CombineTest (failing CombineFn); DoFn error contracts",
    replay = false,
    |env| {
        let p = env.pipeline();
        p.apply("Table", Create::of(table()))
            .unwrap()
            .apply("Unlucky", Combine::per_key(Unlucky))
            .unwrap();
        match p.run().unwrap_err() {
            beam_core::BeamError::UserPanic { step, message, .. } => {
                assert!(step.starts_with("Unlucky"), "{step}");
                assert!(message.contains("thirteen is unlucky"), "{message}");
            }
            other => panic!("unexpected {other}"),
        }
    }
);
