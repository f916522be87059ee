//! Semantics implemented once, for every runner (the role Beam's runners-core plays).
//!
//! A runner feeds grouping tables with batches and tells them when their input
//! is complete; the tables own window assignment results, session merging,
//! timestamp combining and pane metadata. Runners own only scheduling,
//! parallelism and data movement.
//!
//! This module currently implements the batch case: all input of a grouping
//! arrives before the watermark moves from -infinity to +infinity, so every
//! window fires exactly one on-time, final pane.

pub mod grouping;

pub use grouping::{Aggregation, WindowedTable};
