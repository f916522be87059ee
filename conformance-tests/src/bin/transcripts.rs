//! Runs trigger transcripts on a runner:
//! `cargo run -p conformance-tests --bin transcripts -- FILE.yaml --runner direct`.
//!
//! Prints one line per transcript (pass, fail with the first difference, or
//! unsupported with the missing features) and exits non-zero on any failure.

use clap::Parser;
use conformance_tests::{transcript, Outcome};
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Runs Beam trigger transcripts (YAML) on a runner")]
struct Args {
    /// Transcript file (multi-document YAML).
    file: std::path::PathBuf,
    /// Runner to run them on.
    #[arg(long, default_value = "direct")]
    runner: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let runner = beam_core::runner::find_runner(&args.runner)?;
        let text = std::fs::read_to_string(&args.file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
        let transcripts = transcript::parse(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
        let (mut passed, mut failed, mut unsupported) = (0, 0, 0);
        for t in &transcripts {
            match transcript::run(t, runner) {
                Outcome::Pass => {
                    passed += 1;
                    println!("pass  {}", t.name);
                }
                Outcome::Fail(m) => {
                    failed += 1;
                    println!("FAIL  {}: {m}", t.name);
                }
                Outcome::Unsupported(f) => {
                    unsupported += 1;
                    println!("unsupported  {}: needs {f:?}", t.name);
                }
                Outcome::KnownFailure(r) => println!("known failure  {}: {r}", t.name),
            }
        }
        println!("{passed} passed, {failed} failed, {unsupported} unsupported");
        anyhow::ensure!(failed == 0, "{failed} transcript(s) failed");
        Ok(())
    })
}
