//! The built-in and composed combiners (Beam's TopTest, MinTest, MaxTest,
//! MeanTest, SumTest, CombineFnsTest, CombineTest's accumulating and
//! singleton-view cases), globally, per key and over nothing.

use crate::scenario;
use crate::scenarios::common::s;
use beam_core::side_input::SingletonView;
use beam_core::testing::PAssert;
use beam_core::{
    Combine, CombineFns, Create, DoFn, Max, Mean, Min, PCollectionView, ParDo, ProcessContext, Sum,
    Top, UserResult, View,
};

fn per_key_ints() -> Vec<(String, i64)> {
    vec![
        (s("a"), 1),
        (s("a"), 1),
        (s("a"), 4),
        (s("b"), 1),
        (s("b"), 13),
    ]
}

// TopTest.testTop, testTopEmpty.
scenario!(
    top_largest_smallest_and_of_nothing,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "TopTest.testTop, testTopEmpty",
    replay = true,
    |env| {
        let p = env.pipeline();
        let nums = p
            .apply("Create", Create::of(vec![3i64, 17, -4, 8, 17, 0, 99]))
            .unwrap();
        PAssert::that(&nums.apply("Largest", Top::largest(3)).unwrap())
            .contains_in_any_order(vec![vec![99, 17, 17]])
            .unwrap();
        PAssert::that(&nums.apply("Smallest", Top::smallest(2)).unwrap())
            .contains_in_any_order(vec![vec![-4, 0]])
            .unwrap();
        let none = p
            .apply("Empty", Create::of(Vec::<i64>::new()))
            .unwrap()
            .apply("LargestOfNothing", Top::largest(3))
            .unwrap();
        PAssert::that(&none)
            .contains_in_any_order(vec![Vec::new()])
            .unwrap();
        p.run().unwrap();
    }
);

// TopTest.testPerKey.
scenario!(
    top_per_key,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "TopTest.testPerKey, testSmallestPerKey",
    replay = true,
    |env| {
        let p = env.pipeline();
        let kvs = p.apply("Create", Create::of(per_key_ints())).unwrap();
        PAssert::that(&kvs.apply("Largest", Top::largest_per_key(2)).unwrap())
            .contains_in_any_order(vec![(s("a"), vec![4, 1]), (s("b"), vec![13, 1])])
            .unwrap();
        PAssert::that(&kvs.apply("Smallest", Top::smallest_per_key(1)).unwrap())
            .contains_in_any_order(vec![(s("a"), vec![1]), (s("b"), vec![1])])
            .unwrap();
        p.run().unwrap();
    }
);

// MinTest.testMinGetFn / MaxTest.testMaxGetFn, globally and over nothing.
scenario!(
    min_and_max_globally_and_of_nothing,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "MinTest, MaxTest (globally; an empty input has no extremum)",
    replay = true,
    |env| {
        let p = env.pipeline();
        let nums = p
            .apply("Create", Create::of(vec![1i64, -5, 3, 12, 7]))
            .unwrap();
        PAssert::that(&nums.apply("Min", Min::globally()).unwrap())
            .contains_in_any_order(vec![Some(-5)])
            .unwrap();
        PAssert::that(&nums.apply("Max", Max::globally()).unwrap())
            .contains_in_any_order(vec![Some(12)])
            .unwrap();
        let none = p.apply("Empty", Create::of(Vec::<i64>::new())).unwrap();
        PAssert::that(&none.apply("MinOfNothing", Min::globally()).unwrap())
            .contains_in_any_order(vec![None])
            .unwrap();
        p.run().unwrap();
    }
);

// MinTest / MaxTest per key (Min.integersPerKey, Max.integersPerKey).
scenario!(
    min_and_max_per_key,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "MinTest.testMinPerKey, MaxTest.testMaxPerKey",
    replay = true,
    |env| {
        let p = env.pipeline();
        let kvs = p.apply("Create", Create::of(per_key_ints())).unwrap();
        PAssert::that(&kvs.apply("Min", Min::per_key()).unwrap())
            .contains_in_any_order(vec![(s("a"), 1), (s("b"), 1)])
            .unwrap();
        PAssert::that(&kvs.apply("Max", Max::per_key()).unwrap())
            .contains_in_any_order(vec![(s("a"), 4), (s("b"), 13)])
            .unwrap();
        p.run().unwrap();
    }
);

// MeanTest.testMeanGetFn and CombineTest.testAccumulatingCombine (a mean per key).
scenario!(
    mean_globally_and_per_key,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "MeanTest, CombineTest.testAccumulatingCombine",
    replay = true,
    |env| {
        let p = env.pipeline();
        let kvs = p.apply("Create", Create::of(per_key_ints())).unwrap();
        PAssert::that(&kvs.apply("MeanPerKey", Mean::per_key()).unwrap())
            .contains_in_any_order(vec![(s("a"), 2.0), (s("b"), 7.0)])
            .unwrap();
        let mean = p
            .apply("Nums", Create::of(vec![1i64, 2, 3, 4]))
            .unwrap()
            .apply("Mean", Mean::globally())
            .unwrap();
        PAssert::that(&mean)
            .contains_in_any_order(vec![2.5])
            .unwrap();
        p.run().unwrap();
    }
);

// SumTest (Sum.longsGlobally of nothing is 0) and CombineTest.testSimpleCombineEmpty.
scenario!(
    sum_of_nothing_is_zero,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "SumTest, CombineTest.testSimpleCombineEmpty",
    replay = true,
    |env| {
        let p = env.pipeline();
        let sum = p
            .apply("Empty", Create::of(Vec::<i64>::new()))
            .unwrap()
            .apply("Sum", Sum::globally())
            .unwrap();
        PAssert::that(&sum).contains_in_any_order(vec![0]).unwrap();
        let none = p
            .apply("Empty2", Create::of(Vec::<i64>::new()))
            .unwrap()
            .apply("SumWithoutDefault", Sum::globally().without_defaults())
            .unwrap();
        PAssert::that(&none).is_empty().unwrap();
        p.run().unwrap();
    }
);

// CombineFnsTest.testComposedCombine: several combiners over one input, per key.
scenario!(
    composed_combine_fns_per_key,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CombineFnsTest.testComposedCombine, testComposedCombineNullValues",
    replay = true,
    |env| {
        let p = env.pipeline();
        let kvs = p.apply("Create", Create::of(per_key_ints())).unwrap();
        PAssert::that(
            &kvs.apply(
                "SumAndCount",
                Combine::per_key(CombineFns::sum_and_count::<i64>()),
            )
            .unwrap(),
        )
        .contains_in_any_order(vec![(s("a"), (6, 3)), (s("b"), (14, 2))])
        .unwrap();
        PAssert::that(
            &kvs.apply(
                "MinAndMax",
                Combine::per_key(CombineFns::min_and_max::<i64>()),
            )
            .unwrap(),
        )
        .contains_in_any_order(vec![
            (s("a"), (Some(1), Some(4))),
            (s("b"), (Some(1), Some(13))),
        ])
        .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct ShareOf(PCollectionView<SingletonView<i64>>);

impl DoFn for ShareOf {
    type In = i64;
    type Out = String;
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let total = *ctx.side_input(&self.0)?;
        ctx.output(format!("{x}/{total}"));
        Ok(())
    }
}

// CombineTest.testCombineGloballyAsSingletonView (the global window).
scenario!(
    combine_globally_as_singleton_view,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CombineTest.testCombineGloballyAsSingletonView",
    replay = true,
    |env| {
        let p = env.pipeline();
        let nums = p.apply("Create", Create::of(vec![1i64, 2, 3, 4])).unwrap();
        let total = nums
            .apply("Sum", Sum::globally())
            .unwrap()
            .apply("View", View::as_singleton())
            .unwrap();
        let out = nums
            .apply(
                "Share",
                ParDo::of(ShareOf(total.clone())).with_side_input(&total),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("1/10"), s("2/10"), s("3/10"), s("4/10")])
            .unwrap();
        p.run().unwrap();
        // Of nothing, the view holds the combiner's default.
        let p = env.pipeline();
        let total = p
            .apply("Empty", Create::of(Vec::<i64>::new()))
            .unwrap()
            .apply("Sum", Sum::globally())
            .unwrap()
            .apply("View", View::as_singleton())
            .unwrap();
        let out = p
            .apply("Main", Create::of(vec![5i64]))
            .unwrap()
            .apply(
                "Share",
                ParDo::of(ShareOf(total.clone())).with_side_input(&total),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("5/0")])
            .unwrap();
        p.run().unwrap();
    }
);
