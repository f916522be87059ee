//! Timers (Beam's ParDoTest TimerTests): event and processing time, output timestamps, ordering, expiry.

use crate::scenario;
use crate::scenarios::common::{s, ts};
use beam_core::testing::PAssert;
use beam_core::{
    Create, Duration, StateContext, StatefulDoFn, StatefulParDo, Timestamp, UserResult, WindowFn,
    WindowInto,
};
use std::sync::{Arc, Mutex};

type Ctx<'a, O> = StateContext<'a, String, O>;

#[derive(Clone)]
struct TimerFn {
    output_offset: Option<i64>,
}

impl StatefulDoFn for TimerFn {
    type Key = String;
    type Value = i64;
    type Out = (i64, Timestamp);
    fn process(&mut self, _: &String, _: &i64, ctx: &mut Ctx<'_, (i64, Timestamp)>) -> UserResult {
        let t = ctx.timestamp();
        match self.output_offset {
            Some(o) => ctx.set_event_timer_with_output(
                "timer",
                t + Duration::from_micros(10),
                t + Duration::from_micros(o),
            )?,
            None => ctx.set_event_timer("timer", t + Duration::from_secs(1))?,
        }
        ctx.output((3, t));
        Ok(())
    }
    fn on_timer(
        &mut self,
        _: &String,
        timer: &str,
        ctx: &mut Ctx<'_, (i64, Timestamp)>,
    ) -> UserResult {
        assert_eq!(timer, "timer");
        let t = ctx.timestamp();
        ctx.output((42, t));
        Ok(())
    }
}

// ParDoTest.testEventTimeTimerBounded and testOutputTimestampDefaultBounded (SEMANTICS 47, 49).
scenario!(
    event_time_timer_and_output_timestamp,
    area = "State and timers",
    features = [StatefulParDo, Timers, SideInputs],
    beam = "ParDoTest.testEventTimeTimerBounded, testOutputTimestampDefaultBounded",
    replay = true,
    |env| {
        let p = env.pipeline();
        let plain = p
            .apply("Kv", Create::of(vec![(s("hello"), 37)]))
            .unwrap()
            .apply(
                "Timer",
                StatefulParDo::of(TimerFn {
                    output_offset: None,
                }),
            )
            .unwrap()
            .apply("Values", beam_core::Map::new(|x: &(i64, Timestamp)| x.0))
            .unwrap();
        PAssert::that(&plain)
            .contains_in_any_order(vec![3, 42])
            .unwrap();
        let shifted = p
            .apply("At3", Create::timestamped(vec![((s("hello"), 37), ts(3))]))
            .unwrap()
            .apply(
                "WithOutput",
                StatefulParDo::of(TimerFn {
                    output_offset: Some(5),
                }),
            )
            .unwrap();
        PAssert::that(&shifted)
            .contains_in_any_order(vec![(3, ts(3)), (42, ts(8))])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct BadTimers(u8);

impl StatefulDoFn for BadTimers {
    type Key = String;
    type Value = i64;
    type Out = i64;
    fn process(&mut self, _: &String, _: &i64, ctx: &mut Ctx<'_, i64>) -> UserResult {
        let max = ctx.window().max_timestamp();
        match self.0 {
            0 => ctx.set_event_timer("t", max + Duration::from_micros(1)),
            _ => ctx.set_event_timer_with_output("t", max, max + Duration::from_micros(1)),
        }
    }
}

// ParDoTest.testOutOfBoundsEventTimeTimer and output-timestamp bounds (SEMANTICS 50).
scenario!(
    out_of_bounds_timers_fail,
    area = "State and timers",
    features = [StatefulParDo, Timers],
    beam = "ParDoTest.testOutOfBoundsEventTimeTimer, testOutOfBoundsEventTimeTimerHold",
    replay = false,
    |env| {
        for (case, want) in [(0u8, "expiration"), (1, "output timestamp")] {
            let p = env.pipeline();
            p.apply("Kv", Create::timestamped(vec![((s("k"), 1), ts(3))]))
                .unwrap()
                .apply(
                    "Fixed",
                    WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
                )
                .unwrap()
                .apply("Bad", StatefulParDo::of(BadTimers(case)))
                .unwrap();
            let err = p.run().unwrap_err().to_string();
            assert!(
                err.contains("timer") && err.contains(want) && err.contains("Bad"),
                "{err}"
            );
        }
    }
);

#[derive(Clone)]
struct ResetAndClear(u8);

impl StatefulDoFn for ResetAndClear {
    type Key = String;
    type Value = String;
    type Out = String;
    fn process(&mut self, _: &String, v: &String, ctx: &mut Ctx<'_, String>) -> UserResult {
        let t = ctx.timestamp();
        match self.0 {
            // Each element resets the same timer: it fires once.
            0 => ctx.set_event_timer("timer", t + Duration::from_micros(10))?,
            // Set, then cleared: it never fires.
            1 => {
                ctx.set_event_timer("timer", t + Duration::from_micros(10))?;
                ctx.clear_timer("timer");
            }
            // Timer "a" fires first and clears timer "b".
            _ => {
                ctx.set_event_timer("a", t + Duration::from_micros(1))?;
                ctx.set_event_timer("b", t + Duration::from_micros(2))?;
            }
        }
        ctx.output(v.clone());
        Ok(())
    }
    fn on_timer(&mut self, _: &String, timer: &str, ctx: &mut Ctx<'_, String>) -> UserResult {
        if timer == "a" {
            ctx.clear_timer("b");
        }
        ctx.output(format!("timer_output {timer}"));
        Ok(())
    }
}

// ParDoTest.testEventTimeTimerCanBeReset, testClearUnsetTimer, testTimerClearsOtherTimer (SEMANTICS 51).
scenario!(timers_reset_and_clear, area = "State and timers", features = [StatefulParDo, Timers, SideInputs], beam = "ParDoTest.testEventTimeTimerCanBeReset, testSetAndClearEventTimeTimer, testEventTimeTimerClearOther", replay = true, |env| {
    let p = env.pipeline();
    let input = |name: &str| {
        p.apply(name, Create::timestamped(vec![((s("k"), s("input1")), ts(1)), ((s("k"), s("input2")), ts(2))]))
            .unwrap()
    };
    let reset = input("In0").apply("Reset", StatefulParDo::of(ResetAndClear(0))).unwrap();
    PAssert::that(&reset)
        .contains_in_any_order(vec![s("input1"), s("input2"), s("timer_output timer")])
        .unwrap();
    let cleared = input("In1").apply("Clear", StatefulParDo::of(ResetAndClear(1))).unwrap();
    PAssert::that(&cleared).contains_in_any_order(vec![s("input1"), s("input2")]).unwrap();
    let other = input("In2").apply("ClearOther", StatefulParDo::of(ResetAndClear(2))).unwrap();
    PAssert::that(&other)
        .contains_in_any_order(vec![s("input1"), s("input2"), s("timer_output a")])
        .unwrap();
    p.run().unwrap();
});

#[derive(Clone)]
struct EndOfWindowTimer;

impl StatefulDoFn for EndOfWindowTimer {
    type Key = String;
    type Value = i64;
    type Out = (String, i64);
    fn process(&mut self, key: &String, v: &i64, ctx: &mut Ctx<'_, (String, i64)>) -> UserResult {
        let end = ctx.window().max_timestamp();
        ctx.set_event_timer("eow", end)?;
        ctx.output((key.clone(), v + 5000));
        Ok(())
    }
    fn on_timer(&mut self, key: &String, _: &str, ctx: &mut Ctx<'_, (String, i64)>) -> UserResult {
        ctx.output((key.clone(), 4093));
        Ok(())
    }
}

// ParDoTest.testEventTimeTimerMultipleKeys (SEMANTICS 52).
scenario!(
    event_time_timers_per_key,
    area = "State and timers",
    features = [StatefulParDo, Timers, SideInputs],
    beam = "ParDoTest.testEventTimeTimerMultipleKeys",
    replay = true,
    |env| {
        let p = env.pipeline();
        let input: Vec<(String, i64)> = (0..50)
            .flat_map(|k| (0..15).map(move |v| (format!("key{k}"), v)))
            .collect();
        let mut want: Vec<(String, i64)> =
            input.iter().map(|(k, v)| (k.clone(), v + 5000)).collect();
        want.extend((0..50).map(|k| (format!("key{k}"), 4093)));
        let out = p
            .apply("Kv", Create::of(input))
            .unwrap()
            .apply("Timers", StatefulParDo::of(EndOfWindowTimer))
            .unwrap();
        PAssert::that(&out).contains_in_any_order(want).unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct Ordering(Arc<Mutex<Vec<i64>>>);

impl StatefulDoFn for Ordering {
    type Key = String;
    type Value = i64;
    type Out = i64;
    fn process(&mut self, _: &String, _: &i64, ctx: &mut Ctx<'_, i64>) -> UserResult {
        for i in [7, 3, 9, 1, 5] {
            ctx.set_event_timer(&format!("t{i}"), ts(i * 10))?;
        }
        Ok(())
    }
    fn on_timer(&mut self, _: &String, timer: &str, ctx: &mut Ctx<'_, i64>) -> UserResult {
        let i: i64 = timer[1..].parse()?;
        self.0.lock().expect("log").push(i);
        // A timer set while firing, earlier than the pending ones, fires next.
        if i == 3 {
            ctx.set_event_timer("t4", ts(35))?;
        }
        // A looping timer at the current time still fires.
        if i == 9 {
            ctx.set_event_timer("t10", ts(90))?;
        }
        ctx.output(i);
        Ok(())
    }
}

// ParDoTest.testEventTimeTimerOrdering, TwoTimerTest (SEMANTICS 53, 54) and TimerFamily ids (56).
scenario!(
    timers_fire_in_timestamp_order,
    area = "State and timers",
    features = [StatefulParDo, Timers],
    beam = "ParDoTest.testEventTimeTimerOrdering, TwoTimerTest, testTimerFamilyEventTime",
    replay = false,
    |env| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let p = env.pipeline();
        p.apply("Kv", Create::timestamped(vec![((s("k"), 0), ts(0))]))
            .unwrap()
            .apply(
                "Fixed",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(1000))),
            )
            .unwrap()
            .apply("Order", StatefulParDo::of(Ordering(log.clone())))
            .unwrap();
        p.run().unwrap();
        assert_eq!(*log.lock().unwrap(), vec![1, 3, 4, 5, 7, 9, 10]);
    }
);
