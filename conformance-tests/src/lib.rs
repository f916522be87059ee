//! The conformance suite, built the way Beam validates its runners.
//!
//! Each [`Scenario`] is written once as ordinary Rust against `beam-core`,
//! names the Beam test or documentation section it mirrors, and declares the
//! [`Feature`]s it uses (like Beam's `Uses*` categories). Each runner declares
//! the features it supports and a short list of known failures with reasons
//! (Beam's "sickbay"). The suite runs every scenario on every registered runner
//! and reports each as pass, fail, unsupported or known failure: nothing is
//! skipped silently. Scenarios whose result must not depend on bundling or
//! order are replayed under several seeds.
//!
//! Trigger transcripts in the YAML format of Beam's Python SDK are run by
//! [`transcript`]; `CAPABILITIES.md` is generated from both by
//! `cargo run -p conformance-tests --bin capabilities`.

#![deny(missing_docs)]

pub mod scenarios;
pub mod transcript;

pub use beam_core::Feature;
use beam_core::{Pipeline, PipelineOptions, RunnerRegistration};
use std::collections::BTreeMap;
use std::fmt::Write as _;

// Link every runner so the registry finds it.
pub use runner_direct;
pub use runner_rayon;
pub use runner_timely;

/// What a scenario runs with: a runner, a seed and a parallelism.
pub struct Env {
    runner: &'static str,
    seed: u64,
    parallelism: Option<usize>,
}

impl Env {
    /// An environment for `runner` with `seed`.
    pub fn new(runner: &'static str, seed: u64) -> Self {
        Env {
            runner,
            seed,
            parallelism: None,
        }
    }
    /// The same, with `--parallelism n` (worker threads).
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = Some(n);
        self
    }
    /// A fresh pipeline on the scenario's runner.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new(self.options())
    }
    /// The options of the scenario's pipelines.
    pub fn options(&self) -> PipelineOptions {
        let mut o = PipelineOptions::default()
            .with_runner(self.runner)
            .set("seed", self.seed.to_string());
        o.parallelism = self.parallelism;
        o
    }
    /// The runner's name.
    pub fn runner(&self) -> &str {
        self.runner
    }
}

/// One conformance scenario.
pub struct Scenario {
    /// Unique name.
    pub name: &'static str,
    /// Feature area, a row of the capability matrix.
    pub area: &'static str,
    /// Features the scenario needs.
    pub features: &'static [Feature],
    /// The Beam test or documentation section it mirrors.
    pub beam: &'static str,
    /// Whether it is replayed under several seeds (bundlings and orders).
    pub replay: bool,
    /// The scenario: panics (failed assertions, unwraps) mean failure.
    pub run: fn(&Env),
}

inventory::collect!(Scenario);

/// Declares a scenario:
/// `scenario!(name, area = "GroupByKey", features = [MergingWindows], beam = "...", replay = true, |env| { ... });`
#[macro_export]
macro_rules! scenario {
    ($name:ident, area = $area:expr, features = [$($f:ident),*], beam = $beam:expr, replay = $replay:expr, |$env:ident| $body:block) => {
        #[allow(clippy::redundant_closure_call)]
        fn $name($env: &$crate::Env) $body
        inventory::submit! {
            $crate::Scenario {
                name: stringify!($name),
                area: $area,
                features: &[$($crate::Feature::$f),*],
                beam: $beam,
                replay: $replay,
                run: $name,
            }
        }
    };
}

/// Every registered scenario, sorted by area and name.
pub fn all_scenarios() -> Vec<&'static Scenario> {
    let mut v: Vec<_> = inventory::iter::<Scenario>.into_iter().collect();
    v.sort_by_key(|s| (s.area, s.name));
    v
}

/// How a scenario went on a runner.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// It passed (under every seed tried).
    Pass,
    /// It failed, with the first failure.
    Fail(String),
    /// The runner lacks features it needs.
    Unsupported(Vec<Feature>),
    /// It failed as the runner's known-failure list says.
    KnownFailure(&'static str),
}

/// Seeds a replayed scenario runs under.
pub const REPLAY_SEEDS: [u64; 3] = [0, 1, 2];

/// The features among `needed` that `runner` does not declare.
pub fn missing_features(needed: &[Feature], runner: &RunnerRegistration) -> Vec<Feature> {
    needed
        .iter()
        .filter(|f| !runner.features.contains(f))
        .copied()
        .collect()
}

/// Every scenario runs with each of these `--parallelism` values (worker
/// threads of the rayon and timely runners; the direct runner has one).
pub const PARALLELISM: [usize; 3] = [1, 2, 4];

/// Runs `scenario` on `runner`, with each of [`PARALLELISM`] and, when the
/// scenario is replayable, each of the replay seeds.
pub fn run_scenario(scenario: &Scenario, runner: &'static RunnerRegistration) -> Outcome {
    let missing = missing_features(scenario.features, runner);
    if !missing.is_empty() {
        return Outcome::Unsupported(missing);
    }
    let failure = worker_counts(runner)
        .iter()
        .find_map(|&workers| run_scenario_with(scenario, runner, workers).err());
    outcome_of(scenario, runner, failure)
}

/// The worker counts scenarios run with on `runner`: each of
/// [`PARALLELISM`], or only the first on a runner that ignores it.
pub fn worker_counts(runner: &RunnerRegistration) -> &'static [usize] {
    if runner.parallel {
        &PARALLELISM
    } else {
        &PARALLELISM[..1]
    }
}

/// Runs `scenario` on `runner` with `workers` workers, under every seed it
/// is replayed with; the first failure, naming the workers and the seed.
pub fn run_scenario_with(
    scenario: &Scenario,
    runner: &'static RunnerRegistration,
    workers: usize,
) -> std::result::Result<(), String> {
    let seeds: &[u64] = if scenario.replay {
        &REPLAY_SEEDS
    } else {
        &REPLAY_SEEDS[..1]
    };
    for &seed in seeds {
        let env = Env::new(runner.name, seed).with_parallelism(workers);
        if let Err(message) = beam_core::user_code::catch(|| (scenario.run)(&env)) {
            return Err(format!("{workers} workers, seed {seed}: {message}"));
        }
    }
    Ok(())
}

/// The outcome of `scenario` on `runner` whose runs failed with `failure`
/// (the first one), against the runner's known failures.
pub fn outcome_of(
    scenario: &Scenario,
    runner: &'static RunnerRegistration,
    failure: Option<String>,
) -> Outcome {
    let known = runner
        .known_failures
        .iter()
        .find(|k| k.scenario == scenario.name);
    match (failure, known) {
        (None, None) => Outcome::Pass,
        (Some(f), None) => Outcome::Fail(f),
        (Some(_), Some(k)) => Outcome::KnownFailure(k.reason),
        (None, Some(_)) => Outcome::Fail(
            "passes but is listed as a known failure of this runner: remove it from the list"
                .into(),
        ),
    }
}

/// One result of the suite.
pub struct SuiteResult {
    /// Scenario (or transcript) name.
    pub name: String,
    /// Feature area.
    pub area: String,
    /// Runner name.
    pub runner: &'static str,
    /// What happened.
    pub outcome: Outcome,
}

/// Runs every scenario and every bundled transcript on every registered runner.
pub fn run_suite() -> Vec<SuiteResult> {
    let mut out = Vec::new();
    for runner in beam_core::runner::registered_runners() {
        for s in all_scenarios() {
            out.push(SuiteResult {
                name: s.name.to_string(),
                area: s.area.to_string(),
                runner: runner.name,
                outcome: run_scenario(s, runner),
            });
        }
        for (file, t) in transcript::bundled() {
            out.push(SuiteResult {
                name: format!("{file}:{}", t.name),
                area: "Trigger transcripts".to_string(),
                runner: runner.name,
                outcome: transcript::run(&t, runner),
            });
        }
    }
    out
}

/// What the suite records for every scenario and transcript on every
/// registered runner when each of their runs does as expected (passes, or
/// fails as a listed known failure): the results CAPABILITIES.md is made
/// from, known without running anything.
pub fn expected_results() -> Vec<SuiteResult> {
    let mut out = Vec::new();
    for runner in beam_core::runner::registered_runners() {
        for s in all_scenarios() {
            let missing = missing_features(s.features, runner);
            let outcome = match runner.known_failures.iter().find(|k| k.scenario == s.name) {
                _ if !missing.is_empty() => Outcome::Unsupported(missing),
                Some(k) => Outcome::KnownFailure(k.reason),
                None => Outcome::Pass,
            };
            out.push(SuiteResult {
                name: s.name.to_string(),
                area: s.area.to_string(),
                runner: runner.name,
                outcome,
            });
        }
        for (file, t) in transcript::bundled() {
            out.push(SuiteResult {
                name: format!("{file}:{}", t.name),
                area: "Trigger transcripts".to_string(),
                runner: runner.name,
                outcome: transcript::expected_outcome(&t, runner),
            });
        }
    }
    out
}

/// The capability matrix: feature area x runner, counts of pass / fail /
/// unsupported / known failure.
pub fn capabilities_markdown(results: &[SuiteResult]) -> String {
    let runners: Vec<&str> = {
        let mut r: Vec<&str> = results.iter().map(|r| r.runner).collect();
        r.sort();
        r.dedup();
        r
    };
    let mut cells: BTreeMap<(&str, &str), [usize; 4]> = BTreeMap::new();
    for r in results {
        let c = cells.entry((r.area.as_str(), r.runner)).or_default();
        let i = match r.outcome {
            Outcome::Pass => 0,
            Outcome::Fail(_) => 1,
            Outcome::Unsupported(_) => 2,
            Outcome::KnownFailure(_) => 3,
        };
        c[i] += 1;
    }
    let mut s = String::new();
    s.push_str("# Capabilities\n\nGenerated by `cargo run -p conformance-tests --bin capabilities`; the test suite fails when this file is stale.\n\n");
    s.push_str("Each cell: pass / fail / unsupported / known failure, over the conformance scenarios and trigger transcripts of the area. A scenario passes when it passes with 1, 2 and 4 workers (`--parallelism`, on the runners that use it) and, if replayed, every seed; it counts once.\n\n");
    let _ = write!(s, "| area |");
    for r in &runners {
        let _ = write!(s, " {r} |");
    }
    s.push_str("\n|---|");
    for _ in &runners {
        s.push_str("---|");
    }
    s.push('\n');
    let areas: Vec<&str> = {
        let mut a: Vec<&str> = results.iter().map(|r| r.area.as_str()).collect();
        a.sort();
        a.dedup();
        a
    };
    let mut totals = vec![[0usize; 4]; runners.len()];
    for area in &areas {
        let _ = write!(s, "| {area} |");
        for (i, r) in runners.iter().enumerate() {
            let c = cells.get(&(*area, *r)).copied().unwrap_or_default();
            for k in 0..4 {
                totals[i][k] += c[k];
            }
            let _ = write!(s, " {} / {} / {} / {} |", c[0], c[1], c[2], c[3]);
        }
        s.push('\n');
    }
    s.push_str("| **total** |");
    for t in &totals {
        let _ = write!(s, " **{} / {} / {} / {}** |", t[0], t[1], t[2], t[3]);
    }
    s.push('\n');
    s.push_str(&scenarios_by_area());
    let unsupported: Vec<&SuiteResult> = results
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                Outcome::Unsupported(_) | Outcome::KnownFailure(_)
            )
        })
        .collect();
    if !unsupported.is_empty() {
        s.push_str("\n## Not passing\n\n");
        for r in unsupported {
            let why = match &r.outcome {
                Outcome::Unsupported(f) => format!("unsupported: needs {f:?}"),
                Outcome::KnownFailure(reason) => format!("known failure: {reason}"),
                _ => String::new(),
            };
            let _ = writeln!(s, "- `{}` on {}: {why}", r.name, r.runner);
        }
    }
    s
}

/// Every scenario, by area, with the Beam test (or document) it mirrors; and
/// the trigger transcripts' count.
fn scenarios_by_area() -> String {
    let mut s = String::new();
    let scenarios = all_scenarios();
    let _ = write!(
        s,
        "\n## Scenarios by area\n\n{} scenarios, each run as its own test per runner and worker count (`cargo test -p conformance-tests --test suite -- NAME`).\n",
        scenarios.len()
    );
    let mut area = "";
    for sc in scenarios {
        if sc.area != area {
            area = sc.area;
            let _ = write!(s, "\n### {area}\n\n");
        }
        let _ = writeln!(s, "- `{}`: {}", sc.name, sc.beam.trim_end_matches('.'));
    }
    s.push_str(NOT_COVERED);
    let transcripts = transcript::bundled();
    let _ = write!(
        s,
        "\n### Trigger transcripts\n\n{} transcripts of trigger behaviour (ReduceFnRunnerTest and the trigger state machine tests), each an input script with its expected panes: {}.\n",
        transcripts.len(),
        transcripts
            .iter()
            .map(|(file, t)| format!("`{file}:{}`", t.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

/// Beam ValidatesRunner categories the suite has no scenarios for, because
/// the model here has no such feature, with what to use instead.
const NOT_COVERED: &str = "
### Not supported (no scenarios)

- Side inputs in combiners (`CombineFnWithContext`, CombineTest.testSimpleCombineWithContext and siblings): a `CombineFn` cannot read a side input. Combine first, then read the view in a ParDo over the combined values.
- `@RequiresTimeSortedInput` (ParDoTest.testRequiresTimeSortedInput*): a stateful DoFn sees its elements in arrival order. Buffer them in `ordered_list_state` by timestamp and release them from an event-time timer.
- Splittable DoFns (SplittableDoFnTest): bounded sources split through `BoundedSource::split` and dynamic splitting (`DynamicSplit`) instead; unbounded sources through `UnboundedSource::split` and checkpoint marks.
";
