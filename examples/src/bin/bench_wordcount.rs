//! Word count benchmark: the pipeline on the direct runner (checks on and off)
//! and on the rayon runner, against hand-written word counts (single-threaded
//! HashMap; rayon with per-task maps merged), in one invocation.
//!
//! ```sh
//! cargo run --release -p examples --bin gen_corpus -- --size-mb 100 --output bench-data/corpus.txt
//! cargo run --release -p examples --bin bench_wordcount -- --input bench-data/corpus.txt
//! ```
//!
//! Each variant runs in its own child process (so peak RSS is its own), and
//! reports wall time, words per second, peak RSS and the time ratio to the
//! baseline. Every variant tokenizes with the same function and writes the same
//! `word: count` output.

use beam_core::{Pipeline, PipelineOptions};
use clap::Parser;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::process::Command;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// The corpus to count.
    #[arg(long)]
    input: String,
    /// Variants to run, comma-separated: baseline, direct, direct-no-checks,
    /// baseline-rayon (hand-written, per-thread maps merged), rayon.
    #[arg(
        long,
        default_value = "baseline,direct,direct-no-checks,baseline-rayon,rayon"
    )]
    variants: String,
    /// Runs of each variant; the fastest is reported.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Run one variant in this process (used by the parent).
    #[arg(long)]
    child: Option<String>,
}

/// The hand-written baseline: read lines, tokenize, count in a HashMap, write.
fn baseline(input: &str, output: &std::path::Path) -> anyhow::Result<u64> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    let reader = BufReader::with_capacity(256 * 1024, std::fs::File::open(input)?);
    let mut words = 0u64;
    for line in reader.lines() {
        for w in examples::words(&line?) {
            *counts.entry(w).or_insert(0) += 1;
            words += 1;
        }
    }
    let mut out = BufWriter::new(std::fs::File::create(
        output.join("baseline-00000-of-00001"),
    )?);
    for (w, c) in &counts {
        writeln!(out, "{w}: {c}")?;
    }
    out.flush()?;
    Ok(words)
}

/// The hand-written parallel baseline: the file split into line chunks, one
/// HashMap per rayon task, merged at the end.
fn baseline_rayon(input: &str, output: &std::path::Path) -> anyhow::Result<u64> {
    use rayon::prelude::*;
    let text = std::fs::read_to_string(input)?;
    let lines: Vec<&str> = text.lines().collect();
    let chunk = lines
        .len()
        .div_ceil(rayon::current_num_threads() * 8)
        .max(1);
    let (counts, words) = lines
        .par_chunks(chunk)
        .map(|ls| {
            let mut m: HashMap<String, u64> = HashMap::new();
            let mut n = 0u64;
            for l in ls {
                for w in examples::words(l) {
                    *m.entry(w).or_insert(0) += 1;
                    n += 1;
                }
            }
            (m, n)
        })
        .reduce(
            || (HashMap::new(), 0),
            |(mut a, na), (b, nb)| {
                for (w, c) in b {
                    *a.entry(w).or_insert(0) += c;
                }
                (a, na + nb)
            },
        );
    let mut out = BufWriter::new(std::fs::File::create(
        output.join("baseline-rayon-00000-of-00001"),
    )?);
    for (w, c) in &counts {
        writeln!(out, "{w}: {c}")?;
    }
    out.flush()?;
    Ok(words)
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn child(variant: &str, input: &str) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("bench-wordcount-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let start = Instant::now();
    let words = match variant {
        "baseline" => baseline(input, &dir)?,
        "baseline-rayon" => baseline_rayon(input, &dir)?,
        "direct" | "direct-no-checks" | "rayon" => {
            let mut options = PipelineOptions::default().with_runner(if variant == "rayon" {
                "rayon"
            } else {
                "direct"
            });
            if variant == "direct-no-checks" {
                options = options.set("no-checks", "true");
            }
            let p = Pipeline::new(options);
            let prefix = dir.join("counts").display().to_string();
            examples::wordcount(&p, Some(input), Some(&prefix), Some(1))?;
            p.run()?;
            0
        }
        other => anyhow::bail!("unknown variant {other}"),
    };
    let secs = start.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir)?;
    println!("{secs} {words} {}", peak_rss_kb());
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(v) = &args.child {
        return child(v, &args.input);
    }
    let exe = std::env::current_exe()?;
    let variants: Vec<&str> = args.variants.split(',').collect();
    // Fastest run (time, peak RSS) per variant. Rounds interleave the variants,
    // so that a slow spell of the shared machine hits all of them alike.
    let mut best: Vec<Option<(f64, u64)>> = vec![None; variants.len()];
    let mut words = 0u64;
    for _ in 0..args.repeat.max(1) {
        for (variant, best) in variants.iter().zip(&mut best) {
            let out = Command::new(&exe)
                .args(["--input", &args.input, "--child", variant])
                .output()?;
            anyhow::ensure!(
                out.status.success(),
                "{variant}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8(out.stdout)?;
            let f: Vec<&str> = text.split_whitespace().collect();
            let (secs, w, rss): (f64, u64, u64) = (f[0].parse()?, f[1].parse()?, f[2].parse()?);
            words = words.max(w);
            if best.is_none_or(|(s, _)| secs < s) {
                *best = Some((secs, rss));
            }
        }
    }
    let rows: Vec<(String, f64, u64)> = variants
        .iter()
        .zip(best)
        .map(|(v, b)| {
            let (secs, rss) = b.expect("at least one run");
            (v.to_string(), secs, rss)
        })
        .collect();
    let base = rows.iter().find(|r| r.0 == "baseline").map(|r| r.1);
    let base_rayon = rows.iter().find(|r| r.0 == "baseline-rayon").map(|r| r.1);
    println!("| variant | time (s) | words/s | peak RSS (MB) | time / baseline | time / baseline-rayon |");
    println!("|---|---|---|---|---|---|");
    for (variant, secs, rss) in rows {
        let rate = if words > 0 {
            format!("{:.2} M", words as f64 / secs / 1e6)
        } else {
            "-".into()
        };
        let ratio = |b: Option<f64>| b.map_or("-".to_string(), |b| format!("{:.2}", secs / b));
        println!(
            "| {variant} | {secs:.2} | {rate} | {:.0} | {} | {} |",
            rss as f64 / 1024.0,
            ratio(base),
            ratio(base_rayon)
        );
    }
    Ok(())
}
