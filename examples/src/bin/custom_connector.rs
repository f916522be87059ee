//! A user-defined source and sink, written only against the public connector API:
//! `cargo run --release -p examples --bin custom_connector -- --runner rayon`.
//!
//! - **Source**: [`Logfmt`], a [`FileFormat`] for `key=value key2="quoted value"`
//!   log lines. Implementing `open_range` is all it takes: the file connector
//!   machinery splits files into byte ranges (so one large log uses every core),
//!   handles globs and `.gz`/`.zst`, and gives malformed lines a dead-letter
//!   output with file and line.
//! - **Sink**: [`MarkdownTable`], a [`ShardFormat`] writing a Markdown table per
//!   shard; [`WriteFiles`] gives it sharding, atomic publication and per-window
//!   file sets.
//!
//! The pipeline counts requests and server errors per path of the bundled
//! `data/access.logfmt` (or `--input`), writes the table to
//! `PREFIX-00000-of-00001.md` with `--output PREFIX` (else prints it), and reports
//! the malformed lines on standard error.

use beam_core::{
    Combine, CombineFn, Map, Pipeline, PipelineOptions, Result, ToList, UserError, UserResult,
};
use clap::Parser;
use io_connectors::file_read::LineReader;
use io_connectors::{
    DeadLetter, FileFormat, FileRange, ReadFiles, RecordReader, ShardFormat, WriteFiles,
};
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

/// One log line: its fields by key.
type Fields = BTreeMap<String, String>;

/// The logfmt format: one record per line.
#[derive(Clone)]
struct Logfmt;

/// Parses `key=value` pairs separated by spaces; values may be double-quoted.
fn parse_logfmt(line: &str) -> std::result::Result<Fields, String> {
    let mut fields = Fields::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("expected key=value at {rest:?}"))?;
        let key = &rest[..eq];
        if key.is_empty() || key.contains(' ') {
            return Err(format!("bad key {key:?}"));
        }
        rest = &rest[eq + 1..];
        let value;
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted
                .find('"')
                .ok_or_else(|| format!("unterminated quote in {key}"))?;
            value = &quoted[..end];
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            value = &rest[..end];
            rest = &rest[end..];
        }
        fields.insert(key.to_string(), value.to_string());
        rest = rest.trim_start();
    }
    Ok(fields)
}

struct LogfmtReader(LineReader);

impl RecordReader<Fields> for LogfmtReader {
    fn next_record(&mut self) -> Result<Option<std::result::Result<Fields, DeadLetter>>> {
        let Some(line) = self.0.next_line()? else {
            return Ok(None);
        };
        let parsed = std::str::from_utf8(line)
            .map_err(|e| e.to_string())
            .and_then(parse_logfmt);
        Ok(Some(match parsed {
            Ok(fields) => Ok(fields),
            Err(error) => {
                let raw = line.to_vec();
                Err(DeadLetter {
                    raw,
                    location: self.0.location(),
                    error,
                })
            }
        }))
    }
}

impl FileFormat for Logfmt {
    type Record = Fields;
    fn open_range(&self, range: &FileRange) -> Result<Box<dyn RecordReader<Fields>>> {
        Ok(Box::new(LogfmtReader(LineReader::open(range)?)))
    }
    fn name(&self) -> &'static str {
        "logfmt"
    }
}

/// One row of the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct PathStats {
    path: String,
    requests: u64,
    server_errors: u64,
}

/// A Markdown table per shard.
#[derive(Clone)]
struct MarkdownTable;

impl ShardFormat<PathStats> for MarkdownTable {
    fn write_shard(&self, out: &mut (dyn Write + Send), rows: &[&PathStats]) -> UserResult {
        writeln!(out, "| path | requests | 5xx |")?;
        writeln!(out, "|---|---:|---:|")?;
        for r in rows {
            if r.path.contains('|') {
                return Err(UserError::msg(format!(
                    "path {:?} cannot go in a Markdown cell",
                    r.path
                )));
            }
            writeln!(out, "| {} | {} | {} |", r.path, r.requests, r.server_errors)?;
        }
        Ok(())
    }
}

/// Requests and 5xx responses.
#[derive(Clone)]
struct RequestsAndErrors;

impl CombineFn for RequestsAndErrors {
    type Input = bool;
    type Accum = (u64, u64);
    type Output = (u64, u64);
    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add_input(&self, acc: &mut (u64, u64), server_error: bool) {
        acc.0 += 1;
        acc.1 += u64::from(server_error);
    }
    fn merge_accumulators(&self, acc: &mut (u64, u64), other: (u64, u64)) {
        acc.0 += other.0;
        acc.1 += other.1;
    }
    fn extract_output(&self, acc: (u64, u64)) -> (u64, u64) {
        acc
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "custom_connector",
    about = "Requests per path of a logfmt access log, with a user-defined source and sink"
)]
struct Args {
    #[command(flatten)]
    io: examples::output::IoArgs,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn report(p: &Pipeline, input: &str, output: Option<&str>) -> Result<()> {
    let parsed = p.apply("ReadLog", ReadFiles::new(input, Logfmt).with_dead_letter())?;
    let stats = parsed
        .records
        .apply(
            "PathAndStatus",
            Map::new(|f: &Fields| {
                let path = f.get("path").cloned().unwrap_or_else(|| "(none)".into());
                (path, f.get("status").is_some_and(|s| s.starts_with('5')))
            }),
        )?
        .apply("PerPath", Combine::per_key(RequestsAndErrors))?
        .apply(
            "Row",
            Map::new(
                |(path, (requests, server_errors)): &(String, (u64, u64))| PathStats {
                    path: path.clone(),
                    requests: *requests,
                    server_errors: *server_errors,
                },
            ),
        )?;
    let busiest_first = |a: &PathStats, b: &PathStats| {
        b.requests
            .cmp(&a.requests)
            .then_with(|| a.path.cmp(&b.path))
    };
    match output {
        Some(prefix) => {
            stats.apply(
                "WriteTable",
                WriteFiles::new(prefix, MarkdownTable)
                    .with_num_shards(1)
                    .with_suffix(".md")
                    .with_order_by(busiest_first),
            )?;
        }
        None => {
            stats.apply("Gather", ToList::globally())?.apply(
                "Print",
                Map::new(move |rows: &Vec<PathStats>| {
                    let mut rows = rows.clone();
                    rows.sort_by(busiest_first);
                    let refs: Vec<&PathStats> = rows.iter().collect();
                    let mut table = Vec::new();
                    let _ = MarkdownTable.write_shard(&mut table, &refs);
                    print!("{}", String::from_utf8_lossy(&table));
                }),
            )?;
        }
    }
    parsed.dead_letter.apply(
        "ReportMalformed",
        Map::new(|d: &DeadLetter| {
            eprintln!("malformed {}: {} ({})", d.location, d.raw_text(), d.error)
        }),
    )?;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let input = args.io.input.unwrap_or_else(|| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/data/access.logfmt").to_string()
        });
        report(&p, &input, args.io.output.as_deref())?;
        p.run()?;
        Ok(())
    })
}
