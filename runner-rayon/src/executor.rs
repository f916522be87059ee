//! Stage-by-stage execution on the rayon pool.

use crate::parallel::{deal, merge_metrics, rebalance, shuffle, READ_BATCH};
use crate::shuffle::ShuffleStore;
use crate::spill::SpillArea;
use crate::RayonOptions;
use beam_core::graph::{Graph, Primitive};
use beam_core::kernel::{BundleEnv, SideInputs};
use beam_core::monitoring::JobMonitor;
use beam_core::{
    Batch, BeamError, MetricsContainer, PipelineResult, Result, Timestamp, WindowedValue,
};
use rayon::prelude::*;
use std::sync::Arc;

/// Where a fused stage's input comes from.
pub(crate) enum Head {
    /// The splits of a source (the `Read` transform).
    Source(usize),
    /// The complete contents of a PCollection.
    Bundles(usize),
    /// The shuffled input of a grouping (GroupByKey or Combine), grouped bucket by bucket.
    Grouping(usize),
}

pub(crate) struct Executor {
    pub(crate) graph: Graph,
    pub(crate) parts: usize,
    /// The complete contents of each PCollection, until its last consumer ran.
    pub(crate) data: Vec<Option<Vec<Batch>>>,
    /// Consumers (main and side) of each PCollection not yet run.
    pub(crate) uses: Vec<usize>,
    pub(crate) metrics: Vec<MetricsContainer>,
    /// Transforms already run as part of a fused stage.
    pub(crate) done: Vec<bool>,
    /// The shuffled input of each grouping, between the stage that wrote it and the one that groups it.
    pub(crate) stores: Vec<Option<ShuffleStore>>,
    pub(crate) options: RayonOptions,
    pub(crate) spill: SpillArea,
    pub(crate) monitor: Arc<JobMonitor>,
}

impl Executor {
    pub(crate) fn new(
        graph: Graph,
        parts: usize,
        options: RayonOptions,
        monitor: Arc<JobMonitor>,
    ) -> Self {
        // One watermark per PCollection: it jumps to the end of time when
        // the step that produces it has run.
        monitor.set_workers(1);
        let mut uses = vec![0; graph.pcollections.len()];
        for t in &graph.transforms {
            for &i in &t.inputs {
                uses[i] += 1;
            }
            for s in t.side_inputs() {
                uses[s.pcollection] += 1;
            }
        }
        Executor {
            parts: parts.max(1),
            data: (0..graph.pcollections.len()).map(|_| None).collect(),
            metrics: (0..graph.transforms.len())
                .map(|_| MetricsContainer::new())
                .collect(),
            done: vec![false; graph.transforms.len()],
            stores: (0..graph.transforms.len()).map(|_| None).collect(),
            spill: SpillArea::new(options.temp_dir.clone()),
            options,
            uses,
            graph,
            monitor,
        }
    }

    pub(crate) fn run(mut self) -> Result<PipelineResult> {
        for t in 0..self.graph.transforms.len() {
            if self.done[t] {
                continue;
            }
            let node = &self.graph.transforms[t];
            let head = match &node.primitive {
                Primitive::Read { .. } => Some(Head::Source(t)),
                Primitive::GroupByKey { .. } | Primitive::CombinePerKey { .. } => {
                    if self.stores[t].is_none() {
                        // Its input was materialized: shuffle it first.
                        let input = node.inputs[0];
                        self.run_stage(Head::Bundles(input), &[], Some(t))?;
                    }
                    Some(Head::Grouping(t))
                }
                _ if node.inputs.len() == 1 && self.fusable(t) => {
                    Some(Head::Bundles(node.inputs[0]))
                }
                _ => None,
            };
            match head {
                Some(head) => {
                    let (chain, tail) = self.plan(t, &head);
                    self.run_stage(head, &chain, tail)?;
                }
                None => {
                    let outputs = self.run_transform(t)?;
                    for (&o, batches) in self.graph.transforms[t].outputs.iter().zip(&outputs) {
                        for b in batches {
                            self.monitor.produced(o, b);
                        }
                    }
                    let records: usize = outputs.iter().flatten().map(Batch::len).sum();
                    tracing::info!(step = %self.graph.transforms[t].name, records, "step done");
                    self.store(t, outputs);
                }
            }
            self.flush_metrics();
        }
        Ok(PipelineResult::from_monitor(&self.monitor))
    }

    /// Hands every step's user metrics so far to the monitor.
    pub(crate) fn flush_metrics(&mut self) {
        for (t, m) in self.metrics.iter_mut().enumerate() {
            self.monitor.merge_user(t, m);
        }
    }

    /// Step `t` has run: its outputs are complete.
    pub(crate) fn completed(&self, t: usize) {
        for &o in &self.graph.transforms[t].outputs {
            self.monitor.set_watermark(o, 0, Timestamp::MAX);
        }
    }

    pub(crate) fn store(&mut self, t: usize, outputs: Vec<Vec<Batch>>) {
        self.completed(t);
        let ids = self.graph.transforms[t].outputs.clone();
        for (id, batches) in ids.into_iter().zip(outputs) {
            if self.uses[id] > 0 {
                self.data[id] = Some(batches);
            }
        }
        self.done[t] = true;
    }

    /// The only consumer of `pcoll`, if it has exactly one use.
    fn sole_consumer(&self, pcoll: usize) -> Option<usize> {
        if self.uses[pcoll] != 1 {
            return None;
        }
        self.graph
            .transforms
            .iter()
            .position(|c| c.inputs.contains(&pcoll))
    }

    /// Whether `t` can run inside a fused stage: a ParDo whose side inputs
    /// are ready (its main output goes on down the chain, its tagged outputs
    /// are kept for their consumers), or a WindowInto.
    fn fusable(&self, t: usize) -> bool {
        let node = &self.graph.transforms[t];
        match &node.primitive {
            Primitive::WindowInto { .. } => true,
            Primitive::ParDo { side_inputs, .. } => side_inputs
                .iter()
                .all(|s| self.data[s.pcollection].is_some()),
            _ => false,
        }
    }

    /// The chain of fusable transforms a stage headed by `head` (found at
    /// transform `t`) runs, and the grouping it feeds, if any.
    fn plan(&self, t: usize, head: &Head) -> (Vec<usize>, Option<usize>) {
        let mut chain = Vec::new();
        if let Head::Bundles(_) = head {
            chain.push(t);
        }
        let mut out = self.graph.transforms[t].outputs[0];
        loop {
            match self.sole_consumer(out) {
                Some(c) if self.graph.transforms[c].inputs.len() == 1 && self.fusable(c) => {
                    chain.push(c);
                    out = self.graph.transforms[c].outputs[0];
                }
                Some(c)
                    if matches!(
                        self.graph.transforms[c].primitive,
                        Primitive::GroupByKey { .. } | Primitive::CombinePerKey { .. }
                    ) =>
                {
                    return (chain, Some(c))
                }
                _ => return (chain, None),
            }
        }
    }

    /// The batches of `pcoll` for one consumer: moved to the last one, cloned before.
    /// Materializes the side inputs transform `t` reads.
    pub(crate) fn side_inputs_of(&mut self, t: usize) -> Result<SideInputs> {
        let node = self.graph.transforms[t].clone();
        let mut side = SideInputs::new();
        for s in node.side_inputs() {
            let batches = self.take_input(s.pcollection);
            let view = s
                .kernel
                .materialize(batches)
                .map_err(|message| BeamError::SideInput {
                    step: node.name.clone(),
                    view: self.graph.pcollections[s.pcollection].name.clone(),
                    message,
                })?;
            side.insert(s.view_id, view);
        }
        Ok(side)
    }

    pub(crate) fn take_input(&mut self, pcoll: usize) -> Vec<Batch> {
        self.uses[pcoll] = self.uses[pcoll].saturating_sub(1);
        if self.uses[pcoll] == 0 {
            self.data[pcoll].take().unwrap_or_default()
        } else {
            self.data[pcoll].clone().unwrap_or_default()
        }
    }

    fn run_transform(&mut self, t: usize) -> Result<Vec<Vec<Batch>>> {
        let node = self.graph.transforms[t].clone();
        let parts = self.parts;
        match &node.primitive {
            Primitive::Impulse => Ok(vec![vec![Batch::new(vec![
                WindowedValue::in_global_window(()),
            ])]]),
            Primitive::Create { values } => {
                let mut values = values.clone();
                // At least one bundle per worker, and none bigger than a source's.
                let chunk = values.len().div_ceil(parts).clamp(1, READ_BATCH);
                let mut batches = Vec::new();
                while values.len() > chunk {
                    let tail = values.split_off(values.len() - chunk);
                    batches.push(tail);
                }
                batches.push(values);
                Ok(vec![batches])
            }
            Primitive::WindowInto { kernel } => {
                let input = self.take_input(node.inputs[0]);
                let (out, metrics): (Vec<Batch>, Vec<MetricsContainer>) = input
                    .into_par_iter()
                    .map(|b| {
                        let mut m = MetricsContainer::new();
                        (kernel.assign(b, &mut m), m)
                    })
                    .unzip();
                self.metrics[t].merge(merge_metrics(metrics));
                Ok(vec![out])
            }
            Primitive::Flatten => {
                let mut all = Vec::new();
                for &i in &node.inputs {
                    all.extend(self.take_input(i));
                }
                Ok(vec![all])
            }
            Primitive::Reshuffle => Ok(vec![rebalance(self.take_input(node.inputs[0]), parts * 4)]),
            Primitive::Publish { kernel } => {
                // Bounded input is not replayed: published as staged.
                let input = self.take_input(node.inputs[0]);
                input.par_iter().try_for_each(|b| kernel.publish(b))?;
                Ok(vec![input])
            }
            Primitive::ParDo { kernel, .. } => {
                let side = self.side_inputs_of(t)?;
                let input = self.take_input(node.inputs[0]);
                let codecs: Vec<_> = node
                    .outputs
                    .iter()
                    .map(|&o| self.graph.pcollections[o].codec.clone())
                    .collect();
                let monitor = &*self.monitor;
                let results: Vec<(Vec<Vec<Batch>>, MetricsContainer)> = deal(input, parts)
                    .into_par_iter()
                    .map(|group| {
                        let mut metrics = MetricsContainer::new();
                        let mut processor = kernel.instantiate();
                        let mut outputs: Vec<Vec<Batch>> =
                            codecs.iter().map(|_| Vec::new()).collect();
                        let run = || -> Result<()> {
                            processor.setup()?;
                            for batch in group {
                                let _bundle = monitor.bundle(t, batch.len());
                                let mut outs: Vec<Batch> =
                                    codecs.iter().map(|c| c.empty()).collect();
                                let mut env = BundleEnv {
                                    outputs: &mut outs,
                                    side_inputs: &side,
                                    metrics: &mut metrics,
                                    check_mutation: false,
                                };
                                processor.start_bundle(&mut env)?;
                                processor.process_batch(batch, &mut env)?;
                                processor.finish_bundle(&mut env)?;
                                for (o, b) in outputs.iter_mut().zip(outs) {
                                    if !b.is_empty() {
                                        o.push(b);
                                    }
                                }
                            }
                            Ok(())
                        };
                        let result = run();
                        let teardown = processor.teardown();
                        result.and(teardown).map(|()| (outputs, metrics))
                    })
                    .collect::<Result<_>>()?;
                self.collect_outputs(t, node.outputs.len(), results)
            }
            Primitive::StatefulParDo { kernel } => {
                let input = self.take_input(node.inputs[0]);
                let partitions = shuffle(input, parts, |b, n| kernel.partition(b, n));
                let monitor = &*self.monitor;
                let results: Vec<(Vec<Vec<Batch>>, MetricsContainer)> = partitions
                    .into_par_iter()
                    .map(|batches| {
                        let mut metrics = MetricsContainer::new();
                        let mut processor = kernel.instantiate();
                        let run = || -> Result<Vec<Batch>> {
                            processor.setup()?;
                            let mut out = Vec::new();
                            for b in batches {
                                let _bundle = monitor.bundle(t, b.len());
                                processor.process_batch(b, &mut metrics)?;
                                out.extend(processor.take_output());
                            }
                            processor.advance_input_watermark(Timestamp::MAX, &mut metrics)?;
                            out.extend(processor.take_output());
                            Ok(out)
                        };
                        let result = run();
                        let teardown = processor.teardown();
                        let out = result?;
                        teardown?;
                        Ok((vec![out], metrics))
                    })
                    .collect::<Result<_>>()?;
                self.collect_outputs(t, 1, results)
            }
            other => Err(BeamError::Unsupported {
                runner: "rayon".into(),
                step: node.name.clone(),
                feature: format!("the primitive {}", other.kind()),
            }),
        }
    }

    pub(crate) fn collect_outputs(
        &mut self,
        t: usize,
        n_outputs: usize,
        results: Vec<(Vec<Vec<Batch>>, MetricsContainer)>,
    ) -> Result<Vec<Vec<Batch>>> {
        let mut outputs: Vec<Vec<Batch>> = (0..n_outputs).map(|_| Vec::new()).collect();
        let mut metrics = Vec::new();
        for (outs, m) in results {
            for (o, batches) in outputs.iter_mut().zip(outs) {
                o.extend(batches);
            }
            metrics.push(m);
        }
        self.metrics[t].merge(merge_metrics(metrics));
        Ok(outputs)
    }
}
