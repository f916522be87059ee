//! Reading files of records: a [`FileFormat`] parses the records of one byte
//! range; [`FileSource`] splits files into ranges and chains their readers;
//! [`ReadFiles`] is the transform every file connector returns.

use crate::files::{FileRange, LineNumbers, RangeTracker};
use crate::records::{
    ParsedRecords, ReadRecords, RecordLocation, RecordReader, RecordSource, RecordTimes,
    RecordsRead, ResidualSplit,
};
use beam_core::{Element, PBegin, PCollection, PTransform, Result, WindowedValue};
use std::io::BufRead;
use std::sync::Arc;

/// A file format: how to read the records of one [`FileRange`].
pub trait FileFormat: Clone + Send + Sync + 'static {
    /// The parsed record type.
    type Record: Element;
    /// Opens a reader of the records that start inside `range`.
    fn open_range(&self, range: &FileRange) -> Result<Box<dyn RecordReader<Self::Record>>>;
    /// Whether uncompressed files of this format may be split into byte ranges.
    fn splittable(&self) -> bool {
        true
    }
    /// The format's name, for descriptions.
    fn name(&self) -> &'static str;
}

/// The records of a set of file ranges in one format.
#[derive(Clone)]
pub struct FileSource<F> {
    format: F,
    ranges: Vec<FileRange>,
}

impl<F: FileFormat> FileSource<F> {
    /// Every record of the files matching `pattern`.
    pub fn new(pattern: &str, format: F) -> Result<Self> {
        Ok(FileSource {
            format,
            ranges: FileRange::whole_files(pattern)?,
        })
    }
}

impl<F: FileFormat> RecordSource for FileSource<F> {
    type Record = F::Record;
    fn estimated_size_bytes(&self) -> Result<u64> {
        Ok(self.ranges.iter().map(|r| r.end - r.start).sum())
    }
    fn split(&self, desired: u64) -> Result<Vec<Self>> {
        let ranges = if self.format.splittable() {
            FileRange::split_all(&self.ranges, desired)
        } else {
            self.ranges.clone()
        };
        Ok(ranges
            .into_iter()
            .map(|r| FileSource {
                format: self.format.clone(),
                ranges: vec![r],
            })
            .collect())
    }
    fn open(&self) -> Result<Box<dyn RecordReader<F::Record>>> {
        Ok(Box::new(ChainedReader {
            format: self.format.clone(),
            pending: self.ranges.iter().rev().cloned().collect(),
            current: None,
        }))
    }
    fn open_splittable(&self) -> Result<crate::records::SplittableReader<Self>> {
        match self.ranges.as_slice() {
            [one] if self.format.splittable() && one.compression.is_splittable() => {
                let tracker = RangeTracker::new(one.start, one.end);
                let tracked = FileRange {
                    tracker: Some(tracker.clone()),
                    ..one.clone()
                };
                let reader = ChainedReader {
                    format: self.format.clone(),
                    pending: vec![tracked],
                    current: None,
                };
                let split = FileRangeSplit {
                    tracker,
                    source: self.clone(),
                };
                Ok((Box::new(reader), Some(Arc::new(split))))
            }
            _ => Ok((self.open()?, None)),
        }
    }
    fn describe(&self) -> String {
        match self.ranges.as_slice() {
            [one] => format!("{} {}", self.format.name(), one.describe()),
            many => format!("{} ({} file ranges)", self.format.name(), many.len()),
        }
    }
}

/// Splits the unread rest of a one-range [`FileSource`] being read.
struct FileRangeSplit<F> {
    tracker: Arc<RangeTracker>,
    source: FileSource<F>,
}

impl<F: FileFormat> ResidualSplit<FileSource<F>> for FileRangeSplit<F> {
    fn remaining(&self) -> u64 {
        self.tracker.remaining()
    }
    fn split_remaining(&self, keep: f64) -> Option<FileSource<F>> {
        let (start, end) = self.tracker.split(keep)?;
        let range = self.source.ranges.first()?;
        Some(FileSource {
            format: self.source.format.clone(),
            ranges: vec![FileRange {
                start,
                end,
                tracker: None,
                ..range.clone()
            }],
        })
    }
}

struct ChainedReader<F: FileFormat> {
    format: F,
    pending: Vec<FileRange>,
    current: Option<Box<dyn RecordReader<F::Record>>>,
}

impl<F: FileFormat> RecordReader<F::Record> for ChainedReader<F> {
    fn next_record(
        &mut self,
    ) -> Result<Option<std::result::Result<F::Record, crate::records::DeadLetter>>> {
        loop {
            if let Some(cur) = &mut self.current {
                if let Some(r) = cur.next_record()? {
                    return Ok(Some(r));
                }
                self.current = None;
            }
            match self.pending.pop() {
                Some(range) => self.current = Some(self.format.open_range(&range)?),
                None => return Ok(None),
            }
        }
    }

    fn read_records(
        &mut self,
        out: &mut Vec<WindowedValue<F::Record>>,
        max: usize,
    ) -> Result<RecordsRead> {
        loop {
            if let Some(cur) = &mut self.current {
                match cur.read_records(out, max)? {
                    RecordsRead::End => self.current = None,
                    stopped => return Ok(stopped),
                }
            }
            match self.pending.pop() {
                Some(range) => self.current = Some(self.format.open_range(&range)?),
                None => return Ok(RecordsRead::End),
            }
        }
    }
}

/// Reads the records of files matching a pattern; malformed records fail the run
/// unless [`with_dead_letter`](Self::with_dead_letter) is used.
pub struct ReadFiles<F: FileFormat> {
    pub(crate) pattern: String,
    pub(crate) format: F,
    times: RecordTimes<F::Record>,
}

impl<F: FileFormat> ReadFiles<F> {
    /// Reads the files matching `pattern` (a path or a glob) in `format`.
    pub fn new(pattern: &str, format: F) -> Self {
        ReadFiles {
            pattern: pattern.to_string(),
            format,
            times: RecordTimes::default(),
        }
    }
    /// Routes malformed records to a dead-letter output instead of failing.
    /// Event times in the read ([`with_timestamps`](Self::with_timestamps))
    /// are not supported with it yet: such a pipeline is refused; assign
    /// the records' times with `WithTimestamps` after the read.
    pub fn with_dead_letter(self) -> ReadFilesWithDeadLetter<F> {
        ReadFilesWithDeadLetter(self)
    }
    /// Gives each record the event time `time` computes from it, as it is
    /// read; see [`beam_core::Read::with_timestamps`].
    pub fn with_timestamps(
        mut self,
        time: impl Fn(&F::Record) -> beam_core::Timestamp + Send + Sync + 'static,
    ) -> Self {
        self.times.with_timestamps(time);
        self
    }
    /// Declares how far out of event-time order the records are (the files
    /// are read in the order of their names, each from its start), so that
    /// streaming runners close windows while the files are read, as Flink's
    /// file source with a bounded-out-of-orderness watermark strategy does;
    /// see [`beam_core::Read::with_bounded_out_of_orderness`].
    pub fn with_bounded_out_of_orderness(mut self, bound: beam_core::Duration) -> Self {
        self.times.with_bound(bound);
        self
    }
}

impl<F: FileFormat> PTransform<PBegin> for ReadFiles<F> {
    type Output = PCollection<F::Record>;
    fn expand(self, input: &PBegin) -> Result<PCollection<F::Record>> {
        let source = FileSource::new(&self.pattern, self.format)?;
        ReadRecords {
            source,
            times: self.times,
        }
        .expand(input)
    }
}

/// [`ReadFiles`] with a dead-letter output.
pub struct ReadFilesWithDeadLetter<F: FileFormat>(ReadFiles<F>);

impl<F: FileFormat> PTransform<PBegin> for ReadFilesWithDeadLetter<F> {
    type Output = ParsedRecords<F::Record>;
    fn expand(self, input: &PBegin) -> Result<ParsedRecords<F::Record>> {
        self.0.times.refuse_with_dead_letter(&self.0.pattern)?;
        let source = FileSource::new(&self.0.pattern, self.0.format)?;
        ReadRecords::from(source).with_dead_letter().expand(input)
    }
}

/// The default longest record a text source reads: 64 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 64 << 20;

/// How much of a record too long to read is kept for its dead letter.
pub const TOO_LONG_PREFIX: usize = 4096;

/// The lines of one file range, endings (`\n` or `\r\n`) removed, with their
/// locations: the building block of line-oriented formats. A line longer than
/// the maximum record size is not held in memory: only its first
/// [`TOO_LONG_PREFIX`] bytes are returned, and
/// [`next_line_checked`](Self::next_line_checked) gives its length.
pub struct LineReader {
    reader: Box<dyn BufRead + Send>,
    range: FileRange,
    claim: crate::files::RangeClaim,
    pos: u64,
    index_in_range: u64,
    lines: LineNumbers,
    buf: Vec<u8>,
    exhausted: bool,
    max_record_bytes: u64,
}

impl LineReader {
    /// Opens `range` at its first line.
    pub fn open(range: &FileRange) -> Result<Self> {
        let (reader, pos) = range.open_at_line()?;
        Ok(LineReader {
            reader,
            lines: LineNumbers::new(Arc::clone(&range.path), pos),
            claim: range.claim(),
            range: range.clone(),
            pos,
            index_in_range: 0,
            buf: Vec::with_capacity(256),
            exhausted: false,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        })
    }

    /// Lines longer than `bytes` (without their ending) are too long.
    pub fn with_max_record_bytes(mut self, bytes: u64) -> Self {
        self.max_record_bytes = bytes.max(1);
        self
    }

    /// A dead letter for the line last returned, too long to read.
    pub fn too_long_dead_letter(&mut self, raw: &[u8], length: u64) -> crate::records::DeadLetter {
        crate::records::DeadLetter {
            raw: raw.to_vec(),
            location: self.location(),
            error: format!(
                "a line of {length} bytes, longer than the limit of {} bytes (with_max_record_bytes); its first {} bytes are kept",
                self.max_record_bytes,
                raw.len()
            ),
        }
    }

    /// The next line of the range, or `None` at its end (a line longer than
    /// the maximum record size is then its first bytes).
    pub fn next_line(&mut self) -> Result<Option<&[u8]>> {
        Ok(self.next_line_checked()?.map(|(line, _)| line))
    }

    /// The next line of the range with, if it was longer than the maximum
    /// record size, its length (the line is then its first bytes).
    pub fn next_line_checked(&mut self) -> Result<Option<(&[u8], Option<u64>)>> {
        if self.exhausted || !self.claim.owns(self.pos) {
            return Ok(None);
        }
        self.buf.clear();
        // Bytes of the line (ending included) consumed, and whether it ended.
        let (mut n, mut ended, mut crlf) = (0u64, false, false);
        let mut last = 0u8;
        let keep_at_most = self.max_record_bytes.saturating_add(2);
        while !ended {
            let avail = self.reader.fill_buf().map_err(|e| self.range.err(e))?;
            if avail.is_empty() {
                break;
            }
            let take = match memchr::memchr(b'\n', avail) {
                Some(i) => {
                    ended = true;
                    crlf = if i > 0 {
                        avail[i - 1] == b'\r'
                    } else {
                        last == b'\r'
                    };
                    i + 1
                }
                None => avail.len(),
            };
            last = avail[take - 1];
            let room = keep_at_most.saturating_sub(self.buf.len() as u64) as usize;
            self.buf.extend_from_slice(&avail[..take.min(room)]);
            self.reader.consume(take);
            n += take as u64;
        }
        if n == 0 {
            self.exhausted = true;
            return Ok(None);
        }
        self.index_in_range += 1;
        self.pos += n;
        let length = n - u64::from(ended) - u64::from(crlf);
        if length > self.max_record_bytes {
            self.buf
                .truncate(TOO_LONG_PREFIX.min(self.max_record_bytes as usize));
            return Ok(Some((&self.buf, Some(length))));
        }
        let mut line: &[u8] = &self.buf;
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        Ok(Some((line, None)))
    }

    /// Where the line last returned by [`next_line`](Self::next_line) is.
    pub fn location(&mut self) -> RecordLocation {
        RecordLocation::File {
            path: self.range.path.display().to_string(),
            line: self.lines.line(self.index_in_range.saturating_sub(1)),
        }
    }
}
