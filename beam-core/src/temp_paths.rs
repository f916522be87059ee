//! Temporary files and directories of the runs in progress, removed on every
//! way out: when the run ends (success or error), and on SIGINT or SIGTERM,
//! which end the process with the conventional status (130 and 143).
//!
//! A runner or connector that makes temporary files registers their directory
//! with [`TempPath::register`] and keeps the returned guard for as long as it
//! needs them; dropping the guard removes the directory. [`Pipeline::run`]
//! installs the signal handler (once per process) and removes whatever the run
//! registered when it returns.
//!
//! Each directory also holds a lock file, `.owner`, locked by the process for
//! as long as the directory is registered: [`remove_abandoned`] (called where
//! such directories are made) removes the directories of processes that no
//! longer run, such as those of a run killed with SIGKILL.
//!
//! [`Pipeline::run`]: crate::Pipeline::run
//!
//! ```
//! let dir = std::env::temp_dir().join(format!("beam-doc-temp-{}", std::process::id()));
//! let guard = beam_core::TempPath::register(&dir).unwrap();
//! std::fs::write(dir.join("part"), b"x").unwrap();
//! drop(guard);
//! assert!(!dir.exists());
//! ```

use crate::error::{BeamError, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};

/// Registered directories, with the lock file held for each.
static LIVE: Mutex<BTreeMap<PathBuf, File>> = Mutex::new(BTreeMap::new());
static HANDLER: Once = Once::new();

/// The name of the lock file in a registered directory.
pub const OWNER_FILE: &str = ".owner";

/// A registered temporary directory; removed when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct TempPath(Arc<Registered>);

#[derive(Debug)]
struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        release(&self.0);
    }
}

fn live() -> std::sync::MutexGuard<'static, BTreeMap<PathBuf, File>> {
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

fn release(dir: &Path) {
    let lock = live().remove(dir);
    let _ = std::fs::remove_dir_all(dir);
    drop(lock);
}

impl TempPath {
    /// Creates `dir` (and its parents) and registers it; it holds the process's
    /// owner lock until the guard is dropped.
    pub fn register(dir: &Path) -> Result<TempPath> {
        install_signal_handler();
        std::fs::create_dir_all(dir).map_err(|e| BeamError::io(dir.display().to_string(), e))?;
        let owner = dir.join(OWNER_FILE);
        let file =
            File::create(&owner).map_err(|e| BeamError::io(owner.display().to_string(), e))?;
        file.lock()
            .map_err(|e| BeamError::io(owner.display().to_string(), e))?;
        live().insert(dir.to_path_buf(), file);
        Ok(TempPath(Arc::new(Registered(dir.to_path_buf()))))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0 .0
    }
}

/// Removes every registered directory (the end of a run, or a signal).
pub fn remove_all() -> usize {
    let dirs: Vec<(PathBuf, File)> = std::mem::take(&mut *live()).into_iter().collect();
    for (dir, _) in &dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
    dirs.len()
}

/// Removes the directories in `parent` whose names start with `name_prefix`
/// and whose owner lock no process holds (their process has ended). Returns
/// how many were removed.
pub fn remove_abandoned(parent: &Path, name_prefix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let path = entry.path();
        if !name.to_string_lossy().starts_with(name_prefix) || !path.is_dir() {
            continue;
        }
        if live().contains_key(&path) {
            continue;
        }
        let abandoned = match File::options().write(true).open(path.join(OWNER_FILE)) {
            Ok(f) => f.try_lock().is_ok(),
            // Made before its lock (a kill in between): old enough to be dead.
            Err(_) => std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age.as_secs() > 600)),
        };
        if abandoned && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// What runs on the first SIGINT or SIGTERM instead of exiting, while set.
type StopHook = Box<dyn Fn() + Send + Sync>;

fn stop_hook() -> std::sync::MutexGuard<'static, Option<StopHook>> {
    static HOOK: Mutex<Option<StopHook>> = Mutex::new(None);
    HOOK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Asks a run to stop gracefully on the first SIGINT or SIGTERM: `stop` is
/// called instead of exiting (a second signal exits as usual). For a runner
/// that can stop where a restart will go on (with a final checkpoint). The
/// hook stays until [`clear_stop_hook`].
pub fn set_stop_hook(stop: impl Fn() + Send + Sync + 'static) {
    install_signal_handler();
    *stop_hook() = Some(Box::new(stop));
}

/// Removes the hook of [`set_stop_hook`]: signals exit again.
pub fn clear_stop_hook() {
    *stop_hook() = None;
}

/// On SIGINT or SIGTERM: removes every registered directory and exits with
/// 128 + the signal number (130, 143); with a hook set by [`set_stop_hook`],
/// the first signal calls it instead.
pub fn install_signal_handler() {
    HANDLER.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("beam-signals".into())
            .spawn(move || {
                let mut hooked = false;
                for sig in signals.forever() {
                    let name = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                    if !hooked {
                        if let Some(stop) = stop_hook().as_ref() {
                            eprintln!("{name}: stopping at a checkpoint (again to exit now)");
                            stop();
                            hooked = true;
                            continue;
                        }
                    }
                    let n = remove_all();
                    eprintln!("interrupted by {name}; removed {n} temporary directories");
                    std::process::exit(128 + sig);
                }
            });
    });
}
