//! The monitor in Prometheus's text exposition format (version 0.0.4),
//! encoded with the `prometheus-client` crate.
//!
//! Names follow Prometheus's conventions: a `beam_` prefix, `_total` on
//! counters, `_seconds` and `_bytes` units. Every series carries the labels
//! `job` and `process`; step series add `step`, PCollection series
//! `pcollection` (and `worker` for watermarks), user metrics `step` and `name`.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `beam_step_elements_in_total`, `beam_step_elements_out_total` | counter | step |
//! | `beam_step_bundle_duration_seconds` | histogram | step |
//! | `beam_step_bundles_in_flight` | gauge | step |
//! | `beam_step_errors_total` | counter | step |
//! | `beam_source_backlog_records`, `beam_source_backlog_bytes` | gauge | step, partition |
//! | `beam_step_late_elements_dropped_total`, `beam_step_dead_letters_total` | counter | step |
//! | `beam_pcollection_elements_total`, `beam_pcollection_estimated_bytes_total` | counter | pcollection |
//! | `beam_pcollection_watermark_seconds`, `beam_pcollection_watermark_lag_seconds` | gauge | pcollection, worker |
//! | `beam_pcollection_complete` | gauge (0 or 1) | pcollection |
//! | `beam_user_counter_total`, `beam_user_gauge` | counter, gauge | step, name |
//! | `beam_user_distribution_count_total`, `_sum`, `_min`, `_max` | counter, gauges | step, name |
//! | `beam_checkpoints_total` | counter | outcome |
//! | `beam_checkpoint_duration_seconds` | histogram | |
//! | `beam_queued_bundles`, `beam_job_running`, `beam_job_elapsed_seconds` | gauge | |

use super::histogram::HistogramSnapshot;
use super::{JobMonitor, MonitorSnapshot, RunState};
use crate::metrics::MetricValue;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder};
use prometheus_client::metrics::exemplar::Exemplar;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Arc;

type Labels = Vec<(&'static str, String)>;

/// Encodes `monitor` as Prometheus text.
pub fn encode(monitor: &Arc<JobMonitor>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(MonitorCollector(monitor.clone())));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        out = format!("# encoding failed: {e}\n");
    }
    out
}

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug)]
struct MonitorCollector(Arc<JobMonitor>);

/// One metric family: its series, each a label set and a value.
struct Family<'a, V> {
    name: &'a str,
    help: &'a str,
    series: Vec<(Labels, V)>,
}

impl<'a, V> Family<'a, V> {
    fn new(name: &'a str, help: &'a str) -> Self {
        Family {
            name,
            help,
            series: Vec::new(),
        }
    }
}

fn write<V>(
    e: &mut DescriptorEncoder<'_>,
    family: Family<'_, V>,
    kind: MetricType,
    mut put: impl FnMut(&mut MetricEncoder<'_>, &V) -> std::fmt::Result,
) -> std::fmt::Result {
    if family.series.is_empty() {
        return Ok(());
    }
    let mut m = e.encode_descriptor(family.name, family.help, None, kind)?;
    for (labels, v) in &family.series {
        let mut series = m.encode_family(labels)?;
        put(&mut series, v)?;
    }
    Ok(())
}

fn counters(e: &mut DescriptorEncoder<'_>, f: Family<'_, u64>) -> std::fmt::Result {
    write(e, f, MetricType::Counter, |m, v| {
        m.encode_counter::<Labels, u64, f64>(v, None)
    })
}

fn gauges(e: &mut DescriptorEncoder<'_>, f: Family<'_, f64>) -> std::fmt::Result {
    write(e, f, MetricType::Gauge, |m, v| m.encode_gauge(v))
}

fn histograms(e: &mut DescriptorEncoder<'_>, f: Family<'_, HistogramSnapshot>) -> std::fmt::Result {
    write(e, f, MetricType::Histogram, |m, h| {
        // The encoder accumulates: hand it each bucket's own count.
        let mut previous = 0;
        let own: Vec<(f64, u64)> = h
            .buckets
            .iter()
            .map(|&(le, cumulative)| {
                let n = cumulative - previous;
                previous = cumulative;
                (le, n)
            })
            .collect();
        m.encode_histogram::<Labels>(
            h.sum_seconds,
            h.count,
            &own,
            None::<&HashMap<usize, Exemplar<Labels, f64>>>,
        )
    })
}

impl Collector for MonitorCollector {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> std::fmt::Result {
        let s = self.0.snapshot();
        encode_snapshot(&s, &mut e)
    }
}

fn encode_snapshot(s: &MonitorSnapshot, e: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    let base = || -> Labels { vec![("job", s.job.clone()), ("process", s.process.to_string())] };
    let with = |k: &'static str, v: &str| {
        let mut l = base();
        l.push((k, v.to_string()));
        l
    };

    let mut elements_in = Family::new("beam_step_elements_in", "Elements a step took in");
    let mut elements_out = Family::new("beam_step_elements_out", "Elements a step produced");
    let mut in_flight = Family::new(
        "beam_step_bundles_in_flight",
        "Bundles a step is processing",
    );
    let mut errors = Family::new("beam_step_errors", "Errors a step raised");
    let mut durations = Family::new(
        "beam_step_bundle_duration_seconds",
        "Processing time of a step's bundles",
    );
    let mut backlog_records = Family::new(
        "beam_source_backlog_records",
        "Records of a source partition not read yet (a Kafka partition's consumer lag)",
    );
    let mut backlog_bytes = Family::new(
        "beam_source_backlog_bytes",
        "Bytes of a source partition not read yet",
    );
    for step in &s.steps {
        let l = with("step", &step.name);
        for b in &step.backlog {
            let mut l = l.clone();
            l.push(("partition", b.partition.clone()));
            if let Some(n) = b.records {
                backlog_records.series.push((l.clone(), n as f64));
            }
            if let Some(n) = b.bytes {
                backlog_bytes.series.push((l, n as f64));
            }
        }
        elements_in.series.push((l.clone(), step.elements_in));
        elements_out.series.push((l.clone(), step.elements_out));
        in_flight
            .series
            .push((l.clone(), step.in_flight_bundles as f64));
        errors.series.push((l.clone(), step.errors));
        if step.bundles.count > 0 {
            durations.series.push((l, step.bundles.clone()));
        }
    }
    if s.step_metrics {
        counters(e, elements_in)?;
        counters(e, elements_out)?;
        gauges(e, in_flight)?;
        histograms(e, durations)?;
        gauges(e, backlog_records)?;
        gauges(e, backlog_bytes)?;
    }
    counters(e, errors)?;

    let mut late = Family::new(
        "beam_step_late_elements_dropped",
        "Elements dropped because they arrived after their window expired",
    );
    let mut dead = Family::new(
        "beam_step_dead_letters",
        "Records sent to a dead-letter output",
    );
    let mut user_counters = Family::new("beam_user_counter", "A user counter");
    let mut user_gauges = Family::new("beam_user_gauge", "A user gauge's latest value");
    let mut dist_count = Family::new(
        "beam_user_distribution_count",
        "Values given to a user distribution",
    );
    let mut dist_sum = Family::new(
        "beam_user_distribution_sum",
        "Sum of a user distribution's values",
    );
    let mut dist_min = Family::new(
        "beam_user_distribution_min",
        "Smallest value of a user distribution",
    );
    let mut dist_max = Family::new(
        "beam_user_distribution_max",
        "Largest value of a user distribution",
    );
    for r in &s.user_metrics {
        let mut l = with("step", &r.step);
        match (r.name.as_str(), r.value) {
            ("dropped_due_to_lateness", MetricValue::Counter(c)) => {
                late.series.push((l, c.max(0) as u64));
                continue;
            }
            ("dead_letter_records", MetricValue::Counter(c)) => {
                dead.series.push((l, c.max(0) as u64));
                continue;
            }
            _ => {}
        }
        l.push(("name", r.name.clone()));
        match r.value {
            MetricValue::Counter(c) => user_counters.series.push((l, c.max(0) as u64)),
            MetricValue::Gauge { value, .. } => user_gauges.series.push((l, value as f64)),
            MetricValue::Distribution(d) => {
                dist_count.series.push((l.clone(), d.count.max(0) as u64));
                dist_sum.series.push((l.clone(), d.sum as f64));
                dist_min.series.push((l.clone(), d.min as f64));
                dist_max.series.push((l, d.max as f64));
            }
        }
    }
    counters(e, late)?;
    counters(e, dead)?;
    counters(e, user_counters)?;
    gauges(e, user_gauges)?;
    counters(e, dist_count)?;
    gauges(e, dist_sum)?;
    gauges(e, dist_min)?;
    gauges(e, dist_max)?;

    if s.step_metrics {
        let mut p_elements = Family::new(
            "beam_pcollection_elements",
            "Elements produced into a PCollection",
        );
        let mut p_bytes = Family::new(
            "beam_pcollection_estimated_bytes",
            "Estimated in-memory size of the elements produced into a PCollection",
        );
        let mut p_complete = Family::new(
            "beam_pcollection_complete",
            "1 once a PCollection's watermark reached the end of time",
        );
        let mut wm = Family::new(
            "beam_pcollection_watermark_seconds",
            "A worker's watermark of a PCollection, in seconds since the Unix epoch",
        );
        let mut lag = Family::new(
            "beam_pcollection_watermark_lag_seconds",
            "How far a worker's watermark of a PCollection is behind the wall clock",
        );
        for p in &s.pcollections {
            let l = with("pcollection", &p.name);
            p_elements.series.push((l.clone(), p.elements));
            p_bytes.series.push((l.clone(), p.estimated_bytes));
            p_complete
                .series
                .push((l.clone(), if p.watermark.complete { 1.0 } else { 0.0 }));
            for (w, ws) in p.worker_watermarks.iter().enumerate() {
                let (Some(micros), Some(behind)) = (ws.micros, ws.lag_seconds) else {
                    continue;
                };
                let mut lw = l.clone();
                lw.push(("worker", w.to_string()));
                wm.series.push((lw.clone(), micros as f64 / 1e6));
                lag.series.push((lw, behind));
            }
        }
        counters(e, p_elements)?;
        counters(e, p_bytes)?;
        gauges(e, p_complete)?;
        gauges(e, wm)?;
        gauges(e, lag)?;
    }

    let c = &s.checkpoints;
    if c.completed + c.failed + c.abandoned > 0 {
        let mut total = Family::new("beam_checkpoints", "Checkpoints that ended, by outcome");
        total
            .series
            .push((with("outcome", "completed"), c.completed));
        total.series.push((with("outcome", "failed"), c.failed));
        total
            .series
            .push((with("outcome", "abandoned"), c.abandoned));
        counters(e, total)?;
        let mut d = Family::new(
            "beam_checkpoint_duration_seconds",
            "Time from a checkpoint's start to its publication",
        );
        d.series.push((base(), c.durations.clone()));
        histograms(e, d)?;
    }

    let mut queued = Family::new(
        "beam_queued_bundles",
        "Bundles sent between steps and not yet taken",
    );
    queued.series.push((base(), s.queued_bundles as f64));
    gauges(e, queued)?;
    let mut running = Family::new("beam_job_running", "1 while the job runs");
    running.series.push((
        base(),
        if s.state == RunState::Running {
            1.0
        } else {
            0.0
        },
    ));
    gauges(e, running)?;
    let mut elapsed = Family::new("beam_job_elapsed_seconds", "Seconds since the job started");
    elapsed.series.push((base(), s.elapsed_seconds));
    gauges(e, elapsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, MetricsContainer, WindowedValue};

    #[test]
    fn exposition_names_and_labels_follow_prometheus() {
        let g = super::super::tests::two_steps();
        let m = Arc::new(JobMonitor::new(&g));
        m.set_workers(1);
        let out = g.transforms[1].outputs[0];
        drop(m.bundle(1, 3));
        m.produced(
            out,
            &Batch::new(vec![WindowedValue::in_global_window(2u64)]),
        );
        m.set_watermark(out, 0, crate::Timestamp::from_micros(1_500_000));
        let mut c = MetricsContainer::new();
        c.inc_counter("parsed", 7);
        c.update_distribution("size", 4);
        c.inc_counter("dropped_due_to_lateness", 2);
        m.merge_user(1, &mut c);
        let text = encode(&m);
        let step = &g.transforms[1].name;
        let pc = &g.pcollections[out].name;
        for line in [
            format!("beam_step_elements_in_total{{job=\"beam-job\",process=\"0\",step=\"{step}\"}} 3"),
            format!("beam_step_elements_out_total{{job=\"beam-job\",process=\"0\",step=\"{step}\"}} 1"),
            format!("beam_step_bundle_duration_seconds_count{{job=\"beam-job\",process=\"0\",step=\"{step}\"}} 1"),
            format!("beam_user_counter_total{{job=\"beam-job\",process=\"0\",step=\"{step}\",name=\"parsed\"}} 7"),
            format!("beam_user_distribution_count_total{{job=\"beam-job\",process=\"0\",step=\"{step}\",name=\"size\"}} 1"),
            format!("beam_step_late_elements_dropped_total{{job=\"beam-job\",process=\"0\",step=\"{step}\"}} 2"),
            format!("beam_pcollection_elements_total{{job=\"beam-job\",process=\"0\",pcollection=\"{pc}\"}} 1"),
            format!("beam_pcollection_watermark_seconds{{job=\"beam-job\",process=\"0\",pcollection=\"{pc}\",worker=\"0\"}} 1.5"),
            "beam_job_running{job=\"beam-job\",process=\"0\"} 1.0".to_string(),
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        assert!(text.contains("# TYPE beam_step_bundle_duration_seconds histogram"));
        assert!(text.contains("le=\"+Inf\""));
    }
}
