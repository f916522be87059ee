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
use crate::options::RunnerOption;

/// Executes pipeline graphs.
pub trait Runner: Send + Sync {
    /// Checks that every step of `graph` can run here, before any data moves.
    fn validate(&self, graph: &Graph) -> Result<()>;
    /// Runs the pipeline to completion.
    fn run(&self, graph: Graph) -> Result<PipelineResult>;
}

/// An entry of the runner registry.
pub struct RunnerRegistration {
    /// The `--runner` name.
    pub name: &'static str,
    /// One-line description.
    pub about: &'static str,
    /// Command-line options this runner adds.
    pub options: &'static [RunnerOption],
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
    /// The run's metrics, queryable by step and name.
    pub fn metrics(&self) -> &MetricResults {
        &self.metrics
    }
}
