//! The wordcount program, run as users run it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wordcount(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wordcount"))
        .args(args)
        .output()
        .expect("wordcount runs")
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wordcount-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Counts computed directly, as the oracle.
fn oracle(texts: &[&str]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for t in texts {
        for line in t.lines() {
            for w in examples::words(line) {
                *m.entry(w).or_insert(0) += 1;
            }
        }
    }
    m
}

fn parse_counts(text: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for line in text.lines() {
        let (w, c) = line.rsplit_once(": ").expect("word: count");
        assert!(
            m.insert(w.to_string(), c.parse().unwrap()).is_none(),
            "{w} twice"
        );
    }
    m
}

fn read_shards(prefix: &Path, n: usize) -> String {
    let mut all = String::new();
    for i in 0..n {
        let name = format!("{}-{i:05}-of-{n:05}", prefix.display());
        all.push_str(&std::fs::read_to_string(&name).unwrap_or_else(|e| panic!("{name}: {e}")));
    }
    all
}

#[test]
fn counts_the_bundled_sample_by_default() {
    let out = wordcount(&["--runner", "direct"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().next(), Some("the: 22"));
    assert_eq!(parse_counts(&stdout), oracle(&[examples::SAMPLE_TEXT]));
}

#[test]
fn writes_sharded_output_for_files_and_globs() {
    let dir = temp_dir("shards");
    let a = "Hello world\r\nhello, Wörld! ΣΊΣΥΦΟΣ\n";
    let b = "world   peace\n\nno trailing newline";
    std::fs::write(dir.join("a.txt"), a).unwrap();
    std::fs::write(dir.join("b.txt"), b).unwrap();
    let prefix = dir.join("counts");
    let glob = format!("{}/*.txt", dir.display());
    let out = wordcount(&[
        "--input",
        &glob,
        "--output",
        prefix.to_str().unwrap(),
        "--num-shards",
        "3",
        "--seed",
        "5",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = parse_counts(&read_shards(&prefix, 3));
    assert_eq!(got, oracle(&[a, b]));
    assert_eq!(got["σίσυφος"], 1);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(".temp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // One shard, checks off: the same counts.
    let single = dir.join("single");
    let out = wordcount(&[
        "--input",
        dir.join("a.txt").to_str().unwrap(),
        "--output",
        single.to_str().unwrap(),
        "--num-shards",
        "1",
        "--no-checks",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(parse_counts(&read_shards(&single, 1)), oracle(&[a]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_input_is_an_error_naming_the_path() {
    for input in ["/no/such/file.txt", "/no/such/dir/*.txt"] {
        let out = wordcount(&["--input", input]);
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with("error: ") && stderr.contains(input),
            "{stderr}"
        );
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{stderr}"
        );
    }
}

#[test]
fn unknown_runner_lists_registered_runners() {
    let out = wordcount(&["--runner", "spark"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        stderr.trim(),
        "error: unknown runner 'spark'; registered runners: direct, rayon, timely"
    );
}
