//! State and timers (Beam's ParDoTest StateTests and TimerTests).

use crate::scenario;
use crate::scenarios::common::{iw, s, ts};
use beam_core::combine::builtins::MeanFn;
use beam_core::testing::PAssert;
use beam_core::{
    Create, Duration, StateContext, StatefulDoFn, StatefulParDo, Timestamp, UserResult, WindowFn,
    WindowInto,
};

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
