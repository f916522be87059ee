//! Counts words: `cargo run --release -p examples --bin wordcount -- --runner direct`.
//!
//! Reads `--input` (a file or glob; the bundled sample text without it), splits
//! lines into words (maximal runs of Unicode letters, lowercased), counts each
//! word and writes `word: count` lines: to shard files `PREFIX-SSSSS-of-NNNNN`
//! with `--output PREFIX`, else to standard output, most frequent first.

use beam_core::{Pipeline, PipelineOptions};
use clap::Parser;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "wordcount", about = "Counts the words of text files")]
struct Args {
    #[command(flatten)]
    io: examples::output::IoArgs,
    /// Number of output shards (default: the parallelism, or the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    num_shards: Option<u32>,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        examples::wordcount(
            &p,
            args.io.input.as_deref(),
            args.io.output.as_deref(),
            args.num_shards.map(|n| n as usize),
        )?;
        p.run()?;
        Ok(())
    })
}
