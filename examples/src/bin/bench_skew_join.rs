//! Skew benchmark for joins: a left side whose keys follow a Zipf
//! distribution joined with one right row per key, as a plain inner join
//! and with hot keys spread over groups, on the timely runner:
//!
//! ```sh
//! cargo run --release -p examples --bin bench_skew_join -- --events 4000000 --keys 100000 --exponent 1.2 --fanout 16 --runner timely --workers 8
//! ```
//!
//! Prints, for each variant, the wall time and the load of the join's keyed
//! steps (the elements the busiest worker took over the mean), and checks
//! that both variants give the same pairs (their number and a checksum).

use beam_core::{
    Create, DoFn, InnerJoin, ParDo, Pipeline, PipelineOptions, ProcessContext, Read, UserError,
    UserResult, WindowedValue,
};
use clap::Parser;
use examples::generated::Generated;
use examples::skew::{worker_loads, Zipf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Number of left rows.
    #[arg(long, default_value_t = 4_000_000)]
    events: u64,
    /// Number of distinct keys (one right row each).
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// The Zipf exponent: key `r` (from 1) has weight `r^-exponent`.
    #[arg(long, default_value_t = 1.2)]
    exponent: f64,
    /// Groups per hot key.
    #[arg(long, default_value_t = 16)]
    fanout: u32,
    /// A key is hot with this share of the sampled left rows.
    #[arg(long, default_value_t = 0.005)]
    min_share: f64,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// Counts the pairs and sums their values.
#[derive(Clone)]
struct Tally(Arc<Mutex<(u64, u64)>>);

impl DoFn for Tally {
    type In = (u64, (u64, u64));
    type Out = ();
    fn process(&mut self, (_, (l, r)): &Self::In, _: &mut ProcessContext<'_, ()>) -> UserResult {
        let mut t = self.0.lock().map_err(|e| UserError::msg(e.to_string()))?;
        t.0 += 1;
        t.1 = t.1.wrapping_add(l.wrapping_mul(31).wrapping_add(*r));
        Ok(())
    }
}

type Outcome = (f64, Vec<(String, f64)>, (u64, u64));

fn run(args: &Args, skewed: bool) -> anyhow::Result<Outcome> {
    let metrics = std::env::temp_dir().join(format!(
        "bench-skew-join-{}-{skewed}.json",
        std::process::id()
    ));
    let mut options = args.pipeline.clone();
    options.metrics_out = Some(metrics.clone());
    let p = Pipeline::new(options);
    let zipf = Zipf::new(args.keys, args.exponent);
    let left = p.apply(
        "Left",
        Read::from(Generated::new(0..args.events, move |i| {
            WindowedValue::in_global_window((zipf.key(i), i))
        })),
    )?;
    let right = p.apply("Right", Create::of((1..=args.keys).map(|k| (k, k * 7))))?;
    let join = if skewed {
        InnerJoin::with(&right).with_skewed_keys(args.fanout, args.min_share)
    } else {
        InnerJoin::with(&right)
    };
    let tally = Tally(Arc::default());
    left.apply("Join", join)?
        .apply("Tally", ParDo::of(tally.clone()))?;
    let start = Instant::now();
    p.run()?;
    let secs = start.elapsed().as_secs_f64();
    let loads = worker_loads(&metrics)?;
    let t = *tally.0.lock().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((secs, loads, t))
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let (plain_secs, plain_loads, plain) = run(&args, false)?;
        let (skew_secs, skew_loads, skewed) = run(&args, true)?;
        anyhow::ensure!(plain == skewed, "the pairs differ: {plain:?} vs {skewed:?}");
        anyhow::ensure!(
            plain.0 == args.events,
            "{} pairs of {} rows",
            plain.0,
            args.events
        );
        for (what, secs, loads) in [
            ("plain join", plain_secs, plain_loads),
            ("skew join", skew_secs, skew_loads),
        ] {
            let loads: Vec<String> = loads
                .iter()
                .filter(|(s, _)| s.contains("GroupByKey"))
                .map(|(s, r)| format!("{s}: busiest/mean {r:.2}"))
                .collect();
            println!("{what}: {secs:.2} s; {}", loads.join("; "));
        }
        println!("{} pairs, identical with and without spreading", plain.0);
        Ok(())
    })
}
