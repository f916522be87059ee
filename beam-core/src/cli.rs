//! Helpers for pipeline programs.

use std::process::ExitCode;

/// Runs a program's main logic; an error is printed as `error: ...` (with its
/// causes) on stderr and the process exits with status 1, without a panic
/// message or backtrace.
pub fn run_main<E: std::fmt::Display>(main: impl FnOnce() -> Result<(), E>) -> ExitCode {
    match main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
