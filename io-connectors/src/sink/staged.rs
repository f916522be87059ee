//! The two phases of an unbounded file sink: each pane's shard is written,
//! complete and synced, to a hidden staging directory beside the output
//! ([`StagedFile`]); [`Publish`](beam_core::Publish) then renames it to its
//! final name ([`FilePublisher`]).
//!
//! On a runner without checkpoints the rename follows the write at once. On
//! the timely runner with checkpoints it waits until the checkpoint covering
//! the pane is complete, so a run that crashes and restores never shows a
//! file twice, a half-written file or a file of input it then reads again:
//! the files the restored checkpoint had staged are published before the run
//! starts, and whatever else the dead run staged is discarded.
//!
//! A restore publishes files staged by any worker, so with several machines
//! the output directory must be shared by all of them.

use beam_core::{Publisher, UserError, UserResult};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A shard file written under its staging name, not yet visible.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedFile {
    /// Where it was written.
    pub staged: String,
    /// Its final name.
    pub dest: String,
}

/// The staging directory of the sink writing to `prefix`: hidden, beside the
/// output (so a rename moves a file into place), one per prefix.
pub(crate) fn staging_dir(prefix: &str) -> PathBuf {
    let p = Path::new(prefix);
    let base = p
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let name = format!(".{base}.beam-staging");
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join(name),
        _ => PathBuf::from(name),
    }
}

/// Renames staged files to their final names.
#[derive(Clone)]
pub(crate) struct FilePublisher {
    pub(crate) staging: PathBuf,
}

fn failed(path: &Path, what: &str, e: std::io::Error) -> UserError {
    UserError::msg(format!("{what} {}: {e}", path.display()))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> UserResult {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| failed(dir, "sync", e))
}

impl Publisher<StagedFile> for FilePublisher {
    fn publish(&self, item: &StagedFile) -> UserResult {
        let (staged, dest) = (Path::new(&item.staged), Path::new(&item.dest));
        match std::fs::rename(staged, dest) {
            Ok(()) => sync_dir(dest.parent().unwrap_or(Path::new("."))),
            // Published before (by a run that died before its next
            // checkpoint, or by another process of this restore).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && dest.exists() => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(UserError::msg(format!(
                "the staged file {} of {} is gone and was never published (is the output directory shared by every process?)",
                staged.display(),
                dest.display()
            ))),
            Err(e) => Err(failed(dest, "publish", e)),
        }
    }

    fn discard_unpublished(&self) -> UserResult {
        let entries = match std::fs::read_dir(&self.staging) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(failed(&self.staging, "list", e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| failed(&self.staging, "list", e))?.path();
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(failed(&path, "remove", e)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishing_twice_keeps_the_file_and_a_lost_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("out").display().to_string();
        let staging = staging_dir(&prefix);
        std::fs::create_dir_all(&staging).unwrap();
        let item = StagedFile {
            staged: staging.join("out-00000-of-00001").display().to_string(),
            dest: format!("{prefix}-00000-of-00001"),
        };
        std::fs::write(&item.staged, "a\n").unwrap();
        let publisher = FilePublisher { staging };
        publisher.publish(&item).unwrap();
        publisher.publish(&item).unwrap();
        assert_eq!(std::fs::read_to_string(&item.dest).unwrap(), "a\n");

        let lost = StagedFile {
            staged: format!("{}-lost", item.staged),
            dest: format!("{prefix}-lost"),
        };
        let e = publisher.publish(&lost).unwrap_err().to_string();
        assert!(e.contains("is gone and was never published"), "{e}");

        std::fs::write(&lost.staged, "b\n").unwrap();
        publisher.discard_unpublished().unwrap();
        assert!(!Path::new(&lost.staged).exists());
        assert!(Path::new(&item.dest).exists());
    }
}
