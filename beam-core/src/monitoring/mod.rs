//! Live monitoring: what a pipeline is doing while it runs.
//!
//! Every run has one [`JobMonitor`] per process, made by
//! [`Pipeline::run`](crate::Pipeline::run) and handed to the runner. Runners
//! record into it as they go, once per bundle rather than per element:
//!
//! - per step: bundles started and finished (processing time per bundle as a
//!   histogram, the seed's `processing.duration`), elements in, bundles in
//!   flight, and user-code errors (`processing.errors`);
//! - per PCollection: elements and estimated bytes produced, and the
//!   watermark of each worker (the PCollection's is their minimum);
//! - the user's counters, distributions and gauges, merged after every
//!   bundle, so they are current while the job runs (the run's
//!   [`PipelineResult`](crate::PipelineResult) is built from them);
//! - per source step, its backlog: what its readers say they have not read
//!   yet ([`UnboundedReader::backlog`](crate::unbounded::UnboundedReader::backlog),
//!   a Kafka partition's consumer lag), and for bounded sources the bytes
//!   planned and read ([`JobMonitor::watch_split`]);
//! - checkpoints, bundles queued between steps, and the last errors.
//!
//! [`JobMonitor::snapshot`] reads it all at once as a serializable
//! [`MonitorSnapshot`]: the JSON of the status page's `/api/metrics`, of
//! `--metrics-out`, and the source of the Prometheus exposition
//! ([`prometheus`]). The status endpoint adds each step's throughput over
//! the last minutes ([`ThroughputHistory`]); [`progress`] draws the
//! terminal's progress bar from the same snapshots.
//!
//! ```
//! use beam_core::{Batch, Create, Map, Pipeline, PipelineOptions, WindowedValue};
//! use beam_core::monitoring::JobMonitor;
//! let p = Pipeline::new(PipelineOptions::default());
//! p.apply("Words", Create::of(vec!["a".to_string(), "b".to_string()]))?
//!     .apply("Lengths", Map::new(|w: &String| w.len()))?;
//! let monitor = JobMonitor::new(&p.graph());
//! monitor.set_workers(1);
//! {
//!     let _bundle = monitor.bundle(1, 2); // step 1 took a bundle of 2 elements
//!     monitor.produced(1, &Batch::new(vec![WindowedValue::in_global_window(1usize)]));
//! }
//! let s = monitor.snapshot();
//! assert_eq!(s.steps[1].elements_in, 2);
//! assert_eq!(s.steps[1].bundles.count, 1);
//! assert_eq!(s.pcollections[1].elements, 1);
//! # Ok::<(), beam_core::BeamError>(())
//! ```

mod backlog;
pub mod histogram;
pub mod progress;
pub mod prometheus;
mod read_progress;
pub mod report;
pub mod server;
mod snapshot;
mod throughput;

pub use backlog::BacklogProbe;
pub use read_progress::SourceBytes;
pub use snapshot::{
    CheckpointOutcome, CheckpointRecord, CheckpointSnapshot, ErrorRecord, MonitorSnapshot,
    PCollectionSnapshot, RunState, StepSnapshot, WatermarkSnapshot,
};
pub use throughput::{ThroughputHistory, ThroughputSeries};

use crate::batch::Batch;
use crate::graph::Graph;
use crate::metrics::{MetricResults, MetricsContainer};
use crate::time::Timestamp;
use crate::unbounded::SourceBacklog;
use histogram::DurationHistogram;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Instant, SystemTime};

/// Errors kept for the status page (the newest ones).
const KEPT_ERRORS: usize = 50;
/// Checkpoints kept in the history (the newest ones).
const KEPT_CHECKPOINTS: usize = 100;

/// Live counters of one step.
#[derive(Debug, Default)]
struct StepStats {
    elements_in: AtomicU64,
    /// Per worker of this process, for keyed steps whose runner reports
    /// what each worker's keys received (their load).
    worker_elements: OnceLock<Box<[AtomicU64]>>,
    in_flight: AtomicI64,
    errors: AtomicU64,
    durations: DurationHistogram,
}

/// One in this many batches produced into a PCollection is measured for its
/// estimated bytes.
const BYTES_SAMPLE_EVERY: u64 = 16;

/// Live counters of one PCollection.
#[derive(Debug)]
struct PCollectionStats {
    elements: AtomicU64,
    bytes: AtomicU64,
    /// Batches produced so far: one in [`BYTES_SAMPLE_EVERY`] is measured.
    batches: AtomicU64,
    /// Estimated bytes per element, in 1/256ths, from the last measured batch.
    bytes_per_element: AtomicU64,
    /// Per worker of this process; `i64::MIN` until the worker reports.
    watermarks: OnceLock<Box<[AtomicI64]>>,
}

#[derive(Debug, Default)]
struct Checkpoints {
    completed: u64,
    failed: u64,
    abandoned: u64,
    durations: DurationHistogram,
    history: VecDeque<CheckpointRecord>,
}

/// A step as the monitor knows it.
#[derive(Clone, Debug, Serialize)]
pub struct StepInfo {
    /// Full name (`Composite/Inner`).
    pub name: String,
    /// The primitive's kind (`ParDo`, `GroupByKey`, ...).
    pub kind: &'static str,
    /// Main-input PCollection ids.
    pub inputs: Vec<usize>,
    /// Output PCollection ids.
    pub outputs: Vec<usize>,
}

/// The live state of one running job in one process.
#[derive(Debug)]
pub struct JobMonitor {
    job: String,
    process: AtomicUsize,
    step_metrics: bool,
    started: Instant,
    started_at: SystemTime,
    steps: Vec<StepInfo>,
    pcollection_names: Vec<String>,
    step_stats: Vec<StepStats>,
    pcollection_stats: Vec<PCollectionStats>,
    user: Vec<Mutex<MetricsContainer>>,
    /// Per step (sources only), the last backlog of each partition.
    backlogs: Vec<Mutex<BTreeMap<String, SourceBacklog>>>,
    /// Per step (bounded sources only), bytes planned and read.
    read_counts: Vec<read_progress::ReadCounts>,
    /// Per step, a bounded source's description (its backlog's partition).
    bounded_sources: Vec<Option<String>>,
    workers: OnceLock<usize>,
    errors: Mutex<VecDeque<ErrorRecord>>,
    checkpoints: Mutex<Checkpoints>,
    queued_bundles: AtomicI64,
    queued_peak: AtomicI64,
    state: Mutex<(RunState, Option<f64>)>,
    graph_json: String,
}

/// Times one bundle of a step; records it when dropped.
#[must_use = "the bundle is recorded when the timer is dropped"]
pub struct BundleTimer<'a> {
    stats: Option<(&'a StepStats, Instant)>,
}

impl Drop for BundleTimer<'_> {
    fn drop(&mut self) {
        if let Some((stats, start)) = self.stats.take() {
            stats.durations.observe(start.elapsed());
            stats.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl JobMonitor {
    /// A monitor of a run of `graph`, recording step metrics unless the
    /// options say `--no-step-metrics`.
    pub fn new(graph: &Graph) -> Self {
        let steps: Vec<StepInfo> = graph
            .transforms
            .iter()
            .map(|t| StepInfo {
                name: t.name.clone(),
                kind: t.primitive.kind(),
                inputs: t.inputs.clone(),
                outputs: t.outputs.clone(),
            })
            .collect();
        JobMonitor {
            job: graph.options.job_name.clone(),
            process: AtomicUsize::new(0),
            step_metrics: !graph.options.no_step_metrics,
            started: Instant::now(),
            started_at: SystemTime::now(),
            step_stats: steps.iter().map(|_| StepStats::default()).collect(),
            user: steps.iter().map(|_| Mutex::default()).collect(),
            backlogs: steps.iter().map(|_| Mutex::default()).collect(),
            read_counts: steps.iter().map(|_| Default::default()).collect(),
            bounded_sources: graph
                .transforms
                .iter()
                .map(|t| match &t.primitive {
                    crate::graph::Primitive::Read { source, .. } => Some(source.describe()),
                    _ => None,
                })
                .collect(),
            steps,
            pcollection_names: graph.pcollections.iter().map(|p| p.name.clone()).collect(),
            pcollection_stats: graph
                .pcollections
                .iter()
                .map(|_| PCollectionStats {
                    elements: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                    batches: AtomicU64::new(0),
                    bytes_per_element: AtomicU64::new(0),
                    watermarks: OnceLock::new(),
                })
                .collect(),
            workers: OnceLock::new(),
            errors: Mutex::default(),
            checkpoints: Mutex::default(),
            queued_bundles: AtomicI64::new(0),
            queued_peak: AtomicI64::new(0),
            state: Mutex::new((RunState::Running, None)),
            graph_json: graph.to_json(),
        }
    }

    /// The job's name.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// Says how many workers this process runs (each reports its own
    /// watermarks). Only the first call counts.
    pub fn set_workers(&self, workers: usize) {
        let workers = workers.max(1);
        if self.workers.set(workers).is_ok() {
            for p in &self.pcollection_stats {
                let _ = p.watermarks.set(
                    (0..workers)
                        .map(|_| AtomicI64::new(i64::MIN))
                        .collect::<Vec<_>>()
                        .into_boxed_slice(),
                );
            }
        }
    }

    /// Says which process of a cluster this is.
    pub fn set_process(&self, index: usize) {
        self.process.store(index, Relaxed);
    }

    /// This process's index in its cluster (0 when it runs alone).
    pub fn process(&self) -> usize {
        self.process.load(Relaxed)
    }

    /// Whether per-bundle step metrics are recorded.
    pub fn records_step_metrics(&self) -> bool {
        self.step_metrics
    }

    /// Step `step` starts a bundle of `elements` elements; the bundle ends
    /// (its time is recorded) when the returned timer is dropped.
    #[inline]
    pub fn bundle(&self, step: usize, elements: usize) -> BundleTimer<'_> {
        if !self.step_metrics {
            return BundleTimer { stats: None };
        }
        let Some(stats) = self.step_stats.get(step) else {
            return BundleTimer { stats: None };
        };
        stats.elements_in.fetch_add(elements as u64, Relaxed);
        stats.in_flight.fetch_add(1, Relaxed);
        BundleTimer {
            stats: Some((stats, Instant::now())),
        }
    }

    /// Step `step` took `elements` elements without a bundle of user code
    /// (a grouping's input, a sink's staged items).
    #[inline]
    pub fn consumed(&self, step: usize, elements: usize) {
        if let Some(s) = self.step_stats.get(step).filter(|_| self.step_metrics) {
            s.elements_in.fetch_add(elements as u64, Relaxed);
        }
    }

    /// `batch` was produced into PCollection `pcollection`.
    #[inline]
    pub fn produced(&self, pcollection: usize, batch: &Batch) {
        if batch.is_empty() || !self.step_metrics {
            return;
        }
        if let Some(p) = self.pcollection_stats.get(pcollection) {
            let n = batch.len() as u64;
            p.elements.fetch_add(n, Relaxed);
            // Measuring a batch can cost as much as encoding it (a batch of
            // Arrow rows is written out), so one batch in a few is measured
            // and the others are counted at its size per element.
            let per_element = if p.batches.fetch_add(1, Relaxed) % BYTES_SAMPLE_EVERY == 0 {
                let measured = (batch.estimated_bytes() as u64).saturating_mul(256) / n;
                p.bytes_per_element.store(measured, Relaxed);
                measured
            } else {
                p.bytes_per_element.load(Relaxed)
            };
            p.bytes
                .fetch_add(n.saturating_mul(per_element) / 256, Relaxed);
        }
    }

    /// Worker `worker` of this process moved PCollection `pcollection`'s
    /// watermark to `watermark`.
    #[inline]
    pub fn set_watermark(&self, pcollection: usize, worker: usize, watermark: Timestamp) {
        let slots = self
            .pcollection_stats
            .get(pcollection)
            .and_then(|p| p.watermarks.get());
        if let Some(slot) = slots.and_then(|s| s.get(worker)) {
            slot.store(watermark.as_micros(), Relaxed);
        }
    }

    /// Worker `worker` of this process took `elements` elements of its keys
    /// into keyed step `step` (after the exchange): how the keys' load is
    /// spread over the workers.
    #[inline]
    pub fn keyed_input(&self, step: usize, worker: usize, elements: usize) {
        let Some(s) = self.step_stats.get(step).filter(|_| self.step_metrics) else {
            return;
        };
        let workers = self.workers.get().copied().unwrap_or(1);
        let slots = s.worker_elements.get_or_init(|| {
            (0..workers)
                .map(|_| AtomicU64::new(0))
                .collect::<Vec<_>>()
                .into_boxed_slice()
        });
        if let Some(slot) = slots.get(worker) {
            slot.fetch_add(elements as u64, Relaxed);
        }
    }

    /// Folds a step's user metrics into the live totals, leaving `metrics` empty.
    pub fn merge_user(&self, step: usize, metrics: &mut MetricsContainer) {
        if metrics.is_empty() {
            return;
        }
        if let Some(m) = self.user.get(step) {
            lock(m).merge(std::mem::take(metrics));
        }
    }

    /// The user metrics merged so far, by step.
    pub fn user_metrics(&self) -> MetricResults {
        MetricResults::from_steps(
            self.steps
                .iter()
                .zip(&self.user)
                .map(|(s, m)| (s.name.clone(), lock(m).clone()))
                .filter(|(_, m)| !m.is_empty()),
        )
    }

    /// Source step `step` reported the backlog of some of its partitions;
    /// each replaces that partition's last report.
    pub fn report_backlog(&self, step: usize, backlog: Vec<SourceBacklog>) {
        if backlog.is_empty() || !self.step_metrics {
            return;
        }
        if let Some(b) = self.backlogs.get(step) {
            let mut b = lock(b);
            for part in backlog {
                b.insert(part.partition.clone(), part);
            }
        }
    }

    /// Records an error; counts it against its step when it names one.
    pub fn record_error(&self, error: &crate::BeamError) {
        let step = error.step();
        if let Some(i) = step.and_then(|s| self.steps.iter().position(|t| t.name == s)) {
            self.step_stats[i].errors.fetch_add(1, Relaxed);
        }
        let mut errors = lock(&self.errors);
        if errors.len() == KEPT_ERRORS {
            errors.pop_front();
        }
        errors.push_back(ErrorRecord {
            at_seconds: self.started.elapsed().as_secs_f64(),
            step: step.map(String::from),
            element: error.element().map(String::from),
            message: error.to_string(),
        });
    }

    /// Records the end of a checkpoint that took `duration`.
    pub fn record_checkpoint(
        &self,
        epoch: u64,
        outcome: CheckpointOutcome,
        duration: std::time::Duration,
    ) {
        let mut c = lock(&self.checkpoints);
        match outcome {
            CheckpointOutcome::Completed => c.completed += 1,
            CheckpointOutcome::Failed => c.failed += 1,
            CheckpointOutcome::Abandoned => c.abandoned += 1,
        }
        if outcome == CheckpointOutcome::Completed {
            c.durations.observe(duration);
        }
        if c.history.len() == KEPT_CHECKPOINTS {
            c.history.pop_front();
        }
        c.history.push_back(CheckpointRecord {
            epoch,
            outcome,
            duration_seconds: duration.as_secs_f64(),
            at_seconds: self.started.elapsed().as_secs_f64(),
        });
    }

    /// The count of bundles queued between steps (sent and not yet taken),
    /// which a runner with channels keeps current.
    pub fn queued_bundles(&self) -> &AtomicI64 {
        &self.queued_bundles
    }

    /// Notes that `queued` bundles are queued now, for the peak.
    #[inline]
    pub fn note_queued(&self, queued: i64) {
        self.queued_peak.fetch_max(queued, Relaxed);
    }

    /// The most bundles queued at once so far (as [`note_queued`](Self::note_queued) saw).
    pub fn queued_bundles_peak(&self) -> i64 {
        self.queued_peak.load(Relaxed)
    }

    /// Marks the run finished.
    pub fn finish(&self, state: RunState) {
        *lock(&self.state) = (state, Some(self.started.elapsed().as_secs_f64()));
    }

    /// The pipeline graph as JSON (as `--dump-graph` writes it).
    pub fn graph_json(&self) -> &str {
        &self.graph_json
    }

    /// Everything at once.
    pub fn snapshot(&self) -> MonitorSnapshot {
        let now_micros = Timestamp::wall_clock().as_micros();
        let pcollections: Vec<PCollectionSnapshot> = self
            .pcollection_stats
            .iter()
            .zip(&self.pcollection_names)
            .enumerate()
            .map(|(id, (p, name))| {
                let per_worker: Vec<i64> = p
                    .watermarks
                    .get()
                    .map(|s| s.iter().map(|w| w.load(Relaxed)).collect())
                    .unwrap_or_default();
                let watermark = per_worker.iter().copied().min().unwrap_or(i64::MIN);
                PCollectionSnapshot {
                    id,
                    name: name.clone(),
                    elements: p.elements.load(Relaxed),
                    estimated_bytes: p.bytes.load(Relaxed),
                    watermark: WatermarkSnapshot::new(watermark, now_micros),
                    worker_watermarks: per_worker
                        .into_iter()
                        .map(|w| WatermarkSnapshot::new(w, now_micros))
                        .collect(),
                }
            })
            .collect();
        let steps = self
            .steps
            .iter()
            .zip(&self.step_stats)
            .zip(&self.backlogs)
            .enumerate()
            .map(|(t, ((info, s), backlog))| {
                let source_bytes = self.read_counts[t].snapshot();
                let mut backlog: Vec<SourceBacklog> = lock(backlog).values().cloned().collect();
                if let (Some(bytes), Some(name)) = (source_bytes, &self.bounded_sources[t]) {
                    backlog.push(SourceBacklog::bytes(name.clone(), bytes.left()));
                }
                StepSnapshot {
                    name: info.name.clone(),
                    kind: info.kind,
                    inputs: info.inputs.clone(),
                    outputs: info.outputs.clone(),
                    elements_in: s.elements_in.load(Relaxed),
                    worker_elements_in: s
                        .worker_elements
                        .get()
                        .map(|w| w.iter().map(|n| n.load(Relaxed)).collect())
                        .unwrap_or_default(),
                    elements_out: info.outputs.iter().map(|&o| pcollections[o].elements).sum(),
                    in_flight_bundles: s.in_flight.load(Relaxed).max(0),
                    errors: s.errors.load(Relaxed),
                    bundles: s.durations.snapshot(),
                    backlog,
                    source_bytes,
                }
            })
            .collect();
        let c = lock(&self.checkpoints);
        let checkpoints = CheckpointSnapshot {
            completed: c.completed,
            failed: c.failed,
            abandoned: c.abandoned,
            durations: c.durations.snapshot(),
            history: c.history.iter().cloned().collect(),
        };
        drop(c);
        let (state, ended) = *lock(&self.state);
        let user = self.user_metrics();
        MonitorSnapshot {
            job: self.job.clone(),
            process: self.process(),
            workers: self.workers.get().copied().unwrap_or(0),
            state,
            started_at_unix_seconds: self
                .started_at
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            elapsed_seconds: ended.unwrap_or_else(|| self.started.elapsed().as_secs_f64()),
            step_metrics: self.step_metrics,
            queued_bundles: self.queued_bundles.load(Relaxed).max(0),
            queued_bundles_peak: self.queued_peak.load(Relaxed),
            steps,
            pcollections,
            user_metrics: user.all().to_vec(),
            checkpoints,
            errors: lock(&self.errors).iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Pipeline, WindowedValue};

    /// A Create and a Map: step 1 is the Map's ParDo.
    pub(crate) fn two_steps() -> Graph {
        let p = Pipeline::new(crate::PipelineOptions::default());
        p.apply("Numbers", crate::Create::of(vec![1u64, 2, 3]))
            .unwrap()
            .apply("Double", crate::Map::new(|x: &u64| x * 2))
            .unwrap();
        p.graph()
    }

    #[test]
    fn bundles_outputs_and_watermarks_are_recorded() {
        let g = two_steps();
        let m = JobMonitor::new(&g);
        m.set_workers(2);
        let out = g.transforms[1].outputs[0];
        {
            let _t = m.bundle(1, 3);
            assert_eq!(m.snapshot().steps[1].in_flight_bundles, 1);
            let b = Batch::new((0..3u64).map(WindowedValue::in_global_window).collect());
            m.produced(out, &b);
        }
        m.set_watermark(out, 0, Timestamp::from_micros(5_000_000));
        let s = m.snapshot();
        assert_eq!(s.steps[1].elements_in, 3);
        assert_eq!(s.steps[1].elements_out, 3);
        assert_eq!(s.steps[1].in_flight_bundles, 0);
        assert_eq!(s.steps[1].bundles.count, 1);
        assert!(s.pcollections[out].estimated_bytes >= 3 * 8);
        // Worker 1 has not reported: the PCollection's watermark is unknown.
        assert_eq!(s.pcollections[out].watermark.micros, None);
        m.set_watermark(out, 1, Timestamp::MAX);
        let s = m.snapshot();
        assert_eq!(s.pcollections[out].watermark.micros, Some(5_000_000));
        assert!(s.pcollections[out].watermark.lag_seconds.unwrap() > 0.0);
        assert!(s.pcollections[out].worker_watermarks[1].complete);
    }

    #[test]
    fn user_metrics_and_errors_are_live() {
        let g = two_steps();
        let m = JobMonitor::new(&g);
        let mut c = MetricsContainer::new();
        c.inc_counter("seen", 2);
        m.merge_user(1, &mut c);
        assert!(c.is_empty());
        c.inc_counter("seen", 3);
        m.merge_user(1, &mut c);
        assert_eq!(
            m.user_metrics().counter(&g.transforms[1].name, "seen"),
            Some(5)
        );
        m.record_error(&crate::BeamError::UserCode {
            step: g.transforms[1].name.clone(),
            element: Some(crate::coder::describe(&"x".repeat(500))),
            message: "bad".into(),
        });
        let s = m.snapshot();
        assert_eq!(s.steps[1].errors, 1);
        assert_eq!(s.errors.len(), 1);
        let kept = s.errors[0].element.as_ref().unwrap();
        assert!(kept.starts_with("\"xxx") && kept.len() < 400, "{kept}");
        assert_eq!(
            s.errors[0].step.as_deref(),
            Some(g.transforms[1].name.as_str())
        );
    }
}
