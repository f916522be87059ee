//! Grouping state past `--memory-budget` spills to disk and comes back
//! before its windows close: the panes are the ones kept in memory gives.

use beam_core::testing::PAssert;
use beam_core::{
    BoundedSource, Count, Create, DoFn, Duration, GroupByKey, ParDo, Pipeline, PipelineOptions,
    ProcessContext, Read, Result, SourceReader, Timestamp, UserResult, WindowFn, WindowInto,
    WindowedValue,
};
use runner_timely as _;
use std::collections::BTreeMap;

/// Events `0..n`, one per millisecond of event time, in time order; event
/// `i` is of user `i * 7919 % users`.
#[derive(Clone)]
struct Events {
    n: u64,
    users: u64,
}

struct EventReader {
    next: u64,
    events: Events,
}

fn user(i: u64, users: u64) -> String {
    format!("user-{:05}", i * 7919 % users)
}

impl SourceReader<(String, u64)> for EventReader {
    fn read_batch(
        &mut self,
        out: &mut Vec<WindowedValue<(String, u64)>>,
        max: usize,
    ) -> Result<bool> {
        while self.next < self.events.n && out.len() < max {
            let i = self.next;
            out.push(WindowedValue::in_global_window((
                user(i, self.events.users),
                i,
            )));
            self.next += 1;
        }
        Ok(self.next < self.events.n)
    }
}

impl BoundedSource for Events {
    type Output = (String, u64);
    fn estimated_size_bytes(&self) -> Result<u64> {
        Ok(self.n * 24)
    }
    fn split(&self, _desired: u64) -> Result<Vec<Self>> {
        Ok(vec![self.clone()])
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<(String, u64)>>> {
        Ok(Box::new(EventReader {
            next: 0,
            events: self.clone(),
        }))
    }
    fn describe(&self) -> String {
        format!("Events({})", self.n)
    }
}

/// A pane as text: key, window, value, timestamp and pane.
#[derive(Clone)]
struct Describe;

impl DoFn for Describe {
    type In = (String, u64);
    type Out = String;
    fn process(
        &mut self,
        (k, v): &(String, u64),
        ctx: &mut ProcessContext<'_, String>,
    ) -> UserResult {
        let start = ctx
            .window()
            .as_interval()
            .map_or(-1, |w| w.start.as_micros());
        let pane = ctx.pane();
        let line = format!(
            "{k} {start} {v} {} {:?} {} {}",
            ctx.timestamp().as_micros(),
            pane.timing,
            pane.index,
            pane.is_last
        );
        ctx.output(line);
        Ok(())
    }
}

fn timely(workers: &str, budget: Option<&str>) -> PipelineOptions {
    let o = PipelineOptions::default()
        .with_runner("timely")
        .set("workers", workers);
    match budget {
        Some(b) => o.set("memory-budget", b),
        None => o,
    }
}

/// Counts per user in windows of `size` ms sliding by `period` ms, the read's
/// watermark following event time; checks every pane against a count by hand
/// and returns the bytes spilled.
fn sliding_counts(options: PipelineOptions, events: Events, size: i64, period: i64) -> i64 {
    let p = Pipeline::new(options);
    let counts = p
        .apply(
            "Read",
            Read::from(events.clone())
                .with_timestamps(|(_, i): &(String, u64)| Timestamp::from_micros(*i as i64 * 1000))
                .with_bounded_out_of_orderness(Duration::ZERO),
        )
        .unwrap()
        .apply(
            "Window",
            WindowInto::new(WindowFn::sliding(
                Duration::from_millis(size),
                Duration::from_millis(period),
            )),
        )
        .unwrap()
        .apply("Count", Count::per_key())
        .unwrap()
        .apply("Describe", ParDo::of(Describe))
        .unwrap();
    let (size, period) = (size * 1000, period * 1000);
    let mut expected: BTreeMap<(String, i64), u64> = BTreeMap::new();
    for i in 0..events.n {
        let t = i as i64 * 1000;
        let mut start = t - t.rem_euclid(period);
        while start > t - size {
            *expected.entry((user(i, events.users), start)).or_default() += 1;
            start -= period;
        }
    }
    let expected = expected
        .into_iter()
        .map(|((k, start), n)| format!("{k} {start} {n} {} OnTime 0 true", start + size - 1))
        .collect();
    PAssert::that(&counts)
        .contains_in_any_order(expected)
        .unwrap();
    let result = p.run().unwrap();
    result
        .metrics()
        .counter("Count", "grouping_spilled_bytes")
        .unwrap_or(0)
}

#[test]
fn sliding_window_counts_past_the_budget_are_the_counts_in_memory() {
    let events = Events {
        n: 120_000,
        users: 6_000,
    };
    let run =
        |workers, budget| sliding_counts(timely(workers, budget), events.clone(), 10_000, 2_000);
    assert_eq!(run("2", None), 0);
    assert!(
        run("2", Some("1MiB")) > 0,
        "the state of 6 000 users spills"
    );
    assert!(run("1", Some("1MiB")) > 0);
}

/// Many short windows with a few users each: spilled state stays in one
/// table and comes back window by window.
#[test]
fn many_small_windows_past_the_budget_are_the_counts_in_memory() {
    let events = Events {
        n: 200_000,
        users: 50_000,
    };
    let run = |workers, budget| sliding_counts(timely(workers, budget), events.clone(), 50, 50);
    assert_eq!(run("2", None), 0);
    assert!(
        run("2", Some("1MiB")) > 0,
        "4 000 windows of 50 users spill"
    );
}

/// Every user's values, grouped in the global window of a bounded input
/// that all stays until its end.
#[test]
fn a_global_window_group_past_the_budget_gives_every_value() {
    let (n, users) = (60_000u64, 20_000u64);
    let p = Pipeline::new(timely("2", Some("1MiB")));
    let pairs: Vec<(String, u64)> = (0..n).map(|i| (user(i, users), i)).collect();
    let grouped = p
        .apply("Pairs", Create::of(pairs))
        .unwrap()
        .apply("Group", GroupByKey::new())
        .unwrap()
        .apply(
            "Sorted",
            beam_core::Map::new(|(k, vs): &(String, Vec<u64>)| {
                let mut vs = vs.clone();
                vs.sort_unstable();
                format!("{k} {vs:?}")
            }),
        )
        .unwrap();
    let mut expected: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for i in 0..n {
        expected.entry(user(i, users)).or_default().push(i);
    }
    let expected = expected
        .into_iter()
        .map(|(k, vs)| format!("{k} {vs:?}"))
        .collect();
    PAssert::that(&grouped)
        .contains_in_any_order(expected)
        .unwrap();
    let result = p.run().unwrap();
    let spilled = result.metrics().counter("Group", "grouping_spilled_bytes");
    assert!(spilled.unwrap_or(0) > 0, "{spilled:?}");
}

#[test]
fn a_memory_budget_with_checkpoints_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = Pipeline::new(
        timely("1", Some("64MiB")).set("checkpoint-dir", dir.path().to_str().unwrap()),
    );
    p.apply("One", Create::of(vec![1u8])).unwrap();
    let err = p.run().unwrap_err().to_string();
    assert!(err.contains("--memory-budget"), "{err}");
}

/// A spill that cannot be written fails the run, naming the step and the
/// directory.
#[test]
fn a_spill_that_cannot_be_written_names_the_step_and_the_directory() {
    let missing = "/nonexistent-spill-dir/below";
    let p = Pipeline::new(timely("1", Some("1MiB")).set("temp-dir", missing));
    let pairs: Vec<(String, u64)> = (0..60_000u64).map(|i| (user(i, 20_000), i)).collect();
    p.apply("Pairs", Create::of(pairs))
        .unwrap()
        .apply("Group", GroupByKey::new())
        .unwrap();
    let err = p.run().unwrap_err().to_string();
    assert!(err.contains("'Group'") && err.contains(missing), "{err}");
}
