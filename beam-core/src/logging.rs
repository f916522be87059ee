//! Logs through `tracing`: a subscriber on standard error, filtered by
//! `--log-level` or else `RUST_LOG` (default `warn`).
//!
//! A run's events carry the fields `job` and `process` (from the span
//! [`Pipeline::run`](crate::Pipeline::run) enters), and runners add `worker`
//! and `step` where they know them. Standard output holds only what the
//! pipeline itself writes there.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber, unless the program installed one of its own.
/// `level` is a level (`info`) or a full filter (`beam_core=debug,warn`).
/// A `--log-level` that does not parse is an error; a bad `RUST_LOG` falls
/// back to `warn`.
pub fn init(level: Option<&str>) -> crate::Result<()> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l)
            .map_err(|e| crate::BeamError::Options(format!("--log-level {l}: {e}")))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    Ok(())
}
