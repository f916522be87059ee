//! Consistent checkpoints of a timely run, and restoring from them.
//!
//! The timely time is `(checkpoint epoch, watermark epoch)` in the product
//! order. Every source starts a new checkpoint epoch every
//! `--checkpoint-interval` of wall time; before it emits anything at the new
//! epoch it writes its position (a bounded share's position, each unbounded
//! reader's checkpoint mark) as its part of the checkpoints of the epochs it
//! leaves. Every stateful operator (grouping tables, stateful processors,
//! Reshuffle, ParDos with side inputs) applies its input epoch by epoch: data
//! of a later epoch that arrives early waits, and once the input frontier's
//! least checkpoint epoch passes an epoch, the operator writes its state as its
//! part of that epoch's checkpoint, then goes on with the next. Timely's
//! progress tracking makes this a consistent cut with no barrier messages: a
//! frontier past epoch E proves that every message of an epoch up to E has been
//! delivered. Holds on the watermark axis (windows waiting for their end, an
//! idle source) do not hold the checkpoint axis back.
//!
//! Each part written is acknowledged with an [`Ack`] sent at its epoch on a
//! stream that goes to worker 0's [`committer`]. When that stream's frontier
//! passes epoch E, every participant of every worker (of every process) has
//! acknowledged E or could not have: if all did, worker 0 writes the manifest
//! and publishes the checkpoint ([`store`]); otherwise E is abandoned.
//!
//! A restore (`--restore-from latest|PATH`) takes a published checkpoint whose
//! manifest matches the pipeline and whose files verify, hands every
//! participant its part, and starts every source and operator at the next
//! epoch.

pub(crate) mod clock;
pub(crate) mod committer;
pub(crate) mod failpoint;
pub(crate) mod participant;
pub(crate) mod store;
pub(crate) mod writer;

use beam_core::graph::{Graph, Primitive};
use beam_core::{BeamError, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Checkpointing as the options ask for it.
#[derive(Clone, Debug)]
pub(crate) struct CheckpointConfig {
    /// Where checkpoints go (one directory per checkpoint).
    pub(crate) dir: PathBuf,
    /// Wall time between checkpoint epochs.
    pub(crate) interval: Duration,
    /// A checkpoint not complete this long after its epoch ended fails.
    pub(crate) timeout: Duration,
    /// Least time from a checkpoint's completion to the end of the next epoch.
    pub(crate) min_pause: Duration,
    /// Epochs ended and not yet complete (nor failed) at once, at most.
    pub(crate) max_concurrent: usize,
    /// Failed checkpoints in a row that the run tolerates (`None`: any number).
    pub(crate) tolerable_failures: Option<usize>,
    /// Complete checkpoints kept (older ones are removed).
    pub(crate) retain: usize,
    /// What to restore from, if anything.
    pub(crate) restore_from: Option<RestoreFrom>,
    /// Bytes of early input a keyed operator holds in memory per worker.
    pub(crate) early_input_memory: usize,
}

/// Which checkpoint a run restores from.
#[derive(Clone, Debug)]
pub(crate) enum RestoreFrom {
    /// The newest complete checkpoint that verifies.
    Latest,
    /// This checkpoint directory.
    Path(PathBuf),
}

/// One participant's part of a checkpoint: the file it wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Part {
    /// The file's name in the checkpoint's directory.
    pub(crate) name: String,
    /// Its length in bytes.
    pub(crate) len: u64,
    /// Its CRC-32.
    pub(crate) crc32: u32,
}

/// A participant's acknowledgement of a checkpoint epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ack {
    pub(crate) epoch: u64,
    /// The step (index in the graph).
    pub(crate) step: usize,
    /// The worker (index over all processes).
    pub(crate) worker: usize,
    /// Its part, or `None` when it finished (its state is empty from this
    /// epoch on).
    pub(crate) part: Option<Part>,
}

/// Whether step `t` keeps state a checkpoint must hold.
pub(crate) fn participates(graph: &Graph, t: usize) -> bool {
    match &graph.transforms[t].primitive {
        Primitive::Impulse
        | Primitive::Create { .. }
        | Primitive::Read { .. }
        | Primitive::ReadUnbounded { .. }
        | Primitive::GroupByKey { .. }
        | Primitive::CombinePerKey { .. }
        | Primitive::StatefulParDo { .. }
        | Primitive::Reshuffle
        | Primitive::Publish { .. } => true,
        Primitive::ParDo { side_inputs, .. } => !side_inputs.is_empty(),
        _ => false,
    }
}

/// The pipeline's steps as a checkpoint records them, to tell whether a
/// checkpoint is of this pipeline: a line per step with its name, its kind
/// and its inputs and outputs.
pub(crate) fn steps_of(graph: &Graph) -> Vec<String> {
    graph
        .transforms
        .iter()
        .map(|t| {
            format!(
                "{} [{}] {:?} -> {:?}",
                t.name,
                t.primitive.kind(),
                t.inputs,
                t.outputs
            )
        })
        .collect()
}

/// Every participant of the graph on `workers` workers: (step, worker).
pub(crate) fn participants(graph: &Graph, workers: usize) -> Vec<(usize, usize)> {
    (0..graph.transforms.len())
        .filter(|&t| participates(graph, t))
        .flat_map(|t| (0..workers).map(move |w| (t, w)))
        .collect()
}

/// The checkpoint a run restores: its epoch and every participant's state.
#[derive(Default)]
pub(crate) struct Restored {
    pub(crate) epoch: u64,
    /// The workers (over all processes) it was taken with.
    pub(crate) workers: usize,
    /// The worker count its sources' splits were made for.
    pub(crate) split_basis: usize,
    /// The job's identity (see [`CheckpointRun::job_id`]).
    pub(crate) job_id: String,
    /// (step, worker) → state; absent for a participant that had finished.
    pub(crate) parts: HashMap<(usize, usize), Vec<u8>>,
}

/// A restored part and how many participants will still take it.
type RestoredPart = (Vec<u8>, usize);

/// What a participant restores from.
pub(crate) enum Restore {
    /// Nothing: the run does not restore.
    Nothing,
    /// Its own part of a checkpoint taken with as many workers (`None`: it
    /// had finished).
    Own(Option<Vec<u8>>),
    /// A checkpoint taken with `old_workers` workers: the parts of the old
    /// workers whose state it takes over, by old worker (`None`: that one had
    /// finished).
    Rescaled {
        old_workers: usize,
        parts: Vec<(usize, Option<Vec<u8>>)>,
    },
}

/// The old workers (of `old`) whose part of step `t` worker `worker` of
/// `workers` takes over when it restores a checkpoint of another worker
/// count: those that held some of its keys, for keyed state; all of them,
/// for sources (their splits are spread anew); one, for the views of a
/// ParDo's side inputs (every worker holds them all).
fn old_parts_for(graph: &Graph, t: usize, worker: usize, workers: usize, old: usize) -> Vec<usize> {
    match &graph.transforms[t].primitive {
        Primitive::Impulse
        | Primitive::Create { .. }
        | Primitive::Read { .. }
        | Primitive::ReadUnbounded { .. } => (0..old).collect(),
        Primitive::ParDo { .. } => vec![worker % old],
        // Its parts were published before the run started.
        Primitive::Publish { .. } => Vec::new(),
        _ => beam_core::kernel::parts_sharing_keys_with(worker, workers, old),
    }
}

/// The checkpoint machinery of one process during a run.
pub(crate) struct CheckpointRun {
    pub(crate) config: CheckpointConfig,
    pub(crate) store: Box<dyn store::CheckpointStore>,
    /// The epoch the run started in (the restored epoch + 1, or 0).
    first_epoch: u64,
    /// When epochs end.
    clock: clock::EpochClock,
    /// When this process last saw a checkpoint complete.
    last_published_at: Mutex<Option<Instant>>,
    /// The restored epoch, if the run restores.
    restored_epoch: Option<u64>,
    /// The workers (over all processes) of this run.
    workers: usize,
    /// The workers the restored checkpoint was taken with.
    restored_workers: usize,
    /// The worker count the sources' splits are made for: the job's first run's.
    split_basis: usize,
    /// The restored parts not yet taken by their participants, with how many
    /// participants will still take each (a part is dropped once taken by
    /// all, so a restored state is not kept for the whole run).
    restored_parts: Mutex<HashMap<(usize, usize), RestoredPart>>,
    /// One more than the newest epoch known to be published (0: none yet).
    published_below: AtomicU64,
    /// When the store was last read for a newer published checkpoint.
    last_scan: Mutex<Option<Instant>>,
    /// The run's generation in the store (on the committer's process).
    pub(crate) generation: u64,
    /// The job's identity, once known (see [`CheckpointRun::job_id`]).
    job_id: std::sync::OnceLock<String>,
    /// The process's thread writing keyed operators' parts.
    pub(crate) writer: writer::PartWriter,
    /// A graceful stop was asked for (SIGTERM, Ctrl-C).
    stop_requested: AtomicBool,
    /// The epoch sources stopped in (0: not stopping): the checkpoint of the
    /// epoch before it is the run's last.
    stop_epoch: AtomicU64,
}

/// Where a graceful stop is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Not stopping.
    Running,
    /// Sources stopped reading; the final checkpoint is not published yet.
    Checkpointing,
    /// The final checkpoint is published: the run ends.
    Done,
}

impl CheckpointRun {
    /// Checkpointing for a run of `graph` on `workers` workers (over all
    /// processes): opens the store, removing what a run that died left (every
    /// process does so before the cluster connects, so before any writes), and
    /// reads and verifies the checkpoint to restore, if the options name one.
    pub(crate) fn start(
        config: &CheckpointConfig,
        graph: &Graph,
        workers: usize,
        process: usize,
        local_workers: usize,
    ) -> Result<Self> {
        failpoint::configure();
        use store::CheckpointStore as _;
        let store = store::LocalDir::open(&config.dir, true)?;
        // The committer's process fences off earlier runs.
        let generation = if process == 0 {
            store.take_generation()?
        } else {
            0
        };
        let restored = match &config.restore_from {
            None => None,
            Some(from) => {
                let steps = steps_of(graph);
                let participants = |w: usize| participants(graph, w);
                let expected = store::Expected {
                    steps: &steps,
                    participants: &participants,
                };
                let started = Instant::now();
                let mut r = store.resolve(from, &expected)?;
                let bytes: usize = r.parts.values().map(Vec::len).sum();
                eprintln!(
                    "checkpoint: restoring checkpoint {} from {} ({:.1} MB read and verified in {} ms)",
                    r.epoch,
                    store.describe(),
                    bytes as f64 / 1e6,
                    started.elapsed().as_millis()
                );
                if r.workers != workers {
                    eprintln!(
                        "checkpoint: it was taken with {} workers; its state is spread over {workers}",
                        r.workers
                    );
                }
                // Before the cluster connects, so before anything new is staged.
                let local = process * local_workers..(process + 1) * local_workers;
                crate::publish::publish_restored(graph, &mut r, workers, local)?;
                Some(r)
            }
        };
        let job_id = match &restored {
            Some(r) => Some(r.job_id.clone()),
            // The committer's process names a new job; the others read its
            // name from the first checkpoint it publishes.
            None if process == 0 => Some(new_job_id(generation)),
            None => None,
        };
        let mut run = Self::new(config.clone(), Box::new(store), restored, graph, workers)?;
        run.generation = generation;
        if let Some(id) = job_id {
            run.job_id.get_or_init(|| id);
        }
        Ok(run)
    }

    /// The run's checkpointing; its epochs follow those of every checkpoint
    /// already in the store (so the newest checkpoint is always this run's,
    /// and a checkpoint restored from is never overwritten).
    fn new(
        config: CheckpointConfig,
        store: Box<dyn store::CheckpointStore>,
        restored: Option<Restored>,
        graph: &Graph,
        workers: usize,
    ) -> Result<Self> {
        let newest = store.published()?.first().copied();
        let first_epoch = newest
            .into_iter()
            .chain(restored.as_ref().map(|r| r.epoch))
            .max()
            .map_or(0, |e| e + 1);
        let restored_workers = restored.as_ref().map_or(workers, |r| r.workers);
        let split_basis = restored.as_ref().map_or(workers, |r| r.split_basis);
        let restored_epoch = restored.as_ref().map(|r| r.epoch);
        // How many participants take each part: one, or on another worker
        // count, every worker that takes it over.
        let mut uses: HashMap<(usize, usize), usize> = HashMap::new();
        if restored_workers != workers {
            for (t, w) in participants(graph, workers) {
                for old in old_parts_for(graph, t, w, workers, restored_workers) {
                    *uses.entry((t, old)).or_default() += 1;
                }
            }
        }
        let parts = restored
            .map(|r| r.parts)
            .unwrap_or_default()
            .into_iter()
            .map(|(key, bytes)| (key, (bytes, uses.get(&key).copied().unwrap_or(1))))
            .collect();
        let clock = clock::EpochClock::new(
            first_epoch,
            clock::ClockSettings {
                interval: config.interval,
                min_pause: config.min_pause,
                max_concurrent: config.max_concurrent,
                timeout: config.timeout,
            },
        );
        Ok(CheckpointRun {
            first_epoch,
            config,
            store,
            clock,
            last_published_at: Mutex::new(None),
            restored_epoch,
            workers,
            restored_workers,
            split_basis,
            restored_parts: Mutex::new(parts),
            published_below: AtomicU64::new(0),
            last_scan: Mutex::new(None),
            generation: 0,
            job_id: std::sync::OnceLock::new(),
            writer: writer::PartWriter::default(),
            stop_requested: AtomicBool::new(false),
            stop_epoch: AtomicU64::new(0),
        })
    }

    /// The job's identity: made at its first start (by the committer's
    /// process) and kept by every run restored from its checkpoints. Another
    /// process of a new job reads it from the job's first published
    /// checkpoint, so call it only once one is published.
    pub(crate) fn job_id(&self) -> Result<String> {
        if let Some(id) = self.job_id.get() {
            return Ok(id.clone());
        }
        let newest = self.store.published()?.first().copied();
        match newest {
            Some(epoch) if epoch >= self.first_epoch => {
                let id = self.store.job_id(epoch)?;
                Ok(self.job_id.get_or_init(|| id).clone())
            }
            _ => Err(BeamError::Runner(
                "checkpoint: the job's identity is asked for before its first checkpoint is published"
                    .into(),
            )),
        }
    }

    /// Records that the checkpoint of `epoch` was published.
    pub(crate) fn note_published(&self, epoch: u64) {
        if self.published_below.fetch_max(epoch + 1, Ordering::Relaxed) <= epoch {
            *self
                .last_published_at
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
        }
    }

    /// Looks for a checkpoint published by another process's committer in
    /// the store, at most every 10 ms.
    fn refresh_published(&self) {
        let mut last = self
            .last_scan
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_some_and(|at| at.elapsed() < Duration::from_millis(10)) {
            return;
        }
        *last = Some(Instant::now());
        drop(last);
        if let Some(newest) = self.store.published().ok().and_then(|p| p.first().copied()) {
            if newest >= self.first_epoch {
                self.note_published(newest);
            }
        }
        // An abandoned epoch is no longer in progress: it must not hold the
        // clock back from ending the next.
        if let Ok(abandoned) = self.store.abandoned() {
            for epoch in abandoned.into_iter().filter(|&e| e >= self.first_epoch) {
                self.clock.settle(epoch);
            }
        }
    }

    /// Whether a checkpoint of `epoch` or a later one is published, so that
    /// everything up to `epoch` is covered by a complete checkpoint.
    pub(crate) fn is_published(&self, epoch: u64) -> bool {
        if self.published_below.load(Ordering::Relaxed) <= epoch {
            self.refresh_published();
        }
        self.published_below.load(Ordering::Relaxed) > epoch
    }

    /// Asks the run to stop gracefully: sources end their epoch at once and
    /// stop reading, and the run ends once that epoch's checkpoint is
    /// published.
    pub(crate) fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::SeqCst);
    }

    /// The last checkpoint's epoch, if the run stopped gracefully.
    pub(crate) fn stopped_at(&self) -> Option<u64> {
        match self.stop_epoch.load(Ordering::SeqCst) {
            0 => None,
            e => Some(e - 1),
        }
    }

    /// Where a graceful stop is (the sources' side of it).
    pub(crate) fn stop(&self) -> Stop {
        match self.stop_epoch.load(Ordering::SeqCst) {
            0 => Stop::Running,
            e if self.is_published(e - 1) => Stop::Done,
            _ => Stop::Checkpointing,
        }
    }

    /// The epoch sources are in now (see [`clock`]). Once a stop was asked
    /// for, the current epoch ends at once and no other does.
    pub(crate) fn epoch_now(&self) -> u64 {
        let stopped = self.stop_epoch.load(Ordering::SeqCst);
        if stopped > 0 {
            return stopped;
        }
        if self.stop_requested.load(Ordering::SeqCst) {
            let next = self.clock.end_now();
            return match self.stop_epoch.compare_exchange(
                0,
                next,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    eprintln!(
                        "checkpoint: stopping: the checkpoint of epoch {} is the last",
                        next - 1
                    );
                    next
                }
                Err(e) => e,
            };
        }
        self.refresh_published();
        let below = self.published_below.load(Ordering::Relaxed);
        let last = *self
            .last_published_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.clock.now(below, last)
    }

    /// When `epoch` ended on this process's clock, if it did.
    pub(crate) fn epoch_ended_at(&self, epoch: u64) -> Option<(Instant, u64)> {
        self.clock.ended_at(epoch)
    }

    /// How long a checkpoint may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.clock.timeout()
    }

    /// The first epoch of this run.
    pub(crate) fn first_epoch(&self) -> u64 {
        self.first_epoch
    }

    /// What step `t` on `worker` restores from.
    pub(crate) fn restore_of(&self, t: usize, worker: usize, graph: &Graph) -> Restore {
        if self.restored_epoch.is_none() {
            return Restore::Nothing;
        }
        let mut parts = self
            .restored_parts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut take = |old: usize| match parts.get_mut(&(t, old)) {
            None => None,
            Some((_, left)) if *left > 1 => {
                *left -= 1;
                parts.get(&(t, old)).map(|(bytes, _)| bytes.clone())
            }
            Some(_) => parts.remove(&(t, old)).map(|(bytes, _)| bytes),
        };
        if self.restored_workers == self.workers {
            return Restore::Own(take(worker));
        }
        let old = old_parts_for(graph, t, worker, self.workers, self.restored_workers);
        Restore::Rescaled {
            old_workers: self.restored_workers,
            parts: old.into_iter().map(|w| (w, take(w))).collect(),
        }
    }

    /// Bytes of early input a keyed operator holds in memory per worker
    /// (see [`crate::early_stash`]).
    pub(crate) fn early_input_memory(&self) -> usize {
        self.config.early_input_memory
    }

    /// The worker count the sources' splits are made for.
    pub(crate) fn split_basis(&self) -> usize {
        self.split_basis
    }
}

/// A new job's identity: unique per start of a job in a store (its
/// generation) and across stores (the time and the process).
fn new_job_id(generation: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = nanos ^ (u64::from(std::process::id()) << 40) ^ generation.rotate_left(20);
    format!("{mixed:016x}")
}

/// The wall clock in milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The epochs an operator whose part covers `from..to` acknowledges: at most
/// the last [`MAX_EPOCHS_AT_ONCE`] (a frontier that jumps far, after a long
/// stall, leaves the earlier ones incomplete rather than writing a part for
/// each).
pub(crate) fn epochs_to_ack(from: u64, to: u64) -> std::ops::Range<u64> {
    from.max(to.saturating_sub(MAX_EPOCHS_AT_ONCE))..to
}

pub(crate) const MAX_EPOCHS_AT_ONCE: u64 = 8;

/// Parses a duration option: a number with `ms`, `s`, `m` or `h`, or seconds.
pub(crate) fn parse_duration(name: &str, text: &str) -> Result<Duration> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => f64::NAN,
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && scale.is_finite() => {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(BeamError::Options(format!(
            "--{name} must be a positive duration such as 500ms, 1s or 5m, got '{text}'"
        ))),
    }
}
