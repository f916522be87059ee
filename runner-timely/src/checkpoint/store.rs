//! The local-directory checkpoint store: a directory per checkpoint, a file
//! per participant (step and worker), and a manifest written last.
//!
//! ```text
//! <checkpoint-dir>/
//!   chk-000000000042/          published: its MANIFEST.json lists every part
//!     s0003-w0001.state        step 3's state on worker 1
//!     MANIFEST.json
//!   chk-000000000043.tmp/      being written; garbage if the run dies
//! ```
//!
//! A part is written to a temporary name, synced and renamed. Publishing
//! writes the manifest the same way inside the checkpoint's `.tmp` directory,
//! syncs it, renames the directory to its final name and syncs the root: a
//! directory without the `.tmp` suffix is complete, and one with it is
//! removed at the next start. Every process of a cluster must see the same
//! directory (a shared file system).

use super::{Ack, Part, RestoreFrom, Restored};
use beam_core::{BeamError, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::path::{Path, PathBuf};

const MANIFEST: &str = "MANIFEST.json";
/// The version of the manifest's layout (and of how keys and splits are
/// spread over workers, and of the parts' layouts: 3 keeps the epoch of
/// every item a Publish step staged).
const FORMAT: u32 = 3;

/// A checkpoint's manifest: what it covers and the file of every part.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    pub(crate) job: String,
    pub(crate) epoch: u64,
    /// Workers over all processes, and processes, when it was taken.
    pub(crate) workers: usize,
    pub(crate) processes: usize,
    /// The key groups keyed state is spread over (each worker holds a
    /// contiguous range of them), the same for every run of a job.
    pub(crate) key_groups: u64,
    /// The worker count of the job's first run, which its sources' splits
    /// were made for (every later run, on any worker count, keeps them).
    pub(crate) split_basis: usize,
    /// The generation of the run that published it.
    pub(crate) generation: u64,
    /// The job's identity, made at its first start and kept by every run
    /// restored from its checkpoints (transactional sinks name their
    /// writers by it).
    #[serde(default)]
    pub(crate) job_id: String,
    /// The pipeline's steps (see [`super::steps_of`]).
    pub(crate) steps: Vec<String>,
    /// Every participant's part (`None`: it had finished).
    pub(crate) parts: Vec<Ack>,
    /// When the epoch ended (its sources moved on) and when the manifest was
    /// written: the difference is how long the checkpoint took to complete.
    pub(crate) epoch_end_unix_ms: u64,
    pub(crate) written_unix_ms: u64,
}

impl Manifest {
    /// The manifest of a run of `graph` on `workers` workers in `processes`
    /// processes, before it names an epoch and parts.
    pub(crate) fn of_run(
        graph: &beam_core::graph::Graph,
        workers: usize,
        processes: usize,
        split_basis: usize,
        job_id: String,
    ) -> Self {
        Manifest {
            format: FORMAT,
            job: graph.options.job_name.clone(),
            epoch: 0,
            workers,
            processes,
            key_groups: beam_core::kernel::KEY_GROUPS,
            split_basis,
            generation: 0,
            job_id,
            steps: super::steps_of(graph),
            parts: Vec::new(),
            epoch_end_unix_ms: 0,
            written_unix_ms: 0,
        }
    }
}

/// What a restored checkpoint must match.
pub(crate) struct Expected<'a> {
    pub(crate) steps: &'a [String],
    /// The participants of the pipeline on a number of workers.
    pub(crate) participants: &'a dyn Fn(usize) -> Vec<(usize, usize)>,
}

/// Where checkpoints are kept. [`LocalDir`] keeps them in a directory (local,
/// or shared by every process of a cluster); the surface is what an object
/// store would implement too: parts written whole, a checkpoint published by
/// its manifest, the published ones listed and pruned, a restore resolved
/// and verified, and generations that fence off stale runs.
pub(crate) trait CheckpointStore: Send + Sync {
    /// Writes (step, worker)'s part of checkpoint `epoch`.
    fn write_part(&self, epoch: u64, step: usize, worker: usize, bytes: &[u8]) -> Result<Part>;
    /// Publishes checkpoint `manifest.epoch` (refused if a newer generation
    /// took the store); returns where it is.
    fn publish(&self, manifest: &Manifest) -> Result<String>;
    /// Takes the next generation of the store.
    fn take_generation(&self) -> Result<u64>;
    /// The newest generation taken (0: none).
    fn newest_generation(&self) -> Result<u64>;
    /// Drops the parts written for an epoch that will not complete, and
    /// records that it will not (see [`abandoned`](Self::abandoned)).
    fn abandon(&self, epoch: u64);
    /// The epochs abandoned by this run (markers of earlier runs go when the
    /// store is opened) and not below the newest published checkpoint: no
    /// longer in progress, for every process's clock.
    fn abandoned(&self) -> Result<Vec<u64>>;
    /// The published checkpoints' epochs, newest first.
    fn published(&self) -> Result<Vec<u64>>;
    /// The job identity in the manifest of the published checkpoint `epoch`.
    fn job_id(&self, epoch: u64) -> Result<String>;
    /// Keeps the newest `n` published checkpoints.
    fn retain(&self, n: usize) -> Result<()>;
    /// The checkpoint to restore, read and verified.
    fn resolve(&self, from: &RestoreFrom, expected: &Expected<'_>) -> Result<Restored>;
    /// Where the store is, for messages.
    fn describe(&self) -> String;
}

/// The name prefix of the marker of an abandoned epoch.
const ABANDONED: &str = "abandoned-";

/// Checkpoints in a local directory.
#[derive(Clone, Debug)]
pub(crate) struct LocalDir {
    root: PathBuf,
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> BeamError {
    BeamError::Runner(format!("checkpoint: cannot {what} {}: {e}", path.display()))
}

fn generation_of(path: &Path) -> Option<u64> {
    path.file_name()?
        .to_str()?
        .strip_prefix("gen-")?
        .parse()
        .ok()
}

fn sync_dir(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("sync", path, e))
}

/// Writes `bytes` to `path` through a synced temporary file renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    beam_core::atomic_write::write_atomically(path, bytes).map_err(|e| io_error("write", path, e))
}

impl LocalDir {
    /// The store at `root`, created if missing. With `clean`, removes what a
    /// run that died left: checkpoints that were never published.
    pub(crate) fn open(root: &Path, clean: bool) -> Result<Self> {
        fs::create_dir_all(root).map_err(|e| io_error("create", root, e))?;
        let store = LocalDir {
            root: root.to_path_buf(),
        };
        if clean {
            for entry in fs::read_dir(root).map_err(|e| io_error("list", root, e))? {
                let path = entry.map_err(|e| io_error("list", root, e))?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with("chk-") && name.ends_with(".tmp") {
                    fs::remove_dir_all(&path).map_err(|e| io_error("remove", &path, e))?;
                } else if name.starts_with(ABANDONED) {
                    fs::remove_file(&path).map_err(|e| io_error("remove", &path, e))?;
                }
            }
        }
        Ok(store)
    }

    fn abandoned_marker(&self, epoch: u64) -> PathBuf {
        self.root.join(format!("{ABANDONED}{epoch:012}"))
    }

    fn tmp_dir(&self, epoch: u64) -> PathBuf {
        self.root.join(format!("chk-{epoch:012}.tmp"))
    }

    fn final_dir(&self, epoch: u64) -> PathBuf {
        self.root.join(format!("chk-{epoch:012}"))
    }

    /// Published checkpoints' directories, newest first.
    fn published_dirs(&self) -> Result<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(|e| io_error("list", &self.root, e))? {
            let path = entry.map_err(|e| io_error("list", &self.root, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(epoch) = name
                .strip_prefix("chk-")
                .and_then(|e| e.parse::<u64>().ok())
            {
                out.push((epoch, path));
            }
        }
        out.sort_by_key(|p| std::cmp::Reverse(p.0));
        Ok(out)
    }
}

impl CheckpointStore for LocalDir {
    /// Writes (step, worker)'s part of checkpoint `epoch`.
    fn write_part(&self, epoch: u64, step: usize, worker: usize, bytes: &[u8]) -> Result<Part> {
        let dir = self.tmp_dir(epoch);
        fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        let name = format!("s{step:04}-w{worker:04}.state");
        write_atomically(&dir.join(&name), bytes)?;
        Ok(Part {
            name,
            len: bytes.len() as u64,
            crc32: crc32fast::hash(bytes),
        })
    }

    /// Publishes checkpoint `manifest.epoch`: the manifest, then the directory's
    /// final name. Refused if a newer run took a generation after the
    /// manifest's.
    fn publish(&self, manifest: &Manifest) -> Result<String> {
        let newest = self.newest_generation()?;
        if newest > manifest.generation {
            return Err(BeamError::Runner(format!(
                "checkpoint: a newer run (generation {newest}) uses {}; this run (generation {}) stops",
                self.root.display(),
                manifest.generation
            )));
        }
        let dir = self.tmp_dir(manifest.epoch);
        fs::create_dir_all(&dir).map_err(|e| io_error("create", &dir, e))?;
        let bytes = serde_json::to_vec_pretty(manifest)
            .map_err(|e| BeamError::Runner(format!("checkpoint: manifest: {e}")))?;
        write_atomically(&dir.join(MANIFEST), &bytes)?;
        sync_dir(&dir)?;
        let to = self.final_dir(manifest.epoch);
        fs::rename(&dir, &to).map_err(|e| io_error("publish", &dir, e))?;
        sync_dir(&self.root)?;
        Ok(to.display().to_string())
    }

    /// Takes the next generation of the store: creates `gen-N` for the first
    /// N past every existing one (exclusively, so two runs starting at once
    /// get different ones). A run publishes only while its generation is the
    /// newest, so a stale process of an earlier run (one that lost its
    /// cluster but still runs) cannot publish over a newer run's checkpoints.
    fn take_generation(&self) -> Result<u64> {
        let mut next = self.newest_generation()? + 1;
        loop {
            let path = self.root.join(format!("gen-{next:012}"));
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => next += 1,
                Err(e) => return Err(io_error("create", &path, e)),
            }
        }
        // Older generation markers are no longer needed.
        for entry in fs::read_dir(&self.root).map_err(|e| io_error("list", &self.root, e))? {
            let path = entry.map_err(|e| io_error("list", &self.root, e))?.path();
            if generation_of(&path).is_some_and(|g| g + 4 < next) {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(next)
    }

    /// The newest generation taken in the store (0: none).
    fn newest_generation(&self) -> Result<u64> {
        let mut newest = 0;
        for entry in fs::read_dir(&self.root).map_err(|e| io_error("list", &self.root, e))? {
            let path = entry.map_err(|e| io_error("list", &self.root, e))?.path();
            newest = newest.max(generation_of(&path).unwrap_or(0));
        }
        Ok(newest)
    }

    /// Drops the parts written for an epoch that will not complete.
    fn abandon(&self, epoch: u64) {
        let dir = self.tmp_dir(epoch);
        if let Err(e) = fs::remove_dir_all(&dir) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("checkpoint: cannot remove {}: {e}", dir.display());
            }
        }
        let marker = self.abandoned_marker(epoch);
        if let Err(e) = fs::write(&marker, b"") {
            tracing::warn!("checkpoint: cannot write {}: {e}", marker.display());
        }
    }

    fn abandoned(&self) -> Result<Vec<u64>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(|e| io_error("list", &self.root, e))? {
            let path = entry.map_err(|e| io_error("list", &self.root, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(epoch) = name
                .strip_prefix(ABANDONED)
                .and_then(|e| e.parse::<u64>().ok())
            {
                out.push(epoch);
            }
        }
        Ok(out)
    }

    fn published(&self) -> Result<Vec<u64>> {
        Ok(self.published_dirs()?.into_iter().map(|(e, _)| e).collect())
    }

    fn job_id(&self, epoch: u64) -> Result<String> {
        let path = self.final_dir(epoch).join(MANIFEST);
        let bytes = fs::read(&path).map_err(|e| io_error("read", &path, e))?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
            BeamError::Runner(format!("checkpoint: {} is damaged: {e}", path.display()))
        })?;
        Ok(manifest.job_id)
    }

    /// Keeps the newest `n` published checkpoints, removing the others.
    fn retain(&self, n: usize) -> Result<()> {
        let published = self.published_dirs()?;
        for (_, path) in published.iter().skip(n.max(1)) {
            fs::remove_dir_all(path).map_err(|e| io_error("remove", path, e))?;
        }
        // Abandoned epochs below the newest published checkpoint no longer
        // count as in progress anywhere: their markers go.
        let Some(&(newest, _)) = published.first() else {
            return Ok(());
        };
        for epoch in self.abandoned()?.into_iter().filter(|&e| e < newest) {
            let marker = self.abandoned_marker(epoch);
            fs::remove_file(&marker).map_err(|e| io_error("remove", &marker, e))?;
        }
        Ok(())
    }

    /// The checkpoint to restore, read and verified: the one `from` names, or
    /// the newest that verifies (each one refused is logged with why).
    fn resolve(&self, from: &RestoreFrom, expected: &Expected<'_>) -> Result<Restored> {
        match from {
            RestoreFrom::Path(path) => load(path, expected),
            RestoreFrom::Latest => {
                let mut refused = Vec::new();
                for (_, path) in self.published_dirs()? {
                    match load(&path, expected) {
                        Ok(r) => {
                            if !refused.is_empty() {
                                eprintln!(
                                    "checkpoint: restoring {} instead of newer ones that do not verify: {}",
                                    path.display(),
                                    refused.join("; ")
                                );
                            }
                            return Ok(r);
                        }
                        // A checkpoint of another pipeline or worker count is
                        // not fallen back from: every older one is the same.
                        Err(e @ BeamError::Options(_)) => return Err(e),
                        Err(e) => refused.push(e.to_string()),
                    }
                }
                Err(BeamError::Runner(if refused.is_empty() {
                    format!(
                        "--restore-from latest: no complete checkpoint in {}",
                        self.root.display()
                    )
                } else {
                    format!(
                        "--restore-from latest: no checkpoint in {} verifies: {}",
                        self.root.display(),
                        refused.join("; ")
                    )
                }))
            }
        }
    }
    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// Reads and verifies the checkpoint in `dir`.
fn load(dir: &Path, expected: &Expected<'_>) -> Result<Restored> {
    let manifest_path = dir.join(MANIFEST);
    let bytes = fs::read(&manifest_path).map_err(|e| io_error("read", &manifest_path, e))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| {
        BeamError::Runner(format!(
            "checkpoint: {} is damaged: {e}",
            manifest_path.display()
        ))
    })?;
    if manifest.format != FORMAT {
        return Err(BeamError::Runner(format!(
            "checkpoint: {} has layout version {} (expected {FORMAT})",
            manifest_path.display(),
            manifest.format
        )));
    }
    if manifest.steps != expected.steps {
        let differs = manifest
            .steps
            .iter()
            .zip(expected.steps)
            .position(|(a, b)| a != b)
            .unwrap_or(manifest.steps.len().min(expected.steps.len()));
        let theirs = manifest
            .steps
            .get(differs)
            .map_or("no step", String::as_str);
        let ours = expected
            .steps
            .get(differs)
            .map_or("no step", String::as_str);
        return Err(BeamError::Options(format!(
            "checkpoint {} is of another pipeline: its step {differs} is '{theirs}', this pipeline's is '{ours}'",
            dir.display()
        )));
    }
    if manifest.key_groups != beam_core::kernel::KEY_GROUPS || manifest.split_basis == 0 {
        return Err(BeamError::Options(format!(
            "checkpoint {} spreads keys over {} key groups; this build uses {}",
            dir.display(),
            manifest.key_groups,
            beam_core::kernel::KEY_GROUPS
        )));
    }
    let mut restored = Restored {
        epoch: manifest.epoch,
        workers: manifest.workers,
        split_basis: manifest.split_basis,
        job_id: manifest.job_id.clone(),
        ..Restored::default()
    };
    for (step, worker) in (expected.participants)(manifest.workers) {
        let ack = manifest
            .parts
            .iter()
            .find(|a| a.step == step && a.worker == worker)
            .ok_or_else(|| {
                BeamError::Runner(format!(
                    "checkpoint: {} has no part for step {step} on worker {worker}",
                    manifest_path.display()
                ))
            })?;
        let Some(part) = &ack.part else {
            continue;
        };
        let path = dir.join(&part.name);
        let bytes = fs::read(&path).map_err(|e| io_error("read", &path, e))?;
        if bytes.len() as u64 != part.len || crc32fast::hash(&bytes) != part.crc32 {
            return Err(BeamError::Runner(format!(
                "checkpoint: {} is damaged ({} bytes, expected {} with CRC-32 {:08x})",
                path.display(),
                bytes.len(),
                part.len,
                part.crc32
            )));
        }
        restored.parts.insert((step, worker), bytes);
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(epoch: u64, parts: Vec<Ack>) -> Manifest {
        Manifest {
            format: FORMAT,
            job: "job".into(),
            epoch,
            workers: 1,
            processes: 1,
            key_groups: beam_core::kernel::KEY_GROUPS,
            split_basis: 1,
            generation: 1,
            job_id: "j".into(),
            steps: vec!["A [Read] [] -> [0]".into()],
            parts,
            epoch_end_unix_ms: 0,
            written_unix_ms: 0,
        }
    }

    /// A store in `dir` with checkpoints 1, 2 and 3 of one step on one
    /// worker, checkpoint E's part being ten bytes E.
    fn three_checkpoints(dir: &Path) -> LocalDir {
        let store = LocalDir::open(dir, true).unwrap();
        for epoch in 1..=3u64 {
            let part = store.write_part(epoch, 0, 0, &[epoch as u8; 10]).unwrap();
            let ack = Ack {
                epoch,
                step: 0,
                worker: 0,
                part: Some(part),
            };
            store.publish(&manifest(epoch, vec![ack])).unwrap();
        }
        store
    }

    #[test]
    fn publish_resolve_fall_back_and_retain() {
        let dir = tempfile::tempdir().unwrap();
        let store = three_checkpoints(dir.path());
        let steps = vec!["A [Read] [] -> [0]".to_string()];
        let participants = |_: usize| vec![(0, 0)];
        let expected = Expected {
            steps: &steps,
            participants: &participants,
        };
        // Written but never published: garbage at the next start.
        store.write_part(4, 0, 0, b"x").unwrap();
        let store = LocalDir::open(dir.path(), true).unwrap();
        assert!(!dir.path().join("chk-000000000004.tmp").exists());

        let r = store.resolve(&RestoreFrom::Latest, &expected).unwrap();
        assert_eq!((r.epoch, r.parts[&(0, 0)].clone()), (3, vec![3u8; 10]));

        // A flipped byte in the newest: the one before it, never the damaged one.
        let newest = dir.path().join("chk-000000000003/s0000-w0000.state");
        fs::write(&newest, [3u8, 3, 3, 3, 9, 3, 3, 3, 3, 3]).unwrap();
        let r = store.resolve(&RestoreFrom::Latest, &expected).unwrap();
        assert_eq!(r.epoch, 2);
        let e = store
            .resolve(
                &RestoreFrom::Path(dir.path().join("chk-000000000003")),
                &expected,
            )
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("s0000-w0000.state") && e.contains("damaged"),
            "{e}"
        );

        // Another pipeline is refused, naming the step.
        let other = vec!["B [Read] [] -> [0]".to_string()];
        let e = store
            .resolve(
                &RestoreFrom::Latest,
                &Expected {
                    steps: &other,
                    ..expected
                },
            )
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("'A [Read]") && e.contains("'B [Read]"), "{e}");

        store.retain(1).unwrap();
        let left: Vec<u64> = store.published().unwrap();
        assert_eq!(left, vec![3]);
    }

    #[test]
    fn a_missing_manifest_or_a_truncated_part_is_fallen_back_from() {
        let dir = tempfile::tempdir().unwrap();
        let store = three_checkpoints(dir.path());
        let steps = vec!["A [Read] [] -> [0]".to_string()];
        let participants = |_: usize| vec![(0, 0)];
        let expected = Expected {
            steps: &steps,
            participants: &participants,
        };
        fs::remove_file(dir.path().join("chk-000000000003").join(MANIFEST)).unwrap();
        fs::write(
            dir.path().join("chk-000000000002/s0000-w0000.state"),
            [2u8; 4],
        )
        .unwrap();
        let r = store.resolve(&RestoreFrom::Latest, &expected).unwrap();
        assert_eq!(r.epoch, 1);
        let e = store
            .resolve(
                &RestoreFrom::Path(dir.path().join("chk-000000000002")),
                &expected,
            )
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("s0000-w0000.state") && e.contains("4 bytes"),
            "{e}"
        );
        let e = store
            .resolve(
                &RestoreFrom::Path(dir.path().join("chk-000000000003")),
                &expected,
            )
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("MANIFEST.json"), "{e}");
    }

    #[test]
    fn a_run_of_an_older_generation_cannot_publish() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalDir::open(dir.path(), true).unwrap();
        let old = store.take_generation().unwrap();
        let new = store.take_generation().unwrap();
        assert!(new > old);
        let stale = Manifest {
            generation: old,
            ..manifest(7, Vec::new())
        };
        let e = store.publish(&stale).unwrap_err().to_string();
        assert!(
            e.contains("newer run") && e.contains(&format!("generation {new}")),
            "{e}"
        );
        assert!(store.published().unwrap().is_empty());
        store
            .publish(&Manifest {
                generation: new,
                ..manifest(7, Vec::new())
            })
            .unwrap();
        assert_eq!(store.published().unwrap().len(), 1);
    }
}
