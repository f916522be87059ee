//! Windowed map and multimap views (Beam's ViewTest windowed cases), and a
//! view built by a ParDo that reads another view.

use crate::scenario;
use crate::scenarios::common::{s, ts};
use crate::scenarios::side_inputs::Lookup;
use crate::scenarios::views::Entries;
use beam_core::side_input::{IterableView, MapView, ViewFn};
use beam_core::testing::PAssert;
use beam_core::{
    Create, DoFn, Duration, PCollection, PCollectionView, PTransform, ParDo, ProcessContext,
    UserResult, View, WindowFn, WindowInto,
};

fn fixed(n: i64) -> WindowInto<(String, i64)> {
    WindowInto::new(WindowFn::fixed(Duration::from_micros(n)))
}

// ViewTest.testWindowedMultimapSideInput: each main element reads the
// multimap of its own window.
scenario!(
    windowed_multimap_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testWindowedMultimapSideInput",
    replay = true,
    |env| {
        let p = env.pipeline();
        let view = p
            .apply(
                "Side",
                Create::timestamped(vec![
                    ((s("a"), 1), ts(1)),
                    ((s("a"), 1), ts(2)),
                    ((s("a"), 2), ts(7)),
                    ((s("b"), 3), ts(16)),
                ]),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Multi", View::as_multimap())
            .unwrap();
        let out = p
            .apply(
                "Main",
                Create::timestamped(vec![
                    (s("apple"), ts(5)),
                    (s("banana"), ts(3)),
                    (s("blackberry"), ts(16)),
                ]),
            )
            .unwrap()
            .apply(
                "MainWindow",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply(
                "Lookup",
                ParDo::of(Lookup {
                    map: None,
                    multi: Some(view.clone()),
                })
                .with_side_input(&view),
            )
            .unwrap();
        // "banana" finds no "b" in its window; "blackberry" finds the 3 of [10, 20).
        PAssert::that(&out)
            .contains_in_any_order(vec![
                (s("apple"), 1),
                (s("apple"), 1),
                (s("apple"), 2),
                (s("blackberry"), 3),
            ])
            .unwrap();
        p.run().unwrap();
    }
);

/// Main inputs at 5 and 16 in fixed windows of 10, each read by `reader`
/// from the view (made by `view`) of the same side input in the same
/// windows: (a, 1) at 1, (b, 2) at 4, (b, 3) at 13.
fn read_per_window<V, T, F>(
    env: &crate::Env,
    view: T,
    reader: impl FnOnce(PCollectionView<V>) -> F,
    want: Vec<String>,
) where
    V: ViewFn,
    T: PTransform<PCollection<(String, i64)>, Output = PCollectionView<V>>,
    F: DoFn<In = i32, Out = String>,
{
    let p = env.pipeline();
    let view = p
        .apply(
            "Side",
            Create::timestamped(vec![
                ((s("a"), 1i64), ts(1)),
                ((s("b"), 2), ts(4)),
                ((s("b"), 3), ts(13)),
            ]),
        )
        .unwrap()
        .apply("Window", fixed(10))
        .unwrap()
        .apply("View", view)
        .unwrap();
    let out = p
        .apply("Main", Create::timestamped(vec![(1, ts(5)), (1, ts(16))]))
        .unwrap()
        .apply(
            "MainWindow",
            WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
        )
        .unwrap()
        .apply(
            "Read",
            ParDo::of(reader(view.clone())).with_side_input(&view),
        )
        .unwrap();
    PAssert::that(&out).contains_in_any_order(want).unwrap();
    p.run().unwrap();
}

// ViewTest.testWindowedMultimapAsEntrySetSideInput: the whole multimap of
// each window, as entries.
scenario!(
    windowed_multimap_entries,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testWindowedMultimapAsEntrySetSideInput",
    replay = true,
    |env| {
        read_per_window(
            env,
            View::as_multimap(),
            Entries,
            vec![s("a=[1] b=[2]"), s("b=[3]")],
        );
    }
);

#[derive(Clone)]
struct MapEntries(PCollectionView<MapView<String, i64>>);

impl DoFn for MapEntries {
    type In = i32;
    type Out = String;
    fn process(&mut self, _: &i32, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let mut entries: Vec<String> = ctx
            .side_input(&self.0)?
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        entries.sort();
        ctx.output(entries.join(" "));
        Ok(())
    }
}

// ViewTest.testWindowedMapAsEntrySetSideInput: a key may appear in several
// windows, once in each.
scenario!(
    windowed_map_entries,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testWindowedMapAsEntrySetSideInput",
    replay = true,
    |env| {
        read_per_window(
            env,
            View::as_map(),
            MapEntries,
            vec![s("a=1 b=2"), s("b=3")],
        );
    }
);

/// Outputs, for its one input, the list of everything in a view.
#[derive(Clone)]
struct ListOf(PCollectionView<IterableView<i64>>);

impl DoFn for ListOf {
    type In = i32;
    type Out = Vec<i64>;
    fn process(&mut self, _: &i32, ctx: &mut ProcessContext<'_, Vec<i64>>) -> UserResult {
        let mut all: Vec<i64> = ctx.side_input(&self.0)?.to_vec();
        all.sort();
        ctx.output(all);
        Ok(())
    }
}

/// Outputs every number of every list of a view of lists.
#[derive(Clone)]
struct Flattened(PCollectionView<IterableView<Vec<i64>>>);

impl DoFn for Flattened {
    type In = i32;
    type Out = i64;
    fn process(&mut self, _: &i32, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
        let lists: Vec<Vec<i64>> = ctx.side_input(&self.0)?.to_vec();
        for n in lists.into_iter().flatten() {
            ctx.output(n);
        }
        Ok(())
    }
}

// ViewTest.testSideInputWithNestedIterables: a ParDo reads a view to build
// the elements of a second view, which a third ParDo reads.
scenario!(
    side_input_built_from_another_side_input,
    area = "Side inputs",
    features = [SideInputs],
    beam = "ViewTest.testSideInputWithNestedIterables",
    replay = true,
    |env| {
        let p = env.pipeline();
        let first = p
            .apply("Numbers", Create::of(vec![17i64, 4]))
            .unwrap()
            .apply("First", View::as_iterable())
            .unwrap();
        let second = p
            .apply("One", Create::of(vec![0i32]))
            .unwrap()
            .apply(
                "ListFirst",
                ParDo::of(ListOf(first.clone())).with_side_input(&first),
            )
            .unwrap()
            .apply("Second", View::as_iterable())
            .unwrap();
        let out = p
            .apply("Another", Create::of(vec![0i32]))
            .unwrap()
            .apply(
                "ReadSecond",
                ParDo::of(Flattened(second.clone())).with_side_input(&second),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![4, 17])
            .unwrap();
        p.run().unwrap();
    }
);
