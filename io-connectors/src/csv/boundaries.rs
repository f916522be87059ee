//! Where the records of a CSV file start, so that a range split at any byte
//! offset begins exactly where a sequential read would begin a record.
//!
//! A line break ends a record only outside quotes, and whether an offset is
//! inside a quoted field depends on everything before it. A file without the
//! quote character anywhere needs no more than the next line break that
//! follows a record's byte (a record's start is right after the line break
//! that ended the one before; empty lines belong to the record after them). Any other
//! file is scanned once, with the same [`RecordScanner`] its readers use, and
//! the first record start at or after every 64 KiB block is kept (16 bytes a
//! MiB); a boundary inside a block is found by scanning on from the block's.
//! The index is built when the first range that starts mid-file is opened,
//! once per file, and shared by every reader of the source in the process.

use super::scanner::{Dialect, RecordScanner, Reopen};
use crate::files::FileRange;
use beam_core::Result;
use std::collections::HashMap;
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Granularity of the index.
const BLOCK: u64 = 64 * 1024;

enum Index {
    /// The quote character never occurs: a line break right after a byte of
    /// a record (not after another line break, nor right after a byte-order
    /// mark of `bom` bytes) ends it.
    NoQuotes { len: u64, bom: u64 },
    /// `starts[k]` is the first record start at or after byte `k * BLOCK`
    /// (the file's length where there is none).
    Blocks { starts: Vec<u64>, len: u64 },
}

type Key = (PathBuf, u8, u8, u64);
/// A file's index, built by whichever reader needs it first.
type Slot = Arc<Mutex<Option<Arc<Index>>>>;

/// The record-start indexes of the files one CSV source reads.
#[derive(Default)]
pub(crate) struct Boundaries {
    files: Mutex<HashMap<Key, Slot>>,
}

impl std::fmt::Debug for Boundaries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Boundaries")
    }
}

pub(crate) fn reopen_of(range: &FileRange) -> Reopen {
    let range = range.clone();
    Box::new(move |at| range.open_at(at))
}

impl Boundaries {
    /// The first record start at or after byte `at` of `range`'s file (the
    /// file's length if none); `at` itself when it is 0.
    pub(crate) fn record_start(
        &self,
        range: &FileRange,
        at: u64,
        dialect: Dialect,
        max_record_bytes: u64,
    ) -> Result<u64> {
        if at == 0 {
            return Ok(0);
        }
        let index = self.index(range, dialect, max_record_bytes)?;
        match &*index {
            Index::NoQuotes { len, bom } => {
                if at >= *len {
                    return Ok(*len);
                }
                // A record starts after a line break `t >= at - 1` whose byte
                // before is a record's: read from `at - 2` for that byte.
                let from = at.saturating_sub(2);
                let mut input = range.open_at(from)?;
                let (mut pos, mut prev_is_break) = (from, true);
                loop {
                    let buf = input.fill_buf().map_err(|e| range.err(e))?;
                    if buf.is_empty() {
                        return Ok(*len);
                    }
                    for &b in buf {
                        let is_break = matches!(b, b'\r' | b'\n');
                        if is_break && !prev_is_break && pos + 1 >= at && pos > *bom {
                            return Ok(pos + 1);
                        }
                        prev_is_break = is_break;
                        pos += 1;
                    }
                    let n = buf.len();
                    input.consume(n);
                }
            }
            Index::Blocks { starts, len } => {
                if at >= *len {
                    return Ok(*len);
                }
                let from = starts[(at / BLOCK) as usize];
                if from >= at {
                    return Ok(from);
                }
                let mut scanner = RecordScanner::new(
                    dialect,
                    range.path.display().to_string().into(),
                    range.open_at(from)?,
                    from,
                    reopen_of(range),
                    max_record_bytes,
                    false,
                );
                while let Some(span) = scanner.next_span()? {
                    if span.start >= at {
                        return Ok(span.start);
                    }
                }
                Ok(*len)
            }
        }
    }

    fn index(
        &self,
        range: &FileRange,
        dialect: Dialect,
        max_record_bytes: u64,
    ) -> Result<Arc<Index>> {
        let key = (
            range.path.as_ref().clone(),
            dialect.delimiter,
            dialect.quote,
            max_record_bytes,
        );
        let slot = {
            let mut files = self.files.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(files.entry(key).or_default())
        };
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(index) = &*slot {
            return Ok(Arc::clone(index));
        }
        let index = Arc::new(build(range, dialect, max_record_bytes)?);
        *slot = Some(Arc::clone(&index));
        Ok(index)
    }
}

fn build(range: &FileRange, dialect: Dialect, max_record_bytes: u64) -> Result<Index> {
    let file = std::fs::File::open(range.path.as_ref()).map_err(|e| range.err(e))?;
    let len = file.metadata().map_err(|e| range.err(e))?.len();
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, file);
    let mut buf = vec![0u8; 256 * 1024];
    let mut has_quote = false;
    loop {
        let n = reader.read(&mut buf).map_err(|e| range.err(e))?;
        if n == 0 {
            break;
        }
        if memchr::memchr(dialect.quote, &buf[..n]).is_some() {
            has_quote = true;
            break;
        }
    }
    if !has_quote {
        let mut head = [0u8; 3];
        let mut file = std::fs::File::open(range.path.as_ref()).map_err(|e| range.err(e))?;
        let n = file.read(&mut head).map_err(|e| range.err(e))?;
        let bom = if n == 3 && head == *b"\xef\xbb\xbf" {
            3
        } else {
            0
        };
        return Ok(Index::NoQuotes { len, bom });
    }
    let mut scanner = RecordScanner::new(
        dialect,
        range.path.display().to_string().into(),
        range.open_at(0)?,
        0,
        reopen_of(range),
        max_record_bytes,
        false,
    );
    let mut starts = Vec::with_capacity((len / BLOCK + 2) as usize);
    while let Some(span) = scanner.next_span()? {
        while (starts.len() as u64) * BLOCK <= span.start {
            starts.push(span.start);
        }
    }
    while (starts.len() as u64) * BLOCK <= len {
        starts.push(len);
    }
    Ok(Index::Blocks { starts, len })
}
