//! Nexmark q5 and q7 on the timely runner against hand-written timely
//! programs over the same generated events, in one invocation.
//!
//! ```sh
//! cargo run --release -p examples --bin bench_nexmark -- --events 2000000 --workers 2 --repeat 3
//! ```
//!
//! The hand-written programs generate each worker's share of the events,
//! pre-aggregate per window on the worker (q7: the best bid; q5: bids per
//! auction in each 10 s window sliding by 5 s), exchange by window and finish
//! when the input is complete. They run twice: with std's `HashMap` (SipHash,
//! what a program gets by default) and with foldhash (a fast hasher, as the
//! runner's own tables use). Both sides count their results; the counts must
//! agree.

use beam_core::{ParDo, Pipeline, PipelineOptions, Read};
use clap::Parser;
use examples::nexmark::{event, query, CountResults, Event, NexmarkSource};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::{source, Operator};
use timely::dataflow::operators::Capability;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 2_000_000)]
    events: u64,
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Rounds; the fastest of each side is reported.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

const RATE: u64 = 10_000;
const WINDOW_MS: i64 = 10_000;
const PERIOD_MS: i64 = 5_000;

fn pipeline(q: u32, events: u64, workers: usize) -> anyhow::Result<(f64, u64)> {
    let options = PipelineOptions::default()
        .with_runner("timely")
        .set("workers", workers.to_string());
    let p = Pipeline::new(options);
    let input = p.apply("Events", Read::from(NexmarkSource::new(events, RATE)))?;
    query(q, &input)?.apply("Discard", ParDo::of(CountResults))?;
    let start = Instant::now();
    let result = p.run()?;
    let secs = start.elapsed().as_secs_f64();
    let n = result.metrics().counter("Discard", "results").unwrap_or(0);
    Ok((secs, n as u64))
}

/// Hand-written q5 (`q == 5`) or q7 on timely, its hash maps hashing with
/// `S`; returns the time and result count.
fn hand_written<S: BuildHasher + Default + 'static>(
    q: u32,
    events: u64,
    workers: usize,
) -> anyhow::Result<(f64, u64)> {
    let results = Arc::new(Mutex::new(0u64));
    let shared = results.clone();
    let start = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index() as u64, worker.peers() as u64);
        let results = shared.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            // Each worker's events, pre-aggregated per window into (window end, payload).
            let partials = source(scope, "Events", move |cap: Capability<u64>, _| {
                let mut cap = Some(cap);
                move |output| {
                    let Some(c) = cap.take() else { return };
                    // q7: best (price, -time, -auction, -bidder) per window; q5: bids per (window, auction).
                    let mut best: HashMap<i64, (u64, i64, u64, u64), S> = HashMap::default();
                    let mut counts: HashMap<(i64, u64), u64, S> = HashMap::default();
                    let mut n = index;
                    while n < events {
                        if let Event::Bid(b) = event(n, RATE) {
                            if q == 7 {
                                let end = b.date_time.div_euclid(WINDOW_MS) * WINDOW_MS + WINDOW_MS;
                                let rank = (
                                    b.price,
                                    -b.date_time,
                                    u64::MAX - b.auction,
                                    u64::MAX - b.bidder,
                                );
                                let e = best.entry(end).or_insert(rank);
                                if rank > *e {
                                    *e = rank;
                                }
                            } else {
                                let last_start = b.date_time.div_euclid(PERIOD_MS) * PERIOD_MS;
                                let mut s = last_start;
                                while s > b.date_time - WINDOW_MS {
                                    *counts.entry((s + WINDOW_MS, b.auction)).or_default() += 1;
                                    s -= PERIOD_MS;
                                }
                            }
                        }
                        n += peers;
                    }
                    let mut out = output.session(&c);
                    for (end, r) in best {
                        out.give((end, r.0, r.1, r.2, r.3));
                    }
                    for ((end, auction), k) in counts {
                        out.give((end, auction, k as i64, 0, 0));
                    }
                }
            });
            partials.sink(
                Exchange::new(|x: &(i64, u64, i64, u64, u64)| x.0 as u64),
                "Finish",
                {
                    let mut best: HashMap<i64, (u64, i64, u64, u64), S> = HashMap::default();
                    let mut counts: HashMap<i64, HashMap<u64, i64, S>, S> = HashMap::default();
                    let mut done = false;
                    move |(input, frontier)| {
                        input.for_each(|_, data| {
                            for (end, a, b, c, d) in data.drain(..) {
                                if q == 7 {
                                    let e = best.entry(end).or_insert((a, b, c, d));
                                    if (a, b, c, d) > *e {
                                        *e = (a, b, c, d);
                                    }
                                } else {
                                    *counts.entry(end).or_default().entry(a).or_default() += b;
                                }
                            }
                        });
                        if frontier.is_empty() && !done {
                            done = true;
                            let n = if q == 7 {
                                best.len() as u64
                            } else {
                                counts
                                    .values()
                                    .map(|per| {
                                        let max = per.values().max().copied().unwrap_or(0);
                                        per.values().filter(|&&v| v == max).count() as u64
                                    })
                                    .sum()
                            };
                            *results.lock().expect("results") += n;
                        }
                    }
                },
            );
        });
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    let secs = start.elapsed().as_secs_f64();
    let n = *results.lock().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((secs, n))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "| query | workers | events | hand-written, std HashMap (s) | hand-written, foldhash (s) | pipeline on timely (s) | ratio to std | ratio to foldhash |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    type Std = std::collections::hash_map::RandomState;
    type Fold = foldhash::fast::RandomState;
    for q in [5u32, 7] {
        let (mut std, mut fold, mut pipe) = (f64::MAX, f64::MAX, f64::MAX);
        for _ in 0..args.repeat.max(1) {
            let (s, sn) = hand_written::<Std>(q, args.events, args.workers)?;
            let (f, fnn) = hand_written::<Fold>(q, args.events, args.workers)?;
            let (p, pn) = pipeline(q, args.events, args.workers)?;
            anyhow::ensure!(
                sn == pn && fnn == pn,
                "q{q}: hand-written {sn} and {fnn} results, pipeline {pn}"
            );
            std = std.min(s);
            fold = fold.min(f);
            pipe = pipe.min(p);
        }
        println!(
            "| q{q} | {} | {} | {std:.2} | {fold:.2} | {pipe:.2} | {:.2} | {:.2} |",
            args.workers,
            args.events,
            pipe / std,
            pipe / fold
        );
    }
    Ok(())
}
