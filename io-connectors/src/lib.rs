//! Sources and sinks, built only on beam-core's public [`BoundedSource`](beam_core::BoundedSource)
//! API and ordinary transforms.
//!
//! - [`text`]: line-oriented text files: a splittable source over a file or glob,
//!   and a sharded sink that publishes atomically.
#![deny(missing_docs)]

pub mod text;

pub use text::TextIO;
