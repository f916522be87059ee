//! A grouping table kept within a share of `--memory-budget`: when its
//! state passes the share, every window's accumulators leave memory as
//! encoded partials on disk (see [`GroupingTable::evict`]), and come back,
//! part by part, just before the input watermark passes their window's end.
//!
//! Only for groupings whose state before the end of a window is its
//! accumulator alone ([`GroupingKernel::evictable`]): windows that do not
//! merge, fired once when the watermark passes their end, with no allowed
//! lateness. The panes are the ones the table would have given in memory.
//!
//! On the first eviction, when a window's state is large, the keys are split
//! into [`PARTS`] tables, so that what comes back at once is a part's state
//! of the windows that close. A
//! move of the input watermark goes straight to a part with nothing on disk
//! before it; the others catch up in steps ([`Keyed::work`]), a few
//! segments at a time (each holds windows in order of their end), each
//! segment read back and then the part's watermark moved just past its first
//! window's end. Input for a part that is still behind
//! waits, with the watermark it arrived at, until the part gets there: it is
//! applied at the same watermark as in memory (so the same elements are
//! late).

use crate::operators::Keyed;
use crate::spill_segments::{Segment, SegmentStore};
use beam_core::batch::Batch;
use beam_core::kernel::{GroupingEnv, GroupingKernel, GroupingTable};
use beam_core::metrics::MetricsContainer;
use beam_core::{Duration, Result, Timestamp};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;

/// The tables a grouping's keys are split into once it spills.
pub(crate) const PARTS: usize = 32;

fn env(metrics: &mut MetricsContainer) -> GroupingEnv<'_> {
    GroupingEnv {
        metrics,
        checks: false,
    }
}

/// One part's table and what it has on disk or waiting.
struct Part {
    table: Box<dyn GroupingTable>,
    /// The input watermark the table is at.
    at: Timestamp,
    /// Input that came while the table was behind: the input watermark it
    /// came at, the batch and its estimated size.
    deferred: VecDeque<(Timestamp, Batch, usize)>,
    /// Its spilled partials: segments of windows in order of their end, by
    /// the first window's max timestamp.
    spilled: BTreeMap<Timestamp, Vec<Segment>>,
}

impl Part {
    fn new(table: Box<dyn GroupingTable>, at: Timestamp) -> Self {
        Part {
            table,
            at,
            deferred: VecDeque::new(),
            spilled: BTreeMap::new(),
        }
    }

    /// Whether the part can go straight to `wm`.
    fn can_move_to(&self, wm: Timestamp) -> bool {
        self.deferred.is_empty() && self.spilled.range(..wm).next().is_none()
    }
}

/// A grouping table that spills its state past a memory share.
pub(crate) struct SpillingTable {
    kernel: Arc<dyn GroupingKernel>,
    /// Whether its input is pre-combined partials.
    partials: bool,
    /// Bytes of state it keeps in memory.
    share: usize,
    /// One table, or [`PARTS`] from a first eviction of a large window.
    parts: Vec<Part>,
    store: SegmentStore,
    /// The input watermark.
    target: Timestamp,
    /// The processing time last seen.
    now: Option<Timestamp>,
    /// Input bytes added since memory was last looked at.
    since_check: usize,
    /// Bytes of deferred input.
    deferred_bytes: usize,
    /// Panes taken from tables that were replaced.
    output: VecDeque<Batch>,
    /// Whether it has evicted its state yet.
    evicted: bool,
    /// Spilled bytes already counted in the metrics.
    counted_spill: u64,
    buf: Vec<u8>,
}

impl SpillingTable {
    /// Wraps `table` (of `step`'s `kernel`, which must be evictable),
    /// keeping it within `share` bytes; spill files go in `dir`.
    pub(crate) fn new(
        step: &str,
        kernel: Arc<dyn GroupingKernel>,
        table: Box<dyn GroupingTable>,
        partials: bool,
        share: usize,
        dir: PathBuf,
    ) -> Self {
        debug_assert!(kernel.evictable());
        SpillingTable {
            kernel,
            partials,
            share: share.max(1),
            parts: vec![Part::new(table, Timestamp::MIN)],
            store: SegmentStore::new(step, dir),
            target: Timestamp::MIN,
            now: None,
            since_check: 0,
            deferred_bytes: 0,
            output: VecDeque::new(),
            evicted: false,
            counted_spill: 0,
            buf: Vec::new(),
        }
    }

    fn add_to(
        table: &mut dyn GroupingTable,
        partials: bool,
        batch: Batch,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        if partials {
            table.add_partials(batch, &mut env(metrics))
        } else {
            table.add(batch, &mut env(metrics))
        }
    }

    /// Evicts every table's state when the tables and the deferred input
    /// take more than the share.
    fn check_memory(&mut self, metrics: &mut MetricsContainer) -> Result<()> {
        let tables: usize = self.parts.iter().map(|p| p.table.estimated_bytes()).sum();
        // Deferred input cannot leave memory: tables far below the share
        // stay, so that they are not evicted again and again.
        if tables + self.deferred_bytes <= self.share || tables < self.share / 8 {
            return Ok(());
        }
        metrics.inc_counter("grouping_evictions", 1);
        if !self.evicted {
            self.evicted = true;
            self.first_eviction(metrics)?;
        } else {
            for i in 0..self.parts.len() {
                let evicted = self.parts[i].table.evict();
                for chunk in chunks(evicted, self.chunk_bytes()) {
                    self.spill(i, chunk)?;
                }
            }
        }
        let more = self.store.written - self.counted_spill;
        self.counted_spill = self.store.written;
        metrics.inc_counter("grouping_spilled_bytes", more as i64);
        Ok(())
    }

    /// The estimated memory of the partials written as one segment: small
    /// enough that a segment read back early holds little of windows that
    /// close later, large enough that many windows with little state each
    /// do not make a segment each.
    fn chunk_bytes(&self) -> usize {
        (self.share / 16).clamp(4 << 10, 1 << 20)
    }

    /// Evicts the one table. When a window's state is large, the keys are
    /// split into [`PARTS`] tables, so that what comes back when it closes is
    /// a part's; state spread over many small windows stays in one table
    /// (parts would repeat each window's map in every part).
    fn first_eviction(&mut self, metrics: &mut MetricsContainer) -> Result<()> {
        let mut old = self.parts.pop().expect("one table");
        while let Some(out) = old.table.take_output().filter(|b| !b.is_empty()) {
            self.output.push_back(out);
        }
        let evicted = old.table.evict();
        let largest = evicted.iter().map(|(_, b)| b.estimated_bytes()).max();
        if largest.unwrap_or(0) <= self.share / 8 {
            self.parts.push(old);
            for chunk in chunks(evicted, self.chunk_bytes()) {
                self.spill(0, chunk)?;
            }
            return Ok(());
        }
        for _ in 0..PARTS {
            let mut table = self.kernel.new_table();
            if old.at > Timestamp::MIN {
                table.advance_input_watermark(old.at, &mut env(metrics))?;
            }
            if let Some(now) = self.now {
                table.advance_processing_time(now, &mut env(metrics))?;
            }
            self.parts.push(Part::new(table, old.at));
        }
        for chunk in chunks(evicted, self.chunk_bytes() * PARTS) {
            let split = self.kernel.partition_partials(chunk, PARTS);
            for (i, part) in split.into_iter().enumerate() {
                self.spill(i, part)?;
            }
        }
        Ok(())
    }

    /// Writes part `i`'s partials to disk, as a segment to read back when the
    /// watermark reaches the first of their windows' ends.
    fn spill(&mut self, i: usize, batch: Batch) -> Result<()> {
        let Some(end) = batch.min_timestamp() else {
            return Ok(());
        };
        self.buf.clear();
        batch
            .encode(&mut self.buf)
            .map_err(|e| self.store.error("encoding", e))?;
        let segment = self.store.write(&self.buf)?;
        self.parts[i].spilled.entry(end).or_default().push(segment);
        Ok(())
    }

    /// Takes part `i` one step towards the input watermark; returns the
    /// memory of the state read back (estimated as in the table).
    fn step(&mut self, i: usize, metrics: &mut MetricsContainer) -> Result<usize> {
        let target = self.target;
        let part = &mut self.parts[i];
        let stop = part.deferred.front().map_or(target, |(at, _, _)| *at);
        if part.at >= stop {
            let (_, batch, bytes) = part.deferred.pop_front().expect("a deferred batch");
            self.deferred_bytes -= bytes;
            Self::add_to(&mut *part.table, self.partials, batch, metrics)?;
            return Ok(0);
        }
        let Some((&end, _)) = part
            .spilled
            .first_key_value()
            .filter(|(end, _)| **end < stop)
        else {
            part.table
                .advance_input_watermark(stop, &mut env(metrics))?;
            part.at = stop;
            return Ok(0);
        };
        for segment in part.spilled.remove(&end).unwrap_or_default() {
            self.store.take(segment, &mut self.buf)?;
            let batch = self
                .kernel
                .decode_partials(&self.buf)
                .map_err(|e| self.store.error("decoding what was read back", e))?;
            part.table.add_partials(batch, &mut env(metrics))?;
        }
        let read = part.table.estimated_bytes();
        // Just past the first window's end: it fires, with what stayed in
        // memory; windows of the segment that end later wait in the table.
        let next = end.plus(Duration::from_micros(1)).min(stop);
        if next > part.at {
            part.table
                .advance_input_watermark(next, &mut env(metrics))?;
            part.at = next;
        }
        Ok(read)
    }
}

/// Evicted partials (by window end, in order) as batches of whole windows,
/// several to a batch only while together they stay within `bytes` of
/// estimated memory (a batch comes back at its first window's end, with the
/// later windows in it).
fn chunks(evicted: Vec<(Timestamp, Batch)>, bytes: usize) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut current: Option<(Batch, usize)> = None;
    for (_, batch) in evicted {
        let size = batch.estimated_bytes();
        match &mut current {
            Some((chunk, filled)) if *filled + size <= bytes => {
                chunk.append(batch);
                *filled += size;
            }
            _ => {
                out.extend(current.take().map(|(chunk, _)| chunk));
                current = Some((batch, size));
            }
        }
    }
    out.extend(current.map(|(chunk, _)| chunk));
    out
}

impl Keyed for SpillingTable {
    fn add(&mut self, batch: Batch, metrics: &mut MetricsContainer) -> Result<()> {
        self.since_check += batch.estimated_bytes();
        let split = if self.parts.len() == 1 {
            vec![batch]
        } else if self.partials {
            self.kernel.partition_partials(batch, PARTS)
        } else {
            self.kernel.partition(batch, PARTS)
        };
        for (part, batch) in self.parts.iter_mut().zip(split) {
            if batch.is_empty() {
                continue;
            }
            if part.at < self.target {
                let bytes = batch.estimated_bytes();
                self.deferred_bytes += bytes;
                part.deferred.push_back((self.target, batch, bytes));
            } else {
                Self::add_to(&mut *part.table, self.partials, batch, metrics)?;
            }
        }
        if self.since_check >= self.share / 16 {
            self.since_check = 0;
            self.check_memory(metrics)?;
        }
        Ok(())
    }

    fn advance_input_watermark(
        &mut self,
        wm: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        self.target = self.target.max(wm);
        for part in &mut self.parts {
            if part.at < wm && part.can_move_to(wm) {
                part.table.advance_input_watermark(wm, &mut env(metrics))?;
                part.at = wm;
            }
        }
        Ok(())
    }

    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        self.now = Some(now);
        for part in &mut self.parts {
            part.table.advance_processing_time(now, &mut env(metrics))?;
        }
        Ok(())
    }

    fn output_watermark(&self) -> Timestamp {
        self.parts
            .iter()
            .map(|p| {
                let spilled = p.spilled.keys().next().copied().unwrap_or(Timestamp::MAX);
                p.table.output_watermark().min(spilled)
            })
            .min()
            .unwrap_or(Timestamp::MAX)
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.parts
            .iter()
            .filter_map(|p| p.table.next_processing_time())
            .min()
    }

    fn take_output(&mut self) -> Option<Batch> {
        if let Some(out) = self.output.pop_front() {
            return Some(out);
        }
        self.parts
            .iter_mut()
            .find_map(|p| p.table.take_output().filter(|b| !b.is_empty()))
    }

    fn snapshot(&self) -> Result<Vec<u8>> {
        Err(self.store.error(
            "checkpointing",
            "a grouping that spills to disk is not checkpointed",
        ))
    }

    fn has_work(&self) -> bool {
        self.parts.iter().any(|p| p.at < self.target)
    }

    /// Catches parts up, reading back about a quarter of the share at most;
    /// then looks at memory, since what came back with windows that close
    /// later stays.
    fn work(&mut self, metrics: &mut MetricsContainer) -> Result<()> {
        let limit = (self.share / 4).max(1 << 16);
        let mut read = 0;
        'parts: for i in 0..self.parts.len() {
            while self.parts[i].at < self.target {
                if read >= limit {
                    break 'parts;
                }
                read += self.step(i, metrics)?;
            }
        }
        self.check_memory(metrics)
    }
}
