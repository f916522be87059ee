//! The Lambda architecture's batch layer: historical transactions (Parquet)
//! → per (user, date) total amount, transaction count and last transaction
//! time → a Parquet view that replaces the previous one atomically, with the
//! cut-off time it covers:
//! `cargo run --release -p examples --bin lambda_batch -- --runner rayon`.
//!
//! `--input` is a Parquet file or glob of `txn_id, user_id, amount,
//! timestamp` (epoch seconds) rows, or a CSV file of such lines (default: the
//! bundled sample). Only transactions before `--cutoff` (epoch seconds,
//! default now) are taken; the speed layer takes the rest. The view is
//! `--view DIR` (a version directory and a `CURRENT` file naming it; see
//! `examples::lambda`).

use beam_core::{Combine, Filter, Map, ParDo, Pipeline, PipelineOptions, Timestamp};
use clap::Parser;
use examples::lambda::{
    date_of, new_version_dir, publish_batch_view, BatchViewMeta, DailyTotal, PaymentTotalsFn,
    TransactionRow,
};
use examples::output::read_lines;
use examples::records::{ParseTransactions, Transaction};
use io_connectors::ParquetIO;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "The batch layer: daily totals per user, as an atomically replaced Parquet view")]
struct Args {
    /// Parquet file or glob of transactions, or a `.csv` file (default: the bundled sample).
    #[arg(long)]
    input: Option<String>,
    /// The view's directory.
    #[arg(long, default_value = "lambda-view")]
    view: PathBuf,
    /// Take the transactions before this time (epoch seconds; default: now).
    #[arg(long)]
    cutoff: Option<i64>,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let cutoff = args
            .cutoff
            .unwrap_or_else(|| Timestamp::wall_clock().as_micros().div_euclid(1_000_000));
        let p = Pipeline::new(args.pipeline);
        let transactions = match args.input.as_deref() {
            Some(path) if !path.ends_with(".csv") => p
                .apply("ReadParquet", ParquetIO::read::<TransactionRow>(path))?
                .apply(
                    "Transactions",
                    Map::new(|r: &TransactionRow| Transaction {
                        id: r.txn_id.clone(),
                        user: r.user_id.clone(),
                        amount: r.amount,
                        timestamp: Timestamp::from_secs(r.timestamp),
                    }),
                )?,
            csv => read_lines(&p, csv, examples::SAMPLE_TRANSACTIONS)?
                .apply("Parse", ParDo::of(ParseTransactions))?,
        };
        let version = new_version_dir(&args.view)?;
        transactions
            .apply(
                "BeforeCutoff",
                Filter::new(move |t: &Transaction| t.timestamp < Timestamp::from_secs(cutoff)),
            )?
            .apply(
                "PerUserDate",
                Map::new(|t: &Transaction| {
                    let secs = t.timestamp.as_micros().div_euclid(1_000_000);
                    ((t.user.clone(), date_of(t.timestamp)), (t.amount, secs))
                }),
            )?
            .apply("DailyTotals", Combine::per_key(PaymentTotalsFn))?
            .apply(
                "Rows",
                Map::new(
                    |((user, date), (total, count, last)): &((String, String), (f64, u64, i64))| {
                        DailyTotal {
                            user_id: user.clone(),
                            date: date.clone(),
                            total_amount: *total,
                            transaction_count: *count,
                            last_transaction_time: *last,
                        }
                    },
                ),
            )?
            .apply(
                "WriteView",
                ParquetIO::write(&version.join("daily").display().to_string())
                    .with_num_shards(1)
                    .with_suffix(".parquet"),
            )?;
        p.run()?;
        publish_batch_view(&args.view, &version, &BatchViewMeta { cutoff })?;
        println!(
            "batch view {} covers the transactions before {cutoff}",
            version.display()
        );
        Ok(())
    })
}
