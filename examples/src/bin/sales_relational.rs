//! The sales summary written relationally, as DataFrame verbs or as SQL:
//! `cargo run --release -p examples --bin sales_relational -- --form sql --runner direct`.
//!
//! Reads the CSV of sales (`--input`, the bundled `data/sales.csv` without
//! it), keeps sales with `amount > 1000`, and per category computes the
//! total, average and count, ordered by total, largest first; it prints the
//! same table as `sales_summary`, with malformed rows as dead letters on
//! standard error. Amounts are read as exact decimals (`DECIMAL(18, 2)`).

use arrow::datatypes::{DataType, Field, Schema};
use beam_core::{Map, ParDo, Pipeline, PipelineOptions, ProcessContext, UserResult};
use beam_sql::read::{read_with_dead_letter, Format};
use beam_sql::{avg, col, count_star, lit, sum, Expr, Function, Rows, SqlTransform, Table};
use clap::Parser;
use examples as _;
use io_connectors::DeadLetter;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(
    name = "sales_relational",
    about = "The sales summary as DataFrame verbs or SQL"
)]
struct Args {
    /// `dataframe` or `sql`.
    #[arg(long, default_value = "sql")]
    form: String,
    /// The sales CSV (the bundled sample without it).
    #[arg(long)]
    input: Option<String>,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

const QUERY: &str = "
    SELECT product_category, SUM(amount) AS total, ROUND(AVG(amount), 2) AS average,
           COUNT(*) AS count
    FROM sales WHERE amount > 1000
    GROUP BY product_category
    ORDER BY total DESC, product_category";

fn dataframe(sales: &Table) -> beam_core::Result<Table> {
    sales
        .filter("Over1000", col("amount").gt(lit(1000)))?
        .group_by(vec![col("product_category")])
        .aggregate(
            "Totals",
            vec![
                sum(col("amount")).alias("total"),
                avg(col("amount")).alias("average"),
                count_star().alias("count"),
            ],
        )?
        .with_column(
            "RoundAverage",
            "average",
            Expr::call(Function::Round, vec![col("average"), lit(2)]),
        )?
        .order_by(
            "ByTotal",
            vec![col("total").sort_desc(), col("product_category").sort_asc()],
            None,
            0,
        )
}

/// Prints the summary's rows as `sales_summary` does.
#[derive(Clone)]
struct PrintSummary;

impl beam_core::DoFn for PrintSummary {
    type In = Rows;
    type Out = ();
    fn process(&mut self, rows: &Rows, _: &mut ProcessContext<'_, ()>) -> UserResult {
        use arrow::util::display::{ArrayFormatter, FormatOptions};
        let b = rows.batch();
        let options = FormatOptions::default();
        let f = |i: usize| ArrayFormatter::try_new(b.column(i).as_ref(), &options);
        let (category, total, count) = (f(0)?, f(1)?, f(3)?);
        let average =
            arrow::array::AsArray::as_primitive::<arrow::datatypes::Float64Type>(b.column(2));
        println!(
            "{:<16} {:>14} {:>12} {:>6}",
            "category", "total", "average", "count"
        );
        for r in 0..b.num_rows() {
            println!(
                "{:<16} {:>14} {:>12.2} {:>6}",
                category.value(r).to_string(),
                total.value(r).to_string(),
                average.value(r),
                count.value(r).to_string()
            );
        }
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let input = args
            .input
            .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/data/sales.csv").to_string());
        let schema = Arc::new(Schema::new(vec![
            Field::new("transaction_id", DataType::Utf8, false),
            Field::new("date", DataType::Date32, false),
            Field::new("customer_id", DataType::Utf8, false),
            Field::new("product_category", DataType::Utf8, false),
            Field::new("amount", DataType::Decimal128(18, 2), false),
            Field::new("region", DataType::Utf8, false),
        ]));
        let (sales, dead) = read_with_dead_letter(
            &p,
            "ReadSales",
            &input,
            Format::Csv { delimiter: b',' },
            Some(schema),
        )?;
        let summary = match args.form.as_str() {
            "dataframe" => dataframe(&sales)?,
            "sql" => p.apply(
                "Summary",
                SqlTransform::query(QUERY).with_table("sales", &sales),
            )?,
            other => anyhow::bail!("--form is dataframe or sql, not {other:?}"),
        };
        summary.rows().apply("Print", ParDo::of(PrintSummary))?;
        dead.apply(
            "PrintDeadLetter",
            Map::new(|d: &DeadLetter| {
                eprintln!("dead letter {}: {} ({})", d.location, d.raw_text(), d.error);
            }),
        )?;
        p.run()?;
        Ok(())
    })
}
