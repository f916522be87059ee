//! The progress bar of a bounded run on a terminal, drawn from the monitor
//! on every runner: the bytes its bounded sources have read out of their
//! estimated sizes (with an estimate of the time left), or, for sources
//! that know no size, a spinner; and the elements read and the step at work.

use super::{JobMonitor, MonitorSnapshot};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const REDRAW: Duration = Duration::from_millis(200);

/// A progress bar on standard error, redrawn from the monitor until dropped.
pub struct ProgressBar {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ProgressBar {
    /// Starts drawing, when standard error is a terminal; `None` otherwise.
    pub fn start(monitor: Arc<JobMonitor>) -> Option<ProgressBar> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::Builder::new()
            .name("beam-progress".into())
            .spawn(move || draw(&monitor, &stopped))
            .ok()?;
        Some(ProgressBar {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for ProgressBar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What the bar shows at one moment.
#[derive(Debug, PartialEq)]
pub(crate) struct Progress {
    /// Bytes read and planned, when the sources know their sizes.
    pub(crate) bytes: Option<(u64, u64)>,
    /// Elements the root steps produced.
    pub(crate) elements_read: u64,
    /// The deepest step with a bundle in flight.
    pub(crate) busy: Option<String>,
}

pub(crate) fn progress(s: &MonitorSnapshot) -> Progress {
    let (mut read, mut planned) = (0, 0);
    for b in s.steps.iter().filter_map(|t| t.source_bytes) {
        read += b.read.min(b.planned);
        planned += b.planned;
    }
    Progress {
        bytes: (planned > 0).then_some((read, planned)),
        elements_read: s
            .steps
            .iter()
            .filter(|t| t.inputs.is_empty())
            .map(|t| t.elements_out)
            .sum(),
        busy: s
            .steps
            .iter()
            .rev()
            .find(|t| t.in_flight_bundles > 0)
            .map(|t| t.name.clone()),
    }
}

fn draw(monitor: &JobMonitor, stop: &AtomicBool) {
    let bar = indicatif::ProgressBar::new(0);
    let sized = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed}] {bar:20} {bytes}/{total_bytes}, {eta} left · {wide_msg}",
    );
    let spinner = indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {wide_msg}");
    while !stop.load(Ordering::Relaxed) {
        let p = progress(&monitor.snapshot());
        let msg = format!(
            "{} elements read{}",
            p.elements_read,
            p.busy.map_or(String::new(), |s| format!(" · {s}"))
        );
        match (p.bytes, &sized, &spinner) {
            (Some((read, planned)), Ok(style), _) => {
                bar.set_style(style.clone());
                bar.set_length(planned);
                bar.set_position(read);
            }
            (None, _, Ok(style)) => bar.set_style(style.clone()),
            _ => {}
        }
        bar.set_message(msg);
        bar.tick();
        std::thread::sleep(REDRAW);
    }
    bar.finish_and_clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_elements_and_the_busy_step() {
        let graph = crate::monitoring::tests::two_steps();
        let monitor = JobMonitor::new(&graph);
        monitor.set_workers(1);
        let p = progress(&monitor.snapshot());
        assert_eq!(
            p,
            Progress {
                bytes: None,
                elements_read: 0,
                busy: None
            }
        );
        let created = graph.transforms[0].outputs[0];
        let _busy = monitor.bundle(1, 3);
        monitor.produced(
            created,
            &crate::Batch::new(
                (0..3u64)
                    .map(crate::WindowedValue::in_global_window)
                    .collect(),
            ),
        );
        let p = progress(&monitor.snapshot());
        assert_eq!(p.elements_read, 3);
        assert_eq!(p.busy.as_deref(), Some(graph.transforms[1].name.as_str()));
    }
}
