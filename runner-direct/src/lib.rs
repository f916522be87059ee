//! The direct runner: runs a pipeline in one process and checks that it obeys
//! the model, like Beam's DirectRunner.
//!
//! With checks on (the default):
//! - every element produced into a PCollection round-trips through its coder;
//! - a DoFn's input is encoded before and after processing, and a change (even
//!   through interior mutability) fails the step;
//! - bundles are processed in a shuffled order and elements are shuffled
//!   within bundles, from `--seed`, so a pipeline that depends on order fails
//!   reproducibly;
//! - Combine accumulators are built per bundle and merged, so a CombineFn with
//!   a wrong merge fails, and keys that are equal but encode differently are
//!   reported;
//! - before each advance of its input watermark, every grouping table and
//!   stateful processor is replaced by one restored from its own snapshot, as
//!   after a checkpoint (state must round-trip; a stateful DoFn gets a fresh,
//!   newly set-up instance).
//!
//! `--no-checks` turns all of this off for speed.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, Map, Pipeline, PipelineOptions};
//! use beam_core::testing::PAssert;
//! let options = PipelineOptions::default().with_runner("direct").set("seed", "7");
//! let p = Pipeline::new(options);
//! let xs = p.apply("Xs", Create::of(vec![1, 2, 3])).unwrap();
//! let ys = xs.apply("Square", Map::new(|x: &i32| x * x)).unwrap();
//! PAssert::that(&ys).contains_in_any_order(vec![1, 4, 9]).unwrap();
//! p.run().unwrap();
//! ```
#![deny(missing_docs)]

mod executor;

use beam_core::graph::{Graph, Primitive};
use beam_core::{
    BeamError, Feature, PipelineResult, Result, Runner, RunnerOption, RunnerRegistration,
};

/// Options of the direct runner.
#[derive(Clone, Debug)]
pub struct DirectOptions {
    /// Seed of the bundle and element shuffling.
    pub seed: u64,
    /// Whether the model checks run.
    pub checks: bool,
    /// Elements per bundle read from sources.
    pub bundle_size: usize,
}

impl DirectOptions {
    fn from_graph(graph: &Graph) -> Result<Self> {
        let o = &graph.options;
        Ok(DirectOptions {
            seed: o.parse::<u64>("seed")?.unwrap_or(0),
            checks: !o.flag("no-checks"),
            bundle_size: o.parse::<usize>("bundle-size")?.unwrap_or(1024).max(1),
        })
    }
}

/// The direct runner.
pub struct DirectRunner;

impl Runner for DirectRunner {
    fn validate(&self, graph: &Graph) -> Result<()> {
        DirectOptions::from_graph(graph)?;
        let streams = graph
            .transforms
            .iter()
            .filter(|t| matches!(t.primitive, Primitive::TestStream { .. }))
            .count();
        if streams > 1 {
            return Err(BeamError::Unsupported {
                runner: "direct".into(),
                step: graph
                    .transforms
                    .iter()
                    .rfind(|t| t.primitive.kind() == "TestStream")
                    .map_or(String::new(), |t| t.name.clone()),
                feature: "more than one TestStream in a pipeline".into(),
            });
        }
        for t in &graph.transforms {
            match &t.primitive {
                Primitive::Impulse
                | Primitive::Create { .. }
                | Primitive::Read { .. }
                | Primitive::ParDo { .. }
                | Primitive::GroupByKey { .. }
                | Primitive::CombinePerKey { .. }
                | Primitive::Flatten
                | Primitive::WindowInto { .. }
                | Primitive::Reshuffle
                | Primitive::Publish { .. }
                | Primitive::TestStream { .. }
                | Primitive::ReadUnbounded { .. }
                | Primitive::StatefulParDo { .. } => {}
                other => {
                    return Err(BeamError::Unsupported {
                        runner: "direct".into(),
                        step: t.name.clone(),
                        feature: format!("the primitive {}", other.kind()),
                    })
                }
            }
        }
        Ok(())
    }

    fn run(
        &self,
        graph: Graph,
        monitor: std::sync::Arc<beam_core::monitoring::JobMonitor>,
    ) -> Result<PipelineResult> {
        let options = DirectOptions::from_graph(&graph)?;
        executor::Executor::new(graph, options, monitor).run()
    }
}

inventory::submit! {
    RunnerRegistration {
        name: "direct",
        about: "runs in one process and checks the model; deterministic for a given --seed",
        options: &[
            RunnerOption { name: "seed", help: "Seed for shuffling bundles and elements (default 0)", takes_value: true },
            RunnerOption { name: "no-checks", help: "Turn off coder, mutation and ordering checks", takes_value: false },
            RunnerOption { name: "bundle-size", help: "Elements per bundle read from a source (default 1024)", takes_value: true },
        ],
        features: &[
            Feature::SideInputs,
            Feature::MergingWindows,
            Feature::Triggers,
            Feature::ProcessingTime,
            Feature::TestStream,
            Feature::Unbounded,
            Feature::Metrics,
            Feature::Lifecycle,
            Feature::StatefulParDo,
            Feature::Timers,
            Feature::ReadWatermarks,
        ],
        known_failures: &[beam_core::KnownFailure {
            scenario: "two_test_streams_flattened",
            reason: "the direct runner replays one TestStream per pipeline; it refuses a second, naming it, before any data moves",
        }],
        parallel: false,
        create: || Box::new(DirectRunner),
    }
}
