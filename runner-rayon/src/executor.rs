//! Stage-by-stage execution on the rayon pool.

use crate::parallel::{
    deal, fire_partitions, merge_metrics, progress_bar, read_source, read_split, rebalance, shuffle,
};
use beam_core::graph::{Graph, Primitive};
use beam_core::kernel::{BundleEnv, SideInputs};
use beam_core::source::ErasedSource;
use beam_core::{
    Batch, BeamError, MetricsContainer, PipelineResult, Result, Timestamp, WindowedValue,
};
use rayon::prelude::*;
use std::sync::Arc;

/// A unit of a fused stage's input: a bundle, or a source split to read.
enum Work {
    Bundle(Batch),
    Split(Arc<dyn ErasedSource>),
}

pub(crate) struct Executor {
    graph: Graph,
    parts: usize,
    /// The complete contents of each PCollection, until its last consumer ran.
    data: Vec<Option<Vec<Batch>>>,
    /// Consumers (main and side) of each PCollection not yet run.
    uses: Vec<usize>,
    metrics: Vec<MetricsContainer>,
    /// Transforms already run as part of a fused stage.
    done: Vec<bool>,
    progress: indicatif::ProgressBar,
}

impl Executor {
    pub(crate) fn new(graph: Graph, parts: usize) -> Self {
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
            progress: progress_bar(graph.transforms.len()),
            uses,
            graph,
        }
    }

    pub(crate) fn run(mut self) -> Result<PipelineResult> {
        for t in 0..self.graph.transforms.len() {
            if self.done[t] {
                continue;
            }
            self.progress
                .set_message(self.graph.transforms[t].name.clone());
            let (last, outputs) = match self.fusable_chain(t) {
                Some((chain, lifted_into)) => self.run_stage(&chain, lifted_into)?,
                None => (t, self.run_transform(t)?),
            };
            let records: usize = outputs.iter().flatten().map(Batch::len).sum();
            self.progress.println(format!(
                "{}: {records} records",
                self.graph.transforms[last].name
            ));
            self.store(last, outputs);
            self.progress
                .set_position(self.done.iter().filter(|d| **d).count() as u64);
        }
        self.progress.finish_and_clear();
        let metrics = std::mem::take(&mut self.metrics);
        Ok(PipelineResult::from_step_metrics(&self.graph, metrics))
    }

    fn store(&mut self, t: usize, outputs: Vec<Vec<Batch>>) {
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

    /// Whether `t` can run inside a fused stage: a single-output ParDo whose
    /// side inputs are ready, or a WindowInto.
    fn fusable(&self, t: usize) -> bool {
        let node = &self.graph.transforms[t];
        match &node.primitive {
            Primitive::WindowInto { .. } => true,
            Primitive::ParDo { side_inputs, .. } => {
                node.outputs.len() == 1
                    && side_inputs
                        .iter()
                        .all(|s| self.data[s.pcollection].is_some())
            }
            _ => false,
        }
    }

    /// The chain of fusable transforms starting at `t`, and the grouping it can
    /// be lifted into, if any; `None` when there is nothing to fuse.
    fn fusable_chain(&self, t: usize) -> Option<(Vec<usize>, Option<usize>)> {
        let node = &self.graph.transforms[t];
        let grouping = |g: usize| {
            let n = &self.graph.transforms[g];
            match &n.primitive {
                Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel } => {
                    kernel.lifted().is_some().then_some(g)
                }
                _ => None,
            }
        };
        if matches!(
            node.primitive,
            Primitive::GroupByKey { .. } | Primitive::CombinePerKey { .. }
        ) {
            return grouping(t).map(|g| (Vec::new(), Some(g)));
        }
        let is_read = matches!(node.primitive, Primitive::Read { .. });
        if !is_read && (node.inputs.len() != 1 || !self.fusable(t)) {
            return None;
        }
        let mut chain = vec![t];
        let mut last = t;
        loop {
            let out = self.graph.transforms[last].outputs[0];
            match self.sole_consumer(out) {
                Some(c) if self.graph.transforms[c].inputs.len() == 1 && self.fusable(c) => {
                    chain.push(c);
                    last = c;
                }
                Some(c) => return Some((chain, grouping(c))),
                None => return Some((chain, None)),
            }
        }
    }

    /// Runs a fused stage: each worker pushes its share of the input through
    /// the chain bundle by bundle and, when the stage ends in a lifted grouping,
    /// pre-combines the results before the shuffle. Returns the last transform
    /// run and its outputs.
    fn run_stage(
        &mut self,
        chain: &[usize],
        lifted_into: Option<usize>,
    ) -> Result<(usize, Vec<Vec<Batch>>)> {
        let first = *chain
            .first()
            .or(lifted_into.as_ref())
            .expect("a stage runs something");
        // A stage headed by a source reads its splits on the workers; otherwise it
        // starts from a complete PCollection.
        let (work, chain): (Vec<Work>, &[usize]) = match &self.graph.transforms[first].primitive {
            Primitive::Read { source } if !chain.is_empty() => {
                let size = source.estimated_size_bytes()?;
                let desired = (size / (self.parts as u64 * 4)).max(64 * 1024);
                (
                    source
                        .split(desired)?
                        .into_iter()
                        .map(Work::Split)
                        .collect(),
                    &chain[1..],
                )
            }
            _ => (
                self.take_input(self.graph.transforms[first].inputs[0])
                    .into_iter()
                    .map(Work::Bundle)
                    .collect(),
                chain,
            ),
        };
        let head = matches!(
            self.graph.transforms[first].primitive,
            Primitive::Read { .. }
        )
        .then_some(first);
        let mut sides = Vec::new();
        for &t in chain {
            let node = self.graph.transforms[t].clone();
            let mut side = SideInputs::new();
            for s in node.side_inputs() {
                let batches = self.take_input(s.pcollection);
                let view =
                    s.kernel
                        .materialize(batches)
                        .map_err(|message| BeamError::SideInput {
                            step: node.name.clone(),
                            view: self.graph.pcollections[s.pcollection].name.clone(),
                            message,
                        })?;
                side.insert(s.view_id, view);
            }
            sides.push(side);
        }
        let graph = &self.graph;
        let lifted_kernel = lifted_into.map(|g| match &graph.transforms[g].primitive {
            Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel } => {
                kernel.clone()
            }
            _ => unreachable!("lifted into a grouping"),
        });
        type WorkerResult = (Vec<Batch>, Vec<MetricsContainer>);
        let results: Vec<WorkerResult> = deal(work, self.parts)
            .into_par_iter()
            .map(|group| -> Result<WorkerResult> {
                let mut metrics: Vec<MetricsContainer> =
                    chain.iter().map(|_| MetricsContainer::new()).collect();
                let mut processors = Vec::new();
                for &t in chain {
                    if let Primitive::ParDo { kernel, .. } = &graph.transforms[t].primitive {
                        processors.push(Some(kernel.instantiate()));
                    } else {
                        processors.push(None);
                    }
                }
                let mut partial = lifted_kernel.as_ref().and_then(|k| k.lifted());
                let run = || -> Result<Vec<Batch>> {
                    for p in processors.iter_mut().flatten() {
                        p.setup()?;
                    }
                    let mut out = Vec::new();
                    let mut bundles: Box<dyn Iterator<Item = Result<Batch>>> =
                        Box::new(std::iter::empty());
                    for w in group {
                        bundles = match w {
                            Work::Bundle(b) => Box::new(bundles.chain(std::iter::once(Ok(b)))),
                            Work::Split(s) => Box::new(bundles.chain(read_split(s))),
                        };
                    }
                    for batch in bundles {
                        let mut batch = batch?;
                        for (i, &t) in chain.iter().enumerate() {
                            let node = &graph.transforms[t];
                            batch = match (&node.primitive, processors[i].as_mut()) {
                                (Primitive::WindowInto { kernel }, _) => kernel.assign(batch),
                                (Primitive::ParDo { .. }, Some(p)) => {
                                    let mut outs =
                                        vec![graph.pcollections[node.outputs[0]].codec.empty()];
                                    let mut env = BundleEnv {
                                        outputs: &mut outs,
                                        side_inputs: &sides[i],
                                        metrics: &mut metrics[i],
                                        check_mutation: false,
                                    };
                                    p.start_bundle(&mut env)?;
                                    p.process_batch(batch, &mut env)?;
                                    p.finish_bundle(&mut env)?;
                                    outs.pop().expect("one output")
                                }
                                _ => unreachable!("only ParDo and WindowInto are fused"),
                            };
                        }
                        match partial.as_mut() {
                            Some(p) => p.add(batch)?,
                            None if !batch.is_empty() => out.push(batch),
                            None => {}
                        }
                    }
                    if let Some(p) = partial.as_mut() {
                        out.push(p.take());
                    }
                    Ok(out)
                };
                let result = run();
                let mut teardown = Ok(());
                for p in processors.iter_mut().flatten() {
                    let r = p.teardown();
                    if teardown.is_ok() {
                        teardown = r;
                    }
                }
                let out = result?;
                teardown?;
                Ok((out, metrics))
            })
            .collect::<Result<_>>()?;
        let mut batches = Vec::new();
        let mut per_step: Vec<Vec<MetricsContainer>> = chain.iter().map(|_| Vec::new()).collect();
        for (out, metrics) in results {
            batches.extend(out);
            for (i, m) in metrics.into_iter().enumerate() {
                per_step[i].push(m);
            }
        }
        for (&t, ms) in chain.iter().zip(per_step) {
            self.metrics[t].merge(merge_metrics(ms));
            self.done[t] = true;
        }
        if let Some(h) = head {
            self.done[h] = true;
        }
        let (Some(g), Some(kernel)) = (lifted_into, lifted_kernel) else {
            let last = chain.last().copied().unwrap_or(first);
            return Ok((last, vec![batches]));
        };
        let partitions = shuffle(batches, self.parts, |b, n| kernel.partition_partials(b, n));
        let results = fire_partitions(kernel.as_ref(), partitions, true)?;
        let outputs = self.collect_outputs(g, 1, results)?;
        Ok((g, outputs))
    }

    /// The batches of `pcoll` for one consumer: moved to the last one, cloned before.
    fn take_input(&mut self, pcoll: usize) -> Vec<Batch> {
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
                let chunk = values.len().div_ceil(parts).max(1);
                let mut batches = Vec::new();
                while values.len() > chunk {
                    let tail = values.split_off(values.len() - chunk);
                    batches.push(tail);
                }
                batches.push(values);
                Ok(vec![batches])
            }
            Primitive::Read { source } => Ok(vec![read_source(source, parts)?]),
            Primitive::WindowInto { kernel } => {
                let input = self.take_input(node.inputs[0]);
                Ok(vec![input
                    .into_par_iter()
                    .map(|b| kernel.assign(b))
                    .collect()])
            }
            Primitive::Flatten => {
                let mut all = Vec::new();
                for &i in &node.inputs {
                    all.extend(self.take_input(i));
                }
                Ok(vec![all])
            }
            Primitive::Reshuffle => Ok(vec![rebalance(self.take_input(node.inputs[0]), parts * 4)]),
            Primitive::ParDo {
                kernel,
                side_inputs,
            } => {
                let mut side = SideInputs::new();
                for s in side_inputs {
                    let batches = self.take_input(s.pcollection);
                    let view =
                        s.kernel
                            .materialize(batches)
                            .map_err(|message| BeamError::SideInput {
                                step: node.name.clone(),
                                view: self.graph.pcollections[s.pcollection].name.clone(),
                                message,
                            })?;
                    side.insert(s.view_id, view);
                }
                let input = self.take_input(node.inputs[0]);
                let codecs: Vec<_> = node
                    .outputs
                    .iter()
                    .map(|&o| self.graph.pcollections[o].codec.clone())
                    .collect();
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
            Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel } => {
                let input = self.take_input(node.inputs[0]);
                let partitions = shuffle(input, parts, |b, n| kernel.partition(b, n));
                let results = fire_partitions(kernel.as_ref(), partitions, false)?;
                self.collect_outputs(t, 1, results)
            }
            Primitive::StatefulParDo { kernel } => {
                let input = self.take_input(node.inputs[0]);
                let partitions = shuffle(input, parts, |b, n| kernel.partition(b, n));
                let results: Vec<(Vec<Vec<Batch>>, MetricsContainer)> = partitions
                    .into_par_iter()
                    .map(|batches| {
                        let mut metrics = MetricsContainer::new();
                        let mut processor = kernel.instantiate();
                        let run = || -> Result<Vec<Batch>> {
                            processor.setup()?;
                            let mut out = Vec::new();
                            for b in batches {
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

    fn collect_outputs(
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
