//! Sales over 1000 by category:
//! `cargo run --release -p examples --bin sales_summary -- --runner direct`.
//!
//! Reads a CSV of sales (`--input`, the bundled `data/sales.csv` without it;
//! header row with at least `product_category` and `amount`), keeps sales with
//! `amount > 1000`, and per category computes the total, average and count,
//! ordered by total, largest first. With `--output PREFIX` it writes the summary
//! as Parquet to `PREFIX-00000-of-00001.parquet` and malformed rows as JSON lines
//! to `PREFIX-dead-letter-00000-of-00001.jsonl`; without it, it prints both.
//! Amounts are decimal numbers with at most two decimal places, read exactly
//! as cents: anything else (`inf`, `NaN`, exponents, more than 2 decimals, or
//! beyond ±92 233 720 368 547 758.07) makes the row a dead letter. Cents are
//! summed in `i128`, so totals are exact and identical on every runner.

use beam_core::{
    Combine, CombineFn, Filter, Map, PCollection, Pipeline, PipelineOptions, Result, ToList,
};
use clap::Parser;
use io_connectors::{CsvIO, DeadLetter, JsonLinesIO, ParquetIO};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "sales_summary",
    about = "Totals, averages and counts of sales over 1000 per category"
)]
struct Args {
    #[command(flatten)]
    io: examples::output::IoArgs,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// A sale as read from the CSV (other columns are ignored).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Sale {
    product_category: String,
    amount: Cents,
}

/// An amount of money in cents: written as a decimal (`1234.5`, `-0.07`) in
/// text formats, as the integer in binary ones (the coders).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Cents(i64);

impl std::str::FromStr for Cents {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Cents, String> {
        let t = text.trim();
        let (negative, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !all_digits(whole) || !all_digits(frac) {
            return Err(format!("amount {text:?} is not a decimal number"));
        }
        if frac.len() > 2 {
            return Err(format!("amount {text:?} has more than two decimal places"));
        }
        let cents = format!("{whole}{frac:0<2}");
        let magnitude: i128 = cents
            .parse()
            .map_err(|_| format!("amount {text:?} is out of range"))?;
        let value = if negative { -magnitude } else { magnitude };
        i64::try_from(value)
            .map(Cents)
            .map_err(|_| format!("amount {text:?} is out of range"))
    }
}

impl std::fmt::Display for Cents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl serde::Serialize for Cents {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Cents {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Cents, D::Error> {
        if d.is_human_readable() {
            let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            i64::deserialize(d).map(Cents)
        }
    }
}

/// One row of the summary.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct CategorySummary {
    product_category: String,
    total: f64,
    average: f64,
    count: u64,
}

/// Sum (in cents) and count of a category's sales. An `i128` of cents holds
/// more than 10^19 sales of the largest amount, so it cannot wrap; the checked
/// additions say so rather than assume it.
#[derive(Clone)]
struct TotalAndCount;

impl CombineFn for TotalAndCount {
    type Input = i64;
    type Accum = (i128, u64);
    type Output = (i128, u64);
    fn create_accumulator(&self) -> (i128, u64) {
        (0, 0)
    }
    fn add_input(&self, acc: &mut (i128, u64), cents: i64) {
        self.merge_accumulators(acc, (i128::from(cents), 1));
    }
    fn merge_accumulators(&self, acc: &mut (i128, u64), (cents, count): (i128, u64)) {
        acc.0 = acc
            .0
            .checked_add(cents)
            .expect("a total in cents beyond i128");
        acc.1 = acc.1.checked_add(count).expect("more than u64::MAX sales");
    }
    fn extract_output(&self, acc: (i128, u64)) -> (i128, u64) {
        acc
    }
}

fn by_total_desc(a: &CategorySummary, b: &CategorySummary) -> std::cmp::Ordering {
    b.total
        .total_cmp(&a.total)
        .then_with(|| a.product_category.cmp(&b.product_category))
}

fn summarize(p: &Pipeline, input: &str, output: Option<&str>) -> Result<()> {
    let parsed = p.apply("ReadSales", CsvIO::read::<Sale>(input).with_dead_letter())?;
    let summary: PCollection<CategorySummary> = parsed
        .records
        .apply(
            "Over1000",
            Filter::new(|s: &Sale| s.amount > Cents(100_000)),
        )?
        .apply(
            "CentsByCategory",
            Map::new(|s: &Sale| (s.product_category.clone(), s.amount.0)),
        )?
        .apply("TotalAndCount", Combine::per_key(TotalAndCount))?
        .apply(
            "Summary",
            Map::new(
                |(category, (cents, count)): &(String, (i128, u64))| CategorySummary {
                    product_category: category.clone(),
                    total: *cents as f64 / 100.0,
                    average: (*cents as f64 / *count as f64).round() / 100.0,
                    count: *count,
                },
            ),
        )?;
    match output {
        Some(prefix) => {
            summary.apply(
                "WriteParquet",
                ParquetIO::write(prefix)
                    .with_num_shards(1)
                    .with_suffix(".parquet")
                    .with_order_by(by_total_desc),
            )?;
            parsed.dead_letter.apply(
                "WriteDeadLetter",
                JsonLinesIO::write(&format!("{prefix}-dead-letter"))
                    .with_num_shards(1)
                    .with_order_by(DeadLetter::input_order)
                    .with_suffix(".jsonl"),
            )?;
        }
        None => {
            summary.apply("Gather", ToList::globally())?.apply(
                "Print",
                Map::new(|rows: &Vec<CategorySummary>| print_summary(rows)),
            )?;
            parsed.dead_letter.apply(
                "PrintDeadLetter",
                Map::new(|d: &DeadLetter| {
                    eprintln!("dead letter {}: {} ({})", d.location, d.raw_text(), d.error);
                }),
            )?;
        }
    }
    Ok(())
}

fn print_summary(rows: &[CategorySummary]) {
    let mut rows = rows.to_vec();
    rows.sort_by(by_total_desc);
    println!(
        "{:<16} {:>14} {:>12} {:>6}",
        "category", "total", "average", "count"
    );
    for r in rows {
        println!(
            "{:<16} {:>14.2} {:>12.2} {:>6}",
            r.product_category, r.total, r.average, r.count
        );
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let input = args
            .io
            .input
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/sales.csv").to_string());
        summarize(&p, &input, args.io.output.as_deref())?;
        p.run()?;
        Ok(())
    })
}
