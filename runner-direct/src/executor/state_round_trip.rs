//! Under checks, every grouping table and stateful processor is replaced by
//! one restored from its own snapshot before each advance of its input
//! watermark, as a runner restoring a checkpoint would. A state type whose
//! encoding does not round-trip fails here, and a stateful DoFn keeping state
//! in its own fields (which no checkpoint carries) sees a fresh instance, set
//! up anew, as Beam allows a runner to do at any time.

use super::{Executor, TransformState};
use beam_core::graph::Primitive;
use beam_core::Result;

impl Executor {
    pub(super) fn round_trip_state(&mut self, t: usize) -> Result<()> {
        if !self.options.checks {
            return Ok(());
        }
        match (&self.graph.transforms[t].primitive, &mut self.states[t]) {
            (
                Primitive::GroupByKey { kernel } | Primitive::CombinePerKey { kernel },
                TransformState::Grouping(table),
            ) => {
                let snapshot = table.snapshot()?;
                *table = kernel.restore_table(&snapshot)?;
            }
            (Primitive::StatefulParDo { kernel }, TransformState::Stateful(processor, set_up)) => {
                let snapshot = processor.snapshot()?;
                let mut restored = kernel.restore(&snapshot)?;
                if *set_up {
                    processor.teardown()?;
                    restored.setup()?;
                }
                *processor = restored;
            }
            _ => {}
        }
        Ok(())
    }
}
