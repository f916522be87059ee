//! The rayon runner: bounded pipelines on every core of one machine.
//!
//! It runs the graph stage by stage on the rayon pool. A stage has a head (the
//! splits of a source, the bundles of a complete PCollection, or the shuffled
//! input of a GroupByKey or Combine), the chain of single-output ParDos and
//! WindowIntos that follows it, and, when the chain feeds a grouping, that
//! grouping's shuffle. Each worker pushes its share of the head through the
//! chain bundle by bundle with its own DoFn instances. When the grouping allows
//! it (a combine, windows that do not merge, a trigger that neither counts
//! elements nor waits for processing time), each worker pre-combines per key
//! and window before the shuffle (combiner lifting).
//!
//! The shuffle writes encoded batches into buckets by key hash. Past the
//! worker's share of `--memory-budget` (default: half the RAM) it spills them
//! as runs to a directory under `--temp-dir`; each bucket is then grouped from
//! memory and its segment of every run (split again by a finer hash when it is
//! too big), in a table fed everything and then the watermark at the end of
//! time (every window fires its final pane, as in Beam's batch mode). Spill
//! files are removed when the run succeeds or fails and on Ctrl-C; the
//! grouping's metrics count `spilled_runs`, `spilled_bytes` and
//! `resplit_buckets`. Stateful ParDos partition by key and keep their state in
//! memory; side inputs are materialized once and shared read-only. Windowing,
//! triggers, state and timers come from `beam-core`'s runner support, as on
//! every runner. Each finished stage logs its records (`--log-level info`);
//! the progress bar on a terminal is the one every runner shares.
//!
//! Unbounded inputs (TestStream, unbounded sources) are refused before any
//! data moves. `--parallelism N` sets the pool size (default: the cores).
//!
//! ```
//! # use runner_rayon as _;
//! use beam_core::{Count, Create, Pipeline, PipelineOptions};
//! use beam_core::testing::PAssert;
//! let p = Pipeline::new(PipelineOptions::default().with_runner("rayon"));
//! let words = p.apply("Words", Create::of(vec!["a".to_string(), "b".into(), "a".into()])).unwrap();
//! let counts = words.apply("Count", Count::per_element()).unwrap();
//! PAssert::that(&counts).contains_in_any_order(vec![("a".into(), 2), ("b".into(), 1)]).unwrap();
//! p.run().unwrap();
//! ```
#![deny(missing_docs)]

mod executor;
mod parallel;
mod shuffle;
mod spill;
mod stage;

use beam_core::graph::{Graph, Primitive};
use beam_core::{
    BeamError, Feature, PipelineResult, Result, Runner, RunnerOption, RunnerRegistration,
};
use std::path::PathBuf;

/// The rayon runner's options (`--memory-budget`, `--temp-dir`).
#[derive(Clone, Debug)]
pub(crate) struct RayonOptions {
    /// Bytes the buffered input of groupings may take before it spills.
    pub(crate) memory_budget: usize,
    /// Where spill directories are created.
    pub(crate) temp_dir: PathBuf,
}

impl RayonOptions {
    fn from_graph(graph: &Graph) -> Result<Self> {
        let o = &graph.options;
        let memory_budget = o
            .memory_budget()?
            .unwrap_or_else(beam_core::options::default_memory_budget);
        Ok(RayonOptions {
            memory_budget,
            temp_dir: o
                .get("temp-dir")
                .map_or_else(std::env::temp_dir, PathBuf::from),
        })
    }
}

/// The rayon runner.
pub struct RayonRunner;

impl Runner for RayonRunner {
    fn validate(&self, graph: &Graph) -> Result<()> {
        RayonOptions::from_graph(graph)?;
        for t in &graph.transforms {
            let unbounded = t.outputs.iter().any(|&o| !graph.pcollections[o].bounded);
            if matches!(t.primitive, Primitive::TestStream { .. })
                || (t.inputs.is_empty() && unbounded)
            {
                return Err(BeamError::Unsupported {
                    runner: "rayon".into(),
                    step: t.name.clone(),
                    feature: "an unbounded source; the rayon runner runs bounded pipelines only (use --runner timely or --runner direct)".into(),
                });
            }
        }
        Ok(())
    }

    fn run(
        &self,
        graph: Graph,
        monitor: std::sync::Arc<beam_core::monitoring::JobMonitor>,
    ) -> Result<PipelineResult> {
        let options = RayonOptions::from_graph(&graph)?;
        let threads = graph
            .options
            .parallelism
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| BeamError::Runner(format!("cannot start the rayon pool: {e}")))?;
        pool.install(|| executor::Executor::new(graph, threads, options, monitor).run())
    }
}

inventory::submit! {
    RunnerRegistration {
        name: "rayon",
        about: "bounded pipelines on every core, stage by stage",
        options: &[
            RunnerOption { name: "memory-budget", help: "Memory for grouping input before it spills to disk, e.g. 512MiB (default: half the RAM)", takes_value: true },
            RunnerOption { name: "temp-dir", help: "Directory for spill files (default: the system temp dir)", takes_value: true },
        ],
        features: &[
            Feature::SideInputs,
            Feature::MergingWindows,
            Feature::Triggers,
            Feature::Metrics,
            Feature::Lifecycle,
            Feature::StatefulParDo,
            Feature::Timers,
        ],
        known_failures: &[],
        parallel: true,
        create: || Box::new(RayonRunner),
    }
}
