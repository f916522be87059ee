//! One timely worker's copy of the pipeline: the graph translated to operators.

use crate::bounded_share::BoundedShare;
use crate::checkpoint::{CheckpointRun, Restore};
use crate::operators::{flatten, keyed, map_bundles, par_do, ship, Bundles, Keyed, SideSpec, Time};
use crate::sources::{source, test_stream, unbounded_source, Acks};
use crate::spilling_table::SpillingTable;
use beam_core::graph::{Graph, Primitive};
use beam_core::kernel::{GroupingEnv, GroupingTable, StatefulProcessor};
use beam_core::monitoring::{BundleTimer, JobMonitor};
use beam_core::{Batch, BeamError, MetricsContainer, Result, Timestamp};
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use timely::dataflow::Scope;

/// What every worker of the process shares during a run.
pub(crate) struct RunShared {
    /// Bytes of grouping state kept in memory before it spills.
    grouping_memory: Option<usize>,
    failed: AtomicBool,
    /// Set when a TestStream's script is done and the pipeline is quiescent
    /// below the end of time: operators release their capabilities without
    /// firing what the watermark has not reached.
    stopping: AtomicBool,
    /// The test clock (microseconds) when the pipeline has a TestStream.
    test_clock: Option<AtomicI64>,
    /// The run's monitor; its count of queued bundles (given to a channel
    /// and not yet taken out) also tells quiescence.
    pub(crate) monitor: Arc<JobMonitor>,
    /// Bumped by every operator that does something.
    activity: AtomicU64,
    /// Steps taken by each local worker.
    steps: Vec<AtomicU64>,
    /// Bundles queued between the steps of this process above which its
    /// sources pause reading.
    max_queued: i64,
    /// Elements an unbounded source hands on per bundle, at most.
    read_bundle_size: usize,
}

/// How much data a process lets into its dataflow ahead of its slowest step.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlowLimits {
    /// Bundles queued between steps before the sources pause reading.
    pub(crate) max_queued_bundles: usize,
    /// Elements an unbounded source hands on per bundle, at most.
    pub(crate) read_bundle_size: usize,
    /// Bytes of grouping state the process keeps in memory before it spills
    /// (`None`: no spilling).
    pub(crate) grouping_memory: Option<usize>,
}

impl RunShared {
    pub(crate) fn new(
        workers: usize,
        test_clock: bool,
        monitor: Arc<JobMonitor>,
        flow: FlowLimits,
    ) -> Self {
        RunShared {
            grouping_memory: flow.grouping_memory,
            max_queued: flow.max_queued_bundles as i64,
            read_bundle_size: flow.read_bundle_size.max(1),
            failed: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            test_clock: test_clock.then(|| AtomicI64::new(Timestamp::EPOCH.as_micros())),
            monitor,
            activity: AtomicU64::new(0),
            steps: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Workers in this process.
    pub(crate) fn local_workers(&self) -> usize {
        self.steps.len()
    }

    pub(crate) fn stepped(&self, local_worker: usize) {
        if let Some(s) = self.steps.get(local_worker) {
            s.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A snapshot for [`RunShared::quiet_since`].
    pub(crate) fn quiet_mark(&self) -> QuietMark {
        QuietMark {
            activity: u64::MAX,
            steps: Vec::new(),
        }
    }

    /// Whether nothing happened since `mark` while every worker took three
    /// steps, with no bundle in a channel; updates `mark` when something did.
    pub(crate) fn quiet_since(&self, mark: &mut QuietMark) -> bool {
        let activity = self.activity.load(Ordering::SeqCst);
        let steps: Vec<u64> = self
            .steps
            .iter()
            .map(|s| s.load(Ordering::SeqCst))
            .collect();
        if activity != mark.activity || self.monitor.queued_bundles().load(Ordering::SeqCst) != 0 {
            mark.activity = activity;
            mark.steps = steps;
            return false;
        }
        steps.iter().zip(&mark.steps).all(|(s, m)| *s >= m + 3)
    }

    /// Moves the test clock forward.
    pub(crate) fn advance_test_clock(&self, micros: i64) {
        if let Some(c) = &self.test_clock {
            c.fetch_add(micros, Ordering::SeqCst);
        }
    }

    /// The test clock's reading, if the run has one.
    pub(crate) fn test_clock(&self) -> Option<i64> {
        self.test_clock.as_ref().map(|c| c.load(Ordering::SeqCst))
    }
}

/// Activity seen by a TestStream when it last looked.
pub(crate) struct QuietMark {
    activity: u64,
    steps: Vec<u64>,
}

/// What the operators of one worker share: the graph, the run's shared
/// state, the first error, the metrics of finished steps, and the activators
/// of operators that wait for the test clock.
pub(crate) struct WorkerState {
    pub(crate) graph: Arc<Graph>,
    pub(crate) shared: Arc<RunShared>,
    /// The run's checkpointing, if it checkpoints.
    pub(crate) checkpoint: Option<Arc<CheckpointRun>>,
    error: RefCell<Option<BeamError>>,
    /// This worker's index among the process's workers.
    local_worker: usize,
    clock_waiters: RefCell<Vec<timely::scheduling::Activator>>,
    /// Consuming inputs (main and side) of each PCollection.
    uses: Vec<usize>,
}

impl WorkerState {
    pub(crate) fn new(
        graph: Arc<Graph>,
        shared: Arc<RunShared>,
        checkpoint: Option<Arc<CheckpointRun>>,
        local_worker: usize,
    ) -> Self {
        let mut uses = vec![0; graph.pcollections.len()];
        for t in &graph.transforms {
            for &i in &t.inputs {
                uses[i] += 1;
            }
            for side in t.side_inputs() {
                uses[side.pcollection] += 1;
            }
        }
        WorkerState {
            uses,
            graph,
            shared,
            checkpoint,
            error: RefCell::new(None),
            local_worker,
            clock_waiters: RefCell::new(Vec::new()),
        }
    }

    /// The memory a spilling grouping table of this worker may keep: half
    /// the process's budget (the other half is for bundles on their way and
    /// state read back), split between its workers and their groupings that
    /// can spill.
    pub(crate) fn grouping_share(&self) -> Option<usize> {
        let budget = self.shared.grouping_memory?;
        let spilling = self
            .graph
            .transforms
            .iter()
            .filter(|t| match &t.primitive {
                Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel } => {
                    kernel.evictable()
                }
                _ => false,
            })
            .count();
        Some(budget / 2 / self.shared.local_workers() / spilling.max(1))
    }

    /// Records the first error and stops the run.
    pub(crate) fn fail(&self, e: BeamError) {
        self.shared.failed.store(true, Ordering::SeqCst);
        self.error.borrow_mut().get_or_insert(e);
    }

    pub(crate) fn failed(&self) -> bool {
        self.shared.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn stopping(&self) -> bool {
        self.shared.stopping.load(Ordering::SeqCst)
    }

    pub(crate) fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
    }

    /// Step `t`'s consumer is keyed (GroupByKey, Combine.perKey or a
    /// stateful ParDo) and is its output's only use: a WindowInto then runs
    /// inside that consumer's exchange, a bundle at a time, instead of as an
    /// operator of its own (which would hold every element's window copies
    /// of all the bundles of an activation at once).
    fn fuses_into_keyed_consumer(&self, t: usize) -> bool {
        let out = self.graph.transforms[t].outputs[0];
        self.uses[out] == 1
            && self.graph.transforms.iter().any(|n| {
                n.inputs.first() == Some(&out)
                    && matches!(
                        n.primitive,
                        Primitive::GroupByKey { .. }
                            | Primitive::CombinePerKey { .. }
                            | Primitive::StatefulParDo { .. }
                    )
            })
    }

    /// `batches` were given to PCollection `pcoll`'s stream (and so to each of its consumers).
    pub(crate) fn sent_to(&self, pcoll: usize, batches: &[Batch]) {
        for b in batches {
            self.shared.monitor.produced(pcoll, b);
        }
        self.sent(batches.len() * self.uses[pcoll]);
    }

    /// This worker's watermark of PCollection `pcoll` moved to `watermark`.
    pub(crate) fn watermark_moved(&self, pcoll: usize, watermark: Timestamp) {
        self.shared
            .monitor
            .set_watermark(pcoll, self.local_worker, watermark);
    }

    /// Step `t` took `elements` elements in (before they are shipped to the
    /// worker that owns their keys).
    pub(crate) fn consumed(&self, t: usize, elements: usize) {
        self.shared.monitor.consumed(t, elements);
    }

    /// This worker's keys of step `t` took `elements` elements.
    pub(crate) fn keyed_input(&self, t: usize, elements: usize) {
        self.shared
            .monitor
            .keyed_input(t, self.local_worker, elements);
    }

    /// Times a bundle of `elements` elements of step `t`.
    pub(crate) fn bundle(&self, t: usize, elements: usize) -> BundleTimer<'_> {
        self.shared.monitor.bundle(t, elements)
    }

    /// `n` bundles were given to a channel with one consumer.
    pub(crate) fn sent(&self, n: usize) {
        let monitor = &self.shared.monitor;
        let queued = monitor
            .queued_bundles()
            .fetch_add(n as i64, Ordering::SeqCst);
        monitor.note_queued(queued + n as i64);
        self.shared.activity.fetch_add(1, Ordering::SeqCst);
    }

    /// The most elements an unbounded source hands on in one bundle.
    pub(crate) fn read_bundle_size(&self) -> usize {
        self.shared.read_bundle_size
    }

    /// Whether the bundles queued between this process's steps reached the
    /// limit, so that its sources should not read more until they are taken.
    /// (Bundles on their way to another process are not counted: the bound
    /// holds within a process.)
    pub(crate) fn backpressured(&self) -> bool {
        self.shared.monitor.queued_bundles().load(Ordering::Relaxed) >= self.shared.max_queued
    }

    /// Whether workers `a` and `b` (indices over the cluster) run in the same
    /// process (a process's workers are numbered consecutively).
    pub(crate) fn same_process(&self, a: usize, b: usize) -> bool {
        let local = self.shared.local_workers().max(1);
        a / local == b / local
    }

    /// `n` bundles were taken from a channel.
    pub(crate) fn received(&self, n: usize) {
        if n > 0 {
            let queued = self.shared.monitor.queued_bundles();
            queued.fetch_sub(n as i64, Ordering::SeqCst);
            self.shared.activity.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Something changed that may lead to more work.
    pub(crate) fn touched(&self) {
        self.shared.activity.fetch_add(1, Ordering::SeqCst);
    }

    /// Processing time: the test clock under a TestStream, else the wall clock.
    pub(crate) fn now(&self) -> Timestamp {
        match self.shared.test_clock() {
            Some(micros) => Timestamp::from_micros(micros),
            None => Timestamp::wall_clock(),
        }
    }

    /// Registers an operator to wake when the test clock moves.
    pub(crate) fn wake_on_clock(&self, a: timely::scheduling::Activator) {
        self.clock_waiters.borrow_mut().push(a);
    }

    /// Wakes the operators waiting for the test clock.
    pub(crate) fn clock_moved(&self) {
        for a in self.clock_waiters.borrow().iter() {
            a.activate();
        }
    }

    /// Asks a source's readers for their backlog, when `probe` is due.
    pub(crate) fn probe_backlog<'a>(
        &self,
        probe: &mut beam_core::monitoring::BacklogProbe,
        readers: impl IntoIterator<Item = &'a dyn beam_core::unbounded::ErasedUnboundedReader>,
    ) {
        probe.probe(&self.shared.monitor, readers);
    }

    /// Hands a step's user metrics to the monitor, leaving `m` empty.
    pub(crate) fn add_metrics(&self, t: usize, m: &mut MetricsContainer) {
        self.shared.monitor.merge_user(t, m);
    }

    /// The worker's error, if any.
    pub(crate) fn finish(&self) -> Option<BeamError> {
        self.error.borrow_mut().take()
    }
}

/// A grouping table; `partials` when its input was pre-combined per bundle.
struct Table(Box<dyn GroupingTable>, bool);

/// The grouping environment of the timely runner (no direct-runner checks).
fn env(metrics: &mut MetricsContainer) -> GroupingEnv<'_> {
    GroupingEnv {
        metrics,
        checks: false,
    }
}

impl Keyed for Table {
    fn add(&mut self, batch: Batch, metrics: &mut MetricsContainer) -> Result<()> {
        if self.1 {
            self.0.add_partials(batch, &mut env(metrics))
        } else {
            self.0.add(batch, &mut env(metrics))
        }
    }
    fn advance_input_watermark(
        &mut self,
        wm: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        self.0.advance_input_watermark(wm, &mut env(metrics))
    }
    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        self.0.advance_processing_time(now, &mut env(metrics))
    }
    fn output_watermark(&self) -> Timestamp {
        self.0.output_watermark()
    }
    fn next_processing_time(&self) -> Option<Timestamp> {
        self.0.next_processing_time()
    }
    fn take_output(&mut self) -> Option<Batch> {
        self.0.take_output()
    }
    fn snapshot(&self) -> Result<Vec<u8>> {
        self.0.snapshot()
    }
}

struct Stateful(Box<dyn StatefulProcessor>);

impl Keyed for Stateful {
    fn add(&mut self, batch: Batch, metrics: &mut MetricsContainer) -> Result<()> {
        self.0.process_batch(batch, metrics)
    }
    fn advance_input_watermark(
        &mut self,
        wm: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        self.0.advance_input_watermark(wm, metrics)
    }
    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        self.0.advance_processing_time(now, metrics)
    }
    fn output_watermark(&self) -> Timestamp {
        self.0.output_watermark()
    }
    fn next_processing_time(&self) -> Option<Timestamp> {
        self.0.next_processing_time()
    }
    fn take_output(&mut self) -> Option<Batch> {
        self.0.take_output()
    }
    fn snapshot(&self) -> Result<Vec<u8>> {
        self.0.snapshot()
    }
    fn finish(&mut self) -> Result<()> {
        self.0.teardown()
    }
}

/// A pass-through for Reshuffle's received bundles.
struct Passthrough(Vec<Batch>);

impl Keyed for Passthrough {
    fn add(&mut self, batch: Batch, _: &mut MetricsContainer) -> Result<()> {
        self.0.push(batch);
        Ok(())
    }
    fn advance_input_watermark(&mut self, _: Timestamp, _: &mut MetricsContainer) -> Result<()> {
        Ok(())
    }
    fn advance_processing_time(&mut self, _: Timestamp, _: &mut MetricsContainer) -> Result<()> {
        Ok(())
    }
    fn output_watermark(&self) -> Timestamp {
        Timestamp::MAX
    }
    fn next_processing_time(&self) -> Option<Timestamp> {
        None
    }
    fn take_output(&mut self) -> Option<Batch> {
        let mut parts = self.0.drain(..);
        let mut all = parts.next()?;
        for p in parts {
            all.append(p);
        }
        Some(all)
    }
    fn snapshot(&self) -> Result<Vec<u8>> {
        // Bundles pass through within an activation: nothing stays.
        debug_assert!(self.0.is_empty());
        Ok(Vec::new())
    }
}

/// A step run inside its consumer, bundle by bundle.
type FusedStep = Box<dyn Fn(Batch) -> Batch>;

/// Builds this worker's operators for the whole graph; with checkpoints, the
/// participants' acknowledgements go to worker 0's committer.
pub(crate) fn build<'s>(scope: Scope<'s, Time>, state: Rc<WorkerState>) -> Result<()> {
    let graph = state.graph.clone();
    let (index, peers) = (scope.index(), scope.peers());
    let mut streams: Vec<Option<Bundles<'s>>> = vec![None; graph.pcollections.len()];
    let mut acks: Vec<Acks<'s>> = Vec::new();
    // A WindowInto fused into its keyed consumer: the assignment its
    // output's consumer applies to each bundle.
    let mut fused: Vec<Option<FusedStep>> = (0..graph.pcollections.len()).map(|_| None).collect();
    let restored = |t: usize| match &state.checkpoint {
        Some(r) => r.restore_of(t, index, &graph),
        None => Restore::Nothing,
    };
    fn input<'s>(streams: &[Option<Bundles<'s>>], p: usize) -> Bundles<'s> {
        streams[p]
            .clone()
            .expect("inputs are built before their consumers")
    }
    for (t, node) in graph.transforms.iter().enumerate() {
        let outs: Vec<Bundles<'s>> = match &node.primitive {
            Primitive::Impulse | Primitive::Create { .. } | Primitive::Read { .. } => {
                let basis = state.checkpoint.as_ref().map_or(peers, |r| r.split_basis());
                let share = BoundedShare::new(&graph, t, index, peers, basis)?;
                let (out, a) = source(scope, t, share, state.clone())?;
                acks.push(a);
                vec![out]
            }
            Primitive::ParDo { side_inputs, .. } => {
                let sides = side_inputs
                    .iter()
                    .map(|s| {
                        let all = ship(
                            input(&streams, s.pcollection),
                            &format!("{}/Side{}", node.name, s.view_id),
                            state.clone(),
                            |b, peers| Ok((0..peers).map(|_| b.clone()).collect()),
                        );
                        let spec = SideSpec {
                            view: graph.pcollections[s.pcollection].name.clone(),
                            codec: graph.pcollections[s.pcollection].codec.clone(),
                        };
                        (all, spec)
                    })
                    .collect();
                let (outs, a) = par_do(
                    scope,
                    t,
                    input(&streams, node.inputs[0]),
                    sides,
                    state.clone(),
                )?;
                acks.push(a);
                outs
            }
            Primitive::ReadUnbounded { source } => {
                // Made for the job's first worker count, with checkpoints, so
                // that a restore on another count can spread them anew.
                let basis = state.checkpoint.as_ref().map_or(peers, |r| r.split_basis());
                let splits = source
                    .split(basis)?
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| i % peers == index)
                    .collect();
                let (out, a) = unbounded_source(scope, t, splits, state.clone())?;
                acks.push(a);
                vec![out]
            }
            Primitive::TestStream { events } => {
                let script = (index == 0).then(|| events.clone());
                vec![test_stream(scope, t, script, state.clone())]
            }
            Primitive::WindowInto { kernel } if state.fuses_into_keyed_consumer(t) => {
                let (kernel, counts, out) = (kernel.clone(), state.clone(), node.outputs[0]);
                fused[out] = Some(Box::new(move |b: Batch| {
                    let _bundle = counts.bundle(t, b.len());
                    let mut m = MetricsContainer::new();
                    let assigned = kernel.assign(b, &mut m);
                    if !m.is_empty() {
                        counts.add_metrics(t, &mut m);
                    }
                    counts.shared.monitor.produced(out, &assigned);
                    assigned
                }));
                vec![input(&streams, node.inputs[0])]
            }
            Primitive::WindowInto { kernel } => {
                let kernel = kernel.clone();
                let counts = state.clone();
                vec![map_bundles(
                    input(&streams, node.inputs[0]),
                    t,
                    state.clone(),
                    move |b| {
                        let mut m = MetricsContainer::new();
                        let out = kernel.assign(b, &mut m);
                        if !m.is_empty() {
                            counts.add_metrics(t, &mut m);
                        }
                        out
                    },
                )]
            }
            Primitive::Flatten => {
                let ins = node.inputs.iter().map(|&i| input(&streams, i)).collect();
                vec![flatten(scope, t, ins, state.clone())]
            }
            Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel } => {
                // Combiner lifting per bundle: when the grouping allows it, each
                // bundle is pre-combined per key and window before the exchange.
                let lifted = kernel.lifted().map(RefCell::new);
                let partials = lifted.is_some();
                let route = kernel.clone();
                let counts = state.clone();
                let window_into = fused[node.inputs[0]].take();
                let shipped = ship(
                    input(&streams, node.inputs[0]),
                    &node.name,
                    state.clone(),
                    move |b, n| {
                        let b = match &window_into {
                            Some(assign) => assign(b),
                            None => b,
                        };
                        counts.consumed(t, b.len());
                        match &lifted {
                            Some(p) => {
                                let mut p = p.borrow_mut();
                                p.add(b)?;
                                Ok(route.partition_partials_by_key_group(p.take(usize::MAX), n))
                            }
                            None => Ok(route.partition_by_key_group(b, n)),
                        }
                    },
                );
                let codec = graph.pcollections[node.inputs[0]].codec.clone();
                let decoder = kernel.clone();
                let table = match restored(t) {
                    Restore::Own(Some(bytes)) => kernel.restore_table(&bytes)?,
                    Restore::Rescaled { parts, .. } => {
                        let snapshots: Vec<&[u8]> =
                            parts.iter().filter_map(|(_, b)| b.as_deref()).collect();
                        kernel.restore_table_part(&snapshots, index, peers)?
                    }
                    Restore::Own(None) | Restore::Nothing => kernel.new_table(),
                };
                let table: Box<dyn Keyed> = match state.grouping_share() {
                    Some(share) if kernel.evictable() => Box::new(SpillingTable::new(
                        &node.name,
                        kernel.clone(),
                        table,
                        partials,
                        share,
                        graph
                            .options
                            .get("temp-dir")
                            .map_or_else(std::env::temp_dir, PathBuf::from),
                    )),
                    _ => Box::new(Table(table, partials)),
                };
                let (out, a) = keyed(
                    shipped,
                    t,
                    move |b| {
                        if partials {
                            decoder.decode_partials(b)
                        } else {
                            codec.decode(b)
                        }
                    },
                    table,
                    state.clone(),
                );
                acks.push(a);
                vec![out]
            }
            Primitive::StatefulParDo { kernel } => {
                let route = kernel.clone();
                let counts = state.clone();
                let window_into = fused[node.inputs[0]].take();
                let shipped = ship(
                    input(&streams, node.inputs[0]),
                    &node.name,
                    state.clone(),
                    move |b, n| {
                        let b = match &window_into {
                            Some(assign) => assign(b),
                            None => b,
                        };
                        counts.consumed(t, b.len());
                        Ok(route.partition_by_key_group(b, n))
                    },
                );
                let codec = graph.pcollections[node.inputs[0]].codec.clone();
                let mut processor = match restored(t) {
                    Restore::Own(Some(bytes)) => kernel.restore(&bytes)?,
                    Restore::Rescaled { parts, .. } => {
                        let snapshots: Vec<&[u8]> =
                            parts.iter().filter_map(|(_, b)| b.as_deref()).collect();
                        kernel.restore_part(&snapshots, index, peers)?
                    }
                    Restore::Own(None) | Restore::Nothing => kernel.instantiate(),
                };
                if let Err(e) = processor.setup() {
                    state.fail(e);
                }
                let processor = Box::new(Stateful(processor));
                let (out, a) = keyed(
                    shipped,
                    t,
                    move |b| codec.decode(b),
                    processor,
                    state.clone(),
                );
                acks.push(a);
                vec![out]
            }
            Primitive::Reshuffle => {
                let counter = std::cell::Cell::new(index);
                let shipped = ship(
                    input(&streams, node.inputs[0]),
                    &node.name,
                    state.clone(),
                    move |mut b, n| {
                        // Equal slices, the first going to the next worker in turn.
                        let per = b.len().div_ceil(n).max(1);
                        let mut parts: Vec<Batch> = (0..n).map(|_| b.empty_like()).collect();
                        let start = counter.get();
                        counter.set(start + 1);
                        let mut i = 0;
                        while !b.is_empty() {
                            let tail = b.split_off(b.len().saturating_sub(per));
                            parts[(start + i) % n] = tail;
                            i += 1;
                        }
                        Ok(parts)
                    },
                );
                let codec = graph.pcollections[node.inputs[0]].codec.clone();
                let pass = Box::new(Passthrough(Vec::new()));
                let (out, a) = keyed(shipped, t, move |b| codec.decode(b), pass, state.clone());
                acks.push(a);
                vec![out]
            }
            Primitive::Publish { kernel } => {
                let (out, a) = crate::publish::publish(
                    input(&streams, node.inputs[0]),
                    t,
                    kernel.clone(),
                    state.clone(),
                );
                acks.push(a);
                vec![out]
            }
            other => {
                return Err(BeamError::Unsupported {
                    runner: "timely".into(),
                    step: node.name.clone(),
                    feature: format!("the primitive {}", other.kind()),
                })
            }
        };
        for (&o, s) in node.outputs.iter().zip(outs) {
            streams[o] = Some(s);
        }
    }
    if let Some(run) = &state.checkpoint {
        use timely::dataflow::operators::Concatenate;
        let processes = peers / state.shared.local_workers().max(1);
        let all = scope.concatenate(acks);
        crate::checkpoint::committer::committer(
            all,
            crate::checkpoint::participants(&graph, peers),
            run.clone(),
            crate::checkpoint::store::Manifest::of_run(
                &graph,
                peers,
                processes,
                run.split_basis(),
                // Only worker 0 (in the committer's process) writes manifests.
                if scope.index() == 0 {
                    run.job_id()?
                } else {
                    String::new()
                },
            ),
            state.clone(),
        );
    }
    Ok(())
}
