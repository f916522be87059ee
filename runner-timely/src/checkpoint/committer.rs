//! Worker 0's committer: gathers every participant's acknowledgements and
//! publishes each checkpoint once the ack stream's frontier shows that all of
//! them have been sent.

use super::store::Manifest;
use super::{Ack, CheckpointRun};
use crate::operators::{checkpoint_epoch, Time};
use crate::worker::WorkerState;
use beam_core::monitoring::CheckpointOutcome;
use beam_core::{BeamError, MetricsContainer};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::builder_rc::OperatorBuilder;
use timely::dataflow::Stream;

/// Publishes the checkpoints acknowledged on `acks` by `participants`
/// ((step, worker) pairs), on worker 0 (every ack goes there).
pub(crate) fn committer<'s>(
    acks: Stream<'s, Time, Vec<Ack>>,
    participants: Vec<(usize, usize)>,
    run: Arc<CheckpointRun>,
    template: Manifest,
    state: Rc<WorkerState>,
) {
    let scope = acks.scope();
    let mut builder = OperatorBuilder::new("Checkpoints/Commit".into(), scope);
    let mut input = builder.new_input(acks, Exchange::new(|_: &Ack| 0));
    let activator = scope.activator_for(builder.operator_info().address);
    builder.build(move |_caps| {
        let mut pending: BTreeMap<u64, Vec<Ack>> = BTreeMap::new();
        // Epochs that failed (timed out): abandoned when their acks are in.
        let mut timed_out: BTreeSet<u64> = BTreeSet::new();
        let mut failures_in_a_row = 0;
        // Participants that finished, with the epoch they finished in.
        let mut finished: HashMap<(usize, usize), u64> = HashMap::new();
        let mut metrics = Some(MetricsContainer::new());
        move |frontiers| {
            input.for_each(|_, data| {
                for ack in data.drain(..) {
                    if ack.part.is_none() {
                        let at = finished.entry((ack.step, ack.worker)).or_insert(ack.epoch);
                        *at = (*at).min(ack.epoch);
                    }
                    pending.entry(ack.epoch).or_default().push(ack);
                }
            });
            // Every ack of an epoch before this one has arrived.
            let complete_below = checkpoint_epoch(&frontiers[0]).unwrap_or(u64::MAX);
            while let Some(entry) = pending.first_entry() {
                if *entry.key() >= complete_below {
                    break;
                }
                let (epoch, acks) = entry.remove_entry();
                let m = metrics.get_or_insert_with(MetricsContainer::new);
                if state.failed() || timed_out.remove(&epoch) {
                    run.store.abandon(epoch);
                    continue;
                }
                let mut parts = Vec::with_capacity(participants.len());
                let mut missing = 0;
                for &(step, worker) in &participants {
                    match acks
                        .iter()
                        .find(|a| a.step == step && a.worker == worker && a.part.is_some())
                    {
                        Some(a) => parts.push(a.clone()),
                        None if finished.get(&(step, worker)).is_some_and(|&f| f <= epoch) => parts
                            .push(Ack {
                                epoch,
                                step,
                                worker,
                                part: None,
                            }),
                        None => missing += 1,
                    }
                }
                if missing > 0 {
                    // A participant passed this epoch together with later ones.
                    tracing::debug!("checkpoint {epoch}: {missing} parts missing, abandoned");
                    run.store.abandon(epoch);
                    m.inc_counter("checkpoints_abandoned", 1);
                    state.shared.monitor.record_checkpoint(
                        epoch,
                        CheckpointOutcome::Abandoned,
                        run.epoch_ended_at(epoch).map_or(Duration::ZERO, |(at, _)| at.elapsed()),
                    );
                    continue;
                }
                let manifest = Manifest {
                    epoch,
                    parts,
                    generation: run.generation,
                    epoch_end_unix_ms: run
                        .epoch_ended_at(epoch)
                        .map_or_else(super::unix_ms, |(_, ms)| ms),
                    written_unix_ms: super::unix_ms(),
                    ..template.clone()
                };
                let bytes: u64 = manifest
                    .parts
                    .iter()
                    .filter_map(|a| a.part.as_ref())
                    .map(|p| p.len)
                    .sum();
                super::failpoint::hit("checkpoint-parts-written");
                match run.store.publish(&manifest) {
                    Ok(dir) => {
                        super::failpoint::hit("checkpoint-published");
                        run.note_published(epoch);
                        failures_in_a_row = 0;
                        tracing::info!("checkpoint {epoch} published: {dir} ({bytes} bytes)");
                        m.inc_counter("checkpoints_completed", 1);
                        state.shared.monitor.record_checkpoint(
                            epoch,
                            CheckpointOutcome::Completed,
                            run.epoch_ended_at(epoch)
                                .map_or(Duration::ZERO, |(at, _)| at.elapsed()),
                        );
                        m.set_gauge("checkpoint_last_bytes", bytes as i64);
                        let delay =
                            manifest.written_unix_ms as i64 - manifest.epoch_end_unix_ms as i64;
                        m.update_distribution("checkpoint_completion_ms", delay.max(0));
                        if let Err(e) = run.store.retain(run.config.retain) {
                            tracing::warn!("{e}");
                        }
                    }
                    Err(e) => state.fail(e),
                }
            }
            // Ended epochs not complete within the timeout fail.
            let mut epoch = complete_below;
            let mut waiting = false;
            while let Some((ended, _)) = run.epoch_ended_at(epoch) {
                waiting = true;
                // Its directory is removed once every part is in (above):
                // participants may still be writing to it now.
                if ended.elapsed() > run.timeout() && timed_out.insert(epoch) {
                    failures_in_a_row += 1;
                    let m = metrics.get_or_insert_with(MetricsContainer::new);
                    m.inc_counter("checkpoints_failed", 1);
                    state.shared.monitor.record_checkpoint(
                        epoch,
                        CheckpointOutcome::Failed,
                        ended.elapsed(),
                    );
                    tracing::warn!(
                        "checkpoint {epoch} did not complete within {:?}: abandoned",
                        run.timeout()
                    );
                    if run
                        .config
                        .tolerable_failures
                        .is_some_and(|n| failures_in_a_row > n)
                    {
                        state.fail(BeamError::Runner(format!(
                            "checkpoint {epoch} did not complete within {:?}: {failures_in_a_row} checkpoints in a row failed, more than --tolerable-checkpoint-failures allows",
                            run.timeout()
                        )));
                    }
                }
                epoch += 1;
            }
            if waiting && !frontiers[0].is_empty() {
                activator.activate_after(Duration::from_millis(50));
            }
            // The run's checkpoint metrics, under its first step.
            if let Some(mut m) = metrics.take() {
                state.add_metrics(0, &mut m);
            }
        }
    });
}
