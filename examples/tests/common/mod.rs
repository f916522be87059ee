//! Helpers shared by the integration tests that run processes (timely
//! clusters, crash tests) or watch a running pipeline ([`endpoints`]); each
//! test binary uses part of them.
#![allow(dead_code)]

pub mod endpoints;
pub mod kafka;

/// A host file for a two-process cluster on free local ports, and the ports.
pub fn hosts_file(dir: &std::path::Path) -> (std::path::PathBuf, Vec<String>) {
    let listeners: Vec<std::net::TcpListener> = (0..2)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let hosts: Vec<String> = listeners
        .iter()
        .map(|l| l.local_addr().unwrap().to_string())
        .collect();
    let path = dir.join("hosts.txt");
    std::fs::write(&path, format!("{}\n{}\n", hosts[0], hosts[1])).unwrap();
    (path, hosts)
}

/// A finished process's status and output, for assertion messages.
pub fn text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Waits for `child` to end, killing it (and failing) after two minutes: a
/// run that hangs fails the test instead of CI.
pub fn wait(mut child: std::process::Child) -> std::process::Output {
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(120) {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("the run did not end within 120 s: {}", text(&out));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The published checkpoint directories under `dir`, oldest first.
pub fn checkpoints(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    out.retain(|p| {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        name.starts_with("chk-") && !name.ends_with(".tmp")
    });
    out.sort();
    out
}

/// How one attempt of a crash test ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The run finished (successfully) before it was killed.
    Finished,
    /// It was killed (SIGKILL).
    Killed,
    /// It aborted at its failure point.
    Aborted,
}

/// Kills and aborts of a crash test's attempts.
#[derive(Debug, Default)]
pub struct Tally {
    /// Attempts killed.
    pub kills: usize,
    /// Attempts that aborted at their failure point.
    pub aborts: usize,
}

impl Tally {
    /// Counts `attempt`; whether the run finished.
    pub fn record(&mut self, attempt: Attempt) -> bool {
        match attempt {
            Attempt::Finished => return true,
            Attempt::Killed => self.kills += 1,
            Attempt::Aborted => self.aborts += 1,
        }
        false
    }
}

/// A deterministic generator of kill delays: `min_ms` plus up to
/// `spread_ms`, from `seed`.
pub struct KillDelays {
    state: u64,
    min_ms: u64,
    spread_ms: u64,
}

impl KillDelays {
    /// The delays of `seed`.
    pub fn new(seed: u64, min_ms: u64, spread_ms: u64) -> Self {
        KillDelays {
            state: seed,
            min_ms,
            spread_ms,
        }
    }
    /// The next delay.
    pub fn next_delay(&mut self) -> std::time::Duration {
        self.state = self
            .state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::time::Duration::from_millis(self.min_ms + (self.state >> 33) % self.spread_ms)
    }
}

/// One attempt of a crash test on the started `child`: with `failpoints`
/// (`name=actions`), waits for it to abort at that point (failing if it
/// did not); without, kills it after `delay` unless it finished first
/// (failing if it failed).
pub fn attempt(
    mut child: std::process::Child,
    failpoints: Option<&str>,
    delay: std::time::Duration,
    attempt: usize,
) -> Attempt {
    if let Some(point) = failpoints {
        let out = wait(child);
        let name = point.split('=').next().unwrap_or(point);
        assert!(
            !out.status.success()
                && String::from_utf8_lossy(&out.stderr)
                    .contains(&format!("failpoint {name}: aborting")),
            "attempt {attempt}: expected an abort at {name}: {}",
            text(&out)
        );
        return Attempt::Aborted;
    }
    std::thread::sleep(delay);
    match child.try_wait().unwrap() {
        Some(status) => {
            let out = child.wait_with_output().unwrap();
            assert!(status.success(), "attempt {attempt}: {}", text(&out));
            Attempt::Finished
        }
        None => {
            child.kill().unwrap();
            child.wait().unwrap();
            Attempt::Killed
        }
    }
}

/// Like [`attempt`], but a run without failure points is killed `delay`
/// after it published its first checkpoint (one newer than any in
/// `checkpoint_dir` when it started), so that every killed run moves the
/// job on however long its start (a restore, a sink's recovery) took. Fails
/// if no checkpoint comes within `patience`.
pub fn attempt_after_checkpoint(
    mut child: std::process::Child,
    failpoints: Option<&str>,
    delay: std::time::Duration,
    attempt: usize,
    checkpoint_dir: &std::path::Path,
    patience: std::time::Duration,
) -> Attempt {
    if failpoints.is_some() {
        return self::attempt(child, failpoints, delay, attempt);
    }
    let before = checkpoints(checkpoint_dir).last().cloned();
    let deadline = std::time::Instant::now() + patience;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            assert!(status.success(), "attempt {attempt}: {}", text(&out));
            return Attempt::Finished;
        }
        if checkpoints(checkpoint_dir).last().cloned() > before {
            break;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "attempt {attempt}: no checkpoint within {patience:?}: {}",
                text(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    self::attempt(child, None, delay, attempt)
}
