//! The direct runner's scheduler.
//!
//! Work is a queue of (transform, bundle) pairs. Roots emit bundles one at a
//! time (a source is read lazily, so memory holds only what is in flight and
//! what groupings keep). When the queue is empty, the first unfinished
//! transform whose inputs are all complete is finished: a grouping fires its
//! windows (the watermark reaches +infinity), a ParDo waiting for side inputs
//! runs its buffered bundles. Transforms are finished in topological order.

use crate::DirectOptions;
use beam_core::graph::{Graph, Primitive};
use beam_core::kernel::{BundleEnv, BundleProcessor, GroupingEnv, GroupingTable, SideInputs};
use beam_core::source::ErasedReader;
use beam_core::{
    Batch, BeamError, MetricResults, MetricsContainer, PipelineResult, Result, WindowedValue,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;

struct ParDoState {
    processor: Option<Box<dyn BundleProcessor>>,
    side_inputs: Option<SideInputs>,
    pending: Vec<Batch>,
}

enum TransformState {
    Stateless,
    ParDo(ParDoState),
    Grouping(Option<Box<dyn GroupingTable>>),
}

pub(crate) struct Executor {
    graph: Graph,
    options: DirectOptions,
    rng: StdRng,
    consumers: Vec<Vec<usize>>,
    states: Vec<TransformState>,
    done: Vec<bool>,
    metrics: Vec<MetricsContainer>,
    queue: Vec<(usize, Batch)>,
    readers: Vec<(usize, Box<dyn ErasedReader>)>,
    /// Batches of PCollections read as side inputs, kept until materialized.
    side_buffers: HashMap<usize, Vec<Batch>>,
    views: HashMap<usize, std::sync::Arc<dyn std::any::Any + Send + Sync>>,
}

impl Executor {
    pub(crate) fn new(graph: Graph, options: DirectOptions) -> Self {
        let consumers = graph.consumers();
        let mut side_buffers = HashMap::new();
        let states = graph
            .transforms
            .iter()
            .map(|t| match &t.primitive {
                Primitive::ParDo { side_inputs, .. } => {
                    for s in side_inputs {
                        side_buffers.insert(s.pcollection, Vec::new());
                    }
                    TransformState::ParDo(ParDoState {
                        processor: None,
                        side_inputs: None,
                        pending: Vec::new(),
                    })
                }
                Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel } => {
                    TransformState::Grouping(Some(kernel.new_table()))
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
            done: vec![false; n],
            metrics: (0..n).map(|_| MetricsContainer::new()).collect(),
            queue: Vec::new(),
            readers: Vec::new(),
            side_buffers,
            views: HashMap::new(),
            graph,
        }
    }

    pub(crate) fn run(mut self) -> Result<PipelineResult> {
        let result = self.execute();
        let teardown = self.teardown_all();
        result?;
        teardown?;
        let names: Vec<String> = self
            .graph
            .transforms
            .iter()
            .map(|t| t.name.clone())
            .collect();
        let metrics = std::mem::take(&mut self.metrics);
        Ok(PipelineResult::done(MetricResults::from_steps(
            names
                .into_iter()
                .zip(metrics)
                .filter(|(_, m)| !m.is_empty()),
        )))
    }

    fn teardown_all(&mut self) -> Result<()> {
        let mut first = Ok(());
        for s in &mut self.states {
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
            }
            if self.read_next()? {
                continue;
            }
            match (0..self.graph.transforms.len())
                .find(|&t| !self.done[t] && self.ready_to_finish(t))
            {
                Some(t) => self.finish(t)?,
                None => break,
            }
        }
        if let Some(t) = self.done.iter().position(|d| !d) {
            return Err(BeamError::Runner(format!(
                "step '{}' never completed",
                self.graph.transforms[t].name
            )));
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
                }
                Primitive::Create { values } => {
                    let (out, values) = (node.outputs[0], values.clone());
                    self.emit_in_bundles(out, values)?;
                }
                Primitive::Read { source } => {
                    let name = node.name.clone();
                    let size = source.estimated_size_bytes()?;
                    // Exercise splitting: read the source as a few splits.
                    let splits = if self.options.checks {
                        source.split((size / 3).max(1))?
                    } else {
                        vec![source.clone()]
                    };
                    for s in splits {
                        let reader = s.open().map_err(|e| match e {
                            BeamError::Io { .. } => e,
                            other => {
                                BeamError::Runner(format!("opening source of '{name}': {other}"))
                            }
                        })?;
                        self.readers.push((t, reader));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Reads one batch from an open source; marks sources done when exhausted.
    fn read_next(&mut self) -> Result<bool> {
        while let Some((t, reader)) = self.readers.last_mut() {
            let t = *t;
            match reader.next_batch(self.options.bundle_size)? {
                Some(batch) => {
                    let out = self.graph.transforms[t].outputs[0];
                    self.emit(out, batch)?;
                    return Ok(true);
                }
                None => {
                    self.readers.pop();
                }
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
        if self.options.checks {
            batch.round_trip().map_err(|message| BeamError::Coder {
                step: self.graph.pcollections[pcoll].name.clone(),
                message,
            })?;
            batch.shuffle(&mut self.rng);
        }
        if let Some(buf) = self.side_buffers.get_mut(&pcoll) {
            buf.push(batch.clone());
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

    fn pcollection_complete(&self, pcoll: usize) -> bool {
        self.done[self.graph.pcollections[pcoll].producer]
    }

    fn ready_to_finish(&self, t: usize) -> bool {
        let node = &self.graph.transforms[t];
        let is_root = matches!(
            node.primitive,
            Primitive::Impulse | Primitive::Create { .. } | Primitive::Read { .. }
        );
        if is_root {
            return !self.readers.iter().any(|(r, _)| *r == t);
        }
        node.inputs.iter().all(|&i| self.pcollection_complete(i))
            && node
                .side_inputs()
                .iter()
                .all(|s| self.pcollection_complete(s.pcollection))
    }

    /// Materializes the side inputs of ParDo `t` if they are all complete.
    fn side_inputs_ready(&mut self, t: usize) -> Result<bool> {
        if let TransformState::ParDo(s) = &self.states[t] {
            if s.side_inputs.is_some() {
                return Ok(true);
            }
        }
        let specs = self.graph.transforms[t].side_inputs().to_vec();
        if !specs
            .iter()
            .all(|s| self.pcollection_complete(s.pcollection))
        {
            return Ok(false);
        }
        let mut side = SideInputs::new();
        for s in &specs {
            if !self.views.contains_key(&s.view_id) {
                let batches = self
                    .side_buffers
                    .get(&s.pcollection)
                    .cloned()
                    .unwrap_or_default();
                let view =
                    s.kernel
                        .materialize(batches)
                        .map_err(|message| BeamError::SideInput {
                            step: self.graph.transforms[t].name.clone(),
                            view: self.graph.pcollections[s.pcollection].name.clone(),
                            message,
                        })?;
                self.views.insert(s.view_id, view);
            }
            side.insert(s.view_id, self.views[&s.view_id].clone());
        }
        if let TransformState::ParDo(st) = &mut self.states[t] {
            st.side_inputs = Some(side);
        }
        Ok(true)
    }

    fn process(&mut self, t: usize, batch: Batch) -> Result<()> {
        match &self.graph.transforms[t].primitive {
            Primitive::ParDo { .. } => {
                if !self.side_inputs_ready(t)? {
                    if let TransformState::ParDo(s) = &mut self.states[t] {
                        s.pending.push(batch);
                    }
                    return Ok(());
                }
                self.run_bundle(t, batch)
            }
            Primitive::GroupByKey { .. } | Primitive::CombinePerKey { .. } => {
                let checks = self.options.checks;
                let metrics = &mut self.metrics[t];
                if let TransformState::Grouping(Some(table)) = &mut self.states[t] {
                    table.add(batch, &mut GroupingEnv { metrics, checks })?;
                }
                Ok(())
            }
            Primitive::WindowInto { kernel } => {
                let out = kernel.assign(batch);
                self.emit(self.graph.transforms[t].outputs[0], out)
            }
            Primitive::Flatten | Primitive::Reshuffle => {
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
        let side_inputs = state.side_inputs.as_ref().expect("checked by caller");
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

    fn finish(&mut self, t: usize) -> Result<()> {
        match &mut self.states[t] {
            TransformState::ParDo(s) => {
                let pending = std::mem::take(&mut s.pending);
                if !pending.is_empty() {
                    self.side_inputs_ready(t)?;
                    for b in pending {
                        self.run_bundle(t, b)?;
                    }
                }
            }
            TransformState::Grouping(table) => {
                if let Some(table) = table.take() {
                    let checks = self.options.checks;
                    let out = table.finish(&mut GroupingEnv {
                        metrics: &mut self.metrics[t],
                        checks,
                    })?;
                    let id = self.graph.transforms[t].outputs[0];
                    self.emit_in_bundles(id, out)?;
                }
            }
            TransformState::Stateless => {}
        }
        self.done[t] = true;
        Ok(())
    }
}
