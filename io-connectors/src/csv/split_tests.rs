//! Property tests: random valid and hostile CSV, split at random byte
//! offsets, reads exactly what one sequential read does; valid CSV reads what
//! the `csv` crate reads.

use super::CsvFormat;
use crate::file_read::FileFormat;
use crate::files::{Compression, FileRange};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Row {
    id: i64,
    name: String,
    notes: String,
}

type Read = (Vec<Row>, Vec<(Vec<u8>, u64)>);

fn field(rng: &mut StdRng) -> Vec<u8> {
    const PIECES: [&[u8]; 9] = [
        b"plain",
        b"with, comma",
        b"line\nbreak",
        b"crlf\r\nbreak",
        b"q\"\"uote",
        b"",
        b" sp ",
        b"\xc3\xbcml",
        b",\n,",
    ];
    let mut text = Vec::new();
    for _ in 0..rng.random_range(0..4) {
        text.extend_from_slice(PIECES[rng.random_range(0..PIECES.len())]);
    }
    let needs_quotes = text
        .iter()
        .any(|b| matches!(b, b',' | b'\n' | b'\r' | b'"'));
    if needs_quotes || rng.random_bool(0.2) {
        [b"\"".as_slice(), &text, b"\""].concat()
    } else {
        text
    }
}

/// Random bytes; without `"` unless `quotes`.
fn garbage(rng: &mut StdRng, quotes: bool) -> Vec<u8> {
    (0..rng.random_range(1..30))
        .map(|_| loop {
            let b: u8 = rng.random();
            if quotes || b != b'"' {
                break b;
            }
        })
        .collect()
}

/// A CSV file of `n` records; `hostile` adds random bytes (quotes included)
/// and unterminated quotes, for which only the sequential read is the oracle.
fn random_csv(rng: &mut StdRng, n: usize, hostile: bool) -> Vec<u8> {
    let mut out = Vec::new();
    if rng.random_bool(0.3) {
        out.extend_from_slice(b"\xef\xbb\xbf");
    }
    let crlf = rng.random_bool(0.5);
    let end = |out: &mut Vec<u8>, rng: &mut StdRng| {
        out.extend_from_slice(if crlf || rng.random_bool(0.1) {
            b"\r\n"
        } else {
            b"\n"
        });
        if rng.random_bool(0.05) {
            out.push(b'\n');
        }
    };
    out.extend_from_slice(b"id,name,notes");
    end(&mut out, rng);
    for i in 0..n {
        match rng.random_range(0..20) {
            0 => out.extend_from_slice(b"1,too few"),
            1 => out.extend_from_slice(&[b"x".as_slice(), &field(rng), b",a,b"].concat()),
            2 => out.extend_from_slice(b"3,bad \xff utf8,\"n\nn\""),
            3 => out.extend_from_slice(&garbage(rng, hostile)),
            4 if hostile => out.extend_from_slice(b"4,\"never closed,x"),
            _ => {
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b',');
                out.extend_from_slice(&field(rng));
                out.push(b',');
                out.extend_from_slice(&field(rng));
            }
        }
        if i + 1 < n || rng.random_bool(0.7) {
            end(&mut out, rng);
        }
    }
    out
}

fn read_ranges(format: &CsvFormat<Row>, path: &Arc<std::path::PathBuf>, cuts: &[u64]) -> Read {
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for w in cuts.windows(2) {
        let range = FileRange {
            path: Arc::clone(path),
            start: w[0],
            end: w[1],
            compression: Compression::Uncompressed,
            tracker: None,
        };
        let mut reader = format.open_range(&range).unwrap();
        while let Some(r) = reader.next_record().unwrap() {
            match r {
                Ok(row) => good.push(row),
                Err(d) => bad.push((d.raw, d.location.line().unwrap())),
            }
        }
    }
    (good, bad)
}

/// What the `csv` crate reads, with the connector's rules for malformed records.
fn csv_crate(data: &[u8]) -> Read {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut records = rdr.byte_records();
    let header = csv::StringRecord::from_byte_record(records.next().unwrap().unwrap()).unwrap();
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    for rec in records {
        let rec = rec.unwrap();
        let pos = rec.position().unwrap().clone();
        let parsed = if rec.len() != header.len() {
            None
        } else {
            csv::StringRecord::from_byte_record(rec.clone())
                .ok()
                .and_then(|t| t.deserialize::<Row>(Some(&header)).ok())
        };
        match parsed {
            Some(row) => good.push(row),
            None => {
                let mut raw = &data[pos.byte() as usize..];
                let mut line = pos.line();
                while let [b'\r' | b'\n', rest @ ..] = raw {
                    line += u64::from(raw[0] == b'\n');
                    raw = rest;
                }
                bad.push((raw.to_vec(), line));
            }
        }
    }
    // The raw bytes run to the next record: cut them at each record's end.
    let ends: Vec<usize> = {
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data);
        let mut rec = csv::ByteRecord::new();
        let mut ends = Vec::new();
        while rdr.read_byte_record(&mut rec).unwrap() {
            ends.push(rdr.position().byte() as usize);
        }
        ends
    };
    for (raw, _) in &mut bad {
        let start = data.len() - raw.len();
        let end = *ends.iter().find(|&&e| e > start).unwrap();
        raw.truncate(end - start);
        while let [.., b'\r' | b'\n'] = raw.as_slice() {
            raw.pop();
        }
    }
    (good, bad)
}

fn random_cuts(rng: &mut StdRng, len: u64) -> Vec<u64> {
    let mut cuts: Vec<u64> = (0..rng.random_range(1..12))
        .map(|_| rng.random_range(0..=len))
        .collect();
    cuts.extend([0, len]);
    cuts.sort();
    cuts.dedup();
    cuts
}

#[test]
fn valid_csv_split_anywhere_reads_what_the_csv_crate_reads() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..150 {
        let mut rng = StdRng::seed_from_u64(seed);
        let n = rng.random_range(1..60);
        let data = random_csv(&mut rng, n, false);
        let path = Arc::new(dir.path().join(format!("v{seed}.csv")));
        std::fs::write(path.as_ref(), &data).unwrap();
        let want = csv_crate(&data);
        for _ in 0..8 {
            let cuts = random_cuts(&mut rng, data.len() as u64);
            let got = read_ranges(&CsvFormat::new(), &path, &cuts);
            assert_eq!(got, want, "seed {seed}, cuts {cuts:?}");
        }
    }
}

#[test]
fn hostile_csv_split_anywhere_reads_what_one_sequential_read_does() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..150 {
        let mut rng = StdRng::seed_from_u64(1000 + seed);
        let n = rng.random_range(1..60);
        let data = random_csv(&mut rng, n, true);
        let path = Arc::new(dir.path().join(format!("h{seed}.csv")));
        std::fs::write(path.as_ref(), &data).unwrap();
        let max = if seed % 3 == 0 { 24 } else { 1 << 20 };
        let format = CsvFormat::new().max_record_bytes(max);
        let len = data.len() as u64;
        let whole = read_ranges(&format, &path, &[0, len]);
        for _ in 0..8 {
            let cuts = random_cuts(&mut rng, len);
            // A fresh format too: its index is built from the ranges it opens.
            let got = read_ranges(&CsvFormat::new().max_record_bytes(max), &path, &cuts);
            assert_eq!(got, whole, "seed {seed}, cuts {cuts:?}");
        }
    }
}

#[test]
fn an_unterminated_quote_costs_one_record_and_long_records_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("u.csv"));
    let mut data = b"id,name,notes\n".to_vec();
    for i in 0..300 {
        if i == 100 {
            data.extend_from_slice(b"100,\"oops,x\n");
        } else if i == 200 {
            data.extend_from_slice(format!("200,{},x\n", "y".repeat(5000)).as_bytes());
        } else {
            data.extend_from_slice(format!("{i},n,x\n").as_bytes());
        }
    }
    std::fs::write(path.as_ref(), &data).unwrap();
    let len = data.len() as u64;
    let format = CsvFormat::new().max_record_bytes(1000);
    for cuts in [
        vec![0, len],
        vec![0, 997, 1500, 2222, len],
        vec![0, 1, 2, 3, len],
    ] {
        let (good, bad) = read_ranges(&format, &path, &cuts);
        assert_eq!(good.len(), 298, "{cuts:?}");
        assert_eq!(bad.len(), 2, "{cuts:?}");
        assert_eq!(bad[0], (b"100,\"oops,x".to_vec(), 102));
        assert_eq!(bad[1].0.len(), super::reader::DEAD_LETTER_PREFIX);
        assert_eq!(bad[1].1, 202);
    }
}

#[test]
fn a_byte_order_mark_is_dropped_only_at_the_start_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("bom.csv"));
    let data = b"\xef\xbb\xbfid,name,notes\n1,a,b\n\xef\xbb\xbf2,c,d\n3,e,f\n";
    std::fs::write(path.as_ref(), data).unwrap();
    let len = data.len() as u64;
    let whole = read_ranges(&CsvFormat::new(), &path, &[0, len]);
    assert_eq!(whole.0.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(whole.1, vec![(b"\xef\xbb\xbf2,c,d".to_vec(), 3)]);
    assert_eq!(whole, csv_crate(data));
    for cut in 1..len {
        let got = read_ranges(&CsvFormat::new(), &path, &[0, cut, len]);
        assert_eq!(got, whole, "cut at {cut}");
    }
}
