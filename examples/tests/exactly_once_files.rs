//! The exactly-once file sink on the timely runner, under crashes: a
//! streaming pipeline (a stateful DoFn with event-time timers, sliding
//! windows, a side input) writing windowed files is killed at seeded random
//! moments (after each run's first checkpoint) and made to abort at named failure points (after a checkpoint's
//! parts are written but not its manifest; after a checkpoint is published
//! but before the sink publishes; half-way through the sink's publish), and
//! restarted from its latest checkpoint each time. Every file that ever
//! becomes visible is whole (byte for byte the uninterrupted run's file of
//! that name) and is never written again, and the final output is exactly
//! the uninterrupted run's.
//!
//! The pipeline runs in a child process: this test binary started again with
//! `EXACTLY_ONCE_CHILD` set, so that it can be killed.
#![cfg(unix)]

mod common;

use beam_core::{
    DoFn, Duration, FlatMap, PCollectionView, ParDo, Pipeline, PipelineOptions, ProcessContext,
    ReadUnbounded, StateContext, StatefulDoFn, StatefulParDo, Sum, UserResult, View, WindowFn,
    WindowInto,
};
use common::{checkpoints, text, wait, KillDelays, Tally};
use examples::nexmark::Event;
use examples::nexmark::NexmarkStream;
use io_connectors::TextIO;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const EVENTS: u64 = 240_000;
const RATE: u64 = 20_000;
const KEYS: u64 = 12;

/// Sums each key's bid prices per 250 ms window, emitted by an event-time
/// timer at the window's end.
#[derive(Clone)]
struct SumAtWindowEnd;

impl StatefulDoFn for SumAtWindowEnd {
    type Key = u64;
    type Value = u64;
    type Out = (u64, u64);
    fn process(
        &mut self,
        _key: &u64,
        price: &u64,
        ctx: &mut StateContext<'_, u64, (u64, u64)>,
    ) -> UserResult {
        let mut sum = ctx.value_state::<u64>("sum")?;
        let total = sum.read().unwrap_or(0) + price;
        sum.write(total);
        let end = ctx.window().max_timestamp();
        ctx.set_event_timer("end", end)
    }
    fn on_timer(
        &mut self,
        key: &u64,
        _timer: &str,
        ctx: &mut StateContext<'_, u64, (u64, u64)>,
    ) -> UserResult {
        if let Some(total) = ctx.value_state::<u64>("sum")?.read() {
            ctx.output((*key, total));
        }
        ctx.value_state::<u64>("sum")?.clear();
        Ok(())
    }
}

/// Names each key through a side input, with the window it is in.
#[derive(Clone)]
struct Label {
    names: PCollectionView<beam_core::side_input::MapView<u64, String>>,
}

impl DoFn for Label {
    type In = (u64, u64);
    type Out = String;
    fn process(&mut self, kv: &(u64, u64), ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let name = ctx
            .side_input(&self.names)?
            .get(&kv.0)
            .cloned()
            .unwrap_or_default();
        let window = format!("{:?}", ctx.window());
        ctx.output(format!("{window} {name} {}", kv.1));
        Ok(())
    }
}

/// The child: runs the pipeline with the options in `args`, the stream due
/// from wall-clock time `start` (µs), writing under `out`.
fn child(args: &[String], start: i64, out: &str) -> beam_core::Result<()> {
    let options = PipelineOptions::from_args(
        std::iter::once("child".to_string()).chain(args.iter().cloned()),
    )
    .map_err(|e| beam_core::BeamError::Options(e.to_string()))?;
    let p = Pipeline::new(options);
    let names = p
        .apply(
            "Names",
            beam_core::Create::of(
                (0..KEYS)
                    .map(|k| (k, format!("key-{k}")))
                    .collect::<Vec<_>>(),
            ),
        )?
        .apply("NamesView", View::as_map())?;
    p.apply(
        "Events",
        ReadUnbounded::from(NexmarkStream::new(EVENTS, RATE, start)),
    )?
    .apply(
        "Prices",
        FlatMap::new(|e: &Event| match e {
            Event::Bid(b) => vec![(b.auction % KEYS, b.price)],
            _ => Vec::new(),
        }),
    )?
    .apply(
        "Quarters",
        WindowInto::new(WindowFn::fixed(Duration::from_millis(250))),
    )?
    .apply("SumAtWindowEnd", StatefulParDo::of(SumAtWindowEnd))?
    .apply(
        "Sliding",
        WindowInto::new(WindowFn::sliding(
            Duration::from_secs(1),
            Duration::from_millis(250),
        )),
    )?
    .apply("SumPerKey", Sum::per_key())?
    .apply(
        "Label",
        ParDo::of(Label {
            names: names.clone(),
        })
        .with_side_input(&names),
    )?
    .apply(
        "Write",
        TextIO::write(out).with_windowed_writes().with_num_shards(6),
    )?;
    p.run()?;
    Ok(())
}

/// The test binary again, running only the child.
fn spawn_child(args: &[String], start: i64, out: &Path, failpoints: Option<&str>) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "exactly_once_files_survive_kills_and_failure_points",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env("EXACTLY_ONCE_CHILD", args.join("\n"))
    .env("EXACTLY_ONCE_START", start.to_string())
    .env("EXACTLY_ONCE_OUT", out.join("out"))
    .env("RUST_BACKTRACE", "0")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    match failpoints {
        Some(f) => c.env("FAILPOINTS", f),
        None => c.env_remove("FAILPOINTS"),
    };
    c
}

/// The visible files under `dir` (not hidden ones): name → (inode, bytes).
fn visible(dir: &Path) -> HashMap<String, (u64, Vec<u8>)> {
    let mut files = HashMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') || !path.is_file() {
            continue;
        }
        // A file can be renamed over between the listing and the read only if
        // it is written twice, which the checks below catch.
        let inode = std::fs::metadata(&path).unwrap().ino();
        files.insert(name, (inode, std::fs::read(&path).unwrap()));
    }
    files
}

/// The lines of `name`'s window in every visible file, and in the
/// uninterrupted run's files, sorted.
fn window_diff(
    name: &str,
    visible: &HashMap<String, (u64, Vec<u8>)>,
    expected: &HashMap<String, Vec<u8>>,
) -> String {
    let window = &name[..name.find("-pane").unwrap_or(name.len())];
    let lines = |files: Vec<(&String, &Vec<u8>)>| {
        let mut l: Vec<String> = files
            .into_iter()
            .filter(|(n, _)| n.starts_with(window))
            .flat_map(|(_, b)| {
                String::from_utf8_lossy(b)
                    .lines()
                    .map(String::from)
                    .collect::<Vec<_>>()
            })
            .collect();
        l.sort();
        l.join("\n")
    };
    format!(
        "{}\nexpected:\n{}",
        lines(visible.iter().map(|(n, (_, b))| (n, b)).collect()),
        lines(expected.iter().collect())
    )
}

fn now_micros() -> i64 {
    beam_core::Timestamp::wall_clock().as_micros()
}

#[test]
fn exactly_once_files_survive_kills_and_failure_points() {
    if let Ok(args) = std::env::var("EXACTLY_ONCE_CHILD") {
        let args: Vec<String> = args.lines().map(String::from).collect();
        let start: i64 = std::env::var("EXACTLY_ONCE_START")
            .unwrap()
            .parse()
            .unwrap();
        let out = std::env::var("EXACTLY_ONCE_OUT").unwrap();
        match child(&args, start, &out) {
            Ok(()) => std::process::exit(0),
            Err(e) => {
                eprintln!("child failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let root = tempfile::tempdir().unwrap();
    let golden_dir = root.path().join("golden");
    let out_dir = root.path().join("restored");
    let ckpt = root.path().join("checkpoints");
    std::fs::create_dir_all(&golden_dir).unwrap();
    std::fs::create_dir_all(&out_dir).unwrap();
    let base: Vec<String> = ["--runner", "timely", "--workers", "2"]
        .iter()
        .map(|s| s.to_string())
        .collect();

    // Uninterrupted, every event due at once.
    let golden = wait(
        spawn_child(&base, now_micros() - 3_600_000_000, &golden_dir, None)
            .spawn()
            .unwrap(),
    );
    assert!(golden.status.success(), "{}", text(&golden));
    let expected: HashMap<String, Vec<u8>> = visible(&golden_dir)
        .into_iter()
        .map(|(name, (_, bytes))| (name, bytes))
        .collect();
    assert!(expected.len() > 20, "{} files", expected.len());

    // The stream is due over 12 s of the runs' lifetimes, whichever run reads
    // it; each run is killed (a moment after its first checkpoint), or aborts
    // at a failure point, and the next restores from the latest checkpoint.
    let mut args = base.clone();
    args.extend([
        "--checkpoint-dir".to_string(),
        ckpt.display().to_string(),
        "--checkpoint-interval".to_string(),
        "200ms".to_string(),
        // Every bundle of a later epoch that reaches a keyed step early
        // waits on disk, not in memory.
        "--early-input-memory".to_string(),
        "0".to_string(),
    ]);
    // The stream keeps pace with the runs' lifetimes, not the wall clock:
    // each run's start is moved back by the time the earlier runs lived, so
    // the time between runs (and a slow machine) does not use the stream up.
    let mut lived = std::time::Duration::ZERO;
    let start_now = |lived: std::time::Duration| now_micros() - lived.as_micros() as i64;
    let mut delays = KillDelays::new(0x5eed_0fc0_ffee, 50, 500);
    // The failure points come early, while most of the stream is ahead.
    let plan: Vec<Option<&str>> = vec![
        Some("checkpoint-parts-written=2*off->return"),
        None,
        Some("checkpoint-published=1*off->return"),
        None,
        Some("publish-partly=return"),
        None,
        None,
        None,
        None,
        None,
        None,
        None,
        None,
    ];
    let mut seen: HashMap<String, u64> = HashMap::new();
    let (mut tally, mut restores) = (Tally::default(), 0);
    for (attempt, failpoints) in plan.iter().enumerate() {
        let mut run_args = args.clone();
        if !checkpoints(&ckpt).is_empty() {
            run_args.extend(["--restore-from".to_string(), "latest".to_string()]);
            restores += 1;
        }
        let born = std::time::Instant::now();
        let child = spawn_child(&run_args, start_now(lived), &out_dir, *failpoints)
            .spawn()
            .unwrap();
        let ended = tally.record(common::attempt_after_checkpoint(
            child,
            *failpoints,
            delays.next_delay(),
            attempt,
            &ckpt,
            std::time::Duration::from_secs(30),
        ));
        lived += born.elapsed();
        // Every visible file is whole and was never written again.
        let now_visible = visible(&out_dir);
        for (name, (inode, bytes)) in &now_visible {
            assert!(
                expected.get(name) == Some(bytes),
                "attempt {attempt}: {name} is visible with other contents than the uninterrupted run's; its window's lines:\n{}",
                window_diff(name, &now_visible, &expected)
            );
            if let Some(before) = seen.insert(name.clone(), *inode) {
                assert_eq!(
                    before, *inode,
                    "attempt {attempt}: {name} was written again"
                );
            }
        }
        if ended {
            break;
        }
    }
    assert!(tally.kills >= 8 && tally.aborts == 3, "{tally:?}");
    assert!(restores >= 10, "{restores} restores");

    let mut last_args = args.clone();
    last_args.extend(["--restore-from".to_string(), "latest".to_string()]);
    let last = wait(
        spawn_child(&last_args, start_now(lived), &out_dir, None)
            .spawn()
            .unwrap(),
    );
    assert!(last.status.success(), "{}", text(&last));
    let got = visible(&out_dir);
    for (name, (inode, _)) in &got {
        if let Some(before) = seen.get(name) {
            assert_eq!(before, inode, "{name} was written again by the last run");
        }
    }
    let got: HashMap<String, Vec<u8>> = got.into_iter().map(|(n, (_, b))| (n, b)).collect();
    let mut missing: Vec<&String> = expected.keys().filter(|n| !got.contains_key(*n)).collect();
    let mut extra: Vec<&String> = got.keys().filter(|n| !expected.contains_key(*n)).collect();
    missing.sort();
    extra.sort();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    assert!(
        got == expected,
        "a file differs from the uninterrupted run's"
    );
    let staging: Vec<PathBuf> = std::fs::read_dir(out_dir.join(".out.beam-staging"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    assert!(staging.is_empty(), "left staged: {staging:?}");
}
