//! CSV files large enough to be split (quoted line breaks, an unterminated
//! quote, random bytes) read on every runner and worker count: the same
//! records and dead letters as one sequential read of the whole file, and
//! good + dead letters = the records read.

use beam_core::testing::PAssert;
use beam_core::{Map, Pipeline, PipelineOptions};
use io_connectors::records::RecordSource;
use io_connectors::{CsvFormat, CsvIO, DeadLetter, FileSource};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Row {
    id: i64,
    name: String,
    notes: String,
}

type Dead = (Vec<u8>, u64);

/// One sequential read of the whole file, by one reader.
fn sequential(path: &str) -> (Vec<i64>, Vec<Dead>) {
    let source = FileSource::new(path, CsvFormat::<Row>::new()).unwrap();
    let mut reader = source.open().unwrap();
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    while let Some(r) = reader.next_record().unwrap() {
        match r {
            Ok(row) => good.push(row.id),
            Err(d) => bad.push((d.raw, d.location.line().unwrap())),
        }
    }
    (good, bad)
}

fn configs() -> Vec<(&'static str, Option<usize>)> {
    let mut v = vec![("direct", None)];
    for n in [1, 2, 4] {
        v.push(("rayon", Some(n)));
        v.push(("timely", Some(n)));
    }
    v
}

fn check_every_runner(path: &std::path::Path) -> (usize, usize) {
    let pattern = path.to_str().unwrap().to_string();
    let (good, bad) = sequential(&pattern);
    for (runner, parallelism) in configs() {
        let mut options = PipelineOptions::default().with_runner(runner);
        options.parallelism = parallelism;
        let p = Pipeline::new(options);
        let parsed = p
            .apply("Read", CsvIO::read::<Row>(&pattern).with_dead_letter())
            .unwrap();
        let ids = parsed
            .records
            .apply("Id", Map::new(|r: &Row| r.id))
            .unwrap();
        PAssert::that(&ids)
            .contains_in_any_order(good.clone())
            .unwrap();
        let dead = parsed
            .dead_letter
            .apply(
                "RawAndLine",
                Map::new(|d: &DeadLetter| (d.raw.clone(), d.location.line().unwrap_or(0))),
            )
            .unwrap();
        PAssert::that(&dead)
            .contains_in_any_order(bad.clone())
            .unwrap();
        p.run()
            .unwrap_or_else(|e| panic!("{runner} {parallelism:?}: {e}"));
    }
    (good.len(), bad.len())
}

fn notes(rng: &mut StdRng) -> String {
    let words = [
        "ok",
        "late, again",
        "said \"\"hi\"\"",
        "two\nlines",
        "crlf\r\nhere",
    ];
    (0..rng.random_range(1..8))
        .map(|_| words[rng.random_range(0..words.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn quoted_line_breaks_never_make_extra_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.csv");
    let mut rng = StdRng::seed_from_u64(3);
    let mut text = String::from("id,name,notes\n");
    let rows = 40_000;
    for i in 0..rows {
        text.push_str(&format!("{i},user {i},\"{}\"\n", notes(&mut rng)));
    }
    std::fs::write(&path, text).unwrap();
    assert_eq!(check_every_runner(&path), (rows, 0));
}

#[test]
fn an_unterminated_quote_is_one_dead_letter_on_every_runner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("open-quote.csv");
    let mut text = String::from("id,name,notes\n");
    let rows = 60_000;
    for i in 0..rows {
        if i == 99 {
            text.push_str("99,\"never closed,x\n");
        } else {
            text.push_str(&format!("{i},user {i},plain notes for row {i}\n"));
        }
    }
    std::fs::write(&path, text).unwrap();
    let (good, bad) = check_every_runner(&path);
    assert_eq!((good, bad), (rows - 1, 1));
    assert_eq!(sequential(path.to_str().unwrap()).1[0].1, 101);
}

#[test]
fn random_bytes_give_the_same_dead_letters_on_every_runner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.csv");
    let mut rng = StdRng::seed_from_u64(11);
    let mut data = b"id,name,notes\n".to_vec();
    data.extend((0..3_000_000).map(|_| rng.random::<u8>()));
    std::fs::write(&path, data).unwrap();
    let (good, bad) = check_every_runner(&path);
    assert!(bad > 1000, "{good} good, {bad} dead letters");
}
