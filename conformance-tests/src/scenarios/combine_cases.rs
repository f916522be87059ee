//! More of Beam's CombineTest, CountTest, TopTest and ViewTest: a
//! user-defined CombineFn per key, windowed combines of nothing, Top of
//! zero, and windowed list side inputs.

use crate::scenario;
use crate::scenarios::common::{iw, s, ts};
use beam_core::side_input::IterableView;
use beam_core::testing::PAssert;
use beam_core::{
    Combine, CombineFn, Count, Create, DoFn, Duration, PCollectionView, ParDo, ProcessContext, Sum,
    Top, UserResult, View, WindowFn, WindowInto,
};

/// Beam's "concatenate the sorted inputs" style of CombineFn: the sorted
/// characters of every input string.
#[derive(Clone)]
struct SortedChars;

impl CombineFn for SortedChars {
    type Input = String;
    type Accum = Vec<char>;
    type Output = String;
    fn create_accumulator(&self) -> Vec<char> {
        Vec::new()
    }
    fn add_input(&self, acc: &mut Vec<char>, input: String) {
        acc.extend(input.chars());
    }
    fn merge_accumulators(&self, acc: &mut Vec<char>, other: Vec<char>) {
        acc.extend(other);
    }
    fn extract_output(&self, mut acc: Vec<char>) -> String {
        acc.sort();
        acc.into_iter().collect()
    }
}

// CombineTest.testCombinePerKeyLambda / testBasicCombine with a user CombineFn
// whose accumulators merge in any order.
scenario!(
    user_combine_fn_per_key_and_globally,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CombineTest.testBasicCombine (a user CombineFn), testCombineGloballyLambda",
    replay = true,
    |env| {
        let p = env.pipeline();
        let kvs = p
            .apply(
                "Create",
                Create::of(vec![
                    (s("a"), s("dc")),
                    (s("a"), s("ba")),
                    (s("b"), s("zy")),
                    (s("a"), s("e")),
                ]),
            )
            .unwrap();
        PAssert::that(&kvs.apply("PerKey", Combine::per_key(SortedChars)).unwrap())
            .contains_in_any_order(vec![(s("a"), s("abcde")), (s("b"), s("yz"))])
            .unwrap();
        let all = kvs
            .apply("Values", beam_core::Values)
            .unwrap()
            .apply("Globally", Combine::globally(SortedChars))
            .unwrap();
        PAssert::that(&all)
            .contains_in_any_order(vec![s("abcdeyz")])
            .unwrap();
        p.run().unwrap();
    }
);

// CombineTest.testWindowedCombineEmpty and CountTest.testCountPerElementEmpty:
// in windows, a combine of nothing has no window to report, so no output.
scenario!(
    windowed_combines_of_nothing,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "CombineTest.testWindowedCombineEmpty, CountTest.testCountPerElementEmpty",
    replay = true,
    |env| {
        let p = env.pipeline();
        let empty = p
            .apply("Empty", Create::of(Vec::<i64>::new()))
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap();
        let sum = empty
            .apply("Sum", Sum::globally().without_defaults())
            .unwrap();
        PAssert::that(&sum).is_empty().unwrap();
        let counts = empty.apply("Count", Count::per_element()).unwrap();
        PAssert::that(&counts).is_empty().unwrap();
        p.run().unwrap();
    }
);

// TopTest.testTopZero: the top 0 is one empty list.
scenario!(
    top_of_zero_is_an_empty_list,
    area = "Combine and composites",
    features = [SideInputs],
    beam = "TopTest.testTopZero",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply("Create", Create::of(vec![3i64, 1, 2]))
            .unwrap()
            .apply("Top0", Top::largest(0))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![Vec::new()])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct SumOfSide(PCollectionView<IterableView<i64>>);

impl DoFn for SumOfSide {
    type In = String;
    type Out = String;
    fn process(&mut self, x: &String, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let side: i64 = ctx.side_input(&self.0)?.iter().sum();
        ctx.output(format!("{x}{side}"));
        Ok(())
    }
}

// ViewTest.testWindowedListSideInput: each main window reads the list of the
// side window it maps to.
scenario!(
    windowed_list_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testWindowedListSideInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let fixed = WindowFn::fixed(Duration::from_micros(10));
        let view = p
            .apply(
                "Side",
                Create::timestamped(vec![
                    (11i64, ts(1)),
                    (13, ts(2)),
                    (17, ts(11)),
                    (23, ts(14)),
                ]),
            )
            .unwrap()
            .apply("SideWindow", WindowInto::new(fixed.clone()))
            .unwrap()
            .apply("View", View::as_iterable())
            .unwrap();
        let out = p
            .apply(
                "Main",
                Create::timestamped(vec![(s("A"), ts(4)), (s("B"), ts(15)), (s("C"), ts(25))]),
            )
            .unwrap()
            .apply("MainWindow", WindowInto::new(fixed))
            .unwrap()
            .apply(
                "Read",
                ParDo::of(SumOfSide(view.clone())).with_side_input(&view),
            )
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![s("A24")])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![s("B40")])
            .unwrap();
        // A main window with no side window reads an empty list.
        PAssert::that(&out)
            .in_window(iw(20, 30))
            .contains_in_any_order(vec![s("C0")])
            .unwrap();
        p.run().unwrap();
    }
);
