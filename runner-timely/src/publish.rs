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
use beam_core::kernel::PublishKernel;
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
                state.sent_to(pcoll, data.len());
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
                if let Err(e) = publish_all(kernel.as_ref(), covered) {
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
                    let bytes = encode(pending.range(..=epoch).flat_map(|(_, b)| b))?;
                    p.pass(epoch + 1, &bytes)?;
                }
                publish_all(kernel.as_ref(), covered(&mut pending, p))
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

/// Takes the items a published checkpoint covers out of `pending`.
fn covered(pending: &mut BTreeMap<u64, Vec<Batch>>, p: &Participant) -> Vec<Batch> {
    let mut covered = Vec::new();
    while let Some((&epoch, _)) = pending.first_key_value() {
        if !p.run().is_published(epoch) {
            break;
        }
        covered.extend(pending.remove(&epoch).unwrap_or_default());
    }
    covered
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

/// A Publish part: its items' bundles, each encoded.
fn encode<'a>(bundles: impl Iterator<Item = &'a Batch>) -> Result<Vec<u8>> {
    let mut encoded = Vec::new();
    for b in bundles {
        let mut bytes = Vec::new();
        b.encode(&mut bytes)
            .map_err(|e| BeamError::Runner(format!("checkpoint of staged items: {e}")))?;
        encoded.push(bytes);
    }
    postcard::to_allocvec(&encoded)
        .map_err(|e| BeamError::Runner(format!("checkpoint of staged items: {e}")))
}

/// Publishes the items in the Publish parts of `restored` (of every worker:
/// a file staged on one may be restored on another) and removes the parts,
/// then lets each publisher discard what else was staged. Every process of a
/// cluster does this before the cluster connects, so before anything new is
/// staged; publishing an item twice leaves it as it is.
pub(crate) fn publish_restored(graph: &Graph, restored: &mut Restored) -> Result<()> {
    for (t, node) in graph.transforms.iter().enumerate() {
        let Primitive::Publish { kernel } = &node.primitive else {
            continue;
        };
        let codec = &graph.pcollections[node.inputs[0]].codec;
        let mine: Vec<(usize, usize)> = restored
            .parts
            .keys()
            .filter(|(step, _)| *step == t)
            .copied()
            .collect();
        let mut items = 0;
        for key in mine {
            let bytes = restored.parts.remove(&key).unwrap_or_default();
            let encoded: Vec<Vec<u8>> = postcard::from_bytes(&bytes).map_err(|e| {
                BeamError::Runner(format!(
                    "checkpoint: the part of '{}' on worker {} does not decode: {e}",
                    node.name, key.1
                ))
            })?;
            for b in encoded {
                let batch = codec.decode(&b).map_err(|e| {
                    BeamError::Runner(format!(
                        "checkpoint: an item of '{}' on worker {} does not decode: {e}",
                        node.name, key.1
                    ))
                })?;
                items += batch.len();
                kernel.publish(&batch)?;
            }
        }
        kernel.discard_unpublished()?;
        if items > 0 {
            eprintln!(
                "checkpoint: '{}' published {items} items the restored checkpoint had staged",
                node.name
            );
        }
    }
    Ok(())
}
