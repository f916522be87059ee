//! Counts words: `cargo run --release -p examples --bin wordcount -- --runner direct`.
//!
//! Reads `--input` (a file or glob; the bundled sample text without it), splits
//! lines into words (maximal runs of Unicode letters, lowercased), counts each
//! word and writes `word: count` lines: to shard files `PREFIX-SSSSS-of-NNNNN`
//! with `--output PREFIX`, else to standard output, most frequent first.

use beam_core::{
    Create, DoFn, Map, PCollection, Pipeline, PipelineOptions, ProcessContext, ToList, UserResult,
};
use clap::Parser;
use examples::{CountWords, SAMPLE_TEXT};
use io_connectors::TextIO;
use std::io::Write;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "wordcount", about = "Counts the words of text files")]
struct Args {
    /// Text file or glob to read (default: the bundled sample text).
    #[arg(long)]
    input: Option<String>,
    /// Prefix of the output shard files (default: print to standard output).
    #[arg(long)]
    output: Option<String>,
    /// Number of output shards (default: the parallelism, or the number of cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    num_shards: Option<u32>,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// Prints all counts, most frequent first (ties by word).
#[derive(Clone)]
struct PrintSorted;

impl DoFn for PrintSorted {
    type In = Vec<(String, u64)>;
    type Out = ();
    fn process(
        &mut self,
        counts: &Vec<(String, u64)>,
        _: &mut ProcessContext<'_, ()>,
    ) -> UserResult {
        let mut sorted: Vec<&(String, u64)> = counts.iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for (w, c) in sorted {
            writeln!(out, "{w}: {c}")?;
        }
        out.flush()?;
        Ok(())
    }
}

fn build(args: Args) -> anyhow::Result<Pipeline> {
    let p = Pipeline::new(args.pipeline);
    let lines: PCollection<String> = match &args.input {
        Some(pattern) => p.apply("ReadLines", TextIO::read(pattern))?,
        None => p.apply(
            "ReadLines",
            Create::of(SAMPLE_TEXT.lines().map(String::from)),
        )?,
    };
    let counts = lines.apply("CountWords", CountWords)?;
    match &args.output {
        Some(prefix) => {
            let mut write = TextIO::write(prefix);
            if let Some(n) = args.num_shards {
                write = write.with_num_shards(n as usize);
            }
            counts
                .apply(
                    "Format",
                    Map::new(|(w, c): &(String, u64)| format!("{w}: {c}")),
                )?
                .apply("WriteCounts", write)?;
        }
        None => {
            counts
                .apply("Gather", ToList::globally())?
                .apply("Print", beam_core::ParDo::of(PrintSorted))?;
        }
    }
    Ok(p)
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = build(args)?;
        p.run()?;
        Ok(())
    })
}
