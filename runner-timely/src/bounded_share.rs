//! A worker's share of a bounded root (Impulse, Create, or a bounded source's
//! splits), read a bundle at a time, with the position it reached: which part
//! of the share, and how many of that part's elements were emitted. A share
//! sought to a position skips what came before it, so a source operator
//! restored from a snapshot goes on where the snapshot was taken (the splits
//! of a source are the same on every run, and so are their elements' order).

use beam_core::graph::{Graph, Primitive};
use beam_core::source::{ErasedReader, ErasedSource};
use beam_core::{Batch, BeamError, Result, WindowedValue};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Elements per bundle read from a source.
const BUNDLE: usize = 4096;

/// How far a [`BoundedShare`] has read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SharePosition {
    /// The part being read (parts before it are done).
    pub(crate) part: usize,
    /// Elements of that part already emitted.
    pub(crate) emitted: u64,
}

enum Part {
    /// Elements held in the pipeline (Impulse, Create).
    Elements(Batch),
    /// One split of a bounded source.
    Split(Arc<dyn ErasedSource>),
}

/// This worker's share of a bounded root step.
pub(crate) struct BoundedShare {
    /// The step's name, for errors.
    #[cfg_attr(not(test), allow(dead_code))]
    step: String,
    parts: Vec<Part>,
    at: SharePosition,
    reader: Option<Box<dyn ErasedReader>>,
}

impl BoundedShare {
    /// Worker `index` of `peers`'s share of root step `t`: Create's elements
    /// in equal slices, a source's splits (about four per worker) in turn.
    pub(crate) fn new(graph: &Graph, t: usize, index: usize, peers: usize) -> Result<Self> {
        let node = &graph.transforms[t];
        let parts = match &node.primitive {
            Primitive::Impulse => (index == 0)
                .then(|| Part::Elements(Batch::new(vec![WindowedValue::in_global_window(())])))
                .into_iter()
                .collect(),
            Primitive::Create { values } => {
                let mut all = values.clone();
                let per = all.len().div_ceil(peers);
                let mine = if index * per >= all.len() {
                    all.empty_like()
                } else {
                    let mut tail = all.split_off(index * per);
                    let _ = tail.split_off(per.min(tail.len()));
                    tail
                };
                vec![Part::Elements(mine)]
            }
            Primitive::Read { source } => {
                let size = source.estimated_size_bytes()?;
                let desired = (size / (peers as u64 * 4)).max(64 * 1024);
                source
                    .split(desired)?
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| i % peers == index)
                    .map(|(_, s)| Part::Split(s))
                    .collect()
            }
            _ => {
                return Err(BeamError::Runner(format!(
                    "'{}' is not a bounded root step",
                    node.name
                )))
            }
        };
        Ok(BoundedShare {
            step: node.name.clone(),
            parts,
            at: SharePosition::default(),
            reader: None,
        })
    }

    /// Where the next bundle starts.
    // Read by source snapshots; the runner takes no checkpoints yet.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn position(&self) -> SharePosition {
        self.at
    }

    /// Moves to `to`, skipping what came before it. Fails if the share has
    /// fewer parts or elements than `to` says (the input changed).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn seek(&mut self, to: SharePosition) -> Result<()> {
        let lost = |what: String| {
            BeamError::Runner(format!(
                "'{}' cannot resume at part {} element {}: {what}",
                self.step, to.part, to.emitted
            ))
        };
        self.reader = None;
        self.at = SharePosition::default();
        if to.part > self.parts.len() || (to.part == self.parts.len() && to.emitted > 0) {
            return Err(lost(format!("the share has {} parts", self.parts.len())));
        }
        self.at.part = to.part;
        let mut left = to.emitted;
        match self.parts.get_mut(to.part) {
            None => {}
            Some(Part::Elements(b)) => {
                if left as usize > b.len() {
                    return Err(lost(format!("the part has {} elements", b.len())));
                }
                let rest = b.split_off(left as usize);
                *b = rest;
                self.at.emitted = left;
            }
            Some(Part::Split(s)) => {
                let mut reader = s.open()?;
                while left > 0 {
                    let want = left.min(BUNDLE as u64) as usize;
                    match reader.next_batch(want)? {
                        Some(b) => left -= (b.len() as u64).min(left),
                        None => {
                            return Err(lost(format!(
                                "{} ended {left} elements before it",
                                s.describe()
                            )))
                        }
                    }
                }
                self.reader = Some(reader);
                self.at.emitted = to.emitted;
            }
        }
        Ok(())
    }

    /// The next bundle (possibly empty), or `None` when the share is read.
    pub(crate) fn next_batch(&mut self) -> Option<Result<Batch>> {
        loop {
            let part = self.parts.get_mut(self.at.part)?;
            match part {
                Part::Elements(b) => {
                    let b = std::mem::replace(b, b.empty_like());
                    self.at = SharePosition {
                        part: self.at.part + 1,
                        emitted: 0,
                    };
                    return Some(Ok(b));
                }
                Part::Split(s) => {
                    if self.reader.is_none() {
                        match s.open() {
                            Ok(r) => self.reader = Some(r),
                            Err(e) => return Some(Err(e)),
                        }
                    }
                    let reader = self.reader.as_mut()?;
                    match reader.next_batch(BUNDLE) {
                        Ok(Some(b)) => {
                            self.at.emitted += b.len() as u64;
                            return Some(Ok(b));
                        }
                        Ok(None) => {
                            self.reader = None;
                            self.at = SharePosition {
                                part: self.at.part + 1,
                                emitted: 0,
                            };
                        }
                        Err(e) => return Some(Err(e)),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use beam_core::{BoundedSource, Create, Pipeline, PipelineOptions, Read, SourceReader};

    /// The numbers `start..end`, split into ranges of about the desired size.
    #[derive(Clone)]
    struct Numbers {
        start: u64,
        end: u64,
    }

    struct NumbersReader {
        next: u64,
        end: u64,
    }

    impl SourceReader<u64> for NumbersReader {
        fn read_batch(&mut self, out: &mut Vec<WindowedValue<u64>>, max: usize) -> Result<bool> {
            while self.next < self.end && out.len() < max {
                out.push(WindowedValue::in_global_window(self.next));
                self.next += 1;
            }
            Ok(self.next < self.end)
        }
    }

    impl BoundedSource for Numbers {
        type Output = u64;
        fn estimated_size_bytes(&self) -> Result<u64> {
            Ok((self.end - self.start) * 8)
        }
        fn split(&self, desired: u64) -> Result<Vec<Self>> {
            let step = (desired / 8).max(1);
            Ok((self.start..self.end)
                .step_by(step as usize)
                .map(|s| Numbers {
                    start: s,
                    end: (s + step).min(self.end),
                })
                .collect())
        }
        fn reader(&self) -> Result<Box<dyn SourceReader<u64>>> {
            Ok(Box::new(NumbersReader {
                next: self.start,
                end: self.end,
            }))
        }
        fn describe(&self) -> String {
            format!("Numbers({}..{})", self.start, self.end)
        }
    }

    fn numbers(b: &Batch) -> Vec<u64> {
        b.downcast_ref::<u64>()
            .expect("u64 bundles")
            .iter()
            .map(|wv| wv.value)
            .collect()
    }

    /// Reads the whole share, returning the elements and the position after
    /// each bundle.
    fn read_all(share: &mut BoundedShare) -> (Vec<u64>, Vec<SharePosition>) {
        let (mut all, mut positions) = (Vec::new(), Vec::new());
        while let Some(b) = share.next_batch() {
            all.extend(numbers(&b.unwrap()));
            positions.push(share.position());
        }
        (all, positions)
    }

    /// A pipeline reading 50 000 numbers from a source and 1 000 from Create.
    fn numbers_and_create() -> Graph {
        let p = Pipeline::new(PipelineOptions::default());
        let source = Numbers {
            start: 0,
            end: 50_000,
        };
        p.apply("Read", Read::from(source)).unwrap();
        p.apply("Create", Create::of((0..1000u64).collect::<Vec<_>>()))
            .unwrap();
        p.graph()
    }

    #[test]
    fn a_share_sought_to_a_position_reads_exactly_the_rest() {
        let graph = numbers_and_create();
        for t in 0..graph.transforms.len() {
            if !matches!(
                graph.transforms[t].primitive,
                Primitive::Read { .. } | Primitive::Create { .. }
            ) {
                continue;
            }
            for peers in 1..=3 {
                for index in 0..peers {
                    let mut straight = BoundedShare::new(&graph, t, index, peers).unwrap();
                    let (all, positions) = read_all(&mut straight);
                    let mut starts = vec![SharePosition::default()];
                    starts.extend(positions);
                    for at in starts {
                        let mut resumed = BoundedShare::new(&graph, t, index, peers).unwrap();
                        resumed.seek(at).unwrap();
                        let mut before = BoundedShare::new(&graph, t, index, peers).unwrap();
                        let mut prefix = Vec::new();
                        while before.position() != at {
                            prefix.extend(numbers(&before.next_batch().unwrap().unwrap()));
                        }
                        let (rest, _) = read_all(&mut resumed);
                        prefix.extend(rest);
                        assert_eq!(
                            prefix, all,
                            "step {t}, worker {index} of {peers}, at {at:?}"
                        );
                    }
                    // A position past the share's end is refused, naming the step.
                    let mut share = BoundedShare::new(&graph, t, index, peers).unwrap();
                    let end = SharePosition {
                        part: share.parts.len(),
                        emitted: 1,
                    };
                    let e = share.seek(end).unwrap_err().to_string();
                    assert!(e.contains(&graph.transforms[t].name), "{e}");
                }
            }
        }
    }

    #[test]
    fn a_position_inside_a_split_skips_that_many_elements() {
        let graph = numbers_and_create();
        let t = graph
            .transforms
            .iter()
            .position(|n| matches!(n.primitive, Primitive::Read { .. }))
            .unwrap();
        let mut straight = BoundedShare::new(&graph, t, 0, 1).unwrap();
        let (all, _) = read_all(&mut straight);
        assert_eq!(all.len(), 50_000);
        // Mid-bundle positions (not where a bundle ended) work too.
        let mut share = BoundedShare::new(&graph, t, 0, 1).unwrap();
        share
            .seek(SharePosition {
                part: 1,
                emitted: 1234,
            })
            .unwrap();
        let (rest, _) = read_all(&mut share);
        let first_split = 50_000 - rest.len() - 1234;
        assert_eq!(rest[0] as usize, first_split + 1234);
        assert_eq!(rest.last(), Some(&49_999));
        // More elements than the split holds: refused.
        let mut share = BoundedShare::new(&graph, t, 0, 1).unwrap();
        let e = share
            .seek(SharePosition {
                part: 0,
                emitted: 1_000_000,
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("ended") && e.contains("Numbers("), "{e}");
    }
}
