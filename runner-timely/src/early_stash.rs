//! Input of a later checkpoint epoch that reaches a keyed operator before
//! the epoch it is in is complete: held until the operator has written its
//! part of that epoch. Held bundles stay in memory up to a bound per
//! operator; beyond it they go to an unnamed temporary file per epoch (gone
//! with the process, however it ends) and are read back in arrival order.
//!
//! Held bundles were taken off the operator's input, so its input frontier
//! no longer counts them: the stash keeps the least watermark epoch of the
//! times they arrived at, and the operator's input watermark may not pass it
//! until they are applied (else their windows would close, and their timers
//! fire, without them).

use beam_core::{BeamError, Result};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// How many bytes of early bundles a keyed operator holds in memory on one
/// worker before the rest go to disk.
pub(crate) const MEMORY_PER_OPERATOR: usize = 64 << 20;

/// The early bundles of one epoch: first those held in memory, then those
/// written to its file (once an epoch has a file, later bundles go there
/// too, so arrival order is kept).
#[derive(Default)]
struct Held {
    memory: Vec<Vec<u8>>,
    file: Option<BufWriter<File>>,
    /// The least watermark epoch of the times the bundles arrived at.
    least_time: Option<u64>,
}

/// The early bundles of a keyed operator, by epoch.
pub(crate) struct EarlyStash {
    epochs: BTreeMap<u64, Held>,
    in_memory: usize,
    limit: usize,
    dir: PathBuf,
    /// Bytes written to disk so far (a metric).
    pub(crate) spilled_bytes: u64,
}

fn io(what: &str, e: std::io::Error) -> BeamError {
    BeamError::Runner(format!("holding early input: {what}: {e}"))
}

impl EarlyStash {
    /// A stash holding up to `limit` bytes in memory, the rest in files in
    /// `dir`.
    pub(crate) fn new(dir: PathBuf, limit: usize) -> Self {
        EarlyStash {
            epochs: BTreeMap::new(),
            in_memory: 0,
            limit,
            dir,
            spilled_bytes: 0,
        }
    }

    /// Holds `bundle`, which arrived at watermark epoch `time`, until `epoch`
    /// is drained.
    pub(crate) fn hold(&mut self, epoch: u64, time: u64, bundle: Vec<u8>) -> Result<()> {
        let held = self.epochs.entry(epoch).or_default();
        held.least_time = Some(held.least_time.map_or(time, |t| t.min(time)));
        if held.file.is_none() && self.in_memory + bundle.len() <= self.limit {
            self.in_memory += bundle.len();
            held.memory.push(bundle);
            return Ok(());
        }
        let file = match &mut held.file {
            Some(f) => f,
            None => {
                let f = tempfile::tempfile_in(&self.dir)
                    .map_err(|e| io(&format!("a file in {}", self.dir.display()), e))?;
                held.file.insert(BufWriter::new(f))
            }
        };
        file.write_all(&(bundle.len() as u64).to_le_bytes())
            .and_then(|()| file.write_all(&bundle))
            .map_err(|e| io("writing", e))?;
        self.spilled_bytes += 8 + bundle.len() as u64;
        Ok(())
    }

    /// The earliest epoch with held bundles.
    pub(crate) fn first_epoch(&self) -> Option<u64> {
        self.epochs.keys().next().copied()
    }

    /// The latest epoch with held bundles.
    pub(crate) fn last_epoch(&self) -> Option<u64> {
        self.epochs.keys().next_back().copied()
    }

    /// The least watermark epoch at which a held bundle arrived: the
    /// operator's input watermark stays below it.
    pub(crate) fn least_time(&self) -> Option<u64> {
        self.epochs.values().filter_map(|h| h.least_time).min()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }

    /// Removes the bundles of `epoch`, handing each to `apply` in the order
    /// they arrived.
    pub(crate) fn drain(
        &mut self,
        epoch: u64,
        mut apply: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<()> {
        let Some(held) = self.epochs.remove(&epoch) else {
            return Ok(());
        };
        for bundle in held.memory {
            self.in_memory -= bundle.len();
            apply(&bundle)?;
        }
        let Some(writer) = held.file else {
            return Ok(());
        };
        let mut file = writer
            .into_inner()
            .map_err(|e| io("writing", e.into_error()))?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| io("reading back", e))?;
        let mut reader = BufReader::new(file);
        let mut len = [0u8; 8];
        let mut bundle = Vec::new();
        loop {
            match reader.read_exact(&mut len) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(io("reading back", e)),
            }
            bundle.resize(u64::from_le_bytes(len) as usize, 0);
            reader
                .read_exact(&mut bundle)
                .map_err(|e| io("reading back", e))?;
            apply(&bundle)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(stash: &mut EarlyStash, epoch: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        stash
            .drain(epoch, |b| {
                out.push(b.to_vec());
                Ok(())
            })
            .unwrap();
        out
    }

    #[test]
    fn bundles_beyond_the_bound_go_to_disk_and_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut stash = EarlyStash::new(dir.path().to_path_buf(), 10);
        let bundle = |i: u8| vec![i; 4];
        for i in 0..6 {
            stash
                .hold(3 + u64::from(i % 2), 10 + u64::from(i), bundle(i))
                .unwrap();
        }
        // 8 of the 10 bytes in memory (bundles 0 and 1); the rest on disk.
        assert_eq!(stash.in_memory, 8);
        assert_eq!(stash.spilled_bytes, 4 * 12);
        assert_eq!(
            (stash.first_epoch(), stash.last_epoch()),
            (Some(3), Some(4))
        );
        assert_eq!(stash.least_time(), Some(10));
        assert_eq!(drained(&mut stash, 3), [bundle(0), bundle(2), bundle(4)]);
        assert_eq!(stash.in_memory, 4);
        assert_eq!(stash.least_time(), Some(11), "epoch 4's least time");
        // Epoch 4 has a file: a bundle held now goes after the ones in it.
        stash.hold(4, 7, bundle(9)).unwrap();
        assert_eq!(stash.least_time(), Some(7));
        assert_eq!(
            drained(&mut stash, 4),
            [bundle(1), bundle(3), bundle(5), bundle(9)]
        );
        assert!(stash.is_empty());
        assert_eq!(stash.least_time(), None);
        assert_eq!(stash.in_memory, 0);
        assert!(drained(&mut stash, 5).is_empty());
    }
}
