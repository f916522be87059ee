//! Element-wise transforms (Beam's FlatMapElementsTest, FilterTest, KeysTest,
//! ValuesTest, KvSwapTest, WithKeysTest, PartitionTest, WithTimestampsTest,
//! DistinctTest, CountTest).

use crate::scenario;
use crate::scenarios::common::{collect, panes, s, ts};
use beam_core::testing::PAssert;
use beam_core::{
    Count, Create, Distinct, Duration, Filter, FlatMap, Keys, KvSwap, Partition, Timestamp, Values,
    WithKeys, WithTimestamps,
};

fn kvs() -> Vec<(String, i64)> {
    vec![
        (s("one"), 1),
        (s("two"), 2),
        (s("three"), 3),
        (s("dup"), 4),
        (s("dup"), 5),
    ]
}

// FlatMapElementsTest.testFlatMapBasic and testFlatMapBasicEmpty.
scenario!(
    flat_map_to_many_and_to_none,
    area = "Elementwise",
    features = [SideInputs],
    beam = "FlatMapElementsTest.testFlatMapBasic",
    replay = true,
    |env| {
        let p = env.pipeline();
        let nums = p.apply("Create", Create::of(vec![1i64, 2, 3])).unwrap();
        let both = nums
            .apply("Both", FlatMap::new(|x: &i64| vec![*x, -*x]))
            .unwrap();
        PAssert::that(&both)
            .contains_in_any_order(vec![1, -1, 2, -2, 3, -3])
            .unwrap();
        let none = nums
            .apply("None", FlatMap::new(|_: &i64| Vec::<i64>::new()))
            .unwrap();
        PAssert::that(&none).is_empty().unwrap();
        p.run().unwrap();
    }
);

// FilterTest.testIdentityFilterByPredicate, testNoFilterByPredicate, testFilterGreaterThan.
scenario!(
    filter_by_predicate,
    area = "Elementwise",
    features = [SideInputs],
    beam =
        "FilterTest.testIdentityFilterByPredicate, testNoFilterByPredicate, testFilterGreaterThan",
    replay = true,
    |env| {
        let p = env.pipeline();
        let nums = p
            .apply("Create", Create::of(vec![1i64, 2, 3, 4, 5, 6, 7]))
            .unwrap();
        let all = nums.apply("All", Filter::new(|_: &i64| true)).unwrap();
        PAssert::that(&all)
            .contains_in_any_order(vec![1, 2, 3, 4, 5, 6, 7])
            .unwrap();
        let none = nums.apply("None", Filter::new(|_: &i64| false)).unwrap();
        PAssert::that(&none).is_empty().unwrap();
        let big = nums
            .apply("GreaterThan4", Filter::new(|x: &i64| *x > 4))
            .unwrap();
        PAssert::that(&big)
            .contains_in_any_order(vec![5, 6, 7])
            .unwrap();
        p.run().unwrap();
    }
);

// KeysTest.testKeys, ValuesTest.testValues, KvSwapTest.testKvSwap (and their empty cases).
scenario!(
    keys_values_and_swapped_pairs,
    area = "Elementwise",
    features = [SideInputs],
    beam = "KeysTest.testKeys, ValuesTest.testValues, KvSwapTest.testKvSwap, and their Empty cases",
    replay = true,
    |env| {
        let p = env.pipeline();
        let pairs = p.apply("Create", Create::of(kvs())).unwrap();
        PAssert::that(&pairs.apply("Keys", Keys).unwrap())
            .contains_in_any_order(kvs().into_iter().map(|kv| kv.0).collect())
            .unwrap();
        PAssert::that(&pairs.apply("Values", Values).unwrap())
            .contains_in_any_order(vec![1, 2, 3, 4, 5])
            .unwrap();
        PAssert::that(&pairs.apply("Swap", KvSwap).unwrap())
            .contains_in_any_order(kvs().into_iter().map(|(k, v)| (v, k)).collect())
            .unwrap();
        let empty = p
            .apply("Empty", Create::of(Vec::<(String, i64)>::new()))
            .unwrap();
        PAssert::that(&empty.apply("EmptyKeys", Keys).unwrap())
            .is_empty()
            .unwrap();
        PAssert::that(&empty.apply("EmptyValues", Values).unwrap())
            .is_empty()
            .unwrap();
        p.run().unwrap();
    }
);

// WithKeysTest.testExtractKeys.
scenario!(
    with_keys_from_a_function,
    area = "Elementwise",
    features = [SideInputs],
    beam = "WithKeysTest.testExtractKeys",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::of(vec![s("a"), s("bb"), s("ccc"), s("dd")]),
            )
            .unwrap()
            .apply("Length", WithKeys::of(|x: &String| x.len() as i64))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![(1, s("a")), (2, s("bb")), (3, s("ccc")), (2, s("dd"))])
            .unwrap();
        p.run().unwrap();
    }
);

// PartitionTest.testEvenOddPartition and testModPartition.
scenario!(
    partition_even_odd_and_by_modulus,
    area = "Elementwise",
    features = [SideInputs],
    beam = "PartitionTest.testEvenOddPartition, testModPartition",
    replay = true,
    |env| {
        let p = env.pipeline();
        let nums = p
            .apply(
                "Create",
                Create::of(vec![591i64, 11789, 1257, 24578, 24799, 307]),
            )
            .unwrap();
        let parts = nums
            .apply("EvenOdd", Partition::of(2, |x: &i64, _| (*x % 2) as usize))
            .unwrap();
        PAssert::that(&parts[0])
            .contains_in_any_order(vec![24578])
            .unwrap();
        PAssert::that(&parts[1])
            .contains_in_any_order(vec![591, 11789, 1257, 24799, 307])
            .unwrap();
        let mods = p
            .apply("Small", Create::of(vec![1i64, 2, 4, 3, 5, 6, 8, 7]))
            .unwrap()
            .apply("Mod3", Partition::of(3, |x: &i64, n| (*x as usize) % n))
            .unwrap();
        PAssert::that(&mods[0])
            .contains_in_any_order(vec![3, 6])
            .unwrap();
        PAssert::that(&mods[1])
            .contains_in_any_order(vec![1, 4, 7])
            .unwrap();
        PAssert::that(&mods[2])
            .contains_in_any_order(vec![2, 5, 8])
            .unwrap();
        p.run().unwrap();
    }
);

// PartitionTest.testOutOfBoundsPartitions: a partition index past the count fails the run.
scenario!(
    partition_out_of_bounds_fails,
    area = "Elementwise",
    features = [],
    beam = "PartitionTest.testOutOfBoundsPartitions",
    replay = true,
    |env| {
        let p = env.pipeline();
        p.apply("Create", Create::of(vec![591i64]))
            .unwrap()
            .apply("TooFar", Partition::of(5, |_: &i64, _| 5))
            .unwrap();
        let err = p.run().unwrap_err().to_string();
        assert!(err.contains("TooFar") && err.contains('5'), "{err}");
    }
);

// WithTimestampsTest.withTimestampsShouldApplyTimestamps.
scenario!(
    with_timestamps_applies_timestamps,
    area = "Elementwise",
    features = [],
    beam = "WithTimestampsTest.withTimestampsShouldApplyTimestamps",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply("Create", Create::of(vec![s("1234"), s("0"), s("-8")]))
            .unwrap()
            .apply(
                "Parse",
                WithTimestamps::of(|x: &String| ts(x.parse().unwrap_or(0))),
            )
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got: Vec<(String, i64)> = panes(&got)
            .into_iter()
            .map(|wv| (wv.value, wv.timestamp.as_micros()))
            .collect();
        assert_eq!(got, vec![(s("-8"), -8), (s("0"), 0), (s("1234"), 1234)]);
    }
);

// WithTimestampsTest.withTimestampsBackwardsInTimeShouldThrow and
// withTimestampsBackwardsInTimeAndWithAllowedTimestampSkewShouldSucceed.
scenario!(
    with_timestamps_backwards_needs_allowed_skew,
    area = "Elementwise",
    features = [],
    beam = "WithTimestampsTest.withTimestampsBackwardsInTimeShouldThrow, withTimestampsBackwardsInTimeAndWithAllowedTimestampSkewShouldSucceed",
    replay = true,
    |env| {
        let back = |x: &(String, Timestamp)| x.1 - Duration::from_micros(1000);
        let input = || Create::timestamped(vec![((s("a"), ts(5000)), ts(5000))]);
        let p = env.pipeline();
        p.apply("Create", input())
            .unwrap()
            .apply("Back", WithTimestamps::of(back))
            .unwrap();
        let err = p.run().unwrap_err().to_string();
        assert!(err.contains("Back") && err.contains("skew"), "{err}");

        let p = env.pipeline();
        let out = p
            .apply("Create", input())
            .unwrap()
            .apply(
                "Back",
                WithTimestamps::of(back).with_allowed_skew(Duration::from_micros(1000)),
            )
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        assert_eq!(panes(&got)[0].timestamp, ts(4000));
    }
);

// DistinctTest.testDistinct and testDistinctEmpty.
scenario!(
    distinct_and_distinct_of_nothing,
    area = "Elementwise",
    features = [SideInputs],
    beam = "DistinctTest.testDistinct, testDistinctEmpty",
    replay = true,
    |env| {
        let p = env.pipeline();
        let words: Vec<String> = ["k1", "k5", "k5", "k2", "k1", "k2", "k3"]
            .iter()
            .map(|x| s(x))
            .collect();
        let out = p
            .apply("Create", Create::of(words))
            .unwrap()
            .apply("Distinct", Distinct::new())
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("k1"), s("k2"), s("k3"), s("k5")])
            .unwrap();
        let none = p
            .apply("Empty", Create::of(Vec::<String>::new()))
            .unwrap()
            .apply("DistinctEmpty", Distinct::new())
            .unwrap();
        PAssert::that(&none).is_empty().unwrap();
        p.run().unwrap();
    }
);

// CountTest.testCountGloballyBasic and testCountGloballyEmpty.
scenario!(
    count_globally_and_of_nothing,
    area = "Elementwise",
    features = [SideInputs],
    beam = "CountTest.testCountGloballyBasic, testCountGloballyEmpty",
    replay = true,
    |env| {
        let p = env.pipeline();
        let words: Vec<String> = ["", "hi there", "hi", "hi sue bob", "hi", "sue", "bob"]
            .iter()
            .map(|x| s(x))
            .collect();
        let n = p
            .apply("Create", Create::of(words))
            .unwrap()
            .apply("Count", Count::globally())
            .unwrap();
        PAssert::that(&n).contains_in_any_order(vec![7]).unwrap();
        let zero = p
            .apply("Empty", Create::of(Vec::<String>::new()))
            .unwrap()
            .apply("CountEmpty", Count::globally())
            .unwrap();
        PAssert::that(&zero).contains_in_any_order(vec![0]).unwrap();
        p.run().unwrap();
    }
);
