//! The user-defined logfmt source and Markdown sink give the same table on every
//! runner, count every well-formed line once, and report the malformed ones.

use std::process::Command;

#[test]
fn same_table_on_every_runner_and_malformed_lines_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut tables = Vec::new();
    for runner in ["direct", "rayon", "timely"] {
        let prefix = dir.path().join(runner).display().to_string();
        let out = Command::new(env!("CARGO_BIN_EXE_custom_connector"))
            .args([
                "--runner",
                runner,
                "--parallelism",
                "2",
                "--output",
                &prefix,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{runner}: {stderr}");
        assert!(
            stderr.contains("access.logfmt:38:") && stderr.contains("access.logfmt:89:"),
            "{stderr}"
        );
        tables.push(std::fs::read_to_string(format!("{prefix}-00000-of-00001.md")).unwrap());
    }
    assert_eq!(tables[0], tables[1]);
    assert_eq!(tables[0], tables[2]);
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/access.logfmt"))
            .unwrap();
    let total: u64 = tables[0]
        .lines()
        .skip(2)
        .map(|l| l.split('|').nth(2).unwrap().trim().parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, sample.lines().count() as u64 - 2);
    let counts: Vec<u64> = tables[0]
        .lines()
        .skip(2)
        .map(|l| l.split('|').nth(2).unwrap().trim().parse().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] >= w[1]),
        "busiest first: {counts:?}"
    );
}
