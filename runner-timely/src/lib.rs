//! The timely runner: streaming pipelines on timely-dataflow.
//!
//! Not implemented yet. It does not register itself, so `--runner timely` fails
//! with the list of runners that are available.
#![deny(missing_docs)]
