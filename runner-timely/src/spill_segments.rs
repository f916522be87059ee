//! Encoded segments of spilled grouping state on disk: each segment is
//! written once and read back once, at any time and in any order. They go
//! into unnamed temporary files (gone with the process, however it ends) of
//! up to [`FILE_BYTES`] each; a file is removed (or, the one being written,
//! emptied) once every segment in it has been read back, so the disk holds
//! about what is still to be read.

use beam_core::{BeamError, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Bytes written to a file before the next segment starts a new one.
const FILE_BYTES: u64 = 256 << 20;

/// Where a segment is: its file, offset and length.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Segment {
    file: usize,
    offset: u64,
    len: usize,
}

struct SegmentFile {
    file: File,
    /// Bytes written.
    end: u64,
    /// Segments written and not yet read back.
    live: usize,
}

/// The segments of one operator.
pub(crate) struct SegmentStore {
    /// The step whose state it holds, for errors.
    step: String,
    dir: PathBuf,
    files: Vec<Option<SegmentFile>>,
    /// The file being written.
    current: Option<usize>,
    /// Bytes written so far (a metric).
    pub(crate) written: u64,
}

impl SegmentStore {
    /// A store of `step`'s state writing its files in `dir`.
    pub(crate) fn new(step: &str, dir: PathBuf) -> Self {
        SegmentStore {
            step: step.to_string(),
            dir,
            files: Vec::new(),
            current: None,
            written: 0,
        }
    }

    /// An error of the step's spilling, naming the step and the directory.
    pub(crate) fn error(&self, what: &str, e: impl std::fmt::Display) -> BeamError {
        BeamError::Runner(format!(
            "'{}': spilling grouping state in {}: {what}: {e}",
            self.step,
            self.dir.display()
        ))
    }

    /// Writes `bytes` as a segment.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<Segment> {
        let full = |f: &Option<SegmentFile>| f.as_ref().is_none_or(|f| f.end >= FILE_BYTES);
        let index = match self.current {
            Some(i) if !full(&self.files[i]) => i,
            _ => {
                let file = tempfile::tempfile_in(&self.dir)
                    .map_err(|e| self.error("creating a file", e))?;
                let new = Some(SegmentFile {
                    file,
                    end: 0,
                    live: 0,
                });
                let i = match self.files.iter().position(Option::is_none) {
                    Some(i) => {
                        self.files[i] = new;
                        i
                    }
                    None => {
                        self.files.push(new);
                        self.files.len() - 1
                    }
                };
                // The last one is kept only while segments in it are live.
                if let Some(old) = self.current.replace(i) {
                    if self.files[old].as_ref().is_some_and(|f| f.live == 0) {
                        self.files[old] = None;
                    }
                }
                i
            }
        };
        let f = self.files[index]
            .as_ref()
            .expect("the current file is open");
        if let Err(e) = f.file.write_all_at(bytes, f.end) {
            return Err(self.error("writing", e));
        }
        let f = self.files[index]
            .as_mut()
            .expect("the current file is open");
        let segment = Segment {
            file: index,
            offset: f.end,
            len: bytes.len(),
        };
        f.end += bytes.len() as u64;
        f.live += 1;
        self.written += bytes.len() as u64;
        Ok(segment)
    }

    /// Reads `segment` back into `buf` (replacing its contents) and forgets
    /// it.
    pub(crate) fn take(&mut self, segment: Segment, buf: &mut Vec<u8>) -> Result<()> {
        let f = self.files[segment.file]
            .as_mut()
            .expect("a segment's file stays while it is live");
        buf.clear();
        buf.resize(segment.len, 0);
        let mut result = f
            .file
            .read_exact_at(buf, segment.offset)
            .map_err(|e| ("reading back", e));
        f.live -= 1;
        if f.live == 0 {
            if self.current == Some(segment.file) {
                if result.is_ok() {
                    result = f.file.set_len(0).map_err(|e| ("emptying a file", e));
                }
                f.end = 0;
            } else {
                self.files[segment.file] = None;
            }
        }
        result.map_err(|(what, e)| self.error(what, e))
    }

    /// Bytes on disk now.
    #[cfg(test)]
    fn on_disk(&self) -> u64 {
        self.files.iter().flatten().map(|f| f.end).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_come_back_in_any_order_and_their_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SegmentStore::new("Group", dir.path().to_path_buf());
        let segments: Vec<_> = (0..5u8)
            .map(|i| store.write(&vec![i; 10 + i as usize]).unwrap())
            .collect();
        assert_eq!(store.written, 60);
        let mut buf = Vec::new();
        for &i in &[3usize, 0, 4, 1] {
            store.take(segments[i], &mut buf).unwrap();
            assert_eq!(buf, vec![i as u8; 10 + i]);
        }
        assert_eq!(store.on_disk(), 60, "one segment is still live");
        store.take(segments[2], &mut buf).unwrap();
        assert_eq!(buf, vec![2; 12]);
        assert_eq!(store.on_disk(), 0, "the file is emptied");
        let again = store.write(b"again").unwrap();
        store.take(again, &mut buf).unwrap();
        assert_eq!(buf, b"again");
    }
}
