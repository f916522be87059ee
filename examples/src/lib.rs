//! Shared pieces of the example programs: the word tokenizer, the `CountWords`
//! composite, the bundled sample data, record parsing and output helpers.
//!
//! Linking this crate links the runners the examples can use.

use beam_core::{
    Count, Create, DoFn, FlatMap, Map, PCollection, PTransform, ParDo, Pipeline, ProcessContext,
    Result, ToList, UserResult,
};
use io_connectors::TextIO;
use regex::Regex;
use std::io::Write;
use std::sync::LazyLock;

pub mod generated;
pub mod lambda;
pub mod nexmark;
pub mod output;
pub mod records;
pub mod skew;
pub mod user_tables;

/// Every example program allocates with mimalloc: per-element pipelines
/// allocate many small strings, where it is markedly faster than the system
/// allocator. The `system-allocator` feature builds them with the system's
/// instead.
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// Link every runner crate so `--runner` finds it in the registry.
pub use runner_direct;
pub use runner_rayon;
pub use runner_timely;

/// The bundled clickstream sample (`user_id,timestamp,action`).
pub const SAMPLE_EVENTS: &str = include_str!("../data/events.csv");
/// The bundled payments sample (`txn_id,user_id,amount,timestamp`).
pub const SAMPLE_TRANSACTIONS: &str = include_str!("../data/transactions.csv");

/// The bundled sample text counted when `wordcount` gets no `--input`.
pub const SAMPLE_TEXT: &str = include_str!("../data/sample.txt");

static LETTER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\p{L}$").expect("valid regex"));

/// Whether each character of the Basic Multilingual Plane is a letter
/// (general category L), one bit per character, computed once with the regex
/// engine's Unicode tables.
static BMP_LETTERS: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut bits = vec![0u64; 1 << 10];
    let mut buf = [0u8; 4];
    for cp in 0..=0xFFFFu32 {
        if let Some(c) = char::from_u32(cp) {
            if LETTER.is_match(c.encode_utf8(&mut buf)) {
                bits[cp as usize / 64] |= 1 << (cp % 64);
            }
        }
    }
    bits
});

fn is_letter(c: char) -> bool {
    let cp = c as u32;
    if cp < 0x80 {
        c.is_ascii_alphabetic()
    } else if cp <= 0xFFFF {
        BMP_LETTERS[cp as usize / 64] & (1 << (cp % 64)) != 0
    } else {
        LETTER.is_match(c.encode_utf8(&mut [0u8; 4]))
    }
}

/// The words of `line`: maximal runs of Unicode letters (general category L),
/// each lowercased with full Unicode lowercasing.
///
/// ```
/// assert_eq!(examples::words("Tis nobler—in the MIND"), vec!["tis", "nobler", "in", "the", "mind"]);
/// assert_eq!(examples::words("ΟΔΥΣΣΕΥΣ l'Straße"), vec!["οδυσσευς", "l", "straße"]);
/// ```
pub fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let lower = |w: &str, ascii: bool| {
        if ascii {
            w.to_ascii_lowercase()
        } else {
            w.to_lowercase()
        }
    };
    let (mut start, mut ascii) = (None, true);
    for (i, c) in line.char_indices() {
        match (is_letter(c), start) {
            (true, None) => (start, ascii) = (Some(i), c.is_ascii()),
            (true, Some(_)) => ascii &= c.is_ascii(),
            (false, Some(s)) => {
                out.push(lower(&line[s..i], ascii));
                start = None;
            }
            (false, None) => {}
        }
    }
    if let Some(s) = start {
        out.push(lower(&line[s..], ascii));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tokenizer agrees with the regex `\p{L}+` and full lowercasing.
    #[test]
    fn words_match_the_unicode_letter_regex() {
        let regex = Regex::new(r"\p{L}+").unwrap();
        let mut text: String = SAMPLE_TEXT.into();
        // Every BMP character and some beyond, between ASCII letters.
        for cp in (0..=0x1_FFFFu32).step_by(7) {
            if let Some(c) = char::from_u32(cp) {
                text.push(c);
                if cp % 3 == 0 {
                    text.push('a');
                }
            }
        }
        text.push_str("ΣΑΣ İstanbul ǅemal 𝐀𝐁 x\u{10FFFF}");
        for line in text.lines() {
            let expected: Vec<String> = regex
                .find_iter(line)
                .map(|m| m.as_str().to_lowercase())
                .collect();
            assert_eq!(words(line), expected, "{line:?}");
        }
    }
}

/// Splits lines into words and counts each word: `(word, count)`.
pub struct CountWords;

impl PTransform<PCollection<String>> for CountWords {
    type Output = PCollection<(String, u64)>;
    fn expand(self, lines: &PCollection<String>) -> Result<Self::Output> {
        lines
            .apply("ExtractWords", FlatMap::new(|line: &String| words(line)))?
            .apply("Count", Count::per_element())
    }
}

/// Prints all counts, most frequent first (ties by word).
#[derive(Clone)]
struct PrintSorted;

impl DoFn for PrintSorted {
    type In = Vec<(String, u64)>;
    type Out = ();
    fn process(
        &mut self,
        counts: &Vec<(String, u64)>,
        _: &mut ProcessContext<'_, ()>,
    ) -> UserResult {
        let mut sorted: Vec<&(String, u64)> = counts.iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for (w, c) in sorted {
            writeln!(out, "{w}: {c}")?;
        }
        out.flush()?;
        Ok(())
    }
}

/// Adds the word count to `p`: read `input` (a file or glob; the bundled
/// sample without it), count words, and write `word: count` lines to shards of
/// `output` (standard output, most frequent first, without it).
pub fn wordcount(
    p: &Pipeline,
    input: Option<&str>,
    output: Option<&str>,
    num_shards: Option<usize>,
) -> Result<()> {
    let lines: PCollection<String> = match input {
        Some(pattern) => p.apply("ReadLines", TextIO::read(pattern))?,
        None => p.apply(
            "ReadLines",
            Create::of(SAMPLE_TEXT.lines().map(String::from)),
        )?,
    };
    let counts = lines.apply("CountWords", CountWords)?;
    match output {
        Some(prefix) => {
            let mut write = TextIO::write(prefix);
            if let Some(n) = num_shards {
                write = write.with_num_shards(n);
            }
            counts
                .apply(
                    "Format",
                    Map::new(|(w, c): &(String, u64)| format!("{w}: {c}")),
                )?
                .apply("WriteCounts", write)?;
        }
        None => {
            counts
                .apply("Gather", ToList::globally())?
                .apply("Print", ParDo::of(PrintSorted))?;
        }
    }
    Ok(())
}

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
