//! Running a [`StatefulDoFn`]: state and timers per key and window, fired in
//! timestamp order, with watermark holds and expiry. Runners feed bundles,
//! watermark advances and processing time, as for groupings.

use crate::batch::Batch;
use crate::coder;
use crate::error::{BeamError, Result, UserError};
use crate::kernel::{StatefulKernel, StatefulProcessor};
use crate::metrics::MetricsContainer;
use crate::runner_support::aggregation::partition_of;
use crate::state::{KeyWindowState, StateContext, StatefulDoFn, TimeDomain};
use crate::time::Timestamp;
use crate::user_code;
use crate::window::{Window, WindowedValue};
use crate::windowfn::WindowingStrategy;
use std::collections::HashMap;
use std::sync::Arc;

mod snapshot;

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
        runner.restore_snapshot(snapshot)?;
        Ok(Box::new(runner))
    }
    fn partition(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        let parts = parts.max(1);
        match batch.downcast::<(F::Key, F::Value)>() {
            Ok(values) => {
                let mut out: Vec<Vec<_>> = (0..parts).map(|_| Vec::new()).collect();
                for wv in values {
                    out[partition_of(&wv.value.0, parts)].push(wv);
                }
                out.into_iter().map(Batch::new).collect()
            }
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
        let state = self.states.entry((key.clone(), window)).or_default();
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
        if state_empty {
            self.states.remove(&(key.clone(), window));
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

    /// The earliest due timer of `domain` (at or before `limit`).
    fn next_due(
        &self,
        domain: TimeDomain,
        due: impl Fn(Timestamp) -> bool,
    ) -> Option<(Timestamp, F::Key, Window, String)> {
        let mut best: Option<(Timestamp, F::Key, Window, String)> = None;
        for ((k, w), s) in &self.states {
            for (id, t) in &s.timers {
                if t.domain == domain && due(t.at) && best.as_ref().is_none_or(|b| t.at < b.0) {
                    best = Some((t.at, k.clone(), *w, id.clone()));
                }
            }
        }
        best
    }

    fn fire_due(&mut self, domain: TimeDomain, metrics: &mut MetricsContainer) -> Result<()> {
        let (wm, now) = (self.input_wm, self.now);
        let due = move |at: Timestamp| match domain {
            TimeDomain::EventTime => at < wm,
            TimeDomain::ProcessingTime => at <= now,
        };
        while let Some((_, key, window, id)) = self.next_due(domain, due) {
            let Some(spec) = self
                .states
                .get_mut(&(key.clone(), window))
                .and_then(|s| s.timers.remove(&id))
            else {
                continue;
            };
            self.call(&key, window, spec.output, Call::Timer(&id), None, metrics)?;
        }
        Ok(())
    }

    fn recompute_output_watermark(&mut self) {
        let hold = self
            .states
            .values()
            .flat_map(|s| s.timers.values().map(|t| t.output))
            .min();
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
        let mut expired: Vec<(F::Key, Window)> = self
            .states
            .keys()
            .filter(|(_, w)| self.strategy.gc_time(w) < wm)
            .cloned()
            .collect();
        expired.sort_by_key(|(_, w)| *w);
        for (key, window) in expired {
            self.call(
                &key,
                window,
                window.max_timestamp(),
                Call::Expiry,
                None,
                metrics,
            )?;
            self.states.remove(&(key, window));
        }
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
        self.states
            .values()
            .flat_map(|s| s.timers.values())
            .filter(|t| t.domain == TimeDomain::ProcessingTime)
            .map(|t| t.at)
            .min()
    }

    fn take_output(&mut self) -> Option<Batch> {
        if self.output.is_empty() {
            None
        } else {
            Some(Batch::new(std::mem::take(&mut self.output)))
        }
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
