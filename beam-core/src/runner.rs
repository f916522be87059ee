//! Runners and their registry.
//!
//! A runner crate registers itself with [`inventory`]:
//!
//! ```ignore
//! inventory::submit! {
//!     beam_core::RunnerRegistration {
//!         name: "direct",
//!         about: "checks the model; deterministic",
//!         options: &[],
//!         features: &[beam_core::Feature::SideInputs],
//!         known_failures: &[],
//!         parallel: false,
//!         create: || Box::new(DirectRunner),
//!     }
//! }
//! ```
//!
//! and [`Pipeline::run`](crate::Pipeline::run) finds it by the `--runner` name,
//! so `beam-core` never names a runner. A runner only has to be linked into the
//! program (a dependency that the program references).

use crate::error::{BeamError, Result};
use crate::graph::Graph;
use crate::metrics::MetricResults;
use crate::monitoring::JobMonitor;
use crate::options::RunnerOption;
use std::sync::Arc;

/// Executes pipeline graphs.
pub trait Runner: Send + Sync {
    /// Checks that every step of `graph` can run here, before any data moves.
    fn validate(&self, graph: &Graph) -> Result<()>;
    /// Runs the pipeline to completion, recording what it does in `monitor`
    /// as it goes (see [`monitoring`](crate::monitoring)): the step metrics
    /// per bundle, the user's metrics (from which the result's are taken),
    /// watermarks and checkpoints.
    fn run(&self, graph: Graph, monitor: Arc<JobMonitor>) -> Result<PipelineResult>;
}

/// A model feature that not every runner supports, like Beam's `Uses*`
/// test categories. Conformance scenarios declare the features they use;
/// runners declare the features they support.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// Side inputs (views) read by a ParDo.
    SideInputs,
    /// Merging window functions (sessions).
    MergingWindows,
    /// Triggers other than the default one.
    Triggers,
    /// Processing-time triggers and timers.
    ProcessingTime,
    /// TestStream: scripted elements, watermarks and processing time.
    TestStream,
    /// Unbounded PCollections.
    Unbounded,
    /// User metrics.
    Metrics,
    /// DoFn lifecycle guarantees (setup/teardown pairing, teardown after failure).
    Lifecycle,
    /// Stateful ParDo (state per key and window).
    StatefulParDo,
    /// Event-time and processing-time timers in a ParDo.
    Timers,
    /// A bounded read with an event-time watermark
    /// ([`Read::with_bounded_out_of_orderness`](crate::Read::with_bounded_out_of_orderness))
    /// closes windows while it is read, not at its end.
    ReadWatermarks,
    /// Inspecting which windows of a grouping hold state (the `state` action of
    /// trigger transcripts); no runner offers it yet.
    WindowStateInspection,
}

/// A conformance scenario a runner is known to fail, with the reason.
#[derive(Debug)]
pub struct KnownFailure {
    /// The scenario's name.
    pub scenario: &'static str,
    /// Why it fails, and what would fix it.
    pub reason: &'static str,
}

/// An entry of the runner registry.
pub struct RunnerRegistration {
    /// The `--runner` name.
    pub name: &'static str,
    /// One-line description.
    pub about: &'static str,
    /// Command-line options this runner adds.
    pub options: &'static [RunnerOption],
    /// Features the runner supports.
    pub features: &'static [Feature],
    /// Conformance scenarios it is known to fail.
    pub known_failures: &'static [KnownFailure],
    /// Whether `--parallelism` changes how it runs (the conformance suite
    /// runs each scenario with several worker counts only on such runners).
    pub parallel: bool,
    /// Creates the runner.
    pub create: fn() -> Box<dyn Runner>,
}

inventory::collect!(RunnerRegistration);

/// Every runner linked into this program, sorted by name.
pub fn registered_runners() -> Vec<&'static RunnerRegistration> {
    let mut v: Vec<_> = inventory::iter::<RunnerRegistration>.into_iter().collect();
    v.sort_by_key(|r| r.name);
    v
}

/// The runner registered under `name`.
pub fn find_runner(name: &str) -> Result<&'static RunnerRegistration> {
    let all = registered_runners();
    all.iter()
        .find(|r| r.name == name)
        .copied()
        .ok_or_else(|| BeamError::UnknownRunner {
            name: name.to_string(),
            available: all.iter().map(|r| r.name.to_string()).collect(),
        })
}

/// How a pipeline run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipelineState {
    /// Every element was processed.
    Done,
}

/// The outcome of a successful run: its final state and its metrics.
#[derive(Clone, Debug)]
pub struct PipelineResult {
    /// Final state.
    pub state: PipelineState,
    metrics: MetricResults,
}

impl PipelineResult {
    /// A finished run with `metrics`.
    pub fn done(metrics: MetricResults) -> Self {
        PipelineResult {
            state: PipelineState::Done,
            metrics,
        }
    }
    /// A finished run of `graph`, with the metrics each transform collected
    /// (`metrics[i]` for `graph.transforms[i]`).
    pub fn from_step_metrics(
        graph: &Graph,
        metrics: Vec<crate::metrics::MetricsContainer>,
    ) -> Self {
        let names = graph.transforms.iter().map(|t| t.name.clone());
        Self::done(MetricResults::from_steps(
            names.zip(metrics).filter(|(_, m)| !m.is_empty()),
        ))
    }
    /// A finished run with the user metrics `monitor` collected.
    pub fn from_monitor(monitor: &JobMonitor) -> Self {
        Self::done(monitor.user_metrics())
    }
    /// The run's metrics, queryable by step and name.
    pub fn metrics(&self) -> &MetricResults {
        &self.metrics
    }
}
