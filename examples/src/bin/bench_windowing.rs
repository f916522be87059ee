//! Windowing cost sweep: each window shape and aggregation at 1x, 4x and 16x
//! the events, with the time and its growth ratio (4x the events should cost
//! about 4x the time):
//!
//! ```sh
//! cargo run --release -p examples --bin bench_windowing -- --events 20000 --keys 40 --runner rayon
//! ```
//!
//! Events are generated: event `i` has key `i·7919 mod keys` and time
//! `i · spacing` plus up to 90 s of disorder, so with 40 keys and a 3 s
//! spacing each key sees an event about every 120 s, the session gap. Every
//! run checks that each event was counted once per window it belongs to.

use beam_core::trigger::{AccumulationMode, Trigger};
use beam_core::windowfn::{CustomWindowFn, CustomWindows, WindowFn};
use beam_core::{
    BoundedSource, DoFn, Duration, GroupByKey, IntervalWindow, Map, ParDo, Pipeline,
    PipelineOptions, ProcessContext, Read, StateContext, StatefulDoFn, StatefulParDo, Sum,
    Timestamp, UserError, UserResult, WindowInto, WindowedValue,
};
use clap::Parser;
use examples::generated::Generated;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;
// Link the runners so `--runner` finds them.
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

#[derive(Parser)]
struct Args {
    /// Events of the 1x run (the others have 4x and 16x as many).
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Distinct keys.
    #[arg(long, default_value_t = 40)]
    keys: u64,
    /// Milliseconds between consecutive events (over all keys).
    #[arg(long, default_value_t = 3_000)]
    spacing_ms: i64,
    /// Shapes to run (comma-separated): fixed, fixed-offset, sliding,
    /// sessions, global-count, custom-sessions, custom-sessions-general.
    #[arg(
        long,
        default_value = "fixed,fixed-offset,sliding,sessions,global-count,custom-sessions"
    )]
    shapes: String,
    /// Aggregations to run (comma-separated): gbk, combine, stateful.
    #[arg(long, default_value = "gbk,combine,stateful")]
    aggs: String,
    /// Scale factors to run.
    #[arg(long, default_value = "1,4,16")]
    scales: String,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// Event `i` of `0..events`: `(key, 1)` at the event's time.
fn events_source(
    events: u64,
    keys: u64,
    spacing_ms: i64,
) -> impl BoundedSource<Output = (u64, u64)> + Clone {
    Generated::new(0..events, move |i| {
        WindowedValue::timestamped((i.wrapping_mul(7919) % keys, 1), event_time(i, spacing_ms))
    })
}

fn event_time(i: u64, spacing_ms: i64) -> Timestamp {
    let disorder = (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 90_000;
    Timestamp::from_millis(i as i64 * spacing_ms + disorder as i64)
}

/// Sessions with a 120 s gap, written as a user's merging window function.
#[derive(Debug)]
struct UserSessions {
    /// Whether it declares that it merges exactly the intersecting windows.
    intersecting: bool,
}

impl CustomWindowFn for UserSessions {
    fn name(&self) -> String {
        format!("UserSessions({})", self.intersecting)
    }
    fn assign(&self, ts: Timestamp) -> Vec<IntervalWindow> {
        vec![IntervalWindow::new(ts, ts + Duration::from_secs(120))]
    }
    fn is_merging(&self) -> bool {
        true
    }
    fn merge(&self, windows: &[IntervalWindow]) -> Vec<(Vec<IntervalWindow>, IntervalWindow)> {
        let (target, merged) = WindowFn::merge_windows(windows);
        let mut groups: Vec<(Vec<IntervalWindow>, IntervalWindow)> =
            merged.iter().map(|m| (Vec::new(), *m)).collect();
        for (w, t) in windows.iter().zip(target) {
            groups[t].0.push(*w);
        }
        groups.retain(|(members, result)| members.len() > 1 || members.first() != Some(result));
        groups
    }
    fn merges_intersecting(&self) -> bool {
        self.intersecting
    }
}

/// The window function of `shape`, and how many windows each event is in.
fn shape(name: &str) -> anyhow::Result<(WindowInto<(u64, u64)>, u64)> {
    let minute = Duration::from_secs(60);
    Ok(match name {
        "fixed" => (WindowInto::new(WindowFn::fixed(minute)), 1),
        "fixed-offset" => (
            WindowInto::new(WindowFn::Fixed {
                size: minute,
                offset: Duration::from_secs(15),
            }),
            1,
        ),
        "sliding" => (
            WindowInto::new(WindowFn::sliding(Duration::from_secs(300), minute)),
            5,
        ),
        "sessions" => (
            WindowInto::new(WindowFn::sessions(Duration::from_secs(120))),
            1,
        ),
        "global-count" => (
            WindowInto::new(WindowFn::Global).triggering(
                Trigger::repeatedly(Trigger::after_count(100)),
                AccumulationMode::Discarding,
                Duration::ZERO,
            ),
            1,
        ),
        "custom-sessions" => (
            WindowInto::new(WindowFn::Custom(CustomWindows::new(UserSessions {
                intersecting: true,
            }))),
            1,
        ),
        "custom-sessions-general" => (
            WindowInto::new(WindowFn::Custom(CustomWindows::new(UserSessions {
                intersecting: false,
            }))),
            1,
        ),
        other => anyhow::bail!("unknown shape {other}"),
    })
}

/// Counts each key's events in value state; an event-time timer at the end
/// of the window emits the count.
#[derive(Clone)]
struct Tally;

impl StatefulDoFn for Tally {
    type Key = u64;
    type Value = u64;
    type Out = (u64, u64);
    fn process(
        &mut self,
        _: &u64,
        v: &u64,
        ctx: &mut StateContext<'_, u64, (u64, u64)>,
    ) -> UserResult {
        let mut n = ctx.value_state::<u64>("n")?;
        let total = n.read().unwrap_or(0) + v;
        n.write(total);
        if ctx.timer("emit").is_none() {
            let end = ctx.window().max_timestamp();
            ctx.set_event_timer("emit", end)?;
        }
        Ok(())
    }
    fn on_timer(
        &mut self,
        key: &u64,
        _: &str,
        ctx: &mut StateContext<'_, u64, (u64, u64)>,
    ) -> UserResult {
        let mut n = ctx.value_state::<u64>("n")?;
        let total = n.read();
        n.clear();
        if let Some(total) = total {
            ctx.output((*key, total));
        }
        Ok(())
    }
}

/// Adds up the counts it sees.
#[derive(Clone)]
struct Total(Arc<Mutex<u64>>);

impl DoFn for Total {
    type In = (u64, u64);
    type Out = ();
    fn process(&mut self, kv: &(u64, u64), _: &mut ProcessContext<'_, ()>) -> UserResult {
        *self.0.lock().map_err(|e| UserError::msg(e.to_string()))? += kv.1;
        Ok(())
    }
}

/// One run: its time in seconds, after checking the total.
fn run_one(args: &Args, shape_name: &str, agg: &str, events: u64) -> anyhow::Result<f64> {
    let (window, windows_per_event) = shape(shape_name)?;
    if agg == "stateful" && shape_name.contains("sessions") {
        // Stateful DoFns do not run in merging windows (as in Beam).
        return Ok(f64::NAN);
    }
    let p = Pipeline::new(args.pipeline.clone());
    let windowed = p
        .apply(
            "Events",
            Read::from(events_source(events, args.keys, args.spacing_ms)),
        )?
        .apply("Window", window)?;
    let counts = match agg {
        "gbk" => windowed.apply("Group", GroupByKey::new())?.apply(
            "Size",
            Map::new(|(k, vs): &(u64, Vec<u64>)| (*k, vs.len() as u64)),
        )?,
        "combine" => windowed.apply("Sum", Sum::per_key())?,
        "stateful" => windowed.apply("Tally", StatefulParDo::of(Tally))?,
        other => anyhow::bail!("unknown aggregation {other}"),
    };
    let total = Total(Arc::new(Mutex::new(0)));
    counts.apply("Total", ParDo::of(total.clone()))?;
    let started = Instant::now();
    p.run()?;
    let secs = started.elapsed().as_secs_f64();
    let got = *total.0.lock().map_err(|e| anyhow::anyhow!("{e}"))?;
    let expected = events * windows_per_event;
    anyhow::ensure!(
        got == expected,
        "{shape_name} / {agg} over {events} events counted {got}, expected {expected}"
    );
    Ok(secs)
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| run(args))
}

fn run(args: Args) -> anyhow::Result<()> {
    let scales: Vec<u64> = args
        .scales
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<std::result::Result<_, _>>()?;
    let runner = args.pipeline.runner.clone();
    print!("| shape | aggregation | runner | keys |");
    for s in &scales {
        print!(" {}x: {} events (s) |", s, s * args.events);
    }
    println!(" growth per 4x |");
    println!("|---|---|---|---|{}---|", "---|".repeat(scales.len()));
    for shape_name in args.shapes.split(',').map(str::trim) {
        for agg in args.aggs.split(',').map(str::trim) {
            let mut times = Vec::new();
            for s in &scales {
                times.push(run_one(&args, shape_name, agg, s * args.events)?);
            }
            if times.iter().any(|t| t.is_nan()) {
                continue;
            }
            print!("| {shape_name} | {agg} | {runner} | {} |", args.keys);
            for t in &times {
                print!(" {t:.3} |");
            }
            let growth: Vec<String> = times
                .windows(2)
                .zip(scales.windows(2))
                .map(|(t, s)| {
                    let per_4x = (t[1] / t[0]).powf(4f64.ln() / (s[1] as f64 / s[0] as f64).ln());
                    format!("{per_4x:.2}")
                })
                .collect();
            println!(" {} |", growth.join(", "));
        }
    }
    Ok(())
}
