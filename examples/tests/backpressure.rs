//! A slow step throttles a fast source on timely: the bundles queued between
//! the steps of the process stay near `--max-queued-bundles` (the monitor's
//! peak, not a time), and every element still arrives.

use beam_core::{
    Pipeline, PipelineOptions, Read, StateContext, StatefulDoFn, StatefulParDo, UserResult,
    WindowedValue,
};
use examples::generated::Generated;
use runner_timely as _;

const ELEMENTS: u64 = 400_000;

/// Sleeps a millisecond every 256 elements: slower than reading.
#[derive(Clone, Default)]
struct SlowSink {
    seen: u64,
}

impl StatefulDoFn for SlowSink {
    type Key = u32;
    type Value = u64;
    type Out = ();
    fn process(
        &mut self,
        _key: &u32,
        _value: &u64,
        ctx: &mut StateContext<'_, u32, ()>,
    ) -> UserResult {
        self.seen += 1;
        if self.seen.is_multiple_of(256) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        ctx.metrics().inc_counter("taken", 1);
        Ok(())
    }
}

/// Runs the fast source into the slow sink (every element under one key, so
/// one worker takes what both workers read); the run's metrics.
fn run(max_queued: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let metrics = dir.path().join("metrics.json");
    let args = [
        "test",
        "--runner",
        "timely",
        "--parallelism",
        "2",
        "--max-queued-bundles",
        max_queued,
        "--metrics-out",
        &metrics.display().to_string(),
    ]
    .map(String::from);
    let p = Pipeline::new(PipelineOptions::from_args(args).unwrap());
    p.apply(
        "Numbers",
        Read::from(Generated::new(0..ELEMENTS, |i| {
            WindowedValue::in_global_window((0u32, i))
        })),
    )
    .unwrap()
    .apply("Slow", StatefulParDo::of(SlowSink::default()))
    .unwrap();
    let result = p.run().expect("the run succeeds");
    assert_eq!(
        result.metrics().counter("Slow", "taken"),
        Some(ELEMENTS as i64),
        "every element arrives"
    );
    serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap()
}

#[test]
fn a_slow_step_bounds_the_bundles_queued_behind_it() {
    let m = run("4");
    let peak = m["queued_bundles_peak"].as_i64().unwrap();
    // The limit, plus what a source's last read adds before it pauses: one
    // bundle into the shipping step and its two parts, per worker.
    assert!(peak <= 4 + 2 * 3, "{peak} bundles were queued at once");
    assert!(peak >= 1, "bundles were queued at all: {peak}");
    // One key: one worker took every element.
    let slow = m["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Slow")
        .unwrap();
    let mut load: Vec<u64> = slow["worker_elements_in"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .collect();
    load.sort();
    assert_eq!(load, vec![0, ELEMENTS], "{slow}");
}
