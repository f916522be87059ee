//! The timely runner: pipelines on timely-dataflow, from one worker thread to
//! a cluster of processes.
//!
//! Every worker builds the same dataflow from the pipeline graph. A timely
//! time is a pair (checkpoint epoch, watermark epoch) in the product order
//! and elements carry their own event times, so the least watermark epoch of
//! an operator's input frontier *is* its Beam input watermark. Sources emit at
//! the start of time and release their capability when read (bounded sources:
//! the watermark goes from the start to the end of time). GroupByKey, Combine
//! and stateful ParDos exchange encoded bundles by the key kernel's hash and
//! drive `beam-core`'s grouping tables and stateful processors with the input
//! frontier and the worker's clock (processing-time triggers and timers wake
//! the operator when due); each holds a capability at its output watermark,
//! so downstream watermarks wait for its holds. Side inputs are broadcast to
//! every worker and materialized once complete; the main input waits for
//! them. Errors stop every worker of the process and fail the run with the
//! step's error.
//!
//! Options: `--workers N` threads per process (default: `--parallelism`, else
//! 1); a cluster with `--processes N --process-index I --hosts FILE` (a line
//! `host:port` per process, in process order), `--cluster-timeout SECS` (60)
//! for every process to join, and a shared secret from
//! `--cluster-secret-file FILE` or `BEAM_CLUSTER_SECRET`. The runner makes the
//! cluster's connections itself, with a handshake that refuses (and logs)
//! connections from anything but this job's processes; a process missing at
//! start-up or lost while running fails the run with one error naming it.
//!
//! Unbounded sources (`ReadUnbounded`) are read by every worker's share of
//! their splits, holding the least watermark of the readers that are neither
//! idle nor finished. TestStream runs on one process: each event is applied
//! once the process is quiescent, processing time is its test clock.
//!
//! # Checkpoints
//!
//! `--checkpoint-dir DIR` takes a consistent checkpoint of the whole run every
//! `--checkpoint-interval` (default 5s), keeping the newest
//! `--retain-checkpoints N` (2); `--restore-from latest|PATH` restarts a run
//! where a checkpoint left it, on any number of workers and processes. How
//! (see the `checkpoint` module): sources end a checkpoint epoch every
//! interval (once fewer than `--max-concurrent-checkpoints` are in flight and
//! `--min-pause-between-checkpoints` has passed since the last completed) and
//! record their positions; stateful operators apply their input epoch by
//! epoch and write their state when the frontier passes an epoch (input of a
//! later epoch waits, up to `--early-input-memory` bytes per operator in
//! memory and the rest in unnamed temporary files); worker 0
//! publishes a checkpoint once every part of it is written, with a manifest
//! naming each part's size and checksum, and fails one not complete within
//! `--checkpoint-timeout` (the run fails after more than
//! `--tolerable-checkpoint-failures` in a row). A restore takes the newest
//! checkpoint that verifies (a damaged one is reported and fallen back from)
//! and refuses one of another pipeline (naming the step that differs).
//! SIGTERM and Ctrl-C end the sources' epoch at once and stop the run when
//! that checkpoint is published. A checkpoint completes once the data read
//! before it has passed every stateful step: behind a slow step, the time
//! that takes is bounded by `--max-queued-bundles` and `--read-bundle-size`.
//!
//! Why the time is a pair: with the watermark as the only time, "the
//! frontier passed epoch E" would mean "the watermark passed E", so a
//! checkpoint would wait for every window's hold (an hour-long window would
//! checkpoint hourly) and an idle source would stall them all. With the
//! product order, holds stay on the watermark axis and checkpoints advance on
//! their own (as Flink's barriers are independent of watermarks), while the
//! watermark is still read off the frontier, as before. Timely's progress
//! tracking gives the aligned cut with no barrier messages. The cost is a
//! nested scope (a dataflow's own time cannot be a product) and frontiers
//! of more than one element while epochs are in flight.
//!
//! Rescaling: keyed operators receive their keys by key group (32 768 of
//! them, a contiguous range per worker), so a worker restoring a checkpoint
//! of another worker count reads the parts of the old workers whose ranges
//! overlap its own and keeps its keys; sources' splits are made for the job's
//! first worker count (recorded in every manifest) and spread anew.
//!
//! What a checkpoint holds: sources' positions (bounded shares, unbounded
//! readers' checkpoint marks: Kafka offsets and the Nexmark generator),
//! grouping tables, stateful processors, the side inputs of ParDos, and the
//! staged output of Publish steps. The unbounded file sink is exactly once
//! (its files are renamed into place only once a checkpoint covering them is
//! complete, and a restore publishes what its checkpoint staged). So is the
//! transactional Kafka sink: a `PublishTransactionally` step commits each
//! worker's records of the epochs a published checkpoint covers in one
//! transaction of that worker's writer (named by the job, which every
//! manifest records, and the worker), and a restore recovers every writer of
//! the checkpoint (in the process of the worker that takes it over, before
//! the cluster connects) and commits only the restored records of epochs
//! after the writer's last commit. Other sinks are at least once: output
//! written after the last checkpoint is written again after a restore. Every process of a cluster must see the same
//! checkpoint directory (and output directory, for the file sink). Parts are
//! written on the worker threads, each a full snapshot.
//!
//! ```
//! # use runner_timely as _;
//! use beam_core::{Count, Create, Pipeline, PipelineOptions};
//! use beam_core::testing::PAssert;
//! let p = Pipeline::new(PipelineOptions::default().with_runner("timely").set("workers", "2"));
//! let words = p.apply("Words", Create::of(vec!["a".to_string(), "b".into(), "a".into()])).unwrap();
//! let counts = words.apply("Count", Count::per_element()).unwrap();
//! PAssert::that(&counts).contains_in_any_order(vec![("a".into(), 2), ("b".into(), 1)]).unwrap();
//! p.run().unwrap();
//! ```
#![deny(missing_docs)]

mod bounded_share;
mod checkpoint;
mod cluster;
mod early_stash;
mod operators;
mod publish;
mod side_buffers;
mod sources;
mod spill_segments;
mod spilling_table;
mod worker;

use beam_core::graph::{Graph, Primitive};
use beam_core::{
    BeamError, Feature, PipelineResult, Result, Runner, RunnerOption, RunnerRegistration,
};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// The default bound on bundles queued between steps, per worker thread.
const QUEUED_BUNDLES_PER_WORKER: usize = 64;

/// The default bound on the elements of an unbounded source's bundle.
const READ_BUNDLE_SIZE: usize = 4096;

/// How the run is spread: threads per process, and the cluster if any; and
/// its checkpoints.
#[derive(Clone, Debug)]
struct TimelyOptions {
    workers: usize,
    /// Bundles queued between steps in a process before its sources pause,
    /// and the size of an unbounded source's bundles.
    flow: worker::FlowLimits,
    cluster: Option<cluster::ClusterSpec>,
    checkpoint: Option<checkpoint::CheckpointConfig>,
}

/// The checkpoint options, if the run checkpoints.
fn checkpoint_options(
    o: &beam_core::PipelineOptions,
) -> Result<Option<checkpoint::CheckpointConfig>> {
    let Some(dir) = o.get("checkpoint-dir") else {
        for name in [
            "checkpoint-interval",
            "checkpoint-timeout",
            "min-pause-between-checkpoints",
            "max-concurrent-checkpoints",
            "tolerable-checkpoint-failures",
            "restore-from",
            "retain-checkpoints",
            "early-input-memory",
        ] {
            if o.get(name).is_some() {
                return Err(BeamError::Options(format!(
                    "--{name} needs --checkpoint-dir DIR"
                )));
            }
        }
        return Ok(None);
    };
    let interval = match o.get("checkpoint-interval") {
        Some(text) => checkpoint::parse_duration("checkpoint-interval", text)?,
        None => Duration::from_secs(5),
    };
    let duration = |name: &str, default: Duration| match o.get(name) {
        Some(text) => checkpoint::parse_duration(name, text),
        None => Ok(default),
    };
    let timeout = duration("checkpoint-timeout", Duration::from_secs(60))?;
    let min_pause = match o.get("min-pause-between-checkpoints") {
        Some("0") => Duration::ZERO,
        _ => duration("min-pause-between-checkpoints", Duration::ZERO)?,
    };
    let max_concurrent = match o.parse::<usize>("max-concurrent-checkpoints")? {
        Some(0) => {
            return Err(BeamError::Options(
                "--max-concurrent-checkpoints must be at least 1, got 0".into(),
            ))
        }
        n => n.unwrap_or(1),
    };
    let tolerable_failures = o.parse::<usize>("tolerable-checkpoint-failures")?;
    let retain = match o.parse::<usize>("retain-checkpoints")? {
        Some(0) => {
            return Err(BeamError::Options(
                "--retain-checkpoints must be at least 1, got 0".into(),
            ))
        }
        n => n.unwrap_or(2),
    };
    let early_input_memory = o
        .parse::<usize>("early-input-memory")?
        .unwrap_or(early_stash::MEMORY_PER_OPERATOR);
    let restore_from = o.get("restore-from").map(|r| match r {
        "latest" => checkpoint::RestoreFrom::Latest,
        path => checkpoint::RestoreFrom::Path(path.into()),
    });
    Ok(Some(checkpoint::CheckpointConfig {
        dir: dir.into(),
        interval,
        timeout,
        min_pause,
        max_concurrent,
        tolerable_failures,
        retain,
        restore_from,
        early_input_memory,
    }))
}

impl TimelyOptions {
    fn from_graph(graph: &Graph) -> Result<Self> {
        let o = &graph.options;
        let at_least_one = |name: &str| -> Result<Option<usize>> {
            match o.parse::<usize>(name)? {
                Some(0) => Err(BeamError::Options(format!(
                    "--{name} must be at least 1, got 0"
                ))),
                n => Ok(n),
            }
        };
        let workers = at_least_one("workers")?
            .or(o.parallelism)
            .unwrap_or(1)
            .max(1);
        let processes = at_least_one("processes")?.unwrap_or(1);
        let checkpoint = checkpoint_options(o)?;
        // Grouping state spills past the budget; a run with checkpoints
        // keeps it in memory (spilled state is not part of a checkpoint).
        let grouping_memory = match (o.memory_budget()?, &checkpoint) {
            (Some(_), Some(_)) => {
                return Err(BeamError::Options(
                    "--memory-budget cannot be combined with --checkpoint-dir: grouping state that spills to disk is not checkpointed".into(),
                ))
            }
            (budget, None) => {
                Some(budget.unwrap_or_else(beam_core::options::default_memory_budget))
            }
            (None, Some(_)) => None,
        };
        let flow = worker::FlowLimits {
            max_queued_bundles: at_least_one("max-queued-bundles")?
                .unwrap_or(QUEUED_BUNDLES_PER_WORKER * workers),
            read_bundle_size: at_least_one("read-bundle-size")?.unwrap_or(READ_BUNDLE_SIZE),
            grouping_memory,
        };
        if processes <= 1 {
            return Ok(TimelyOptions {
                workers,
                flow,
                cluster: None,
                checkpoint,
            });
        }
        let index = o.parse::<usize>("process-index")?.ok_or_else(|| {
            BeamError::Options("--processes needs --process-index I (0-based)".into())
        })?;
        let hosts_file = o
            .get("hosts")
            .ok_or_else(|| BeamError::Options("--processes needs --hosts FILE".into()))?;
        let hosts: Vec<String> = std::fs::read_to_string(hosts_file)
            .map_err(|e| BeamError::Options(format!("--hosts {hosts_file}: {e}")))?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect();
        if hosts.len() < processes || index >= processes {
            return Err(BeamError::Options(format!(
                "--hosts {hosts_file} lists {} hosts for {processes} processes, --process-index {index}",
                hosts.len()
            )));
        }
        let timeout = match o.parse::<f64>("cluster-timeout")? {
            None => Duration::from_secs(60),
            Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s),
            Some(s) => {
                return Err(BeamError::Options(format!(
                    "--cluster-timeout must be a positive number of seconds, got {s}"
                )))
            }
        };
        let secret = match o.get("cluster-secret-file") {
            Some(file) => std::fs::read(file)
                .map_err(|e| BeamError::Options(format!("--cluster-secret-file {file}: {e}")))?
                .trim_ascii()
                .to_vec(),
            None => std::env::var("BEAM_CLUSTER_SECRET")
                .unwrap_or_default()
                .into_bytes(),
        };
        Ok(TimelyOptions {
            workers,
            flow,
            checkpoint,
            cluster: Some(cluster::ClusterSpec {
                index,
                hosts: hosts[..processes].to_vec(),
                job: o.job_name.clone(),
                secret,
                timeout,
            }),
        })
    }

    /// The allocators of this process's workers: threads, or threads
    /// connected to the cluster's other processes over sockets the runner
    /// made (see [`cluster`]).
    fn allocators(
        &self,
    ) -> Result<(
        Vec<timely::communication::allocator::AllocatorBuilder>,
        Box<dyn std::any::Any + Send>,
    )> {
        use timely::communication::allocator::zero_copy::initialize::initialize_networking_from_sockets;
        use timely::communication::allocator::{AllocatorBuilder, ProcessBuilder};
        let Some(spec) = &self.cluster else {
            let communication = if self.workers == 1 {
                timely::CommunicationConfig::Thread
            } else {
                timely::CommunicationConfig::Process(self.workers)
            };
            return communication
                .try_build()
                .map_err(|e| BeamError::Runner(format!("cannot start timely: {e}")));
        };
        let sockets = cluster::connect(spec)?;
        let hooks = timely::communication::Hooks::default();
        let process = ProcessBuilder::new_typed_vector(
            self.workers,
            hooks.refill.clone(),
            hooks.spill.clone(),
        );
        let (builders, guard) =
            initialize_networking_from_sockets(process, sockets, spec.index, self.workers, hooks)
                .map_err(|e| {
                BeamError::Runner(format!("cannot start the cluster's networking: {e}"))
            })?;
        Ok((
            builders.into_iter().map(AllocatorBuilder::Tcp).collect(),
            Box::new(guard),
        ))
    }
}

/// The timely runner.
pub struct TimelyRunner;

impl Runner for TimelyRunner {
    fn validate(&self, graph: &Graph) -> Result<()> {
        let options = TimelyOptions::from_graph(graph)?;
        for t in &graph.transforms {
            let unbounded = t.outputs.iter().any(|&o| !graph.pcollections[o].bounded);
            let test_stream = matches!(t.primitive, Primitive::TestStream { .. });
            if test_stream && options.cluster.is_some() {
                return Err(BeamError::Unsupported {
                    runner: "timely".into(),
                    step: t.name.clone(),
                    feature: "a TestStream in a cluster of processes (its test clock and quiescence are per process; run it with --workers)".into(),
                });
            }
            if options.checkpoint.is_some() {
                let refuse = |feature: &str| {
                    Err(BeamError::Unsupported {
                        runner: "timely".into(),
                        step: t.name.clone(),
                        feature: feature.into(),
                    })
                };
                if test_stream {
                    return refuse("checkpoints of a TestStream (its script and test clock are not positions a checkpoint can hold)");
                }
                if t.side_inputs().iter().any(|s| s.kernel.of_stream()) {
                    return refuse("checkpoints of a ParDo whose side input is a view of a stream (its fired windows and waiting elements are not yet part of a checkpoint)");
                }
                if let Primitive::ReadUnbounded { source } = &t.primitive {
                    if !source.can_resume() {
                        return refuse(&format!(
                            "checkpoints of the source {}, which cannot resume from a checkpoint mark",
                            source.describe()
                        ));
                    }
                }
            }
            let read_unbounded = matches!(t.primitive, Primitive::ReadUnbounded { .. });
            if !test_stream && !read_unbounded && t.inputs.is_empty() && unbounded {
                return Err(BeamError::Unsupported {
                    runner: "timely".into(),
                    step: t.name.clone(),
                    feature: format!("the unbounded root {}", t.primitive.kind()),
                });
            }
        }
        Ok(())
    }

    fn run(
        &self,
        graph: Graph,
        monitor: Arc<beam_core::monitoring::JobMonitor>,
    ) -> Result<PipelineResult> {
        let options = TimelyOptions::from_graph(&graph)?;
        monitor.set_workers(options.workers);
        monitor.set_process(options.cluster.as_ref().map_or(0, |c| c.index));
        let graph = Arc::new(graph);
        let has_test_stream = graph
            .transforms
            .iter()
            .any(|t| matches!(t.primitive, Primitive::TestStream { .. }));
        let run = Arc::new(worker::RunShared::new(
            options.workers,
            has_test_stream,
            monitor.clone(),
            options.flow,
        ));
        let total_workers = options.workers * options.cluster.as_ref().map_or(1, |c| c.hosts.len());
        let checkpoints = match &options.checkpoint {
            Some(config) => Some(Arc::new(checkpoint::CheckpointRun::start(
                config,
                &graph,
                total_workers,
                options.cluster.as_ref().map_or(0, |c| c.index),
                options.workers,
            )?)),
            None => None,
        };
        let shared = graph.clone();
        let workers = options.workers;
        let loss = options.cluster.as_ref().map(|_| cluster::PeerLoss::watch());
        let lost_error = |peer: usize| {
            let hosts = options.cluster.as_ref().map_or(&[][..], |c| &c.hosts[..]);
            BeamError::Runner(format!(
                "lost process {peer} of the cluster ({}): its connection closed, so this process stops",
                hosts.get(peer).map_or("?", String::as_str)
            ))
        };
        if let Some(c) = &checkpoints {
            // SIGTERM or Ctrl-C: stop at a final checkpoint (a second one exits).
            let c = c.clone();
            beam_core::temp_paths::set_stop_hook(move || c.request_stop());
        }
        struct ClearHook;
        impl Drop for ClearHook {
            fn drop(&mut self) {
                beam_core::temp_paths::clear_stop_hook();
            }
        }
        let _hook = checkpoints.as_ref().map(|_| ClearHook);
        let stopping = checkpoints.clone();
        let (builders, others) = options.allocators()?;
        let guards = timely::execute::execute_from(
            builders,
            others,
            timely::WorkerConfig::default(),
            move |worker| {
                let _span = tracing::info_span!(
                    "worker",
                    job = %shared.options.job_name,
                    process = worker.index() / workers,
                    worker = worker.index(),
                )
                .entered();
                let state = Rc::new(worker::WorkerState::new(
                    shared.clone(),
                    run.clone(),
                    checkpoints.clone(),
                    worker.index() % workers,
                ));
                // The pipeline's time is a product (checkpoint epoch, watermark
                // epoch), which a dataflow's own time cannot be: the pipeline is
                // a nested scope whose outer time is the checkpoint epoch.
                let built = worker.dataflow::<u64, _, _>(|outer| {
                    outer.iterative::<u64, _, _>(|scope| worker::build(scope, state.clone()))
                });
                if let Err(e) = built {
                    state.fail(e);
                    return state.finish();
                }
                let local = worker.index() % workers;
                let mut clock = run.test_clock();
                while worker.step_or_park(Some(Duration::from_millis(1))) {
                    run.stepped(local);
                    let now = run.test_clock();
                    if now != clock {
                        clock = now;
                        state.clock_moved();
                    }
                }
                state.finish()
            },
        )
        .map_err(|e| BeamError::Runner(format!("cannot start timely: {e}")))?;
        // A lost peer panics the communication threads (and, through them, the
        // workers and the join of the communication threads).
        let joined = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| guards.join()));
        if let Some(peer) = loss.as_ref().and_then(|l| l.lost()) {
            return Err(lost_error(peer));
        }
        let joined = joined.map_err(|p| {
            BeamError::Runner(format!(
                "a timely worker failed: {}",
                beam_core::error::panic_message(p.as_ref())
            ))
        })?;
        let mut error = None;
        for result in joined {
            let e =
                result.map_err(|e| BeamError::Runner(format!("a timely worker failed: {e}")))?;
            if error.is_none() {
                error = e;
            }
        }
        if let Some(stopped) = stopping.as_ref().and_then(|c| c.stopped_at()) {
            if error.is_none() {
                eprintln!(
                    "checkpoint: stopped at checkpoint {stopped} in {}: run again with --restore-from latest to go on",
                    options.checkpoint.as_ref().map_or_else(String::new, |c| c.dir.display().to_string())
                );
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(PipelineResult::from_monitor(&monitor)),
        }
    }
}

inventory::submit! {
    RunnerRegistration {
        name: "timely",
        about: "timely-dataflow: worker threads, or a cluster of processes",
        options: &[
            RunnerOption { name: "workers", help: "Worker threads per process (default: --parallelism, else 1)", takes_value: true },
            RunnerOption { name: "processes", help: "Processes in the cluster (default 1)", takes_value: true },
            RunnerOption { name: "process-index", help: "This process's index in the cluster, from 0", takes_value: true },
            RunnerOption { name: "hosts", help: "File of host:port lines, one per process, in process order", takes_value: true },
            RunnerOption { name: "cluster-timeout", help: "Seconds to wait for every process of the cluster to join (default 60)", takes_value: true },
            RunnerOption { name: "cluster-secret-file", help: "File holding the cluster's shared secret (else BEAM_CLUSTER_SECRET, if set)", takes_value: true },
            RunnerOption { name: "checkpoint-dir", help: "Directory of consistent checkpoints (shared by every process of a cluster); enables checkpointing", takes_value: true },
            RunnerOption { name: "checkpoint-interval", help: "Time between checkpoints, e.g. 500ms, 1s, 5m (default 5s)", takes_value: true },
            RunnerOption { name: "checkpoint-timeout", help: "A checkpoint not complete this long after it started is abandoned and counted as failed (default 60s)", takes_value: true },
            RunnerOption { name: "min-pause-between-checkpoints", help: "Least time from a checkpoint's completion to the start of the next (default 0)", takes_value: true },
            RunnerOption { name: "max-concurrent-checkpoints", help: "Checkpoints in progress at once (default 1)", takes_value: true },
            RunnerOption { name: "tolerable-checkpoint-failures", help: "Checkpoints in a row that may fail (time out) before the run fails (default: any number)", takes_value: true },
            RunnerOption { name: "retain-checkpoints", help: "Complete checkpoints kept (default 2)", takes_value: true },
            RunnerOption { name: "restore-from", help: "Restore from 'latest' (the newest checkpoint that verifies) or a checkpoint directory", takes_value: true },
            RunnerOption { name: "max-queued-bundles", help: "Bundles waiting between the steps of a process before its sources pause reading, so that a slow step slows the sources instead of growing a queue (default 64 per worker)", takes_value: true },
            RunnerOption { name: "read-bundle-size", help: "Elements an unbounded source hands on per bundle, at most (default 4096); smaller bundles hold less data in flight behind a slow step, so checkpoints complete sooner", takes_value: true },
            RunnerOption { name: "memory-budget", help: "Memory of a process's grouping state before it spills to disk, e.g. 512MiB (default: half the RAM); for groupings whose windows do not merge, fired once at the end of the window with no allowed lateness; not with --checkpoint-dir", takes_value: true },
            RunnerOption { name: "temp-dir", help: "Where spilled grouping state is written (default: the system's temporary directory)", takes_value: true },
            RunnerOption { name: "early-input-memory", help: "Bytes of a later checkpoint epoch's input a keyed step holds in memory per worker while it finishes the current epoch; the rest waits in temporary files (default 67108864)", takes_value: true },
        ],
        features: &[
            Feature::SideInputs,
            Feature::MergingWindows,
            Feature::Triggers,
            Feature::Metrics,
            Feature::Lifecycle,
            Feature::StatefulParDo,
            Feature::Timers,
            Feature::ReadWatermarks,
            Feature::TestStream,
            Feature::Unbounded,
            Feature::ProcessingTime,
        ],
        known_failures: &[],
        parallel: true,
        create: || Box::new(TimelyRunner),
    }
}
