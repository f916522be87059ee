//! Conformance scenarios, written once and run on every registered runner.
#![deny(missing_docs)]
