//! Alerts when a user's payments in a 5-minute window (sliding every minute)
//! add up to more than 10 000:
//! `cargo run --release -p examples --bin fraud_alert -- --runner direct`.
//!
//! Input: `txn_id,user_id,amount,timestamp` lines (`--input`, default: the
//! bundled sample). Output: `ALERT user window total`.

use beam_core::{Filter, Map, ParDo, Pipeline, PipelineOptions, Sum, WindowFn, WindowInto};
use clap::Parser;
use examples::output::{read_lines, write_lines, IoArgs};
use examples::records::{minutes, window_span, FormatInWindow, ParseTransactions, Transaction};
use std::marker::PhantomData;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Per-user sliding sums of payments, alerting above a threshold")]
struct Args {
    #[command(flatten)]
    io: IoArgs,
    /// Alert when a window's total exceeds this.
    #[arg(long, default_value_t = 10_000.0)]
    threshold: f64,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let threshold = args.threshold;
        let p = Pipeline::new(args.pipeline);
        let alerts = read_lines(&p, args.io.input.as_deref(), examples::SAMPLE_TRANSACTIONS)?
            .apply("Parse", ParDo::of(ParseTransactions))?
            .apply(
                "Sliding",
                WindowInto::new(WindowFn::sliding(minutes(5), minutes(1))),
            )?
            .apply(
                "Amounts",
                Map::new(|t: &Transaction| (t.user.clone(), t.amount)),
            )?
            .apply("TotalPerUser", Sum::per_key())?
            .apply(
                "AboveThreshold",
                Filter::new(move |(_, total): &(String, f64)| *total > threshold),
            )?
            .apply(
                "Format",
                ParDo::of(FormatInWindow(
                    |(user, total): &(String, f64), w: &beam_core::Window| {
                        format!("ALERT {user} {} total {total:.2}", window_span(w))
                    },
                    PhantomData,
                )),
            )?;
        write_lines(&alerts, args.io.output.as_deref())?;
        p.run()?;
        Ok(())
    })
}
