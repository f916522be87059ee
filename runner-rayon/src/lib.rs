//! The rayon runner: bounded pipelines on every core of one machine.
//!
//! Not implemented yet. It does not register itself, so `--runner rayon` fails
//! with the list of runners that are available.
#![deny(missing_docs)]
