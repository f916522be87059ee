//! Nexmark on any runner: generates `--events` events and runs one query.
//!
//! ```sh
//! cargo run --release -p examples --bin nexmark -- --query 5 --runner timely --events 1000000
//! cargo run --release -p examples --bin nexmark -- --query 3 --runner direct --events 100000 --output /tmp/q3
//! ```
//!
//! With `--output PREFIX` the results are written as JSON lines in shard
//! files; without it they are counted and discarded (for benchmarking). Prints
//! the query, the runner, the events, the results, the time and events per second.

use beam_core::{DoFn, ParDo, Pipeline, PipelineOptions, ProcessContext, Read, UserResult};
use clap::Parser;
use examples::nexmark::{query, NexmarkSource};
use io_connectors::TextIO;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "nexmark", about = "Runs a Nexmark query on generated events")]
struct Args {
    /// The query: 0 to 8, 11 or 12.
    #[arg(long)]
    query: u32,
    /// Number of events to generate.
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Events per second of wall time, for an unbounded run (not available yet).
    #[arg(long)]
    rate: Option<u64>,
    /// Events per second of event time (the generator's inter-event spacing).
    #[arg(long, default_value_t = 10_000)]
    event_rate: u64,
    /// Write results as JSON lines to shards `PREFIX-SSSSS-of-NNNNN`.
    #[arg(long)]
    output: Option<String>,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// Counts results in the `results` counter and drops them.
#[derive(Clone)]
struct Discard;

impl DoFn for Discard {
    type In = String;
    type Out = ();
    fn process(&mut self, _: &String, ctx: &mut ProcessContext<'_, ()>) -> UserResult {
        ctx.metrics().inc_counter("results", 1);
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        if args.rate.is_some() {
            anyhow::bail!(
                "--rate: an unbounded, rate-limited Nexmark source is not implemented yet; run a bounded query with --events"
            );
        }
        let runner = args.pipeline.runner.clone();
        let p = Pipeline::new(args.pipeline);
        let events = p.apply(
            "Events",
            Read::from(NexmarkSource::new(args.events, args.event_rate)),
        )?;
        let results = query(args.query, &events)?;
        match &args.output {
            Some(prefix) => {
                results.apply("Write", TextIO::write(prefix))?;
            }
            None => {
                results.apply("Discard", ParDo::of(Discard))?;
            }
        }
        let start = Instant::now();
        let result = p.run()?;
        let secs = start.elapsed().as_secs_f64();
        let count = match &args.output {
            Some(_) => "written".to_string(),
            None => result
                .metrics()
                .counter("Discard", "results")
                .unwrap_or(0)
                .to_string(),
        };
        println!(
            "query {} on {runner}: {} events, {count} results, {secs:.2} s, {:.0} events/s",
            args.query,
            args.events,
            args.events as f64 / secs
        );
        Ok(())
    })
}
