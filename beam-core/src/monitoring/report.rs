//! The end of a run: the final metrics as JSON (`--metrics-out`) and a
//! short per-step summary on a terminal.

use super::MonitorSnapshot;
use crate::error::{BeamError, Result};
use std::fmt::Write as _;
use std::path::Path;

/// Writes `snapshot` to `path` as pretty JSON, atomically (see
/// [`write_atomically`](crate::atomic_write::write_atomically)).
pub fn write_metrics_json(snapshot: &MonitorSnapshot, path: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(snapshot)
        .map_err(|e| BeamError::Runner(format!("encoding the metrics: {e}")))?;
    crate::atomic_write::write_atomically(path, (text + "\n").as_bytes())
        .map_err(|e| BeamError::io(path.display().to_string(), e))
}

/// Steps listed at most in the summary (the busiest ones).
const SUMMARY_STEPS: usize = 25;

/// The end-of-run summary: per step, the elements it took in and produced,
/// its processing time, and its throughput over that time.
pub fn summary(snapshot: &MonitorSnapshot) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} in {:.2} s",
        snapshot.job,
        match snapshot.state {
            super::RunState::Done => "done",
            super::RunState::Failed => "failed",
            super::RunState::Running => "stopped",
        },
        snapshot.elapsed_seconds
    );
    if !snapshot.step_metrics {
        return s;
    }
    let mut steps: Vec<_> = snapshot
        .steps
        .iter()
        .filter(|t| t.elements_in + t.elements_out > 0)
        .collect();
    steps.sort_by(|a, b| b.bundles.sum_seconds.total_cmp(&a.bundles.sum_seconds));
    let hidden = steps.len().saturating_sub(SUMMARY_STEPS);
    steps.truncate(SUMMARY_STEPS);
    let width = steps
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 60);
    let _ = writeln!(
        s,
        "  {:<width$}  {:>12}  {:>12}  {:>9}  {:>12}",
        "step", "in", "out", "time", "in/s"
    );
    for t in steps {
        let busy = t.bundles.sum_seconds;
        let rate = if busy > 0.0 {
            format!("{:.0}", t.elements_in as f64 / busy)
        } else {
            "-".to_string()
        };
        let name: String = if t.name.chars().count() > width {
            let tail: String = t.name.chars().rev().take(width - 1).collect();
            format!("…{}", tail.chars().rev().collect::<String>())
        } else {
            t.name.clone()
        };
        let _ = writeln!(
            s,
            "  {name:<width$}  {:>12}  {:>12}  {:>8.3}s  {:>12}",
            t.elements_in, t.elements_out, busy, rate
        );
    }
    if hidden > 0 {
        let _ = writeln!(s, "  ({hidden} quieter steps not shown)");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::super::JobMonitor;
    use super::*;

    #[test]
    fn metrics_file_is_json_and_summary_lists_busy_steps() {
        let g = super::super::tests::two_steps();
        let m = JobMonitor::new(&g);
        drop(m.bundle(1, 10));
        m.finish(super::super::RunState::Done);
        let snap = m.snapshot();
        let dir = tempfile_dir();
        let path = dir.join("m.json");
        write_metrics_json(&snap, &path).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["state"], "done");
        assert_eq!(v["steps"][1]["elements_in"], 10);
        let text = summary(&snap);
        assert!(text.starts_with("beam-job done in "), "{text}");
        assert!(text.contains(&g.transforms[1].name), "{text}");
        assert!(
            !text.contains(&format!("  {} ", g.transforms[0].name)),
            "{text}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("beam-report-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
