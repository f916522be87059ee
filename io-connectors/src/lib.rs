//! Sources and sinks.
#![deny(missing_docs)]
