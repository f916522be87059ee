//! Sources and sinks, built only on beam-core's public
//! [`BoundedSource`](beam_core::BoundedSource) and
//! [`UnboundedSource`](beam_core::UnboundedSource) APIs and ordinary transforms.
//!
//! - [`socket`]: lines from a TCP socket, with processing-time watermarks.
//! - [`text`]: line-oriented text files (plain, `.gz`, `.zst`).
//! - [`csv`]: CSV rows typed through serde.
//! - [`jsonl`]: JSON lines typed through serde.
//! - [`kafka`]: a Kafka source (partitions, offsets, watermarks) and producer
//!   sinks (at least once, and exactly once through transactions).
//! - [`parquet`]: Parquet as typed rows or Arrow batches.
//! - [`records`]: parsing sources and their dead-letter output.
//! - [`redis`]: a Redis sink and an enrichment lookup.
//! - [`sink`]: sharded file sinks that publish atomically, per window and pane.
//!
//! What event time a read element carries: records read from files (text,
//! CSV, JSON lines, Parquet) carry the minimum timestamp, in the global
//! window, as in Beam; take event time from a field with
//! [`WithTimestamps`](beam_core::WithTimestamps). A Kafka record carries its
//! Kafka timestamp (producer or broker time), and its partition's watermark
//! follows it; socket lines carry their arrival time.
#![deny(missing_docs)]

pub mod csv;
pub mod file_read;
pub mod files;
pub mod jsonl;
pub mod kafka;
pub mod parquet;
pub mod records;
pub mod redis;
pub mod sink;
pub mod socket;
pub mod text;

pub use csv::{CsvFormat, CsvIO, CsvRecordStarts};
pub use file_read::{FileFormat, FileSource, ReadFiles};
pub use files::{expand_pattern, Compression, FileRange, LineNumbers};
pub use jsonl::{JsonLines, JsonLinesIO};
pub use parquet::{ArrowBatch, ParquetIO};
pub use records::{
    DeadLetter, Parsed, ParsedRecords, ReadRecords, RecordLocation, RecordReader, RecordSource,
    RecordsRead,
};
pub use sink::{shard_name, ShardFormat, WriteFiles};
pub use text::{TextIO, TextLines, TextSource};
