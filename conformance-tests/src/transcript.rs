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

use crate::{Env, Feature, Outcome};
use beam_core::{
    AccumulationMode, DoFn, Duration, GroupByKey, IntervalWindow, PaneTiming, ParDo,
    ProcessContext, Reify, RunnerRegistration, TestStream, Timestamp, TimestampCombiner, Trigger,
    UserResult, Window, WindowFn, WindowInto, WindowedValue,
};
use std::sync::{Arc, Mutex};
use yaml_rust2::{Yaml, YamlLoader};

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

/// A parsed expression: `Name(arg, key=arg, ...)` or an integer.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Int(i64),
    Call(String, Vec<(Option<String>, Expr)>),
}

fn parse_expr(text: &str) -> Result<Expr, String> {
    let tokens: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut pos = 0;
    let e = expr(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!(
            "unexpected '{}' in '{text}'",
            tokens[pos..].iter().collect::<String>()
        ));
    }
    Ok(e)
}

fn expr(t: &[char], pos: &mut usize) -> Result<Expr, String> {
    let start = *pos;
    if t.get(*pos).is_some_and(|c| *c == '-' || c.is_ascii_digit()) {
        *pos += 1;
        while t.get(*pos).is_some_and(|c| c.is_ascii_digit()) {
            *pos += 1;
        }
        let s: String = t[start..*pos].iter().collect();
        return s.parse().map(Expr::Int).map_err(|e| format!("{s}: {e}"));
    }
    while t
        .get(*pos)
        .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
    {
        *pos += 1;
    }
    if *pos == start {
        return Err(format!(
            "expected a name at '{}'",
            t[start..].iter().collect::<String>()
        ));
    }
    let name: String = t[start..*pos].iter().collect();
    let mut args = Vec::new();
    if t.get(*pos) == Some(&'(') {
        *pos += 1;
        while t.get(*pos) != Some(&')') {
            let save = *pos;
            let mut key = None;
            while t
                .get(*pos)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                *pos += 1;
            }
            if t.get(*pos) == Some(&'=') {
                key = Some(t[save..*pos].iter().collect());
                *pos += 1;
            } else {
                *pos = save;
            }
            args.push((key, expr(t, pos)?));
            match t.get(*pos) {
                Some(',') => *pos += 1,
                Some(')') => {}
                _ => return Err(format!("expected ',' or ')' after argument of {name}")),
            }
        }
        *pos += 1;
    }
    Ok(Expr::Call(name, args))
}

fn int_arg(args: &[(Option<String>, Expr)], i: usize, what: &str) -> Result<i64, String> {
    match args.get(i) {
        Some((_, Expr::Int(v))) => Ok(*v),
        _ => Err(format!("{what}: expected an integer argument {i}")),
    }
}

/// Parses a Python window function expression.
pub fn parse_window_fn(text: &str) -> Result<WindowFn, String> {
    let d = Duration::from_micros;
    match parse_expr(text)? {
        Expr::Call(n, a) if n == "FixedWindows" => Ok(WindowFn::Fixed {
            size: d(int_arg(&a, 0, &n)?),
            offset: d(if a.len() > 1 { int_arg(&a, 1, &n)? } else { 0 }),
        }),
        Expr::Call(n, a) if n == "SlidingWindows" => Ok(WindowFn::Sliding {
            size: d(int_arg(&a, 0, &n)?),
            period: d(int_arg(&a, 1, &n)?),
            offset: d(if a.len() > 2 { int_arg(&a, 2, &n)? } else { 0 }),
        }),
        Expr::Call(n, a) if n == "Sessions" => Ok(WindowFn::sessions(d(int_arg(&a, 0, &n)?))),
        Expr::Call(n, _) if n == "GlobalWindows" => Ok(WindowFn::Global),
        other => Err(format!("unsupported window function {other:?}")),
    }
}

fn trigger_of(e: &Expr) -> Result<Trigger, String> {
    let Expr::Call(name, args) = e else {
        return Err(format!("expected a trigger, got {e:?}"));
    };
    let subs = || {
        args.iter()
            .map(|(_, a)| trigger_of(a))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match name.as_str() {
        "Default" | "DefaultTrigger" => Trigger::Default,
        "Never" | "_Never" => Trigger::Never,
        "AfterCount" => Trigger::after_count(int_arg(args, 0, name)? as u64),
        "AfterProcessingTime" => Trigger::after_processing_time(Duration::from_micros(
            int_arg(args, 0, name).unwrap_or(0),
        )),
        "AfterWatermark" => {
            let mut t = Trigger::after_watermark();
            for (k, a) in args {
                match k.as_deref() {
                    Some("early") => t = t.with_early_firings(trigger_of(a)?),
                    Some("late") => t = t.with_late_firings(trigger_of(a)?),
                    other => return Err(format!("AfterWatermark: unknown argument {other:?}")),
                }
            }
            t
        }
        "AfterEach" => Trigger::AfterEach(subs()?),
        "AfterAny" | "AfterFirst" => Trigger::AfterFirst(subs()?),
        "AfterAll" => Trigger::AfterAll(subs()?),
        "Repeatedly" => Trigger::repeatedly(subs()?.pop().ok_or("Repeatedly needs a trigger")?),
        "OrFinally" => {
            let mut s = subs()?;
            if s.len() != 2 {
                return Err("OrFinally needs two triggers".into());
            }
            let until = s.pop().expect("two");
            s.pop().expect("two").or_finally(until)
        }
        other => return Err(format!("unsupported trigger {other}")),
    })
}

/// Parses a Python trigger expression.
pub fn parse_trigger(text: &str) -> Result<Trigger, String> {
    trigger_of(&parse_expr(text)?)
}

fn yaml_ints(y: &Yaml) -> Option<Vec<i64>> {
    y.as_vec()
        .map(|v| v.iter().filter_map(Yaml::as_i64).collect())
}

fn parse_expected(y: &Yaml) -> Expected {
    let get = |k: &str| &y[k];
    Expected {
        window: yaml_ints(get("window")).and_then(|w| (w.len() == 2).then(|| (w[0], w[1]))),
        values: yaml_ints(get("values")),
        timestamp: get("timestamp").as_i64(),
        index: get("index").as_i64(),
        nonspeculative_index: get("nonspeculative_index").as_i64(),
        early: get("early").as_bool(),
        late: get("late").as_bool(),
        is_final: get("final").as_bool(),
    }
}

fn text_of(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Parses every transcript of a multi-document YAML text.
pub fn parse(text: &str) -> Result<Vec<Transcript>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if d.is_null() {
            continue;
        }
        let name = text_of(&d["name"]).unwrap_or_else(|| format!("transcript {i}"));
        let mut actions = Vec::new();
        for a in d["transcript"]
            .as_vec()
            .ok_or_else(|| format!("{name}: no transcript"))?
        {
            let Some(h) = a.as_hash() else {
                return Err(format!("{name}: an action must be a map"));
            };
            for (k, v) in h {
                let action = match k.as_str() {
                    Some("input") => Action::Input(
                        yaml_ints(v).ok_or_else(|| format!("{name}: input needs a list"))?,
                    ),
                    Some("watermark") => Action::Watermark(
                        v.as_i64().ok_or_else(|| format!("{name}: bad watermark"))?,
                    ),
                    Some("clock") => {
                        Action::Clock(v.as_i64().ok_or_else(|| format!("{name}: bad clock"))?)
                    }
                    Some("expect") => Action::Expect(
                        v.as_vec()
                            .map(|l| l.iter().map(parse_expected).collect())
                            .unwrap_or_default(),
                    ),
                    Some("state") => Action::State,
                    other => return Err(format!("{name}: unknown action {other:?}")),
                };
                actions.push(action);
            }
        }
        let combiner = text_of(&d["timestamp_combiner"]).or_else(|| text_of(&d["output_time_fn"]));
        out.push(Transcript {
            name,
            window_fn: text_of(&d["window_fn"]).unwrap_or_else(|| "GlobalWindows".into()),
            trigger_fn: text_of(&d["trigger_fn"]).unwrap_or_else(|| "Default".into()),
            combiner: combiner.unwrap_or_else(|| "OUTPUT_AT_EOW".into()),
            accumulation: text_of(&d["accumulation_mode"]).unwrap_or_else(|| "accumulating".into()),
            allowed_lateness: d["allowed_lateness"].as_i64().unwrap_or(0),
            error: text_of(&d["error"]),
            actions,
        });
    }
    Ok(out)
}

/// The transcripts bundled with the suite, with their file names.
pub fn bundled() -> Vec<(&'static str, Transcript)> {
    const FILES: [(&str, &str); 2] = [
        (
            "beam_transcripts.yaml",
            include_str!("../transcripts/beam_transcripts.yaml"),
        ),
        (
            "triggers.yaml",
            include_str!("../transcripts/triggers.yaml"),
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
    for (bundling, seed) in variants {
        s.bundling = bundling;
        let env = Env::new(runner.name, seed);
        result = run_checked(t, &s, &env)
            .map_err(|e| format!("{e} (bundling {bundling:?}, seed {seed})"));
        if result.is_err() {
            break;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_parse() {
        assert_eq!(
            parse_trigger("AfterWatermark(early=AfterCount(2), late=AfterCount(3))").unwrap(),
            Trigger::after_watermark()
                .with_early_firings(Trigger::after_count(2))
                .with_late_firings(Trigger::after_count(3))
        );
        assert_eq!(
            parse_trigger("Repeatedly(AfterAny(AfterCount(3), AfterWatermark()))").unwrap(),
            Trigger::repeatedly(Trigger::AfterFirst(vec![
                Trigger::after_count(3),
                Trigger::after_watermark()
            ]))
        );
        assert_eq!(
            parse_window_fn("Sessions(10)").unwrap(),
            WindowFn::sessions(Duration::from_micros(10))
        );
        assert_eq!(
            parse_window_fn("SlidingWindows(10, 5)").unwrap(),
            WindowFn::sliding(Duration::from_micros(10), Duration::from_micros(5))
        );
        assert!(parse_trigger("AfterWatermark(early=)").is_err());
        assert!(parse_window_fn("Bogus(1)").is_err());
    }
}
