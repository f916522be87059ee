//! CSV: typed rows through serde, with the `csv` crate.
//!
//! Reading: a header row (default) names the fields a row struct is deserialized
//! by; without one, fields are taken by position. Delimiter and quote are
//! configurable. Uncompressed files are split into byte ranges, each range
//! starting exactly where a sequential read starts a record, quoted line
//! breaks included, so how a file is split never changes what is read (a file
//! with quotes is scanned once to find those places). A row with the wrong
//! number of fields or a field of the wrong type is a malformed record: the run
//! fails naming the file and line, or the row goes to the dead-letter output.
//! So is a record longer than [`CsvFormat::max_record_bytes`] (64 MiB unless
//! set), which is never held in memory, and a record whose quoted field is
//! never closed: it is its first line, and reading resumes on the next.
//!
//! Writing: one header row per shard (from the struct's field names), then rows.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{testing::PAssert, Pipeline, PipelineOptions};
//! use io_connectors::CsvIO;
//!
//! #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Sale { product_category: String, amount: f64 }
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("sales.csv");
//! std::fs::write(&path, "amount,product_category\n1200.5,\"books, rare\"\n12,toys\n").unwrap();
//!
//! let p = Pipeline::new(PipelineOptions::default());
//! let sales = p.apply("Read", CsvIO::read::<Sale>(path.to_str().unwrap())).unwrap();
//! PAssert::that(&sales).contains_in_any_order(vec![
//!     Sale { product_category: "books, rare".into(), amount: 1200.5 },
//!     Sale { product_category: "toys".into(), amount: 12.0 },
//! ]).unwrap();
//! p.run().unwrap();
//! ```

mod boundaries;
mod guarded;
mod reader;
mod scanner;
#[cfg(test)]
mod split_tests;

use crate::file_read::{FileFormat, ReadFiles};
use crate::files::FileRange;
use crate::records::RecordReader;
use crate::sink::{ShardFormat, WriteFiles};
use beam_core::{Element, Result, UserError, UserResult};
use serde::de::DeserializeOwned;
use std::io::Write;
use std::marker::PhantomData;
use std::sync::Arc;

pub use crate::file_read::DEFAULT_MAX_RECORD_BYTES;

/// Entry points: [`CsvIO::read`] and [`CsvIO::write`].
pub struct CsvIO;

impl CsvIO {
    /// Reads the rows of the CSV files matching `pattern` as `T`s (header row,
    /// comma-separated, `"` quotes; see [`CsvFormat`] to change them).
    pub fn read<T: Element + DeserializeOwned>(pattern: &str) -> ReadFiles<CsvFormat<T>> {
        ReadFiles::new(pattern, CsvFormat::new())
    }
    /// Writes `T`s as CSV rows, with a header row, to shard files named after `prefix`.
    pub fn write<T: Element>(prefix: &str) -> WriteFiles<T, CsvFormat<T>> {
        WriteFiles::new(prefix, CsvFormat::new())
    }
}

/// The CSV format of `T`: header, delimiter, quote, and whether records may span lines.
pub struct CsvFormat<T> {
    has_header: bool,
    delimiter: u8,
    quote: u8,
    multi_line: bool,
    max_record_bytes: u64,
    /// Record starts of the files read, shared by the clones of one format.
    boundaries: Arc<boundaries::Boundaries>,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for CsvFormat<T> {
    fn clone(&self) -> Self {
        CsvFormat {
            boundaries: Arc::clone(&self.boundaries),
            _t: PhantomData,
            ..*self
        }
    }
}

impl<T> Default for CsvFormat<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> CsvFormat<T> {
    /// Header row, `,` delimiter, `"` quote, records on one line each.
    pub fn new() -> Self {
        CsvFormat {
            has_header: true,
            delimiter: b',',
            quote: b'"',
            multi_line: false,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            boundaries: Arc::default(),
            _t: PhantomData,
        }
    }
    /// Whether files start with a header row (default true).
    pub fn has_header(mut self, yes: bool) -> Self {
        self.has_header = yes;
        self
    }
    /// The field delimiter (default `,`).
    pub fn delimiter(mut self, d: u8) -> Self {
        self.delimiter = d;
        self
    }
    /// The quote character (default `"`).
    pub fn quote(mut self, q: u8) -> Self {
        self.quote = q;
        self
    }
    /// Reads each file whole, by one reader, instead of splitting it. Splits
    /// are correct with or without it (quoted line breaks included); this only
    /// gives up parallel reading of one file.
    pub fn multi_line(mut self, yes: bool) -> Self {
        self.multi_line = yes;
        self
    }
    /// The longest record read (default [`DEFAULT_MAX_RECORD_BYTES`]): a longer
    /// one is a malformed record (its first 4 KiB kept), found without holding
    /// it in memory.
    pub fn max_record_bytes(mut self, bytes: u64) -> Self {
        self.max_record_bytes = bytes.max(1);
        self
    }

    fn dialect(&self) -> scanner::Dialect {
        scanner::Dialect {
            delimiter: self.delimiter,
            quote: self.quote,
        }
    }
}

/// Where the records of CSV files start, for readers of byte ranges that
/// parse records themselves: a range owns the records that start in it, and
/// [`CsvRecordStarts::record_start`] finds them (quoted line breaks
/// included) exactly as a sequential read would. Clones share one index per
/// file.
#[derive(Clone, Debug, Default)]
pub struct CsvRecordStarts {
    boundaries: Arc<boundaries::Boundaries>,
}

impl CsvRecordStarts {
    /// The first record start at or after byte `at` of `range`'s file (the
    /// file's length if there is none; 0 for 0).
    pub fn record_start(
        &self,
        range: &FileRange,
        at: u64,
        delimiter: u8,
        quote: u8,
    ) -> Result<u64> {
        self.boundaries.record_start(
            range,
            at,
            scanner::Dialect { delimiter, quote },
            crate::file_read::DEFAULT_MAX_RECORD_BYTES,
        )
    }
}

impl<T: Element + DeserializeOwned> ReadFiles<CsvFormat<T>> {
    /// Whether files start with a header row (default true).
    pub fn has_header(mut self, yes: bool) -> Self {
        self.format = self.format.has_header(yes);
        self
    }
    /// The field delimiter (default `,`).
    pub fn delimiter(mut self, d: u8) -> Self {
        self.format = self.format.delimiter(d);
        self
    }
    /// Reads each file whole instead of splitting it (see [`CsvFormat::multi_line`]).
    pub fn multi_line(mut self, yes: bool) -> Self {
        self.format = self.format.multi_line(yes);
        self
    }
    /// The longest record read (see [`CsvFormat::max_record_bytes`]).
    pub fn with_max_record_bytes(mut self, bytes: u64) -> Self {
        self.format = self.format.max_record_bytes(bytes);
        self
    }
}

impl<T: Element> WriteFiles<T, CsvFormat<T>> {
    /// The field delimiter (default `,`).
    pub fn delimiter(self, d: u8) -> Self {
        self.map_format(|f| f.delimiter(d))
    }
}

impl<T: Element + DeserializeOwned> FileFormat for CsvFormat<T> {
    type Record = T;
    fn open_range(&self, range: &FileRange) -> Result<Box<dyn RecordReader<T>>> {
        let dialect = self.dialect();
        let headers = if self.has_header {
            Some(reader::read_header(range, dialect, self.max_record_bytes)?)
        } else {
            None
        };
        let start = if range.compression.is_splittable() {
            self.boundaries
                .record_start(range, range.start, dialect, self.max_record_bytes)?
        } else {
            0
        };
        Ok(Box::new(reader::CsvReader::<T>::open(
            range,
            start,
            dialect,
            headers,
            self.max_record_bytes,
        )?))
    }
    fn splittable(&self) -> bool {
        !self.multi_line
    }
    fn name(&self) -> &'static str {
        "CSV"
    }
}

impl<T: Element> ShardFormat<T> for CsvFormat<T> {
    fn write_shard(&self, out: &mut (dyn Write + Send), records: &[&T]) -> UserResult {
        let mut w = csv::WriterBuilder::new()
            .has_headers(self.has_header)
            .delimiter(self.delimiter)
            .quote(self.quote)
            .from_writer(out);
        for r in records {
            w.serialize(r).map_err(|e| UserError::msg(e.to_string()))?;
        }
        w.flush()?;
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
        k: String,
        v: i64,
    }

    fn read(source: &FileSource<CsvFormat<Row>>, desired: u64) -> (Vec<Row>, Vec<(Vec<u8>, u64)>) {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for split in source.split(desired).unwrap() {
            let mut r = split.open().unwrap();
            while let Some(rec) = r.next_record().unwrap() {
                match rec {
                    Ok(v) => good.push(v),
                    Err(d) => bad.push((d.raw, d.location.line().unwrap())),
                }
            }
        }
        (good, bad)
    }

    #[test]
    fn splits_read_every_row_once_with_header_quotes_and_crlf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        let mut text = String::from("v,k\r\n");
        let mut want_good = Vec::new();
        let mut want_bad = Vec::new();
        for i in 0..400i64 {
            let line = i as u64 + 2;
            match i % 9 {
                4 => {
                    text.push_str(&format!("{i},a,b\r\n"));
                    want_bad.push((format!("{i},a,b").into_bytes(), line));
                }
                7 => {
                    text.push_str(&format!("x{i},k\n"));
                    want_bad.push((format!("x{i},k").into_bytes(), line));
                }
                _ => {
                    let k = format!("key, \"{i}\"");
                    text.push_str(&format!("{i},\"key, \"\"{i}\"\"\"\n"));
                    want_good.push(Row { k, v: i });
                }
            }
        }
        std::fs::write(&path, &text).unwrap();
        let source = FileSource::new(path.to_str().unwrap(), CsvFormat::<Row>::new()).unwrap();
        for desired in [1, 7, 50, 333, 1 << 20] {
            let (mut good, mut bad) = read(&source, desired);
            good.sort_by_key(|r| r.v);
            bad.sort_by_key(|b| b.1);
            assert_eq!(good, want_good, "split at {desired}");
            assert_eq!(bad, want_bad, "split at {desired}");
        }
    }

    #[test]
    fn compressed_files_hand_on_malformed_records_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv.gz");
        let text = "k,v\r\na,1\r\nb,two\r\nc,3\n\"d\nd\",x\n";
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
        enc.finish().unwrap();
        let source = FileSource::new(path.to_str().unwrap(), CsvFormat::<Row>::new()).unwrap();
        let (good, bad) = read(&source, 1);
        assert_eq!(good.len(), 2);
        assert_eq!(
            bad,
            vec![(b"b,two".to_vec(), 3), (b"\"d\nd\",x".to_vec(), 5)]
        );
    }

    #[test]
    fn multi_line_files_are_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("multi.csv");
        std::fs::write(&path, "k,v\n\"two\nlines\",1\nplain,2\n").unwrap();
        let format = CsvFormat::<Row>::new().multi_line(true);
        let source = FileSource::new(path.to_str().unwrap(), format).unwrap();
        assert_eq!(source.split(3).unwrap().len(), 1);
        let (good, bad) = read(&source, 3);
        assert!(bad.is_empty());
        assert_eq!(
            good,
            vec![
                Row {
                    k: "two\nlines".into(),
                    v: 1
                },
                Row {
                    k: "plain".into(),
                    v: 2
                }
            ]
        );
    }
}
