//! The shuffle in front of a GroupByKey or Combine: hash buckets of encoded
//! batches, kept in memory while they fit the memory budget and spilled to
//! disk as runs when they do not.
//!
//! Each worker writes its share of the grouping's input (or, when the
//! combiner is lifted, its partial accumulators) into a [`ShuffleWriter`]: a
//! bucket per residue class of the key hash, holding length-prefixed encoded
//! batches (a quarter of the memory of the decoded elements, and an exact
//! measure of it). When the buffered bytes pass the worker's share of the
//! budget, the writer spills a run: one file holding every bucket's frames,
//! ordered by bucket, with the offsets of each bucket's segment. After the map side, [`ShuffleStore::gather`] merges the writers'
//! buckets; a bucket is then read back from memory or from its segment of
//! every run, fed to a grouping table and fired. A spilled bucket larger than
//! the reading worker's share is split again, by a finer residue class of the
//! same hash, before it is grouped, so that a grouping of any size completes
//! in bounded memory (unless a single key's values outgrow it).

use crate::spill::{io_error, SpillArea, SpillFile};
use beam_core::batch::BatchCodec;
use beam_core::graph::{Graph, Primitive};
use beam_core::kernel::{GroupingEnv, GroupingKernel};
use beam_core::{Batch, BeamError, MetricsContainer, Result, Timestamp};
use rayon::prelude::*;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

/// Sub-buckets a spilled bucket is split into when it is too big to group.
const FANOUT: usize = 16;
/// Past this modulus, buckets are not split further (a hot key).
const MAX_MODULUS: usize = 1 << 24;

/// What a shuffle carries and how to get it back from disk.
#[derive(Clone, Copy)]
pub(crate) struct ShuffleSpec<'a> {
    pub(crate) kernel: &'a dyn GroupingKernel,
    /// Codec of the grouping's input elements.
    pub(crate) input_codec: &'a dyn BatchCodec,
    /// Whether the shuffle carries partial accumulators (a lifted combine).
    pub(crate) partials: bool,
    pub(crate) spill: &'a SpillArea,
    /// The grouping's step, for errors.
    pub(crate) step: &'a str,
}

impl<'a> ShuffleSpec<'a> {
    /// The shuffle in front of grouping `g` of `graph`.
    pub(crate) fn of(graph: &'a Graph, spill: &'a SpillArea, g: usize, partials: bool) -> Self {
        let node = &graph.transforms[g];
        let (Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel }) =
            &node.primitive
        else {
            unreachable!("a shuffle feeds a grouping")
        };
        ShuffleSpec {
            kernel: kernel.as_ref(),
            input_codec: graph.pcollections[node.inputs[0]].codec.as_ref(),
            partials,
            spill,
            step: &node.name,
        }
    }

    fn partition(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        if self.partials {
            self.kernel.partition_partials(batch, parts)
        } else {
            self.kernel.partition(batch, parts)
        }
    }

    fn decode(&self, bytes: &[u8]) -> std::result::Result<Batch, String> {
        if self.partials {
            self.kernel.decode_partials(bytes)
        } else {
            self.input_codec.decode(bytes)
        }
    }
}

/// One bucket's part of a run file.
struct Segment {
    run: Arc<SpillFile>,
    offset: u64,
    len: u64,
}

impl Segment {
    /// Decodes the segment's batches one at a time into `f`.
    fn read(&self, spec: &ShuffleSpec<'_>, f: impl FnMut(Batch) -> Result<()>) -> Result<()> {
        let path = &self.run.path;
        let mut file = std::fs::File::open(path).map_err(|e| io_error(path, "open", e))?;
        file.seek(SeekFrom::Start(self.offset))
            .map_err(|e| io_error(path, "seek in", e))?;
        let reader = BufReader::with_capacity(1 << 20, file.take(self.len));
        read_frames(reader, self.len, spec, f).map_err(|e| match e {
            FrameError::Io(e) => io_error(path, "read", e),
            FrameError::Decode(at, e) => BeamError::Runner(format!(
                "spill file {} of '{}' is corrupt at byte {}: {e}",
                path.display(),
                spec.step,
                self.offset + at
            )),
            FrameError::Beam(e) => e,
        })
    }
}

enum FrameError {
    Io(std::io::Error),
    Decode(u64, String),
    Beam(BeamError),
}

/// Decodes `len` bytes of length-prefixed encoded batches from `reader` into `f`.
fn read_frames(
    mut reader: impl Read,
    len: u64,
    spec: &ShuffleSpec<'_>,
    mut f: impl FnMut(Batch) -> Result<()>,
) -> std::result::Result<(), FrameError> {
    let (mut pos, mut buf) = (0u64, Vec::new());
    while pos < len {
        let mut n = [0u8; 8];
        reader.read_exact(&mut n).map_err(FrameError::Io)?;
        let n = u64::from_le_bytes(n);
        buf.resize(n as usize, 0);
        reader.read_exact(&mut buf).map_err(FrameError::Io)?;
        let batch = spec.decode(&buf).map_err(|e| FrameError::Decode(pos, e))?;
        pos += 8 + n;
        f(batch).map_err(FrameError::Beam)?;
    }
    Ok(())
}

/// Decodes a bucket's in-memory frames into `f`.
fn read_memory(
    frames: &[u8],
    spec: &ShuffleSpec<'_>,
    f: impl FnMut(Batch) -> Result<()>,
) -> Result<()> {
    read_frames(frames, frames.len() as u64, spec, f).map_err(|e| match e {
        FrameError::Io(e) => {
            BeamError::Runner(format!("shuffle buffer of '{}' truncated: {e}", spec.step))
        }
        FrameError::Decode(at, e) => BeamError::Runner(format!(
            "shuffle buffer of '{}' corrupt at byte {at}: {e}",
            spec.step
        )),
        FrameError::Beam(e) => e,
    })
}

/// The data of one residue class of the key hash: encoded frames in memory
/// (one buffer per writer) and segments on disk.
pub(crate) struct Bucket {
    memory: Vec<Vec<u8>>,
    segments: Vec<Segment>,
    /// Estimated size of all of it once decoded.
    bytes: usize,
    /// The key hash modulus this bucket is one residue class of.
    modulus: usize,
}

impl Bucket {
    fn is_empty(&self) -> bool {
        self.memory.is_empty() && self.segments.is_empty()
    }
}

/// One worker's side of a shuffle.
pub(crate) struct ShuffleWriter<'a> {
    spec: ShuffleSpec<'a>,
    /// Input is partitioned `parts` ways; piece `i` goes to bucket `i / stride`.
    parts: usize,
    stride: usize,
    budget: usize,
    /// Encoded, length-prefixed batches per bucket.
    buckets: Vec<Vec<u8>>,
    /// Estimated decoded size of each bucket's buffered and spilled data.
    bytes: Vec<usize>,
    segments: Vec<Vec<Segment>>,
    buffered: usize,
    records: usize,
    runs: usize,
    disk_bytes: u64,
}

impl<'a> ShuffleWriter<'a> {
    /// A writer of `buckets` buckets that spills when it buffers more than `budget` encoded bytes.
    pub(crate) fn new(spec: ShuffleSpec<'a>, buckets: usize, budget: usize) -> Self {
        Self::with_layout(spec, buckets, 1, buckets, budget)
    }

    fn with_layout(
        spec: ShuffleSpec<'a>,
        parts: usize,
        stride: usize,
        buckets: usize,
        budget: usize,
    ) -> Self {
        ShuffleWriter {
            spec,
            parts,
            stride,
            budget,
            buckets: (0..buckets).map(|_| Vec::new()).collect(),
            bytes: vec![0; buckets],
            segments: (0..buckets).map(|_| Vec::new()).collect(),
            buffered: 0,
            records: 0,
            runs: 0,
            disk_bytes: 0,
        }
    }

    /// Adds a batch, spilling when the buffered data outgrows the budget.
    pub(crate) fn push(&mut self, batch: Batch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.records += batch.len();
        for (i, piece) in self
            .spec
            .partition(batch, self.parts)
            .into_iter()
            .enumerate()
        {
            if piece.is_empty() {
                continue;
            }
            let b = i / self.stride;
            let inline = piece.inline_bytes();
            let frames = &mut self.buckets[b];
            let start = frames.len();
            frames.extend_from_slice(&[0; 8]);
            piece.encode(frames).map_err(|e| {
                BeamError::Runner(format!("'{}' cannot encode its input: {e}", self.spec.step))
            })?;
            let n = (frames.len() - start - 8) as u64;
            frames[start..start + 8].copy_from_slice(&n.to_le_bytes());
            self.buffered += frames.len() - start;
            // Decoded size: the buffer plus, for what the elements own, their
            // encoding (which we have anyway; no per-element sampling).
            self.bytes[b] += inline + n as usize;
        }
        if self.buffered > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes everything buffered as one run.
    pub(crate) fn spill(&mut self) -> Result<()> {
        if self.buffered == 0 {
            return Ok(());
        }

        let file = self.spec.spill.new_file()?;
        let path = file.path.clone();
        let mut offsets = Vec::with_capacity(self.buckets.len());
        let mut pos = 0u64;
        {
            let mut out = BufWriter::with_capacity(1 << 20, &file.file);
            for frames in &mut self.buckets {
                offsets.push((pos, frames.len() as u64));
                out.write_all(frames)
                    .map_err(|e| io_error(&path, "write", e))?;
                pos += frames.len() as u64;
                frames.clear();
            }
            out.flush().map_err(|e| io_error(&path, "write", e))?;
        }
        let run = Arc::new(file);
        for (b, (offset, len)) in offsets.into_iter().enumerate() {
            if len > 0 {
                self.segments[b].push(Segment {
                    run: run.clone(),
                    offset,
                    len,
                });
            }
        }
        self.buffered = 0;
        self.runs += 1;
        self.disk_bytes += pos;
        Ok(())
    }

    fn into_buckets(self, modulus: usize) -> Vec<Bucket> {
        self.buckets
            .into_iter()
            .zip(self.segments)
            .zip(self.bytes)
            .map(|((frames, segments), bytes)| Bucket {
                memory: if frames.is_empty() {
                    Vec::new()
                } else {
                    vec![frames]
                },
                segments,
                bytes,
                modulus,
            })
            .collect()
    }
}

/// A grouping's whole input after the map side, bucket by bucket.
pub(crate) struct ShuffleStore {
    pub(crate) buckets: Vec<Bucket>,
    /// Records written.
    pub(crate) records: usize,
    /// Runs spilled, and their bytes on disk.
    pub(crate) runs: usize,
    pub(crate) disk_bytes: u64,
    /// Whether the buckets hold partial accumulators.
    pub(crate) partials: bool,
}

impl ShuffleStore {
    /// Merges the workers' writers. When any of them spilled, the others spill
    /// what they buffer too, so that grouping starts with nothing buffered.
    pub(crate) fn gather(writers: Vec<ShuffleWriter<'_>>) -> Result<Self> {
        let spilled = writers.iter().any(|w| w.runs > 0);
        let writers = if spilled {
            writers
                .into_par_iter()
                .map(|mut w| w.spill().map(|()| w))
                .collect::<Result<Vec<_>>>()?
        } else {
            writers
        };
        let mut store = ShuffleStore {
            buckets: Vec::new(),
            records: 0,
            runs: 0,
            disk_bytes: 0,
            partials: writers.first().is_some_and(|w| w.spec.partials),
        };
        for w in writers {
            store.records += w.records;
            store.runs += w.runs;
            store.disk_bytes += w.disk_bytes;
            let modulus = w.parts;
            let buckets = w.into_buckets(modulus);
            if store.buckets.is_empty() {
                store.buckets = buckets;
                continue;
            }
            for (into, b) in store.buckets.iter_mut().zip(buckets) {
                into.memory.extend(b.memory);
                into.segments.extend(b.segments);
                into.bytes += b.bytes;
            }
        }
        store.buckets.retain(|b| !b.is_empty());
        Ok(store)
    }
}

/// Groups one bucket: feeds a fresh table its batches and segments, fires it
/// at the end of time and passes the panes to `emit`. A spilled bucket whose
/// decoded size passes twice `budget` is first split into finer buckets, each
/// grouped in turn: twice, because the decoded estimate counts every
/// element's timestamp, window and pane, which a table does not keep per
/// value (a GroupByKey of `(u64, u64)` takes about a seventh of it).
pub(crate) fn fire_bucket(
    spec: ShuffleSpec<'_>,
    bucket: Bucket,
    budget: usize,
    metrics: &mut MetricsContainer,
    emit: &mut dyn FnMut(Batch) -> Result<()>,
) -> Result<()> {
    let Bucket {
        memory,
        segments,
        bytes,
        modulus,
    } = bucket;
    if bytes > 2 * budget && !segments.is_empty() && modulus <= MAX_MODULUS / FANOUT {
        let mut writer =
            ShuffleWriter::with_layout(spec, modulus * FANOUT, modulus, FANOUT, budget);
        for frames in memory {
            read_memory(&frames, &spec, |b| writer.push(b))?;
        }
        for segment in segments {
            segment.read(&spec, |b| writer.push(b))?;
        }
        writer.spill()?;
        metrics.inc_counter("resplit_buckets", 1);
        metrics.inc_counter("spilled_runs", writer.runs as i64);
        metrics.inc_counter("spilled_bytes", writer.disk_bytes as i64);
        for sub in writer.into_buckets(modulus * FANOUT) {
            if !sub.is_empty() {
                fire_bucket(spec, sub, budget, metrics, emit)?;
            }
        }
        return Ok(());
    }
    let mut table = spec.kernel.new_table();
    let mut env = GroupingEnv {
        metrics,
        checks: false,
    };
    let mut add = |b: Batch| {
        if spec.partials {
            table.add_partials(b, &mut env)
        } else {
            table.add(b, &mut env)
        }
    };
    for frames in memory {
        read_memory(&frames, &spec, &mut add)?;
    }
    for segment in segments {
        segment.read(&spec, &mut add)?;
    }
    table.advance_input_watermark(Timestamp::MAX, &mut env)?;
    match table.take_output() {
        Some(out) if !out.is_empty() => emit(out),
        _ => Ok(()),
    }
}
