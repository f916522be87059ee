//! The records of CSV data as byte spans: csv-core's parser driven over a
//! stream, with the two rules that keep malformed data bounded.
//!
//! Every reader of a CSV file, whatever range it reads, and the scan that
//! finds split boundaries, go through [`RecordScanner`], so they agree on
//! where every record starts by construction:
//!
//! - a record's *start* is where the parser begins reading it: right after
//!   the line break that ended the record before (so the empty lines csv-core
//!   skips before a record belong to it), the start of the data for the
//!   first; a scanner started at any record start is in the same state as
//!   one that read the data from its beginning, which is what makes a range
//!   that starts there read what a sequential read does (the csv crate's
//!   reader, started there, agrees: it reports the same record positions);
//! - a record longer than the maximum record size (from its start to the end
//!   of its line ending) is not kept: its fields are dropped as it is scanned
//!   and it is reported as [`SpanKind::TooLong`], covering the whole record;
//! - a quoted field still open at the end of the data (an unterminated quote)
//!   makes the record [`SpanKind::Unterminated`]: the record is its first
//!   line only, and scanning resumes on the next line, so one stray quote
//!   costs one record rather than the rest of the file.

use beam_core::Result;
use std::io::BufRead;

/// Opens the data at a byte offset (to resume after an unterminated quote).
pub(crate) type Reopen = Box<dyn Fn(u64) -> Result<Box<dyn BufRead + Send>> + Send>;

/// What a span of the data is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpanKind {
    /// A whole record; its fields are in [`RecordScanner::fields`] when copying.
    Record,
    /// A record longer than the limit (`end - start` bytes), skipped whole.
    TooLong,
    /// A record whose quoted field never closes: `start..end` is its first
    /// line, and scanning went on after it.
    Unterminated,
}

/// One record's place in the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// What it is.
    pub kind: SpanKind,
    /// Where the parser began reading it (see the module docs).
    pub start: u64,
    /// Offset of its first byte, after any empty lines.
    pub content: u64,
    /// Offset one past its last byte, line ending included.
    pub end: u64,
    /// Its first line, counted from the scanner's origin (1-based).
    pub line: u64,
}

/// How csv-core is configured, kept to rebuild the parser after recovery.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
}

impl Dialect {
    fn parser(&self) -> csv_core::Reader {
        csv_core::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .quote(self.quote)
            .build()
    }
}

/// The scanner's own read buffer: records are parsed from it in place, and
/// the underlying reader is called once per 256 KiB, not once per record.
struct Chunks {
    input: Box<dyn BufRead + Send>,
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Chunks {
    fn new(input: Box<dyn BufRead + Send>) -> Self {
        Chunks {
            input,
            data: vec![0; 256 * 1024].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    #[inline]
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.start == self.end {
            self.start = 0;
            self.end = loop {
                match self.input.read(&mut self.data) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            };
        }
        Ok(&self.data[self.start..self.end])
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.start += n;
    }
}

/// Drives csv-core over a stream and yields [`Span`]s.
pub(crate) struct RecordScanner {
    core: csv_core::Reader,
    dialect: Dialect,
    /// What is read, for errors (a file's path).
    name: std::sync::Arc<str>,
    input: Chunks,
    reopen: Reopen,
    /// Offset of the next unread byte.
    pos: u64,
    /// Line breaks skipped between records (csv-core counts the rest).
    skipped_lines: u64,
    /// Lines csv-core counted before its last reset.
    lines_before_reset: u64,
    /// csv-core strips a byte-order mark from the first input it is given;
    /// anywhere but at the data's start that would drop real bytes, so the
    /// first call then gets a single byte.
    guard_bom: bool,
    copy: bool,
    max_record_bytes: u64,
    out: Vec<u8>,
    out_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// Raw bytes of the record being read, for data that cannot be re-read.
    capture: Option<Vec<u8>>,
    done: bool,
}

impl RecordScanner {
    /// A scanner of `input`, which starts at byte `origin` of the data; the
    /// origin must be the data's start or a record start. With `copy`, the
    /// fields of each record are kept for [`fields`](Self::fields).
    pub(crate) fn new(
        dialect: Dialect,
        name: std::sync::Arc<str>,
        input: Box<dyn BufRead + Send>,
        origin: u64,
        reopen: Reopen,
        max_record_bytes: u64,
        copy: bool,
    ) -> Self {
        RecordScanner {
            core: dialect.parser(),
            dialect,
            name,
            input: Chunks::new(input),
            reopen,
            pos: origin,
            skipped_lines: 0,
            lines_before_reset: 0,
            guard_bom: origin > 0,
            copy,
            max_record_bytes: max_record_bytes.max(1),
            out: vec![0; if copy { 1024 } else { 64 * 1024 }],
            out_len: 0,
            ends: vec![0; 64],
            ends_len: 0,
            capture: None,
            done: false,
        }
    }

    /// Keeps the raw bytes of each record (up to the record limit), for
    /// data that cannot be read again at an offset.
    pub(crate) fn capture_raw(mut self) -> Self {
        self.capture = Some(Vec::new());
        self
    }

    /// Offset of the next unread byte: after a span, the next record's start.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// The raw bytes of the last record, if captured.
    pub(crate) fn captured(&self) -> Option<&[u8]> {
        self.capture.as_deref()
    }

    /// The fields of the last [`SpanKind::Record`] (when copying).
    pub(crate) fn fields(&self) -> impl Iterator<Item = &[u8]> {
        let ends = &self.ends[..self.ends_len];
        let out = &self.out[..self.out_len];
        ends.iter().scan(0usize, move |from, &end| {
            let field = &out[*from..end];
            *from = end;
            Some(field)
        })
    }

    /// The line the next unread byte is on, counted from the origin.
    pub(crate) fn line(&self) -> u64 {
        self.lines_before_reset + self.skipped_lines + self.core.line()
    }

    fn io_err(&self, e: std::io::Error) -> beam_core::BeamError {
        beam_core::BeamError::io(self.name.to_string(), e)
    }

    /// Skips line breaks before a record; false at the end of the data.
    fn skip_line_breaks(&mut self) -> Result<bool> {
        loop {
            let buf = match self.input.fill_buf() {
                Ok(buf) => buf,
                Err(e) => return Err(beam_core::BeamError::io(self.name.to_string(), e)),
            };
            if buf.is_empty() {
                return Ok(false);
            }
            let n = buf
                .iter()
                .position(|b| !matches!(b, b'\r' | b'\n'))
                .unwrap_or(buf.len());
            self.skipped_lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            self.input.consume(n);
            self.pos += n as u64;
            if n == 0 {
                return Ok(true);
            }
        }
    }

    /// Whether the record at `start..self.pos`, pending at the end of the data,
    /// is inside a quoted field there: a line break would not end it. (A line
    /// break outside quotes always ends a record, so one read last settles it;
    /// otherwise the record is parsed again with a line break after it.)
    fn ends_in_quoted_field(&self, start: u64, last_byte: u8) -> Result<bool> {
        use csv_core::ReadRecordResult as R;
        if matches!(last_byte, b'\r' | b'\n') {
            return Ok(true);
        }
        let mut input = (self.reopen)(start)?;
        let mut parser = self.dialect.parser();
        let (mut out, mut ends) = (vec![0u8; 64 * 1024], [0usize; 64]);
        let mut left = self.pos - start;
        let mut first = start > 0;
        while left > 0 {
            let buf = input.fill_buf().map_err(|e| self.io_err(e))?;
            if buf.is_empty() {
                break;
            }
            let take = (left as usize)
                .min(buf.len())
                .min(if first { 1 } else { usize::MAX });
            first = false;
            let mut chunk = &buf[..take];
            while !chunk.is_empty() {
                let (res, nin, ..) = parser.read_record(chunk, &mut out, &mut ends);
                if res == R::Record {
                    // Ended before the end of the data: not the same record.
                    return Ok(false);
                }
                chunk = &chunk[nin..];
            }
            left -= take as u64;
            input.consume(take);
        }
        loop {
            match parser.read_record(b"\n", &mut out, &mut ends).0 {
                R::OutputFull | R::OutputEndsFull => continue,
                res => return Ok(res != R::Record),
            }
        }
    }

    /// The next record's span, or `None` at the end of the data.
    pub(crate) fn next_span(&mut self) -> Result<Option<Span>> {
        use csv_core::ReadRecordResult as R;
        let begin = self.pos;
        if self.done || !self.skip_line_breaks()? {
            self.done = true;
            return Ok(None);
        }
        let start = self.pos;
        let line = self.line();
        self.out_len = 0;
        self.ends_len = 0;
        if let Some(c) = &mut self.capture {
            c.clear();
        }
        let mut copying = self.copy;
        let mut last_byte = 0u8;
        loop {
            let at_end = match self.input.fill_buf() {
                Ok(buf) => buf.is_empty(),
                Err(e) => return Err(beam_core::BeamError::io(self.name.to_string(), e)),
            };
            if at_end {
                let (res, _, _, nend) = self.core.read_record(
                    &[],
                    &mut self.out[self.out_len..],
                    &mut self.ends[self.ends_len..],
                );
                self.ends_len += nend;
                match res {
                    R::Record => {
                        if self.ends_in_quoted_field(start, last_byte)? {
                            return self.resume_after_first_line(begin, start, line).map(Some);
                        }
                        let too_long = self.pos - begin > self.max_record_bytes;
                        return Ok(Some(Span {
                            kind: if too_long {
                                SpanKind::TooLong
                            } else {
                                SpanKind::Record
                            },
                            start: begin,
                            content: start,
                            end: self.pos,
                            line,
                        }));
                    }
                    R::OutputEndsFull => {
                        if copying {
                            let n = self.ends.len() * 2;
                            self.ends.resize(n, 0);
                        } else {
                            self.ends_len = 0;
                        }
                        continue;
                    }
                    _ => {
                        self.done = true;
                        return Ok(None);
                    }
                }
            }
            let buf = self
                .input
                .fill_buf()
                .map_err(|e| beam_core::BeamError::io(self.name.to_string(), e))?;
            let input = if std::mem::take(&mut self.guard_bom) {
                &buf[..buf.len().min(1)]
            } else {
                buf
            };
            let (res, nin, nout, nend) = self.core.read_record(
                input,
                &mut self.out[self.out_len..],
                &mut self.ends[self.ends_len..],
            );
            if let Some(c) = &mut self.capture {
                if (c.len() as u64) < self.max_record_bytes {
                    c.extend_from_slice(&input[..nin]);
                }
            }
            if nin > 0 {
                last_byte = input[nin - 1];
            }
            self.input.consume(nin);
            self.pos += nin as u64;
            self.out_len += nout;
            self.ends_len += nend;
            let too_long = self.pos - begin > self.max_record_bytes;
            if too_long && copying {
                copying = false;
                self.out_len = 0;
                self.ends_len = 0;
                self.out.truncate(64 * 1024);
                self.out.shrink_to_fit();
                self.out.resize(64 * 1024, 0);
            }
            match res {
                R::Record => {
                    let kind = if too_long {
                        SpanKind::TooLong
                    } else {
                        SpanKind::Record
                    };
                    return Ok(Some(Span {
                        kind,
                        start: begin,
                        content: start,
                        end: self.pos,
                        line,
                    }));
                }
                R::End => {
                    self.done = true;
                    return Ok(None);
                }
                R::InputEmpty => {}
                R::OutputFull if copying => {
                    let n = self.out.len() * 2;
                    self.out.resize(n, 0);
                }
                R::OutputEndsFull if copying => {
                    let n = self.ends.len() * 2;
                    self.ends.resize(n, 0);
                }
                // Not keeping the fields: the buffers are scratch space.
                R::OutputFull | R::OutputEndsFull => {
                    self.out_len = 0;
                    self.ends_len = 0;
                }
            }
        }
    }

    /// An unterminated quote reached the end of the data: the record is its
    /// first line, and scanning resumes on the next one.
    fn resume_after_first_line(&mut self, begin: u64, start: u64, line: u64) -> Result<Span> {
        let mut input = (self.reopen)(start)?;
        let mut first_line_end = start;
        let mut newline = false;
        loop {
            let buf = input.fill_buf().map_err(|e| self.io_err(e))?;
            if buf.is_empty() {
                break;
            }
            match memchr::memchr2(b'\r', b'\n', buf) {
                Some(i) => {
                    first_line_end += i as u64;
                    newline = buf[i] == b'\n';
                    input.consume(i + 1);
                    break;
                }
                None => {
                    first_line_end += buf.len() as u64;
                    let n = buf.len();
                    input.consume(n);
                }
            }
        }
        let resume = if first_line_end < self.pos {
            first_line_end + 1
        } else {
            first_line_end
        };
        self.lines_before_reset = line - 1 + u64::from(newline);
        self.skipped_lines = 0;
        self.core = self.dialect.parser();
        self.input = Chunks::new(input);
        self.pos = resume;
        self.guard_bom = true;
        self.out_len = 0;
        self.ends_len = 0;
        if let Some(c) = &mut self.capture {
            let keep = (first_line_end - start) as usize;
            c.truncate(keep);
        }
        Ok(Span {
            kind: SpanKind::Unterminated,
            start: begin,
            content: start,
            end: first_line_end,
            line,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(data: &'static [u8], origin: u64, max: u64) -> Vec<(SpanKind, u64, u64, u64)> {
        let reopen: Reopen = Box::new(move |at| {
            Ok(Box::new(std::io::Cursor::new(&data[at as usize..])) as Box<dyn BufRead + Send>)
        });
        let input = reopen(origin).unwrap();
        let dialect = Dialect {
            delimiter: b',',
            quote: b'"',
        };
        let mut s = RecordScanner::new(dialect, "t".into(), input, origin, reopen, max, true);
        let mut out = Vec::new();
        while let Some(span) = s.next_span().unwrap() {
            out.push((span.kind, span.content, span.end, span.line));
        }
        out
    }

    use SpanKind::*;

    #[test]
    fn spans_start_after_line_breaks_and_end_after_their_own() {
        let spans = scan(b"a,b\r\n\r\n\"x\ny\",z\nlast", 0, 100);
        assert_eq!(
            spans,
            vec![(Record, 0, 4, 1), (Record, 7, 15, 3), (Record, 15, 19, 5)]
        );
        // From a record start, the same spans as the sequential scan.
        assert_eq!(
            scan(b"a,b\r\n\r\n\"x\ny\",z\nlast", 7, 100)[0],
            (Record, 7, 15, 1)
        );
    }

    #[test]
    fn long_records_are_skipped_whole_and_unterminated_quotes_cost_one_line() {
        let spans = scan(b"k\n0123456789\nok\n\"open\nnext\nlast\n", 0, 8);
        assert_eq!(
            spans,
            vec![
                (Record, 0, 2, 1),
                (TooLong, 2, 13, 2),
                (Record, 13, 16, 3),
                (Unterminated, 16, 21, 4),
                (Record, 22, 27, 5),
                (Record, 27, 32, 6),
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_is_dropped_only_at_the_start() {
        let data = b"\xef\xbb\xbfa\n\xef\xbb\xbfb\n";
        let reopen: Reopen = Box::new(move |at| {
            Ok(Box::new(std::io::Cursor::new(&data[at as usize..])) as Box<dyn BufRead + Send>)
        });
        let dialect = Dialect {
            delimiter: b',',
            quote: b'"',
        };
        let fields = |origin: u64| {
            let mut s = RecordScanner::new(
                dialect,
                "t".into(),
                reopen(origin).unwrap(),
                origin,
                Box::new(|_| unreachable!()),
                100,
                true,
            );
            s.next_span().unwrap().unwrap();
            s.fields().map(|f| f.to_vec()).collect::<Vec<_>>()
        };
        assert_eq!(fields(0), vec![b"a".to_vec()]);
        assert_eq!(fields(5), vec![b"\xef\xbb\xbfb".to_vec()]);
    }
}
