//! A lock-free histogram of durations, for bundle processing times.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Upper bounds of the buckets, in seconds (Prometheus's `le`), from 50 µs
/// to 10 s; a last bucket holds everything slower.
pub const BUCKET_BOUNDS_SECONDS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// Counts of durations per bucket, their sum and the largest one. Updated
/// with relaxed atomic adds: concurrent workers never wait for each other.
#[derive(Debug, Default)]
pub struct DurationHistogram {
    buckets: [AtomicU64; BUCKET_BOUNDS_SECONDS.len() + 1],
    sum_nanos: AtomicU64,
    max_nanos: AtomicU64,
}

/// A histogram's values at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HistogramSnapshot {
    /// Observations.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
    /// The largest, in seconds.
    pub max_seconds: f64,
    /// Cumulative counts: `(upper bound in seconds, observations at most it)`,
    /// the last bound being infinity.
    pub buckets: Vec<(f64, u64)>,
}

impl DurationHistogram {
    /// Records one duration.
    pub fn observe(&self, d: std::time::Duration) {
        let nanos = d.as_nanos().min(u64::MAX as u128) as u64;
        let secs = nanos as f64 / 1e9;
        let i = BUCKET_BOUNDS_SECONDS.partition_point(|&b| b < secs);
        self.buckets[i].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
        self.max_nanos.fetch_max(nanos, Relaxed);
    }

    /// The values now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut buckets = Vec::with_capacity(self.buckets.len());
        let mut cumulative = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            cumulative += b.load(Relaxed);
            let bound = BUCKET_BOUNDS_SECONDS
                .get(i)
                .copied()
                .unwrap_or(f64::INFINITY);
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            count: cumulative,
            sum_seconds: self.sum_nanos.load(Relaxed) as f64 / 1e9,
            max_seconds: self.max_nanos.load(Relaxed) as f64 / 1e9,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_land_in_cumulative_buckets() {
        let h = DurationHistogram::default();
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(20));
        let s = h.snapshot();
        assert_eq!(s.count, 3);
        assert_eq!(s.buckets[0], (0.000_05, 1));
        // 3 ms is at most 5 ms but more than 2.5 ms.
        let at = |le: f64| s.buckets.iter().find(|b| b.0 == le).unwrap().1;
        assert_eq!(at(0.002_5), 1);
        assert_eq!(at(0.005), 2);
        assert_eq!(at(10.0), 2);
        assert_eq!(s.buckets.last().unwrap(), &(f64::INFINITY, 3));
        assert!((s.sum_seconds - 20.003_01).abs() < 1e-9);
        assert_eq!(s.max_seconds, 20.0);
    }
}
