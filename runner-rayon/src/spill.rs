//! The spill directory of a run: created on the first spill, removed when the
//! run ends (success or failure) and when the process is interrupted (Ctrl-C,
//! SIGTERM).

use beam_core::{BeamError, Result};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};

/// Spill directories of the runs in progress, removed by the interrupt handler.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static HANDLER: Once = Once::new();

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
    dir: tempfile::TempDir,
    files: AtomicUsize,
}

impl SpillDir {
    fn create(parent: &Path) -> Result<Self> {
        install_interrupt_handler();
        let dir = tempfile::Builder::new()
            .prefix("beam-rayon-spill-")
            .tempdir_in(parent)
            .map_err(|e| io_error(parent, "create a spill directory in", e))?;
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir.path().to_owned());
        Ok(SpillDir {
            dir,
            files: AtomicUsize::new(0),
        })
    }
}

impl Drop for SpillDir {
    fn drop(&mut self) {
        LIVE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != self.dir.path());
        // `TempDir` removes the directory and its files.
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

/// On Ctrl-C or SIGTERM: remove the spill directories of runs in progress and
/// exit with status 130. Installed once, on the first spill; a program that
/// has its own handler keeps it (its spill files are then removed only when
/// the run unwinds).
fn install_interrupt_handler() {
    HANDLER.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            let dirs = LIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for d in &dirs {
                let _ = std::fs::remove_dir_all(d);
            }
            eprintln!("interrupted; removed {} spill directories", dirs.len());
            std::process::exit(130);
        });
    });
}
