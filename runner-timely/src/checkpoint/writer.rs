//! Writing parts off the worker threads. A keyed operator (a grouping table
//! or stateful processor, the large parts) encodes its state at the cut and
//! hands the bytes to its process's writer thread, which writes and syncs
//! them in the order handed over and wakes the operator; the operator holds
//! its acknowledgement of each epoch until the part is written, so a
//! checkpoint still completes only once every part is durable.

use super::{CheckpointRun, Part};
use beam_core::{BeamError, Result};
use std::sync::{mpsc, Arc, Mutex};
use timely::scheduling::activate::SyncActivator;

/// What a written job reports: each epoch's part.
pub(crate) type Written = Result<Vec<(u64, Part)>>;

/// One part to write, for each of `epochs`.
pub(crate) struct Job {
    pub(crate) run: Arc<CheckpointRun>,
    pub(crate) epochs: Vec<u64>,
    pub(crate) step: usize,
    pub(crate) worker: usize,
    pub(crate) bytes: Vec<u8>,
    pub(crate) done: mpsc::Sender<Written>,
    pub(crate) wake: SyncActivator,
}

/// A process's writer thread, started when it is first given a job.
#[derive(Default)]
pub(crate) struct PartWriter {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
}

impl PartWriter {
    /// Queues `job`; its result goes to `job.done`, then `job.wake` runs.
    pub(crate) fn submit(&self, job: Job) -> Result<()> {
        let mut jobs = self
            .jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if jobs.is_none() {
            let (tx, rx) = mpsc::channel::<Job>();
            std::thread::Builder::new()
                .name("checkpoint-writer".into())
                .spawn(move || {
                    for job in rx {
                        let written: Written = job
                            .epochs
                            .iter()
                            .map(|&epoch| {
                                job.run
                                    .store
                                    .write_part(epoch, job.step, job.worker, &job.bytes)
                                    .map(|part| (epoch, part))
                            })
                            .collect();
                        // The operator may be gone (its run failed).
                        let _ = job.done.send(written);
                        let _ = job.wake.activate();
                    }
                })
                .map_err(|e| BeamError::Runner(format!("checkpoint writer thread: {e}")))?;
            *jobs = Some(tx);
        }
        jobs.as_ref()
            .expect("started above")
            .send(job)
            .map_err(|_| BeamError::Runner("the checkpoint writer thread stopped".into()))
    }
}
