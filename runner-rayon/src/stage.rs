//! Fused stages: a head (source splits, a complete PCollection, or a
//! grouping's shuffled input), a chain of ParDos and WindowIntos run bundle by
//! bundle on each worker, and optionally the shuffle of the grouping the chain
//! feeds (pre-combined per worker when the combiner can be lifted).

use crate::executor::{Executor, Head};
use crate::parallel::{merge_metrics, next_read_size, READ_BATCH};
use crate::shuffle::{fire_bucket, Bucket, ShuffleSpec, ShuffleStore, ShuffleWriter};
use beam_core::graph::{Graph, Primitive};
use beam_core::kernel::{BundleEnv, BundleProcessor, PartialTable, SideInputs};
use beam_core::monitoring::JobMonitor;
use beam_core::runner_support::SourceWatermark;
use beam_core::source::ErasedSource;
use beam_core::DynamicSplit;
use beam_core::{Batch, MetricsContainer, Result};
use rayon::prelude::*;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

/// A unit of a stage's input, handled by one worker.
enum Work {
    Bundle(Batch),
    Split(Arc<dyn ErasedSource>),
    Bucket(Bucket),
}

/// A stage's work, taken by workers as they become free. When none is left, an
/// idle worker splits off half of what the busiest running reader has not read
/// yet (dynamic work rebalancing), so one large input keeps every core busy to
/// the end.
struct WorkQueue {
    pending: Mutex<VecDeque<Work>>,
    running: Mutex<Vec<(u64, Arc<dyn DynamicSplit>)>>,
    /// Pieces of work taken and not finished: an idle worker waits for a split
    /// while any is, and stops when none is.
    active: AtomicUsize,
    failed: AtomicBool,
    next_id: AtomicU64,
    splits: AtomicU64,
}

/// Marks a piece of work finished when dropped (also on error).
struct Taken<'a>(&'a WorkQueue);

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Keeps a reader's split handle registered while it runs.
struct Running<'a> {
    queue: &'a WorkQueue,
    id: Option<u64>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            lock(&self.queue.running).retain(|(i, _)| *i != id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl WorkQueue {
    fn new(work: Vec<Work>) -> Self {
        WorkQueue {
            pending: Mutex::new(work.into()),
            running: Mutex::new(Vec::new()),
            active: AtomicUsize::new(0),
            failed: AtomicBool::new(false),
            next_id: AtomicU64::new(0),
            splits: AtomicU64::new(0),
        }
    }

    /// The next piece of work: queued work first, else a dynamic split of a
    /// running reader; `None` once nothing is queued or running (or a worker failed).
    fn next(&self) -> Option<(Work, Taken<'_>)> {
        loop {
            if self.failed.load(Ordering::Acquire) {
                return None;
            }
            {
                let mut pending = lock(&self.pending);
                if let Some(w) = pending.pop_front() {
                    self.active.fetch_add(1, Ordering::AcqRel);
                    return Some((w, Taken(self)));
                }
            }
            if let Some(residual) = self.split_busiest() {
                self.active.fetch_add(1, Ordering::AcqRel);
                self.splits.fetch_add(1, Ordering::Relaxed);
                return Some((Work::Split(residual), Taken(self)));
            }
            if self.active.load(Ordering::Acquire) == 0 {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    fn split_busiest(&self) -> Option<Arc<dyn ErasedSource>> {
        let busiest = lock(&self.running)
            .iter()
            .map(|(_, h)| (h.remaining(), h.clone()))
            .max_by_key(|(left, _)| *left)?;
        busiest.1.split_remaining(0.5)
    }

    fn fail(&self) {
        self.failed.store(true, Ordering::Release);
    }

    /// Registers a running reader's split handle until the guard is dropped.
    fn running(&self, handle: Option<Arc<dyn DynamicSplit>>) -> Running<'_> {
        let id = handle.map(|h| {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            lock(&self.running).push((id, h));
            id
        });
        Running { queue: self, id }
    }

    fn dynamic_splits(&self) -> u64 {
        self.splits.load(Ordering::Relaxed)
    }
}

/// What one worker hands back: its output batches, the chain's metrics, the
/// head grouping's metrics, its side of the tail shuffle, and the batches of
/// the chain's additional outputs (by PCollection).
type WorkerResult<'a> = (
    Vec<Batch>,
    Vec<MetricsContainer>,
    MetricsContainer,
    Option<ShuffleWriter<'a>>,
    Vec<(usize, Batch)>,
);

impl Executor {
    /// Runs a stage: each worker pushes its share of the head's input through
    /// the chain and into the tail's shuffle (or the output).
    pub(crate) fn run_stage(
        &mut self,
        head: Head,
        chain: &[usize],
        tail: Option<usize>,
    ) -> Result<()> {
        let buckets = (self.parts * 8).max(64);
        let share = self.options.memory_budget / 2 / self.parts;
        let (work, head_grouping) = match head {
            Head::Source(s) => {
                let Primitive::Read { source, .. } = &self.graph.transforms[s].primitive else {
                    unreachable!("a source head is a Read")
                };
                let size = source.estimated_size_bytes()?;
                let desired = (size / (self.parts as u64 * 4)).max(64 * 1024);
                let splits = source
                    .split(desired)?
                    .into_iter()
                    .map(|split| Work::Split(self.monitor.watch_split(s, split)));
                self.done[s] = true;
                (splits.collect::<Vec<_>>(), None)
            }
            Head::Bundles(p) => (
                self.take_input(p).into_iter().map(Work::Bundle).collect(),
                None,
            ),
            Head::Grouping(g) => {
                let store = self.stores[g].take().unwrap_or_else(|| ShuffleStore {
                    buckets: Vec::new(),
                    records: 0,
                    runs: 0,
                    disk_bytes: 0,
                    partials: false,
                });
                let partials = store.partials;
                self.done[g] = true;
                let work = store.buckets.into_iter().map(Work::Bucket).collect();
                (work, Some((g, partials)))
            }
        };
        let mut sides = Vec::new();
        for &t in chain {
            sides.push(self.side_inputs_of(t)?);
        }
        let graph = &self.graph;
        let spill = &self.spill;
        let monitor = &*self.monitor;
        let source = match head {
            Head::Source(s) => Some(s),
            _ => None,
        };
        let head_spec =
            head_grouping.map(|(g, partials)| ShuffleSpec::of(graph, spill, g, partials));
        let tail_spec = tail.map(|g| {
            let spec = ShuffleSpec::of(graph, spill, g, false);
            ShuffleSpec {
                partials: spec.kernel.lifted().is_some(),
                ..spec
            }
        });
        // Source splits may be split again while they run: every worker helps.
        let splittable = work.iter().any(|w| matches!(w, Work::Split(_)));
        let workers = if splittable {
            self.parts
        } else {
            self.parts.min(work.len())
        }
        .max(1);
        let queue = WorkQueue::new(work);
        let queue = &queue;
        let results: Vec<WorkerResult<'_>> = (0..workers)
            .into_par_iter()
            .map(|_| {
                let mut worker = StageWorker {
                    graph,
                    monitor,
                    source,
                    head_grouping: head_grouping.map(|(g, _)| g),
                    tail,
                    chain,
                    sides: &sides,
                    metrics: chain.iter().map(|_| MetricsContainer::new()).collect(),
                    processors: chain
                        .iter()
                        .map(|&t| match &graph.transforms[t].primitive {
                            Primitive::ParDo { kernel, .. } => Some(kernel.instantiate()),
                            _ => None,
                        })
                        .collect(),
                    partial: tail_spec
                        .filter(|s| s.partials)
                        .and_then(|s| s.kernel.lifted()),
                    // A lifted tail splits the share in three: the
                    // pre-combine table, the batch it is flushed into, and
                    // the writer's buffer.
                    writer: tail_spec.map(|s| {
                        ShuffleWriter::new(s, buckets, if s.partials { share / 3 } else { share })
                    }),
                    share,
                    out: Vec::new(),
                    additional: Vec::new(),
                };
                let mut head_metrics = MetricsContainer::new();
                let result = worker.run(queue, head_spec, share, &mut head_metrics);
                let teardown = worker.teardown();
                result?;
                teardown?;
                Ok((
                    worker.out,
                    worker.metrics,
                    head_metrics,
                    worker.writer,
                    worker.additional,
                ))
            })
            .collect::<Result<_>>()?;
        let mut batches = Vec::new();
        let mut writers = Vec::new();
        let mut per_step: Vec<Vec<MetricsContainer>> = chain.iter().map(|_| Vec::new()).collect();
        let mut head_metrics = Vec::new();
        // The chain's additional outputs are complete with the stage.
        let mut additional: std::collections::BTreeMap<usize, Vec<Batch>> = chain
            .iter()
            .flat_map(|&t| self.graph.transforms[t].outputs.iter().skip(1).copied())
            .map(|o| (o, Vec::new()))
            .collect();
        for (out, metrics, head, writer, extra) in results {
            batches.extend(out);
            writers.extend(writer);
            for (o, b) in extra {
                additional.entry(o).or_default().push(b);
            }
            head_metrics.push(head);
            for (i, m) in metrics.into_iter().enumerate() {
                per_step[i].push(m);
            }
        }
        for (&t, ms) in chain.iter().zip(per_step) {
            self.metrics[t].merge(merge_metrics(ms));
            self.done[t] = true;
            self.completed(t);
        }
        for (o, batches) in additional {
            if self.uses[o] > 0 {
                self.data[o] = Some(batches);
            }
        }
        let head_step = match head {
            Head::Grouping(g) => {
                self.metrics[g].merge(merge_metrics(head_metrics));
                self.completed(g);
                Some(g)
            }
            Head::Source(s) => {
                self.completed(s);
                let splits = queue.dynamic_splits();
                if splits > 0 {
                    self.metrics[s].inc_counter("dynamic_splits", splits as i64);
                }
                Some(s)
            }
            Head::Bundles(_) => None,
        };
        let last = chain.last().copied().or(head_step);
        if let Some(g) = tail {
            let store = ShuffleStore::gather(writers)?;
            let from = last.map_or(String::new(), |t| {
                format!("{}: ", self.graph.transforms[t].name)
            });
            if store.runs > 0 {
                let m = &mut self.metrics[g];
                m.inc_counter("spilled_runs", store.runs as i64);
                m.inc_counter("spilled_bytes", store.disk_bytes as i64);
            }
            let spilled = match store.runs {
                0 => String::new(),
                n => format!(
                    " (spilled {n} runs, {:.1} MB, to {})",
                    store.disk_bytes as f64 / 1e6,
                    self.spill
                        .dir()
                        .map_or(String::new(), |d| d.display().to_string())
                ),
            };
            tracing::info!(
                step = %self.graph.transforms[g].name,
                records = store.records,
                "{from}records shuffled{spilled}"
            );
            self.stores[g] = Some(store);
        } else if let Some(last) = last {
            let records: usize = batches.iter().map(Batch::len).sum();
            tracing::info!(step = %self.graph.transforms[last].name, records, "stage done");
            self.store(last, vec![batches]);
        }
        Ok(())
    }
}

/// One worker's instances of a stage's DoFns, and where its output goes.
struct StageWorker<'a> {
    graph: &'a Graph,
    monitor: &'a JobMonitor,
    /// The head's step, when it is a source or a grouping.
    source: Option<usize>,
    head_grouping: Option<usize>,
    /// The grouping the stage's output is shuffled into.
    tail: Option<usize>,
    chain: &'a [usize],
    sides: &'a [SideInputs],
    metrics: Vec<MetricsContainer>,
    processors: Vec<Option<Box<dyn BundleProcessor>>>,
    /// The lifted pre-combiner of the tail grouping.
    partial: Option<Box<dyn PartialTable>>,
    writer: Option<ShuffleWriter<'a>>,
    /// This worker's share of the memory budget.
    share: usize,
    out: Vec<Batch>,
    /// Batches of the chain's additional (tagged) outputs, by PCollection.
    additional: Vec<(usize, Batch)>,
}

impl StageWorker<'_> {
    fn run(
        &mut self,
        queue: &WorkQueue,
        head: Option<ShuffleSpec<'_>>,
        share: usize,
        head_metrics: &mut MetricsContainer,
    ) -> Result<()> {
        for p in self.processors.iter_mut().flatten() {
            p.setup()?;
        }
        let result = self.run_queue(queue, head, share, head_metrics);
        if result.is_err() {
            queue.fail();
        }
        result?;
        if let (Some(p), Some(w)) = (self.partial.as_mut(), self.writer.as_mut()) {
            flush_partials(p.as_mut(), w)?;
        }
        Ok(())
    }

    fn run_queue(
        &mut self,
        queue: &WorkQueue,
        head: Option<ShuffleSpec<'_>>,
        share: usize,
        head_metrics: &mut MetricsContainer,
    ) -> Result<()> {
        while let Some((w, _taken)) = queue.next() {
            match w {
                Work::Bundle(b) => {
                    self.push(b)?;
                }
                Work::Split(s) => {
                    let mut reader = s.open()?;
                    let running = queue.running(reader.dynamic_split());
                    let source = self
                        .source
                        .map(|s| (s, self.graph.transforms[s].outputs[0]));
                    // Windows are emitted once the whole input is read, so
                    // the declared event-time order only needs checking,
                    // split by split, as the other runners check it.
                    let mut order = source
                        .and_then(|(s, _)| SourceWatermark::of_read(&self.graph.transforms[s]));
                    let mut read_size = READ_BATCH;
                    loop {
                        let read = {
                            let _bundle = source.map(|(s, _)| self.monitor.bundle(s, 0));
                            reader.next_batch(read_size)?
                        };
                        let Some(b) = read else { break };
                        if let Some(o) = order.as_mut() {
                            o.observe(&b)?;
                        }
                        if let Some((_, out)) = source {
                            self.monitor.produced(out, &b);
                        }
                        let read = b.len();
                        let handed_on = self.push(b)?;
                        read_size = next_read_size(read, handed_on);
                    }
                    drop(running);
                }
                Work::Bucket(bucket) => {
                    let spec = head.expect("buckets come from a grouping head");
                    let out = self
                        .head_grouping
                        .map(|g| self.graph.transforms[g].outputs[0]);
                    let monitor = self.monitor;
                    fire_bucket(spec, bucket, share, head_metrics, &mut |b| {
                        if let Some(out) = out {
                            monitor.produced(out, &b);
                        }
                        self.push(b).map(drop)
                    })?;
                }
            }
        }
        Ok(())
    }

    /// Runs a bundle through the chain and hands the result on; returns the
    /// number of elements handed on.
    fn push(&mut self, mut batch: Batch) -> Result<usize> {
        for (i, &t) in self.chain.iter().enumerate() {
            let node = &self.graph.transforms[t];
            batch = match (&node.primitive, self.processors[i].as_mut()) {
                (Primitive::WindowInto { kernel }, _) => {
                    let _bundle = self.monitor.bundle(t, batch.len());
                    kernel.assign(batch, &mut self.metrics[i])
                }
                (Primitive::ParDo { .. }, Some(p)) => {
                    let _bundle = self.monitor.bundle(t, batch.len());
                    let mut outs: Vec<Batch> = node
                        .outputs
                        .iter()
                        .map(|&o| self.graph.pcollections[o].codec.empty())
                        .collect();
                    let mut env = BundleEnv {
                        outputs: &mut outs,
                        side_inputs: &self.sides[i],
                        metrics: &mut self.metrics[i],
                        check_mutation: false,
                    };
                    p.start_bundle(&mut env)?;
                    p.process_batch(batch, &mut env)?;
                    p.finish_bundle(&mut env)?;
                    self.monitor.merge_user(t, &mut self.metrics[i]);
                    let mut outs = outs.into_iter();
                    let main = outs.next().expect("a main output");
                    for (&o, b) in node.outputs[1..].iter().zip(outs) {
                        if !b.is_empty() {
                            self.monitor.produced(o, &b);
                            self.additional.push((o, b));
                        }
                    }
                    main
                }
                _ => unreachable!("only ParDo and WindowInto are fused"),
            };
            self.monitor.produced(node.outputs[0], &batch);
        }
        let handed_on = batch.len();
        if let Some(g) = self.tail {
            self.monitor.consumed(g, handed_on);
        }
        match (self.partial.as_mut(), self.writer.as_mut()) {
            (Some(p), Some(w)) => {
                p.add(batch)?;
                if p.estimated_bytes() > self.share / 3 {
                    flush_partials(p.as_mut(), w)?;
                    w.spill()?;
                }
            }
            (None, Some(w)) => w.push(batch)?,
            _ if !batch.is_empty() => self.out.push(batch),
            _ => {}
        }
        Ok(handed_on)
    }

    /// Tears every DoFn down, reporting the first failure.
    fn teardown(&mut self) -> Result<()> {
        let mut result = Ok(());
        for p in self.processors.iter_mut().flatten() {
            let r = p.teardown();
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

/// Hands a pre-combine table's accumulators to the shuffle a batch at a time,
/// so that a table of many keys is never copied whole into one batch.
fn flush_partials(partials: &mut dyn PartialTable, writer: &mut ShuffleWriter<'_>) -> Result<()> {
    loop {
        let batch = partials.take(READ_BATCH);
        if batch.is_empty() {
            return Ok(());
        }
        writer.push(batch)?;
    }
}
