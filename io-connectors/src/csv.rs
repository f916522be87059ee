//! CSV: typed rows through serde, with the `csv` crate.
//!
//! Reading: a header row (default) names the fields a row struct is deserialized
//! by; without one, fields are taken by position. Delimiter and quote are
//! configurable. Uncompressed files are split into byte ranges at line starts,
//! which assumes no quoted field contains a line break (Spark's default too);
//! [`CsvFormat::multi_line`] reads each file whole instead. A row with the wrong
//! number of fields or a field of the wrong type is a malformed record: the run
//! fails naming the file and line, or the row goes to the dead-letter output.
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

use crate::file_read::{FileFormat, ReadFiles};
use crate::files::{FileRange, LineNumbers};
use crate::records::{DeadLetter, RecordLocation, RecordReader};
use crate::sink::{ShardFormat, WriteFiles};
use beam_core::{BeamError, Element, Result, UserError, UserResult};
use serde::de::DeserializeOwned;
use std::io::{BufRead, Read, Write};
use std::marker::PhantomData;
use std::sync::Arc;

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
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for CsvFormat<T> {
    fn clone(&self) -> Self {
        CsvFormat {
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
    /// Quoted fields may contain line breaks: files are then read whole, not split.
    pub fn multi_line(mut self, yes: bool) -> Self {
        self.multi_line = yes;
        self
    }

    fn reader_builder(&self) -> csv::ReaderBuilder {
        let mut b = csv::ReaderBuilder::new();
        b.has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .quote(self.quote)
            .buffer_capacity(64 * 1024);
        b
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
    /// Quoted fields may contain line breaks: files are read whole, not split.
    pub fn multi_line(mut self, yes: bool) -> Self {
        self.format = self.format.multi_line(yes);
        self
    }
}

impl<T: Element> WriteFiles<T, CsvFormat<T>> {
    /// The field delimiter (default `,`).
    pub fn delimiter(self, d: u8) -> Self {
        self.map_format(|f| f.delimiter(d))
    }
}

/// A reader's input. For compressed files (which cannot be re-read at an offset)
/// it keeps the bytes the parser consumed but has not released, so a malformed
/// record can be handed on exactly as read; uncompressed files are re-read at
/// the record's offset instead, only when a record is malformed.
struct Capture {
    inner: Box<dyn BufRead + Send>,
    enabled: bool,
    bytes: Vec<u8>,
    /// Stream offset of `bytes[0]`.
    offset: u64,
}

impl Read for Capture {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.enabled {
            self.bytes.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }
}

impl Capture {
    fn range(&self, from: u64, to: u64) -> &[u8] {
        let a = (from.saturating_sub(self.offset) as usize).min(self.bytes.len());
        let b = (to.saturating_sub(self.offset) as usize).clamp(a, self.bytes.len());
        &self.bytes[a..b]
    }
    /// Forgets bytes before `upto` once enough have accumulated.
    fn release(&mut self, upto: u64) {
        let n = upto.saturating_sub(self.offset) as usize;
        if self.enabled && n > 1 << 20 {
            self.bytes.drain(..n.min(self.bytes.len()));
            self.offset += n as u64;
        }
    }
}

/// Where a record the parser reports at a position really starts: the parser
/// places a record that follows a `\r\n` ending at its `\n`. Returns the
/// line-ending bytes and the line feeds before the record in `bytes`.
fn leading_line_ends(bytes: &[u8]) -> (u64, u64) {
    let (mut skipped, mut feeds) = (0, 0);
    for &b in bytes {
        match b {
            b'\n' => feeds += 1,
            b'\r' => {}
            _ => break,
        }
        skipped += 1;
    }
    (skipped, feeds)
}

struct CsvReader<T> {
    csv: csv::Reader<Capture>,
    /// Which records of the range are this reader's.
    claim: crate::files::RangeClaim,
    /// The file, opened to re-read malformed records and split boundaries.
    file: Option<std::fs::File>,
    headers: Option<csv::StringRecord>,
    /// The range starts at the file's header row, which is not a record.
    skip_header: bool,
    record: csv::ByteRecord,
    range: FileRange,
    /// File offset of stream byte 0.
    base: u64,
    lines: LineNumbers,
    _t: PhantomData<fn() -> T>,
}

fn read_header(format_builder: &csv::ReaderBuilder, range: &FileRange) -> Result<csv::ByteRecord> {
    let whole = FileRange {
        start: 0,
        tracker: None,
        ..range.clone()
    };
    let (input, _) = whole.open_at_line()?;
    let mut rdr = format_builder.from_reader(input);
    let mut header = csv::ByteRecord::new();
    let found = rdr
        .read_byte_record(&mut header)
        .map_err(|e| csv_err(range, e))?;
    if !found {
        return Err(BeamError::io(
            range.path.display().to_string(),
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "empty CSV file: no header row",
            ),
        ));
    }
    Ok(header)
}

fn csv_err(range: &FileRange, e: csv::Error) -> BeamError {
    let line = e
        .position()
        .map(|p| format!(" near line {}", p.line()))
        .unwrap_or_default();
    BeamError::io(
        range.path.display().to_string(),
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("CSV{line}: {e}")),
    )
}

impl<T> CsvReader<T> {
    /// The stream bytes `[from, to)`: captured, or re-read from the file.
    fn bytes(&mut self, from: u64, to: u64) -> Result<Vec<u8>> {
        if self.csv.get_ref().enabled {
            return Ok(self.csv.get_ref().range(from, to).to_vec());
        }
        use std::os::unix::fs::FileExt;
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                std::fs::File::open(self.range.path.as_ref()).map_err(|e| self.range.err(e))?,
            ),
        };
        let mut buf = vec![0u8; to.saturating_sub(from) as usize];
        file.read_exact_at(&mut buf, self.base + from)
            .map_err(|e| self.range.err(e))?;
        Ok(buf)
    }

    /// Whether the record the parser reports at stream position `pos` starts
    /// inside this range (it really starts after any line endings at `pos`).
    fn owns(&mut self, pos: u64) -> Result<bool> {
        let at = self.base + pos;
        if self.claim.owns(at + 1) {
            return Ok(true);
        }
        if !self.claim.owns(at) {
            return Ok(false);
        }
        // The range's last byte: the record starts there unless it is a line ending.
        let first = self.bytes(pos, pos + 1)?;
        Ok(!matches!(first.first(), Some(b'\r' | b'\n')))
    }
}

impl<T: Element + DeserializeOwned> RecordReader<T> for CsvReader<T> {
    fn next_record(&mut self) -> Result<Option<std::result::Result<T, DeadLetter>>> {
        loop {
            let found = self
                .csv
                .read_byte_record(&mut self.record)
                .map_err(|e| csv_err(&self.range, e))?;
            if !found {
                return Ok(None);
            }
            let pos = self
                .record
                .position()
                .cloned()
                .unwrap_or_else(csv::Position::new);
            let next = self.csv.position().byte();
            if !self.owns(pos.byte())? {
                return Ok(None);
            }
            if std::mem::take(&mut self.skip_header) {
                continue;
            }
            let parsed = match &self.headers {
                Some(h) if h.len() != self.record.len() => Err(format!(
                    "expected {} fields (as in the header), found {}",
                    h.len(),
                    self.record.len()
                )),
                headers => {
                    // Validated as UTF-8 once per record (not per field), moving
                    // the record's buffers rather than copying them.
                    match csv::StringRecord::from_byte_record(std::mem::take(&mut self.record)) {
                        Ok(text) => {
                            let parsed = text.deserialize::<T>(headers.as_ref()).map_err(|e| {
                                match e.kind() {
                                    // Its position counts from the split's start: the location says where.
                                    csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
                                    _ => e.to_string(),
                                }
                            });
                            self.record = text.into_byte_record();
                            parsed
                        }
                        Err(e) => {
                            let msg = format!("invalid UTF-8: {}", e.utf8_error());
                            self.record = e.into_byte_record();
                            Err(msg)
                        }
                    }
                }
            };
            let out = match parsed {
                Ok(v) => Ok(v),
                Err(error) => {
                    let bytes = self.bytes(pos.byte(), next)?;
                    let (skipped, feeds) = leading_line_ends(&bytes);
                    let mut raw = &bytes[skipped as usize..];
                    while let [rest @ .., b'\r' | b'\n'] = raw {
                        raw = rest;
                    }
                    let raw = raw.to_vec();
                    Err(DeadLetter {
                        raw,
                        location: RecordLocation::File {
                            path: self.range.path.display().to_string(),
                            line: self.lines.line((pos.line() + feeds).saturating_sub(1)),
                        },
                        error,
                    })
                }
            };
            self.csv.get_mut().release(next);
            return Ok(Some(out));
        }
    }
}

impl<T: Element + DeserializeOwned> FileFormat for CsvFormat<T> {
    type Record = T;
    fn open_range(&self, range: &FileRange) -> Result<Box<dyn RecordReader<T>>> {
        let builder = self.reader_builder();
        let headers = if self.has_header {
            let h = read_header(&builder, range)?;
            Some(csv::StringRecord::from_byte_record(h).map_err(|e| {
                BeamError::io(
                    range.path.display().to_string(),
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("the CSV header row is not UTF-8: {}", e.utf8_error()),
                    ),
                )
            })?)
        } else {
            None
        };
        let (input, base) = range.open_at_line()?;
        let capture = Capture {
            inner: input,
            enabled: !range.compression.is_splittable(),
            bytes: Vec::new(),
            offset: 0,
        };
        Ok(Box::new(CsvReader {
            csv: builder.from_reader(capture),
            claim: range.claim(),
            file: None,
            skip_header: headers.is_some() && base == 0,
            headers,
            record: csv::ByteRecord::new(),
            lines: LineNumbers::new(Arc::clone(&range.path), base),
            range: range.clone(),
            base,
            _t: PhantomData,
        }))
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
