//! Element-preserving steps: `WithTimestamps` then `Filter` over records
//! with a string field, against the same pipeline written with DoFns that
//! clone each kept record into their output (what both steps did before they
//! moved elements through), in the same invocation:
//!
//! ```sh
//! cargo run --release -p examples --bin bench_elementwise -- --events 10000000 --runner rayon
//! ```
//!
//! Each round runs both pipelines; the figures are the medians, and every
//! run checks the number of records kept and their latest timestamp.

use beam_core::{
    DoFn, Filter, FlatMap, Map, Max, ParDo, Pipeline, PipelineOptions, ProcessContext, Read,
    Timestamp, UserResult, WithTimestamps,
};
use clap::Parser;
use examples::generated::Generated;
use serde::{Deserialize, Serialize};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;
// Link the runners so `--runner` finds them.
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

#[derive(Parser)]
struct Args {
    /// Records per run.
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Rounds (each runs both pipelines).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// A parsed record, as a JSON-lines reader would give it.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Payment {
    user: String,
    amount: i64,
    at_ms: i64,
}

fn payment(i: u64) -> beam_core::WindowedValue<Payment> {
    beam_core::WindowedValue::in_global_window(Payment {
        user: format!("user-{:06}-of-the-shop", i % 100_000),
        amount: (i.wrapping_mul(0x9E37_79B9) % 1000) as i64,
        at_ms: i as i64,
    })
}

/// Timestamps each record by cloning it into the output.
#[derive(Clone)]
struct CloneRetime;

impl DoFn for CloneRetime {
    type In = Payment;
    type Out = Payment;
    fn process(&mut self, x: &Payment, ctx: &mut ProcessContext<'_, Payment>) -> UserResult {
        ctx.output_with_timestamp(x.clone(), Timestamp::from_millis(x.at_ms))
    }
}

/// Keeps the latest timestamp it sees.
#[derive(Clone)]
struct KeepLast(Arc<Mutex<Option<i64>>>);

impl DoFn for KeepLast {
    type In = Option<i64>;
    type Out = ();
    fn process(&mut self, x: &Option<i64>, _: &mut ProcessContext<'_, ()>) -> UserResult {
        *self
            .0
            .lock()
            .map_err(|e| beam_core::UserError::msg(e.to_string()))? = *x;
        Ok(())
    }
}

/// Runs one pipeline; returns its time and the latest kept `at_ms`.
fn run(args: &Args, in_place: bool) -> anyhow::Result<(f64, Option<i64>)> {
    let p = Pipeline::new(args.pipeline.clone());
    let input = p.apply(
        "Payments",
        Read::from(Generated::new(0..args.events, payment)),
    )?;
    let kept = if in_place {
        input
            .apply(
                "Time",
                WithTimestamps::of(|x: &Payment| Timestamp::from_millis(x.at_ms)),
            )?
            .apply("Large", Filter::new(|x: &Payment| x.amount >= 500))?
    } else {
        input.apply("Time", ParDo::of(CloneRetime))?.apply(
            "Large",
            FlatMap::new(|x: &Payment| (x.amount >= 500).then(|| x.clone())),
        )?
    };
    let latest = Arc::new(Mutex::new(None));
    kept.apply("At", Map::new(|x: &Payment| x.at_ms))?
        .apply("Max", Max::globally())?
        .apply("Keep", ParDo::of(KeepLast(latest.clone())))?;
    let started = Instant::now();
    p.run()?;
    let secs = started.elapsed().as_secs_f64();
    let got = *latest.lock().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((secs, got))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let expected = (0..args.events)
            .rev()
            .find(|&i| payment(i).value.amount >= 500)
            .map(|i| i as i64);
        let (mut moved, mut cloned) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds.max(1) {
            for (in_place, times) in [(true, &mut moved), (false, &mut cloned)] {
                let (secs, got) = run(&args, in_place)?;
                anyhow::ensure!(
                    got == expected,
                    "latest kept {got:?}, expected {expected:?}"
                );
                times.push(secs);
            }
        }
        let (m, c) = (median(moved), median(cloned));
        println!(
            "{} records on {}: moved through {m:.2} s, cloned {c:.2} s, ratio {:.2}",
            args.events,
            args.pipeline.runner,
            m / c
        );
        Ok(())
    })
}
