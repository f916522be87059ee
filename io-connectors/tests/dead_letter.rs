//! 10 000 fuzzed malformed records mixed with good ones, read with a dead-letter
//! output on every runner: every input record comes out exactly once, as a parsed
//! record or as a dead letter carrying its exact raw bytes and line, and the
//! per-step counter agrees.

use beam_core::testing::PAssert;
use beam_core::{Map, Pipeline, PipelineOptions};
use io_connectors::{CsvIO, DeadLetter, JsonLinesIO};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Sale {
    id: u64,
    amount: f64,
    product_category: String,
}

const MALFORMED: usize = 10_000;
const GOOD: usize = 12_000;

/// Printable garbage without CSV structure (`,`, `"`) or line breaks, never blank.
fn garbage(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.random_range(1..40);
    (0..n)
        .map(|_| loop {
            let b: u8 = rng.random_range(0x21..0x7f);
            if b != b',' && b != b'"' {
                break b;
            }
        })
        .collect()
}

fn good_sale(i: usize, rng: &mut StdRng) -> Sale {
    let cats = ["books", "toys, games", "garden", "ünïcödé"];
    Sale {
        id: i as u64,
        amount: (rng.random_range(0..10_000_000) as f64) / 100.0,
        product_category: cats[rng.random_range(0..cats.len())].to_string(),
    }
}

fn csv_line(s: &Sale) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new());
    w.serialize(s).unwrap();
    let mut v = w.into_inner().unwrap();
    v.pop(); // the newline
    v
}

fn malformed_csv(rng: &mut StdRng) -> Vec<u8> {
    let mut line = match rng.random_range(0..6) {
        0 => b"17,12.5".to_vec(),            // too few fields
        1 => b"17,12.5,toys,extra".to_vec(), // too many
        2 => [b"17,x".as_slice(), &garbage(rng), b",toys"].concat(), // amount not a number
        3 => b"-4,1.0,books".to_vec(),       // id negative
        4 => b"5,1.0,bad \xff\xfe utf8".to_vec(), // invalid UTF-8
        _ => garbage(rng),                   // one field
    };
    if rng.random_bool(0.3) {
        line.extend_from_slice(b"\r"); // CRLF endings mixed in
    }
    line
}

fn malformed_json(rng: &mut StdRng) -> Vec<u8> {
    match rng.random_range(0..5) {
        0 => br#"{"id": 1, "amount": 2.5"#.to_vec(),
        1 => br#"{"id": "one", "amount": 2.5, "product_category": "x"}"#.to_vec(),
        2 => br#"{"id": 1, "product_category": "x"}"#.to_vec(),
        3 => b"{\"id\": 1, \"amount\": 1, \"product_category\": \"\xff\"}".to_vec(),
        _ => garbage(rng),
    }
}

/// Writes a file of good and malformed lines in random order; returns the good
/// records and the malformed lines with their 1-based line numbers.
fn write_mixed(
    path: &std::path::Path,
    header: Option<&[u8]>,
    good: impl Fn(&Sale) -> Vec<u8>,
    bad: impl Fn(&mut StdRng) -> Vec<u8>,
) -> (Vec<Sale>, Vec<(Vec<u8>, u64)>) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut text = Vec::new();
    let mut line_no = 0u64;
    if let Some(h) = header {
        text.extend_from_slice(h);
        text.push(b'\n');
        line_no += 1;
    }
    let (mut goods, mut bads) = (Vec::new(), Vec::new());
    let (mut g, mut b) = (0, 0);
    while g < GOOD || b < MALFORMED {
        line_no += 1;
        let pick_bad = b < MALFORMED && (g == GOOD || rng.random_bool(0.45));
        if pick_bad {
            let mut line = bad(&mut rng);
            text.extend_from_slice(&line);
            text.push(b'\n');
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            bads.push((line, line_no));
            b += 1;
        } else {
            let s = good_sale(g, &mut rng);
            text.extend_from_slice(&good(&s));
            text.extend_from_slice(if rng.random_bool(0.3) { b"\r\n" } else { b"\n" });
            goods.push(s);
            g += 1;
        }
    }
    std::fs::write(path, text).unwrap();
    (goods, bads)
}

fn check(
    runner: &str,
    read: impl FnOnce(&Pipeline) -> io_connectors::ParsedRecords<Sale>,
    goods: Vec<Sale>,
    bads: Vec<(Vec<u8>, u64)>,
) {
    let mut options = PipelineOptions::default().with_runner(runner);
    options.parallelism = Some(2);
    let p = Pipeline::new(options);
    let parsed = read(&p);
    PAssert::that(&parsed.records)
        .contains_in_any_order(goods)
        .unwrap();
    let dead = parsed
        .dead_letter
        .apply(
            "RawAndLine",
            Map::new(|d: &DeadLetter| (d.raw.clone(), d.location.line().unwrap_or(0))),
        )
        .unwrap();
    let n = bads.len() as i64;
    PAssert::that(&dead).contains_in_any_order(bads).unwrap();
    let result = p.run().unwrap_or_else(|e| panic!("{runner}: {e}"));
    assert_eq!(
        result
            .metrics()
            .counter("Read/SplitDeadLetters", "dead_letter_records"),
        Some(n),
        "{runner}"
    );
}

#[test]
fn csv_good_plus_dead_letter_is_the_input_on_every_runner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sales.csv");
    let (goods, bads) = write_mixed(
        &path,
        Some(b"id,amount,product_category"),
        csv_line,
        malformed_csv,
    );
    for runner in ["direct", "rayon", "timely"] {
        let pattern = path.to_str().unwrap().to_string();
        check(
            runner,
            move |p| {
                p.apply("Read", CsvIO::read::<Sale>(&pattern).with_dead_letter())
                    .unwrap()
            },
            goods.clone(),
            bads.clone(),
        );
    }
}

#[test]
fn json_lines_good_plus_dead_letter_is_the_input_on_every_runner() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sales.jsonl");
    let (goods, bads) = write_mixed(
        &path,
        None,
        |s| serde_json::to_vec(s).unwrap(),
        malformed_json,
    );
    for runner in ["direct", "rayon", "timely"] {
        let pattern = path.to_str().unwrap().to_string();
        check(
            runner,
            move |p| {
                p.apply(
                    "Read",
                    JsonLinesIO::read::<Sale>(&pattern).with_dead_letter(),
                )
                .unwrap()
            },
            goods.clone(),
            bads.clone(),
        );
    }
}

#[test]
fn without_dead_letter_a_malformed_record_fails_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one-bad.csv");
    std::fs::write(&path, "id,amount,product_category\n1,2.0,a\n2,x,b\n").unwrap();
    let p = Pipeline::new(PipelineOptions::default());
    p.apply("Read", CsvIO::read::<Sale>(path.to_str().unwrap()))
        .unwrap();
    let err = p.run().unwrap_err().to_string();
    assert!(
        err.contains(&format!("{}:3", path.display())) && err.contains("2,x,b"),
        "{err}"
    );
}
