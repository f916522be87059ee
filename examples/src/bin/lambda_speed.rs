//! The Lambda architecture's speed layer: transactions from Kafka at and
//! after the batch view's cut-off → 1-minute tumbling event-time windows per
//! user → each window's totals `HSET` in Redis under `PREFIX:USER:DATE`
//! (field: the window's start in epoch ms; value `total,count,last`):
//! `cargo run --release -p examples --bin lambda_speed -- --runner timely --kafka 127.0.0.1:9092 --redis redis://127.0.0.1:6379/ --checkpoint-dir ckpt`.
//!
//! The records are transaction lines (`txn_id,user_id,amount,timestamp`)
//! at their record time, which the producer sets to the transaction's time.
//! Writes are per-window values, not increments: a window written again,
//! after a restore from a checkpoint or by a second run over the same
//! records, leaves Redis as it was, so nothing is lost or counted twice.

use beam_core::{
    Combine, DoFn, Duration, Filter, Map, ParDo, Pipeline, PipelineOptions, ProcessContext,
    Timestamp, UserError, UserResult, WindowFn, WindowInto,
};
use clap::Parser;
use examples::lambda::{date_of, read_batch_view, speed_key, speed_value, PaymentTotalsFn};
use examples::records::{ParsePaymentRecords, Transaction};
use io_connectors::kafka::{KafkaIO, StartOffset};
use io_connectors::redis::{RedisIO, RedisMutation};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "The speed layer: per-minute totals per user from Kafka into Redis")]
struct Args {
    /// Kafka brokers (`host:port,...`).
    #[arg(long)]
    kafka: String,
    /// The topic of transactions.
    #[arg(long, default_value = "transactions")]
    topic: String,
    /// Redis URL.
    #[arg(long)]
    redis: String,
    /// Prefix of the Redis keys.
    #[arg(long, default_value = "lambda")]
    key_prefix: String,
    /// The batch view whose cut-off the speed layer starts at.
    #[arg(long, default_value = "lambda-view")]
    view: PathBuf,
    /// Read the topic to its end offsets at start, then finish.
    #[arg(long)]
    stop_at_end: bool,
    /// How far out of order (seconds of record time) transactions may arrive.
    #[arg(long, default_value_t = 0)]
    max_delay_secs: i64,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// A window's totals of (user, date) as an `HSET` of its speed hash.
#[derive(Clone)]
struct WindowTotal(String);

impl DoFn for WindowTotal {
    type In = ((String, String), (f64, u64, i64));
    type Out = RedisMutation;
    fn process(
        &mut self,
        ((user, date), (total, count, last)): &Self::In,
        ctx: &mut ProcessContext<'_, RedisMutation>,
    ) -> UserResult {
        let beam_core::Window::Interval(w) = ctx.window() else {
            return Err(UserError::msg("a speed total outside a window"));
        };
        let field = w.start.as_micros().div_euclid(1000).to_string();
        let key = speed_key(&self.0, user, date);
        ctx.output(RedisMutation::hset(
            key,
            field,
            speed_value(*total, *count, *last),
        ));
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let view = read_batch_view(&args.view)?;
        let cutoff = view.meta.map_or(i64::MIN, |m| m.cutoff);
        let start = Timestamp::from_secs(cutoff);
        let p = Pipeline::new(args.pipeline);
        let mut read = KafkaIO::read(&args.kafka, &[&args.topic])
            .with_start(if cutoff == i64::MIN {
                StartOffset::Earliest
            } else {
                StartOffset::Timestamp(start)
            })
            .with_max_out_of_orderness(Duration::from_secs(args.max_delay_secs));
        if args.stop_at_end {
            read = read.stop_at_end();
        }
        p.apply("ReadKafka", read)?
            .apply("Parse", ParDo::of(ParsePaymentRecords))?
            .apply(
                "AfterCutoff",
                Filter::new(move |t: &Transaction| t.timestamp >= start),
            )?
            .apply(
                "Minutes",
                WindowInto::new(WindowFn::fixed(Duration::from_mins(1))),
            )?
            .apply(
                "PerUserDate",
                Map::new(|t: &Transaction| {
                    let secs = t.timestamp.as_micros().div_euclid(1_000_000);
                    ((t.user.clone(), date_of(t.timestamp)), (t.amount, secs))
                }),
            )?
            .apply("WindowTotals", Combine::per_key(PaymentTotalsFn))?
            .apply(
                "ToHashField",
                ParDo::of(WindowTotal(args.key_prefix.clone())),
            )?
            .apply("WriteRedis", RedisIO::write(&args.redis))?;
        p.run()?;
        Ok(())
    })
}
