//! The Kappa architecture: one streaming job over the history (files) and
//! the live stream (a Kafka topic) as one stream, 1-hour event-time windows
//! per user, results to files; reprocessing is the same job run again from
//! the start of the history and offset 0 into a new output:
//! `cargo run --release -p examples --bin kappa -- --runner direct`.
//!
//! `--history` is a file or glob of `txn_id,user_id,amount,timestamp` lines
//! (default: the bundled sample), read at their own times; `--kafka BROKERS`
//! adds the lines of `--topic` (from offset 0) at their record times. The
//! watermark is the least of both parts': a file's stays at the start until
//! it is read, so no window of the history closes before the history is in,
//! and the live part's then leads. Each window's line is
//! `user,window start,total,count,last transaction time` (times UTC). With
//! `--output PREFIX` the lines go to files: with `--kafka` one file set per
//! window, written exactly once on a checkpointing timely run
//! (`--checkpoint-dir`); without it one file.

use beam_core::{
    Combine, Flatten, Map, PCollectionList, ParDo, Pipeline, PipelineOptions, WindowFn, WindowInto,
};
use clap::Parser;
use examples::lambda::PaymentTotalsFn;
use examples::output::{read_lines, write_lines};
use examples::records::{
    minutes, utc, FormatInWindow, ParsePaymentRecords, ParseTransactions, Transaction,
};
use io_connectors::kafka::KafkaIO;
use io_connectors::TextIO;
use std::marker::PhantomData;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "History and live stream as one streaming job: hourly totals per user")]
struct Args {
    /// The history: a file or glob of transaction lines (default: the bundled sample).
    #[arg(long)]
    history: Option<String>,
    /// Kafka brokers (`host:port,...`) of the live stream.
    #[arg(long)]
    kafka: Option<String>,
    /// The live stream's topic.
    #[arg(long, default_value = "transactions")]
    topic: String,
    /// Read the topic to its end offsets at start, then finish.
    #[arg(long)]
    stop_at_end: bool,
    /// Prefix of the output files, one per window (default: print the lines).
    #[arg(long)]
    output: Option<String>,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let history = read_lines(&p, args.history.as_deref(), examples::SAMPLE_TRANSACTIONS)?
            .apply("ParseHistory", ParDo::of(ParseTransactions))?;
        let all = match &args.kafka {
            Some(brokers) => {
                let mut read = KafkaIO::read(brokers, &[&args.topic]);
                if args.stop_at_end {
                    read = read.stop_at_end();
                }
                let live = p
                    .apply("ReadLive", read)?
                    .apply("ParseLive", ParDo::of(ParsePaymentRecords))?;
                PCollectionList::of(vec![history, live])?.apply("HistoryThenLive", Flatten)?
            }
            None => history,
        };
        let lines = all
            .apply("Hours", WindowInto::new(WindowFn::fixed(minutes(60))))?
            .apply(
                "PerUser",
                Map::new(|t: &Transaction| {
                    (
                        t.user.clone(),
                        (t.amount, t.timestamp.as_micros().div_euclid(1_000_000)),
                    )
                }),
            )?
            .apply("HourlyTotals", Combine::per_key(PaymentTotalsFn))?
            .apply(
                "Format",
                ParDo::of(FormatInWindow(
                    |(user, (total, count, last)): &(String, (f64, u64, i64)),
                     w: &beam_core::Window| {
                        let start = match w {
                            beam_core::Window::Interval(w) => utc(w.start),
                            beam_core::Window::Global => "global".to_string(),
                        };
                        let last = utc(beam_core::Timestamp::from_secs(*last));
                        format!("{user},{start},{total:.2},{count},{last}")
                    },
                    PhantomData,
                )),
            )?;
        match (&args.output, lines.is_bounded()) {
            (Some(prefix), false) => {
                lines.apply(
                    "Write",
                    TextIO::write(prefix)
                        .with_windowed_writes()
                        .with_num_shards(1),
                )?;
            }
            (output, _) => write_lines(&lines, output.as_deref())?,
        }
        p.run()?;
        Ok(())
    })
}
