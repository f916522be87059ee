//! File reads with event times and a bounded-out-of-orderness watermark:
//! several JSON-lines files in time order, read in parts on every runner and
//! worker count, give the windows computed directly; a record further out of
//! order than declared fails the run naming it; a dead-letter read refuses
//! event times.

use beam_core::testing::PAssert;
use beam_core::{
    Count, DoFn, Duration, Map, ParDo, Pipeline, PipelineOptions, ProcessContext, Timestamp,
    UserResult, WindowFn, WindowInto,
};
use io_connectors::JsonLinesIO;
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;
use std::collections::BTreeMap;
use std::io::Write;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Click {
    user: String,
    time_ms: i64,
}

/// Click `i` happens at about `i` * 100 ms, up to 1.9 s late.
fn click(i: u64) -> Click {
    Click {
        user: format!("u{}", i % 7),
        time_ms: (i * 100 + (i * 7919 % 20) * 100) as i64,
    }
}

/// Writes clicks `0..n` over three files, in time order across the files
/// (file names in the same order); `broken` replaces one click's time.
fn write_clicks(dir: &std::path::Path, n: u64, broken: Option<(u64, i64)>) -> String {
    let per = n.div_ceil(3);
    for (f, name) in ["a", "b", "c"].iter().enumerate() {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(dir.join(format!("clicks-{name}.jsonl"))).unwrap(),
        );
        for i in (f as u64 * per)..((f as u64 + 1) * per).min(n) {
            let mut c = click(i);
            if let Some((at, time)) = broken {
                if at == i {
                    c.time_ms = time;
                }
            }
            serde_json::to_writer(&mut out, &c).unwrap();
            out.write_all(b"\n").unwrap();
        }
    }
    dir.join("clicks-*.jsonl").display().to_string()
}

#[derive(Clone)]
struct InWindow;

impl DoFn for InWindow {
    type In = (String, u64);
    type Out = String;
    fn process(&mut self, x: &(String, u64), ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let start = ctx
            .window()
            .as_interval()
            .map_or(-1, |w| w.start.as_millis());
        ctx.output(format!("{}@{start}: {}", x.0, x.1));
        Ok(())
    }
}

fn expected(n: u64) -> Vec<String> {
    let mut counts = BTreeMap::new();
    for i in 0..n {
        let c = click(i);
        *counts
            .entry((c.user, c.time_ms.div_euclid(10_000) * 10_000))
            .or_insert(0u64) += 1;
    }
    counts
        .into_iter()
        .map(|((u, s), c)| format!("{u}@{s}: {c}"))
        .collect()
}

fn options(runner: &str, workers: usize) -> PipelineOptions {
    let mut o = PipelineOptions::default().with_runner(runner);
    o.parallelism = Some(workers);
    o
}

fn per_user_and_window(p: &Pipeline, pattern: &str) -> beam_core::PCollection<String> {
    p.apply(
        "Read",
        JsonLinesIO::read::<Click>(pattern)
            .with_timestamps(|c: &Click| Timestamp::from_millis(c.time_ms))
            .with_bounded_out_of_orderness(Duration::from_secs(2)),
    )
    .unwrap()
    .apply("User", Map::new(|c: &Click| c.user.clone()))
    .unwrap()
    .apply(
        "Window",
        WindowInto::new(WindowFn::fixed(Duration::from_secs(10))),
    )
    .unwrap()
    .apply("Count", Count::per_element())
    .unwrap()
    .apply("Format", ParDo::of(InWindow))
    .unwrap()
}

#[test]
fn files_in_time_order_give_the_same_windows_on_every_runner() {
    let dir = tempfile::tempdir().unwrap();
    let n = 30_000;
    let pattern = write_clicks(dir.path(), n, None);
    for (runner, workers) in [
        ("direct", 1),
        ("rayon", 2),
        ("timely", 1),
        ("timely", 2),
        ("timely", 3),
    ] {
        let p = Pipeline::new(options(runner, workers));
        let counts = per_user_and_window(&p, &pattern);
        PAssert::that(&counts)
            .contains_in_any_order(expected(n))
            .unwrap();
        p.run()
            .unwrap_or_else(|e| panic!("{runner} with {workers} workers: {e}"));
    }
}

#[test]
fn a_record_further_out_of_order_than_declared_fails_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // Click 500 (in the first file) is a minute earlier than the clicks
    // before it.
    let pattern = write_clicks(dir.path(), 3000, Some((500, -10_000)));
    for (runner, workers) in [("direct", 1), ("rayon", 2), ("timely", 2)] {
        let p = Pipeline::new(options(runner, workers));
        per_user_and_window(&p, &pattern);
        let e = p.run().expect_err("the run fails").to_string();
        assert!(
            e.contains("out of event-time order") && e.contains("-10000") && e.contains("u3"),
            "{runner}: {e}"
        );
    }
}

#[test]
fn a_dead_letter_read_refuses_event_times() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = write_clicks(dir.path(), 10, None);
    let p = Pipeline::new(PipelineOptions::default());
    let e = p
        .apply(
            "Read",
            JsonLinesIO::read::<Click>(&pattern)
                .with_timestamps(|c: &Click| Timestamp::from_millis(c.time_ms))
                .with_dead_letter(),
        )
        .err()
        .expect("refused")
        .to_string();
    assert!(
        e.contains("dead-letter") && e.contains("WithTimestamps"),
        "{e}"
    );
}
