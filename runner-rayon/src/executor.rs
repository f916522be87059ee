//! Stage-by-stage execution on the rayon pool.

use beam_core::graph::{Graph, Primitive};
use beam_core::kernel::{BundleEnv, GroupingEnv, SideInputs};
use beam_core::source::ErasedSource;
use beam_core::{
    Batch, BeamError, MetricResults, MetricsContainer, PipelineResult, Result, Timestamp,
    WindowedValue,
};
use rayon::prelude::*;
use std::sync::Arc;

/// Elements per batch read from a source.
const READ_BATCH: usize = 4096;

pub(crate) struct Executor {
    graph: Graph,
    parts: usize,
    /// The complete contents of each PCollection, until its last consumer ran.
    data: Vec<Option<Vec<Batch>>>,
    /// Consumers (main and side) of each PCollection not yet run.
    uses: Vec<usize>,
    metrics: Vec<MetricsContainer>,
}

/// Deals `batches` round-robin into `parts` groups.
fn deal(batches: Vec<Batch>, parts: usize) -> Vec<Vec<Batch>> {
    let mut groups: Vec<Vec<Batch>> = (0..parts.max(1)).map(|_| Vec::new()).collect();
    let n = groups.len();
    for (i, b) in batches.into_iter().enumerate() {
        groups[i % n].push(b);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

fn merge_metrics(parts: Vec<MetricsContainer>) -> MetricsContainer {
    let mut all = MetricsContainer::new();
    for m in parts {
        all.merge(m);
    }
    all
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
            uses,
            graph,
        }
    }

    pub(crate) fn run(mut self) -> Result<PipelineResult> {
        for t in 0..self.graph.transforms.len() {
            let outputs = self.run_transform(t)?;
            let ids = self.graph.transforms[t].outputs.clone();
            for (id, batches) in ids.into_iter().zip(outputs) {
                if self.uses[id] > 0 {
                    self.data[id] = Some(batches);
                }
            }
        }
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
            Primitive::Flatten | Primitive::Reshuffle => {
                let mut all = Vec::new();
                for &i in &node.inputs {
                    all.extend(self.take_input(i));
                }
                Ok(vec![all])
            }
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
                let results: Vec<(Vec<Vec<Batch>>, MetricsContainer)> = partitions
                    .into_par_iter()
                    .map(|batches| {
                        let mut metrics = MetricsContainer::new();
                        let mut table = kernel.new_table();
                        let mut env = GroupingEnv {
                            metrics: &mut metrics,
                            checks: false,
                        };
                        for b in batches {
                            table.add(b, &mut env)?;
                        }
                        table.advance_input_watermark(Timestamp::MAX, &mut env)?;
                        let out = table.take_output().into_iter().collect();
                        Ok((vec![out], metrics))
                    })
                    .collect::<Result<_>>()?;
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

/// Partitions every batch by key (in parallel) and gathers each partition's pieces.
fn shuffle(
    input: Vec<Batch>,
    parts: usize,
    partition: impl Fn(Batch, usize) -> Vec<Batch> + Sync,
) -> Vec<Vec<Batch>> {
    let pieces: Vec<Vec<Batch>> = input.into_par_iter().map(|b| partition(b, parts)).collect();
    let mut partitions: Vec<Vec<Batch>> = (0..parts).map(|_| Vec::new()).collect();
    for per_batch in pieces {
        for (i, piece) in per_batch.into_iter().enumerate() {
            if !piece.is_empty() {
                partitions[i % parts].push(piece);
            }
        }
    }
    partitions
}

/// Reads a source as splits of about an equal share per worker, in parallel.
fn read_source(source: &Arc<dyn ErasedSource>, parts: usize) -> Result<Vec<Batch>> {
    let size = source.estimated_size_bytes()?;
    let desired = (size / (parts as u64 * 4)).max(64 * 1024);
    let splits = source.split(desired)?;
    let per_split: Vec<Vec<Batch>> = splits
        .into_par_iter()
        .map(|s| {
            let mut reader = s.open()?;
            let mut out = Vec::new();
            while let Some(b) = reader.next_batch(READ_BATCH)? {
                out.push(b);
            }
            Ok(out)
        })
        .collect::<Result<_>>()?;
    Ok(per_split.into_iter().flatten().collect())
}
