//! Local files: glob expansion, compression by extension, byte ranges, and
//! line numbers for error and dead-letter locations.

use beam_core::{BeamError, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a file is compressed, decided by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes: splittable into byte ranges.
    Uncompressed,
    /// `.gz`: read whole by one reader (gzip streams cannot be entered mid-way).
    Gzip,
    /// `.zst` / `.zstd`: read whole by one reader.
    Zstd,
}

impl Compression {
    /// The compression a file name's extension implies.
    pub fn of_path(path: &Path) -> Compression {
        match path.extension().and_then(|e| e.to_str()) {
            Some("gz") => Compression::Gzip,
            Some("zst") | Some("zstd") => Compression::Zstd,
            _ => Compression::Uncompressed,
        }
    }
    /// Whether a file of this kind can be read as independent byte ranges.
    pub fn is_splittable(self) -> bool {
        self == Compression::Uncompressed
    }
}

/// Expands a file name or glob to the matching files, with their sizes, sorted by name.
///
/// A missing file or a glob matching nothing is an error naming the pattern.
pub fn expand_pattern(pattern: &str) -> Result<Vec<(PathBuf, u64)>> {
    let is_glob = pattern.contains(['*', '?', '[']);
    let paths: Vec<PathBuf> = if is_glob {
        let entries = glob::glob(pattern).map_err(|e| {
            BeamError::io(
                pattern,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
            )
        })?;
        let mut v = Vec::new();
        for e in entries {
            let path = e.map_err(|e| {
                BeamError::io(e.path().display().to_string(), std::io::Error::from(e))
            })?;
            if path.is_file() {
                v.push(path);
            }
        }
        v.sort();
        if v.is_empty() {
            return Err(BeamError::io(
                pattern,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no files match the pattern"),
            ));
        }
        v
    } else {
        vec![PathBuf::from(pattern)]
    };
    paths
        .into_iter()
        .map(|p| {
            let meta =
                std::fs::metadata(&p).map_err(|e| BeamError::io(p.display().to_string(), e))?;
            if !meta.is_file() {
                return Err(BeamError::io(
                    p.display().to_string(),
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
                ));
            }
            Ok((p, meta.len()))
        })
        .collect()
}

/// A byte range `[start, end)` of one file. Compressed files are only ever whole
/// (`start == 0`, `end` = the compressed length), and their positions count
/// decompressed bytes.
#[derive(Clone, Debug)]
pub struct FileRange {
    /// The file.
    pub path: Arc<PathBuf>,
    /// First byte of the range.
    pub start: u64,
    /// One past the last byte of the range (where a tracker may move it earlier
    /// while the range is read; see [`FileRange::claim`]).
    pub end: u64,
    /// The file's compression.
    pub compression: Compression,
    pub(crate) tracker: Option<Arc<RangeTracker>>,
}

/// How much of a range a reader claims at a time: a dynamic split never moves
/// the end before what was claimed.
const CLAIM_CHUNK: u64 = 64 * 1024;
/// Ranges with less unclaimed work than this are not split dynamically.
const MIN_DYNAMIC_SPLIT: u64 = 1 << 20;

/// The end of a range being read, shared by its reader and a runner that may
/// split off the unread rest (dynamic work rebalancing). The reader claims the
/// range in chunks; a split moves the end, but never before the claimed part.
#[derive(Debug)]
pub struct RangeTracker {
    state: std::sync::Mutex<TrackerState>,
}

#[derive(Debug)]
struct TrackerState {
    end: u64,
    claimed: u64,
}

impl RangeTracker {
    pub(crate) fn new(start: u64, end: u64) -> Arc<Self> {
        Arc::new(RangeTracker {
            state: std::sync::Mutex::new(TrackerState {
                end,
                claimed: start,
            }),
        })
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, TrackerState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Claims past `pos`: the new claimed limit, or `None` if `pos` is at or past the end.
    fn claim(&self, pos: u64) -> Option<u64> {
        let mut s = self.lock();
        if pos >= s.end {
            return None;
        }
        s.claimed = s.claimed.max((pos + CLAIM_CHUNK).min(s.end));
        Some(s.claimed)
    }
    /// Unclaimed bytes.
    pub fn remaining(&self) -> u64 {
        let s = self.lock();
        s.end.saturating_sub(s.claimed)
    }
    /// Keeps about `keep` of the unclaimed part and gives up the rest: returns the
    /// given-up byte range.
    pub fn split(&self, keep: f64) -> Option<(u64, u64)> {
        let mut s = self.lock();
        let left = s.end.saturating_sub(s.claimed);
        if left < MIN_DYNAMIC_SPLIT {
            return None;
        }
        let new_end = s.claimed + (left as f64 * keep.clamp(0.0, 1.0)) as u64;
        if new_end >= s.end {
            return None;
        }
        let old_end = std::mem::replace(&mut s.end, new_end);
        Some((new_end, old_end))
    }
}

/// A reader's view of which records of its range are its own; see [`FileRange::claim`].
#[derive(Debug)]
pub struct RangeClaim {
    tracker: Option<Arc<RangeTracker>>,
    end: u64,
    claimed: u64,
    whole: bool,
}

impl RangeClaim {
    /// Whether a record starting at byte `pos` belongs to this reader. Positions
    /// must be asked in increasing order; once false, it stays false.
    pub fn owns(&mut self, pos: u64) -> bool {
        if self.whole || pos < self.claimed {
            return true;
        }
        match &self.tracker {
            None => pos < self.end,
            Some(t) => match t.claim(pos) {
                Some(c) => {
                    self.claimed = c;
                    true
                }
                None => false,
            },
        }
    }
}

impl FileRange {
    /// The whole files matching `pattern`.
    pub fn whole_files(pattern: &str) -> Result<Vec<FileRange>> {
        Ok(expand_pattern(pattern)?
            .into_iter()
            .map(|(path, len)| FileRange {
                compression: Compression::of_path(&path),
                path: Arc::new(path),
                start: 0,
                end: len,
                tracker: None,
            })
            .collect())
    }

    /// Splits `ranges` into ranges of about `desired` bytes; compressed files stay whole.
    pub fn split_all(ranges: &[FileRange], desired: u64) -> Vec<FileRange> {
        let desired = desired.max(1);
        let mut out = Vec::new();
        for r in ranges {
            if !r.compression.is_splittable() {
                out.push(r.clone());
                continue;
            }
            let mut start = r.start;
            while start < r.end {
                let end = (start + desired).min(r.end);
                out.push(FileRange {
                    start,
                    end,
                    tracker: None,
                    ..r.clone()
                });
                start = end;
            }
        }
        out
    }

    /// A short description: `path[start..end)`.
    pub fn describe(&self) -> String {
        format!("{}[{}..{})", self.path.display(), self.start, self.end)
    }

    /// Opens the range for reading: uncompressed ranges that start mid-file are
    /// positioned at the first line starting inside the range (the line holding byte
    /// `start - 1` belongs to the previous range). Returns the reader and the byte
    /// position it is at.
    pub fn open_at_line(&self) -> Result<(Box<dyn BufRead + Send>, u64)> {
        let file = File::open(self.path.as_ref()).map_err(|e| self.err(e))?;
        match self.compression {
            Compression::Gzip => Ok((
                Box::new(BufReader::with_capacity(
                    256 * 1024,
                    flate2::read::MultiGzDecoder::new(BufReader::new(file)),
                )),
                0,
            )),
            Compression::Zstd => {
                let decoder = zstd::stream::read::Decoder::new(file).map_err(|e| self.err(e))?;
                Ok((Box::new(BufReader::with_capacity(256 * 1024, decoder)), 0))
            }
            Compression::Uncompressed => {
                let mut reader = BufReader::with_capacity(256 * 1024, file);
                let mut pos = self.start;
                if self.start > 0 {
                    reader
                        .seek(SeekFrom::Start(self.start - 1))
                        .map_err(|e| self.err(e))?;
                    let mut skipped = Vec::new();
                    let n = reader
                        .read_until(b'\n', &mut skipped)
                        .map_err(|e| self.err(e))?;
                    pos = self.start - 1 + n as u64;
                }
                Ok((Box::new(reader), pos))
            }
        }
    }

    /// Opens the file for reading at byte `offset` (of the decompressed data,
    /// for compressed files, which are decompressed from the start and skipped).
    pub fn open_at(&self, offset: u64) -> Result<Box<dyn BufRead + Send>> {
        if self.compression.is_splittable() {
            let file = File::open(self.path.as_ref()).map_err(|e| self.err(e))?;
            let mut reader = BufReader::with_capacity(256 * 1024, file);
            reader
                .seek(SeekFrom::Start(offset))
                .map_err(|e| self.err(e))?;
            return Ok(Box::new(reader));
        }
        let whole = FileRange {
            start: 0,
            tracker: None,
            ..self.clone()
        };
        let (mut reader, _) = whole.open_at_line()?;
        let skipped = std::io::copy(&mut (&mut reader).take(offset), &mut std::io::sink())
            .map_err(|e| self.err(e))?;
        if skipped < offset {
            return Err(self.err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("the data ends before byte {offset}"),
            )));
        }
        Ok(reader)
    }

    /// Which records of this range its reader owns: those starting before the
    /// end (every record of a compressed file). The end may move earlier while
    /// the range is read, when a runner splits off the rest.
    pub fn claim(&self) -> RangeClaim {
        RangeClaim {
            tracker: self.tracker.clone(),
            end: self.end,
            claimed: self.start,
            whole: !self.compression.is_splittable(),
        }
    }

    /// An I/O error naming this range's file.
    pub fn err(&self, e: std::io::Error) -> BeamError {
        BeamError::io(self.path.display().to_string(), e)
    }
}

/// Line numbers for records of a range that may start mid-file: the number of
/// lines before the range is counted only when first asked for (an error or a
/// dead-letter record), so clean reads never scan the file's prefix.
#[derive(Debug)]
pub struct LineNumbers {
    path: Arc<PathBuf>,
    range_first_byte: u64,
    lines_before_range: Option<u64>,
}

impl LineNumbers {
    /// Line numbers for a reader whose first line starts at byte `first_byte`.
    pub fn new(path: Arc<PathBuf>, first_byte: u64) -> Self {
        LineNumbers {
            lines_before_range: (first_byte == 0).then_some(0),
            path,
            range_first_byte: first_byte,
        }
    }

    /// The 1-based file line number of the line that is the `nth_in_range` (0-based)
    /// line of the range.
    pub fn line(&mut self, nth_in_range: u64) -> u64 {
        let before = *self
            .lines_before_range
            .get_or_insert_with(|| count_newlines(&self.path, self.range_first_byte).unwrap_or(0));
        before + nth_in_range + 1
    }
}

fn count_newlines(path: &Path, upto: u64) -> std::io::Result<u64> {
    let mut reader = File::open(path)?.take(upto);
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let got = reader.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += buf[..got].iter().filter(|&&b| b == b'\n').count() as u64;
    }
}
