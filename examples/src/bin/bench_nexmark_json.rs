//! Nexmark q5 over a JSON-lines file of events (as `gen nexmark` in the
//! hand-written baselines writes it): the auction with the most bids in each
//! 10 s window sliding by 2 s (ties: the smallest auction id), one line
//! `window_start,window_end,auction,count` per window, the hand-written
//! `nexmark_timely q5`'s output.
//!
//! The read gives each event its `dateTime` and, unless
//! `--no-event-time-watermark`, declares the file ordered by time (within
//! `--out-of-orderness-ms`), so the windows close while the file is read.
//!
//! ```sh
//! cargo run --release -p examples --bin bench_nexmark_json -- --input events.jsonl --output /tmp/q5/out --runner timely --workers 2
//! ```

use beam_core::{
    Combine, CombineFn, Count, Duration, FlatMap, ParDo, Pipeline, PipelineOptions, Timestamp,
    WindowFn, WindowInto,
};
use clap::Parser;
use examples::nexmark::CountResults;
use examples::records::FormatInWindow;
use io_connectors::{JsonLinesIO, TextIO};
use serde::{Deserialize, Serialize};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "bench_nexmark_json",
    about = "Nexmark q5 over a JSON-lines event file"
)]
struct Args {
    /// The JSON-lines events (a file or glob).
    #[arg(long)]
    input: String,
    /// Write the results as text shards `PREFIX-SSSSS-of-NNNNN` (else they are counted).
    #[arg(long)]
    output: Option<String>,
    /// How far out of event-time order the events may be, in milliseconds.
    #[arg(long, default_value_t = 0)]
    out_of_orderness_ms: i64,
    /// Read without an event-time watermark (windows close at the end of the file).
    #[arg(long)]
    no_event_time_watermark: bool,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// The fields q5 needs of an event line; the rest of the line is skipped
/// by the parser without being kept, and the kind parses without
/// allocating.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct EventLine {
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(default)]
    auction: Option<u64>,
    #[serde(rename = "dateTime")]
    date_time: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Person,
    Auction,
    Bid,
}

/// The auction with the most bids (ties: the smallest id).
#[derive(Clone)]
struct Hottest;

fn better(a: (u64, u64), b: (u64, u64)) -> bool {
    a.1 > b.1 || (a.1 == b.1 && a.0 < b.0)
}

impl CombineFn for Hottest {
    type Input = (u64, u64);
    type Accum = Option<(u64, u64)>;
    type Output = (u64, u64);
    fn create_accumulator(&self) -> Option<(u64, u64)> {
        None
    }
    fn add_input(&self, acc: &mut Option<(u64, u64)>, x: (u64, u64)) {
        if acc.is_none_or(|best| better(x, best)) {
            *acc = Some(x);
        }
    }
    fn merge_accumulators(&self, acc: &mut Option<(u64, u64)>, other: Option<(u64, u64)>) {
        if let Some(x) = other {
            self.add_input(acc, x);
        }
    }
    fn extract_output(&self, acc: Option<(u64, u64)>) -> (u64, u64) {
        acc.unwrap_or((u64::MAX, 0))
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let runner = args.pipeline.runner.clone();
        let p = Pipeline::new(args.pipeline);
        let read = JsonLinesIO::read::<EventLine>(&args.input)
            .with_timestamps(|e: &EventLine| Timestamp::from_millis(e.date_time));
        let read = if args.no_event_time_watermark {
            read
        } else {
            read.with_bounded_out_of_orderness(Duration::from_millis(args.out_of_orderness_ms))
        };
        let lines = p
            .apply("Events", read)?
            .apply(
                "BidAuctions",
                FlatMap::new(
                    |e: &EventLine| {
                        if e.kind == Kind::Bid {
                            e.auction
                        } else {
                            None
                        }
                    },
                ),
            )?
            .apply(
                "Window",
                WindowInto::new(WindowFn::sliding(
                    Duration::from_secs(10),
                    Duration::from_secs(2),
                )),
            )?
            .apply("Count", Count::per_element())?
            .apply("Hottest", Combine::globally(Hottest).without_defaults())?
            .apply(
                "Format",
                ParDo::of(FormatInWindow(
                    |(auction, count): &(u64, u64), w: &beam_core::Window| match w {
                        beam_core::Window::Interval(iw) => format!(
                            "{},{},{auction},{count}",
                            iw.start.as_millis(),
                            iw.end.as_millis()
                        ),
                        beam_core::Window::Global => format!("global,{auction},{count}"),
                    },
                    std::marker::PhantomData,
                )),
            )?;
        match &args.output {
            Some(prefix) => {
                lines.apply(
                    "Write",
                    TextIO::write(prefix).with_runner_determined_sharding(),
                )?;
            }
            None => {
                lines.apply("Discard", ParDo::of(CountResults))?;
            }
        }
        let start = Instant::now();
        let result = p.run()?;
        let secs = start.elapsed().as_secs_f64();
        let results = match &args.output {
            Some(_) => "written".to_string(),
            None => result
                .metrics()
                .counter("Discard", "results")
                .unwrap_or(0)
                .to_string(),
        };
        println!("q5 from JSON on {runner}: {results} results, {secs:.2} s");
        Ok(())
    })
}
