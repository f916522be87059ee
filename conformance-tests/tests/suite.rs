//! The conformance suite, one test per scenario, runner and worker count
//! (and per transcript and runner), so that a filter runs a part of it
//! (`cargo test -p conformance-tests --test suite -- side_input`) and a
//! failure names the scenario, the runner, the workers and the seed:
//!
//! - `SCENARIO::RUNNER::wN`: the scenario with N workers, under each seed it
//!   is replayed with;
//! - `SCENARIO::RUNNER` for a runner's listed known failure: it must fail
//!   with some worker count (and the test says so), and fails once it passes;
//! - `transcript::FILE:NAME::RUNNER`: a trigger transcript, with every worker
//!   count, bundling and seed it is replayed with;
//! - a scenario or transcript a runner lacks the features for is an ignored
//!   test whose name gives the missing features;
//! - `capabilities_md_is_current`: CAPABILITIES.md is what these tests
//!   record when each does as expected.

use conformance_tests::transcript;
use conformance_tests::{
    all_scenarios, capabilities_markdown, expected_results, missing_features, outcome_of,
    run_scenario_with, worker_counts, Outcome,
};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for runner in beam_core::runner::registered_runners() {
        for scenario in all_scenarios() {
            let base = format!("{}::{}", scenario.name, runner.name);
            let missing = missing_features(scenario.features, runner);
            if !missing.is_empty() {
                trials.push(
                    Trial::test(format!("{base} (unsupported: {missing:?})"), || Ok(()))
                        .with_ignored_flag(true),
                );
                continue;
            }
            let known = runner
                .known_failures
                .iter()
                .any(|k| k.scenario == scenario.name);
            if known {
                trials.push(Trial::test(base, move || {
                    let failure = worker_counts(runner)
                        .iter()
                        .find_map(|&w| run_scenario_with(scenario, runner, w).err());
                    match outcome_of(scenario, runner, failure) {
                        Outcome::KnownFailure(reason) => {
                            println!("known failure: {reason}");
                            Ok(())
                        }
                        other => Err(Failed::from(format!("{other:?}"))),
                    }
                }));
                continue;
            }
            for &workers in worker_counts(runner) {
                trials.push(Trial::test(format!("{base}::w{workers}"), move || {
                    run_scenario_with(scenario, runner, workers).map_err(Failed::from)
                }));
            }
        }
        for (file, t) in transcript::bundled() {
            let name = format!("transcript::{file}:{}::{}", t.name, runner.name);
            if let Outcome::Unsupported(missing) = transcript::expected_outcome(&t, runner) {
                trials.push(
                    Trial::test(format!("{name} (unsupported: {missing:?})"), || Ok(()))
                        .with_ignored_flag(true),
                );
                continue;
            }
            trials.push(Trial::test(name, move || {
                match transcript::run(&t, runner) {
                    Outcome::Pass => Ok(()),
                    other => Err(Failed::from(format!("{other:?}"))),
                }
            }));
        }
    }
    trials.push(Trial::test("capabilities_md_is_current", || {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../CAPABILITIES.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        if committed == capabilities_markdown(&expected_results()) {
            Ok(())
        } else {
            Err(Failed::from(
                "CAPABILITIES.md is stale: run `cargo run -p conformance-tests --bin capabilities`",
            ))
        }
    }));
    libtest_mimic::run(&args, trials).exit();
}
