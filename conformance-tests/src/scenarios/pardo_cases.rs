//! More of Beam's ParDoTest: empty inputs and outputs, only tagged outputs,
//! an undeclared tag, tagged outputs with timestamps, and a ParDo inside a
//! composite transform.

use crate::scenario;
use crate::scenarios::common::{collect, panes, s, ts};
use beam_core::testing::PAssert;
use beam_core::{
    Create, DoFn, PCollection, PTransform, ParDo, ProcessContext, TupleTag, UserResult,
};

/// Echoes its input to the main output (or nowhere).
#[derive(Clone)]
struct Echo {
    quiet: bool,
}

impl DoFn for Echo {
    type In = i64;
    type Out = i64;
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
        if !self.quiet {
            ctx.output(*x);
        }
        Ok(())
    }
}

// ParDoTest.testParDoEmpty and testParDoEmptyOutputs.
scenario!(
    pardo_over_nothing_and_with_no_outputs,
    area = "ParDo",
    features = [SideInputs],
    beam = "ParDoTest.testParDoEmpty, testParDoEmptyOutputs",
    replay = true,
    |env| {
        let p = env.pipeline();
        let empty = p
            .apply("Empty", Create::of(Vec::<i64>::new()))
            .unwrap()
            .apply("Echo", ParDo::of(Echo { quiet: false }))
            .unwrap();
        PAssert::that(&empty).is_empty().unwrap();
        let quiet = p
            .apply("Some", Create::of(vec![1i64, 2, 3]))
            .unwrap()
            .apply("Quiet", ParDo::of(Echo { quiet: true }))
            .unwrap();
        PAssert::that(&quiet).is_empty().unwrap();
        p.run().unwrap();
    }
);

/// Writes everything to tagged outputs, odd and even, never the main one.
#[derive(Clone)]
struct OnlyTagged {
    odd: TupleTag<i64>,
    even: TupleTag<String>,
}

impl DoFn for OnlyTagged {
    type In = i64;
    type Out = i64;
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
        if x % 2 == 1 {
            ctx.output_tagged(&self.odd, *x)
        } else {
            ctx.output_tagged_with_timestamp(&self.even, format!("even {x}"), ts(100 + *x))
        }
    }
}

// ParDoTest.testParDoWithOnlyTaggedOutput and testParDoTaggedOutputWithTimestamp.
scenario!(
    only_tagged_outputs_with_timestamps,
    area = "ParDo",
    features = [SideInputs],
    beam = "ParDoTest.testParDoWithOnlyTaggedOutput, testParDoTaggedOutputWithTimestamp",
    replay = true,
    |env| {
        let p = env.pipeline();
        let f = OnlyTagged {
            odd: TupleTag::new("odd"),
            even: TupleTag::new("even"),
        };
        let outs = p
            .apply(
                "Create",
                Create::timestamped(vec![(1i64, ts(1)), (2, ts(2)), (3, ts(3)), (4, ts(4))]),
            )
            .unwrap()
            .apply(
                "Split",
                ParDo::of(f.clone())
                    .with_output(&f.odd)
                    .with_output(&f.even),
            )
            .unwrap();
        PAssert::that(&outs.main).is_empty().unwrap();
        PAssert::that(&outs.get(&f.odd).unwrap())
            .contains_in_any_order(vec![1, 3])
            .unwrap();
        let even = collect(&outs.get(&f.even).unwrap(), "Even");
        p.run().unwrap();
        let even: Vec<(String, i64)> = panes(&even)
            .into_iter()
            .map(|wv| (wv.value, wv.timestamp.as_micros()))
            .collect();
        assert_eq!(even, vec![(s("even 2"), 102), (s("even 4"), 104)]);
    }
);

// ParDoTest.testParDoWritingToUndeclaredTag: the run fails, naming the step
// and the tag.
scenario!(
    writing_to_an_undeclared_tag_fails,
    area = "ParDo",
    features = [],
    beam = "ParDoTest.testParDoWritingToUndeclaredTag",
    replay = true,
    |env| {
        let p = env.pipeline();
        let f = OnlyTagged {
            odd: TupleTag::new("odd"),
            even: TupleTag::new("undeclared"),
        };
        p.apply("Create", Create::of(vec![2i64]))
            .unwrap()
            .apply("Split", ParDo::of(f.clone()).with_output(&f.odd))
            .unwrap();
        let err = p.run().unwrap_err().to_string();
        assert!(err.contains("Split") && err.contains("undeclared"), "{err}");
    }
);

/// A composite: doubles, then drops the negative.
struct DoubleNonNegative;

impl PTransform<PCollection<i64>> for DoubleNonNegative {
    type Output = PCollection<i64>;
    fn expand(self, input: &PCollection<i64>) -> beam_core::Result<PCollection<i64>> {
        input
            .apply("Double", beam_core::Map::new(|x: &i64| x * 2))?
            .apply("NonNegative", beam_core::Filter::new(|x: &i64| *x >= 0))
    }
}

// ParDoTest.testParDoInCustomTransform.
scenario!(
    pardo_in_a_composite_transform,
    area = "ParDo",
    features = [SideInputs],
    beam = "ParDoTest.testParDoInCustomTransform",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply("Create", Create::of(vec![3i64, -42, 666]))
            .unwrap()
            .apply("Custom", DoubleNonNegative)
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![6, 1332])
            .unwrap();
        p.run().unwrap();
    }
);

/// Tags each element with the DoFn's label, to one declared output.
#[derive(Clone)]
struct Label {
    tag: TupleTag<String>,
    label: &'static str,
}

impl DoFn for Label {
    type In = i64;
    type Out = i64;
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
        ctx.output(*x);
        ctx.output_tagged(&self.tag, format!("{}{x}", self.label))
    }
}

// ParDoTest.testMultiOutputAppliedMultipleTimesDifferentOutputs.
scenario!(
    multi_output_pardo_applied_twice_with_different_tags,
    area = "ParDo",
    features = [SideInputs],
    beam = "ParDoTest.testMultiOutputAppliedMultipleTimesDifferentOutputs",
    replay = true,
    |env| {
        let p = env.pipeline();
        let input = p.apply("Create", Create::of(vec![1i64, 2])).unwrap();
        let a = Label {
            tag: TupleTag::new("a"),
            label: "a",
        };
        let b = Label {
            tag: TupleTag::new("b"),
            label: "b",
        };
        let first = input
            .apply("First", ParDo::of(a.clone()).with_output(&a.tag))
            .unwrap();
        let second = input
            .apply("Second", ParDo::of(b.clone()).with_output(&b.tag))
            .unwrap();
        PAssert::that(&first.get(&a.tag).unwrap())
            .contains_in_any_order(vec![s("a1"), s("a2")])
            .unwrap();
        PAssert::that(&second.get(&b.tag).unwrap())
            .contains_in_any_order(vec![s("b1"), s("b2")])
            .unwrap();
        PAssert::that(&second.main)
            .contains_in_any_order(vec![1, 2])
            .unwrap();
        p.run().unwrap();
    }
);
