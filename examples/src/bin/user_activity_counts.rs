//! A running count of actions per user, emitted on every update: a table's
//! changelog, as Kafka Streams' `stream("user-actions").groupByKey().count()
//! .toStream().to("user-activity-counts")`:
//! `cargo run --release -p examples --bin user_activity_counts -- --runner direct`.
//!
//! With `--kafka BROKERS` it reads the records of `user-actions` (keyed by
//! user) and writes each update to `user-activity-counts`, keyed by user, the
//! count a big-endian 64-bit integer. Without it, it reads the bundled
//! clickstream and prints the updates as `user count` lines. Updates that
//! arrive together may be emitted as one (as a Kafka Streams table cache
//! does); each user's last update is their count.
//!
//! The model: the global window, a trigger after every element, accumulating
//! panes.

use beam_core::{
    AccumulationMode, Count, Duration, Map, OnTimeBehavior, Pipeline, PipelineOptions, Trigger,
    WindowFn, WindowInto,
};
use clap::Parser;
use examples::output::write_lines;
use examples::user_tables::{users, write_counts, KafkaArgs};
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "A running count of actions per user, as a changelog")]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The topic of actions, keyed by user.
    #[arg(long, default_value = "user-actions")]
    input_topic: String,
    /// The topic of count updates.
    #[arg(long, default_value = "user-activity-counts")]
    output_topic: String,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let counts = users(&p, &args.kafka, &args.input_topic)?
            .apply(
                "EveryUpdate",
                WindowInto::new(WindowFn::Global)
                    .triggering(
                        Trigger::repeatedly(Trigger::after_count(1)),
                        AccumulationMode::Accumulating,
                        Duration::ZERO,
                    )
                    // When the input ends, no pane repeats a count already sent.
                    .with_on_time_behavior(OnTimeBehavior::FireIfNonEmpty),
            )?
            .apply("CountPerUser", Count::per_element())?;
        match &args.kafka.kafka {
            Some(brokers) => write_counts(&counts, brokers, &args.output_topic)?,
            None => {
                let lines = counts.apply(
                    "Format",
                    Map::new(|(user, n): &(String, u64)| format!("{user} {n}")),
                )?;
                write_lines(&lines, None)?;
            }
        }
        p.run()?;
        Ok(())
    })
}
