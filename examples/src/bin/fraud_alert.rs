//! Alerts when a user's payments in a 5-minute window (sliding every minute)
//! add up to more than 10 000, as the seed's Flink transaction monitor:
//! `cargo run --release -p examples --bin fraud_alert -- --runner direct`.
//!
//! Input: `txn_id,user_id,amount,timestamp` lines (`--input`, default: the
//! bundled sample). Output: `ALERT user window total` lines.
//!
//! With `--kafka BROKERS` it reads the lines as the values of topic
//! `transactions` (consumer group `transaction-monitor`, which it commits its
//! offsets to after each checkpoint, for lag monitoring), at their record
//! time (the producer sets it to the payment's time), and writes each alert
//! to topic `alerts`, keyed by user, as JSON `{"user", "window_start",
//! "window_end", "total"}` (window bounds in epoch milliseconds). On timely,
//! add `--checkpoint-dir DIR`: it checkpoints every 5 s (the seed's setting;
//! `--checkpoint-interval`), and `--restore-from latest` resumes a stopped run.

use beam_core::{
    DoFn, Duration, Filter, Map, ParDo, Pipeline, PipelineOptions, ProcessContext, Sum, UserError,
    UserResult, WindowFn, WindowInto,
};
use clap::Parser;
use examples::output::{read_lines, write_lines, IoArgs};
use examples::records::{
    minutes, window_span, FormatInWindow, ParsePaymentRecords, ParseTransactions, Transaction,
};
use io_connectors::kafka::{KafkaIO, KafkaMessage};
use std::marker::PhantomData;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Per-user sliding sums of payments, alerting above a threshold")]
struct Args {
    #[command(flatten)]
    io: IoArgs,
    /// Alert when a window's total exceeds this.
    #[arg(long, default_value_t = 10_000.0)]
    threshold: f64,
    /// Kafka brokers (`host:port,...`): read payments from Kafka and write
    /// alerts to Kafka instead of files.
    #[arg(long)]
    kafka: Option<String>,
    /// The topic of payments.
    #[arg(long, default_value = "transactions")]
    input_topic: String,
    /// The topic of alerts.
    #[arg(long, default_value = "alerts")]
    alerts_topic: String,
    /// The consumer group.
    #[arg(long, default_value = "transaction-monitor")]
    group: String,
    /// Read the payments topic to its end offsets at start, then finish.
    #[arg(long)]
    stop_at_end: bool,
    /// How far out of order (seconds of record time) payments may arrive.
    #[arg(long, default_value_t = 0)]
    max_delay_secs: i64,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// An alert as a Kafka record: keyed by user, JSON with the window in ms.
#[derive(Clone)]
struct AlertRecord;

impl DoFn for AlertRecord {
    type In = (String, f64);
    type Out = KafkaMessage;
    fn process(
        &mut self,
        (user, total): &(String, f64),
        ctx: &mut ProcessContext<'_, KafkaMessage>,
    ) -> UserResult {
        let (start, end) = match ctx.window() {
            beam_core::Window::Interval(w) => (
                w.start.as_micros().div_euclid(1000),
                w.end.as_micros().div_euclid(1000),
            ),
            beam_core::Window::Global => return Err(UserError::msg("an alert outside a window")),
        };
        let alert = serde_json::json!({
            "user": user, "window_start": start, "window_end": end, "total": total,
        });
        let message = KafkaMessage::json(Some(user), &alert).map_err(UserError::msg)?;
        ctx.output(message);
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let threshold = args.threshold;
        let p = Pipeline::new(args.pipeline);
        let payments = match &args.kafka {
            Some(brokers) => {
                let mut read = KafkaIO::read(brokers, &[&args.input_topic])
                    .with_group_id(&args.group)
                    .with_max_out_of_orderness(Duration::from_secs(args.max_delay_secs));
                if args.stop_at_end {
                    read = read.stop_at_end();
                }
                p.apply("ReadKafka", read)?
                    .apply("Parse", ParDo::of(ParsePaymentRecords))?
            }
            None => read_lines(&p, args.io.input.as_deref(), examples::SAMPLE_TRANSACTIONS)?
                .apply("Parse", ParDo::of(ParseTransactions))?,
        };
        let alerts = payments
            .apply(
                "Sliding",
                WindowInto::new(WindowFn::sliding(minutes(5), minutes(1))),
            )?
            .apply(
                "Amounts",
                Map::new(|t: &Transaction| (t.user.clone(), t.amount)),
            )?
            .apply("TotalPerUser", Sum::per_key())?
            .apply(
                "AboveThreshold",
                Filter::new(move |(_, total): &(String, f64)| *total > threshold),
            )?;
        match &args.kafka {
            Some(brokers) => {
                alerts
                    .apply("AlertRecord", ParDo::of(AlertRecord))?
                    .apply("WriteKafka", KafkaIO::write(brokers, &args.alerts_topic))?;
            }
            None => {
                let lines = alerts.apply(
                    "Format",
                    ParDo::of(FormatInWindow(
                        |(user, total): &(String, f64), w: &beam_core::Window| {
                            format!("ALERT {user} {} total {total:.2}", window_span(w))
                        },
                        PhantomData,
                    )),
                )?;
                write_lines(&lines, args.io.output.as_deref())?;
            }
        }
        p.run()?;
        Ok(())
    })
}
