//! Shared pieces of the example programs: the word tokenizer, the `CountWords`
//! composite, and the bundled sample text.
//!
//! Linking this crate links the runners the examples can use.

use beam_core::{Count, FlatMap, PCollection, PTransform, Result};
use regex::Regex;
use std::sync::LazyLock;

// Link every runner crate so `--runner` finds it in the registry.
pub use runner_direct;

/// The bundled sample text counted when `wordcount` gets no `--input`.
pub const SAMPLE_TEXT: &str = include_str!("../data/sample.txt");

static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\p{L}+").expect("valid regex"));

/// The words of `line`: maximal runs of Unicode letters (general category L),
/// each lowercased with full Unicode lowercasing.
///
/// ```
/// assert_eq!(examples::words("Tis nobler—in the MIND"), vec!["tis", "nobler", "in", "the", "mind"]);
/// assert_eq!(examples::words("ΟΔΥΣΣΕΥΣ l'Straße"), vec!["οδυσσευς", "l", "straße"]);
/// ```
pub fn words(line: &str) -> Vec<String> {
    WORD.find_iter(line)
        .map(|m| m.as_str().to_lowercase())
        .collect()
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

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
