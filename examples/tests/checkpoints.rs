//! Crash recovery on the timely runner: Nexmark queries killed (SIGKILL) at
//! seeded random moments and restarted from their latest checkpoint until they
//! finish give exactly the output of an uninterrupted run, also in a
//! two-process cluster that lost a process and on another worker count
//! (2, then 3, then 1); a damaged newest checkpoint is fallen back from; a
//! checkpoint of another pipeline is refused.
#![cfg(unix)]

mod common;

use common::{checkpoints, hosts_file, text, wait, KillDelays};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_nexmark");

fn query_args(query: u32, output: &Path) -> Vec<String> {
    args_with(query, output, 200_000, 2)
}

fn args_with(query: u32, output: &Path, events: u64, workers: usize) -> Vec<String> {
    [
        "--query",
        &query.to_string(),
        "--runner",
        "timely",
        "--workers",
        &workers.to_string(),
        "--rate",
        "50000",
        "--events",
        &events.to_string(),
        "--event-rate",
        "1000",
        "--output",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("{}/out", output.display())])
    .collect()
}

fn command(args: &[String], extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs `c` to its end (see [`wait`]).
fn finish(mut c: Command) -> Output {
    wait(c.spawn().unwrap())
}

/// Every line of the files under `dir` (not hidden ones), sorted.
fn lines(dir: &Path) -> Vec<String> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.starts_with('.') && path.is_file() {
            all.extend(
                std::fs::read_to_string(&path)
                    .unwrap()
                    .lines()
                    .map(String::from),
            );
        }
    }
    all.sort();
    all
}

/// A temporary directory holding an uninterrupted run of `query` (2 workers),
/// with where a restored run writes and checkpoints: (the directory, the
/// output, the checkpoints, the uninterrupted run's sorted lines).
fn uninterrupted(query: u32) -> (tempfile::TempDir, PathBuf, PathBuf, Vec<String>) {
    let root = tempfile::tempdir().unwrap();
    let golden_dir = root.path().join("golden");
    let out_dir = root.path().join("restored");
    let ckpt = root.path().join("checkpoints");
    std::fs::create_dir_all(&golden_dir).unwrap();
    std::fs::create_dir_all(&out_dir).unwrap();
    let golden = finish(command(&query_args(query, &golden_dir), &[]));
    assert!(golden.status.success(), "{}", text(&golden));
    let expected = lines(&golden_dir);
    assert!(!expected.is_empty());
    (root, out_dir, ckpt, expected)
}

fn killed_and_restored_equals_uninterrupted(query: u32, seed: u64, damage_newest: bool) {
    let (_root, out_dir, ckpt, expected) = uninterrupted(query);

    let args = query_args(query, &out_dir);
    let ckpt_args = [
        "--checkpoint-dir",
        ckpt.to_str().unwrap(),
        "--checkpoint-interval",
        "250ms",
    ];
    let mut delays = KillDelays::new(seed, 600, 1900);
    let mut kills = 0;
    for _ in 0..4 {
        let mut extra = ckpt_args.to_vec();
        if !checkpoints(&ckpt).is_empty() {
            extra.extend(["--restore-from", "latest"]);
        }
        let mut child = command(&args, &extra).spawn().unwrap();
        std::thread::sleep(delays.next_delay());
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
    }
    assert!(kills > 0, "the run ended before any kill");
    let published = checkpoints(&ckpt);
    assert!(
        !published.is_empty(),
        "no checkpoint was published before the kills"
    );
    if damage_newest && published.len() >= 2 {
        // Flip a byte of a part of the newest: it must be fallen back from.
        let newest = published.last().unwrap();
        let part = std::fs::read_dir(newest)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "state"))
            .unwrap();
        let mut bytes = std::fs::read(&part).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x5a;
        std::fs::write(&part, bytes).unwrap();
    }
    let mut extra = ckpt_args.to_vec();
    extra.extend(["--restore-from", "latest"]);
    let last = finish(command(&args, &extra));
    assert!(last.status.success(), "{}", text(&last));
    let log = String::from_utf8_lossy(&last.stderr);
    assert!(log.contains("restoring checkpoint"), "{log}");
    if damage_newest && published.len() >= 2 {
        assert!(
            log.contains("instead of newer ones that do not verify") && log.contains("damaged"),
            "{log}"
        );
    }
    let got = lines(&out_dir);
    assert_eq!(
        got.len(),
        expected.len(),
        "query {query}: {kills} kills; {}",
        text(&last)
    );
    assert!(
        got == expected,
        "query {query}: output differs after {kills} kills"
    );
}

#[test]
fn stateful_join_killed_and_restored_equals_an_uninterrupted_run() {
    killed_and_restored_equals_uninterrupted(3, 7, false);
}

#[test]
fn windowed_join_killed_and_restored_with_a_damaged_newest_checkpoint() {
    killed_and_restored_equals_uninterrupted(8, 11, true);
}

#[test]
fn another_pipeline_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let out_dir = root.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let ckpt = root.path().join("checkpoints");
    let args = args_with(1, &out_dir, 40_000, 2);
    let ckpt_args = [
        "--checkpoint-dir",
        ckpt.to_str().unwrap(),
        "--checkpoint-interval",
        "100ms",
    ];
    let first = finish(command(&args, &ckpt_args));
    assert!(first.status.success(), "{}", text(&first));
    assert!(!checkpoints(&ckpt).is_empty());
    let mut restore = ckpt_args.to_vec();
    restore.extend(["--restore-from", "latest"]);
    let out = finish(command(&args_with(2, &out_dir, 40_000, 2), &restore));
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("another pipeline") && all.contains("its step"),
        "{all}"
    );
}

/// Query `query` killed on 2 workers, restored on 3 and killed, restored on
/// 1 to the end: the output of an uninterrupted run.
fn rescaled_2_3_1_equals_uninterrupted(query: u32, seed: u64) {
    let (_root, out_dir, ckpt, expected) = uninterrupted(query);
    let ckpt_args = [
        "--checkpoint-dir",
        ckpt.to_str().unwrap(),
        "--checkpoint-interval",
        "200ms",
    ];
    let mut delays = KillDelays::new(seed, 600, 1900);
    for (i, workers) in [2usize, 3].into_iter().enumerate() {
        let mut extra = ckpt_args.to_vec();
        if i > 0 {
            extra.extend(["--restore-from", "latest"]);
        }
        let args = args_with(query, &out_dir, 200_000, workers);
        let before = checkpoints(&ckpt).last().cloned();
        let mut child = command(&args, &extra).spawn().unwrap();
        // Killed at a random moment after this run published a checkpoint.
        let start = std::time::Instant::now();
        while checkpoints(&ckpt).last() == before.as_ref() {
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run on {workers} workers ended before its first checkpoint"
            );
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no checkpoint in 60 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(delays.next_delay() / 3);
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run on {workers} workers ended before its kill"
        );
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let mut extra = ckpt_args.to_vec();
    extra.extend(["--restore-from", "latest"]);
    let last = finish(command(&args_with(query, &out_dir, 200_000, 1), &extra));
    assert!(last.status.success(), "{}", text(&last));
    let log = String::from_utf8_lossy(&last.stderr);
    assert!(
        log.contains("taken with 3 workers; its state is spread over 1"),
        "{log}"
    );
    let got = lines(&out_dir);
    assert_eq!(got.len(), expected.len(), "query {query}: {}", text(&last));
    assert!(
        got == expected,
        "query {query}: output differs after 2 → 3 → 1 workers"
    );
}

#[test]
fn stateful_join_restored_on_3_then_1_workers_equals_an_uninterrupted_run() {
    rescaled_2_3_1_equals_uninterrupted(3, 5);
}

#[test]
fn windowed_join_restored_on_3_then_1_workers_equals_an_uninterrupted_run() {
    rescaled_2_3_1_equals_uninterrupted(8, 13);
}

#[test]
fn a_cluster_with_a_killed_process_restarts_from_its_checkpoint() {
    // The same two workers in one process.
    let (root, out_dir, ckpt, expected) = uninterrupted(3);

    let cluster = |index: usize, hosts: &Path, restore: bool| {
        let mut c = command(
            &args_with(3, &out_dir, 200_000, 1),
            &[
                "--processes",
                "2",
                "--process-index",
                &index.to_string(),
                "--checkpoint-dir",
                ckpt.to_str().unwrap(),
                "--checkpoint-interval",
                "250ms",
                "--cluster-timeout",
                "30",
            ],
        );
        c.arg("--hosts").arg(hosts);
        if restore {
            c.args(["--restore-from", "latest"]);
        }
        c
    };
    let (hosts, _) = hosts_file(root.path());
    let survivor = cluster(0, &hosts, false).spawn().unwrap();
    let mut victim = cluster(1, &hosts, false).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(2200));
    victim.kill().unwrap();
    victim.wait().unwrap();
    let out = survivor.wait_with_output().unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        !checkpoints(&ckpt).is_empty(),
        "no checkpoint before the kill"
    );

    // Both processes restart from the latest checkpoint. A restart that fails
    // (a port taken meanwhile by another test, on a loaded machine) is tried
    // once more, on fresh ports, from the latest checkpoint again.
    let restart = || {
        let (hosts, _) = hosts_file(root.path());
        let other = cluster(1, &hosts, true).spawn().unwrap();
        let first = finish(cluster(0, &hosts, true));
        (first, other.wait_with_output().unwrap())
    };
    let (mut first, mut second) = restart();
    if !(first.status.success() && second.status.success()) {
        eprintln!(
            "the restart failed, once more:\n{}\n{}",
            text(&first),
            text(&second)
        );
        (first, second) = restart();
    }
    assert!(first.status.success(), "{}", text(&first));
    assert!(second.status.success(), "{}", text(&second));
    for out in [&first, &second] {
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(log.contains("restoring checkpoint"), "{log}");
    }
    assert!(
        lines(&out_dir) == expected,
        "the cluster's output differs after the restart"
    );
}

#[test]
fn sigterm_stops_at_a_final_checkpoint_and_a_restore_goes_on_from_it() {
    let (_root, out_dir, ckpt, expected) = uninterrupted(3);

    let args = query_args(3, &out_dir);
    let ckpt_args = [
        "--checkpoint-dir",
        ckpt.to_str().unwrap(),
        "--checkpoint-interval",
        "5s",
    ];
    let child = command(&args, &ckpt_args).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let stopped_at = std::time::Instant::now();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    // A graceful stop: no waiting for the 5 s interval, a clean exit, and a
    // checkpoint to go on from.
    assert!(out.status.success(), "{}", text(&out));
    assert!(stopped_at.elapsed() < Duration::from_secs(4), "{log}");
    assert!(log.contains("stopped at checkpoint"), "{log}");
    assert!(!checkpoints(&ckpt).is_empty(), "{log}");

    let mut extra = ckpt_args.to_vec();
    extra.extend(["--restore-from", "latest"]);
    let last = finish(command(&args, &extra));
    assert!(last.status.success(), "{}", text(&last));
    assert!(
        lines(&out_dir) == expected,
        "the output differs after the stop and restore"
    );
}

#[test]
fn checkpoints_past_their_timeout_fail_the_run_beyond_the_tolerated_count() {
    let root = tempfile::tempdir().unwrap();
    let out_dir = root.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let ckpt = root.path().join("checkpoints");
    // A checkpoint takes milliseconds to complete: with a 1 ms timeout they
    // fail, and none is tolerated.
    let out = finish(command(
        &query_args(7, &out_dir),
        &[
            "--checkpoint-dir",
            ckpt.to_str().unwrap(),
            "--checkpoint-interval",
            "50ms",
            "--checkpoint-timeout",
            "1ms",
            "--tolerable-checkpoint-failures",
            "0",
        ],
    ));
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("did not complete within") && all.contains("--tolerable-checkpoint-failures"),
        "{all}"
    );
}
