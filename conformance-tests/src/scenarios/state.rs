//! State and timers (Beam's ParDoTest StateTests and TimerTests).

use crate::scenario;
use crate::scenarios::common::{collect, iw, panes, s, ts};
use beam_core::combine::builtins::MeanFn;
use beam_core::testing::PAssert;
use beam_core::{
    AccumulationMode, Create, Duration, GroupByKey, StateContext, StatefulDoFn, StatefulParDo,
    TestStream, Timestamp, Trigger, UserResult, WindowFn, WindowInto,
};
use std::sync::{Arc, Mutex};

type Ctx<'a, O> = StateContext<'a, String, O>;

#[derive(Clone)]
struct CountUp {
    id: &'static str,
    scale: i64,
}

impl StatefulDoFn for CountUp {
    type Key = String;
    type Value = i64;
    type Out = i64;
    fn process(&mut self, _: &String, _: &i64, ctx: &mut Ctx<'_, i64>) -> UserResult {
        let mut v = ctx.value_state::<i64>(self.id)?;
        let n = v.read().unwrap_or(0);
        v.write(n + 1);
        ctx.output(n * self.scale);
        Ok(())
    }
}

fn hello(values: &[(i64, i64)]) -> Create<(String, i64)> {
    Create::timestamped(values.iter().map(|&(v, t)| ((s("hello"), v), ts(t))))
}

// ParDoTest.testValueStateSimple, testValueStateFixedWindows, testValueStateSameId (SEMANTICS 43).
scenario!(
    value_state_per_key_and_window,
    area = "State and timers",
    features = [StatefulParDo, SideInputs],
    beam = "ParDoTest.testValueStateSimple, testValueStateFixedWindows, testValueStateSameId",
    replay = true,
    |env| {
        let p = env.pipeline();
        let kv = p.apply("Kv", hello(&[(42, 0), (97, 0), (84, 0)])).unwrap();
        let first = kv
            .apply("First", StatefulParDo::of(CountUp { id: "n", scale: 1 }))
            .unwrap();
        PAssert::that(&first)
            .contains_in_any_order(vec![0, 1, 2])
            .unwrap();
        let rekeyed = first
            .apply("Rekey", beam_core::Map::new(|x: &i64| (s("hello"), *x)))
            .unwrap();
        let second = rekeyed
            .apply("Second", StatefulParDo::of(CountUp { id: "n", scale: 13 }))
            .unwrap();
        PAssert::that(&second)
            .contains_in_any_order(vec![0, 13, 26])
            .unwrap();
        let windowed = p
            .apply("Timed", hello(&[(1, 1), (2, 2), (3, 3), (4, 11), (5, 13)]))
            .unwrap()
            .apply(
                "Fixed",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply(
                "PerWindow",
                StatefulParDo::of(CountUp { id: "n", scale: 1 }),
            )
            .unwrap();
        PAssert::that(&windowed)
            .in_window(iw(0, 10))
            .contains_in_any_order(vec![0, 1, 2])
            .unwrap();
        PAssert::that(&windowed)
            .in_window(iw(10, 20))
            .contains_in_any_order(vec![0, 1])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct Collections;

impl StatefulDoFn for Collections {
    type Key = String;
    type Value = (String, i64);
    type Out = String;
    fn process(
        &mut self,
        _: &String,
        (k, v): &(String, i64),
        ctx: &mut Ctx<'_, String>,
    ) -> UserResult {
        let mut bag = ctx.bag_state::<i64>("bag")?;
        let snapshot = bag.read();
        bag.add(*v);
        if snapshot.len() == bag.read().len() {
            return Err(beam_core::UserError::msg("bag snapshot changed"));
        }
        let n = bag.read().len();
        if n == 4 {
            let mut all = bag.read();
            all.sort();
            ctx.output(format!("bag {all:?}"));
        }
        let mut set = ctx.set_state::<i64>("set")?;
        set.add(*v);
        let members = set.read();
        let mut map = ctx.map_state::<String, i64>("map")?;
        map.put(k.clone(), *v);
        let entries = map.entries();
        if n == 4 {
            ctx.output(format!("set {members:?}"));
            ctx.output(format!("map {entries:?}"));
        }
        Ok(())
    }
}

// ParDoTest.testBagState, testSetState, testMapState (SEMANTICS 44).
scenario!(
    bag_set_and_map_state,
    area = "State and timers",
    features = [StatefulParDo, SideInputs],
    beam = "ParDoTest.testBagState, testSetState, testMapState",
    replay = false,
    |env| {
        let p = env.pipeline();
        let input = vec![(s("a"), 97), (s("b"), 42), (s("b"), 42), (s("c"), 12)];
        let out = p
            .apply("Kv", Create::of(input.into_iter().map(|kv| (s("k"), kv))))
            .unwrap()
            .apply("State", StatefulParDo::of(Collections))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![
                s("bag [12, 42, 42, 97]"),
                s("set [12, 42, 97]"),
                s("map [(\"a\", 97), (\"b\", 42), (\"c\", 12)]"),
            ])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct MeanWatcher;

impl StatefulDoFn for MeanWatcher {
    type Key = String;
    type Value = f64;
    type Out = String;
    fn process(&mut self, _: &String, v: &f64, ctx: &mut Ctx<'_, String>) -> UserResult {
        let mut mean = ctx.combining_state("mean", &MeanFn::<f64>::default())?;
        mean.add(*v);
        if (mean.read() - 0.5).abs() < 1e-9 {
            ctx.output(s("right on"));
        }
        Ok(())
    }
}

// ParDoTest.testCombiningState (SEMANTICS 44).
scenario!(
    combining_state,
    area = "State and timers",
    features = [StatefulParDo, SideInputs],
    beam = "ParDoTest.testCombiningState",
    replay = false,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Kv",
                Create::of(vec![(s("k"), 0.3), (s("k"), 0.6), (s("k"), 0.6)]),
            )
            .unwrap()
            .apply("Mean", StatefulParDo::of(MeanWatcher))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("right on")])
            .unwrap();
        p.run().unwrap();
    }
);

#[derive(Clone)]
struct Ordered;

impl StatefulDoFn for Ordered {
    type Key = String;
    type Value = (String, i64);
    type Out = String;
    fn process(
        &mut self,
        _: &String,
        (v, t): &(String, i64),
        ctx: &mut Ctx<'_, String>,
    ) -> UserResult {
        let mut list = ctx.ordered_list_state::<String>("list")?;
        list.add(ts(*t), v.clone());
        let mut messages = Vec::new();
        if list.read().len() == 4 {
            let show = |x: Vec<(Timestamp, String)>| {
                x.into_iter()
                    .map(|(t, v)| format!("{v}{t}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let all = show(list.read());
            let ranges = [(0, 12), (0, 13), (13, 53), (52, 98)]
                .map(|(a, b)| show(list.read_range(ts(a), ts(b))));
            messages.push(format!("{all}|{}", ranges.join("|")));
            list.clear_range(Timestamp::EPOCH, ts(43));
            messages.push(format!("after clear: {}", show(list.read())));
        }
        for m in messages {
            ctx.output(m);
        }
        Ok(())
    }
}

// ParDoTest.testOrderedListState* (SEMANTICS 45).
scenario!(
    ordered_list_state,
    area = "State and timers",
    features = [StatefulParDo, SideInputs],
    beam = "ParDoTest.testOrderedListStateRangeReplace, testOrderedListStateRangeRead",
    replay = false,
    |env| {
        let p = env.pipeline();
        let input = vec![(s("a"), 97), (s("b"), 42), (s("b"), 52), (s("c"), 12)];
        let out = p
            .apply("Kv", Create::of(input.into_iter().map(|x| (s("k"), x))))
            .unwrap()
            .apply("List", StatefulParDo::of(Ordered))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![
                s("c12,b42,b52,a97||c12|b42,b52|b52,a97"),
                s("after clear: b52,a97"),
            ])
            .unwrap();
        p.run().unwrap();
    }
);

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
                    align: Duration::from_micros(1000),
                    offset: Duration::from_micros(1),
                }),
            )
            .unwrap();
        PAssert::that(&at_min)
            .contains_in_any_order(vec![
                (3, Timestamp::MIN),
                (42, Timestamp::MIN + Duration::from_micros(1774)),
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
