//! The slowly updating side input: a PeriodicImpulse re-reads a file, a
//! global-window view with a repeated trigger follows the latest read, and a
//! stream reads the view while the file changes under it. On direct and on
//! timely with 2 workers; every main tick is read exactly once.

use beam_core::side_input::SingletonView;
use beam_core::{
    AccumulationMode, DoFn, Duration, Map, Max, OnTimeBehavior, PCollectionView, ParDo,
    PeriodicImpulse, Pipeline, PipelineOptions, ProcessContext, Timestamp, Trigger, UserResult,
    View, WindowFn, WindowInto,
};
use runner_direct as _;
use runner_timely as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What the main input read: (tick in µs, config value).
type Seen = Arc<Mutex<Vec<(i64, String)>>>;

#[derive(Clone)]
struct ReadConfig {
    view: PCollectionView<SingletonView<Option<(Timestamp, String)>>>,
    seen: Seen,
}

impl DoFn for ReadConfig {
    type In = Timestamp;
    type Out = ();
    fn process(&mut self, tick: &Timestamp, ctx: &mut ProcessContext<'_, ()>) -> UserResult {
        let Some((_, config)) = ctx.side_input(&self.view)? else {
            return Err(beam_core::UserError::msg("a firing without a read"));
        };
        self.seen
            .lock()
            .unwrap()
            .push((tick.as_micros(), config.clone()));
        Ok(())
    }
}

/// Replaces `path`'s contents in one step, so a reader sees one or the other.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn run(runner: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let config: PathBuf = dir.path().join("config.txt");
    write_atomically(&config, "v1");
    let seen: Seen = Arc::default();

    let mut args = vec!["test"];
    args.extend_from_slice(runner);
    let p = Pipeline::new(PipelineOptions::from_args(args.iter().map(|s| s.to_string())).unwrap());
    let start = Timestamp::wall_clock() + Duration::from_millis(100);
    let stop = start + Duration::from_millis(2500);
    let path = config.clone();
    let view = p
        .apply(
            "ConfigTicks",
            PeriodicImpulse::every(Duration::from_millis(50))
                .starting_at(start)
                .stopping_at(stop),
        )
        .unwrap()
        .apply(
            "ReadConfig",
            Map::new(move |tick: &Timestamp| {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                (*tick, text.trim().to_string())
            }),
        )
        .unwrap()
        .apply(
            "EveryRead",
            WindowInto::new(WindowFn::Global)
                .triggering(
                    Trigger::repeatedly(Trigger::after_count(1)),
                    AccumulationMode::Discarding,
                    Duration::ZERO,
                )
                // No empty pane when the stream ends (its Max would be None).
                .with_on_time_behavior(OnTimeBehavior::FireIfNonEmpty),
        )
        .unwrap()
        // Of the reads a firing brings, the latest.
        .apply("LatestRead", Max::globally())
        .unwrap()
        .apply("Config", View::as_singleton())
        .unwrap();
    p.apply(
        "Events",
        PeriodicImpulse::every(Duration::from_millis(10))
            .starting_at(start)
            .stopping_at(stop),
    )
    .unwrap()
    .apply(
        "Use",
        ParDo::of(ReadConfig {
            view: view.clone(),
            seen: seen.clone(),
        })
        .with_side_input(&view),
    )
    .unwrap();

    // Once the stream has read "v1", the file changes.
    let watcher = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !seen.lock().unwrap().iter().any(|(_, c)| c == "v1") {
                assert!(std::time::Instant::now() < deadline, "v1 never read");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            write_atomically(&config, "v2");
        })
    };
    p.run().expect("the run succeeds");
    watcher.join().unwrap();

    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    let ticks: Vec<i64> = seen.iter().map(|(t, _)| *t).collect();
    let want: Vec<i64> = (0..250)
        .map(|i| (start + Duration::from_millis(10 * i)).as_micros())
        .collect();
    assert_eq!(ticks, want, "every tick read once");
    assert!(seen.iter().any(|(_, c)| c == "v1"));
    assert!(seen.iter().all(|(_, c)| c == "v1" || c == "v2"), "{seen:?}");
    // The file changed early in the run; the end of the stream reads the new value.
    let last = &seen[seen.len() - 1].1;
    assert_eq!(last, "v2", "the view follows the file");
}

#[test]
fn a_periodically_reread_view_follows_the_file_on_direct() {
    run(&["--runner", "direct"]);
}

#[test]
fn a_periodically_reread_view_follows_the_file_on_timely() {
    run(&["--runner", "timely", "--parallelism", "2"]);
}

#[test]
fn timely_refuses_checkpoints_of_a_view_of_a_stream_before_any_data_moves() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("checkpoints");
    let args = [
        "test",
        "--runner",
        "timely",
        "--checkpoint-dir",
        ckpt.to_str().unwrap(),
    ];
    let p = Pipeline::new(PipelineOptions::from_args(args.iter().map(|s| s.to_string())).unwrap());
    let view = p
        .apply("Ticks", PeriodicImpulse::every(Duration::from_millis(10)))
        .unwrap()
        .apply(
            "Fixed",
            WindowInto::new(WindowFn::fixed(Duration::from_secs(1))),
        )
        .unwrap()
        .apply("Latest", Max::globally().without_defaults())
        .unwrap()
        .apply("View", View::as_singleton())
        .unwrap();
    let seen: Seen = Arc::default();
    p.apply("Events", PeriodicImpulse::every(Duration::from_millis(10)))
        .unwrap()
        .apply(
            "Use",
            ParDo::of(ReadTick {
                view: view.clone(),
                seen: seen.clone(),
            })
            .with_side_input(&view),
        )
        .unwrap();
    let err = p.run().expect_err("refused").to_string();
    assert!(
        err.contains("Use") && err.contains("view of a stream") && err.contains("checkpoints"),
        "{err}"
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[derive(Clone)]
struct ReadTick {
    view: PCollectionView<SingletonView<Option<Timestamp>>>,
    seen: Seen,
}

impl DoFn for ReadTick {
    type In = Timestamp;
    type Out = ();
    fn process(&mut self, tick: &Timestamp, ctx: &mut ProcessContext<'_, ()>) -> UserResult {
        let side = ctx.side_input(&self.view)?;
        self.seen
            .lock()
            .unwrap()
            .push((tick.as_micros(), format!("{side:?}")));
        Ok(())
    }
}
