//! The README's pipeline is this crate's program, and it runs on every
//! runner with only the library crates as dependencies.

use std::path::Path;
use std::process::Command;

/// The README's first Rust block, and the one that follows the dependency
/// lines.
fn readme_blocks() -> (String, String) {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README.md");
    let block = |fence: &str| {
        let start = readme
            .find(fence)
            .unwrap_or_else(|| panic!("README has a {fence} block"))
            + fence.len();
        let end = readme[start..].find("\n```").expect("the block ends") + start;
        readme[start..end].trim_start_matches('\n').to_string()
    };
    (block("```toml\n"), block("```rust,no_run\n"))
}

#[test]
fn the_readme_shows_this_program_and_its_dependencies() {
    let (deps, code) = readme_blocks();
    let main =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/main.rs")).unwrap();
    assert_eq!(
        code.trim_end(),
        main.trim_end(),
        "the README's pipeline differs from src/main.rs"
    );
    for dep in [
        "beam-core",
        "io-connectors",
        "runner-direct",
        "runner-rayon",
        "runner-timely",
        "clap",
        "anyhow",
    ] {
        assert!(
            deps.contains(dep),
            "the README's dependency lines lack {dep}"
        );
    }
}

#[test]
fn the_program_counts_words_on_every_runner() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "to be or\nnot to be\n").unwrap();
    for runner in ["direct", "rayon", "timely"] {
        let output = dir.path().join(format!("counts-{runner}"));
        let out = Command::new(env!("CARGO_BIN_EXE_readme-pipeline"))
            .args([
                "--input",
                input.to_str().unwrap(),
                "--output",
                output.to_str().unwrap(),
                "--runner",
                runner,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{runner}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let file = dir.path().join(format!("counts-{runner}-00000-of-00001"));
        let mut lines: Vec<String> = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{runner}: {}: {e}", file.display()))
            .lines()
            .map(String::from)
            .collect();
        lines.sort();
        assert_eq!(lines, ["be: 2", "not: 1", "or: 1", "to: 2"], "{runner}");
    }
}

#[test]
fn an_unknown_runner_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "a\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_readme-pipeline"))
        .args(["--input", input.to_str().unwrap(), "--runner", "nonesuch"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nonesuch"), "{err}");
}
