//! File sinks on every runner: fixed shards, runner-determined shards, one file
//! set per window, compressed suffixes, and nothing left behind.

use beam_core::testing::PAssert;
use beam_core::{
    Create, Duration, Pipeline, PipelineOptions, Timestamp, WindowFn, WindowInto, WithTimestamps,
};
use io_connectors::{JsonLinesIO, TextIO};
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

fn options(runner: &str) -> PipelineOptions {
    let mut o = PipelineOptions::default().with_runner(runner);
    o.parallelism = Some(2);
    o
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn runner_determined_shards_hold_every_record_once() {
    let lines: Vec<String> = (0..250_000).map(|i| format!("line {i}")).collect();
    for runner in ["direct", "rayon", "timely"] {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("out").display().to_string();
        let p = Pipeline::new(options(runner));
        p.apply("Lines", Create::of(lines.clone()))
            .unwrap()
            .apply(
                "Write",
                TextIO::write(&prefix)
                    .with_runner_determined_sharding()
                    .with_suffix(".txt.gz"),
            )
            .unwrap();
        p.run().unwrap_or_else(|e| panic!("{runner}: {e}"));
        let names = files(dir.path());
        let n = names.len();
        assert!(
            n >= 3,
            "{runner}: 250 000 records make at least 3 files: {names:?}"
        );
        for (i, name) in names.iter().enumerate() {
            assert_eq!(
                name,
                &format!("out-{i:05}-of-{n:05}.txt.gz"),
                "{runner}: no temporary files left"
            );
        }
        let p = Pipeline::new(options("direct"));
        let read = p
            .apply("Read", TextIO::read(&format!("{prefix}-*.txt.gz")))
            .unwrap();
        PAssert::that(&read)
            .contains_in_any_order(lines.clone())
            .unwrap();
        p.run().unwrap();
    }
}

#[test]
fn windowed_writes_make_one_file_set_per_window_and_pane() {
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Event {
        minute: i64,
        n: u32,
    }
    let events: Vec<Event> = (0..90)
        .map(|n| Event {
            minute: i64::from(n % 3),
            n,
        })
        .collect();
    for runner in ["direct", "rayon", "timely"] {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("events").display().to_string();
        let p = Pipeline::new(options(runner));
        p.apply("Events", Create::of(events.clone()))
            .unwrap()
            .apply(
                "Stamp",
                WithTimestamps::of(|e: &Event| Timestamp::from_secs(1_764_000_000 + e.minute * 60)),
            )
            .unwrap()
            .apply(
                "Minute",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(60))),
            )
            .unwrap()
            .apply(
                "Write",
                JsonLinesIO::write(&prefix)
                    .with_windowed_writes()
                    .with_num_shards(2)
                    .with_suffix(".jsonl"),
            )
            .unwrap();
        p.run().unwrap_or_else(|e| panic!("{runner}: {e}"));
        let names = files(dir.path());
        let windows: std::collections::BTreeSet<&str> = names
            .iter()
            .map(|n| &n[..n.find("-pane-").unwrap()])
            .collect();
        assert_eq!(
            windows.into_iter().collect::<Vec<_>>(),
            [
                "events-2025-11-24T16:00:00.000000Z-2025-11-24T16:01:00.000000Z",
                "events-2025-11-24T16:01:00.000000Z-2025-11-24T16:02:00.000000Z",
                "events-2025-11-24T16:02:00.000000Z-2025-11-24T16:03:00.000000Z",
            ],
            "{runner}: {names:?}"
        );
        assert!(
            names
                .iter()
                .all(|n| n.contains("-pane-0-last-") && n.ends_with("-of-00002.jsonl")),
            "{names:?}"
        );
        for minute in 0..3 {
            let start = 1_764_000_000 + minute * 60;
            let pattern = format!("{}/events-{}*", dir.path().display(), humantime_like(start));
            let p = Pipeline::new(options("direct"));
            let read = p
                .apply("Read", JsonLinesIO::read::<Event>(&pattern))
                .unwrap();
            PAssert::that(&read)
                .contains_in_any_order(
                    events
                        .iter()
                        .filter(|e| e.minute == minute)
                        .cloned()
                        .collect(),
                )
                .unwrap();
            p.run().unwrap();
        }
    }
}

/// `2025-11-24T16:0M:00.000000Z-` for the window starting at `secs`.
fn humantime_like(secs: i64) -> String {
    format!(
        "2025-11-24T16:{:02}:00.000000Z-",
        (secs - 1_764_000_000) / 60
    )
}
