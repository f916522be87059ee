//! Asking a source's readers what they have not read yet.

use super::JobMonitor;
use crate::unbounded::ErasedUnboundedReader;
use std::time::{Duration, Instant};

/// How often a source's readers are asked for their backlog.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// Asks the readers of one source step (on one worker) for their backlog
/// about once a second, and reports it to the monitor. A runner keeps one
/// beside the readers and calls [`probe`](Self::probe) after each poll.
///
/// ```
/// use beam_core::monitoring::{BacklogProbe, JobMonitor};
/// # let p = beam_core::Pipeline::new(beam_core::PipelineOptions::default());
/// let monitor = JobMonitor::new(&p.graph());
/// let mut probe = BacklogProbe::new(0);
/// probe.probe(&monitor, std::iter::empty()); // no readers: nothing to report
/// ```
#[derive(Debug)]
pub struct BacklogProbe {
    step: usize,
    next: Instant,
}

impl BacklogProbe {
    /// A probe for source step `step`, due at once.
    pub fn new(step: usize) -> Self {
        BacklogProbe {
            step,
            next: Instant::now(),
        }
    }

    /// When due, asks every reader and reports what they say.
    pub fn probe<'a>(
        &mut self,
        monitor: &JobMonitor,
        readers: impl IntoIterator<Item = &'a dyn ErasedUnboundedReader>,
    ) {
        if !monitor.records_step_metrics() {
            return;
        }
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + PROBE_INTERVAL;
        for reader in readers {
            monitor.report_backlog(self.step, reader.backlog());
        }
    }
}
