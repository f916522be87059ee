//! The spill directory of a run: created on the first spill, removed when the
//! run ends (success or failure) and when the process is interrupted (Ctrl-C,
//! SIGTERM), through beam-core's [`TempPath`]; the directories of runs that
//! were killed are removed by the next run that spills in the same place.

use beam_core::{BeamError, Result, TempPath};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const DIR_PREFIX: &str = "beam-rayon-spill-";

/// Where a run may spill: the parent directory, and the run's own temporary
/// directory once something has been spilled.
pub(crate) struct SpillArea {
    parent: PathBuf,
    dir: Mutex<Option<Arc<SpillDir>>>,
}

impl SpillArea {
    pub(crate) fn new(parent: PathBuf) -> Self {
        SpillArea {
            parent,
            dir: Mutex::new(None),
        }
    }

    /// A new, empty spill file (the directory is created on first use).
    pub(crate) fn new_file(&self) -> Result<SpillFile> {
        let dir = {
            let mut dir = self.dir.lock().unwrap_or_else(|e| e.into_inner());
            match dir.as_ref() {
                Some(d) => d.clone(),
                None => dir
                    .insert(Arc::new(SpillDir::create(&self.parent)?))
                    .clone(),
            }
        };
        let n = dir.files.fetch_add(1, Ordering::Relaxed);
        let path = dir.dir.path().join(format!("run-{n:06}.spill"));
        let file = File::create(&path).map_err(|e| io_error(&path, "create", e))?;
        Ok(SpillFile {
            path,
            file,
            _dir: dir,
        })
    }

    /// The run's spill directory, if it has spilled.
    pub(crate) fn dir(&self) -> Option<PathBuf> {
        let dir = self.dir.lock().unwrap_or_else(|e| e.into_inner());
        dir.as_ref().map(|d| d.dir.path().to_owned())
    }
}

/// The temporary directory of one run, removed when dropped.
pub(crate) struct SpillDir {
    dir: TempPath,
    files: AtomicUsize,
}

impl SpillDir {
    fn create(parent: &Path) -> Result<Self> {
        beam_core::temp_paths::remove_abandoned(parent, DIR_PREFIX);
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{DIR_PREFIX}{}-{unique}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = TempPath::register(&parent.join(name))?;
        Ok(SpillDir {
            dir,
            files: AtomicUsize::new(0),
        })
    }
}

/// One spill file; removed when dropped (its directory stays alive meanwhile).
pub(crate) struct SpillFile {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    _dir: Arc<SpillDir>,
}

impl Drop for SpillFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(crate) fn io_error(path: &Path, what: &str, e: std::io::Error) -> BeamError {
    BeamError::Runner(format!("cannot {what} spill file {}: {e}", path.display()))
}
