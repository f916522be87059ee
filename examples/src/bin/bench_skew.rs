//! Skew benchmark: a per-key sum over keys drawn from a Zipf distribution,
//! in session windows (which a runner cannot pre-combine before the
//! exchange), with and without hot-key fanout, on the timely runner:
//!
//! ```sh
//! cargo run --release -p examples --bin bench_skew -- --events 4000000 --keys 100000 --exponent 1.2 --fanout 16 --runner timely --workers 8
//! ```
//!
//! Prints, for each variant, the wall time and the load of the combine's
//! keyed steps: the elements the busiest worker took over the mean, and
//! checks that both variants give the same sums.

use beam_core::{
    DoFn, Duration, ParDo, Pipeline, PipelineOptions, ProcessContext, Read, Sum, Timestamp,
    UserError, UserResult, WindowFn, WindowInto, WindowedValue,
};
use clap::Parser;
use examples::generated::Generated;
use examples::skew::{worker_loads, Zipf};
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Number of events.
    #[arg(long, default_value_t = 4_000_000)]
    events: u64,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 100_000)]
    keys: u64,
    /// The Zipf exponent: key `r` (from 1) has weight `r^-exponent`.
    #[arg(long, default_value_t = 1.2)]
    exponent: f64,
    /// Intermediate keys per hot key.
    #[arg(long, default_value_t = 16)]
    fanout: u32,
    /// Keys of this rank or better are spread (the hot ones).
    #[arg(long, default_value_t = 100)]
    hot_ranks: u64,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

type Sums = Arc<Mutex<Vec<(u64, u64, i64)>>>;

/// Keeps every (key, sum, window start).
#[derive(Clone)]
struct Collect(Sums);

impl DoFn for Collect {
    type In = (u64, u64);
    type Out = ();
    fn process(&mut self, kv: &(u64, u64), ctx: &mut ProcessContext<'_, ()>) -> UserResult {
        let start = ctx
            .window()
            .as_interval()
            .map_or(i64::MIN, |w| w.start.as_micros());
        self.0
            .lock()
            .map_err(|e| UserError::msg(e.to_string()))?
            .push((kv.0, kv.1, start));
        Ok(())
    }
}

/// Runs the sum with or without fanout; the time, the keyed steps' loads
/// (name, busiest over mean), and the sums (key, sum, window start).
type Outcome = (f64, Vec<(String, f64)>, Vec<(u64, u64, i64)>);

fn run(args: &Args, fanout: bool) -> anyhow::Result<Outcome> {
    let metrics =
        std::env::temp_dir().join(format!("bench-skew-{}-{fanout}.json", std::process::id()));
    let mut options = args.pipeline.clone();
    options.metrics_out = Some(metrics.clone());
    let p = Pipeline::new(options);
    let zipf = Zipf::new(args.keys, args.exponent);
    // Event i at i ms: one session per key over the whole run, unless the key
    // is rare enough to leave gaps of a minute.
    let events = p.apply(
        "Events",
        Read::from(Generated::new(0..args.events, move |i| {
            WindowedValue::timestamped((zipf.key(i), 1u64), Timestamp::from_millis(i as i64))
        })),
    )?;
    let windowed = events.apply(
        "Sessions",
        WindowInto::new(WindowFn::sessions(Duration::from_secs(60))),
    )?;
    let (hot, n) = (args.hot_ranks, args.fanout);
    let sums = if fanout {
        windowed.apply(
            "Sum",
            Sum::per_key().with_hot_key_fanout_fn(move |k: &u64| if *k <= hot { n } else { 1 }),
        )?
    } else {
        windowed.apply("Sum", Sum::per_key())?
    };
    let got: Sums = Arc::default();
    let sink = got.clone();
    sums.apply("Collect", ParDo::of(Collect(sink)))?;
    let start = Instant::now();
    p.run()?;
    let secs = start.elapsed().as_secs_f64();
    let loads = worker_loads(&metrics)?;
    let mut sums = got.lock().map_err(|e| anyhow::anyhow!("{e}"))?.clone();
    sums.sort();
    Ok((secs, loads, sums))
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let (plain_secs, plain_loads, plain) = run(&args, false)?;
        let (fan_secs, fan_loads, spread) = run(&args, true)?;
        anyhow::ensure!(plain == spread, "the sums differ with fanout");
        let total: u64 = plain.iter().map(|s| s.1).sum();
        anyhow::ensure!(
            total == args.events,
            "{total} of {} events summed",
            args.events
        );
        for (what, secs, loads) in [
            ("without fanout", plain_secs, plain_loads),
            ("with fanout", fan_secs, fan_loads),
        ] {
            let loads: Vec<String> = loads
                .iter()
                .map(|(s, r)| format!("{s}: busiest/mean {r:.2}"))
                .collect();
            println!("{what}: {secs:.2} s; {}", loads.join("; "));
        }
        println!(
            "{} sessions, identical with and without fanout",
            plain.len()
        );
        Ok(())
    })
}
