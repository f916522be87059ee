//! Events per user per session (30-minute inactivity gap), as Kafka Streams'
//! `stream("user-events").groupByKey().windowedBy(SessionWindows...).count()`
//! written to `user-sessions`:
//! `cargo run --release -p examples --bin user_sessions_to_kafka -- --runner direct`.
//!
//! With `--kafka BROKERS` it reads the records of `user-events` (keyed by
//! user, at their record time) and writes one record per session to
//! `user-sessions`: key `user@start-end`, the session's bounds in epoch
//! milliseconds, value the event count as a big-endian 64-bit integer. A
//! session is Beam's: from its first event to 30 minutes after its last
//! (Kafka Streams' own session window ends at the last event). A session is
//! written once the watermark passes its end (`--max-delay-secs` sets how
//! far behind the latest record time the watermark trails); without
//! `--kafka` the bundled clickstream is read and `key count` lines printed.

use beam_core::{
    Count, DoFn, Pipeline, PipelineOptions, ProcessContext, UserResult, WindowFn, WindowInto,
};
use clap::Parser;
use examples::output::write_lines;
use examples::records::minutes;
use examples::user_tables::{users, write_counts, KafkaArgs};
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Events per user per session, to Kafka")]
struct Args {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// The topic of events, keyed by user.
    #[arg(long, default_value = "user-events")]
    input_topic: String,
    /// The topic of sessions.
    #[arg(long, default_value = "user-sessions")]
    output_topic: String,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// `(user, count)` in a session window → `(user@start-end, count)`.
#[derive(Clone)]
struct SessionKey;

impl DoFn for SessionKey {
    type In = (String, u64);
    type Out = (String, u64);
    fn process(
        &mut self,
        (user, n): &(String, u64),
        ctx: &mut ProcessContext<'_, (String, u64)>,
    ) -> UserResult {
        let key = match ctx.window() {
            beam_core::Window::Interval(w) => format!(
                "{user}@{}-{}",
                w.start.as_micros().div_euclid(1000),
                w.end.as_micros().div_euclid(1000)
            ),
            beam_core::Window::Global => user.clone(),
        };
        ctx.output((key, *n));
        Ok(())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let p = Pipeline::new(args.pipeline);
        let sessions = users(&p, &args.kafka, &args.input_topic)?
            .apply("Sessions", WindowInto::new(WindowFn::sessions(minutes(30))))?
            .apply("CountPerSession", Count::per_element())?
            .apply("SessionKey", beam_core::ParDo::of(SessionKey))?;
        match &args.kafka.kafka {
            Some(brokers) => write_counts(&sessions, brokers, &args.output_topic)?,
            None => {
                let lines = sessions.apply(
                    "Format",
                    beam_core::Map::new(|(key, n): &(String, u64)| format!("{key} {n}")),
                )?;
                write_lines(&lines, None)?;
            }
        }
        p.run()?;
        Ok(())
    })
}
