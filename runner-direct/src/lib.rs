//! Direct runner.
