//! File sinks on every runner: fixed shards, runner-determined shards, one file
//! set per window, compressed suffixes, a completion marker, nothing left
//! behind, and a set with another shard count replacing the earlier one whole.

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

/// The files in `dir` but the completion marker, which must list them.
fn files(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    let markers: Vec<String> = v
        .iter()
        .filter(|n| n.ends_with("._SUCCESS"))
        .cloned()
        .collect();
    assert_eq!(markers.len(), 1, "one completion marker: {v:?}");
    v.retain(|n| !n.ends_with("._SUCCESS"));
    let mut listed: Vec<String> = std::fs::read_to_string(dir.join(&markers[0]))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    listed.sort();
    assert_eq!(listed, v, "the marker lists the set");
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

#[test]
fn a_new_set_replaces_an_earlier_one_with_another_shard_count() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("out").display().to_string();
    std::fs::write(dir.path().join("out-other-00000-of-00001"), "kept").unwrap();
    for (runner, shards) in [("direct", 3), ("rayon", 2), ("timely", 4), ("direct", 1)] {
        let p = Pipeline::new(options(runner));
        p.apply("Lines", Create::of(vec!["a".to_string(), "b".to_string()]))
            .unwrap()
            .apply("Write", TextIO::write(&prefix).with_num_shards(shards))
            .unwrap();
        p.run().unwrap_or_else(|e| panic!("{runner}: {e}"));
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "out-other-00000-of-00001" && n != "out._SUCCESS")
            .collect();
        names.sort();
        let marker = std::fs::read_to_string(dir.path().join("out._SUCCESS")).unwrap();
        assert_eq!(marker.lines().collect::<Vec<_>>(), names, "{runner}");
        let want: Vec<String> = (0..shards)
            .map(|i| format!("out-{i:05}-of-{shards:05}"))
            .collect();
        assert_eq!(names, want, "{runner}");
    }
    assert!(dir.path().join("out-other-00000-of-00001").exists());
}

#[test]
fn a_failed_run_leaves_no_temporary_files_and_abandoned_ones_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    // A directory of a process that is gone (its lock is free), and one whose
    // owner still runs (this test holds its lock).
    let abandoned = dir.path().join(".temp-beam-4000000-1");
    std::fs::create_dir(&abandoned).unwrap();
    std::fs::write(abandoned.join(".owner"), "").unwrap();
    std::fs::write(abandoned.join("0000-1"), "partial shard").unwrap();
    let live = dir.path().join(".temp-beam-4000001-1");
    std::fs::create_dir(&live).unwrap();
    let lock = std::fs::File::create(live.join(".owner")).unwrap();
    lock.lock().unwrap();
    let prefix = dir.path().join("out").display().to_string();
    for runner in ["direct", "rayon", "timely"] {
        let p = Pipeline::new(options(runner));
        p.apply("Numbers", Create::of((0..1000).collect::<Vec<i64>>()))
            .unwrap()
            .apply(
                "Fails",
                beam_core::Map::new(|n: &i64| {
                    assert!(*n != 777, "no 777");
                    n.to_string()
                }),
            )
            .unwrap()
            .apply("Write", TextIO::write(&prefix))
            .unwrap();
        let err = p.run().unwrap_err().to_string();
        assert!(err.contains("no 777"), "{err}");
        let left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, [".temp-beam-4000001-1"], "{runner}");
    }
    drop(lock);
}

#[test]
fn bad_output_settings_are_refused_before_any_data_moves() {
    let dir = tempfile::tempdir().unwrap();
    let write = |prefix: String, shards: usize| {
        let p = Pipeline::new(options("direct"));
        p.apply("Lines", Create::of(vec!["a".to_string()]))
            .unwrap()
            .apply("Write", TextIO::write(&prefix).with_num_shards(shards))
            .err()
            .map(|e| e.to_string())
    };
    let err = write(format!("{}/", dir.path().display()), 1).unwrap();
    assert!(err.contains("names a directory"), "{err}");
    let err = write(dir.path().join("out").display().to_string(), 4_294_967_295).unwrap();
    assert!(err.contains("at most 100000"), "{err}");
    let read_only = dir.path().join("ro");
    std::fs::create_dir(&read_only).unwrap();
    let mut perms = std::fs::metadata(&read_only).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o555);
    std::fs::set_permissions(&read_only, perms).unwrap();
    // Root may write anywhere: only check when the directory really is read-only.
    if std::fs::write(read_only.join("probe"), "x").is_err() {
        let err = write(read_only.join("out").display().to_string(), 1).unwrap();
        assert!(err.contains(&read_only.display().to_string()), "{err}");
    }
}

#[test]
fn without_sharding_writes_one_file_named_by_the_prefix() {
    let lines: Vec<String> = (0..5_000).map(|i| format!("line {i:05}")).collect();
    for runner in ["direct", "rayon", "timely"] {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("out").display().to_string();
        let p = Pipeline::new(options(runner));
        p.apply("Lines", Create::of(lines.clone()))
            .unwrap()
            .apply(
                "Write",
                TextIO::write(&prefix)
                    .with_suffix(".txt")
                    .without_sharding(),
            )
            .unwrap();
        p.run().unwrap_or_else(|e| panic!("{runner}: {e}"));
        assert_eq!(files(dir.path()), ["out.txt"], "{runner}");
        let text = std::fs::read_to_string(dir.path().join("out.txt")).unwrap();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            lines,
            "{runner}: sorted, every line once"
        );
    }
    let p = Pipeline::new(options("direct"));
    let written = p.apply("Lines", Create::of(lines)).unwrap().apply(
        "Write",
        TextIO::write("out").without_sharding().with_num_shards(3),
    );
    match written {
        Ok(_) => panic!("one file and 3 shards at once was accepted"),
        Err(e) => assert!(e.to_string().contains("without_sharding"), "{e}"),
    }
}
