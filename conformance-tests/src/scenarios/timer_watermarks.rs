//! Timers and watermarks: output-timestamp holds, window expiry, processing time, lateness, cross-stage ordering and alignment.

use crate::scenario;
use crate::scenarios::common::{collect, iw, panes, s, ts};
use beam_core::testing::PAssert;
use beam_core::{
    AccumulationMode, Create, Duration, GroupByKey, StateContext, StatefulDoFn, StatefulParDo,
    TestStream, Timestamp, Trigger, UserResult, WindowFn, WindowInto,
};

type Ctx<'a, O> = StateContext<'a, String, O>;

#[derive(Clone)]
struct HoldingTimer;

impl StatefulDoFn for HoldingTimer {
    type Key = String;
    type Value = i64;
    type Out = (String, i64);
    fn process(&mut self, key: &String, v: &i64, ctx: &mut Ctx<'_, (String, i64)>) -> UserResult {
        ctx.output((key.clone(), *v));
        ctx.set_event_timer_with_output("late", ts(15), ts(5))
    }
    fn on_timer(&mut self, key: &String, _: &str, ctx: &mut Ctx<'_, (String, i64)>) -> UserResult {
        ctx.output((key.clone(), 100));
        Ok(())
    }
}

// ParDoTest.testOutputTimestamp (SEMANTICS 55): a timer's output timestamp holds the watermark downstream.
scenario!(
    timer_output_timestamp_holds_the_watermark,
    area = "State and timers",
    features = [StatefulParDo, Timers, TestStream, Unbounded],
    beam = "ParDoTest.testOutputTimestamp",
    replay = true,
    |env| {
        let p = env.pipeline();
        let stream = TestStream::new()
            .add_elements(vec![((s("k"), 1), ts(1))])
            .advance_watermark_to(ts(12))
            .advance_watermark_to(ts(30));
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Fixed",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))).triggering(
                    Trigger::Default,
                    AccumulationMode::Discarding,
                    Duration::from_micros(10),
                ),
            )
            .unwrap()
            .apply("Hold", StatefulParDo::of(HoldingTimer))
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got = panes(&got);
        assert_eq!(
            got.len(),
            1,
            "the timer output must reach the on-time pane: {got:?}"
        );
        let mut values = got[0].value.1.clone();
        values.sort();
        assert_eq!(values, vec![1, 100]);
    }
);

#[derive(Clone)]
struct Expiring;

impl StatefulDoFn for Expiring {
    type Key = String;
    type Value = i64;
    type Out = i64;
    fn process(&mut self, _: &String, _: &i64, ctx: &mut Ctx<'_, i64>) -> UserResult {
        let t = ctx.timestamp();
        ctx.set_event_timer("bump", t)
    }
    fn on_timer(&mut self, _: &String, _: &str, ctx: &mut Ctx<'_, i64>) -> UserResult {
        let mut v = ctx.value_state::<i64>("count")?;
        v.write(v.read().unwrap_or(0) + 1);
        Ok(())
    }
    fn on_window_expiration(&mut self, _: &String, ctx: &mut Ctx<'_, i64>) -> UserResult {
        let n = ctx.value_state::<i64>("count")?.read().unwrap_or(0);
        ctx.output(n);
        Ok(())
    }
}

// ParDoTest.testOnWindowExpirationSimpleBounded (SEMANTICS 57).
scenario!(
    window_expiration_sees_the_state,
    area = "State and timers",
    features = [StatefulParDo, Timers, SideInputs],
    beam = "ParDoTest.testOnWindowExpirationSimpleBounded",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Kv",
                Create::timestamped(vec![((s("hello"), 1), ts(3)), ((s("hi"), 1), ts(13))]),
            )
            .unwrap()
            .apply(
                "Fixed",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Expire", StatefulParDo::of(Expiring))
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![1])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![1])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct ProcessingTimer;

impl StatefulDoFn for ProcessingTimer {
    type Key = String;
    type Value = i64;
    type Out = String;
    fn process(&mut self, _: &String, v: &i64, ctx: &mut Ctx<'_, String>) -> UserResult {
        ctx.output(format!("input{v}"));
        // Each element resets the timer (ParDoTest.testProcessingTimeTimerCanBeReset).
        ctx.set_processing_timer("flush", Duration::from_secs(10))
    }
    fn on_timer(&mut self, _: &String, _: &str, ctx: &mut Ctx<'_, String>) -> UserResult {
        let now = ctx.processing_time();
        ctx.output(format!("timer at {}", now.as_micros()));
        Ok(())
    }
}

// ParDoTest.testProcessingTimeTimerCanBeReset with a test clock.
scenario!(
    processing_time_timer_on_test_clock,
    area = "State and timers",
    features = [StatefulParDo, Timers, TestStream, Unbounded, ProcessingTime],
    beam = "ParDoTest.testProcessingTimeTimerCanBeReset",
    replay = true,
    |env| {
        let p = env.pipeline();
        let stream = TestStream::new()
            .add_elements(vec![((s("k"), 1), ts(1))])
            .advance_processing_time(Duration::from_secs(5))
            .add_elements(vec![((s("k"), 2), ts(2))])
            .advance_processing_time(Duration::from_secs(20))
            .advance_watermark_to_infinity();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply("Timer", StatefulParDo::of(ProcessingTimer))
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let mut got: Vec<String> = panes(&got).into_iter().map(|wv| wv.value).collect();
        got.sort();
        assert_eq!(got, vec![s("input1"), s("input2"), s("timer at 25000000")]);
    }
);

#[derive(Clone)]
struct Echo;

impl StatefulDoFn for Echo {
    type Key = String;
    type Value = i64;
    type Out = i64;
    fn process(&mut self, _: &String, v: &i64, ctx: &mut Ctx<'_, i64>) -> UserResult {
        ctx.output(*v);
        Ok(())
    }
}

// Stateful ParDo drops elements of expired windows (LateDataUtils) and counts them.
scenario!(
    stateful_pardo_drops_expired_windows,
    area = "State and timers",
    features = [StatefulParDo, TestStream, Unbounded, Metrics],
    beam = "LateDataDroppingDoFnRunner (stateful ParDo)",
    replay = false,
    |env| {
        let p = env.pipeline();
        let stream = TestStream::new()
            .advance_watermark_to(ts(100))
            .add_elements(vec![((s("k"), 1), ts(5)), ((s("k"), 2), ts(105))])
            .advance_watermark_to_infinity();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Fixed",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Echo", StatefulParDo::of(Echo))
            .unwrap();
        let got = collect(&out, "Out");
        let r = p.run().unwrap();
        assert_eq!(
            panes(&got).iter().map(|wv| wv.value).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(
            r.metrics().counter("Echo", "dropped_due_to_lateness"),
            Some(1)
        );
    }
);

#[derive(Clone)]
struct ConcatAtEnd;

impl StatefulDoFn for ConcatAtEnd {
    type Key = String;
    type Value = String;
    type Out = String;
    fn process(&mut self, _: &String, v: &String, ctx: &mut Ctx<'_, String>) -> UserResult {
        let t = ctx.timestamp();
        ctx.bag_state::<(Timestamp, String)>("seen")?
            .add((t, v.clone()));
        ctx.set_event_timer("flush", Timestamp::from_secs(100))
    }
    fn on_timer(&mut self, _: &String, _: &str, ctx: &mut Ctx<'_, String>) -> UserResult {
        let mut seen = ctx.bag_state::<(Timestamp, String)>("seen")?.read();
        // Order by timestamp, lower case before upper case at one timestamp.
        seen.sort_by(|a, b| {
            (a.0, a.1.chars().next().map(char::is_uppercase))
                .cmp(&(b.0, b.1.chars().next().map(char::is_uppercase)))
        });
        let joined = seen
            .into_iter()
            .map(|(_, v)| v)
            .collect::<Vec<_>>()
            .join(",");
        ctx.output(joined);
        Ok(())
    }
}

// TestStreamTest.testMultiStage (SEMANTICS 63): watermarks carry cross-stage ordering.
scenario!(
    test_stream_multi_stage,
    area = "TestStream",
    features = [TestStream, Unbounded, StatefulParDo, Timers],
    beam = "TestStreamTest.testMultiStage",
    replay = true,
    |env| {
        let p = env.pipeline();
        let stream = TestStream::new()
            .add_elements(vec![(s("before"), Timestamp::MIN)])
            .advance_watermark_to(ts(0))
            .add_elements(vec![(s("after"), Timestamp::from_secs(10))])
            .advance_watermark_to_infinity();
        let input = p.apply("Events", stream).unwrap();
        let upper = input
            .apply(
                "Fixed",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(1))),
            )
            .unwrap()
            .apply(
                "KeyByValue",
                beam_core::Map::new(|v: &String| (v.clone(), ())),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap()
            .apply("Keys", beam_core::Keys)
            .unwrap()
            .apply("Upper", beam_core::Map::new(|v: &String| v.to_uppercase()))
            .unwrap()
            .apply("Global", WindowInto::new(WindowFn::Global))
            .unwrap();
        let all = beam_core::PCollectionList::of(vec![input, upper])
            .unwrap()
            .apply("Flatten", beam_core::Flatten)
            .unwrap()
            .apply("Key", beam_core::Map::new(|v: &String| (s("k"), v.clone())))
            .unwrap()
            .apply("Concat", StatefulParDo::of(ConcatAtEnd))
            .unwrap();
        PAssert::that(&all)
            .contains_in_any_order(vec![s("before,BEFORE,after,AFTER")])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct AlignedTimer {
    align: Duration,
    offset: Duration,
}

impl StatefulDoFn for AlignedTimer {
    type Key = String;
    type Value = i64;
    type Out = (i64, Timestamp);
    fn process(&mut self, _: &String, _: &i64, ctx: &mut Ctx<'_, (i64, Timestamp)>) -> UserResult {
        ctx.set_relative_event_timer("aligned", self.offset, Some(self.align))?;
        let t = ctx.timestamp();
        ctx.output((3, t));
        Ok(())
    }
    fn on_timer(&mut self, _: &String, _: &str, ctx: &mut Ctx<'_, (i64, Timestamp)>) -> UserResult {
        let t = ctx.timestamp();
        ctx.output((42, t));
        Ok(())
    }
}

// ParDoTest.testEventTimeTimerAlignBounded and testEventTimeTimerAlignUnbounded (SEMANTICS 48).
scenario!(
    aligned_event_time_timers,
    area = "State and timers",
    features = [StatefulParDo, Timers, SideInputs],
    beam = "ParDoTest.testEventTimeTimerAlignBounded, testEventTimeTimerAlignUnbounded",
    replay = false,
    |env| {
        let p = env.pipeline();
        let at_min = p
            .apply("AtMin", Create::of(vec![(s("hello"), 37)]))
            .unwrap()
            .apply(
                "AlignSecond",
                StatefulParDo::of(AlignedTimer {
                    align: Duration::from_millis(1000),
                    offset: Duration::from_millis(1),
                }),
            )
            .unwrap();
        PAssert::that(&at_min)
            .contains_in_any_order(vec![
                (3, Timestamp::MIN),
                // Beam's TIMESTAMP_MIN_VALUE.plus(millis(1774)): the ends of time
                // are Beam's (in ms), so the same arithmetic in ms gives it.
                (42, Timestamp::MIN + Duration::from_millis(1774)),
            ])
            .unwrap();
        let at_five = p
            .apply(
                "AtFive",
                Create::timestamped(vec![((s("hello"), 37), Timestamp::from_secs(5))]),
            )
            .unwrap()
            .apply(
                "AlignMinute",
                StatefulParDo::of(AlignedTimer {
                    align: Duration::from_mins(1),
                    offset: Duration::from_secs(1),
                }),
            )
            .unwrap();
        PAssert::that(&at_five)
            .contains_in_any_order(vec![
                (3, Timestamp::from_secs(5)),
                (42, Timestamp::from_secs(59)),
            ])
            .unwrap();
        p.run().unwrap();
    }
);
