//! Reading files of records: a [`FileFormat`] parses the records of one byte
//! range; [`FileSource`] splits files into ranges and chains their readers;
//! [`ReadFiles`] is the transform every file connector returns.

use crate::files::{FileRange, LineNumbers, RangeTracker};
use crate::records::{
    ParsedRecords, ReadRecords, RecordLocation, RecordReader, RecordSource, ResidualSplit,
};
use beam_core::{Element, PBegin, PCollection, PTransform, Result};
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
}

/// Reads the records of files matching a pattern; malformed records fail the run
/// unless [`with_dead_letter`](Self::with_dead_letter) is used.
pub struct ReadFiles<F> {
    pub(crate) pattern: String,
    pub(crate) format: F,
}

impl<F: FileFormat> ReadFiles<F> {
    /// Reads the files matching `pattern` (a path or a glob) in `format`.
    pub fn new(pattern: &str, format: F) -> Self {
        ReadFiles {
            pattern: pattern.to_string(),
            format,
        }
    }
    /// Routes malformed records to a dead-letter output instead of failing.
    pub fn with_dead_letter(self) -> ReadFilesWithDeadLetter<F> {
        ReadFilesWithDeadLetter(self)
    }
}

impl<F: FileFormat> PTransform<PBegin> for ReadFiles<F> {
    type Output = PCollection<F::Record>;
    fn expand(self, input: &PBegin) -> Result<PCollection<F::Record>> {
        let source = FileSource::new(&self.pattern, self.format)?;
        ReadRecords::from(source).expand(input)
    }
}

/// [`ReadFiles`] with a dead-letter output.
pub struct ReadFilesWithDeadLetter<F>(ReadFiles<F>);

impl<F: FileFormat> PTransform<PBegin> for ReadFilesWithDeadLetter<F> {
    type Output = ParsedRecords<F::Record>;
    fn expand(self, input: &PBegin) -> Result<ParsedRecords<F::Record>> {
        let source = FileSource::new(&self.0.pattern, self.0.format)?;
        ReadRecords::from(source).with_dead_letter().expand(input)
    }
}

/// The lines of one file range, endings (`\n` or `\r\n`) removed, with their
/// locations: the building block of line-oriented formats.
pub struct LineReader {
    reader: Box<dyn BufRead + Send>,
    range: FileRange,
    claim: crate::files::RangeClaim,
    pos: u64,
    index_in_range: u64,
    lines: LineNumbers,
    buf: Vec<u8>,
    exhausted: bool,
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
        })
    }

    /// The next line of the range, or `None` at its end.
    pub fn next_line(&mut self) -> Result<Option<&[u8]>> {
        if self.exhausted || !self.claim.owns(self.pos) {
            return Ok(None);
        }
        self.buf.clear();
        let n = self
            .reader
            .read_until(b'\n', &mut self.buf)
            .map_err(|e| self.range.err(e))?;
        if n == 0 {
            self.exhausted = true;
            return Ok(None);
        }
        self.index_in_range += 1;
        self.pos += n as u64;
        let mut line: &[u8] = &self.buf;
        if let Some(rest) = line.strip_suffix(b"\n") {
            line = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        Ok(Some(line))
    }

    /// Where the line last returned by [`next_line`](Self::next_line) is.
    pub fn location(&mut self) -> RecordLocation {
        RecordLocation::File {
            path: self.range.path.display().to_string(),
            line: self.lines.line(self.index_in_range.saturating_sub(1)),
        }
    }
}
