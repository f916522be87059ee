//! What a ParDo with side inputs holds until they are complete: each side
//! input's bundles as they arrived from the exchange (still encoded, so they
//! are their own snapshot, and decoded once, when the views are built) and the
//! main-input bundles waiting, by epoch. A snapshot encodes both; restoring it
//! gives the same views and the same waiting bundles.

use crate::operators::Time;
use beam_core::batch::BatchCodec;
use beam_core::{Batch, BeamError, Result};
use serde::{Deserialize, Serialize};

/// The buffers of one ParDo on one worker.
#[derive(Default)]
pub(crate) struct SideBuffers {
    /// Per side input, its encoded bundles.
    sides: Vec<Vec<Vec<u8>>>,
}

/// The encoded form of [`SideBuffers`] and the waiting main-input bundles.
#[derive(Serialize, Deserialize)]
struct Image {
    step: String,
    sides: Vec<Vec<Vec<u8>>>,
    waiting: Vec<(Time, Vec<u8>)>,
}

impl SideBuffers {
    pub(crate) fn new(sides: usize) -> Self {
        SideBuffers {
            sides: vec![Vec::new(); sides],
        }
    }

    /// Keeps an encoded bundle of side input `i`.
    pub(crate) fn push(&mut self, i: usize, bytes: Vec<u8>) {
        self.sides[i].push(bytes);
    }

    /// Side input `i`'s bundles, decoded with `codec`.
    pub(crate) fn decoded(
        &self,
        i: usize,
        codec: &dyn BatchCodec,
    ) -> std::result::Result<Vec<Batch>, String> {
        self.sides[i]
            .iter()
            .map(|bytes| codec.decode(bytes))
            .collect()
    }

    /// Drops every kept bundle.
    pub(crate) fn clear(&mut self) {
        self.sides.iter_mut().for_each(Vec::clear);
    }

    /// Encodes the buffers and the `waiting` main-input bundles (with their
    /// epochs) of step `step`.
    pub(crate) fn snapshot<'a>(
        &self,
        step: &str,
        waiting: impl Iterator<Item = (Time, &'a Batch)>,
    ) -> Result<Vec<u8>> {
        let waiting = waiting
            .map(|(t, b)| {
                let mut bytes = Vec::new();
                b.encode(&mut bytes).map(|()| (t, bytes))
            })
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|e| snapshot_error(step, e))?;
        let image = Image {
            step: step.to_string(),
            sides: self.sides.clone(),
            waiting,
        };
        postcard::to_allocvec(&image).map_err(|e| snapshot_error(step, e))
    }

    /// The buffers and waiting bundles of a snapshot of step `step`, the
    /// bundles decoded with the main input's `codec`.
    pub(crate) fn restore(
        step: &str,
        bytes: &[u8],
        codec: &dyn BatchCodec,
    ) -> Result<(Self, Vec<(Time, Batch)>)> {
        let image: Image = postcard::from_bytes(bytes).map_err(|e| snapshot_error(step, e))?;
        if image.step != step {
            return Err(snapshot_error(
                step,
                format!("the snapshot is of step '{}'", image.step),
            ));
        }
        let waiting = image
            .waiting
            .into_iter()
            .map(|(t, b)| codec.decode(&b).map(|b| (t, b)))
            .collect::<std::result::Result<Vec<_>, String>>()
            .map_err(|e| snapshot_error(step, e))?;
        Ok((SideBuffers { sides: image.sides }, waiting))
    }
}

fn snapshot_error(step: &str, message: impl std::fmt::Display) -> BeamError {
    BeamError::Runner(format!("'{step}': side-input buffer snapshot: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use beam_core::{Create, Pipeline, PipelineOptions, WindowedValue};

    fn strings(b: &Batch) -> Vec<String> {
        b.downcast_ref::<String>()
            .expect("String bundles")
            .iter()
            .map(|wv| wv.value.clone())
            .collect()
    }

    #[test]
    fn a_restored_snapshot_gives_the_same_views_and_waiting_bundles() {
        let p = Pipeline::new(PipelineOptions::default());
        let words = p.apply("Words", Create::of(vec!["a".to_string()])).unwrap();
        let graph = p.graph();
        let codec = graph.pcollections[words.id()].codec.clone();
        let bundle = |xs: &[&str]| {
            Batch::new(
                xs.iter()
                    .map(|x| WindowedValue::in_global_window(x.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        let encoded = |b: &Batch| {
            let mut bytes = Vec::new();
            b.encode(&mut bytes).unwrap();
            bytes
        };
        let mut buffers = SideBuffers::new(2);
        buffers.push(0, encoded(&bundle(&["x", "y"])));
        buffers.push(1, encoded(&bundle(&["z"])));
        buffers.push(0, encoded(&bundle(&["w"])));
        let at = |e| timely::order::Product::new(1, e);
        let waiting = [(at(3), bundle(&["m1", "m2"])), (at(7), bundle(&["m3"]))];
        let bytes = buffers
            .snapshot("ParDo", waiting.iter().map(|(t, b)| (*t, b)))
            .unwrap();

        let (restored, back) = SideBuffers::restore("ParDo", &bytes, codec.as_ref()).unwrap();
        let back: Vec<(crate::operators::Time, Vec<String>)> =
            back.iter().map(|(t, b)| (*t, strings(b))).collect();
        assert_eq!(
            back,
            vec![
                (at(3), vec!["m1".into(), "m2".into()]),
                (at(7), vec!["m3".into()])
            ]
        );
        for (i, want) in [vec!["x", "y", "w"], vec!["z"]].iter().enumerate() {
            let got: Vec<String> = restored
                .decoded(i, codec.as_ref())
                .unwrap()
                .iter()
                .flat_map(strings)
                .collect();
            assert_eq!(&got, want);
            let original: Vec<String> = buffers
                .decoded(i, codec.as_ref())
                .unwrap()
                .iter()
                .flat_map(strings)
                .collect();
            assert_eq!(got, original);
        }

        // Another step's snapshot, or damaged bytes, are refused naming the step.
        let e = SideBuffers::restore("Other", &bytes, codec.as_ref())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("'Other'") && e.contains("'ParDo'"), "{e}");
        let e = SideBuffers::restore("ParDo", &bytes[..bytes.len() / 2], codec.as_ref())
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("'ParDo'"), "{e}");
    }
}
