//! Publish on timely: staged items become visible once a complete checkpoint
//! covers them.
//!
//! Without checkpoints an item is published as it arrives. With them, the
//! items that arrive in checkpoint epoch E wait; when the input frontier
//! passes E, every item of an epoch up to E not yet published is this
//! operator's part of E's checkpoint; once a checkpoint of E or later is
//! published, the items of epochs up to E are published and dropped. At the
//! end of the input the operator writes its last items as its part of one
//! more epoch and stays (holding its ack capability, so that later
//! checkpoints cannot complete without it) until that checkpoint is
//! published and its items are.
//!
//! A restore publishes the restored checkpoint's items before the run starts
//! ([`publish_restored`]): the input that staged them is not read again.

use crate::checkpoint::participant::Participant;
use crate::checkpoint::{Restored, MAX_EPOCHS_AT_ONCE};
use crate::operators::{checkpoint_epoch, retain, Bundles};
use crate::sources::Acks;
use crate::worker::WorkerState;
use beam_core::graph::{Graph, Primitive};
use beam_core::kernel::{PublishKernel, WriterId};
use beam_core::{Batch, BeamError, Result};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;

/// How often an operator with items waiting looks for a newer checkpoint.
const POLL: Duration = Duration::from_millis(20);

/// The Publish step `t` on this worker; see the [module docs](self).
pub(crate) fn publish<'s>(
    input: Bundles<'s>,
    t: usize,
    kernel: Arc<dyn PublishKernel>,
    state: Rc<WorkerState>,
) -> (Bundles<'s>, Acks<'s>) {
    let scope = input.scope();
    let worker = scope.index();
    let node = &state.graph.transforms[t];
    let pcoll = node.outputs[0];
    let mut builder = OperatorBuilder::new(node.name.clone(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let mut inp = builder.new_input(input, Pipeline);
    let (mut output, stream) = builder.new_output::<Vec<Batch>>();
    let (ack_output, acks) = builder.new_output::<Vec<crate::checkpoint::Ack>>();
    let ckpt = state.checkpoint.clone();
    builder.build(move |mut caps| {
        let ack_cap = caps.pop().expect("an ack output");
        drop(caps);
        let mut part = Participant::new(ckpt.as_ref(), t, worker, ack_cap, ack_output);
        // Items not yet published, by the checkpoint epoch they arrived in.
        let mut pending: BTreeMap<u64, Vec<Batch>> = BTreeMap::new();
        move |frontiers| {
            let mut out = output.activate();
            inp.for_each(|cap, data| {
                state.received(data.len());
                let Some(at) = retain(&cap, 0) else {
                    return;
                };
                if state.failed() {
                    data.clear();
                    return;
                }
                match (&ckpt, &part) {
                    // No checkpoints: nothing is replayed, published as staged.
                    (None, _) => {
                        for b in data.iter() {
                            if let Err(e) = kernel.publish(b) {
                                state.fail(e);
                            }
                        }
                    }
                    (Some(_), Some(_)) => pending
                        .entry(at.time().outer)
                        .or_default()
                        .extend(data.iter().cloned()),
                    // After a stop: no checkpoint will cover it; it stays
                    // staged, and a restore discards it and makes it again.
                    (Some(_), None) => {}
                }
                state.sent_to(pcoll, data);
                out.give(&at, data);
            });
            drop(out);
            let Some(p) = part.as_mut() else {
                return;
            };
            if state.failed() {
                p.finish();
                part = None;
                return;
            }
            if state.stopping() {
                // A graceful stop: what its last checkpoint covers is
                // published; the rest stays staged (a restore discards it and
                // makes it again).
                let covered = covered(&mut pending, p);
                if let Err(e) = publish_covered(kernel.as_ref(), p, worker, covered) {
                    state.fail(e);
                }
                p.finish();
                part = None;
                return;
            }
            let input_done = frontiers[0].is_empty();
            let mut step = || -> Result<()> {
                // The epochs the input passed (at the end, one past the last
                // epoch with items): each one's part is the items up to it.
                let passed = match checkpoint_epoch(&frontiers[0]) {
                    Some(e) if !input_done => e,
                    _ => pending.last_key_value().map_or(p.epoch(), |(e, _)| e + 1),
                };
                if passed > p.epoch() + MAX_EPOCHS_AT_ONCE {
                    p.skip_to(passed - MAX_EPOCHS_AT_ONCE);
                }
                while p.epoch() < passed {
                    let epoch = p.epoch();
                    let bytes = encode(pending.range(..=epoch))?;
                    p.pass(epoch + 1, &bytes)?;
                }
                let covered = covered(&mut pending, p);
                publish_covered(kernel.as_ref(), p, worker, covered)
            };
            if let Err(e) = step() {
                state.fail(e);
            }
            if state.failed() || (input_done && pending.is_empty()) {
                p.finish();
                part = None;
            } else if !pending.is_empty() {
                activator.activate_after(POLL);
            }
        }
    });
    (stream, acks)
}

/// Takes the items a published checkpoint covers out of `pending`, with
/// the epoch they were staged in.
fn covered(pending: &mut BTreeMap<u64, Vec<Batch>>, p: &Participant) -> Vec<(u64, Vec<Batch>)> {
    let mut covered = Vec::new();
    while let Some((&epoch, _)) = pending.first_key_value() {
        if !p.run().is_published(epoch) {
            break;
        }
        covered.push((epoch, pending.remove(&epoch).unwrap_or_default()));
    }
    covered
}

/// Publishes the items a published checkpoint covers: item by item, or in
/// one commit of this worker's writer up to their newest epoch.
fn publish_covered(
    kernel: &dyn PublishKernel,
    p: &Participant,
    worker: usize,
    covered: Vec<(u64, Vec<Batch>)>,
) -> Result<()> {
    let Some(&(newest, _)) = covered.last() else {
        return Ok(());
    };
    let batches: Vec<Batch> = covered.into_iter().flat_map(|(_, b)| b).collect();
    if !kernel.is_transactional() {
        return publish_all(kernel, batches);
    }
    if batches.iter().all(Batch::is_empty) {
        return Ok(());
    }
    let writer = WriterId {
        job: p.run().job_id()?,
        index: worker as u32,
    };
    kernel.commit(&writer, newest, &batches)
}

/// Publishes `covered`; a crash test can stop half-way (at the failure
/// point `publish-partly`).
fn publish_all(kernel: &dyn PublishKernel, covered: Vec<Batch>) -> Result<()> {
    let total: usize = covered.iter().map(Batch::len).sum();
    let half = total / 2;
    let mut done = 0;
    for mut b in covered {
        if half > 0 && done < half && done + b.len() > half {
            let rest = b.split_off(half - done);
            kernel.publish(&b)?;
            done = half;
            b = rest;
        }
        if half > 0 && done == half {
            crate::checkpoint::failpoint::hit("publish-partly");
        }
        done += b.len();
        kernel.publish(&b)?;
    }
    Ok(())
}

/// A Publish part: its items' bundles, each encoded, with the epoch it was
/// staged in.
fn encode<'a>(epochs: impl Iterator<Item = (&'a u64, &'a Vec<Batch>)>) -> Result<Vec<u8>> {
    let mut encoded: Vec<(u64, Vec<u8>)> = Vec::new();
    for (&epoch, bundles) in epochs {
        for b in bundles {
            let mut bytes = Vec::new();
            b.encode(&mut bytes)
                .map_err(|e| BeamError::Runner(format!("checkpoint of staged items: {e}")))?;
            encoded.push((epoch, bytes));
        }
    }
    postcard::to_allocvec(&encoded)
        .map_err(|e| BeamError::Runner(format!("checkpoint of staged items: {e}")))
}

/// The items of a restored Publish part, by the epoch they were staged in.
fn decode(graph: &Graph, t: usize, worker: usize, bytes: &[u8]) -> Result<Vec<(u64, Batch)>> {
    let node = &graph.transforms[t];
    let codec = &graph.pcollections[node.inputs[0]].codec;
    let encoded: Vec<(u64, Vec<u8>)> = postcard::from_bytes(bytes).map_err(|e| {
        BeamError::Runner(format!(
            "checkpoint: the part of '{}' on worker {worker} does not decode: {e}",
            node.name
        ))
    })?;
    encoded
        .into_iter()
        .map(|(epoch, b)| {
            let batch = codec.decode(&b).map_err(|e| {
                BeamError::Runner(format!(
                    "checkpoint: an item of '{}' on worker {worker} does not decode: {e}",
                    node.name
                ))
            })?;
            Ok((epoch, batch))
        })
        .collect()
}

/// Publishes what the Publish parts of `restored` staged and removes the
/// parts. Every process of a cluster does this before the cluster connects,
/// so before anything new is staged.
///
/// - Item by item: every process publishes the items of every worker (a
///   file staged on one may be restored on another; publishing an item twice
///   leaves it as it is), then lets the publisher discard what else was
///   staged.
/// - Transactionally: each old writer is recovered by the process of the
///   worker that takes it over (`writer % workers`), which commits its
///   restored items of the epochs after its last commit. A writer that
///   committed past the restored checkpoint fails the restore: its output of
///   those epochs would be published twice.
pub(crate) fn publish_restored(
    graph: &Graph,
    restored: &mut Restored,
    workers: usize,
    local: std::ops::Range<usize>,
) -> Result<()> {
    for (t, node) in graph.transforms.iter().enumerate() {
        let Primitive::Publish { kernel } = &node.primitive else {
            continue;
        };
        let mut parts: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
        restored.parts.retain(|&(step, worker), bytes| {
            if step == t {
                parts.insert(worker, std::mem::take(bytes));
            }
            step != t
        });
        let items = if kernel.is_transactional() {
            commit_restored(graph, t, kernel.as_ref(), restored, &parts, workers, &local)?
        } else {
            let mut items = 0;
            for (&worker, bytes) in &parts {
                for (_, batch) in decode(graph, t, worker, bytes)? {
                    items += batch.len();
                    kernel.publish(&batch)?;
                }
            }
            kernel.discard_unpublished()?;
            items
        };
        if items > 0 {
            eprintln!(
                "checkpoint: '{}' published {items} items the restored checkpoint had staged",
                node.name
            );
        }
    }
    Ok(())
}

/// Recovers the old writers of the transactional Publish `t` that this
/// process takes over and commits their restored items not yet committed;
/// returns how many items it committed.
fn commit_restored(
    graph: &Graph,
    t: usize,
    kernel: &dyn PublishKernel,
    restored: &Restored,
    parts: &BTreeMap<usize, Vec<u8>>,
    workers: usize,
    local: &std::ops::Range<usize>,
) -> Result<usize> {
    let name = &graph.transforms[t].name;
    let owned: Vec<usize> = (0..restored.workers)
        .filter(|w| local.contains(&(w % workers.max(1))))
        .collect();
    let writers: Vec<WriterId> = owned
        .iter()
        .map(|&w| WriterId {
            job: restored.job_id.clone(),
            index: w as u32,
        })
        .collect();
    let committed = kernel.recover(&writers)?;
    let mut items = 0;
    for ((&w, writer), last) in owned.iter().zip(&writers).zip(committed) {
        if let Some(last) = last.filter(|&l| l > restored.epoch) {
            return Err(BeamError::Runner(format!(
                "checkpoint: '{name}': writer {writer} already committed the output of epoch {last}, \
                 which is after checkpoint {} being restored; restoring it would publish that \
                 output twice (restore a newer checkpoint, or --restore-from latest)",
                restored.epoch
            )));
        }
        let Some(bytes) = parts.get(&w) else {
            continue;
        };
        let pending: Vec<(u64, Batch)> = decode(graph, t, w, bytes)?
            .into_iter()
            .filter(|(epoch, _)| last.is_none_or(|l| *epoch > l))
            .collect();
        let Some(newest) = pending.iter().map(|(e, _)| *e).max() else {
            continue;
        };
        let batches: Vec<Batch> = pending.into_iter().map(|(_, b)| b).collect();
        let n: usize = batches.iter().map(Batch::len).sum();
        if n > 0 {
            kernel.commit(writer, newest, &batches)?;
            items += n;
        }
    }
    Ok(items)
}
