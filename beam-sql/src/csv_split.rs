//! CSV text split into records, a batch at a time. A record on one line with
//! no quote and no carriage return is split on the delimiter with `memchr`;
//! every other record goes through `csv_core`'s reader, so quoted fields,
//! doubled quotes, fields across lines and CR or CRLF line ends read exactly
//! as the `csv` crate reads them (blank lines are skipped, as there).

use memchr::{memchr, memchr2, memchr2_iter, memchr_iter};
use std::io::Read;

/// The records of a batch: every field's bytes, one after another, and where
/// each field and each record ends.
#[derive(Default)]
pub(crate) struct TextRecords {
    bytes: Vec<u8>,
    /// Where, in `bytes`, each field starts and ends.
    starts: Vec<usize>,
    ends: Vec<usize>,
    /// The index in `ends` of each record's first field, and one past the
    /// last record's last field.
    firsts: Vec<usize>,
    /// The 1-based line of the input on which each record starts.
    lines: Vec<u64>,
}

impl TextRecords {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
        self.ends.clear();
        self.firsts.clear();
        self.lines.clear();
    }

    /// How many records there are.
    pub(crate) fn len(&self) -> usize {
        self.lines.len()
    }

    /// The line on which record `r` starts.
    pub(crate) fn line(&self, r: usize) -> u64 {
        self.lines[r]
    }

    /// How many fields record `r` has.
    #[inline]
    pub(crate) fn width(&self, r: usize) -> usize {
        self.end_of(r) - self.firsts[r]
    }

    /// Field `i` of record `r`.
    #[inline]
    pub(crate) fn field(&self, r: usize, i: usize) -> &[u8] {
        let (start, end) = self.span(r, i);
        &self.bytes[start..end]
    }

    /// Where field `i` of record `r` starts and ends in [`TextRecords::bytes`].
    #[inline]
    pub(crate) fn span(&self, r: usize, i: usize) -> (usize, usize) {
        self.field_span(self.firsts[r] + i)
    }

    /// Where the `f`th field of the batch starts and ends: field `i` of
    /// record `r` is the `r * width + i`th when every record has `width`.
    #[inline]
    pub(crate) fn field_span(&self, f: usize) -> (usize, usize) {
        (self.starts[f], self.ends[f])
    }

    /// All the records' bytes: their fields, and delimiters between some.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Record `r`'s fields joined by `delimiter`: what a dead letter shows.
    pub(crate) fn joined(&self, r: usize, delimiter: u8) -> Vec<u8> {
        let mut raw = Vec::new();
        for i in 0..self.width(r) {
            if i > 0 {
                raw.push(delimiter);
            }
            raw.extend_from_slice(self.field(r, i));
        }
        raw
    }

    #[inline]
    fn end_of(&self, r: usize) -> usize {
        self.firsts.get(r + 1).copied().unwrap_or(self.ends.len())
    }

    fn start_record(&mut self, line: u64) {
        self.firsts.push(self.ends.len());
        self.lines.push(line);
    }
}

/// Reads records from a byte stream that starts at a record.
pub(crate) struct RecordSplitter {
    input: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// The unread bytes are `buf[pos..len]`.
    pos: usize,
    len: usize,
    eof: bool,
    delimiter: u8,
    core: csv_core::Reader,
    core_out: Vec<u8>,
    core_ends: Vec<usize>,
    /// The 1-based line of the input at `pos`.
    line: u64,
    /// Where the next quote or carriage return at or after `pos` is (`len`
    /// if none is buffered), when known.
    special: Option<usize>,
    /// Whether the input's start was looked at for a byte-order mark.
    started: bool,
    /// Whether lines free of quotes and carriage returns may be split on
    /// the delimiter alone: not when the delimiter is a quote or a line end.
    plain: bool,
}

/// Bytes read from the input at a time, at least.
const READ_SIZE: usize = 1 << 20;

impl RecordSplitter {
    pub(crate) fn new(input: Box<dyn Read + Send>, delimiter: u8) -> RecordSplitter {
        let mut core = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
        // `csv_core` drops a UTF-8 byte-order mark from the first input it
        // is given; a blank line first makes that input, so that a record
        // read by it later keeps its bytes. The input's own mark is dropped
        // where the input starts.
        let _ = core.read_record(b"\n", &mut [0], &mut [0]);
        RecordSplitter {
            input,
            started: false,
            buf: vec![0; READ_SIZE],
            pos: 0,
            len: 0,
            eof: false,
            delimiter,
            core,
            core_out: vec![0; 1024],
            core_ends: vec![0; 64],
            line: 1,
            special: None,
            plain: !matches!(delimiter, b'"' | b'\r' | b'\n'),
        }
    }

    /// The line of the input the next record starts on (or after).
    pub(crate) fn line(&self) -> u64 {
        self.line
    }

    /// Appends up to `max` records to `out`; fewer only at the end of the
    /// input. On an I/O error, the records before it stay in `out`.
    pub(crate) fn read(&mut self, out: &mut TextRecords, max: usize) -> std::io::Result<()> {
        if !self.started {
            self.started = true;
            while self.len < 3 && self.refill()? {}
            if self.buf[..self.len].starts_with(b"\xef\xbb\xbf") {
                self.pos = 3;
            }
        }
        let goal = out.len() + max;
        while out.len() < goal {
            if self.plain {
                self.plain_lines(out, goal);
                if out.len() == goal {
                    break;
                }
            }
            if !self.next_record(out)? {
                break;
            }
        }
        Ok(())
    }

    /// Appends the whole lines from `pos` on, up to the next quote or
    /// carriage return, as records split on the delimiter, until `out` holds
    /// `goal` records. Their bytes are copied into `out` at once.
    fn plain_lines(&mut self, out: &mut TextRecords, goal: usize) {
        let special = match self.special {
            Some(s) if s >= self.pos => s,
            _ => {
                let unread = &self.buf[self.pos..self.len];
                let s = self.pos + memchr2(b'"', b'\r', unread).unwrap_or(unread.len());
                self.special = Some(s);
                s
            }
        };
        let start = self.pos;
        // Offsets in `buf` become offsets in `out.bytes` by this shift.
        let shift = out.bytes.len() as isize - start as isize;
        let at = |x: usize| (x as isize + shift) as usize;
        let (mut line_start, mut field_start, mut done) = (start, start, start);
        let mut record_first = out.starts.len();
        for hit in memchr2_iter(self.delimiter, b'\n', &self.buf[start..special]) {
            let x = start + hit;
            if self.buf[x] != b'\n' {
                out.starts.push(at(field_start));
                out.ends.push(at(x));
                field_start = x + 1;
                continue;
            }
            if x > line_start {
                out.starts.push(at(field_start));
                out.ends.push(at(x));
                out.firsts.push(record_first);
                out.lines.push(self.line);
                record_first = out.starts.len();
            }
            self.line += 1;
            line_start = x + 1;
            field_start = x + 1;
            done = x + 1;
            if out.len() == goal {
                break;
            }
        }
        // The fields of a line not ended before `special` are read again.
        out.starts.truncate(record_first);
        out.ends.truncate(record_first);
        out.bytes.extend_from_slice(&self.buf[start..done]);
        self.pos = done;
    }

    /// Reads more input after the unread bytes; false at the end of it.
    fn refill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        self.special = None;
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
        }
        if self.buf.len() - self.len < READ_SIZE / 2 {
            self.buf.resize(self.buf.len() + READ_SIZE, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends the next record to `out`; false at the end of the input.
    fn next_record(&mut self, out: &mut TextRecords) -> std::io::Result<bool> {
        // Line ends before a record are blank lines: skipped.
        loop {
            let unread = &self.buf[self.pos..self.len];
            let blank = unread
                .iter()
                .position(|b| *b != b'\n' && *b != b'\r')
                .unwrap_or(unread.len());
            self.line += memchr_iter(b'\n', &unread[..blank]).count() as u64;
            self.pos += blank;
            if self.pos < self.len {
                break;
            }
            if !self.refill()? {
                return Ok(false);
            }
        }
        let mut searched = 0;
        let newline = loop {
            let unread = &self.buf[self.pos + searched..self.len];
            if let Some(i) = memchr(b'\n', unread) {
                break Some(self.pos + searched + i);
            }
            searched = self.len - self.pos;
            if !self.refill()? {
                break None;
            }
        };
        let end = newline.unwrap_or(self.len);
        let mut text = &self.buf[self.pos..end];
        if memchr(b'"', text).is_some() {
            return self.core_record(out);
        }
        if text.ends_with(b"\r") {
            text = &text[..text.len() - 1];
        }
        if memchr(b'\r', text).is_some() {
            return self.core_record(out);
        }
        out.start_record(self.line);
        let base = out.bytes.len();
        out.bytes.extend_from_slice(text);
        out.starts.push(base);
        for i in memchr_iter(self.delimiter, text) {
            out.ends.push(base + i);
            out.starts.push(base + i + 1);
        }
        out.ends.push(base + text.len());
        self.pos = newline.map_or(end, |n| n + 1);
        self.line += 1;
        Ok(true)
    }

    /// Reads one record with `csv_core`, from `pos`, which starts a record
    /// that the delimiter alone cannot split.
    fn core_record(&mut self, out: &mut TextRecords) -> std::io::Result<bool> {
        use csv_core::ReadRecordResult as R;
        // The reader is not reset: the record before ended, so it is at a
        // record's start.
        let line = self.line;
        let (mut nout, mut nend) = (0, 0);
        loop {
            if self.pos == self.len {
                self.refill()?;
            }
            let input = &self.buf[self.pos..self.len];
            let (result, nin, o, e) = self.core.read_record(
                input,
                &mut self.core_out[nout..],
                &mut self.core_ends[nend..],
            );
            self.line += memchr_iter(b'\n', &input[..nin]).count() as u64;
            self.pos += nin;
            nout += o;
            nend += e;
            match result {
                R::InputEmpty => {}
                R::OutputFull => {
                    let n = self.core_out.len();
                    self.core_out.resize(n * 2, 0);
                }
                R::OutputEndsFull => {
                    let n = self.core_ends.len();
                    self.core_ends.resize(n * 2, 0);
                }
                R::Record => break,
                R::End => return Ok(false),
            }
        }
        out.start_record(line);
        let base = out.bytes.len();
        out.bytes.extend_from_slice(&self.core_out[..nout]);
        let mut start = base;
        for e in &self.core_ends[..nend] {
            out.starts.push(start);
            start = base + e;
            out.ends.push(start);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record as the `csv` crate reads it, with its line.
    fn by_csv_crate(text: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        r.byte_records()
            .map(|rec| rec.unwrap().iter().map(<[u8]>::to_vec).collect())
            .collect()
    }

    fn by_splitter(text: &[u8], batch: usize, chunk: usize) -> (Vec<Vec<Vec<u8>>>, Vec<u64>) {
        // A reader that returns a few bytes at a time, to cross refills.
        struct Dribble(Vec<u8>, usize, usize);
        impl Read for Dribble {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = buf.len().min(self.0.len() - self.1).min(self.2);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let mut s = RecordSplitter::new(Box::new(Dribble(text.to_vec(), 0, chunk)), b',');
        let (mut records, mut lines): (Vec<Vec<Vec<u8>>>, _) = (Vec::new(), Vec::new());
        let mut out = TextRecords::default();
        loop {
            out.clear();
            s.read(&mut out, batch).unwrap();
            if out.len() == 0 {
                break;
            }
            for r in 0..out.len() {
                records.push(
                    (0..out.width(r))
                        .map(|i| out.field(r, i).to_vec())
                        .collect(),
                );
                lines.push(out.line(r));
            }
        }
        (records, lines)
    }

    /// The 1-based line of each record's first byte: past the end of the
    /// record before it (as the `csv` crate's reader reports it) and the
    /// line ends of blank lines.
    fn true_lines(text: &[u8]) -> Vec<u64> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text);
        let mut rec = csv::ByteRecord::new();
        let mut lines = Vec::new();
        let mut at = 0usize;
        while r.read_byte_record(&mut rec).unwrap() {
            while at < text.len() && (text[at] == b'\n' || text[at] == b'\r') {
                at += 1;
            }
            lines.push(1 + text[..at].iter().filter(|b| **b == b'\n').count() as u64);
            at = r.position().byte() as usize;
        }
        lines
    }

    #[test]
    fn splits_as_the_csv_crate_does() {
        let cases: &[&[u8]] = &[
            b"a,b,c\n1,2,3\n",
            b"a,b\n\n\n1,2",
            b"a,b\r\n1,2\r\n\r\n3,4\r\n",
            b"x\ry\rz",
            b"\"q,1\",2\n\"multi\nline\",3\n4,\"a\"\"b\"\n",
            b",\n,,\n \n",
            b"a,\"b\nc\"\r\nd",
            b"\"unterminated,1\n2,3\n",
            b"a\"b,c\nd\n",
            b"\n\n",
            b"",
            b"1,2\r",
            b"\xef\xbb\xbfa,b\n1,2\n",
            b"a\n\xef\xbb\xbf\"q\",1\n\xef\xbb\xbfp,2\n",
        ];
        for text in cases {
            for (batch, chunk) in [(1, 7), (2, 3), (100, 7), (1, 4096), (100, 4096)] {
                let (records, lines) = by_splitter(text, batch, chunk);
                assert_eq!(
                    records,
                    by_csv_crate(text),
                    "{:?}",
                    String::from_utf8_lossy(text)
                );
                assert_eq!(
                    lines,
                    true_lines(text),
                    "{:?}",
                    String::from_utf8_lossy(text)
                );
            }
        }
    }

    #[test]
    fn long_quoted_fields_and_wide_records_split_as_the_csv_crate_does() {
        let long = "x".repeat(5000);
        let wide = vec!["\"w\""; 300].join(",");
        let text = format!("a,\"{long}\",b\n{wide}\n1,2\n\"{long}\n{long}\"\n").into_bytes();
        for (batch, chunk) in [(1, 7), (100, 4096), (100, 1 << 20)] {
            let (records, lines) = by_splitter(&text, batch, chunk);
            assert_eq!(records, by_csv_crate(&text));
            assert_eq!(lines, true_lines(&text));
            assert_eq!(records[1].len(), 300);
        }
    }

    #[test]
    fn random_text_splits_as_the_csv_crate_does() {
        // A small linear congruential generator: deterministic cases.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize
        };
        // Quotes and carriage returns often, seldom, or only in CRLF ends.
        let alphabets: [&[u8]; 3] = [b"ab,,\"\n\r 1", b"abcd,,,\n\n 12345\"", b"ab,\n\x00"];
        for case in 0..4000 {
            let alphabet = alphabets[case % 3];
            let n = next() % 80;
            let mut text: Vec<u8> = (0..n).map(|_| alphabet[next() % alphabet.len()]).collect();
            if case % 3 == 2 {
                text = text
                    .iter()
                    .flat_map(|b| {
                        if *b == b'\x00' {
                            b"\r\n".to_vec()
                        } else {
                            vec![*b]
                        }
                    })
                    .collect();
            }
            let chunk = [1, 7, 4096][next() % 3];
            let (records, lines) = by_splitter(&text, 1 + next() % 3, chunk);
            assert_eq!(
                records,
                by_csv_crate(&text),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
            assert_eq!(
                lines,
                true_lines(&text),
                "{:?}",
                String::from_utf8_lossy(&text)
            );
        }
    }
}
