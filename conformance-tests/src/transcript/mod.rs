//! Trigger transcripts in the YAML format of Beam's Python SDK
//! (`trigger_transcripts.yaml`), run on any runner.
//!
//! A transcript names a window function, a trigger, a timestamp combiner, an
//! accumulation mode and an allowed lateness, as Beam's Python expression
//! strings (`FixedWindows(10)`, `AfterWatermark(early=AfterCount(2), late=AfterCount(3))`),
//! and a list of actions: `input` (elements, given by their timestamps, as one
//! bundle), `watermark`, `clock` (processing time), `expect` (the panes the
//! actions since the previous `expect` produced, each matched on the attributes
//! it gives: `window: [start, max]`, `values`, `timestamp`, `index`,
//! `nonspeculative_index`, `early`, `late`, `final`) and `state`. `broken_on` is
//! ignored; `error` names the failure the transcript must produce.
//!
//! A transcript runs as a pipeline `TestStream → WindowInto → GroupByKey` on the
//! runner, once per action with the actions up to it, so the panes of each
//! action are the difference between consecutive runs; the `expect`s right
//! after an action must match its panes exactly. Integers are our timestamp
//! unit (microseconds). As in Beam's harness the default accumulation mode is
//! accumulating and the default timestamp combiner is `OUTPUT_AT_EOW`.
//!
//! Semantics follow Beam's Java ReduceFnRunner, which differs from the Python
//! driver behind Beam's published transcripts in two places: a window's
//! end-of-window output timestamp is its max timestamp (`end - 1`), and once
//! the watermark passes the end of a window plus its allowed lateness the
//! final pane is emitted and later data for the window is dropped.

mod parse;

pub use parse::{parse, parse_trigger, parse_window_fn};

use crate::{Env, Feature, Outcome};
use beam_core::{
    AccumulationMode, DoFn, Duration, GroupByKey, IntervalWindow, PaneTiming, ParDo,
    ProcessContext, Reify, RunnerRegistration, TestStream, Timestamp, TimestampCombiner, Trigger,
    UserResult, Window, WindowFn, WindowInto, WindowedValue,
};
use std::sync::{Arc, Mutex};

/// One expected pane; absent attributes match anything.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    window: Option<(i64, i64)>,
    values: Option<Vec<i64>>,
    timestamp: Option<i64>,
    index: Option<i64>,
    nonspeculative_index: Option<i64>,
    early: Option<bool>,
    late: Option<bool>,
    is_final: Option<bool>,
}

/// One step of a transcript.
#[derive(Clone, Debug)]
pub enum Action {
    /// Elements at these timestamps, as one bundle.
    Input(Vec<i64>),
    /// Advance the watermark.
    Watermark(i64),
    /// Set processing time.
    Clock(i64),
    /// The panes produced since the previous expectation.
    Expect(Vec<Expected>),
    /// Checks on which windows hold state.
    State,
}

/// A parsed transcript.
#[derive(Clone, Debug)]
pub struct Transcript {
    /// Its name.
    pub name: String,
    window_fn: String,
    trigger_fn: String,
    combiner: String,
    accumulation: String,
    allowed_lateness: i64,
    error: Option<String>,
    actions: Vec<Action>,
}

/// The transcripts bundled with the suite, with their file names.
pub fn bundled() -> Vec<(&'static str, Transcript)> {
    const FILES: [(&str, &str); 2] = [
        (
            "beam_transcripts.yaml",
            include_str!("../../transcripts/beam_transcripts.yaml"),
        ),
        (
            "triggers.yaml",
            include_str!("../../transcripts/triggers.yaml"),
        ),
    ];
    let mut out = Vec::new();
    for (file, text) in FILES {
        for t in parse(text).unwrap_or_else(|e| panic!("{file}: {e}")) {
            out.push((file, t));
        }
    }
    out
}

struct Setup {
    bundling: Bundling,
    window_fn: WindowFn,
    trigger: Trigger,
    combiner: TimestampCombiner,
    mode: AccumulationMode,
    features: Vec<Feature>,
}

fn setup(t: &Transcript) -> Result<Setup, String> {
    let window_fn = parse_window_fn(&t.window_fn)?;
    let trigger = parse_trigger(&t.trigger_fn)?;
    let combiner = match t.combiner.as_str() {
        "OUTPUT_AT_EOW" | "END_OF_WINDOW" => TimestampCombiner::EndOfWindow,
        "OUTPUT_AT_EARLIEST" | "EARLIEST" => TimestampCombiner::Earliest,
        "OUTPUT_AT_LATEST" | "LATEST" => TimestampCombiner::Latest,
        other => return Err(format!("unsupported timestamp combiner {other}")),
    };
    let mode = match t.accumulation.to_ascii_lowercase().as_str() {
        "accumulating" => AccumulationMode::Accumulating,
        "discarding" => AccumulationMode::Discarding,
        other => return Err(format!("unknown accumulation mode {other}")),
    };
    let mut features = vec![Feature::TestStream, Feature::Unbounded];
    if trigger != Trigger::Default {
        features.push(Feature::Triggers);
    }
    if window_fn.is_merging() {
        features.push(Feature::MergingWindows);
    }
    if trigger.uses_processing_time() || t.actions.iter().any(|a| matches!(a, Action::Clock(_))) {
        features.push(Feature::ProcessingTime);
    }
    if t.actions.iter().any(|a| matches!(a, Action::State)) {
        features.push(Feature::WindowStateInspection);
    }
    Ok(Setup {
        bundling: Bundling::Whole,
        window_fn,
        trigger,
        combiner,
        mode,
        features,
    })
}

type Pane = WindowedValue<((), Vec<i64>)>;

#[derive(Clone)]
struct Collect(Arc<Mutex<Vec<Pane>>>);

impl DoFn for Collect {
    type In = Pane;
    type Out = ();
    fn process(&mut self, p: &Pane, _: &mut ProcessContext<'_, ()>) -> UserResult {
        self.0
            .lock()
            .map_err(|e| beam_core::UserError::msg(e.to_string()))?
            .push(p.clone());
        Ok(())
    }
}

/// How the elements of one `input` action are split into bundles. Results of
/// order-insensitive transcripts (default trigger, accumulating) must not
/// depend on it, as in Beam's Python transcript tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bundling {
    /// One bundle, in the transcript's order.
    Whole,
    /// One bundle, reversed.
    Reversed,
    /// One element per bundle.
    Singles,
    /// One element per bundle, reversed.
    SinglesReversed,
    /// Two elements per bundle.
    Pairs,
}

impl Bundling {
    fn bundles(self, values: &[i64]) -> Vec<Vec<i64>> {
        let mut v = values.to_vec();
        if matches!(self, Bundling::Reversed | Bundling::SinglesReversed) {
            v.reverse();
        }
        match self {
            Bundling::Whole | Bundling::Reversed => vec![v],
            Bundling::Singles | Bundling::SinglesReversed => {
                v.into_iter().map(|x| vec![x]).collect()
            }
            Bundling::Pairs => v.chunks(2).map(<[i64]>::to_vec).collect(),
        }
    }
}

/// Runs the non-expect actions of `actions` and returns every pane produced.
fn run_prefix(
    t: &Transcript,
    s: &Setup,
    actions: &[Action],
    env: &Env,
) -> Result<Vec<Pane>, String> {
    let mut stream = TestStream::<((), i64)>::new();
    let mut clock = 0;
    for a in actions {
        stream = match a {
            Action::Input(ts) => {
                let mut stream = stream;
                for bundle in s.bundling.bundles(ts) {
                    stream = stream.add_elements(
                        bundle
                            .iter()
                            .map(|&v| (((), v), Timestamp::from_micros(v)))
                            .collect(),
                    );
                }
                stream
            }
            Action::Watermark(w) => stream.advance_watermark_to(Timestamp::from_micros(*w)),
            Action::Clock(c) => {
                if *c < clock {
                    return Err(format!("clock goes back from {clock} to {c}"));
                }
                let d = Duration::from_micros(c - clock);
                clock = *c;
                stream.advance_processing_time(d)
            }
            Action::Expect(_) | Action::State => stream,
        };
    }
    let p = env.pipeline();
    let sink = Arc::new(Mutex::new(Vec::new()));
    let build = || -> beam_core::Result<()> {
        p.apply("Events", stream)?
            .apply(
                "Window",
                WindowInto::new(s.window_fn.clone())
                    .triggering(
                        s.trigger.clone(),
                        s.mode,
                        Duration::from_micros(t.allowed_lateness),
                    )
                    .with_timestamp_combiner(s.combiner)
                    .allow_unsafe_trigger(),
            )?
            .apply("GroupByKey", GroupByKey::new())?
            .apply("Reify", Reify)?
            .apply("Collect", ParDo::of(Collect(sink.clone())))?;
        Ok(())
    };
    build().map_err(|e| e.to_string())?;
    p.run().map_err(|e| e.to_string())?;
    let panes = sink.lock().map_err(|e| e.to_string())?.clone();
    Ok(panes)
}

fn window_of(p: &Pane) -> Option<(i64, i64)> {
    match p.window {
        Window::Interval(IntervalWindow { start, end }) => {
            Some((start.as_micros(), end.as_micros() - 1))
        }
        Window::Global => None,
    }
}

fn matches(e: &Expected, p: &Pane) -> bool {
    let mut values = p.value.1.clone();
    values.sort_unstable();
    let sorted = |v: &Vec<i64>| {
        let mut v = v.clone();
        v.sort_unstable();
        v
    };
    e.window.is_none_or(|w| window_of(p) == Some(w))
        && e.values.as_ref().is_none_or(|v| sorted(v) == values)
        && e.timestamp.is_none_or(|t| p.timestamp.as_micros() == t)
        && e.index.is_none_or(|i| p.pane.index == i)
        && e.nonspeculative_index
            .is_none_or(|i| p.pane.nonspeculative_index == i)
        && e.early
            .is_none_or(|b| (p.pane.timing == PaneTiming::Early) == b)
        && e.late
            .is_none_or(|b| (p.pane.timing == PaneTiming::Late) == b)
        && e.is_final.is_none_or(|b| p.pane.is_last == b)
}

fn describe(p: &Pane) -> String {
    let mut v = p.value.1.clone();
    v.sort_unstable();
    let w = window_of(p).map_or("global".to_string(), |(a, b)| format!("[{a}, {b}]"));
    format!(
        "{{window: {w}, values: {v:?}, timestamp: {}, index: {}, nonspeculative_index: {}, timing: {:?}, final: {}}}",
        p.timestamp, p.pane.index, p.pane.nonspeculative_index, p.pane.timing, p.pane.is_last
    )
}

/// The panes `after` has beyond `before` (as multisets).
fn new_panes(before: &[Pane], after: Vec<Pane>) -> Vec<Pane> {
    let mut seen: Vec<Option<&Pane>> = before.iter().map(Some).collect();
    after
        .into_iter()
        .filter(
            |p| match seen.iter_mut().find(|s| s.is_some_and(|s| s == p)) {
                Some(slot) => {
                    *slot = None;
                    false
                }
                None => true,
            },
        )
        .collect()
}

/// Runs the transcript on `runner`; the first difference fails it. As in
/// Beam's harness, the outputs of each action must be matched by the
/// `expect`s that directly follow it.
fn run_checked(t: &Transcript, s: &Setup, env: &Env) -> Result<(), String> {
    let mut before: Vec<Pane> = Vec::new();
    let mut pending: Vec<Pane> = Vec::new();
    let mut step = 0;
    for (i, a) in t.actions.iter().enumerate() {
        match a {
            Action::Expect(expected) => {
                step += 1;
                for e in expected {
                    match pending.iter().position(|p| matches(e, p)) {
                        Some(k) => {
                            pending.swap_remove(k);
                        }
                        None => {
                            return Err(format!(
                                "Unmatched output at expect #{step}: expected {e:?}; outputs not yet matched: [{}]",
                                pending.iter().map(describe).collect::<Vec<_>>().join(", ")
                            ))
                        }
                    }
                }
            }
            Action::State => {}
            _ => {
                if let Some(p) = pending.first() {
                    return Err(format!(
                        "Unexpected output before action #{}: {}",
                        i + 1,
                        describe(p)
                    ));
                }
                let after = run_prefix(t, s, &t.actions[..=i], env)?;
                pending = new_panes(&before, after.clone());
                before = after;
            }
        }
    }
    match pending.first() {
        Some(p) => Err(format!("Unexpected output at the end: {}", describe(p))),
        None => Ok(()),
    }
}

/// What running `t` on `runner` gives when it does as expected: unsupported
/// (the features it lacks) or a pass.
pub fn expected_outcome(t: &Transcript, runner: &'static RunnerRegistration) -> Outcome {
    match setup(t) {
        Err(e) => Outcome::Fail(format!("cannot run: {e}")),
        Ok(s) => {
            let missing = crate::missing_features(&s.features, runner);
            if missing.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Unsupported(missing)
            }
        }
    }
}

/// Runs `t` on `runner`.
pub fn run(t: &Transcript, runner: &'static RunnerRegistration) -> Outcome {
    let s = match setup(t) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(format!("cannot run: {e}")),
    };
    let missing = crate::missing_features(&s.features, runner);
    if !missing.is_empty() {
        return Outcome::Unsupported(missing);
    }
    // Order-insensitive transcripts are replayed under several bundlings and seeds.
    let order_insensitive =
        s.trigger == Trigger::Default && s.mode == AccumulationMode::Accumulating;
    let variants: Vec<(Bundling, u64)> = if order_insensitive {
        vec![
            (Bundling::Whole, 0),
            (Bundling::Reversed, 1),
            (Bundling::Singles, 2),
            (Bundling::SinglesReversed, 3),
            (Bundling::Pairs, 4),
        ]
    } else {
        vec![(Bundling::Whole, 0)]
    };
    let mut s = s;
    let mut result = Ok(());
    'runs: for &workers in crate::worker_counts(runner) {
        for &(bundling, seed) in &variants {
            s.bundling = bundling;
            let env = Env::new(runner.name, seed).with_parallelism(workers);
            result = run_checked(t, &s, &env).map_err(|e| {
                format!("{e} (bundling {bundling:?}, seed {seed}, {workers} workers)")
            });
            if result.is_err() {
                break 'runs;
            }
        }
    }
    match (&t.error, result) {
        (None, Ok(())) => Outcome::Pass,
        (None, Err(e)) => Outcome::Fail(e),
        (Some(want), Err(e)) if e.contains(want.as_str()) => Outcome::Pass,
        (Some(want), Err(e)) => Outcome::Fail(format!("expected the error '{want}', got: {e}")),
        (Some(want), Ok(())) => Outcome::Fail(format!(
            "expected the error '{want}', but the transcript passed"
        )),
    }
}
