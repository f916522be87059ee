//! Nexmark on any runner: generates `--events` events and runs one query.
//!
//! ```sh
//! cargo run --release -p examples --bin nexmark -- --query 5 --runner timely --events 1000000
//! cargo run --release -p examples --bin nexmark -- --query 3 --runner direct --events 100000 --output /tmp/q3
//! ```
//!
//! With `--output PREFIX` the results are written as JSON lines: a bounded
//! run writes each bundle as it comes (runner-determined sharding, so memory
//! stays bounded however many results there are), a stream one file set per
//! window and pane. Without it they are counted and discarded (for
//! benchmarking). Prints
//! the query, the runner, the events, the results, the time and events per second.

use beam_core::{
    DoFn, ParDo, Pipeline, PipelineOptions, ProcessContext, Read, ReadUnbounded, UserResult,
};
use clap::Parser;
use examples::nexmark::{query, CountResults, NexmarkSource, NexmarkStream};
use io_connectors::TextIO;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
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
    /// Events per second of wall time: an unbounded run whose event time keeps
    /// pace with the wall clock; reports event-time-to-output latency.
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

/// Records, for every result, how long after its event time was due (on the
/// wall clock) it came out, in milliseconds.
#[derive(Clone)]
struct Latency {
    stream: NexmarkStream,
    samples: Arc<Mutex<Vec<f64>>>,
}

impl DoFn for Latency {
    type In = String;
    type Out = ();
    fn process(&mut self, _: &String, ctx: &mut ProcessContext<'_, ()>) -> UserResult {
        let now = beam_core::Timestamp::wall_clock().as_micros();
        ctx.metrics().inc_counter("results", 1);
        // Results of the global window (running panes) are due at no event time.
        if ctx.timestamp() >= beam_core::GLOBAL_WINDOW_MAX {
            return Ok(());
        }
        // A window's result is due when its end is (its timestamp is the end minus 1 ms).
        let due = self.stream.due_micros(ctx.timestamp()) + 1000;
        if let Ok(mut s) = self.samples.lock() {
            s.push((now - due).max(0) as f64 / 1000.0);
        }
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let runner = args.pipeline.runner.clone();
        let p = Pipeline::new(args.pipeline);
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stream = args.rate.map(|rate| {
            let start = beam_core::Timestamp::wall_clock().as_micros();
            // Start a little later, so that building the pipeline is not counted.
            NexmarkStream::new(args.events, rate, start + 200_000)
        });
        let events = match &stream {
            Some(s) => p.apply("Events", ReadUnbounded::from(s.clone()))?,
            None => p.apply(
                "Events",
                Read::from(NexmarkSource::new(args.events, args.event_rate)),
            )?,
        };
        let results = query(args.query, &events)?;
        match (&args.output, &stream) {
            (Some(prefix), None) => {
                results.apply(
                    "Write",
                    TextIO::write(prefix).with_runner_determined_sharding(),
                )?;
            }
            (Some(prefix), Some(_)) => {
                // A stream is written one file set per window and pane, as panes
                // fire; results in the global window (which never closes) or in
                // merged sessions go into 10 s windows of their timestamps first.
                let window_fn = results.windowing().window_fn.clone();
                let rewindow = matches!(
                    window_fn,
                    beam_core::WindowFn::Global | beam_core::WindowFn::InvalidWindows(_)
                ) || window_fn.is_merging();
                let results = if rewindow {
                    results.apply(
                        "FilesOf10s",
                        beam_core::WindowInto::new(beam_core::WindowFn::fixed(
                            beam_core::Duration::from_secs(10),
                        )),
                    )?
                } else {
                    results
                };
                results.apply("Write", TextIO::write(prefix).with_windowed_writes())?;
            }
            (None, Some(s)) => {
                let latency = Latency {
                    stream: s.clone(),
                    samples: samples.clone(),
                };
                results.apply("Discard", ParDo::of(latency))?;
            }
            (None, None) => {
                results.apply("Discard", ParDo::of(CountResults))?;
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
        let total = |name: &str| -> i64 {
            result
                .metrics()
                .query(None, Some(name))
                .filter_map(|m| match m.value {
                    beam_core::metrics::MetricValue::Counter(n) => Some(n),
                    _ => None,
                })
                .sum()
        };
        if total("checkpoints_completed") > 0 {
            println!(
                "checkpoints: {} completed, {} failed, {} abandoned; early input: {} bundles held, {} bytes waited on disk",
                total("checkpoints_completed"),
                total("checkpoints_failed"),
                total("checkpoints_abandoned"),
                total("checkpoint_early_bundles_held"),
                total("checkpoint_early_bytes_spilled"),
            );
        }
        if stream.is_some() && args.output.is_none() {
            let mut s = samples.lock().map_err(|e| anyhow::anyhow!("{e}"))?.clone();
            s.sort_by(f64::total_cmp);
            println!(
                "latency from event time due to output: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} results)",
                percentile(&s, 0.5),
                percentile(&s, 0.99),
                s.last().copied().unwrap_or(f64::NAN),
                s.len()
            );
        }
        Ok(())
    })
}
