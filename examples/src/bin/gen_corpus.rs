//! Generates a word corpus with a Zipf-like vocabulary, for benchmarks.
//!
//! `cargo run --release -p examples --bin gen_corpus -- --size-mb 100 --output bench-data/corpus.txt`
//!
//! Deterministic for a given `--seed`: the vocabulary is `--vocabulary` random
//! words (mostly ASCII, some accented and Greek/Cyrillic, some capitalized), and
//! word ranks are drawn with probability proportional to 1/rank, as in natural
//! text. Lines hold 5 to 15 words separated by spaces and punctuation.

use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{BufWriter, Write};

#[derive(Parser)]
struct Args {
    /// Approximate size of the corpus in megabytes.
    #[arg(long, default_value_t = 100)]
    size_mb: u64,
    /// Where to write it.
    #[arg(long)]
    output: std::path::PathBuf,
    /// Number of distinct words.
    #[arg(long, default_value_t = 100_000)]
    vocabulary: usize,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

const LATIN: &[char] = &[
    'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q', 'r', 's',
    't', 'u', 'v', 'w', 'x', 'y', 'z', 'e', 'a', 'o', 'i', 'n', 't', 's', 'r',
];
const EXTRA: &[char] = &['é', 'ü', 'ß', 'ø', 'ñ', 'α', 'β', 'σ', 'ж', 'я', 'ç'];

fn word(rng: &mut StdRng) -> String {
    let len = rng.random_range(1..=10);
    let mut w = String::new();
    for i in 0..len {
        let c = if rng.random_ratio(1, 40) {
            EXTRA[rng.random_range(0..EXTRA.len())]
        } else {
            LATIN[rng.random_range(0..LATIN.len())]
        };
        if i == 0 && rng.random_ratio(1, 10) {
            w.extend(c.to_uppercase());
        } else {
            w.push(c);
        }
    }
    w
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let vocab: Vec<String> = (0..args.vocabulary).map(|_| word(&mut rng)).collect();
    // Cumulative weights of 1/rank.
    let mut cumulative = Vec::with_capacity(vocab.len());
    let mut total = 0.0f64;
    for r in 1..=vocab.len() {
        total += 1.0 / r as f64;
        cumulative.push(total);
    }
    if let Some(dir) = args.output.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&args.output)?);
    let target = args.size_mb * 1_000_000;
    let separators = [" ", " ", " ", " ", ", ", ". ", "; ", " - ", "! "];
    let mut written = 0u64;
    let mut words = 0u64;
    while written < target {
        let n = rng.random_range(5..=15);
        let mut line = String::new();
        for i in 0..n {
            let x = rng.random::<f64>() * total;
            let rank = cumulative.partition_point(|&c| c < x).min(vocab.len() - 1);
            if i > 0 {
                line.push_str(separators[rng.random_range(0..separators.len())]);
            }
            line.push_str(&vocab[rank]);
            words += 1;
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        written += line.len() as u64;
    }
    out.flush()?;
    eprintln!(
        "wrote {} ({written} bytes, {words} words)",
        args.output.display()
    );
    Ok(())
}
