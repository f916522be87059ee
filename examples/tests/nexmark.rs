//! Every Nexmark query gives the same results on direct, rayon and timely
//! (two workers) for a bounded run.

use std::process::Command;

fn results(query: u32, runner: &[&str], dir: &std::path::Path) -> Vec<String> {
    let prefix = dir.join(format!("q{query}-{}", runner.join("-")));
    let out = Command::new(env!("CARGO_BIN_EXE_nexmark"))
        .args([
            "--query",
            &query.to_string(),
            "--events",
            "30000",
            "--runner",
        ])
        .args(runner)
        .arg("--output")
        .arg(&prefix)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "q{query} {runner:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = prefix.file_name().unwrap().to_string_lossy().to_string();
    lines_of(dir, &name)
}

#[test]
fn every_query_agrees_on_every_runner() {
    let dir = tempfile::tempdir().unwrap();
    for q in examples::nexmark::QUERIES {
        let direct = results(q, &["direct"], dir.path());
        assert!(!direct.is_empty(), "q{q} has no results");
        assert_eq!(direct, results(q, &["rayon"], dir.path()), "q{q} on rayon");
        assert_eq!(
            direct,
            results(q, &["timely", "--workers", "2"], dir.path()),
            "q{q} on timely"
        );
    }
}

/// Lines a run wrote to shards named after `prefix` (the completion marker aside).
fn lines_of(dir: &std::path::Path, name: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if file.starts_with(&format!("{name}-")) {
            lines.extend(
                std::fs::read_to_string(&path)
                    .unwrap()
                    .lines()
                    .map(String::from),
            );
        }
    }
    lines.sort();
    lines
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nexmark"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Every query runs as a stream (`--rate`), with and without `--output`;
/// the joins of queries 3, 4 and 6 give the bounded run's results (their
/// aggregations add running panes, whose final pane is the bounded result).
#[test]
fn every_query_runs_as_a_stream_and_the_joins_agree_with_the_bounded_run() {
    let dir = tempfile::tempdir().unwrap();
    for q in examples::nexmark::QUERIES {
        let q = q.to_string();
        let common = [
            "--query",
            &q,
            "--runner",
            "timely",
            "--workers",
            "2",
            "--events",
            "4000",
        ];
        let printed = run(&[&common[..], &["--rate", "8000"]].concat());
        assert!(printed.contains("latency"), "q{q}: {printed}");
        let stream = dir.path().join(format!("s{q}"));
        run(&[
            &common[..],
            &["--rate", "8000", "--output", stream.to_str().unwrap()],
        ]
        .concat());
        let streamed = lines_of(dir.path(), &format!("s{q}"));
        if q == "3" || q == "4" || q == "6" {
            let bounded = dir.path().join(format!("b{q}"));
            run(&[
                &common[..],
                &[
                    "--event-rate",
                    "8000",
                    "--output",
                    bounded.to_str().unwrap(),
                ],
            ]
            .concat());
            let bounded = lines_of(dir.path(), &format!("b{q}"));
            assert!(!bounded.is_empty(), "q{q}");
            let mut distinct = streamed.clone();
            distinct.dedup();
            if q == "3" {
                assert_eq!(streamed, bounded, "q3 as a stream");
            } else {
                assert!(
                    bounded.iter().all(|l| distinct.binary_search(l).is_ok()),
                    "q{q}: the stream's panes lack bounded results"
                );
            }
        }
    }
}
