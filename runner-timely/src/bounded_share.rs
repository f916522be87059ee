//! A worker's share of a bounded root (Impulse, Create, or a bounded source's
//! splits), read a bundle at a time, with the position it reached: how many
//! elements of each of its parts were emitted, and which parts are done. A
//! root's parts are numbered over all workers and made for a fixed worker
//! count (the job's first run's, with checkpoints), so that a position taken
//! on one worker count can be spread over another: part `i` is read by
//! worker `i % workers`, and a share sought to a position skips what its
//! parts had emitted (the parts of a root are the same on every run, and so
//! are their elements' order).

use beam_core::graph::{Graph, Primitive};
use beam_core::source::{ErasedReader, ErasedSource};
use beam_core::{Batch, BeamError, Result, WindowedValue};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Elements per bundle read from a source.
const BUNDLE: usize = 4096;

/// The largest part of a read with an event-time watermark, in bytes.
const EVENT_TIME_PART_BYTES: u64 = 4 << 20;

/// How far shares have read their parts: for every part begun, its number
/// among the root's parts, the elements it emitted, and whether it is done.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SharePosition {
    pub(crate) parts: Vec<(usize, u64, bool)>,
}

enum Part {
    /// Elements held in the pipeline (Impulse, Create).
    Elements(Batch),
    /// One split of a bounded source.
    Split(Arc<dyn ErasedSource>),
}

/// One part of a share and how far it was read.
struct Progress {
    /// Its number among the root's parts.
    index: usize,
    part: Part,
    emitted: u64,
    done: bool,
    /// Elements to skip when the part is opened (what a restored position
    /// says it had emitted).
    skip: u64,
}

/// This worker's share of a bounded root step.
pub(crate) struct BoundedShare {
    /// The step's name, for errors.
    step: String,
    /// How many parts the root has (over all workers).
    total: usize,
    parts: Vec<Progress>,
    /// The part being read.
    current: usize,
    reader: Option<Box<dyn ErasedReader>>,
}

impl BoundedShare {
    /// Worker `index` of `peers`'s share of root step `t`, whose parts are
    /// made for `basis` workers: Create's elements in `basis` equal slices, a
    /// source's splits (about four per worker of `basis`), part `i` read by
    /// worker `i % peers`.
    pub(crate) fn new(
        graph: &Graph,
        t: usize,
        index: usize,
        peers: usize,
        basis: usize,
    ) -> Result<Self> {
        let node = &graph.transforms[t];
        let basis = basis.max(1);
        let all: Vec<Part> = match &node.primitive {
            Primitive::Impulse => vec![Part::Elements(Batch::new(vec![
                WindowedValue::in_global_window(()),
            ]))],
            Primitive::Create { values } => {
                let mut rest = values.clone();
                let per = rest.len().div_ceil(basis).max(1);
                let mut slices = Vec::new();
                while !rest.is_empty() {
                    let tail = rest.split_off(per.min(rest.len()));
                    slices.push(Part::Elements(std::mem::replace(&mut rest, tail)));
                }
                slices
            }
            Primitive::Read {
                source,
                out_of_orderness,
            } => {
                let size = source.estimated_size_bytes()?;
                let mut desired = (size / (basis as u64 * 4)).max(64 * 1024);
                // With an event-time watermark, the workers go through the
                // input's time together (part `i` on worker `i % peers`), so
                // windows close at the pace of the slowest: small parts keep
                // the time between the workers' positions, and the window
                // state it holds, small.
                if out_of_orderness.is_some() {
                    desired = desired.min(EVENT_TIME_PART_BYTES);
                }
                source
                    .split(desired)?
                    .into_iter()
                    .map(Part::Split)
                    .collect()
            }
            _ => {
                return Err(BeamError::Runner(format!(
                    "'{}' is not a bounded root step",
                    node.name
                )))
            }
        };
        let total = all.len();
        let parts = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % peers.max(1) == index)
            .map(|(i, part)| Progress {
                index: i,
                part,
                emitted: 0,
                done: false,
                skip: 0,
            })
            .collect();
        Ok(BoundedShare {
            step: node.name.clone(),
            total,
            parts,
            current: 0,
            reader: None,
        })
    }

    /// Has `monitor` count the bytes of the splits left to read (those not
    /// done) as planned, and what their readers read.
    pub(crate) fn watch(&mut self, monitor: &Arc<beam_core::monitoring::JobMonitor>, t: usize) {
        for p in self.parts.iter_mut().filter(|p| !p.done) {
            if let Part::Split(s) = &mut p.part {
                *s = monitor.watch_split(t, s.clone());
            }
        }
    }

    /// Where the share is: every part it began.
    pub(crate) fn position(&self) -> SharePosition {
        SharePosition {
            parts: self
                .parts
                .iter()
                .filter(|p| p.done || p.emitted > 0)
                .map(|p| (p.index, p.emitted, p.done))
                .collect(),
        }
    }

    /// Moves to `to` (a position of this share, or of the shares of another
    /// worker count: the entries of parts not in this share are ignored).
    /// Fails if `to` names a part the root does not have (the input changed);
    /// a part with fewer elements than `to` says fails when it is read.
    pub(crate) fn seek(&mut self, to: &SharePosition) -> Result<()> {
        self.reader = None;
        self.current = 0;
        for p in &mut self.parts {
            (p.emitted, p.done, p.skip) = (0, false, 0);
        }
        for &(index, emitted, done) in &to.parts {
            if index >= self.total {
                return Err(BeamError::Runner(format!(
                    "'{}' cannot resume part {index}: the step has {} parts",
                    self.step, self.total
                )));
            }
            if let Some(p) = self.parts.iter_mut().find(|p| p.index == index) {
                (p.emitted, p.done, p.skip) = (emitted, done, emitted);
            }
        }
        Ok(())
    }

    /// Marks every part of worker `worker` of `workers` done (that worker
    /// had read its whole share when the checkpoint was taken).
    pub(crate) fn finished_by(&mut self, worker: usize, workers: usize) {
        for p in &mut self.parts {
            if p.index % workers.max(1) == worker {
                p.done = true;
            }
        }
    }

    fn lost(&self, index: usize, what: String) -> BeamError {
        BeamError::Runner(format!(
            "'{}' cannot resume part {index}: {what}",
            self.step
        ))
    }

    /// The next bundle (possibly empty), or `None` when the share is read.
    pub(crate) fn next_batch(&mut self) -> Option<Result<Batch>> {
        loop {
            let i = self.current;
            let p = self.parts.get_mut(i)?;
            if p.done {
                self.current += 1;
                continue;
            }
            match &mut p.part {
                Part::Elements(b) => {
                    let mut b = std::mem::replace(b, b.empty_like());
                    if p.skip as usize > b.len() {
                        let (index, len, skip) = (p.index, b.len(), p.skip);
                        return Some(Err(
                            self.lost(index, format!("it has {len} elements, {skip} were emitted"))
                        ));
                    }
                    let rest = b.split_off(p.skip as usize);
                    p.emitted = p.skip + rest.len() as u64;
                    p.done = true;
                    self.current += 1;
                    return Some(Ok(rest));
                }
                Part::Split(s) => {
                    if self.reader.is_none() {
                        let mut reader = match s.open() {
                            Ok(r) => r,
                            Err(e) => return Some(Err(e)),
                        };
                        let mut left = p.skip;
                        while left > 0 {
                            let want = left.min(BUNDLE as u64) as usize;
                            match reader.next_batch(want) {
                                Ok(Some(b)) => left -= (b.len() as u64).min(left),
                                Ok(None) => {
                                    let (index, what) = (
                                        p.index,
                                        format!("{} ended {left} elements early", s.describe()),
                                    );
                                    return Some(Err(self.lost(index, what)));
                                }
                                Err(e) => return Some(Err(e)),
                            }
                        }
                        self.reader = Some(reader);
                    }
                    let reader = self.reader.as_mut()?;
                    match reader.next_batch(BUNDLE) {
                        Ok(Some(b)) => {
                            p.emitted += b.len() as u64;
                            return Some(Ok(b));
                        }
                        Ok(None) => {
                            self.reader = None;
                            p.done = true;
                            self.current += 1;
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
                    let share = || BoundedShare::new(&graph, t, index, peers, peers).unwrap();
                    let (all, positions) = read_all(&mut share());
                    let mut starts = vec![SharePosition::default()];
                    starts.extend(positions);
                    for at in starts {
                        let mut resumed = share();
                        resumed.seek(&at).unwrap();
                        let mut before = share();
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
                    // A part the root does not have is refused, naming the step.
                    let mut s = share();
                    let past = SharePosition {
                        parts: vec![(s.total, 1, false)],
                    };
                    let e = s.seek(&past).unwrap_err().to_string();
                    assert!(e.contains(&graph.transforms[t].name), "{e}");
                }
            }
        }
    }

    #[test]
    fn positions_of_two_workers_spread_over_three_and_one_read_every_element_once() {
        let graph = numbers_and_create();
        for t in 0..graph.transforms.len() {
            let mut everything = Vec::new();
            for index in 0..2 {
                let (all, _) = read_all(&mut BoundedShare::new(&graph, t, index, 2, 2).unwrap());
                everything.extend(all);
            }
            everything.sort();
            // Two workers read part of their shares (worker 1 all of it).
            let mut read = Vec::new();
            let mut merged = SharePosition::default();
            let mut finished = Vec::new();
            for (index, bundles) in [(0usize, 3usize), (1, usize::MAX)] {
                let mut share = BoundedShare::new(&graph, t, index, 2, 2).unwrap();
                let mut n = 0;
                while n < bundles {
                    match share.next_batch() {
                        Some(b) => read.extend(numbers(&b.unwrap())),
                        None => break,
                    }
                    n += 1;
                }
                if n < bundles {
                    finished.push(index);
                } else {
                    merged.parts.extend(share.position().parts);
                }
            }
            // Three workers, then one, go on from there.
            for new_peers in [3usize, 1] {
                let mut got = read.clone();
                for index in 0..new_peers {
                    let mut share = BoundedShare::new(&graph, t, index, new_peers, 2).unwrap();
                    share.seek(&merged).unwrap();
                    for &w in &finished {
                        share.finished_by(w, 2);
                    }
                    got.extend(read_all(&mut share).0);
                }
                got.sort();
                assert_eq!(got, everything, "step {t} on {new_peers} workers");
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
        let mut straight = BoundedShare::new(&graph, t, 0, 1, 1).unwrap();
        let (all, _) = read_all(&mut straight);
        assert_eq!(all.len(), 50_000);
        // Mid-bundle positions (not where a bundle ended) work too.
        let mut share = BoundedShare::new(&graph, t, 0, 1, 1).unwrap();
        share
            .seek(&SharePosition {
                parts: vec![(0, 0, true), (1, 1234, false)],
            })
            .unwrap();
        let (rest, _) = read_all(&mut share);
        let first_split = 50_000 - rest.len() - 1234;
        assert_eq!(rest[0] as usize, first_split + 1234);
        assert_eq!(rest.last(), Some(&49_999));
        // More elements than the split holds: refused when it is read.
        let mut share = BoundedShare::new(&graph, t, 0, 1, 1).unwrap();
        share
            .seek(&SharePosition {
                parts: vec![(0, 1_000_000, false)],
            })
            .unwrap();
        let e = share.next_batch().unwrap().unwrap_err().to_string();
        assert!(e.contains("ended") && e.contains("Numbers("), "{e}");
    }
}
