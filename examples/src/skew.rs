//! What the skew benchmarks share: Zipf-distributed keys and the load of
//! each keyed step over the workers, from a run's `--metrics-out` file.

use std::path::Path;
use std::sync::Arc;

/// Inverse-CDF sampling of a Zipf distribution over `1..=keys`.
#[derive(Clone)]
pub struct Zipf(Arc<Vec<f64>>);

impl Zipf {
    /// The CDF of ranks `1..=keys` with weights `r^-exponent`.
    pub fn new(keys: u64, exponent: f64) -> Self {
        let mut cdf = Vec::with_capacity(keys as usize);
        let mut total = 0.0;
        for r in 1..=keys {
            total += (r as f64).powf(-exponent);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        Zipf(Arc::new(cdf))
    }
    /// The key of event `i`: a rank from a hash of `i` (deterministic).
    pub fn key(&self, i: u64) -> u64 {
        let mut x = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        self.0.partition_point(|&c| c < u) as u64 + 1
    }
}

/// For each step with per-worker input in the metrics file at `metrics`
/// (which it removes): its name and its busiest worker's input over the mean.
pub fn worker_loads(metrics: &Path) -> anyhow::Result<Vec<(String, f64)>> {
    let text = std::fs::read_to_string(metrics)?;
    std::fs::remove_file(metrics)?;
    let m: serde_json::Value = serde_json::from_str(&text)?;
    let mut loads = Vec::new();
    for step in m["steps"].as_array().into_iter().flatten() {
        let per_worker: Vec<f64> = step["worker_elements_in"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_f64())
            .collect();
        if per_worker.iter().sum::<f64>() > 0.0 {
            let mean = per_worker.iter().sum::<f64>() / per_worker.len() as f64;
            let max = per_worker.iter().copied().fold(0.0, f64::max);
            loads.push((step["name"].as_str().unwrap_or("?").to_string(), max / mean));
        }
    }
    Ok(loads)
}
