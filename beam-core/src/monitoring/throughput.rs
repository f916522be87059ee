//! Per-step throughput over the last minutes, as the status page draws it.
//!
//! The status endpoint samples the monitor once per interval (each step's
//! elements produced so far) and keeps the samples of a window; the rates
//! between consecutive samples are each step's recent throughput. Sampling
//! on the server side means a page opened late still sees the last minutes,
//! and its figures do not depend on how often, or how fast, a browser polls.

use super::MonitorSnapshot;
use serde::Serialize;
use std::collections::VecDeque;

/// Samples of every step's elements out, for a window of time.
#[derive(Debug)]
pub struct ThroughputHistory {
    window_seconds: f64,
    /// Seconds since the run started, and each step's elements out then.
    samples: VecDeque<(f64, Vec<u64>)>,
}

/// The rates between consecutive samples, as `/api/metrics` gives them.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ThroughputSeries {
    /// The end of each interval, in seconds since the run started.
    pub at_seconds: Vec<f64>,
    /// Per step (in graph order), elements out per second in each interval.
    pub steps: Vec<Vec<f64>>,
}

impl ThroughputHistory {
    /// Keeps the samples of the last `window_seconds`.
    pub fn new(window_seconds: f64) -> Self {
        ThroughputHistory {
            window_seconds,
            samples: VecDeque::new(),
        }
    }

    /// Adds a sample; drops those that fell out of the window. A sample no
    /// later than the last one is ignored.
    pub fn record(&mut self, snapshot: &MonitorSnapshot) {
        let t = snapshot.elapsed_seconds;
        if self.samples.back().is_some_and(|(last, _)| *last >= t) {
            return;
        }
        let outs = snapshot.steps.iter().map(|s| s.elements_out).collect();
        self.samples.push_back((t, outs));
        // Keep one sample older than the window: the first interval's start.
        while self.samples.len() > 2 && self.samples[1].0 < t - self.window_seconds {
            self.samples.pop_front();
        }
    }

    /// Each step's rate in each interval between samples.
    pub fn series(&self) -> ThroughputSeries {
        let steps = self.samples.back().map_or(0, |(_, outs)| outs.len());
        let mut series = ThroughputSeries {
            at_seconds: Vec::with_capacity(self.samples.len().saturating_sub(1)),
            steps: vec![Vec::with_capacity(self.samples.len()); steps],
        };
        for (a, b) in self.samples.iter().zip(self.samples.iter().skip(1)) {
            let dt = b.0 - a.0;
            series.at_seconds.push(b.0);
            for (i, rates) in series.steps.iter_mut().enumerate() {
                let before = a.1.get(i).copied().unwrap_or(0);
                let after = b.1.get(i).copied().unwrap_or(0);
                rates.push(after.saturating_sub(before) as f64 / dt);
            }
        }
        series
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitoring::JobMonitor;

    #[test]
    fn rates_are_per_interval_and_the_window_slides() {
        let monitor = JobMonitor::new(&crate::monitoring::tests::two_steps());
        let mut s = monitor.snapshot();
        let mut h = ThroughputHistory::new(10.0);
        assert_eq!(h.series().at_seconds.len(), 0);
        let mut at = |t: f64, out: u64, h: &mut ThroughputHistory| {
            s.elapsed_seconds = t;
            s.steps[1].elements_out = out;
            h.record(&s);
        };
        at(1.0, 0, &mut h);
        at(2.0, 500, &mut h);
        at(4.0, 1500, &mut h);
        at(4.0, 9999, &mut h); // not later: ignored
        let series = h.series();
        assert_eq!(series.at_seconds, vec![2.0, 4.0]);
        assert_eq!(series.steps[1], vec![500.0, 500.0]);
        assert_eq!(series.steps[0], vec![0.0, 0.0]);
        for t in 5..=20 {
            at(t as f64, 1500 + 100 * (t - 4) as u64, &mut h);
        }
        let series = h.series();
        // The intervals ending after 10 s (the window), plus the one
        // that reaches into it.
        assert_eq!(series.at_seconds.first(), Some(&10.0));
        assert!(series.steps[1].iter().all(|&r| r == 100.0));
    }
}
