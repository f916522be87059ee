//! One timely worker's copy of the pipeline: the graph translated to operators.

use crate::operators::{
    flatten, keyed, map_bundles, par_do, ship, source, Bundles, Keyed, SideSpec, Time,
};
use beam_core::graph::{Graph, Primitive};
use beam_core::kernel::{GroupingEnv, GroupingTable, StatefulProcessor};
use beam_core::source::ErasedSource;
use beam_core::{Batch, BeamError, MetricsContainer, Result, Timestamp, WindowedValue};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use timely::dataflow::Scope;

/// What the operators of one worker share: the graph, the first error, the
/// metrics of finished steps, and the flag that stops every worker of the
/// process once one failed.
pub(crate) struct WorkerState {
    pub(crate) graph: Arc<Graph>,
    error: RefCell<Option<BeamError>>,
    failed: Arc<AtomicBool>,
    metrics: RefCell<Vec<MetricsContainer>>,
}

impl WorkerState {
    pub(crate) fn new(graph: Arc<Graph>, failed: Arc<AtomicBool>) -> Self {
        let steps = graph.transforms.len();
        WorkerState {
            graph,
            error: RefCell::new(None),
            failed,
            metrics: RefCell::new((0..steps).map(|_| MetricsContainer::new()).collect()),
        }
    }

    /// Records the first error and stops the run.
    pub(crate) fn fail(&self, e: BeamError) {
        self.failed.store(true, Ordering::SeqCst);
        self.error.borrow_mut().get_or_insert(e);
    }

    pub(crate) fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn add_metrics(&self, t: usize, m: MetricsContainer) {
        self.metrics.borrow_mut()[t].merge(m);
    }

    /// The worker's error, if any, and its metrics per step.
    pub(crate) fn finish(&self) -> (Option<BeamError>, Vec<MetricsContainer>) {
        (
            self.error.borrow_mut().take(),
            std::mem::take(&mut *self.metrics.borrow_mut()),
        )
    }
}

/// This worker's share of a source's input, read lazily.
fn share_of(
    graph: &Graph,
    t: usize,
    index: usize,
    peers: usize,
) -> Result<Box<dyn Iterator<Item = Result<Batch>>>> {
    match &graph.transforms[t].primitive {
        Primitive::Impulse => Ok(Box::new(
            (index == 0)
                .then(|| Ok(Batch::new(vec![WindowedValue::in_global_window(())])))
                .into_iter(),
        )),
        Primitive::Create { values } => {
            let mut all = values.clone();
            let per = all.len().div_ceil(peers);
            let mine = if index * per >= all.len() {
                all.empty_like()
            } else {
                let mut tail = all.split_off(index * per);
                let _ = tail.split_off(per.min(tail.len()));
                tail
            };
            Ok(Box::new(std::iter::once(Ok(mine))))
        }
        Primitive::Read { source } => {
            let size = source.estimated_size_bytes()?;
            let desired = (size / (peers as u64 * 4)).max(64 * 1024);
            let splits: Vec<Arc<dyn ErasedSource>> = source
                .split(desired)?
                .into_iter()
                .enumerate()
                .filter(|(i, _)| i % peers == index)
                .map(|(_, s)| s)
                .collect();
            Ok(Box::new(splits.into_iter().flat_map(|s| {
                let mut reader = match s.open() {
                    Ok(r) => r,
                    Err(e) => {
                        return Box::new(std::iter::once(Err(e))) as Box<dyn Iterator<Item = _>>
                    }
                };
                Box::new(std::iter::from_fn(move || {
                    reader.next_batch(4096).transpose()
                }))
            })))
        }
        _ => unreachable!("only roots are sources"),
    }
}

struct Table(Box<dyn GroupingTable>);

impl Keyed for Table {
    fn add(&mut self, batch: Batch, metrics: &mut MetricsContainer) -> Result<()> {
        self.0.add(
            batch,
            &mut GroupingEnv {
                metrics,
                checks: false,
            },
        )
    }
    fn advance_input_watermark(
        &mut self,
        wm: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        self.0.advance_input_watermark(
            wm,
            &mut GroupingEnv {
                metrics,
                checks: false,
            },
        )
    }
    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        self.0.advance_processing_time(
            now,
            &mut GroupingEnv {
                metrics,
                checks: false,
            },
        )
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
}

/// Builds this worker's operators for the whole graph.
pub(crate) fn build<'s>(scope: Scope<'s, Time>, state: Rc<WorkerState>) -> Result<()> {
    let graph = state.graph.clone();
    let (index, peers) = (scope.index(), scope.peers());
    let mut streams: Vec<Option<Bundles<'s>>> = vec![None; graph.pcollections.len()];
    fn input<'s>(streams: &[Option<Bundles<'s>>], p: usize) -> Bundles<'s> {
        streams[p]
            .clone()
            .expect("inputs are built before their consumers")
    }
    for (t, node) in graph.transforms.iter().enumerate() {
        let outs: Vec<Bundles<'s>> = match &node.primitive {
            Primitive::Impulse | Primitive::Create { .. } | Primitive::Read { .. } => {
                let work = share_of(&graph, t, index, peers)?;
                vec![source(scope, &node.name, work, state.clone())]
            }
            Primitive::ParDo { side_inputs, .. } => {
                let sides = side_inputs
                    .iter()
                    .map(|s| {
                        let all = ship(
                            input(&streams, s.pcollection),
                            &format!("{}/Side{}", node.name, s.view_id),
                            state.clone(),
                            |b, peers| (0..peers).map(|_| b.clone()).collect(),
                        );
                        let spec = SideSpec {
                            view_id: s.view_id,
                            view: graph.pcollections[s.pcollection].name.clone(),
                            kernel: s.kernel.clone(),
                            codec: graph.pcollections[s.pcollection].codec.clone(),
                        };
                        (all, spec)
                    })
                    .collect();
                par_do(
                    scope,
                    t,
                    input(&streams, node.inputs[0]),
                    sides,
                    state.clone(),
                )
            }
            Primitive::WindowInto { kernel } => {
                let kernel = kernel.clone();
                vec![map_bundles(
                    input(&streams, node.inputs[0]),
                    &node.name,
                    move |b| kernel.assign(b),
                )]
            }
            Primitive::Flatten => {
                let ins = node.inputs.iter().map(|&i| input(&streams, i)).collect();
                vec![flatten(scope, &node.name, ins)]
            }
            Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel } => {
                let route = kernel.clone();
                let shipped = ship(
                    input(&streams, node.inputs[0]),
                    &node.name,
                    state.clone(),
                    move |b, n| route.partition(b, n),
                );
                let codec = graph.pcollections[node.inputs[0]].codec.clone();
                let table = Box::new(Table(kernel.new_table()));
                vec![keyed(
                    shipped,
                    t,
                    move |b| codec.decode(b),
                    table,
                    state.clone(),
                )]
            }
            Primitive::StatefulParDo { kernel } => {
                let route = kernel.clone();
                let shipped = ship(
                    input(&streams, node.inputs[0]),
                    &node.name,
                    state.clone(),
                    move |b, n| route.partition(b, n),
                );
                let codec = graph.pcollections[node.inputs[0]].codec.clone();
                let mut processor = kernel.instantiate();
                if let Err(e) = processor.setup() {
                    state.fail(e);
                }
                let processor = Box::new(Stateful(processor));
                vec![keyed(
                    shipped,
                    t,
                    move |b| codec.decode(b),
                    processor,
                    state.clone(),
                )]
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
                        parts
                    },
                );
                let codec = graph.pcollections[node.inputs[0]].codec.clone();
                let pass = Box::new(Passthrough(Vec::new()));
                vec![keyed(
                    shipped,
                    t,
                    move |b| codec.decode(b),
                    pass,
                    state.clone(),
                )]
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
    Ok(())
}
