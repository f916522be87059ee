//! Faults of a two-process timely cluster on 127.0.0.1: a process that never
//! starts, a process killed while running, and a stray connection sending
//! garbage during start-up. Each ends with a clear message, never a panic or
//! a hang.
#![cfg(unix)]

mod common;

use common::{hosts_file, text};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn process(bin: &str, index: usize, hosts: &std::path::Path, extra: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.args(["--runner", "timely", "--workers", "1", "--processes", "2"])
        .args(["--process-index", &index.to_string(), "--hosts"])
        .arg(hosts)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn a_process_that_never_starts_is_named_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (hosts, addrs) = hosts_file(dir.path());
    let start = Instant::now();
    let out = process(
        env!("CARGO_BIN_EXE_wordcount"),
        0,
        &hosts,
        &["--cluster-timeout", "2"],
    )
    .output()
    .unwrap();
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(start.elapsed() < Duration::from_secs(30), "{all}");
    assert!(all.contains(&format!("process 1 at {}", addrs[1])), "{all}");
    assert!(
        !all.contains("panicked") && !all.contains("awaiting connections"),
        "{all}"
    );
}

#[test]
fn a_process_lost_while_running_stops_the_other_with_one_message() {
    let dir = tempfile::tempdir().unwrap();
    let (hosts, addrs) = hosts_file(dir.path());
    let bin = env!("CARGO_BIN_EXE_nexmark");
    // About 30 s of events at 4 000 a second: killed long before its end.
    let args = ["--query", "1", "--events", "120000", "--rate", "4000"];
    let survivor = process(bin, 0, &hosts, &args).spawn().unwrap();
    let mut victim = process(bin, 1, &hosts, &args).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(3));
    victim.kill().unwrap();
    victim.wait().unwrap();
    let start = Instant::now();
    let out = survivor.wait_with_output().unwrap();
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(start.elapsed() < Duration::from_secs(20), "{all}");
    assert!(
        all.contains(&format!("lost process 1 of the cluster ({})", addrs[1])),
        "{all}"
    );
    assert!(!all.contains("panicked"), "{all}");
}

#[test]
fn garbage_on_the_port_during_start_up_is_refused_and_the_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (hosts, addrs) = hosts_file(dir.path());
    let bin = env!("CARGO_BIN_EXE_wordcount");
    let first = process(bin, 0, &hosts, &[]).spawn().unwrap();
    // Send garbage to process 0 once it listens.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(&addrs[0]) {
            let garbage: Vec<u8> = (0..64u32).map(|i| (i * 37 + 11) as u8).collect();
            let _ = s.write_all(&garbage);
            break;
        }
        assert!(Instant::now() < deadline, "process 0 never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    let second = process(bin, 1, &hosts, &[]).output().unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    assert!(second.status.success(), "{}", text(&second));
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(err.contains("refused a connection from"), "{err}");
    let words = first.stdout.len() + second.stdout.len();
    assert!(words > 0, "the word count printed nothing");
}
