//! Runs the whole conformance suite on every registered runner.

use conformance_tests::{capabilities_markdown, run_suite, Outcome};

#[test]
fn every_scenario_passes_on_every_runner_that_supports_it() {
    let results = run_suite();
    let mut failures = Vec::new();
    for r in &results {
        let status = match &r.outcome {
            Outcome::Pass => "pass".to_string(),
            Outcome::Fail(m) => {
                failures.push(format!("{} on {}: {m}", r.name, r.runner));
                "FAIL".to_string()
            }
            Outcome::Unsupported(f) => format!("unsupported {f:?}"),
            Outcome::KnownFailure(reason) => format!("known failure: {reason}"),
        };
        println!("{:<12} {:<70} {status}", r.runner, r.name);
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../CAPABILITIES.md");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == capabilities_markdown(&results),
        "CAPABILITIES.md is stale: run `cargo run -p conformance-tests --bin capabilities`"
    );
}
