//! ParDoTest's timer cases on unbounded input (TestStream): an event-time
//! timer fired by the stream's watermark, a processing-time timer fired by
//! the stream's clock, and window expiration as the watermark passes each
//! window.

use crate::scenario;
use crate::scenarios::common::{collect, iw, panes, s, ts};
use beam_core::testing::PAssert;
use beam_core::{
    Duration, StateContext, StatefulDoFn, StatefulParDo, TestStream, TimeDomain, Timestamp,
    UserResult, WindowFn, WindowInto,
};

type Ctx<'a> = StateContext<'a, String, i64>;

/// Outputs 3 for an element and sets a timer; outputs 42 when it fires.
#[derive(Clone)]
struct ThreeThenFortyTwo(TimeDomain);

impl StatefulDoFn for ThreeThenFortyTwo {
    type Key = String;
    type Value = i64;
    type Out = i64;
    fn process(&mut self, _: &String, _: &i64, ctx: &mut Ctx<'_>) -> UserResult {
        ctx.output(3);
        match self.0 {
            TimeDomain::EventTime => {
                let at = ctx.timestamp() + Duration::from_micros(1);
                ctx.set_event_timer("t", at)
            }
            TimeDomain::ProcessingTime => ctx.set_processing_timer("t", Duration::from_secs(10)),
        }
    }
    fn on_timer(&mut self, _: &String, _: &str, ctx: &mut Ctx<'_>) -> UserResult {
        ctx.output(42);
        Ok(())
    }
}

fn one_element() -> TestStream<(String, i64)> {
    TestStream::new()
        .advance_watermark_to(ts(0))
        .add_elements(vec![((s("hello"), 37), ts(0))])
}

// ParDoTest.TimerTests.testEventTimeTimerUnbounded: the timer fires when
// the stream's watermark passes it.
scenario!(
    event_time_timer_on_a_stream,
    area = "State and timers",
    features = [StatefulParDo, Timers, TestStream, Unbounded],
    beam = "ParDoTest.testEventTimeTimerUnbounded",
    replay = true,
    |env| {
        let stream = one_element()
            .advance_watermark_to(ts(2))
            .advance_watermark_to_infinity();
        let p = env.pipeline();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Timers",
                StatefulParDo::of(ThreeThenFortyTwo(TimeDomain::EventTime)),
            )
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got: Vec<(i64, i64)> = panes(&got)
            .into_iter()
            .map(|wv| (wv.timestamp.as_micros(), wv.value))
            .collect();
        assert_eq!(
            got,
            vec![(0, 3), (1, 42)],
            "the timer's output is at its time"
        );
    }
);

// ParDoTest.TimerTests.testSimpleProcessingTimerTimer: the timer fires when
// the stream's processing time passes it, with the watermark still at 0.
scenario!(
    processing_time_timer_on_a_stream,
    area = "State and timers",
    features = [StatefulParDo, Timers, TestStream, Unbounded, ProcessingTime],
    beam = "ParDoTest.testSimpleProcessingTimerTimer",
    replay = true,
    |env| {
        let stream = one_element()
            .advance_processing_time(Duration::from_secs(11))
            .advance_watermark_to_infinity();
        let p = env.pipeline();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Timers",
                StatefulParDo::of(ThreeThenFortyTwo(TimeDomain::ProcessingTime)),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![3, 42])
            .unwrap();
        p.run().unwrap();
    }
);

/// Sums each key's values per window and outputs the sum when the window
/// expires.
#[derive(Clone)]
struct SumAtExpiry;

impl StatefulDoFn for SumAtExpiry {
    type Key = String;
    type Value = i64;
    type Out = i64;
    fn process(&mut self, _: &String, v: &i64, ctx: &mut Ctx<'_>) -> UserResult {
        let mut sum = ctx.value_state::<i64>("sum")?;
        let n = sum.read().unwrap_or(0) + v;
        sum.write(n);
        Ok(())
    }
    fn on_window_expiration(&mut self, _: &String, ctx: &mut Ctx<'_>) -> UserResult {
        if let Some(n) = ctx.value_state::<i64>("sum")?.read() {
            ctx.output(n);
        }
        Ok(())
    }
}

// ParDoTest.OnWindowExpirationTests.testOnWindowExpirationSimpleUnbounded:
// each window's callback runs as the watermark passes it (plus lateness),
// with that window's state only.
scenario!(
    window_expiration_on_a_stream,
    area = "State and timers",
    features = [StatefulParDo, Timers, TestStream, Unbounded],
    beam = "ParDoTest.testOnWindowExpirationSimpleUnbounded",
    replay = true,
    |env| {
        let stream = TestStream::new()
            .add_elements(vec![((s("k"), 1), ts(1)), ((s("k"), 2), ts(4))])
            .add_elements(vec![((s("k"), 10), ts(12))])
            .advance_watermark_to(ts(10))
            .add_elements(vec![((s("k"), 20), ts(15))])
            .advance_watermark_to_infinity();
        let p = env.pipeline();
        let out = p
            .apply("Events", stream)
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Expiry", StatefulParDo::of(SumAtExpiry))
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![3])
            .unwrap();
        PAssert::that(&out)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![30])
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let times: Vec<Timestamp> = panes(&got).iter().map(|wv| wv.timestamp).collect();
        assert_eq!(times, vec![ts(9), ts(19)], "each at its window's end");
    }
);
