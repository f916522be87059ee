//! [`GroupIntoBatches`]: a key's values in batches of a given size, per
//! window, as Beam's `GroupIntoBatches` (for calling a service once per
//! batch rather than once per element).
//!
//! A batch is emitted when it reaches the size, when it has waited the
//! maximum buffering duration in processing time (if one is set), and when
//! its window expires (the end of the window plus the allowed lateness),
//! whatever it holds by then. A batch carries the earliest timestamp of its
//! values, and the values it buffers hold the output watermark, so no batch
//! is late downstream. The values of a batch are in arrival order.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, GroupIntoBatches};
//! use beam_core::testing::{PAssert, TestPipeline};
//! let p = TestPipeline::new();
//! let kv = p.apply("Kv", Create::of((0..5).map(|i| ("k".to_string(), i)).collect::<Vec<_>>()))?;
//! let sizes = kv
//!     .apply("Batch", GroupIntoBatches::of_size(2))?
//!     .apply("Size", beam_core::Map::new(|b: &(String, Vec<i32>)| b.1.len()))?;
//! PAssert::that(&sizes).contains_in_any_order(vec![2, 2, 1])?;
//! p.run()?;
//! # Ok::<(), beam_core::BeamError>(())
//! ```

use crate::coder::{Element, Key};
use crate::error::{BeamError, Result, UserResult};
use crate::pipeline::{PCollection, PTransform};
use crate::state::{StateContext, StatefulDoFn, StatefulParDo};
use crate::time::{Duration, Timestamp};
use std::marker::PhantomData;

/// Batches of each key's values; see the [module docs](self).
pub struct GroupIntoBatches<K, V> {
    size: u64,
    max_buffering: Option<Duration>,
    _t: PhantomData<fn(K, V)>,
}

impl<K: Key, V: Element> GroupIntoBatches<K, V> {
    /// Batches of `size` values (the last of a window may be smaller).
    pub fn of_size(size: u64) -> Self {
        GroupIntoBatches {
            size,
            max_buffering: None,
            _t: PhantomData,
        }
    }
    /// Also emits a batch once its first value has waited `d` of processing time.
    pub fn with_max_buffering_duration(mut self, d: Duration) -> Self {
        self.max_buffering = Some(d);
        self
    }
}

const BATCH: &str = "batch";
const COUNT: &str = "count";
const EARLIEST: &str = "earliest";
const HOLD: &str = "hold";
const BUFFERING: &str = "buffering";

#[derive(Clone)]
struct BatchFn<K, V> {
    size: u64,
    max_buffering: Option<Duration>,
    _t: PhantomData<fn(K, V)>,
}

impl<K: Key, V: Element> BatchFn<K, V> {
    /// Emits what the key and window buffer (if anything) at its earliest
    /// timestamp, and clears the buffer and its timers.
    fn flush(&self, key: &K, ctx: &mut StateContext<'_, K, (K, Vec<V>)>) -> UserResult {
        let values = ctx.bag_state::<V>(BATCH)?.read();
        let earliest = ctx.value_state::<Timestamp>(EARLIEST)?.read();
        ctx.bag_state::<V>(BATCH)?.clear();
        ctx.value_state::<u64>(COUNT)?.clear();
        ctx.value_state::<Timestamp>(EARLIEST)?.clear();
        ctx.clear_timer(HOLD);
        ctx.clear_timer(BUFFERING);
        if let (false, Some(at)) = (values.is_empty(), earliest) {
            ctx.output_with_timestamp((key.clone(), values), at)?;
        }
        Ok(())
    }
}

impl<K: Key, V: Element> StatefulDoFn for BatchFn<K, V> {
    type Key = K;
    type Value = V;
    type Out = (K, Vec<V>);
    fn process(
        &mut self,
        key: &K,
        v: &V,
        ctx: &mut StateContext<'_, K, (K, Vec<V>)>,
    ) -> UserResult {
        ctx.bag_state::<V>(BATCH)?.add(v.clone());
        let count = {
            let mut c = ctx.value_state::<u64>(COUNT)?;
            let n = c.read().unwrap_or(0) + 1;
            c.write(n);
            n
        };
        let now = ctx.timestamp();
        let earliest = ctx.value_state::<Timestamp>(EARLIEST)?.read();
        if earliest.is_none_or(|e| now < e) {
            ctx.value_state::<Timestamp>(EARLIEST)?.write(now);
            // Holds the output watermark at the batch's earliest value until
            // the window expires (or the batch is emitted, which clears it).
            let expiry = ctx.window_expiration();
            ctx.set_event_timer_with_output(HOLD, expiry, now)?;
        }
        if count == 1 {
            if let Some(d) = self.max_buffering {
                ctx.set_processing_timer(BUFFERING, d)?;
            }
        }
        if count >= self.size {
            self.flush(key, ctx)?;
        }
        Ok(())
    }
    fn on_timer(
        &mut self,
        key: &K,
        timer: &str,
        ctx: &mut StateContext<'_, K, (K, Vec<V>)>,
    ) -> UserResult {
        if timer == BUFFERING {
            self.flush(key, ctx)?;
        }
        Ok(())
    }
    fn on_window_expiration(
        &mut self,
        key: &K,
        ctx: &mut StateContext<'_, K, (K, Vec<V>)>,
    ) -> UserResult {
        self.flush(key, ctx)
    }
    fn allowed_timestamp_skew(&self) -> Duration {
        // A batch is emitted at its earliest value's timestamp, held by the
        // hold timer, whatever the timestamp of the call that emits it.
        Duration::MAX
    }
}

impl<K: Key, V: Element> PTransform<PCollection<(K, V)>> for GroupIntoBatches<K, V> {
    type Output = PCollection<(K, Vec<V>)>;
    fn expand(self, input: &PCollection<(K, V)>) -> Result<PCollection<(K, Vec<V>)>> {
        if self.size == 0 {
            return Err(BeamError::construction(
                input.pipeline().current_scope(),
                "the batch size must be at least 1",
            ));
        }
        if self.max_buffering.is_some_and(|d| d.as_micros() <= 0) {
            return Err(BeamError::construction(
                input.pipeline().current_scope(),
                "the maximum buffering duration must be positive",
            ));
        }
        StatefulParDo::of(BatchFn {
            size: self.size,
            max_buffering: self.max_buffering,
            _t: PhantomData,
        })
        .expand(input)
    }
}
