//! Snapshots of a stateful ParDo's processor: every key and window's state
//! cells (each in its own encoding) and timers, the watermarks, processing time
//! and outputs not yet taken. The DoFn instance itself is not part of it (as in
//! Beam, fields of a DoFn are not state); a restored processor is set up anew.

use super::StatefulRunner;
use crate::error::Result;
use crate::runner_support::snapshot;
use crate::state::{intern, KeyWindowState, StateCell, StatefulDoFn, TimerSpec};
use crate::time::Timestamp;
use crate::window::{Window, WindowedValue};
use serde::{Deserialize, Serialize};

/// Written from borrowed fields and read into owned ones (both encode identically).
#[derive(Serialize, Deserialize)]
struct ProcessorImage<Step, States, Out> {
    format: u32,
    step: Step,
    input_wm: Timestamp,
    output_wm: Timestamp,
    now: Timestamp,
    states: States,
    output: Out,
}

/// One key and window: its cells (id, encoding) and timers (id, spec).
type StateImage<K> = (K, Window, Vec<(String, Vec<u8>)>, Vec<(String, TimerSpec)>);

type OwnedImage<F> = ProcessorImage<
    String,
    Vec<StateImage<<F as StatefulDoFn>::Key>>,
    Vec<WindowedValue<<F as StatefulDoFn>::Out>>,
>;

/// Which keys a restore keeps.
type KeepKey<'a, K> = dyn Fn(&K) -> bool + 'a;

impl<F: StatefulDoFn> StatefulRunner<F> {
    pub(super) fn encode_snapshot(&self) -> Result<Vec<u8>> {
        let mut states = Vec::with_capacity(self.states.len());
        for ((k, w), s) in &self.states {
            let mut cells = Vec::with_capacity(s.cells.len());
            for (id, cell) in &s.cells {
                let bytes = cell
                    .encode()
                    .map_err(|m| snapshot::error(&self.step, format!("state '{id}': {m}")))?;
                cells.push((&**id, bytes));
            }
            let timers: Vec<(&str, TimerSpec)> =
                s.timers.iter().map(|(id, t)| (&**id, *t)).collect();
            states.push((k, w, cells, timers));
        }
        let image = ProcessorImage {
            format: snapshot::FORMAT,
            step: &*self.step,
            input_wm: self.input_wm,
            output_wm: self.output_wm,
            now: self.now,
            states,
            output: &self.output,
        };
        snapshot::encode(&self.step, &image)
    }

    /// Restores the keys that `keep` accepts (all without it) of the
    /// snapshots of processors of this step (each key in at most one of them).
    /// Watermarks are the least of the snapshots', as for grouping tables;
    /// processing time the latest. Outputs not yet taken belong to no key, so
    /// snapshots with some are restored only whole.
    pub(super) fn restore_keys(
        &mut self,
        snapshots: &[&[u8]],
        keep: Option<&KeepKey<'_, F::Key>>,
    ) -> Result<()> {
        let mut images = Vec::with_capacity(snapshots.len());
        for bytes in snapshots {
            images.push(snapshot::decode::<OwnedImage<F>>(&self.step, bytes)?);
        }
        (self.input_wm, self.output_wm, self.now) =
            snapshot::merged_times(images.iter().map(|i| (i.input_wm, i.output_wm, i.now)));
        self.states.clear();
        self.output.clear();
        for image in images {
            if keep.is_some() && !image.output.is_empty() {
                return Err(snapshot::error(
                    &self.step,
                    "a snapshot with outputs not yet taken cannot be split between workers",
                ));
            }
            let kept = image
                .states
                .into_iter()
                .filter(|(k, ..)| keep.is_none_or(|keep| keep(k)));
            for (k, w, cells, timers) in kept {
                let state = KeyWindowState {
                    cells: cells
                        .into_iter()
                        .map(|(id, bytes)| (intern(&id), StateCell::Encoded(bytes)))
                        .collect(),
                    timers: timers.into_iter().map(|(id, t)| (intern(&id), t)).collect(),
                };
                self.states.insert((k, w), state);
            }
            self.output.extend(image.output);
        }
        self.reindex();
        Ok(())
    }
}
