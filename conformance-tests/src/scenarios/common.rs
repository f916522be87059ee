//! Helpers shared by scenarios.

use beam_core::{Timestamp, Window};

/// A timestamp of `x` microseconds (the unit of Beam's scenarios, read as integers).
pub fn ts(x: i64) -> Timestamp {
    Timestamp::from_micros(x)
}

/// The interval window `[a, b)` in microseconds.
pub fn iw(a: i64, b: i64) -> Window {
    Window::interval(ts(a), ts(b))
}

/// A group with its values sorted, for comparing groups whose value order
/// the runner may choose.
pub fn sorted_values<K: Clone, V: Clone + Ord>(kv: &(K, Vec<V>)) -> (K, Vec<V>) {
    let mut v = kv.1.clone();
    v.sort();
    (kv.0.clone(), v)
}

/// An owned string.
pub fn s(x: &str) -> String {
    x.to_string()
}

use beam_core::{
    DoFn, Element, PCollection, ParDo, ProcessContext, Reify, UserResult, WindowedValue,
};
use std::sync::{Arc, Mutex};

/// Everything a PCollection held, with timestamps, windows and panes, filled
/// when the pipeline runs.
pub type Collected<T> = Arc<Mutex<Vec<WindowedValue<T>>>>;

#[derive(Clone)]
struct CollectFn<T>(Collected<T>);

impl<T: Element> DoFn for CollectFn<T> {
    type In = WindowedValue<T>;
    type Out = ();
    fn process(&mut self, x: &WindowedValue<T>, _: &mut ProcessContext<'_, ()>) -> UserResult {
        self.0
            .lock()
            .map_err(|e| beam_core::UserError::msg(e.to_string()))?
            .push(x.clone());
        Ok(())
    }
}

/// Collects `pcoll` (values with their metadata) into memory.
pub fn collect<T: Element>(pcoll: &PCollection<T>, name: &str) -> Collected<T> {
    let sink: Collected<T> = Arc::new(Mutex::new(Vec::new()));
    pcoll
        .apply(&format!("{name}Reify"), Reify)
        .and_then(|r| {
            r.apply(
                &format!("{name}Collect"),
                ParDo::of(CollectFn(sink.clone())),
            )
        })
        .expect("collect");
    sink
}

/// The collected values, sorted by timestamp, window, pane index and value debug.
pub fn panes<T: Element>(c: &Collected<T>) -> Vec<WindowedValue<T>> {
    let mut v = c.lock().expect("collected").clone();
    v.sort_by_key(|wv| {
        (
            wv.timestamp,
            wv.window,
            wv.pane.index,
            format!("{:?}", wv.value),
        )
    });
    v
}

/// A pane as (is_first, is_last, timing, index, nonspeculative_index).
pub fn pane_tuple(p: &beam_core::PaneInfo) -> (bool, bool, beam_core::PaneTiming, i64, i64) {
    (
        p.is_first,
        p.is_last,
        p.timing,
        p.index,
        p.nonspeculative_index,
    )
}

/// `((k, v), t)`: a keyed value at a timestamp, for TestStreams.
pub fn kv(k: &str, v: i64, t: i64) -> ((String, i64), Timestamp) {
    ((s(k), v), ts(t))
}

/// Ones for key "k" at the given timestamps.
pub fn ones(times: &[i64]) -> Vec<((String, i64), Timestamp)> {
    times.iter().map(|&t| kv("k", 1, t)).collect()
}

/// Fixed windows of 10 units.
pub fn fixed10() -> beam_core::WindowFn {
    beam_core::WindowFn::fixed(beam_core::Duration::from_micros(10))
}

/// Runs `stream` through `window` and a per-key sum on the scenario's runner;
/// returns every pane (sorted, see [`panes`]) and the run's result.
pub fn sum_panes(
    env: &crate::Env,
    stream: beam_core::TestStream<(String, i64)>,
    window: beam_core::WindowInto<(String, i64)>,
) -> (Vec<WindowedValue<(String, i64)>>, beam_core::PipelineResult) {
    let p = env.pipeline();
    let out = p
        .apply("Events", stream)
        .and_then(|e| e.apply("Window", window))
        .and_then(|w| w.apply("Sum", beam_core::Sum::per_key()))
        .expect("the pipeline builds");
    let got = collect(&out, "Out");
    let result = p.run().expect("the pipeline runs");
    (panes(&got), result)
}
