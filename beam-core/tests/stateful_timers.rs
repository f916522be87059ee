//! Timers that fire together: callbacks that clear or set timers of their own
//! key and window while other timers of the same time are firing.

use beam_core::testing::{PAssert, TestPipeline};
use beam_core::{Create, StateContext, StatefulDoFn, StatefulParDo, Timestamp, UserResult};
use runner_direct as _;

/// Sets timers "a" and "b" at the same time; whichever fires first clears the
/// other, and sets "c" in the past (it fires in the same watermark advance).
#[derive(Clone)]
struct Race;

impl StatefulDoFn for Race {
    type Key = u32;
    type Value = u32;
    type Out = (u32, String);
    fn process(
        &mut self,
        _key: &u32,
        _v: &u32,
        ctx: &mut StateContext<'_, u32, (u32, String)>,
    ) -> UserResult {
        ctx.set_event_timer("a", Timestamp::from_micros(10))?;
        ctx.set_event_timer("b", Timestamp::from_micros(10))?;
        Ok(())
    }
    fn on_timer(
        &mut self,
        key: &u32,
        timer: &str,
        ctx: &mut StateContext<'_, u32, (u32, String)>,
    ) -> UserResult {
        match timer {
            "a" | "b" => {
                let other = if timer == "a" { "b" } else { "a" };
                assert!(ctx.timer(other).is_some(), "{other} still pending");
                ctx.clear_timer(other);
                let ten = Timestamp::from_micros(10);
                ctx.set_event_timer_with_output("c", Timestamp::from_micros(5), ten)?;
                ctx.output((*key, "first".into()));
            }
            _ => ctx.output((*key, timer.to_string())),
        }
        Ok(())
    }
}

#[test]
fn a_timer_cleared_by_a_timer_of_the_same_time_does_not_fire() {
    let p = TestPipeline::new();
    let keys: Vec<(u32, u32)> = (0..200).map(|k| (k, 0)).collect();
    let out = p
        .apply("Keys", Create::of(keys))
        .unwrap()
        .apply("Race", StatefulParDo::of(Race))
        .unwrap();
    let expected: Vec<(u32, String)> = (0..200)
        .flat_map(|k| [(k, "first".to_string()), (k, "c".to_string())])
        .collect();
    PAssert::that(&out).contains_in_any_order(expected).unwrap();
    p.run().unwrap();
}
