//! Running a [`StatefulDoFn`]: state and timers per key and window, fired in
//! timestamp order, with watermark holds and expiry. Runners feed bundles,
//! watermark advances and processing time, as for groupings.

use crate::batch::Batch;
use crate::coder;
use crate::error::{BeamError, Result, UserError};
use crate::kernel::{StatefulKernel, StatefulProcessor};
use crate::metrics::MetricsContainer;
use crate::runner_support::aggregation::{key_group_part_of, partition_of, split_by_key};
use crate::state::{KeyWindowState, StateContext, StatefulDoFn, TimeDomain, TimerChange};
use crate::time::Timestamp;
use crate::user_code;
use crate::window::{Window, WindowedValue};
use crate::windowfn::WindowingStrategy;
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use timer_index::TimerIndex;

mod snapshot;
mod timer_index;

pub(crate) struct StatefulKernelImpl<F> {
    pub prototype: F,
    pub strategy: Arc<WindowingStrategy>,
    pub step: Arc<str>,
}

impl<F: StatefulDoFn> StatefulKernelImpl<F> {
    fn fresh(&self) -> StatefulRunner<F> {
        StatefulRunner {
            f: self.prototype.clone(),
            strategy: self.strategy.clone(),
            step: self.step.clone(),
            input_wm: Timestamp::MIN,
            output_wm: Timestamp::MIN,
            now: Timestamp::MIN,
            states: HashMap::default(),
            index: TimerIndex::new(),
            timer_changes: Vec::new(),
            output: Vec::new(),
            dropped_late: 0,
        }
    }
}

impl<F: StatefulDoFn> StatefulKernel for StatefulKernelImpl<F> {
    fn instantiate(&self) -> Box<dyn StatefulProcessor> {
        Box::new(self.fresh())
    }
    fn restore(&self, snapshot: &[u8]) -> Result<Box<dyn StatefulProcessor>> {
        let mut runner = self.fresh();
        runner.restore_keys(&[snapshot], None)?;
        Ok(Box::new(runner))
    }
    fn restore_part(
        &self,
        snapshots: &[&[u8]],
        part: usize,
        parts: usize,
    ) -> Result<Box<dyn StatefulProcessor>> {
        let mut runner = self.fresh();
        let keep = |k: &F::Key| key_group_part_of(k, parts) == part;
        runner.restore_keys(snapshots, Some(&keep))?;
        Ok(Box::new(runner))
    }
    fn partition(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        match batch.downcast::<(F::Key, F::Value)>() {
            Ok(values) => {
                split_by_key(values, parts, partition_of, |kv: &(F::Key, F::Value)| &kv.0)
            }
            Err(b) => vec![b],
        }
    }
    fn partition_by_key_group(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        match batch.downcast::<(F::Key, F::Value)>() {
            Ok(values) => split_by_key(
                values,
                parts,
                key_group_part_of,
                |kv: &(F::Key, F::Value)| &kv.0,
            ),
            Err(b) => vec![b],
        }
    }
}

type States<K> = HashMap<(K, Window), KeyWindowState, foldhash::fast::RandomState>;

struct StatefulRunner<F: StatefulDoFn> {
    f: F,
    strategy: Arc<WindowingStrategy>,
    step: Arc<str>,
    input_wm: Timestamp,
    output_wm: Timestamp,
    now: Timestamp,
    states: States<F::Key>,
    /// Pending timers, their holds and the expiration of every state, indexed.
    index: TimerIndex<F::Key>,
    /// Timer changes of the current call of user code (reused).
    timer_changes: Vec<TimerChange>,
    output: Vec<WindowedValue<F::Out>>,
    dropped_late: i64,
}

enum Call<'v> {
    Element,
    Timer(&'v str),
    Expiry,
}

impl<F: StatefulDoFn> StatefulRunner<F> {
    /// Runs one call of user code for (key, window).
    fn call(
        &mut self,
        key: &F::Key,
        window: Window,
        timestamp: Timestamp,
        call: Call<'_>,
        value: Option<&F::Value>,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        let gc_time = self.strategy.gc_time(&window);
        let state = match self.states.entry((key.clone(), window)) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                self.index.add_state(key, window, gc_time);
                v.insert(KeyWindowState::default())
            }
        };
        let mut changes = std::mem::take(&mut self.timer_changes);
        let mut ctx = StateContext {
            key,
            timestamp,
            window,
            gc_time,
            now: self.now,
            skew: self.f.allowed_timestamp_skew(),
            state,
            output: &mut self.output,
            metrics,
            timer_changes: &mut changes,
        };
        let f = &mut self.f;
        let describe = || match (&call, value) {
            (Call::Element, Some(v)) => Some(coder::describe(&(key, v))),
            (Call::Timer(id), _) => Some(format!(
                "timer '{id}' of key {} in {window:?}",
                coder::describe(key)
            )),
            _ => Some(format!(
                "window expiration of key {} in {window:?}",
                coder::describe(key)
            )),
        };
        let r = user_code::catch(|| match &call {
            Call::Element => f.process(key, value.expect("element call has a value"), &mut ctx),
            Call::Timer(id) => f.on_timer(key, id, &mut ctx),
            Call::Expiry => f.on_window_expiration(key, &mut ctx),
        });
        let state_empty = ctx.state.is_empty();
        for change in changes.drain(..) {
            self.index.apply(key, window, change);
        }
        self.timer_changes = changes;
        if state_empty {
            self.states.remove(&(key.clone(), window));
            self.index.remove_state(key, window, gc_time);
        }
        match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.user_error(describe(), e)),
            Err(m) => Err(BeamError::UserPanic {
                step: self.step.to_string(),
                element: describe(),
                message: m,
            }),
        }
    }

    fn user_error(&self, element: Option<String>, e: UserError) -> BeamError {
        BeamError::UserCode {
            step: self.step.to_string(),
            element,
            message: e.full_message(),
        }
    }

    fn fire_due(&mut self, domain: TimeDomain, metrics: &mut MetricsContainer) -> Result<()> {
        let (wm, now) = (self.input_wm, self.now);
        let due = move |at: Timestamp| match domain {
            TimeDomain::EventTime => at < wm,
            TimeDomain::ProcessingTime => at <= now,
        };
        while let Some((at, batch)) = self.index.pop_due(domain, due) {
            for (key, window, id) in batch {
                // A timer of the batch may have been cleared or reset by an
                // earlier callback of its key and window.
                let Some(state) = self.states.get_mut(&(key.clone(), window)) else {
                    continue;
                };
                let spec = match state.timers.get(&id) {
                    Some(spec) if spec.domain == domain && spec.at == at => *spec,
                    _ => continue,
                };
                state.timers.remove(&id);
                self.index.release_hold(spec.output);
                self.call(&key, window, spec.output, Call::Timer(&id), None, metrics)?;
            }
        }
        Ok(())
    }

    /// Runs the expiration callback of every key-window whose
    /// garbage-collection time the watermark passed, and drops its state.
    fn expire(&mut self, wm: Timestamp, metrics: &mut MetricsContainer) -> Result<()> {
        while let Some(batch) = self.index.pop_expired(wm) {
            for (key, window) in batch {
                if !self.states.contains_key(&(key.clone(), window)) {
                    continue;
                }
                let at = window.max_timestamp();
                self.call(&key, window, at, Call::Expiry, None, metrics)?;
                if let Some(state) = self.states.remove(&(key.clone(), window)) {
                    for (id, spec) in &state.timers {
                        self.index.remove_timer(&key, window, id, *spec);
                    }
                    let gc = self.strategy.gc_time(&window);
                    self.index.remove_state(&key, window, gc);
                }
            }
        }
        Ok(())
    }

    /// Indexes every state and timer anew (after a restore).
    fn reindex(&mut self) {
        self.index.clear();
        for ((key, window), state) in &self.states {
            self.index
                .add_state(key, *window, self.strategy.gc_time(window));
            for (id, spec) in &state.timers {
                self.index.add_timer(key, *window, id.clone(), *spec);
            }
        }
    }

    fn recompute_output_watermark(&mut self) {
        let hold = self.index.least_hold();
        debug_assert_eq!(
            hold,
            self.states
                .values()
                .flat_map(|s| s.timers.values().map(|t| t.output))
                .min(),
            "the hold index agrees with the timers"
        );
        let new = hold.map_or(self.input_wm, |h| h.min(self.input_wm));
        self.output_wm = self.output_wm.max(new);
    }
}

impl<F: StatefulDoFn> StatefulProcessor for StatefulRunner<F> {
    fn setup(&mut self) -> Result<()> {
        let f = &mut self.f;
        match user_code::catch(|| f.setup()) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.user_error(None, e)),
            Err(m) => Err(BeamError::UserPanic {
                step: self.step.to_string(),
                element: None,
                message: format!("in setup: {m}"),
            }),
        }
    }

    fn process_batch(&mut self, input: Batch, metrics: &mut MetricsContainer) -> Result<()> {
        let values = input.downcast_for::<(F::Key, F::Value)>(&self.step)?;
        for wv in values {
            if self.strategy.gc_time(&wv.window) < self.input_wm {
                self.dropped_late += 1;
                continue;
            }
            let (k, v) = &wv.value;
            self.call(k, wv.window, wv.timestamp, Call::Element, Some(v), metrics)?;
        }
        if self.dropped_late > 0 {
            metrics.inc_counter("dropped_due_to_lateness", self.dropped_late);
            self.dropped_late = 0;
        }
        Ok(())
    }

    fn advance_input_watermark(
        &mut self,
        wm: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        if wm <= self.input_wm {
            return Ok(());
        }
        self.input_wm = wm;
        self.fire_due(TimeDomain::EventTime, metrics)?;
        self.expire(wm, metrics)?;
        self.recompute_output_watermark();
        Ok(())
    }

    fn advance_processing_time(
        &mut self,
        now: Timestamp,
        metrics: &mut MetricsContainer,
    ) -> Result<()> {
        if now <= self.now {
            return Ok(());
        }
        self.now = now;
        self.fire_due(TimeDomain::ProcessingTime, metrics)?;
        self.recompute_output_watermark();
        Ok(())
    }

    fn output_watermark(&self) -> Timestamp {
        self.output_wm
    }

    fn next_processing_time(&self) -> Option<Timestamp> {
        self.index.next(TimeDomain::ProcessingTime)
    }

    fn take_output(&mut self) -> Option<Batch> {
        Batch::take_from(&mut self.output)
    }

    fn snapshot(&self) -> Result<Vec<u8>> {
        self.encode_snapshot()
    }

    fn teardown(&mut self) -> Result<()> {
        let f = &mut self.f;
        match user_code::catch(|| f.teardown()) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.user_error(None, e)),
            Err(m) => Err(BeamError::UserPanic {
                step: self.step.to_string(),
                element: None,
                message: format!("in teardown: {m}"),
            }),
        }
    }
}
