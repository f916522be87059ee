//! Parallel building blocks of the rayon runner: dealing work to workers,
//! partitioning by key and rebalancing.

use beam_core::{Batch, MetricsContainer};
use rayon::prelude::*;

/// Elements per batch read from a source.
pub(crate) const READ_BATCH: usize = 4096;

/// Deals `batches` round-robin into `parts` groups.
pub(crate) fn deal<T>(batches: Vec<T>, parts: usize) -> Vec<Vec<T>> {
    let mut groups: Vec<Vec<T>> = (0..parts.max(1)).map(|_| Vec::new()).collect();
    let n = groups.len();
    for (i, b) in batches.into_iter().enumerate() {
        groups[i % n].push(b);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

pub(crate) fn merge_metrics(parts: Vec<MetricsContainer>) -> MetricsContainer {
    let mut all = MetricsContainer::new();
    for m in parts {
        all.merge(m);
    }
    all
}

/// The same elements in `bundles` batches of nearly equal size.
pub(crate) fn rebalance(batches: Vec<Batch>, bundles: usize) -> Vec<Batch> {
    let mut iter = batches.into_iter();
    let Some(mut all) = iter.next() else {
        return Vec::new();
    };
    for b in iter {
        all.append(b);
    }
    let chunk = all.len().div_ceil(bundles.max(1)).max(1);
    let mut out = Vec::new();
    while all.len() > chunk {
        let tail = all.split_off(all.len() - chunk);
        out.push(tail);
    }
    out.push(all);
    out
}

/// Partitions every batch by key (in parallel) and gathers each partition's pieces.
pub(crate) fn shuffle(
    input: Vec<Batch>,
    parts: usize,
    partition: impl Fn(Batch, usize) -> Vec<Batch> + Sync,
) -> Vec<Vec<Batch>> {
    let pieces: Vec<Vec<Batch>> = input.into_par_iter().map(|b| partition(b, parts)).collect();
    let mut partitions: Vec<Vec<Batch>> = (0..parts).map(|_| Vec::new()).collect();
    for per_batch in pieces {
        for (i, piece) in per_batch.into_iter().enumerate() {
            if !piece.is_empty() {
                partitions[i % parts].push(piece);
            }
        }
    }
    partitions
}
