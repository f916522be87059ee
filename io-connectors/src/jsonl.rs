//! JSON lines: one JSON value per line, typed through serde.
//!
//! Reading splits like text (blank lines are skipped; any other line that is not a
//! valid `T` is a malformed record). Writing puts one compact JSON value per line.
//! Floats round-trip exactly.
//!
//! A line is parsed straight into `T`, so a `T` holding only the fields a
//! pipeline uses parses without allocating: the other fields are skipped
//! without being kept, and a field whose values are a few known words (an
//! event's `"type"`) can be an enum of unit variants instead of a `String`.
//! Records read in event-time order can carry their times and a watermark
//! from the read ([`ReadFiles::with_timestamps`],
//! [`ReadFiles::with_bounded_out_of_orderness`]).
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{testing::PAssert, Create, Pipeline, PipelineOptions};
//! use io_connectors::JsonLinesIO;
//!
//! #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Trip { id: u32, km: f64 }
//!
//! let dir = tempfile::tempdir().unwrap();
//! let prefix = dir.path().join("trips").display().to_string();
//! let trips = vec![Trip { id: 1, km: 0.1 }, Trip { id: 2, km: 12.5 }];
//!
//! let p = Pipeline::new(PipelineOptions::default());
//! p.apply("Trips", Create::of(trips.clone())).unwrap()
//!     .apply("Write", JsonLinesIO::write(&prefix).with_suffix(".jsonl")).unwrap();
//! p.run().unwrap();
//!
//! let p = Pipeline::new(PipelineOptions::default());
//! let read = p.apply("Read", JsonLinesIO::read::<Trip>(&format!("{prefix}-*.jsonl"))).unwrap();
//! PAssert::that(&read).contains_in_any_order(trips).unwrap();
//! p.run().unwrap();
//! ```

use crate::file_read::{FileFormat, LineReader, ReadFiles};
use crate::files::FileRange;
use crate::records::{DeadLetter, RecordReader};
use crate::sink::{ShardFormat, WriteFiles};
use beam_core::{Element, Result, UserError, UserResult};
use serde::de::DeserializeOwned;
use std::io::Write;
use std::marker::PhantomData;

/// Entry points: [`JsonLinesIO::read`] and [`JsonLinesIO::write`].
pub struct JsonLinesIO;

impl JsonLinesIO {
    /// Reads the JSON lines of the files matching `pattern` as `T`s.
    pub fn read<T: Element + DeserializeOwned>(pattern: &str) -> ReadFiles<JsonLines<T>> {
        ReadFiles::new(pattern, JsonLines::default())
    }
    /// Writes `T`s as JSON lines to shard files named after `prefix`.
    pub fn write<T: Element>(prefix: &str) -> WriteFiles<T, JsonLines<T>> {
        WriteFiles::new(prefix, JsonLines::default())
    }
}

/// The JSON-lines format of `T`: one value a line, of at most
/// [`max_record_bytes`](Self::max_record_bytes) bytes (64 MiB unless set; a
/// longer line is a malformed record, never held in memory).
pub struct JsonLines<T> {
    max_record_bytes: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for JsonLines<T> {
    fn clone(&self) -> Self {
        JsonLines {
            max_record_bytes: self.max_record_bytes,
            _t: PhantomData,
        }
    }
}

impl<T> Default for JsonLines<T> {
    fn default() -> Self {
        JsonLines {
            max_record_bytes: crate::file_read::DEFAULT_MAX_RECORD_BYTES,
            _t: PhantomData,
        }
    }
}

impl<T> JsonLines<T> {
    /// The longest line read.
    pub fn max_record_bytes(mut self, bytes: u64) -> Self {
        self.max_record_bytes = bytes.max(1);
        self
    }
}

impl<T: Element> ReadFiles<JsonLines<T>> {
    /// The longest line read (see [`JsonLines::max_record_bytes`]).
    pub fn with_max_record_bytes(mut self, bytes: u64) -> Self {
        self.format = self.format.max_record_bytes(bytes);
        self
    }
}

struct JsonLinesReader<T> {
    lines: LineReader,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element> RecordReader<T> for JsonLinesReader<T> {
    fn next_record(&mut self) -> Result<Option<std::result::Result<T, DeadLetter>>> {
        loop {
            let Some((line, too_long)) = self.lines.next_line_checked()? else {
                return Ok(None);
            };
            if let Some(length) = too_long {
                let raw = line.to_vec();
                return Ok(Some(Err(self.lines.too_long_dead_letter(&raw, length))));
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Ok(Some(match serde_json::from_slice::<T>(line) {
                Ok(v) => Ok(v),
                Err(e) => {
                    let raw = line.to_vec();
                    Err(DeadLetter {
                        raw,
                        location: self.lines.location(),
                        error: e.to_string(),
                    })
                }
            }));
        }
    }
}

impl<T: Element> FileFormat for JsonLines<T> {
    type Record = T;
    fn open_range(&self, range: &FileRange) -> Result<Box<dyn RecordReader<T>>> {
        Ok(Box::new(JsonLinesReader {
            lines: LineReader::open(range)?.with_max_record_bytes(self.max_record_bytes),
            _t: PhantomData,
        }))
    }
    fn name(&self) -> &'static str {
        "JSON lines"
    }
}

impl<T: Element> ShardFormat<T> for JsonLines<T> {
    fn write_shard(&self, out: &mut (dyn Write + Send), records: &[&T]) -> UserResult {
        for r in records {
            serde_json::to_writer(&mut *out, r).map_err(|e| UserError::msg(e.to_string()))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::RecordSource;
    use crate::FileSource;

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Row {
        name: String,
        x: f64,
    }

    #[test]
    fn every_line_is_a_record_or_a_dead_letter_across_splits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.jsonl");
        let mut text = String::new();
        for i in 0..300 {
            if i % 7 == 3 {
                text.push_str(&format!("{{\"name\": \"r{i}\", \"x\": oops}}\r\n"));
            } else if i % 11 == 5 {
                text.push_str("   \n");
            } else {
                text.push_str(&format!("{{\"name\":\"r{i}\",\"x\":{}}}\n", i as f64 / 3.0));
            }
        }
        std::fs::write(&path, &text).unwrap();
        let source = FileSource::new(path.to_str().unwrap(), JsonLines::<Row>::default()).unwrap();
        for desired in [10, 100, 1 << 20] {
            let (mut good, mut bad) = (Vec::new(), Vec::new());
            for split in source.split(desired).unwrap() {
                let mut r = split.open().unwrap();
                while let Some(rec) = r.next_record().unwrap() {
                    match rec {
                        Ok(v) => good.push(v),
                        Err(d) => bad.push(d),
                    }
                }
            }
            let want_bad: Vec<u64> = (0..300u64).filter(|i| i % 7 == 3).map(|i| i + 1).collect();
            let mut bad_lines: Vec<u64> = bad.iter().map(|d| d.location.line().unwrap()).collect();
            bad_lines.sort();
            assert_eq!(bad_lines, want_bad, "split at {desired}");
            let want_good = (0..300).filter(|i| i % 7 != 3 && i % 11 != 5).count();
            assert_eq!(good.len(), want_good);
            assert!(good.iter().any(|r| r.name == "r1" && r.x == 1.0 / 3.0));
        }
    }
}
