//! The same programs give the same output on the direct, rayon and timely
//! runners, with several threads and as a two-process timely cluster.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().expect("example runs");
    assert!(
        out.status.success(),
        "{bin} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn examples_agree_on_direct_rayon_and_timely() {
    // window_ops is left out: its count-triggered global panes depend on bundling.
    for bin in [
        env!("CARGO_BIN_EXE_wordcount"),
        env!("CARGO_BIN_EXE_user_sessions"),
        env!("CARGO_BIN_EXE_fraud_alert"),
        env!("CARGO_BIN_EXE_risk_scoring"),
    ] {
        let direct = run(bin, &["--runner", "direct"]);
        for threads in ["1", "2", "3"] {
            let rayon = run(bin, &["--runner", "rayon", "--parallelism", threads]);
            assert_eq!(direct, rayon, "{bin} with {threads} threads");
            let timely = run(bin, &["--runner", "timely", "--workers", threads]);
            assert_eq!(direct, timely, "{bin} on timely with {threads} workers");
        }
    }
}

#[test]
fn window_ops_agree_except_count_triggered_panes() {
    let bin = env!("CARGO_BIN_EXE_window_ops");
    let keep = |s: String| {
        s.lines()
            .filter(|l| !l.starts_with("global"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        keep(run(bin, &["--runner", "direct"])),
        keep(run(bin, &["--runner", "rayon"]))
    );
}

/// Sorted lines, for comparing the union of several processes' outputs
/// (without the lines timely's networking prints on standard output while
/// peers connect).
fn sorted_lines<'a>(outputs: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut lines: Vec<String> = outputs
        .into_iter()
        .flat_map(|o| o.lines().map(String::from))
        .filter(|l| {
            !l.starts_with("awaiting connections") && !l.contains("error connecting to worker")
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn two_process_timely_cluster_matches_one_worker() {
    // Two free ports on the loopback interface.
    let ports: Vec<u16> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect::<Vec<_>>()
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts.txt");
    std::fs::write(
        &hosts,
        format!("127.0.0.1:{}\n127.0.0.1:{}\n", ports[0], ports[1]),
    )
    .unwrap();
    for bin in [
        env!("CARGO_BIN_EXE_wordcount"),
        env!("CARGO_BIN_EXE_user_sessions"),
    ] {
        let single = run(bin, &["--runner", "timely", "--workers", "1"]);
        let children: Vec<_> = (0..2)
            .map(|i| {
                Command::new(bin)
                    .args(["--runner", "timely", "--workers", "2", "--processes", "2"])
                    .args(["--process-index", &i.to_string(), "--hosts"])
                    .arg(&hosts)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // A dead peer must not hang the test.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut outputs = Vec::new();
        for mut child in children {
            while child.try_wait().unwrap().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    panic!("{bin}: a cluster process did not finish in time");
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{bin}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            outputs.push(String::from_utf8(out.stdout).unwrap());
        }
        assert_eq!(
            sorted_lines(&outputs),
            sorted_lines([&single]),
            "{bin}: the two processes together print what one worker prints"
        );
    }
}
