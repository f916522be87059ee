//! Parallel building blocks of the rayon runner: dealing work to workers,
//! partitioning by key and rebalancing.

use beam_core::{Batch, MetricsContainer};
use rayon::prelude::*;

/// Elements per batch read from a source, at most.
pub(crate) const READ_BATCH: usize = 4096;

/// The fewest elements per batch read from a source.
const MIN_READ_BATCH: usize = 64;

/// How many elements to read next from a source whose last `read` elements
/// became `handed_on` elements at the end of their fused chain: about
/// [`READ_BATCH`] of them. A chain that fans out (lines into words) then
/// reads smaller batches, so that a bundle's output stays in the cache
/// while the grouping or the shuffle takes it, instead of going through
/// memory between the chain and its consumer.
pub(crate) fn next_read_size(read: usize, handed_on: usize) -> usize {
    if handed_on <= read {
        return READ_BATCH;
    }
    (read.saturating_mul(READ_BATCH) / handed_on).clamp(MIN_READ_BATCH, READ_BATCH)
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fanning_out_chain_reads_smaller_batches_and_a_narrowing_one_full_batches() {
        assert_eq!(next_read_size(4096, 4096), READ_BATCH);
        assert_eq!(next_read_size(4096, 100), READ_BATCH);
        assert_eq!(next_read_size(0, 0), READ_BATCH);
        // Lines into about 12 words each.
        assert_eq!(next_read_size(4096, 49_152), 341);
        assert_eq!(next_read_size(341, 4092), 341);
        // A huge fan-out still reads something.
        assert_eq!(next_read_size(10, 10_000_000), MIN_READ_BATCH);
    }
}
