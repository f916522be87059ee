//! The reader of one range of a CSV file: records owned by the range they
//! start in, parsed into `T`s or handed on as dead letters.
//!
//! Records are read by the csv crate's reader, which parses into its record
//! in place; it reports the same record starts as the [`RecordScanner`]
//! (both are csv-core, started at a record start). Whatever the scanner's
//! rules decide differently goes to the scanner, from the record's start: a
//! record longer than the maximum (the csv reader's input stops short of
//! holding it), and a record ended by the end of the data, which may be an
//! unterminated quote. The csv reader then starts again after it.

use super::boundaries::reopen_of;
use super::guarded::{is_past_limit, Guarded};
use super::scanner::{Dialect, RecordScanner, Span, SpanKind};
use crate::files::{FileRange, LineNumbers, RangeClaim};
use crate::records::{DeadLetter, RecordLocation, RecordReader};
use beam_core::{BeamError, Element, Result};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::Arc;

/// How much of a record too long to keep is kept in its dead letter.
pub(crate) const DEAD_LETTER_PREFIX: usize = crate::file_read::TOO_LONG_PREFIX;

/// How far the csv reader may read past the start of a record: the limit and
/// its buffer, so that only a record longer than the limit stops it.
const READ_AHEAD: u64 = 64 * 1024;

pub(crate) struct CsvReader<T> {
    rdr: csv::Reader<Guarded>,
    /// File offset of the csv reader's first byte.
    base: u64,
    /// Lines between the range's first byte and the csv reader's first byte.
    line_base: u64,
    /// The scanner that read the last record the csv reader left to it.
    fallback: Option<RecordScanner>,
    done: bool,
    dialect: Dialect,
    claim: RangeClaim,
    /// The file, opened to re-read malformed records.
    file: Option<std::fs::File>,
    headers: Option<csv::StringRecord>,
    /// The range starts at the file's header row, which is not a record.
    skip_header: bool,
    record: csv::ByteRecord,
    range: FileRange,
    max_record_bytes: u64,
    lines: LineNumbers,
    _t: PhantomData<fn() -> T>,
}

fn invalid(range: &FileRange, msg: String) -> BeamError {
    BeamError::io(
        range.path.display().to_string(),
        std::io::Error::new(std::io::ErrorKind::InvalidData, msg),
    )
}

fn scanner(
    range: &FileRange,
    at: u64,
    dialect: Dialect,
    max: u64,
    copy: bool,
) -> Result<RecordScanner> {
    let s = RecordScanner::new(
        dialect,
        range.path.display().to_string().into(),
        range.open_at(at)?,
        at,
        reopen_of(range),
        max,
        copy,
    );
    Ok(if range.compression.is_splittable() {
        s
    } else {
        s.capture_raw()
    })
}

/// The file's header row.
pub(crate) fn read_header(
    range: &FileRange,
    dialect: Dialect,
    max: u64,
) -> Result<csv::StringRecord> {
    let mut s = scanner(range, 0, dialect, max, true)?;
    let header = match s.next_span()? {
        None => return Err(invalid(range, "empty CSV file: no header row".into())),
        Some(Span {
            kind: SpanKind::Record,
            ..
        }) => s.fields().collect::<csv::ByteRecord>(),
        Some(span) => {
            return Err(invalid(
                range,
                format!(
                    "the CSV header row is malformed ({})",
                    describe_bad_span(&span, max)
                ),
            ))
        }
    };
    csv::StringRecord::from_byte_record(header).map_err(|e| {
        invalid(
            range,
            format!("the CSV header row is not UTF-8: {}", e.utf8_error()),
        )
    })
}

fn describe_bad_span(span: &Span, max: u64) -> String {
    match span.kind {
        SpanKind::Record => String::new(),
        SpanKind::TooLong => format!(
            "a record of {} bytes, longer than the limit of {max} bytes (with_max_record_bytes); its first {} bytes are kept",
            span.end - span.start,
            DEAD_LETTER_PREFIX.min((span.end - span.start) as usize)
        ),
        SpanKind::Unterminated => "a quoted field that is never closed: this record is its first line, reading resumes on the next".to_string(),
    }
}

/// The csv crate's reader over `range`'s file from byte `at`, configured as
/// the scanner's csv-core.
fn csv_reader(range: &FileRange, at: u64, dialect: Dialect) -> Result<csv::Reader<Guarded>> {
    let input = Guarded::new(range.open_at(at)?, at, !range.compression.is_splittable());
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(dialect.delimiter)
        .quote(dialect.quote)
        .buffer_capacity(READ_AHEAD as usize)
        .from_reader(input))
}

fn csv_err(range: &FileRange, e: csv::Error) -> BeamError {
    BeamError::io(
        range.path.display().to_string(),
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("CSV: {e}")),
    )
}

impl<T> CsvReader<T> {
    pub(crate) fn open(
        range: &FileRange,
        start: u64,
        dialect: Dialect,
        headers: Option<csv::StringRecord>,
        max_record_bytes: u64,
    ) -> Result<Self> {
        Ok(CsvReader {
            rdr: csv_reader(range, start, dialect)?,
            base: start,
            line_base: 0,
            fallback: None,
            done: false,
            dialect,
            claim: range.claim(),
            file: None,
            skip_header: headers.is_some() && start == 0,
            headers,
            record: csv::ByteRecord::new(),
            lines: LineNumbers::new(Arc::clone(&range.path), start),
            range: range.clone(),
            max_record_bytes,
            _t: PhantomData,
        })
    }

    /// The file bytes `[from, to)`: kept by the fallback scanner or the csv
    /// reader's input (compressed files), or read again from the file.
    fn bytes(&mut self, from: u64, to: u64, scanned: bool) -> Result<Vec<u8>> {
        if scanned {
            if let Some(captured) = self.fallback.as_ref().and_then(|s| s.captured()) {
                let n = ((to - from) as usize).min(captured.len());
                return Ok(captured[..n].to_vec());
            }
        } else if let Some(kept) = self.rdr.get_ref().kept(from, to) {
            return Ok(kept.to_vec());
        }
        use std::os::unix::fs::FileExt;
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                std::fs::File::open(self.range.path.as_ref()).map_err(|e| self.range.err(e))?,
            ),
        };
        let mut buf = vec![0u8; to.saturating_sub(from) as usize];
        file.read_exact_at(&mut buf, from)
            .map_err(|e| self.range.err(e))?;
        Ok(buf)
    }

    /// Parses `self.record`.
    fn parse(&mut self) -> std::result::Result<T, String>
    where
        T: DeserializeOwned,
    {
        if let Some(h) = &self.headers {
            if h.len() != self.record.len() {
                return Err(format!(
                    "expected {} fields (as in the header), found {}",
                    h.len(),
                    self.record.len()
                ));
            }
        }
        // Validated as UTF-8 once per record (not per field), moving the
        // record's buffers rather than copying them.
        match csv::StringRecord::from_byte_record(std::mem::take(&mut self.record)) {
            Ok(text) => {
                let parsed =
                    text.deserialize::<T>(self.headers.as_ref())
                        .map_err(|e| match e.kind() {
                            csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
                            _ => e.to_string(),
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

    /// A dead letter for `span`, whose `line` counts from the range's first
    /// byte; `scanned` if the fallback scanner read it. A record read by the
    /// csv reader has its content found here, after any empty lines.
    fn dead_letter(&mut self, span: &Span, error: String, scanned: bool) -> Result<DeadLetter> {
        let (from, to) = match span.kind {
            SpanKind::Record => (span.start, span.end),
            _ => (
                span.content,
                span.end.min(span.content + DEAD_LETTER_PREFIX as u64),
            ),
        };
        let mut raw = self.bytes(from, to, scanned)?;
        let mut line = span.line;
        if span.kind == SpanKind::Record {
            let skip = raw
                .iter()
                .position(|b| !matches!(b, b'\r' | b'\n'))
                .unwrap_or(raw.len());
            if !scanned {
                line += raw[..skip].iter().filter(|&&b| b == b'\n').count() as u64;
            }
            raw.drain(..skip);
            while let [.., b'\r' | b'\n'] = raw.as_slice() {
                raw.pop();
            }
        }
        Ok(DeadLetter {
            raw,
            location: RecordLocation::File {
                path: self.range.path.display().to_string(),
                line: self.lines.line(line - 1),
            },
            error,
        })
    }

    /// Reads the record starting at `start` (on line `line` of the csv
    /// reader) with the scanner, and starts the csv reader again after it.
    /// The span's line counts from the range's first byte.
    fn scan_from(&mut self, start: u64, line: u64) -> Result<Option<Span>> {
        let mut s = scanner(
            &self.range,
            start,
            self.dialect,
            self.max_record_bytes,
            true,
        )?;
        let span = s.next_span()?;
        let lines_to_start = self.line_base + line - 1;
        let resume = s.position();
        self.line_base = lines_to_start + s.line() - 1;
        self.rdr = csv_reader(&self.range, resume, self.dialect)?;
        self.base = resume;
        if let Some(Span {
            kind: SpanKind::Record,
            ..
        }) = span
        {
            self.record.clear();
            for field in s.fields() {
                self.record.push_field(field);
            }
        }
        self.fallback = Some(s);
        Ok(span.map(|sp| Span {
            line: lines_to_start + sp.line,
            ..sp
        }))
    }

    /// The next record, as a span with `self.record` filled for a
    /// [`SpanKind::Record`]; and whether the scanner read it.
    fn next_span(&mut self) -> Result<Option<(Span, bool)>> {
        if self.done {
            return Ok(None);
        }
        let at = self.rdr.position().clone();
        let start = self.base + at.byte();
        self.rdr.get_mut().limit = start
            .saturating_add(self.max_record_bytes)
            .saturating_add(READ_AHEAD);
        self.rdr.get_mut().release(start);
        let read = self.rdr.read_byte_record(&mut self.record);
        let end = self.base + self.rdr.position().byte();
        let fast = match read {
            Ok(true) => !self.rdr.get_ref().at_end && end - start <= self.max_record_bytes,
            Ok(false) => {
                self.done = true;
                return Ok(None);
            }
            Err(e) if is_past_limit(&e) => false,
            Err(e) => return Err(csv_err(&self.range, e)),
        };
        if fast {
            let span = Span {
                kind: SpanKind::Record,
                start,
                content: start,
                end,
                line: self.line_base + at.line(),
            };
            return Ok(Some((span, false)));
        }
        match self.scan_from(start, at.line())? {
            Some(span) => Ok(Some((span, true))),
            None => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

impl<T: Element + DeserializeOwned> RecordReader<T> for CsvReader<T> {
    fn next_record(&mut self) -> Result<Option<std::result::Result<T, DeadLetter>>> {
        loop {
            let Some((span, scanned)) = self.next_span()? else {
                return Ok(None);
            };
            if !self.claim.owns(span.start) {
                self.done = true;
                return Ok(None);
            }
            if std::mem::take(&mut self.skip_header) {
                continue;
            }
            let out = match span.kind {
                SpanKind::Record => match self.parse() {
                    Ok(v) => Ok(v),
                    Err(error) => Err(self.dead_letter(&span, error, scanned)?),
                },
                _ => {
                    let error = describe_bad_span(&span, self.max_record_bytes);
                    Err(self.dead_letter(&span, error, true)?)
                }
            };
            return Ok(Some(out));
        }
    }
}
