//! More of Beam's ParDoTest state and timer cases: dedup by value state,
//! timers after a GroupByKey, timers in the element's window, clearing an
//! unset timer, and a looping timer.

use crate::scenario;
use crate::scenarios::common::{collect, iw, panes, s, ts};
use beam_core::testing::PAssert;
use beam_core::{
    Create, Duration, GroupByKey, Map, StateContext, StatefulDoFn, StatefulParDo, Timestamp,
    UserResult, WindowFn, WindowInto,
};

type Ctx<'a, O> = StateContext<'a, String, O>;

/// The first value of each key, once.
#[derive(Clone)]
struct FirstOnly;

impl StatefulDoFn for FirstOnly {
    type Key = String;
    type Value = i64;
    type Out = (String, i64);
    fn process(&mut self, key: &String, v: &i64, ctx: &mut Ctx<'_, (String, i64)>) -> UserResult {
        let mut seen = ctx.value_state::<bool>("seen")?;
        if seen.read().is_none() {
            seen.write(true);
            ctx.output((key.clone(), *v));
        }
        Ok(())
    }
}

// ParDoTest.StateTests.testValueStateDedup.
scenario!(
    value_state_dedup,
    area = "State and timers",
    features = [StatefulParDo, SideInputs],
    beam = "ParDoTest.testValueStateDedup",
    replay = true,
    |env| {
        let p = env.pipeline();
        let mut input = Vec::new();
        for k in 0..10 {
            for _ in 0..3 {
                input.push((format!("k{k}"), 7));
            }
        }
        let out = p
            .apply("Create", Create::of(input))
            .unwrap()
            .apply("Dedup", StatefulParDo::of(FirstOnly))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order((0..10).map(|k| (format!("k{k}"), 7)).collect())
            .unwrap();
        p.run().unwrap();
    }
);

/// Sets a timer 1 unit after each group's timestamp; outputs the group's
/// size when it fires.
#[derive(Clone)]
struct SizeLater;

impl StatefulDoFn for SizeLater {
    type Key = String;
    type Value = Vec<i64>;
    type Out = String;
    fn process(&mut self, _: &String, v: &Vec<i64>, ctx: &mut Ctx<'_, String>) -> UserResult {
        ctx.value_state::<usize>("size")?.write(v.len());
        let at = ctx.timestamp() + Duration::from_micros(1);
        ctx.set_event_timer("later", at)
    }
    fn on_timer(&mut self, key: &String, _: &str, ctx: &mut Ctx<'_, String>) -> UserResult {
        let n = ctx.value_state::<usize>("size")?.read().unwrap_or(0);
        ctx.output(format!("{key}:{n}"));
        Ok(())
    }
}

// ParDoTest.TimerTests.testGbkFollowedByUserTimers.
scenario!(
    group_by_key_followed_by_user_timers,
    area = "State and timers",
    features = [StatefulParDo, Timers, SideInputs],
    beam = "ParDoTest.testGbkFollowedByUserTimers",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![
                    ((s("a"), 1i64), ts(1)),
                    ((s("a"), 2), ts(2)),
                    ((s("b"), 3), ts(3)),
                ]),
            )
            .unwrap()
            // A group is at its earliest element, so that a timer just after
            // it is inside the window (in the global window, a group is at
            // the window's end and such a timer is refused).
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10)))
                    .with_timestamp_combiner(beam_core::TimestampCombiner::Earliest),
            )
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap()
            .apply("Timers", StatefulParDo::of(SizeLater))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("a:2"), s("b:1")])
            .unwrap();
        p.run().unwrap();
    }
);

/// On each element, a timer at the end of its window; when it fires, the
/// window and timestamp it fired in.
#[derive(Clone)]
struct AtWindowEnd;

impl StatefulDoFn for AtWindowEnd {
    type Key = String;
    type Value = i64;
    type Out = String;
    fn process(&mut self, _: &String, _: &i64, ctx: &mut Ctx<'_, String>) -> UserResult {
        let end = ctx.window().max_timestamp();
        ctx.set_event_timer("end", end)
    }
    fn on_timer(&mut self, _: &String, _: &str, ctx: &mut Ctx<'_, String>) -> UserResult {
        let w = format!("{:?}", ctx.window());
        ctx.output(format!("{w}@{}", ctx.timestamp().as_micros()));
        Ok(())
    }
}

// ParDoTest.TimerTests.testTimerReceivedInOriginalWindow: a timer fires in
// the window of the element that set it, at the timer's time.
scenario!(
    timer_fires_in_the_original_window,
    area = "State and timers",
    features = [StatefulParDo, Timers],
    beam = "ParDoTest.testTimerReceivedInOriginalWindow",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![((s("k"), 1i64), ts(3)), ((s("k"), 2), ts(14))]),
            )
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_micros(10))),
            )
            .unwrap()
            .apply("Timers", StatefulParDo::of(AtWindowEnd))
            .unwrap();
        let got = collect(&out, "Out");
        p.run().unwrap();
        let got: Vec<(String, beam_core::Window)> = panes(&got)
            .into_iter()
            .map(|wv| (wv.value, wv.window))
            .collect();
        assert_eq!(
            got,
            vec![
                (format!("{:?}@9", iw(0, 10)), iw(0, 10)),
                (format!("{:?}@19", iw(10, 20)), iw(10, 20)),
            ]
        );
    }
);

/// Clears a timer that was never set, then sets and clears another: only
/// the third timer fires.
#[derive(Clone)]
struct ClearUnset;

impl StatefulDoFn for ClearUnset {
    type Key = String;
    type Value = i64;
    type Out = String;
    fn process(&mut self, _: &String, _: &i64, ctx: &mut Ctx<'_, String>) -> UserResult {
        ctx.clear_timer("never-set");
        let t = ctx.timestamp();
        ctx.set_event_timer("cleared", t + Duration::from_micros(5))?;
        ctx.clear_timer("cleared");
        ctx.set_event_timer("kept", t + Duration::from_micros(7))
    }
    fn on_timer(&mut self, _: &String, timer: &str, ctx: &mut Ctx<'_, String>) -> UserResult {
        ctx.output(format!("{timer}@{}", ctx.timestamp().as_micros()));
        Ok(())
    }
}

// ParDoTest.TimerTests.testClearUnsetEventTimeTimer and testClearEventTimeTimer.
scenario!(
    clearing_unset_and_set_timers,
    area = "State and timers",
    features = [StatefulParDo, Timers, SideInputs],
    beam = "ParDoTest.testClearUnsetEventTimeTimer, testClearEventTimeTimer",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![((s("k"), 1i64), ts(10))]),
            )
            .unwrap()
            .apply("Timers", StatefulParDo::of(ClearUnset))
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(vec![s("kept@17")])
            .unwrap();
        p.run().unwrap();
    }
);

/// A timer that sets itself again every 10 units until it has fired
/// `limit` times, counting in value state.
#[derive(Clone)]
struct Looping {
    limit: i64,
}

impl StatefulDoFn for Looping {
    type Key = String;
    type Value = i64;
    type Out = (String, i64, Timestamp);
    fn process(
        &mut self,
        _: &String,
        _: &i64,
        ctx: &mut Ctx<'_, (String, i64, Timestamp)>,
    ) -> UserResult {
        let t = ctx.timestamp();
        ctx.set_event_timer("loop", t + Duration::from_micros(10))
    }
    fn on_timer(
        &mut self,
        key: &String,
        _: &str,
        ctx: &mut Ctx<'_, (String, i64, Timestamp)>,
    ) -> UserResult {
        let n = {
            let mut count = ctx.value_state::<i64>("count")?;
            let n = count.read().unwrap_or(0) + 1;
            count.write(n);
            n
        };
        let t = ctx.timestamp();
        ctx.output((key.clone(), n, t));
        if n < self.limit {
            ctx.set_event_timer("loop", t + Duration::from_micros(10))?;
        }
        Ok(())
    }
}

// A looping timer (the "looping timer" pattern of Beam's timer docs and
// ParDoTest.testEventTimeTimerLoop-style cases): each firing sets the next,
// in the global window, until a count in state stops it.
scenario!(
    looping_event_time_timer,
    area = "State and timers",
    features = [StatefulParDo, Timers, SideInputs],
    beam = "ParDoTest (looping event-time timers); Beam's looping-timer pattern",
    replay = true,
    |env| {
        let p = env.pipeline();
        let out = p
            .apply(
                "Create",
                Create::timestamped(vec![((s("a"), 0i64), ts(0)), ((s("b"), 0), ts(5))]),
            )
            .unwrap()
            .apply("Loop", StatefulParDo::of(Looping { limit: 4 }))
            .unwrap()
            .apply(
                "Show",
                Map::new(|x: &(String, i64, Timestamp)| {
                    format!("{}{}@{}", x.0, x.1, x.2.as_micros())
                }),
            )
            .unwrap();
        PAssert::that(&out)
            .contains_in_any_order(
                [
                    "a1@10", "a2@20", "a3@30", "a4@40", "b1@15", "b2@25", "b3@35", "b4@45",
                ]
                .iter()
                .map(|x| s(x))
                .collect(),
            )
            .unwrap();
        p.run().unwrap();
    }
);
