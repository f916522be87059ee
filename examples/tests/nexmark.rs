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
