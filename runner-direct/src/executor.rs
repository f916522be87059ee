//! The direct runner's scheduler: bundles, watermarks and processing time.
//!
//! Work is a queue of (transform, bundle) pairs, processed in a seeded random
//! order under checks. When the queue is empty the scheduler propagates
//! watermarks through the graph in topological order: each transform's input
//! watermark is the minimum of its inputs'; a grouping advances its table
//! (firing end-of-window and garbage-collection panes) and reports its output
//! watermark (held back by buffered data); other transforms pass the watermark
//! through. Propagation stops at the first transform that emits, so no
//! downstream watermark passes data still in flight. Only when nothing moves
//! does the scheduler read the next bundle of a source or apply the next
//! TestStream event: TestStream events are applied to a quiescent pipeline.
//!
//! Side inputs arrive as their producers emit them: a bounded view is built
//! once its PCollection is complete, a view of a stream window by window. A
//! main-input element whose side windows are not all ready waits, holding the
//! ParDo's output watermark at its timestamp, and is tried again whenever a
//! side input fires or its watermark moves.
//!
//! Processing time is the TestStream's clock (starting at the epoch) when the
//! pipeline has a TestStream, and the wall clock otherwise.

use crate::DirectOptions;
use beam_core::graph::{Graph, Primitive, StreamEvent};
use beam_core::kernel::{
    BundleEnv, BundleProcessor, GroupingEnv, GroupingTable, SideInputs, StatefulProcessor,
};
use beam_core::monitoring::JobMonitor;
use beam_core::runner_support::side_inputs::SideInputTracker;
use beam_core::runner_support::SourceWatermark;
use beam_core::source::ErasedReader;
use beam_core::{
    Batch, BeamError, Duration, MetricsContainer, PipelineResult, Result, Timestamp, WindowedValue,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::Arc;

mod state_round_trip;
mod unbounded;

struct ParDoState {
    processor: Option<Box<dyn BundleProcessor>>,
    /// `None` for a ParDo without side inputs.
    sides: Option<SideInputTracker>,
    /// Main input waiting for side windows, and the tracker version it was
    /// last tried at.
    pending: Vec<Batch>,
    tried_at: u64,
}

enum TransformState {
    Stateless,
    ParDo(ParDoState),
    Grouping(Box<dyn GroupingTable>),
    Stateful(Box<dyn StatefulProcessor>, bool),
    /// A bounded read's open readers (the next on top) and, for a read
    /// with an event-time watermark, that watermark.
    Reader(Vec<Box<dyn ErasedReader>>, Option<SourceWatermark>),
    Unbounded(
        Vec<unbounded::UnboundedPart>,
        beam_core::monitoring::BacklogProbe,
    ),
    Stream(std::collections::VecDeque<StreamEvent>),
}

pub(crate) struct Executor {
    graph: Graph,
    options: DirectOptions,
    rng: StdRng,
    consumers: Vec<Vec<usize>>,
    states: Vec<TransformState>,
    /// Output watermark of every PCollection.
    watermarks: Vec<Timestamp>,
    /// Input watermark each transform last saw.
    input_watermarks: Vec<Timestamp>,
    /// Watermark of each root transform's output.
    root_watermarks: Vec<Timestamp>,
    metrics: Vec<MetricsContainer>,
    queue: Vec<(usize, Batch)>,
    /// For each PCollection read as a side input: the ParDos reading it, and
    /// which of their side inputs it is.
    side_readers: HashMap<usize, Vec<(usize, usize)>>,
    test_clock: bool,
    now: Timestamp,
    monitor: Arc<JobMonitor>,
}

impl Executor {
    pub(crate) fn new(graph: Graph, options: DirectOptions, monitor: Arc<JobMonitor>) -> Self {
        monitor.set_workers(1);
        let consumers = graph.consumers();
        let mut side_readers: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        let mut test_clock = false;
        let states = graph
            .transforms
            .iter()
            .enumerate()
            .map(|(i, t)| match &t.primitive {
                Primitive::ParDo { side_inputs, .. } => {
                    for (k, s) in side_inputs.iter().enumerate() {
                        side_readers.entry(s.pcollection).or_default().push((i, k));
                    }
                    TransformState::ParDo(ParDoState {
                        processor: None,
                        sides: (!side_inputs.is_empty())
                            .then(|| SideInputTracker::for_step(&graph, i)),
                        pending: Vec::new(),
                        tried_at: 0,
                    })
                }
                Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel } => {
                    TransformState::Grouping(kernel.new_table())
                }
                Primitive::StatefulParDo { kernel } => {
                    TransformState::Stateful(kernel.instantiate(), false)
                }
                Primitive::TestStream { events } => {
                    test_clock = true;
                    TransformState::Stream(events.iter().cloned().collect())
                }
                _ => TransformState::Stateless,
            })
            .collect();
        let n = graph.transforms.len();
        Executor {
            rng: StdRng::seed_from_u64(options.seed),
            options,
            consumers,
            states,
            watermarks: vec![Timestamp::MIN; graph.pcollections.len()],
            input_watermarks: vec![Timestamp::MIN; n],
            root_watermarks: vec![Timestamp::MIN; n],
            metrics: (0..n).map(|_| MetricsContainer::new()).collect(),
            queue: Vec::new(),
            side_readers,
            now: if test_clock {
                Timestamp::EPOCH
            } else {
                Timestamp::wall_clock()
            },
            test_clock,
            graph,
            monitor,
        }
    }

    pub(crate) fn run(mut self) -> Result<PipelineResult> {
        let result = self.execute();
        let teardown = self.teardown_all();
        self.flush_metrics();
        result?;
        teardown?;
        Ok(PipelineResult::from_monitor(&self.monitor))
    }

    /// Hands every step's user metrics so far to the monitor.
    fn flush_metrics(&mut self) {
        for (t, m) in self.metrics.iter_mut().enumerate() {
            self.monitor.merge_user(t, m);
        }
    }

    fn teardown_all(&mut self) -> Result<()> {
        let mut first = Ok(());
        for s in &mut self.states {
            if let TransformState::Stateful(p, true) = s {
                let r = p.teardown();
                if first.is_ok() {
                    first = r;
                }
                continue;
            }
            if let TransformState::ParDo(ParDoState {
                processor: Some(p), ..
            }) = s
            {
                let r = p.teardown();
                if first.is_ok() {
                    first = r;
                }
            }
        }
        first
    }

    fn execute(&mut self) -> Result<()> {
        self.start_roots()?;
        loop {
            while let Some((t, batch)) = self.pop() {
                self.process(t, batch)?;
                self.monitor.merge_user(t, &mut self.metrics[t]);
            }
            self.flush_metrics();
            if !self.test_clock {
                // Processing-time deadlines are checked at most every millisecond of
                // wall time, not after every bundle.
                let now = Timestamp::wall_clock();
                if now >= self.now + Duration::from_millis(1) {
                    self.advance_processing_time(now)?;
                    if !self.queue.is_empty() {
                        continue;
                    }
                }
            }
            if self.propagate_watermarks()? {
                continue;
            }
            if self.read_next()? || self.next_stream_event()? || self.poll_unbounded()? {
                continue;
            }
            break;
        }
        // Input still waiting for a side input means work that never ran (for
        // example an assertion on a stream that never reached the end of time).
        for (t, s) in self.states.iter().enumerate() {
            if let TransformState::ParDo(p) = s {
                if let (false, Some(sides)) = (p.pending.is_empty(), &p.sides) {
                    let node = &self.graph.transforms[t];
                    return Err(BeamError::side_inputs_never_complete(
                        &node.name,
                        &sides.incomplete(),
                    ));
                }
            }
        }
        Ok(())
    }

    fn pop(&mut self) -> Option<(usize, Batch)> {
        if self.queue.is_empty() {
            return None;
        }
        let i = if self.options.checks {
            self.rng.random_range(0..self.queue.len())
        } else {
            self.queue.len() - 1
        };
        Some(self.queue.swap_remove(i))
    }

    fn start_roots(&mut self) -> Result<()> {
        for t in 0..self.graph.transforms.len() {
            let node = &self.graph.transforms[t];
            match &node.primitive {
                Primitive::Impulse => {
                    let out = node.outputs[0];
                    self.emit(out, Batch::new(vec![WindowedValue::in_global_window(())]))?;
                    self.root_watermarks[t] = Timestamp::MAX;
                }
                Primitive::Create { values } => {
                    let (out, values) = (node.outputs[0], values.clone());
                    self.emit_in_bundles(out, values)?;
                    self.root_watermarks[t] = Timestamp::MAX;
                }
                Primitive::Read { source, .. } => {
                    let name = node.name.clone();
                    let watermark = SourceWatermark::of_read(node);
                    let size = source.estimated_size_bytes()?;
                    // Under checks, exercise splitting: read the source as a few splits.
                    let splits = if self.options.checks {
                        source.split((size / 3).max(1))?
                    } else {
                        vec![source.clone()]
                    };
                    let mut readers = Vec::new();
                    for s in splits.iter().rev() {
                        let s = self.monitor.watch_split(t, s.clone());
                        readers.push(s.open().map_err(|e| match e {
                            BeamError::Io { .. } => e,
                            other => BeamError::Runner(format!(
                                "opening the source of '{name}': {other}"
                            )),
                        })?);
                    }
                    self.states[t] = TransformState::Reader(readers, watermark);
                }
                Primitive::ReadUnbounded { source } => {
                    // Under checks, read a few splits, interleaved in seeded order.
                    let desired = if self.options.checks { 3 } else { 1 };
                    let mut parts = Vec::new();
                    for s in source.split(desired)? {
                        parts.push(unbounded::UnboundedPart::new(s.open()?));
                    }
                    let probe = beam_core::monitoring::BacklogProbe::new(t);
                    self.states[t] = TransformState::Unbounded(parts, probe);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads one bundle from a source; a source's watermark jumps to the end of
    /// time when it is exhausted, or follows the event times read when the
    /// read declares how far out of order they are (the splits are read one
    /// after the other, in input order).
    fn read_next(&mut self) -> Result<bool> {
        for t in 0..self.states.len() {
            let TransformState::Reader(readers, watermark) = &mut self.states[t] else {
                continue;
            };
            while let Some(reader) = readers.last_mut() {
                let read = {
                    let _bundle = self.monitor.bundle(t, 0);
                    reader.next_batch(self.options.bundle_size)?
                };
                match read {
                    Some(batch) => {
                        if let Some(w) = watermark.as_mut() {
                            w.observe(&batch)?;
                            self.root_watermarks[t] = w.watermark();
                        }
                        let out = self.graph.transforms[t].outputs[0];
                        self.emit(out, batch)?;
                        return Ok(true);
                    }
                    None => {
                        readers.pop();
                    }
                }
            }
            self.states[t] = TransformState::Stateless;
            self.root_watermarks[t] = Timestamp::MAX;
            return Ok(true);
        }
        Ok(false)
    }

    /// Applies the next event of a TestStream.
    fn next_stream_event(&mut self) -> Result<bool> {
        for t in 0..self.states.len() {
            let TransformState::Stream(events) = &mut self.states[t] else {
                continue;
            };
            let Some(event) = events.pop_front() else {
                continue;
            };
            match event {
                StreamEvent::Elements(batch) => {
                    let out = self.graph.transforms[t].outputs[0];
                    self.emit(out, batch)?;
                }
                StreamEvent::Watermark(wm) => self.root_watermarks[t] = wm,
                StreamEvent::ProcessingTime(d) => {
                    let now = self.now + d;
                    self.advance_processing_time(now)?;
                }
            }
            return Ok(true);
        }
        Ok(false)
    }

    fn advance_processing_time(&mut self, now: Timestamp) -> Result<()> {
        if now <= self.now {
            return Ok(());
        }
        self.now = now;
        for t in 0..self.states.len() {
            if let TransformState::Stateful(p, _) = &mut self.states[t] {
                if p.next_processing_time().is_some_and(|d| d <= now) {
                    p.advance_processing_time(now, &mut self.metrics[t])?;
                    self.emit_table_output(t)?;
                }
                continue;
            }
            if let TransformState::Grouping(table) = &mut self.states[t] {
                if table.next_processing_time().is_some_and(|d| d <= now) {
                    let mut env = GroupingEnv {
                        metrics: &mut self.metrics[t],
                        checks: self.options.checks,
                    };
                    table.advance_processing_time(now, &mut env)?;
                    self.emit_table_output(t)?;
                }
            }
        }
        Ok(())
    }

    fn emit_table_output(&mut self, t: usize) -> Result<()> {
        let out = match &mut self.states[t] {
            TransformState::Grouping(table) => table.take_output(),
            TransformState::Stateful(p, _) => p.take_output(),
            _ => None,
        };
        if let Some(out) = out {
            let id = self.graph.transforms[t].outputs[0];
            self.emit_in_bundles(id, out)?;
        }
        Ok(())
    }

    /// Moves watermarks forward in topological order; stops (returning true) as
    /// soon as a transform emits data.
    fn propagate_watermarks(&mut self) -> Result<bool> {
        for t in 0..self.graph.transforms.len() {
            let node = &self.graph.transforms[t];
            let input_wm = match &node.primitive {
                // A Flatten of nothing is complete from the start.
                Primitive::Flatten => node
                    .inputs
                    .iter()
                    .map(|&i| self.watermarks[i])
                    .min()
                    .unwrap_or(Timestamp::MAX),
                _ if node.inputs.is_empty() => self.root_watermarks[t],
                _ => node
                    .inputs
                    .iter()
                    .map(|&i| self.watermarks[i])
                    .min()
                    .unwrap_or(Timestamp::MAX),
            };
            let advanced = input_wm > self.input_watermarks[t];
            self.input_watermarks[t] = self.input_watermarks[t].max(input_wm);
            if advanced {
                self.round_trip_state(t)?;
            }
            let output_wm = match &mut self.states[t] {
                TransformState::Grouping(table) => {
                    if advanced {
                        let mut env = GroupingEnv {
                            metrics: &mut self.metrics[t],
                            checks: self.options.checks,
                        };
                        table.advance_input_watermark(input_wm, &mut env)?;
                    }
                    table.output_watermark()
                }
                TransformState::Stateful(p, _) => {
                    if advanced {
                        p.advance_input_watermark(input_wm, &mut self.metrics[t])?;
                    }
                    p.output_watermark()
                }
                TransformState::ParDo(_) => {
                    self.advance_side_inputs(t)?;
                    self.retry_pending(t)?;
                    match &self.states[t] {
                        TransformState::ParDo(s) => s
                            .pending
                            .iter()
                            .filter_map(Batch::min_timestamp)
                            .fold(input_wm, Timestamp::min),
                        _ => input_wm,
                    }
                }
                _ => input_wm,
            };
            let mut emitted = false;
            self.emit_table_output(t)?;
            emitted |= !self.queue.is_empty();
            for &o in &self.graph.transforms[t].outputs {
                if output_wm > self.watermarks[o] {
                    self.watermarks[o] = output_wm;
                    self.monitor.set_watermark(o, 0, output_wm);
                }
            }
            if emitted {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Emits `values` as several bundles: of random sizes under checks (so a
    /// pipeline cannot depend on bundling), else of the configured size.
    fn emit_in_bundles(&mut self, pcoll: usize, mut values: Batch) -> Result<()> {
        loop {
            let chunk = if self.options.checks {
                self.rng.random_range(1..=values.len().max(1))
            } else {
                self.options.bundle_size
            };
            if values.len() <= chunk {
                return self.emit(pcoll, values);
            }
            // Split from the tail: the split-off part gets an allocation of its
            // own size, while `values` keeps (and reuses) the big one.
            let tail = values.split_off(values.len() - chunk);
            self.emit(pcoll, tail)?;
        }
    }

    fn emit(&mut self, pcoll: usize, mut batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.monitor.produced(pcoll, &batch);
        if self.options.checks {
            batch.round_trip().map_err(|message| BeamError::Coder {
                step: self.graph.pcollections[pcoll].name.clone(),
                message,
            })?;
            batch.shuffle(&mut self.rng);
        }
        if let Some(readers) = self.side_readers.get(&pcoll) {
            for &(t, i) in readers {
                if let TransformState::ParDo(ParDoState {
                    sides: Some(sides), ..
                }) = &mut self.states[t]
                {
                    sides.add(i, batch.clone())?;
                }
            }
        }
        let consumers = &self.consumers[pcoll];
        if let Some((&last, rest)) = consumers.split_last() {
            for &c in rest {
                self.queue.push((c, batch.clone()));
            }
            self.queue.push((last, batch));
        }
        Ok(())
    }

    /// Tells ParDo `t`'s side inputs their watermarks.
    fn advance_side_inputs(&mut self, t: usize) -> Result<()> {
        let TransformState::ParDo(ParDoState {
            sides: Some(sides), ..
        }) = &mut self.states[t]
        else {
            return Ok(());
        };
        for (i, s) in self.graph.transforms[t].side_inputs().iter().enumerate() {
            sides.advance_watermark(i, self.watermarks[s.pcollection])?;
        }
        Ok(())
    }

    /// Processes what of ParDo `t`'s waiting input can now read its side
    /// inputs, if they changed since the last try.
    fn retry_pending(&mut self, t: usize) -> Result<()> {
        let TransformState::ParDo(state) = &mut self.states[t] else {
            return Ok(());
        };
        let Some(sides) = &state.sides else {
            return Ok(());
        };
        if state.pending.is_empty() || state.tried_at == sides.version() {
            return Ok(());
        }
        state.tried_at = sides.version();
        let mut ready = Vec::new();
        state.pending.retain_mut(|b| {
            let now = sides.take_ready(b);
            if !now.is_empty() {
                ready.push(now);
            }
            !b.is_empty()
        });
        for b in ready {
            self.run_bundle(t, b)?;
        }
        Ok(())
    }

    fn process(&mut self, t: usize, batch: Batch) -> Result<()> {
        let monitor = self.monitor.clone();
        let _bundle = monitor.bundle(t, batch.len());
        match &self.graph.transforms[t].primitive {
            Primitive::ParDo { .. } => {
                let mut batch = batch;
                if let TransformState::ParDo(ParDoState {
                    sides: Some(sides),
                    pending,
                    ..
                }) = &mut self.states[t]
                {
                    let ready = sides.take_ready(&mut batch);
                    if !batch.is_empty() {
                        pending.push(batch);
                    }
                    batch = ready;
                }
                if batch.is_empty() {
                    return Ok(());
                }
                self.run_bundle(t, batch)
            }
            Primitive::GroupByKey { .. } | Primitive::CombinePerKey { .. } => {
                let checks = self.options.checks;
                let metrics = &mut self.metrics[t];
                if let TransformState::Grouping(table) = &mut self.states[t] {
                    let mut env = GroupingEnv { metrics, checks };
                    // Elements arrive at the current processing time.
                    table.advance_processing_time(self.now, &mut env)?;
                    table.add(batch, &mut env)?;
                }
                self.emit_table_output(t)
            }
            Primitive::StatefulParDo { .. } => {
                if let TransformState::Stateful(p, set_up) = &mut self.states[t] {
                    if !*set_up {
                        *set_up = true;
                        p.setup()?;
                    }
                    p.advance_processing_time(self.now, &mut self.metrics[t])?;
                    p.process_batch(batch, &mut self.metrics[t])?;
                }
                self.emit_table_output(t)
            }
            Primitive::WindowInto { kernel } => {
                let out = kernel.assign(batch, &mut self.metrics[t]);
                self.emit(self.graph.transforms[t].outputs[0], out)
            }
            Primitive::Flatten | Primitive::Reshuffle => {
                self.emit(self.graph.transforms[t].outputs[0], batch)
            }
            Primitive::Publish { kernel } => {
                // No checkpoints to wait for: published as staged.
                kernel.publish(&batch)?;
                self.emit(self.graph.transforms[t].outputs[0], batch)
            }
            _ => Err(BeamError::Runner(format!(
                "step '{}' received input but is a root",
                self.graph.transforms[t].name
            ))),
        }
    }

    fn run_bundle(&mut self, t: usize, batch: Batch) -> Result<()> {
        let node = &self.graph.transforms[t];
        let Primitive::ParDo { kernel, .. } = &node.primitive else {
            return Ok(());
        };
        let TransformState::ParDo(state) = &mut self.states[t] else {
            return Ok(());
        };
        if state.processor.is_none() {
            // Kept before setup runs, so teardown also follows a failed setup.
            state.processor.insert(kernel.instantiate()).setup()?;
        }
        let processor = state.processor.as_mut().expect("set above");
        let mut outputs: Vec<Batch> = node
            .outputs
            .iter()
            .map(|&o| self.graph.pcollections[o].codec.empty())
            .collect();
        let none = SideInputs::new();
        let side_inputs = state.sides.as_ref().map_or(&none, SideInputTracker::views);
        let mut env = BundleEnv {
            outputs: &mut outputs,
            side_inputs,
            metrics: &mut self.metrics[t],
            check_mutation: self.options.checks,
        };
        processor.start_bundle(&mut env)?;
        processor.process_batch(batch, &mut env)?;
        processor.finish_bundle(&mut env)?;
        let ids = node.outputs.clone();
        for (id, out) in ids.into_iter().zip(outputs) {
            self.emit(id, out)?;
        }
        Ok(())
    }
}
