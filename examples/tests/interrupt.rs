//! Ctrl-C (SIGINT) or SIGTERM during a spilling run on the rayon runner
//! removes the spill files and exits with 130 or 143.
#![cfg(unix)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn interrupting_a_spilling_run_removes_its_spill_files() {
    interrupt_spilling_run("-INT", 130);
}

#[test]
fn terminating_a_spilling_run_removes_its_spill_files_and_exits_143() {
    interrupt_spilling_run("-TERM", 143);
}

fn interrupt_spilling_run(signal: &str, want: i32) {
    let temp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench_grouping"))
        .args([
            "--pairs",
            "200000000",
            "--keys",
            "1000000",
            "--runner",
            "rayon",
        ])
        .args([
            "--memory-budget",
            "4MiB",
            "--parallelism",
            "2",
            "--temp-dir",
        ])
        .arg(temp.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first spill file.
    let deadline = Instant::now() + Duration::from_secs(120);
    let spilled = loop {
        let files = walk(temp.path());
        if files > 0 {
            break true;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(spilled, "the run never spilled");
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(want),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("interrupted"));
    assert_eq!(walk(temp.path()), 0, "spill files left behind");
}

/// Entries under `dir`, recursively.
fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    1 + if e.path().is_dir() {
                        walk(&e.path())
                    } else {
                        0
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// SIGTERM and SIGINT end a writing run on the direct and timely runners
/// too: status 143 or 130, and the sink's temporary directory is gone.
#[test]
fn signals_stop_writing_runs_on_direct_and_timely_without_leaving_files() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("words.txt");
    let line = "the quick brown fox jumps over the lazy dog again and again\n";
    std::fs::write(&input, line.repeat(400_000)).unwrap();
    for (runner, signal, want) in [("direct", "-TERM", 143), ("timely", "-INT", 130)] {
        let out_dir = dir.path().join(format!("out-{runner}"));
        std::fs::create_dir(&out_dir).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_wordcount"))
            .args(["--runner", runner, "--input"])
            .arg(&input)
            .arg("--output")
            .arg(out_dir.join("counts"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The sink's temporary directory exists once the pipeline is built.
        let deadline = Instant::now() + Duration::from_secs(60);
        while walk(&out_dir) == 0 {
            assert!(
                Instant::now() < deadline,
                "{runner}: no temporary directory"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            child.try_wait().unwrap().is_none(),
            "{runner} ended too soon"
        );
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(want), "{runner}: {stderr}");
        assert_eq!(walk(&out_dir), 0, "{runner} left files behind: {stderr}");
    }
}
