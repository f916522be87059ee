//! The reader of one range of a CSV file: record spans from the
//! [`RecordScanner`], owned by the range they start in, parsed into `T`s or
//! handed on as dead letters.

use super::boundaries::reopen_of;
use super::scanner::{Dialect, RecordScanner, Span, SpanKind};
use crate::files::{FileRange, LineNumbers, RangeClaim};
use crate::records::{DeadLetter, RecordLocation, RecordReader};
use beam_core::{BeamError, Element, Result};
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::sync::Arc;

/// How much of a record too long to keep is kept in its dead letter.
pub(crate) const DEAD_LETTER_PREFIX: usize = crate::file_read::TOO_LONG_PREFIX;

pub(crate) struct CsvReader<T> {
    scanner: RecordScanner,
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

impl<T> CsvReader<T> {
    pub(crate) fn open(
        range: &FileRange,
        start: u64,
        dialect: Dialect,
        headers: Option<csv::StringRecord>,
        max_record_bytes: u64,
    ) -> Result<Self> {
        Ok(CsvReader {
            scanner: scanner(range, start, dialect, max_record_bytes, true)?,
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

    /// The file bytes `[from, to)`: captured, or re-read from the file.
    fn bytes(&mut self, from: u64, to: u64) -> Result<Vec<u8>> {
        if let Some(captured) = self.scanner.captured() {
            let n = ((to - from) as usize).min(captured.len());
            return Ok(captured[..n].to_vec());
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

    fn parse(&mut self) -> std::result::Result<T, String>
    where
        T: DeserializeOwned,
    {
        self.record.clear();
        for field in self.scanner.fields() {
            self.record.push_field(field);
        }
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

    fn dead_letter(&mut self, span: &Span, error: String) -> Result<DeadLetter> {
        let to = match span.kind {
            SpanKind::Record => span.end,
            _ => span.end.min(span.content + DEAD_LETTER_PREFIX as u64),
        };
        let mut raw = self.bytes(span.content, to)?;
        if span.kind == SpanKind::Record {
            while let [.., b'\r' | b'\n'] = raw.as_slice() {
                raw.pop();
            }
        }
        Ok(DeadLetter {
            raw,
            location: RecordLocation::File {
                path: self.range.path.display().to_string(),
                line: self.lines.line(span.line - 1),
            },
            error,
        })
    }
}

impl<T: Element + DeserializeOwned> RecordReader<T> for CsvReader<T> {
    fn next_record(&mut self) -> Result<Option<std::result::Result<T, DeadLetter>>> {
        loop {
            let Some(span) = self.scanner.next_span()? else {
                return Ok(None);
            };
            if !self.claim.owns(span.start) {
                return Ok(None);
            }
            if std::mem::take(&mut self.skip_header) {
                continue;
            }
            let out = match span.kind {
                SpanKind::Record => match self.parse() {
                    Ok(v) => Ok(v),
                    Err(error) => Err(self.dead_letter(&span, error)?),
                },
                _ => {
                    let error = describe_bad_span(&span, self.max_record_bytes);
                    Err(self.dead_letter(&span, error)?)
                }
            };
            return Ok(Some(out));
        }
    }
}
