//! The input of the csv crate's reader in a range reader: it knows the file
//! offset of every byte it hands out, refuses to hand out bytes past a limit
//! (so a record longer than the maximum is never held in memory: the reader
//! then falls back to the [`RecordScanner`](super::scanner::RecordScanner)),
//! gives its first read a single byte where a byte-order mark must not be
//! stripped (csv-core strips one from the first input it sees), and keeps
//! what it handed out of data that cannot be read again at an offset
//! (compressed files), for dead letters.

use std::io::{BufRead, Read};

/// The error a read past the limit returns.
#[derive(Debug)]
pub(crate) struct PastLimit;

impl std::fmt::Display for PastLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("record longer than the limit")
    }
}

impl std::error::Error for PastLimit {}

/// Whether a csv error is a read past the limit.
pub(crate) fn is_past_limit(e: &csv::Error) -> bool {
    match e.kind() {
        csv::ErrorKind::Io(io) => io.get_ref().is_some_and(|inner| inner.is::<PastLimit>()),
        _ => false,
    }
}

pub(crate) struct Guarded {
    inner: Box<dyn BufRead + Send>,
    /// File offset of the next byte handed out.
    pos: u64,
    /// No byte at or past this offset is handed out.
    pub limit: u64,
    /// Whether the data has ended (a read found nothing more): after the
    /// csv reader returned a record, that record was ended by the end of the
    /// data rather than by a line break.
    pub at_end: bool,
    first_byte_only: bool,
    /// Bytes handed out from `kept_from` on, when kept.
    kept: Option<Vec<u8>>,
    kept_from: u64,
}

impl Guarded {
    /// Reads `inner`, which is at file offset `at`; `keep` keeps what is read.
    pub(crate) fn new(inner: Box<dyn BufRead + Send>, at: u64, keep: bool) -> Self {
        Guarded {
            inner,
            pos: at,
            limit: u64::MAX,
            at_end: false,
            first_byte_only: at > 0,
            kept: keep.then(Vec::new),
            kept_from: at,
        }
    }

    /// The kept bytes `[from, to)` (as many of them as are kept).
    pub(crate) fn kept(&self, from: u64, to: u64) -> Option<&[u8]> {
        let kept = self.kept.as_deref()?;
        let a = (from.saturating_sub(self.kept_from) as usize).min(kept.len());
        let b = (to.saturating_sub(self.kept_from) as usize).clamp(a, kept.len());
        Some(&kept[a..b])
    }

    /// Forgets kept bytes before `offset`, once there are enough of them.
    pub(crate) fn release(&mut self, offset: u64) {
        if let Some(kept) = &mut self.kept {
            let n = offset.saturating_sub(self.kept_from) as usize;
            if n > 1 << 20 {
                kept.drain(..n.min(kept.len()));
                self.kept_from += n as u64;
            }
        }
    }
}

impl Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos >= self.limit {
            return Err(std::io::Error::other(PastLimit));
        }
        let room = usize::try_from(self.limit - self.pos).unwrap_or(usize::MAX);
        let mut n = buf.len().min(room);
        if std::mem::take(&mut self.first_byte_only) {
            n = n.min(1);
        }
        let got = self.inner.read(&mut buf[..n])?;
        if got == 0 && n > 0 {
            self.at_end = true;
        }
        if let Some(kept) = &mut self.kept {
            kept.extend_from_slice(&buf[..got]);
        }
        self.pos += got as u64;
        Ok(got)
    }
}
