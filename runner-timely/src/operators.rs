//! The timely operators a pipeline is built from (roots are in `sources`): ParDo (with side
//! inputs), WindowInto, Flatten, the encoding in front of an exchange, and the
//! keyed operators (grouping tables, stateful processors) that hold
//! capabilities at their output watermark.
//!
//! A timely time ([`Time`]) is a checkpoint epoch and a watermark epoch in the
//! product order; elements carry their own event times, so the least
//! watermark epoch of an operator's input frontier is its Beam input
//! watermark, and the least checkpoint epoch says which checkpoints its input
//! is complete for.

use crate::checkpoint::participant::Participant;
use crate::checkpoint::{Ack, Restore};
use crate::side_buffers::SideBuffers;
use crate::sources::Acks;
use crate::worker::WorkerState;
use beam_core::batch::BatchCodec;
use beam_core::graph::Primitive;
use beam_core::kernel::BundleEnv;
use beam_core::runner_support::side_inputs::SideInputTracker;
use beam_core::{Batch, BeamError, MetricsContainer, Result, Timestamp};
use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::operators::{Capability, InputCapability};
use timely::dataflow::{Scope, Stream};
use timely::order::Product;
use timely::progress::frontier::MutableAntichain;

/// Timely's time: (checkpoint epoch, watermark epoch), ordered as a product
/// (each coordinate on its own). Sources advance the checkpoint epoch every
/// checkpoint interval and the watermark epoch as their watermark moves; a
/// hold on one axis does not hold the other back, so a window waiting for
/// its end does not delay checkpoints and an idle source does not stall them.
pub(crate) type Time = Product<u64, u64>;
/// A stream of bundles within a worker.
pub(crate) type Bundles<'s> = Stream<'s, Time, Vec<Batch>>;
/// Encoded bundles addressed to a worker, for an exchange.
pub(crate) type Shipped<'s> = Stream<'s, Time, Vec<(u64, Vec<u8>)>>;

/// The watermark epoch of a Beam timestamp (order preserving).
pub(crate) fn epoch(t: Timestamp) -> u64 {
    (t.as_micros() as i128 - Timestamp::MIN.as_micros() as i128) as u64
}

/// The Beam timestamp of a watermark epoch (the inverse of [`epoch`]).
pub(crate) fn watermark_of_epoch(e: u64) -> Timestamp {
    Timestamp::from_micros((e as i128 + Timestamp::MIN.as_micros() as i128) as i64)
}

/// The Beam watermark of a frontier: its least watermark epoch, or the end of
/// time when empty.
pub(crate) fn watermark(frontier: &MutableAntichain<Time>) -> Timestamp {
    match frontier.frontier().iter().map(|t| t.inner).min() {
        Some(e) => watermark_of_epoch(e),
        None => Timestamp::MAX,
    }
}

/// The least checkpoint epoch of a frontier (`None` when empty): every
/// message of an earlier epoch has been delivered.
pub(crate) fn checkpoint_epoch(frontier: &MutableAntichain<Time>) -> Option<u64> {
    frontier.frontier().iter().map(|t| t.outer).min()
}

/// A capability for output `port` at the time of a message (every message
/// of this runner is sent at one time).
pub(crate) fn retain(cap: &InputCapability<Time>, port: usize) -> Option<Capability<Time>> {
    cap.stamp().iter().min().map(|t| cap.delayed(t, port))
}

/// Moves `cap` forward to checkpoint epoch `checkpoint` and watermark `wm`,
/// each coordinate only forward.
pub(crate) fn advance(cap: &mut Capability<Time>, checkpoint: u64, wm: Timestamp) {
    let now = *cap.time();
    let to = Product::new(now.outer.max(checkpoint), now.inner.max(epoch(wm)));
    if to != now {
        cap.downgrade(&to);
    }
}

/// A side input of a ParDo: its view and how to decode what arrives.
pub(crate) struct SideSpec {
    pub(crate) view: String,
    pub(crate) codec: Arc<dyn BatchCodec>,
}

/// A ParDo: one DoFn instance per worker, a bundle per input message. Side
/// inputs are broadcast to every worker and tracked as they arrive
/// ([`SideInputTracker`]); a main-input bundle's elements whose side windows
/// are not all ready wait, with the bundle's capabilities held, and are tried
/// again whenever a side input fires or its watermark moves.
///
/// With checkpoints (only for views of bounded PCollections), a ParDo with
/// side inputs keeps their bundles as its part of every checkpoint from the
/// epoch the views were built in (before that it acknowledges none, so no
/// checkpoint completes while side inputs are still arriving); a restored one
/// builds its views from its part.
pub(crate) fn par_do<'s>(
    scope: Scope<'s, Time>,
    t: usize,
    input: Bundles<'s>,
    sides: Vec<(Shipped<'s>, SideSpec)>,
    state: Rc<WorkerState>,
) -> Result<(Vec<Bundles<'s>>, Acks<'s>)> {
    let graph = state.graph.clone();
    let node = &graph.transforms[t];
    let Primitive::ParDo { kernel, .. } = &node.primitive else {
        unreachable!("par_do translates a ParDo")
    };
    let worker = scope.index();
    let peers = scope.peers();
    let ckpt = state.checkpoint.clone().filter(|_| !sides.is_empty());
    let mut buffers = SideBuffers::new(sides.len());
    let mut tracker = SideInputTracker::for_step(&graph, t);
    // Every worker holds the same views, so on another worker count any old
    // worker's part will do.
    let restored = match ckpt.as_ref().map(|r| r.restore_of(t, worker, &graph)) {
        Some(Restore::Own(bytes)) => bytes,
        Some(Restore::Rescaled { parts, .. }) => parts.into_iter().find_map(|(_, b)| b),
        _ => None,
    };
    if let Some(bytes) = restored {
        let codec = graph.pcollections[node.inputs[0]].codec.clone();
        buffers = SideBuffers::restore(&node.name, &bytes, codec.as_ref())?.0;
        for (i, (_, spec)) in sides.iter().enumerate() {
            let got = buffers
                .decoded(i, spec.codec.as_ref())
                .map_err(|e| undecodable(&spec.view, &node.name, e))?;
            for b in got {
                tracker.add(i, b)?;
            }
        }
    }
    let mut builder = OperatorBuilder::new(node.name.clone(), scope);
    let mut main = builder.new_input(input, Pipeline);
    let mut side_inputs: Vec<_> = sides
        .into_iter()
        .map(|(s, spec)| {
            let input = builder.new_input(s, Exchange::new(|x: &(u64, Vec<u8>)| x.0));
            (input, spec)
        })
        .collect();
    let mut outputs = Vec::new();
    let mut streams = Vec::new();
    for _ in &node.outputs {
        let (o, s) = builder.new_output::<Vec<Batch>>();
        outputs.push(o);
        streams.push(s);
    }
    let codecs: Vec<_> = node
        .outputs
        .iter()
        .map(|&o| graph.pcollections[o].codec.clone())
        .collect();
    let step = node.name.clone();
    let out_ids = node.outputs.clone();
    let input_ids = node.inputs.clone();
    let (ack_output, acks) = builder.new_output::<Vec<Ack>>();
    let mut processor = kernel.instantiate();
    if let Err(e) = processor.setup() {
        state.fail(e);
    }
    builder.build(move |mut caps| {
        let ack_cap = caps.pop().expect("an ack output");
        let mut part = Participant::new(ckpt.as_ref(), t, worker, ack_cap, ack_output);
        // The side inputs' bundles, encoded once the views are built.
        let mut kept: Option<Vec<u8>> = None;
        let mut complete = false;
        // Main input waiting for side windows, and the tracker version it was
        // last tried at; `fresh` has not been tried yet.
        let mut stash: Vec<(Vec<Capability<Time>>, Batch)> = Vec::new();
        let mut fresh: Vec<(Vec<Capability<Time>>, Batch)> = Vec::new();
        let mut tried_at = u64::MAX;
        let mut metrics = MetricsContainer::new();
        let mut torn_down = false;
        let mut seen_wm = Timestamp::MIN;
        move |frontiers| {
            // Side inputs: every bundle as it arrives, then their watermarks.
            for (i, (input, spec)) in side_inputs.iter_mut().enumerate() {
                input.for_each(|_cap, data| {
                    received_shipped(&state, data, worker, peers);
                    for (_, bytes) in data.drain(..) {
                        let added = spec
                            .codec
                            .decode(&bytes)
                            .map_err(|e| undecodable(&spec.view, &step, e))
                            .and_then(|b| tracker.add(i, b));
                        if let Err(e) = added {
                            state.fail(e);
                        }
                        if part.is_some() && !complete {
                            buffers.push(i, bytes);
                        }
                    }
                });
            }
            let stopping = state.stopping();
            for (i, f) in frontiers[1..].iter().enumerate() {
                // A stream that stopped below the end of time empties the
                // frontier without completing the side input.
                if stopping && f.is_empty() {
                    continue;
                }
                if let Err(e) = tracker.advance_watermark(i, watermark(f)) {
                    state.fail(e);
                }
            }
            if !complete && tracker.is_complete() {
                complete = true;
                if let Some(p) = part.as_mut() {
                    match buffers.snapshot(&step, std::iter::empty()) {
                        Ok(bytes) => kept = Some(bytes),
                        Err(e) => state.fail(e),
                    }
                    buffers.clear();
                    // Every producer of a side input finished by the epoch the
                    // sources are in now: from it on, this is the part.
                    let now = p.run().epoch_now();
                    p.skip_to(now);
                }
            }
            let ports = codecs.len();
            main.for_each(|cap, data| {
                state.received(data.len());
                let caps: Vec<_> = (0..ports).filter_map(|i| retain(&cap, i)).collect();
                for b in data.drain(..) {
                    fresh.push((caps.clone(), b));
                }
            });
            let mut work = std::mem::take(&mut fresh);
            if tried_at != tracker.version() && !stash.is_empty() {
                work.append(&mut stash);
            }
            tried_at = tracker.version();
            let mut handles: Vec<_> = outputs.iter_mut().map(|o| o.activate()).collect();
            for (caps, mut batch) in work {
                if state.failed() {
                    continue;
                }
                let ready = tracker.take_ready(&mut batch);
                if !batch.is_empty() {
                    stash.push((caps.clone(), batch));
                }
                if ready.is_empty() {
                    continue;
                }
                let mut outs: Vec<Batch> = codecs.iter().map(|c| c.empty()).collect();
                let _bundle = state.bundle(t, ready.len());
                let mut env = BundleEnv {
                    outputs: &mut outs,
                    side_inputs: tracker.views(),
                    metrics: &mut metrics,
                    check_mutation: false,
                };
                let result = processor
                    .start_bundle(&mut env)
                    .and_then(|()| processor.process_batch(ready, &mut env))
                    .and_then(|()| processor.finish_bundle(&mut env));
                if let Err(e) = result {
                    state.fail(e);
                    continue;
                }
                for (((b, cap), handle), &pcoll) in outs
                    .into_iter()
                    .zip(&caps)
                    .zip(handles.iter_mut())
                    .zip(&out_ids)
                {
                    if !b.is_empty() {
                        state.sent_to(pcoll, std::slice::from_ref(&b));
                        handle.give(cap, &mut vec![b]);
                    }
                }
            }
            if stopping && !stash.is_empty() && frontiers.iter().all(|f| f.is_empty()) {
                // The stream stopped below the end of time: what waits never runs.
                state.fail(BeamError::side_inputs_never_complete(
                    &step,
                    &tracker.incomplete(),
                ));
                stash.clear();
            }
            let wm = watermark(&frontiers[0]);
            if wm > seen_wm && stash.is_empty() {
                seen_wm = wm;
                for &p in input_ids.iter().chain(&out_ids) {
                    state.watermark_moved(p, wm);
                }
            }
            state.add_metrics(t, &mut metrics);
            if let (Some(p), Some(bytes)) = (part.as_mut(), kept.as_ref()) {
                let passed = checkpoint_epoch(&frontiers[0]).unwrap_or(p.epoch());
                if let Err(e) = p.pass(passed, bytes) {
                    state.fail(e);
                }
            }
            if !torn_down && stash.is_empty() && frontiers.iter().all(|f| f.is_empty()) {
                torn_down = true;
                if let Err(e) = processor.teardown() {
                    state.fail(e);
                }
                for &p in input_ids.iter().chain(&out_ids) {
                    state.watermark_moved(p, Timestamp::MAX);
                }
                if let Some(p) = part.as_mut() {
                    p.finish();
                }
                state.add_metrics(t, &mut metrics);
            }
        }
    });
    Ok((streams, acks))
}

fn undecodable(view: &str, step: &str, e: String) -> BeamError {
    BeamError::Runner(format!(
        "side input {view} of '{step}' does not decode: {e}"
    ))
}

/// A stateless per-bundle function (WindowInto).
pub(crate) fn map_bundles<'s>(
    input: Bundles<'s>,
    t: usize,
    state: Rc<WorkerState>,
    f: impl Fn(Batch) -> Batch + 'static,
) -> Bundles<'s> {
    let node = &state.graph.transforms[t];
    let pcoll = node.outputs[0];
    let ids = [node.inputs[0], pcoll];
    let mut builder = OperatorBuilder::new(node.name.clone(), input.scope());
    let mut inp = builder.new_input(input, Pipeline);
    let (mut output, stream) = builder.new_output::<Vec<Batch>>();
    builder.build(move |_caps| {
        let mut seen_wm = Timestamp::MIN;
        move |frontiers| {
            let wm = watermark(&frontiers[0]);
            if wm > seen_wm {
                seen_wm = wm;
                for p in ids {
                    state.watermark_moved(p, wm);
                }
            }
            let mut out = output.activate();
            inp.for_each(|cap, data| {
                let Some(cap) = retain(&cap, 0) else {
                    return;
                };
                let mut mapped: Vec<Batch> = data
                    .drain(..)
                    .map(|b| {
                        let _bundle = state.bundle(t, b.len());
                        f(b)
                    })
                    .collect();
                state.received(mapped.len());
                state.sent_to(pcoll, &mapped);
                out.give(&cap, &mut mapped);
            });
        }
    });
    stream
}

/// The union of several streams.
pub(crate) fn flatten<'s>(
    scope: Scope<'s, Time>,
    t: usize,
    inputs: Vec<Bundles<'s>>,
    state: Rc<WorkerState>,
) -> Bundles<'s> {
    let node = &state.graph.transforms[t];
    let pcoll = node.outputs[0];
    let mut builder = OperatorBuilder::new(node.name.clone(), scope);
    let mut ins: Vec<_> = inputs
        .into_iter()
        .map(|s| builder.new_input(s, Pipeline))
        .collect();
    let (mut output, stream) = builder.new_output::<Vec<Batch>>();
    builder.build(move |_caps| {
        move |_frontiers| {
            let mut out = output.activate();
            for inp in ins.iter_mut() {
                inp.for_each(|cap, data| {
                    if let Some(cap) = retain(&cap, 0) {
                        state.received(data.len());
                        state.sent_to(pcoll, data);
                        out.give(&cap, data);
                    }
                });
            }
        }
    });
    stream
}

/// The key a shipped bundle is exchanged by: its target worker, with the
/// sending worker above it (`target + peers * sender`). The exchange routes
/// by the key modulo the peers (or masked, for a power of two), which is the
/// target; the receiver reads the sender with [`sender_of`].
fn exchange_key(target: usize, sender: usize, peers: usize) -> u64 {
    (target + peers * sender) as u64
}

/// The worker that shipped a bundle, from its [`exchange_key`].
fn sender_of(key: u64, peers: usize) -> usize {
    key as usize / peers.max(1)
}

/// Takes note that shipped bundles arrived at `receiver`: those from its own
/// process leave the process's queue (those from other processes were not
/// counted in it).
pub(crate) fn received_shipped(
    state: &WorkerState,
    data: &[(u64, Vec<u8>)],
    receiver: usize,
    peers: usize,
) {
    let local = data
        .iter()
        .filter(|(key, _)| state.same_process(sender_of(*key, peers), receiver))
        .count();
    state.received(local);
}

/// Encodes bundles for an exchange: `route` splits a bundle into one part per
/// worker; each non-empty part travels encoded to its worker.
pub(crate) fn ship<'s>(
    input: Bundles<'s>,
    name: &str,
    state: Rc<WorkerState>,
    route: impl Fn(Batch, usize) -> Result<Vec<Batch>> + 'static,
) -> Shipped<'s> {
    let peers = input.scope().peers();
    let sender = input.scope().index();
    let name = name.to_owned();
    let mut builder = OperatorBuilder::new(format!("{name}/Ship"), input.scope());
    let mut inp = builder.new_input(input, Pipeline);
    let (mut output, stream) = builder.new_output::<Vec<(u64, Vec<u8>)>>();
    builder.build(move |_caps| {
        move |_frontiers| {
            let mut out = output.activate();
            inp.for_each(|cap, data| {
                let Some(cap) = retain(&cap, 0) else {
                    return;
                };
                let mut shipped = Vec::new();
                state.received(data.len());
                for batch in data.drain(..) {
                    let parts = match route(batch, peers) {
                        Ok(parts) => parts,
                        Err(e) => {
                            state.fail(e);
                            continue;
                        }
                    };
                    for (target, part) in parts.into_iter().enumerate() {
                        if part.is_empty() {
                            continue;
                        }
                        let mut bytes = Vec::new();
                        match part.encode(&mut bytes) {
                            Ok(()) => shipped.push((exchange_key(target, sender, peers), bytes)),
                            Err(e) => state.fail(BeamError::Runner(format!(
                                "'{name}' cannot encode a bundle for the exchange: {e}"
                            ))),
                        }
                    }
                }
                if !shipped.is_empty() {
                    let local = shipped
                        .iter()
                        .filter(|(key, _)| state.same_process(*key as usize % peers, sender))
                        .count();
                    state.sent(local);
                    out.give(&cap, &mut shipped);
                }
            });
        }
    });
    stream
}

/// What a keyed operator drives: a grouping table or a stateful processor.
pub(crate) trait Keyed {
    fn add(&mut self, batch: Batch, metrics: &mut MetricsContainer) -> Result<()>;
    fn advance_input_watermark(
        &mut self,
        wm: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()>;
    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()>;
    fn output_watermark(&self) -> Timestamp;
    fn next_processing_time(&self) -> Option<Timestamp>;
    fn take_output(&mut self) -> Option<Batch>;
    /// Its state, for a checkpoint.
    fn snapshot(&self) -> Result<Vec<u8>>;
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// Whether it has work to do that no input or time waits for (state to
    /// read back from disk).
    fn has_work(&self) -> bool {
        false
    }
    /// Does some of that work.
    fn work(&mut self, _metrics: &mut MetricsContainer) -> Result<()> {
        Ok(())
    }
}

/// A keyed operator: receives its keys' encoded bundles from the exchange,
/// feeds them to `keyed`, advances it with the input frontier and the worker
/// clock, and holds a capability at its output watermark (its holds), so
/// that downstream watermarks wait for what it may still emit.
///
/// With checkpoints it takes its input epoch by epoch: a bundle of a later
/// checkpoint epoch than the one it is in waits (encoded) until the input
/// frontier passes the current one; then the state is written as the
/// operator's part of that epoch, and the next epoch's bundles are applied.
/// Everything it emits is at its current epoch.
pub(crate) fn keyed<'s>(
    input: Shipped<'s>,
    t: usize,
    decode: impl Fn(&[u8]) -> std::result::Result<Batch, String> + 'static,
    mut keyed: Box<dyn Keyed>,
    state: Rc<WorkerState>,
) -> (Bundles<'s>, Acks<'s>) {
    let scope = input.scope();
    let worker = scope.index();
    let peers = scope.peers();
    let name = state.graph.transforms[t].name.clone();
    let pcoll = state.graph.transforms[t].outputs[0];
    let input_pcoll = state.graph.transforms[t].inputs[0];
    let mut builder = OperatorBuilder::new(name.clone(), scope);
    let info = builder.operator_info();
    let activator = scope.activator_for(info.address.clone());
    let wake = scope.worker().sync_activator_for(info.address.to_vec());
    let test_clock = state.shared.test_clock().is_some();
    if test_clock {
        state.wake_on_clock(scope.activator_for(info.address.clone()));
    }
    let mut inp = builder.new_input(input, Exchange::new(|x: &(u64, Vec<u8>)| x.0));
    let (mut output, stream) = builder.new_output::<Vec<Batch>>();
    let (ack_output, acks) = builder.new_output::<Vec<Ack>>();
    let ckpt = state.checkpoint.clone();
    builder.build(move |mut caps| {
        let ack_cap = caps.pop().expect("an ack output");
        let mut cap = caps.pop();
        let mut part = Participant::new(ckpt.as_ref(), t, worker, ack_cap, ack_output)
            .map(|p| p.writing_in_background(wake));
        // Bundles of later checkpoint epochs, by epoch.
        let mut early = crate::early_stash::EarlyStash::new(
            std::env::temp_dir(),
            ckpt.as_ref()
                .map_or(crate::early_stash::MEMORY_PER_OPERATOR, |c| {
                    c.early_input_memory()
                }),
        );
        let mut spilled_reported = 0;
        let mut metrics = MetricsContainer::new();
        let mut input_wm = Timestamp::MIN;
        let mut seen_output_wm = Timestamp::MIN;
        let mut last_now = Timestamp::MIN;
        move |frontiers| {
            let Some(c) = cap.as_mut() else {
                inp.for_each(|_, data| {
                    received_shipped(&state, data, worker, peers);
                    data.clear();
                });
                return;
            };
            if state.stopping() {
                // The stream stopped below the end of time: nothing more fires.
                if let Err(e) = keyed.finish() {
                    state.fail(e);
                }
                state.add_metrics(t, &mut metrics);
                cap = None;
                part = None;
                return;
            }
            let mut step = || -> Result<()> {
                if let Some(p) = part.as_mut() {
                    p.acknowledge_written(false)?;
                }
                // Processing time first, so that new elements' deadlines count
                // from the current time: on every move of the test clock, and
                // at most every millisecond of wall time (or when a deadline is due).
                let now = state.now();
                let due = keyed.next_processing_time().is_some_and(|d| d <= now);
                if now > last_now
                    && (test_clock
                        || due
                        || now >= last_now.plus(beam_core::Duration::from_millis(1)))
                {
                    last_now = now;
                    if due {
                        state.touched();
                    }
                    keyed.advance_processing_time(now, &mut metrics)?;
                }
                let apply = |keyed: &mut Box<dyn Keyed>,
                             metrics: &mut MetricsContainer,
                             bytes: &[u8]| {
                    decode(bytes)
                        .map_err(|e| {
                            BeamError::Runner(format!("'{name}' got an undecodable bundle: {e}"))
                        })
                        .and_then(|b| {
                            // Its elements were counted where they were shipped;
                            // here they count as this worker's load.
                            state.keyed_input(t, b.len());
                            let _bundle = state.bundle(t, 0);
                            keyed.add(b, metrics)
                        })
                };
                let open = part.as_ref().map(Participant::epoch);
                let mut err = None;
                let mut held = 0;
                inp.for_each(|time, data| {
                    received_shipped(&state, data, worker, peers);
                    let epoch = time.stamp().iter().map(|t| t.outer).min().unwrap_or(0);
                    if open.is_some_and(|open| epoch > open) {
                        held += data.len() as i64;
                        let at = time.stamp().iter().map(|t| t.inner).min().unwrap_or(0);
                        for (_, bytes) in data.drain(..) {
                            if err.is_none() {
                                err = early.hold(epoch, at, bytes).err();
                            }
                        }
                        return;
                    }
                    for (_, bytes) in data.drain(..) {
                        if err.is_none() {
                            err = apply(&mut keyed, &mut metrics, &bytes).err();
                        }
                    }
                });
                if let Some(e) = err {
                    return Err(e);
                }
                if held > 0 {
                    // Bundles of a later epoch that arrived before the frontier
                    // passed this one, held until it does.
                    metrics.inc_counter("checkpoint_early_bundles_held", held);
                }
                if early.spilled_bytes > spilled_reported {
                    let more = early.spilled_bytes - spilled_reported;
                    metrics.inc_counter("checkpoint_early_bytes_spilled", more as i64);
                    spilled_reported = early.spilled_bytes;
                }
                if let Some(p) = part.as_mut() {
                    // Every epoch the input frontier passed: what its input
                    // produced goes out in it, the state is this operator's
                    // part of it; then the next epoch's bundles.
                    let passed = checkpoint_epoch(&frontiers[0])
                        .unwrap_or_else(|| early.last_epoch().unwrap_or(p.epoch()));
                    while p.epoch() < passed {
                        let next = early
                            .first_epoch()
                            .map_or(passed, |e| e.min(passed))
                            .max(p.epoch() + 1);
                        while let Some(out) = keyed.take_output().filter(|o| !o.is_empty()) {
                            state.sent_to(pcoll, std::slice::from_ref(&out));
                            output.activate().give(&*c, &mut vec![out]);
                        }
                        p.pass_with(next, || keyed.snapshot().map(Cow::Owned))?;
                        advance(c, next, Timestamp::MIN);
                        early.drain(next, |bytes| apply(&mut keyed, &mut metrics, bytes))?;
                    }
                }
                // Held bundles are still to come: the watermark waits for them.
                let wm = match early.least_time() {
                    Some(at) => watermark(&frontiers[0]).min(watermark_of_epoch(at)),
                    None => watermark(&frontiers[0]),
                };
                if wm > input_wm {
                    input_wm = wm;
                    state.touched();
                    state.watermark_moved(input_pcoll, wm);
                    keyed.advance_input_watermark(wm, &mut metrics)?;
                }
                if keyed.has_work() {
                    state.touched();
                    keyed.work(&mut metrics)?;
                    if keyed.has_work() {
                        activator.activate();
                    }
                }
                state.add_metrics(t, &mut metrics);
                Ok(())
            };
            if let Err(e) = step() {
                state.fail(e);
            }
            let epoch = part.as_ref().map_or(c.time().outer, Participant::epoch);
            advance(c, epoch, Timestamp::MIN);
            while let Some(out) = keyed.take_output().filter(|o| !o.is_empty()) {
                state.sent_to(pcoll, std::slice::from_ref(&out));
                output.activate().give(&*c, &mut vec![out]);
            }
            let held = keyed.output_watermark();
            if state.failed()
                || (frontiers[0].is_empty() && held == Timestamp::MAX && early.is_empty())
            {
                if let Err(e) = keyed.finish() {
                    state.fail(e);
                }
                if let Some(p) = part.as_mut() {
                    p.finish();
                }
                state.add_metrics(t, &mut metrics);
                state.watermark_moved(input_pcoll, Timestamp::MAX);
                state.watermark_moved(pcoll, Timestamp::MAX);
                cap = None;
                return;
            }
            let output_wm = held.min(input_wm);
            if output_wm > seen_output_wm {
                seen_output_wm = output_wm;
                state.watermark_moved(pcoll, output_wm);
            }
            advance(c, epoch, output_wm);
            if let Some(next) = keyed.next_processing_time().filter(|_| !test_clock) {
                let wait = (next.as_micros() - state.now().as_micros()).max(0) as u64;
                activator.activate_after(Duration::from_micros(wait.max(1000)));
            }
        }
    });
    (stream, acks)
}
