//! Runs the conformance suite and writes CAPABILITIES.md at the workspace root.
//!
//! `cargo run -p conformance-tests --bin capabilities`

use conformance_tests::{capabilities_markdown, run_suite, Outcome};

fn main() -> anyhow::Result<()> {
    let results = run_suite();
    for r in &results {
        if let Outcome::Fail(m) = &r.outcome {
            eprintln!("FAIL {} on {}: {m}", r.name, r.runner);
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../CAPABILITIES.md");
    std::fs::write(path, capabilities_markdown(&results))?;
    eprintln!("wrote CAPABILITIES.md ({} results)", results.len());
    Ok(())
}
