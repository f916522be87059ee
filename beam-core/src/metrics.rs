//! User metrics: counters, distributions and gauges, attributed to the step that
//! updated them.
//!
//! Inside a DoFn, `ctx.metrics()` gives the [`MetricsContainer`] of the running
//! step; runners merge containers of all bundles and workers into the
//! [`MetricResults`] of the [`PipelineResult`](crate::PipelineResult).

use serde::Serialize;
use std::collections::BTreeMap;

/// Summary statistics of the values given to a distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DistributionResult {
    /// Sum of values.
    pub sum: i64,
    /// Number of values.
    pub count: i64,
    /// Smallest value.
    pub min: i64,
    /// Largest value.
    pub max: i64,
}

/// The value of one metric.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum MetricValue {
    /// A counter's total.
    Counter(i64),
    /// A distribution's summary.
    Distribution(DistributionResult),
    /// A gauge's latest value (with the sequence number of the write, for merging).
    Gauge {
        /// The value.
        value: i64,
        /// Orders writes from different bundles; the highest wins.
        seq: u64,
    },
}

impl MetricValue {
    fn merge(&mut self, other: MetricValue) {
        use MetricValue::*;
        match (self, other) {
            (Counter(a), Counter(b)) => *a += b,
            (Distribution(a), Distribution(b)) => {
                a.sum += b.sum;
                a.count += b.count;
                a.min = a.min.min(b.min);
                a.max = a.max.max(b.max);
            }
            (Gauge { value, seq }, Gauge { value: v2, seq: s2 }) => {
                if s2 >= *seq {
                    *value = v2;
                    *seq = s2;
                }
            }
            (slot, other) => *slot = other,
        }
    }
}

static GAUGE_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The metrics one step updated in one bundle (or more, once merged).
#[derive(Default, Debug, Clone)]
pub struct MetricsContainer {
    cells: BTreeMap<String, MetricValue>,
}

impl MetricsContainer {
    /// An empty container.
    pub fn new() -> Self {
        Self::default()
    }
    fn cell(&mut self, name: &str, init: MetricValue) -> &mut MetricValue {
        if !self.cells.contains_key(name) {
            self.cells.insert(name.to_string(), init);
            return self.cells.get_mut(name).expect("inserted above");
        }
        self.cells.get_mut(name).expect("checked above")
    }
    /// Adds `n` to the counter `name`.
    pub fn inc_counter(&mut self, name: &str, n: i64) {
        if let MetricValue::Counter(c) = self.cell(name, MetricValue::Counter(0)) {
            *c += n;
        }
    }
    /// Records `value` in the distribution `name`.
    pub fn update_distribution(&mut self, name: &str, value: i64) {
        let init = MetricValue::Distribution(DistributionResult {
            sum: 0,
            count: 0,
            min: value,
            max: value,
        });
        if let MetricValue::Distribution(d) = self.cell(name, init) {
            d.sum += value;
            d.count += 1;
            d.min = d.min.min(value);
            d.max = d.max.max(value);
        }
    }
    /// Sets the gauge `name` to `value`.
    pub fn set_gauge(&mut self, name: &str, value: i64) {
        let seq = GAUGE_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *self.cell(name, MetricValue::Gauge { value, seq }) = MetricValue::Gauge { value, seq };
    }
    /// Folds `other` into `self`.
    pub fn merge(&mut self, other: MetricsContainer) {
        for (name, v) in other.cells {
            match self.cells.get_mut(&name) {
                Some(slot) => slot.merge(v),
                None => {
                    self.cells.insert(name, v);
                }
            }
        }
    }
    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }
}

/// One metric of a finished pipeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricResult {
    /// Full name of the step that updated it.
    pub step: String,
    /// Metric name.
    pub name: String,
    /// Final value.
    pub value: MetricValue,
}

/// All metrics of a pipeline run, queryable by step and name.
///
/// A step filter matches the full step name, or any run of whole path
/// components in it: `"Count"` matches `"CountWords/Count"`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MetricResults {
    results: Vec<MetricResult>,
}

impl MetricResults {
    /// Builds results from each step's merged container.
    pub fn from_steps(steps: impl IntoIterator<Item = (String, MetricsContainer)>) -> Self {
        let mut results = Vec::new();
        for (step, c) in steps {
            for (name, value) in c.cells {
                results.push(MetricResult {
                    step: step.clone(),
                    name,
                    value,
                });
            }
        }
        results.sort_by(|a, b| (&a.step, &a.name).cmp(&(&b.step, &b.name)));
        MetricResults { results }
    }
    /// Metrics whose step matches `step` (if given) and whose name is `name` (if given).
    pub fn query<'a>(
        &'a self,
        step: Option<&'a str>,
        name: Option<&'a str>,
    ) -> impl Iterator<Item = &'a MetricResult> + 'a {
        self.results.iter().filter(move |r| {
            step.is_none_or(|s| step_matches(&r.step, s)) && name.is_none_or(|n| r.name == n)
        })
    }
    /// The total of counter `name` over the steps matching `step`.
    pub fn counter(&self, step: &str, name: &str) -> Option<i64> {
        let mut total = None;
        for r in self.query(Some(step), Some(name)) {
            if let MetricValue::Counter(c) = r.value {
                *total.get_or_insert(0) += c;
            }
        }
        total
    }
    /// The distribution `name` over the steps matching `step`.
    pub fn distribution(&self, step: &str, name: &str) -> Option<DistributionResult> {
        let mut acc: Option<MetricValue> = None;
        for r in self.query(Some(step), Some(name)) {
            if let MetricValue::Distribution(_) = r.value {
                match &mut acc {
                    Some(a) => a.merge(r.value),
                    None => acc = Some(r.value),
                }
            }
        }
        match acc {
            Some(MetricValue::Distribution(d)) => Some(d),
            _ => None,
        }
    }
    /// The gauge `name` of the step matching `step` (the latest write).
    pub fn gauge(&self, step: &str, name: &str) -> Option<i64> {
        let mut best: Option<(u64, i64)> = None;
        for r in self.query(Some(step), Some(name)) {
            if let MetricValue::Gauge { value, seq } = r.value {
                if best.is_none_or(|(s, _)| seq >= s) {
                    best = Some((seq, value));
                }
            }
        }
        best.map(|(_, v)| v)
    }
    /// Every metric.
    pub fn all(&self) -> &[MetricResult] {
        &self.results
    }
}

fn step_matches(full: &str, filter: &str) -> bool {
    if full == filter {
        return true;
    }
    let parts: Vec<&str> = full.split('/').collect();
    let want: Vec<&str> = filter.split('/').collect();
    parts.windows(want.len()).any(|w| w == want.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_merge_and_results_query_by_step() {
        let mut a = MetricsContainer::new();
        a.inc_counter("count", 2);
        a.update_distribution("input", 5);
        let mut b = MetricsContainer::new();
        b.inc_counter("count", 1);
        b.update_distribution("input", 13);
        b.set_gauge("g", 12);
        a.merge(b);
        let r = MetricResults::from_steps([("Outer/MyStep1".to_string(), a)]);
        assert_eq!(r.counter("MyStep1", "count"), Some(3));
        assert_eq!(r.counter("Outer", "count"), Some(3));
        assert_eq!(r.counter("Step1", "count"), None);
        let d = r.distribution("MyStep1", "input").unwrap();
        assert_eq!((d.sum, d.count, d.min, d.max), (18, 2, 5, 13));
        assert_eq!(r.gauge("MyStep1", "g"), Some(12));
    }
}
