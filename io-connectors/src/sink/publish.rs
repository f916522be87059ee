//! Publishing a written file set as a unit.
//!
//! Every shard is first written, complete and synced, under the sink's
//! temporary directory. Publishing then:
//!
//! 1. writes a manifest, `.PREFIX.beam-publish` beside the output, listing
//!    every move (temporary file → final name), atomically (a temporary file
//!    renamed over it): from here on the publish can always be completed;
//! 2. removes `PREFIX._SUCCESS` of an earlier set, and the shards of earlier
//!    sets on the same prefix and suffix that are not in this one (another
//!    shard count, say), so no mix of two sets is ever left;
//! 3. renames every file into place (a rename whose source is gone and whose
//!    destination exists was done before an interruption);
//! 4. writes `PREFIX._SUCCESS` (the Hadoop and Spark convention, one file
//!    name a line), then removes the manifest and the temporary directory.
//!
//! A reader that waits for `PREFIX._SUCCESS` never sees part of a set. A run
//! interrupted between 1 and 4 (a kill, a power cut) leaves its manifest; the
//! next [`WriteFiles`](super::WriteFiles) on the same prefix completes that
//! publish before it starts (the shards are already whole), so a set is
//! either published whole or not at all.

use beam_core::{BeamError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A file set ready to publish.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Publication {
    /// The sink's prefix (the success marker's name).
    pub prefix: String,
    /// The file-name suffix of every shard.
    pub suffix: String,
    /// The prefixes of the sets published (the sink's, or a window and pane's).
    pub sets: Vec<String>,
    /// The temporary directory the files are in.
    pub temp_dir: PathBuf,
    /// Temporary file → final name.
    pub moves: Vec<(PathBuf, PathBuf)>,
}

fn err(path: &Path, e: impl std::fmt::Display) -> BeamError {
    BeamError::io(
        path.display().to_string(),
        std::io::Error::other(e.to_string()),
    )
}

fn in_dir_of(prefix: &str, name: String) -> PathBuf {
    let p = Path::new(prefix);
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.join(name),
        _ => PathBuf::from(name),
    }
}

fn base_name(prefix: &str) -> String {
    Path::new(prefix)
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// Where the manifest of a publish to `prefix` is kept while it runs.
pub(crate) fn manifest_path(prefix: &str) -> PathBuf {
    in_dir_of(prefix, format!(".{}.beam-publish", base_name(prefix)))
}

/// The completion marker of the set published under `prefix`.
pub fn success_marker(prefix: &str) -> PathBuf {
    PathBuf::from(format!("{prefix}._SUCCESS"))
}

/// Writes `bytes` to `path` through a synced temporary file renamed over it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    beam_core::atomic_write::write_atomically(path, bytes).map_err(|e| err(path, e))
}

/// Whether `name` is a shard of the set `set_base` with `suffix`:
/// `SET-DDDDD-of-DDDDD[SUFFIX]` (five digits or more).
fn is_shard_of(name: &str, set_base: &str, suffix: &str) -> bool {
    let Some(rest) = name
        .strip_prefix(set_base)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(suffix))
    else {
        return false;
    };
    let digits = |s: &str| s.len() >= 5 && s.bytes().all(|b| b.is_ascii_digit());
    matches!(rest.split_once("-of-"), Some((i, n)) if digits(i) && digits(n))
}

impl Publication {
    /// Publishes the set (steps 1 to 4 of the module docs).
    pub(crate) fn commit(&self) -> Result<()> {
        let manifest = manifest_path(&self.prefix);
        let text = serde_json::to_vec(self).map_err(|e| err(&manifest, e))?;
        write_atomically(&manifest, &text)?;
        self.complete()
    }

    /// Steps 2 to 4: safe to run again after an interruption.
    fn complete(&self) -> Result<()> {
        let marker = success_marker(&self.prefix);
        match std::fs::remove_file(&marker) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(&marker, e)),
            _ => {}
        }
        self.remove_other_shards()?;
        for (temp, dest) in &self.moves {
            match std::fs::rename(temp, dest) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && dest.exists() => {}
                Err(e) => return Err(err(dest, e)),
            }
        }
        let mut listing = String::new();
        for (_, dest) in &self.moves {
            listing.push_str(
                &dest
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            );
            listing.push('\n');
        }
        write_atomically(&marker, listing.as_bytes())?;
        let manifest = manifest_path(&self.prefix);
        std::fs::remove_file(&manifest).map_err(|e| err(&manifest, e))?;
        match std::fs::remove_dir_all(&self.temp_dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err(&self.temp_dir, e)),
            _ => Ok(()),
        }
    }

    /// Removes shards of earlier sets on the same set prefixes and suffix that
    /// this set does not replace by name.
    fn remove_other_shards(&self) -> Result<()> {
        let ours: std::collections::HashSet<&Path> =
            self.moves.iter().map(|(_, d)| d.as_path()).collect();
        for set in &self.sets {
            let dir = in_dir_of(set, String::new());
            let dir = if dir.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                dir
            };
            let base = base_name(set);
            let entries = std::fs::read_dir(&dir).map_err(|e| err(&dir, e))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !is_shard_of(&name, &base, &self.suffix) {
                    continue;
                }
                let path = in_dir_of(set, name);
                if !ours.contains(path.as_path()) {
                    std::fs::remove_file(&path).map_err(|e| err(&path, e))?;
                }
            }
        }
        Ok(())
    }
}

/// Completes a publish to `prefix` that an earlier run left unfinished.
/// Returns whether there was one.
pub(crate) fn recover(prefix: &str) -> Result<bool> {
    let manifest = manifest_path(prefix);
    let text = match std::fs::read(&manifest) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(err(&manifest, e)),
    };
    let publication: Publication = serde_json::from_slice(&text).map_err(|e| {
        err(
            &manifest,
            format!("unreadable manifest of an interrupted publish ({e}); remove it to go on"),
        )
    })?;
    publication.complete()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_are_recognised_by_set_and_suffix() {
        assert!(is_shard_of("out-00001-of-00003.csv", "out", ".csv"));
        assert!(is_shard_of("out-123456-of-200000", "out", ""));
        assert!(!is_shard_of("out-00001-of-00003.csv", "out", ""));
        assert!(!is_shard_of("outer-00001-of-00003", "out", ""));
        assert!(!is_shard_of("out-dead-letter-00000-of-00001", "out", ""));
        assert!(!is_shard_of("out._SUCCESS", "out", ""));
    }

    #[test]
    fn an_interrupted_publish_is_completed_and_old_shards_go() {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("out").display().to_string();
        for i in 0..3 {
            std::fs::write(format!("{prefix}-{i:05}-of-00003"), "old").unwrap();
        }
        let temp = dir.path().join(".temp-beam-x");
        std::fs::create_dir(&temp).unwrap();
        let mut moves = Vec::new();
        for i in 0..2 {
            let t = temp.join(format!("t{i}"));
            std::fs::write(&t, format!("new {i}")).unwrap();
            moves.push((t, PathBuf::from(format!("{prefix}-{i:05}-of-00002"))));
        }
        let publication = Publication {
            prefix: prefix.clone(),
            suffix: String::new(),
            sets: vec![prefix.clone()],
            temp_dir: temp.clone(),
            moves,
        };
        // Interrupted after the manifest and the first rename.
        let text = serde_json::to_vec(&publication).unwrap();
        std::fs::write(manifest_path(&prefix), text).unwrap();
        std::fs::rename(&publication.moves[0].0, &publication.moves[0].1).unwrap();
        assert!(recover(&prefix).unwrap());
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["out-00000-of-00002", "out-00001-of-00002", "out._SUCCESS"]
        );
        assert_eq!(
            std::fs::read_to_string(success_marker(&prefix)).unwrap(),
            "out-00000-of-00002\nout-00001-of-00002\n"
        );
        assert!(!recover(&prefix).unwrap());
    }
}
