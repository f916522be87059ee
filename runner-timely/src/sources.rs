//! Root operators: bounded sources, unbounded sources and TestStream. Each
//! holds a capability at its watermark and releases it when done.

use crate::bounded_share::{BoundedShare, SharePosition};
use crate::checkpoint::participant::Participant;
use crate::checkpoint::{Ack, Restore, Stop};
use crate::operators::{advance, epoch, Bundles, Time};
use crate::worker::WorkerState;
use beam_core::graph::StreamEvent;
use beam_core::runner_support::SourceWatermark;
use beam_core::unbounded::{CheckpointMark, ErasedUnboundedSource, Poll};
use beam_core::{Batch, BeamError, Timestamp};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::Scope;

/// Acknowledgements of checkpoint parts.
pub(crate) type Acks<'s> = timely::dataflow::Stream<'s, Time, Vec<Ack>>;

/// How long a source waits before it looks again whether the bundles it
/// (or another source of the process) produced were taken downstream.
const BACKPRESSURE_PAUSE: std::time::Duration = std::time::Duration::from_millis(1);

/// Emits this worker's `share` of a bounded root at the start of time, a few
/// bundles per activation, then releases its capability: the watermark of a
/// bounded source goes from the start to the end of time, unless the read
/// declares how far out of event-time order its input is: then the
/// capability follows the latest event time the share read, that far
/// behind (its parts are read in input order). The share knows
/// the position it reached (see [`BoundedShare::position`]): with
/// checkpoints, the position at the start of every checkpoint epoch is its
/// part of the previous one, and a restored share goes on from its part.
pub(crate) fn source<'s>(
    scope: Scope<'s, Time>,
    t: usize,
    mut share: BoundedShare,
    state: Rc<WorkerState>,
) -> beam_core::Result<(Bundles<'s>, Acks<'s>)> {
    let node = &state.graph.transforms[t];
    let pcoll = node.outputs[0];
    let worker = scope.index();
    let ckpt = state.checkpoint.clone();
    let mut event_time = SourceWatermark::of_read(node);
    // Restored: go on from the part's position; without a part it had
    // finished. From another worker count: from every old worker's position
    // (a finished one had read all of its parts).
    let mut done_at_start = false;
    let decode = |bytes: &[u8], w: usize| {
        postcard::from_bytes::<SharePosition>(bytes).map_err(|e| {
            beam_core::BeamError::Runner(format!(
                "checkpoint: the part of '{}' on worker {w} does not decode: {e}",
                node.name
            ))
        })
    };
    match ckpt.as_ref().map(|r| r.restore_of(t, worker, &state.graph)) {
        None | Some(Restore::Nothing) => {}
        Some(Restore::Own(Some(bytes))) => share.seek(&decode(&bytes, worker)?)?,
        Some(Restore::Own(None)) => done_at_start = true,
        Some(Restore::Rescaled { old_workers, parts }) => {
            let mut merged = SharePosition::default();
            let mut finished = Vec::new();
            for (w, bytes) in parts {
                match bytes {
                    Some(b) => merged.parts.extend(decode(&b, w)?.parts),
                    None => finished.push(w),
                }
            }
            share.seek(&merged)?;
            for w in finished {
                share.finished_by(w, old_workers);
            }
        }
    }
    if !done_at_start {
        share.watch(&state.shared.monitor, t);
    }
    let mut builder = OperatorBuilder::new(node.name.clone(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let (output, stream) = builder.new_output::<Vec<Batch>>();
    let (ack_output, acks) = builder.new_output::<Vec<Ack>>();
    let mut output = output;
    builder.build_reschedule(move |mut caps| {
        let ack_cap = caps.pop().expect("an ack output");
        let mut cap = caps.pop();
        let mut part = Participant::new(ckpt.as_ref(), t, worker, ack_cap, ack_output);
        if let (Some(c), Some(p)) = (cap.as_mut(), &part) {
            advance(c, p.epoch(), Timestamp::MIN);
        }
        move |_frontiers| {
            let Some(c) = cap.as_mut() else {
                return false;
            };
            let finish = |part: &mut Option<Participant>| {
                if let Some(p) = part {
                    p.finish();
                }
            };
            if done_at_start {
                finish(&mut part);
                cap = None;
                part = None;
                return false;
            }
            // A new checkpoint epoch: the position now is this share's part of
            // the epochs it leaves.
            if let Some(Err(e)) = part
                .as_mut()
                .map(|p| p.follow_clock(c, || share.position()))
            {
                state.fail(e);
                cap = None;
                part = None;
                return false;
            }
            match stop_of(&part, &state) {
                Stop::Running => {}
                Stop::Checkpointing => {
                    activator.activate_after(std::time::Duration::from_millis(10));
                    return true;
                }
                Stop::Done => {
                    cap = None;
                    part = None;
                    return false;
                }
            }
            if state.backpressured() {
                activator.activate_after(BACKPRESSURE_PAUSE);
                return true;
            }
            let mut out = output.activate();
            for _ in 0..16 {
                if state.backpressured() {
                    break;
                }
                if state.failed() {
                    cap = None;
                    part = None;
                    return false;
                }
                match share.next_batch() {
                    Some(Ok(b)) if b.is_empty() => {}
                    Some(Ok(b)) => {
                        if let Some(w) = event_time.as_mut() {
                            if let Err(e) = w.observe(&b) {
                                state.fail(e);
                                cap = None;
                                part = None;
                                return false;
                            }
                        }
                        state.sent_to(pcoll, std::slice::from_ref(&b));
                        out.give(&*c, &mut vec![b]);
                        if let Some(w) = &event_time {
                            let checkpoint = c.time().outer;
                            advance(c, checkpoint, w.watermark());
                        }
                    }
                    Some(Err(e)) => {
                        state.fail(e);
                        cap = None;
                        part = None;
                        return false;
                    }
                    None => {
                        drop(out);
                        finish(&mut part);
                        cap = None;
                        part = None;
                        return false;
                    }
                }
            }
            activator.activate();
            true
        }
    });
    Ok((stream, acks))
}

/// A TestStream: on the worker that holds the script, applies one event at a
/// time, each once the whole process is quiescent (no bundle in a channel and
/// no operator activity over three steps of every worker): elements are
/// emitted at the current watermark, a watermark event downgrades the
/// capability, a processing-time event moves the test clock. A script that
/// ends below the end of time stops the run once quiescent, firing nothing
/// more, as the direct runner does. Other workers release their capability at once.
pub(crate) fn test_stream<'s>(
    scope: Scope<'s, Time>,
    t: usize,
    script: Option<Vec<StreamEvent>>,
    state: Rc<WorkerState>,
) -> Bundles<'s> {
    let node = &state.graph.transforms[t];
    let pcoll = node.outputs[0];
    let mut builder = OperatorBuilder::new(node.name.clone(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let (mut output, stream) = builder.new_output::<Vec<Batch>>();
    builder.build_reschedule(move |mut caps| {
        let mut cap = caps.pop();
        let mut events: std::collections::VecDeque<StreamEvent> =
            script.clone().unwrap_or_default().into();
        let mut mark = state.shared.quiet_mark();
        if script.is_none() {
            cap = None;
        }
        move |_frontiers| {
            let Some(c) = cap.as_mut() else {
                return false;
            };
            if state.failed() {
                cap = None;
                return false;
            }
            if !state.shared.quiet_since(&mut mark) {
                activator.activate();
                return true;
            }
            match events.pop_front() {
                Some(StreamEvent::Elements(b)) => {
                    if !b.is_empty() {
                        state.sent_to(pcoll, std::slice::from_ref(&b));
                        output.activate().give(&*c, &mut vec![b]);
                    }
                    state.touched();
                }
                Some(StreamEvent::Watermark(wm)) => {
                    state.touched();
                    if wm >= Timestamp::MAX {
                        cap = None;
                        return false;
                    }
                    let checkpoint = c.time().outer;
                    advance(c, checkpoint, wm);
                }
                Some(StreamEvent::ProcessingTime(d)) => {
                    state.shared.advance_test_clock(d.as_micros());
                    state.touched();
                }
                None => {
                    state.stop();
                    cap = None;
                    return false;
                }
            }
            activator.activate();
            true
        }
    });
    stream
}

/// What an unbounded source's part of a checkpoint holds: per split, the
/// reader's checkpoint mark (where it resumes, with its watermark estimate)
/// and whether it finished.
/// Where a source is in a graceful stop: once its epoch ended (by following
/// the clock) it reads nothing more, and once that epoch's checkpoint is
/// published the run stops (the caller then releases its capabilities).
fn stop_of(part: &Option<Participant>, state: &WorkerState) -> Stop {
    let stop = part.as_ref().map_or(Stop::Running, |p| p.run().stop());
    if stop == Stop::Done {
        state.stop();
    }
    stop
}

/// Each split is named by its number among the source's splits (made for the
/// job's first worker count), so marks taken on one worker count are spread
/// over another.
type ReaderMarks = Vec<(usize, Option<CheckpointMark>, bool)>;

/// Reads this worker's `splits` of an unbounded source: polls each reader for
/// what is available, emits it at the source's current watermark, and holds
/// its capability at the least watermark of the readers that are neither idle
/// nor finished; released when every reader has finished. Wakes itself when a
/// reader has more, or after the shortest wait the readers asked for. With
/// checkpoints, the readers' marks at the start of every checkpoint epoch are
/// the source's part of the previous one; restored readers resume from them.
pub(crate) fn unbounded_source<'s>(
    scope: Scope<'s, Time>,
    t: usize,
    splits: Vec<(usize, Arc<dyn ErasedUnboundedSource>)>,
    state: Rc<WorkerState>,
) -> beam_core::Result<(Bundles<'s>, Acks<'s>)> {
    let node = &state.graph.transforms[t];
    let pcoll = node.outputs[0];
    let worker = scope.index();
    let ckpt = state.checkpoint.clone();
    let decode = |bytes: &[u8], w: usize| {
        postcard::from_bytes::<ReaderMarks>(bytes).map_err(|e| {
            BeamError::Runner(format!(
                "checkpoint: the part of '{}' on worker {w} does not decode: {e}",
                node.name
            ))
        })
    };
    // Restored: each split's mark, from this worker's part or, from another
    // worker count, from every old worker's (a finished one had finished
    // all of its splits).
    let mut marks: HashMap<usize, (Option<CheckpointMark>, bool)> = HashMap::new();
    let mut finished_by: Vec<(usize, usize)> = Vec::new();
    let restoring = match ckpt.as_ref().map(|r| r.restore_of(t, worker, &state.graph)) {
        None | Some(Restore::Nothing) => false,
        Some(Restore::Own(Some(bytes))) => {
            marks.extend(
                decode(&bytes, worker)?
                    .into_iter()
                    .map(|(i, m, d)| (i, (m, d))),
            );
            true
        }
        Some(Restore::Own(None)) => {
            finished_by.push((0, 1));
            true
        }
        Some(Restore::Rescaled { old_workers, parts }) => {
            for (w, bytes) in parts {
                match bytes {
                    Some(b) => {
                        marks.extend(decode(&b, w)?.into_iter().map(|(i, m, d)| (i, (m, d))))
                    }
                    None => finished_by.push((w, old_workers)),
                }
            }
            true
        }
    };
    let (mut readers, mut finished) = (Vec::new(), Vec::new());
    for (i, split) in &splits {
        let done_before = finished_by.iter().any(|&(w, n)| i % n == w);
        let (reader, done) = match marks.remove(i) {
            Some((Some(m), done)) => (split.resume(&m)?, done),
            Some((None, done)) => (split.open()?, done),
            None if done_before => (split.open()?, true),
            None if restoring => {
                return Err(BeamError::Runner(format!(
                    "checkpoint: '{}' has no position for its split {i}",
                    node.name
                )))
            }
            None => (split.open()?, false),
        };
        readers.push(reader);
        finished.push(done);
    }
    let indices: Vec<usize> = splits.iter().map(|(i, _)| *i).collect();
    // Marks written for a checkpoint, until it is published: (epoch, marks).
    let mut to_finalize: std::collections::VecDeque<(u64, ReaderMarks)> = Default::default();
    let mut backlog = beam_core::monitoring::BacklogProbe::new(t);
    let mut builder = OperatorBuilder::new(node.name.clone(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let (mut output, stream) = builder.new_output::<Vec<Batch>>();
    let (ack_output, acks) = builder.new_output::<Vec<Ack>>();
    builder.build_reschedule(move |mut caps| {
        let ack_cap = caps.pop().expect("an ack output");
        let mut cap = caps.pop();
        let mut part = Participant::new(ckpt.as_ref(), t, worker, ack_cap, ack_output);
        if let (Some(c), Some(p)) = (cap.as_mut(), &part) {
            advance(c, p.epoch(), Timestamp::MIN);
        }
        move |_frontiers| {
            let Some(c) = cap.as_mut() else {
                return false;
            };
            if state.failed() || state.stopping() {
                cap = None;
                part = None;
                return false;
            }
            if readers.is_empty() || finished.iter().all(|d| *d) {
                if let Some(p) = part.as_mut() {
                    p.finish();
                }
                cap = None;
                part = None;
                return false;
            }
            // A new checkpoint epoch: the readers' marks now are this source's
            // part of the epochs it leaves.
            let marks = || -> ReaderMarks {
                readers
                    .iter()
                    .zip(&finished)
                    .zip(&indices)
                    .map(|((r, done), i)| (*i, r.checkpoint_mark(), *done))
                    .collect()
            };
            let mut written = None;
            let follow = part.as_mut().map(|p| {
                p.follow_clock(c, || {
                    let m = marks();
                    written = Some(m.clone());
                    m
                })
            });
            if let Some(Err(e)) = follow {
                state.fail(e);
                cap = None;
                part = None;
                return false;
            }
            // Marks a complete checkpoint holds are finalized (a Kafka reader
            // commits their offsets to its consumer group).
            if let (Some(p), Some(m)) = (part.as_ref(), written) {
                to_finalize.push_back((p.epoch() - 1, m));
            }
            while let Some((epoch, _)) = to_finalize.front() {
                if !part.as_ref().is_some_and(|p| p.run().is_published(*epoch)) {
                    break;
                }
                let (_, marks) = to_finalize.pop_front().unwrap_or_default();
                for ((reader, _), (_, mark, _)) in readers.iter_mut().zip(&finished).zip(marks) {
                    if let Some(Err(e)) = mark.map(|m| reader.finalize_checkpoint(&m)) {
                        tracing::warn!("{e}");
                    }
                }
            }
            match stop_of(&part, &state) {
                Stop::Running => {}
                Stop::Checkpointing => {
                    activator.activate_after(std::time::Duration::from_millis(10));
                    return true;
                }
                Stop::Done => {
                    cap = None;
                    part = None;
                    return false;
                }
            }
            if state.backpressured() {
                activator.activate_after(BACKPRESSURE_PAUSE);
                return true;
            }
            let mut wait: Option<std::time::Duration> = None;
            let mut out = output.activate();
            for (reader, done) in readers.iter_mut().zip(finished.iter_mut()) {
                if *done {
                    continue;
                }
                match reader.poll(state.read_bundle_size()) {
                    Ok((batch, poll)) => {
                        if !batch.is_empty() {
                            state.sent_to(pcoll, std::slice::from_ref(&batch));
                            out.give(&*c, &mut vec![batch]);
                        }
                        match poll {
                            Poll::Ready => wait = Some(std::time::Duration::ZERO),
                            Poll::Pending(d) => wait = Some(wait.map_or(d, |w| w.min(d))),
                            Poll::Finished => *done = true,
                        }
                    }
                    Err(e) => {
                        state.fail(e);
                        cap = None;
                        part = None;
                        return false;
                    }
                }
            }
            drop(out);
            state.probe_backlog(&mut backlog, readers.iter().map(|r| r.as_ref()));
            if finished.iter().all(|d| *d) {
                if let Some(p) = part.as_mut() {
                    p.finish();
                }
                cap = None;
                part = None;
                return false;
            }
            let held = beam_core::unbounded::source_watermark(
                readers
                    .iter()
                    .map(|r| r.as_ref())
                    .zip(finished.iter().copied()),
            );
            if let Some(wm) = held {
                if epoch(wm) > c.time().inner {
                    state.touched();
                    let checkpoint = c.time().outer;
                    advance(c, checkpoint, wm);
                }
            }
            match wait {
                Some(d) if d.is_zero() => activator.activate(),
                Some(d) => activator.activate_after(d),
                None => activator.activate_after(std::time::Duration::from_millis(1)),
            }
            true
        }
    });
    Ok((stream, acks))
}
