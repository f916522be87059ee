//! What the monitor shows at one moment: the serializable snapshot of a
//! run, as `/api/metrics` and `--metrics-out` give it.

use super::histogram::HistogramSnapshot;
use crate::time::Timestamp;
use serde::Serialize;

/// How a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Still running.
    Running,
    /// Finished: every element was processed.
    Done,
    /// Stopped by an error.
    Failed,
}

/// A user-code or runner error, as the status page lists it.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorRecord {
    /// Seconds since the run started.
    pub at_seconds: f64,
    /// The failing step's full name, when known.
    pub step: Option<String>,
    /// The failing element, as the error shows it (cut to a readable
    /// length by [`describe`](crate::coder::describe)), when known.
    pub element: Option<String>,
    /// The error's message.
    pub message: String,
}

/// How a checkpoint ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckpointOutcome {
    /// Published: a restore can start from it.
    Completed,
    /// Failed (a part could not be written, or it timed out).
    Failed,
    /// Abandoned because a newer one superseded it or the run stopped.
    Abandoned,
}

/// One checkpoint of the history.
#[derive(Clone, Debug, Serialize)]
pub struct CheckpointRecord {
    /// Its epoch.
    pub epoch: u64,
    /// How it ended.
    pub outcome: CheckpointOutcome,
    /// Seconds from its start to its end.
    pub duration_seconds: f64,
    /// Seconds since the run started, at its end.
    pub at_seconds: f64,
}

/// A watermark at one moment, with its lag behind the wall clock.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WatermarkSnapshot {
    /// Microseconds since the epoch; `null` before the first report, and for
    /// the end of time use `complete`.
    pub micros: Option<i64>,
    /// Whether it reached the end of time (the PCollection is complete).
    pub complete: bool,
    /// The wall clock minus the watermark, in seconds, while it is neither
    /// unknown nor complete.
    pub lag_seconds: Option<f64>,
}

impl WatermarkSnapshot {
    pub(crate) fn new(micros: i64, now_micros: i64) -> Self {
        let complete = micros >= Timestamp::MAX.as_micros();
        let known = micros > Timestamp::MIN.as_micros() && !complete;
        WatermarkSnapshot {
            micros: known.then_some(micros),
            complete,
            lag_seconds: known.then(|| (now_micros - micros) as f64 / 1e6),
        }
    }
}

/// One step at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct StepSnapshot {
    /// Full name.
    pub name: String,
    /// The primitive's kind.
    pub kind: &'static str,
    /// Main-input PCollection ids.
    pub inputs: Vec<usize>,
    /// Output PCollection ids.
    pub outputs: Vec<usize>,
    /// Elements taken in.
    pub elements_in: u64,
    /// For a keyed step (a grouping or a stateful ParDo) on a runner that
    /// reports it, the elements each worker of this process took for its
    /// keys (for a combine lifted before the exchange, the pre-combined
    /// accumulators): the load of each worker (empty otherwise).
    pub worker_elements_in: Vec<u64>,
    /// Elements produced into its outputs.
    pub elements_out: u64,
    /// Bundles being processed now.
    pub in_flight_bundles: i64,
    /// Errors it raised.
    pub errors: u64,
    /// Processing time per bundle.
    pub bundles: HistogramSnapshot,
    /// A source's backlog, per partition, as its readers last reported it
    /// (empty for other steps, and for sources that do not know it).
    pub backlog: Vec<crate::unbounded::SourceBacklog>,
    /// A bounded source's bytes planned and read by this process (`null`
    /// for other steps).
    pub source_bytes: Option<super::SourceBytes>,
}

/// One PCollection at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct PCollectionSnapshot {
    /// Its id (the index the steps' `inputs` and `outputs` use).
    pub id: usize,
    /// Its name.
    pub name: String,
    /// Elements produced into it.
    pub elements: u64,
    /// Their estimated in-memory size.
    pub estimated_bytes: u64,
    /// Its watermark: the minimum of its workers'.
    pub watermark: WatermarkSnapshot,
    /// Each worker's watermark (of this process).
    pub worker_watermarks: Vec<WatermarkSnapshot>,
}

/// The checkpoints at one moment.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckpointSnapshot {
    /// Completed checkpoints.
    pub completed: u64,
    /// Failed ones.
    pub failed: u64,
    /// Abandoned ones.
    pub abandoned: u64,
    /// Durations of the completed ones.
    pub durations: HistogramSnapshot,
    /// The newest ones, oldest first.
    pub history: Vec<CheckpointRecord>,
}

/// A whole job at one moment, as `/api/metrics` and `--metrics-out` give it.
#[derive(Clone, Debug, Serialize)]
pub struct MonitorSnapshot {
    /// The job's name.
    pub job: String,
    /// This process's index in its cluster.
    pub process: usize,
    /// Workers of this process.
    pub workers: usize,
    /// How the run stands.
    pub state: RunState,
    /// When it started (seconds since the Unix epoch).
    pub started_at_unix_seconds: f64,
    /// Seconds since it started (until it ended, once it ended).
    pub elapsed_seconds: f64,
    /// Whether step metrics are recorded (`--no-step-metrics` turns them off).
    pub step_metrics: bool,
    /// Bundles sent between steps and not yet taken.
    pub queued_bundles: i64,
    /// The most bundles queued at once so far (on runners that bound them,
    /// at most their limit plus what one read of each source adds).
    pub queued_bundles_peak: i64,
    /// Every step, in graph order.
    pub steps: Vec<StepSnapshot>,
    /// Every PCollection, by id.
    pub pcollections: Vec<PCollectionSnapshot>,
    /// The user's metrics (and the runners' counters), by step.
    pub user_metrics: Vec<crate::metrics::MetricResult>,
    /// Checkpoints.
    pub checkpoints: CheckpointSnapshot,
    /// The newest errors.
    pub errors: Vec<ErrorRecord>,
}
