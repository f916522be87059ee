//! Semantics implemented once, for every runner (the role Beam's runners-core plays).
//!
//! A runner feeds grouping tables with batches and tells them when their input
//! is complete; the tables own window assignment results, session merging,
//! timestamp combining and pane metadata. Runners own only scheduling,
//! parallelism and data movement.
//!
//! In the batch case all input of a grouping arrives before the watermark
//! moves from -infinity to +infinity, so every window fires one on-time, final
//! pane; streaming runners move watermarks and processing time step by step.

pub mod aggregation;
pub mod grouping;
pub mod side_inputs;
pub(crate) mod snapshot;
pub mod stateful;
pub(crate) mod time_index;
pub mod trigger_state;
pub(crate) mod window_state;

pub use crate::source_watermark::SourceWatermark;
pub use aggregation::Aggregation;
pub use grouping::WindowedTable;
