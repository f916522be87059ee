//! Root operators: bounded sources, unbounded sources and TestStream. Each
//! holds a capability at its watermark and releases it when done.

use crate::bounded_share::BoundedShare;
use crate::operators::{advance, epoch, Bundles, Time};
use crate::worker::WorkerState;
use beam_core::graph::StreamEvent;
use beam_core::unbounded::{ErasedUnboundedReader, Poll};
use beam_core::{Batch, Timestamp};
use std::rc::Rc;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::Scope;

/// Emits this worker's `share` of a bounded root at the start of time, a few
/// bundles per activation, then releases its capability: the watermark of a
/// bounded source goes from the start to the end of time. The share knows
/// the position it reached (see [`BoundedShare::position`]).
pub(crate) fn source<'s>(
    scope: Scope<'s, Time>,
    t: usize,
    mut share: BoundedShare,
    state: Rc<WorkerState>,
) -> Bundles<'s> {
    let node = &state.graph.transforms[t];
    let pcoll = node.outputs[0];
    let mut builder = OperatorBuilder::new(node.name.clone(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let (output, stream) = builder.new_output::<Vec<Batch>>();
    let mut output = output;
    builder.build_reschedule(move |mut caps| {
        let mut cap = caps.pop();
        move |_frontiers| {
            let Some(c) = cap.as_ref() else {
                return false;
            };
            let mut out = output.activate();
            for _ in 0..16 {
                if state.failed() {
                    cap = None;
                    return false;
                }
                match share.next_batch() {
                    Some(Ok(b)) if b.is_empty() => {}
                    Some(Ok(b)) => {
                        state.sent_to(pcoll, 1);
                        out.give(c, &mut vec![b]);
                    }
                    Some(Err(e)) => {
                        state.fail(e);
                        cap = None;
                        return false;
                    }
                    None => {
                        cap = None;
                        return false;
                    }
                }
            }
            activator.activate();
            true
        }
    });
    stream
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
                        state.sent_to(pcoll, 1);
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

/// Reads this worker's readers of an unbounded source: polls each for what is
/// available, emits it at the source's current watermark, and holds its
/// capability at the least watermark of the readers that are neither idle
/// nor finished; released when every reader has finished. Wakes itself when a
/// reader has more, or after the shortest wait the readers asked for.
pub(crate) fn unbounded_source<'s>(
    scope: Scope<'s, Time>,
    t: usize,
    mut readers: Vec<Box<dyn ErasedUnboundedReader>>,
    state: Rc<WorkerState>,
) -> Bundles<'s> {
    let node = &state.graph.transforms[t];
    let pcoll = node.outputs[0];
    let mut builder = OperatorBuilder::new(node.name.clone(), scope);
    let activator = scope.activator_for(builder.operator_info().address);
    let (mut output, stream) = builder.new_output::<Vec<Batch>>();
    builder.build_reschedule(move |mut caps| {
        let mut cap = caps.pop();
        let mut finished = vec![false; readers.len()];
        move |_frontiers| {
            let Some(c) = cap.as_mut() else {
                return false;
            };
            if state.failed() || state.stopping() {
                cap = None;
                return false;
            }
            let mut wait: Option<std::time::Duration> = None;
            let mut out = output.activate();
            for (reader, done) in readers.iter_mut().zip(finished.iter_mut()) {
                if *done {
                    continue;
                }
                match reader.poll(4096) {
                    Ok((batch, poll)) => {
                        if !batch.is_empty() {
                            state.sent_to(pcoll, 1);
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
                        return false;
                    }
                }
            }
            drop(out);
            if finished.iter().all(|d| *d) {
                cap = None;
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
    stream
}
