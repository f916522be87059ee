//! An operator's side of checkpointing: the epoch it is in, its ack output,
//! and writing its parts.

use super::writer::{Job, Written};
use super::{epochs_to_ack, Ack, CheckpointRun};
use crate::operators::{advance, Time};
use beam_core::BeamError;
use beam_core::{Result, Timestamp};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{mpsc, Arc};
use timely::dataflow::channels::pushers::Output;
use timely::dataflow::operators::Capability;
use timely::order::Product;
use timely::scheduling::activate::SyncActivator;

/// The acks an operator sends.
pub(crate) type AckOutput = Output<Time, Vec<Ack>>;

/// A participating operator's checkpoint state on one worker.
pub(crate) struct Participant {
    run: Arc<CheckpointRun>,
    step: usize,
    worker: usize,
    /// The ack output's capability, at the epoch the operator is in.
    cap: Option<Capability<Time>>,
    output: AckOutput,
    /// With background writes: wakes the operator when a part is written.
    wake: Option<SyncActivator>,
    /// Parts handed to the writer thread, oldest first, each with the
    /// capabilities of the epochs it acknowledges once written.
    in_flight: VecDeque<(Vec<Capability<Time>>, mpsc::Receiver<Written>)>,
}

impl Participant {
    /// Step `step` on `worker`, starting in the run's first epoch; `None` (and
    /// the capability dropped) when the run does not checkpoint.
    pub(crate) fn new(
        run: Option<&Arc<CheckpointRun>>,
        step: usize,
        worker: usize,
        mut cap: Capability<Time>,
        output: AckOutput,
    ) -> Option<Self> {
        let run = run?.clone();
        advance(&mut cap, run.first_epoch(), Timestamp::MIN);
        Some(Participant {
            run,
            step,
            worker,
            cap: Some(cap),
            output,
            wake: None,
            in_flight: VecDeque::new(),
        })
    }

    /// Writes parts on the process's writer thread rather than on the
    /// worker's; `wake` activates the operator when one is written, and the
    /// operator calls [`acknowledge_written`](Self::acknowledge_written) on
    /// every activation.
    pub(crate) fn writing_in_background(mut self, wake: SyncActivator) -> Self {
        self.wake = Some(wake);
        self
    }

    /// Acknowledges the epochs whose parts the writer thread has written
    /// (with `wait`, after waiting for all of them).
    pub(crate) fn acknowledge_written(&mut self, wait: bool) -> Result<()> {
        while let Some((_, done)) = self.in_flight.front() {
            let written = if wait {
                done.recv().map_err(|_| writer_gone())?
            } else {
                match done.try_recv() {
                    Ok(w) => w,
                    Err(mpsc::TryRecvError::Empty) => return Ok(()),
                    Err(mpsc::TryRecvError::Disconnected) => return Err(writer_gone()),
                }
            };
            let (caps, _) = self.in_flight.pop_front().expect("looked at above");
            let mut out = self.output.activate();
            for ((epoch, part), at) in written?.into_iter().zip(caps) {
                let ack = Ack {
                    epoch,
                    step: self.step,
                    worker: self.worker,
                    part: Some(part),
                };
                out.give(&at, &mut vec![ack]);
            }
        }
        Ok(())
    }

    /// The epoch the operator is in: its input (or, for a source, what it
    /// reads) is complete for every earlier one.
    pub(crate) fn epoch(&self) -> u64 {
        self.cap.as_ref().map_or(u64::MAX, |c| c.time().outer)
    }

    /// The run's checkpointing.
    pub(crate) fn run(&self) -> &CheckpointRun {
        &self.run
    }

    /// For a source: once the sources' clock moved to a new epoch, `state`
    /// (its position now) is its part of the epochs it leaves, and its data
    /// capability `data` moves to the new epoch too.
    pub(crate) fn follow_clock<S: serde::Serialize>(
        &mut self,
        data: &mut Capability<Time>,
        state: impl FnOnce() -> S,
    ) -> Result<()> {
        let now = self.run.epoch_now();
        if now <= self.epoch() {
            return Ok(());
        }
        let bytes = postcard::to_allocvec(&state())
            .map_err(|e| BeamError::Runner(format!("checkpoint of step {}: {e}", self.step)))?;
        self.pass(now, &bytes)?;
        advance(data, now, Timestamp::MIN);
        Ok(())
    }

    /// The operator's state `bytes` is its part of every epoch from the
    /// current one to `to` (exclusive): writes it for those epochs,
    /// acknowledges them, and moves to `to`.
    pub(crate) fn pass(&mut self, to: u64, bytes: &[u8]) -> Result<()> {
        self.pass_with(to, || Ok(Cow::Borrowed(bytes)))
    }

    /// [`pass`](Self::pass) with the state made (once) only if `to` is ahead.
    pub(crate) fn pass_with<'b>(
        &mut self,
        to: u64,
        state: impl FnOnce() -> Result<Cow<'b, [u8]>>,
    ) -> Result<()> {
        let from = self.epoch();
        if to <= from {
            return Ok(());
        }
        let Some(cap) = self.cap.as_mut() else {
            return Ok(());
        };
        let bytes = state()?;
        if let Some(wake) = &self.wake {
            let epochs: Vec<u64> = epochs_to_ack(from, to).collect();
            let caps = epochs
                .iter()
                .map(|&e| cap.delayed(&Product::new(e, cap.time().inner)))
                .collect();
            let (done, written) = mpsc::channel();
            self.run.writer.submit(Job {
                run: self.run.clone(),
                epochs,
                step: self.step,
                worker: self.worker,
                bytes: bytes.into_owned(),
                done,
                wake: wake.clone(),
            })?;
            self.in_flight.push_back((caps, written));
            advance(cap, to, Timestamp::MIN);
            return Ok(());
        }
        let mut acks = Vec::new();
        for epoch in epochs_to_ack(from, to) {
            let part = self
                .run
                .store
                .write_part(epoch, self.step, self.worker, &bytes)?;
            acks.push(Ack {
                epoch,
                step: self.step,
                worker: self.worker,
                part: Some(part),
            });
        }
        let mut out = self.output.activate();
        for ack in acks {
            let at = cap.delayed(&Product::new(ack.epoch, cap.time().inner));
            out.give(&at, &mut vec![ack]);
        }
        drop(out);
        advance(cap, to, Timestamp::MIN);
        Ok(())
    }

    /// Moves to epoch `to` without acknowledging the epochs before it (their
    /// checkpoints will not complete).
    pub(crate) fn skip_to(&mut self, to: u64) {
        if let Some(cap) = self.cap.as_mut() {
            advance(cap, to, Timestamp::MIN);
        }
    }

    /// The operator finished: its state is empty from its current epoch on
    /// (parts still being written are waited for and acknowledged first).
    pub(crate) fn finish(&mut self) {
        if let Err(e) = self.acknowledge_written(true) {
            // Those checkpoints stay incomplete (and time out).
            tracing::warn!("checkpoint part of step {}: {e}", self.step);
            self.in_flight.clear();
        }
        if let Some(cap) = self.cap.take() {
            let ack = Ack {
                epoch: cap.time().outer,
                step: self.step,
                worker: self.worker,
                part: None,
            };
            self.output.activate().give(&cap, &mut vec![ack]);
        }
    }
}

fn writer_gone() -> BeamError {
    BeamError::Runner("the checkpoint writer thread stopped before writing a part".into())
}
