//! Runs Beam YAML pipeline files on any runner:
//! `cargo run --release -p examples --bin beam-yaml -- run --pipeline FILE.yaml --runner direct`.
//!
//! The transforms are those of `beam_sql::yaml::builtins` (reads and writes
//! of text, CSV, JSON and Parquet, `Create`, `Filter`, `MapToFields`, `Sql`,
//! `Combine`, `Explode`, `Flatten`, `Join`, `Partition`, `WindowInto`,
//! `LogForTesting`, ...) and any a linked crate registers. Python and
//! JavaScript callables are refused with an error naming the transform.

use beam_core::{Pipeline, PipelineOptions};
use beam_sql::yaml::YamlPipeline;
use clap::{Parser, Subcommand};
use examples as _;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "beam-yaml", about = "Runs Beam YAML pipelines")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs a pipeline file.
    Run {
        /// The pipeline file.
        #[arg(long)]
        pipeline: String,
        #[command(flatten)]
        options: PipelineOptions,
    },
}

fn main() -> ExitCode {
    let Args {
        command: Command::Run { pipeline, options },
    } = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let text = std::fs::read_to_string(&pipeline)
            .map_err(|e| anyhow::anyhow!("cannot read {pipeline}: {e}"))?;
        let spec = YamlPipeline::parse(&text)?;
        let p = Pipeline::new(options);
        spec.expand(&p)?;
        p.run()?;
        Ok(())
    })
}
