//! What the Kafka Streams-style programs (`user_activity_counts`,
//! `user_sessions_to_kafka`) share: where their users' events come from (a
//! Kafka topic keyed by user, or the bundled clickstream) and how a count
//! goes to Kafka (keyed by a string, the value a big-endian 64-bit integer,
//! as Kafka's `LongSerializer` writes it, so a Kafka Streams consumer with
//! `Serdes.Long()` reads it).

use crate::output::read_lines;
use crate::records::{Event, ParseEvents};
use beam_core::{
    DoFn, Duration, Map, PCollection, ParDo, Pipeline, ProcessContext, Result, UserResult,
};
use io_connectors::kafka::{KafkaIO, KafkaMessage, KafkaRecord};

/// Where the events come from and go to.
#[derive(clap::Args, Clone, Debug)]
pub struct KafkaArgs {
    /// Kafka brokers (`host:port,...`): read the input topic and write the
    /// output topic. Without it the bundled clickstream is read and the
    /// results printed.
    #[arg(long)]
    pub kafka: Option<String>,
    /// Read the input topic up to its end offsets at start, then finish
    /// (a backfill); by default the job runs until stopped.
    #[arg(long)]
    pub stop_at_end: bool,
    /// How far out of order (in seconds of record time) records may arrive;
    /// the watermark trails the latest record time by this much.
    #[arg(long, default_value_t = 0)]
    pub max_delay_secs: i64,
}

/// Each event's user at the event's time: the keys of the records of
/// `topic` (read from `args.kafka`), or the users of the bundled clickstream.
pub fn users(p: &Pipeline, args: &KafkaArgs, topic: &str) -> Result<PCollection<String>> {
    match &args.kafka {
        Some(brokers) => {
            let mut read = KafkaIO::read(brokers, &[topic])
                .with_max_out_of_orderness(Duration::from_secs(args.max_delay_secs));
            if args.stop_at_end {
                read = read.stop_at_end();
            }
            p.apply("ReadKafka", read)?
                .apply("UserOfRecord", ParDo::of(UserOfRecord))
        }
        None => read_lines(p, None, crate::SAMPLE_EVENTS)?
            .apply("Parse", ParDo::of(ParseEvents))?
            .apply("User", Map::new(|e: &Event| e.user.clone())),
    }
}

/// A record's key as the user; a record without a UTF-8 key is dropped and
/// counted (`records_without_user`), with its place logged.
#[derive(Clone)]
struct UserOfRecord;

impl DoFn for UserOfRecord {
    type In = KafkaRecord;
    type Out = String;
    fn process(&mut self, r: &KafkaRecord, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        match r.key.as_deref().map(std::str::from_utf8) {
            Some(Ok(user)) => ctx.output(user.to_string()),
            _ => {
                tracing::warn!("dropped a record without a UTF-8 key at {}", r.location());
                ctx.metrics().inc_counter("records_without_user", 1);
            }
        }
        Ok(())
    }
}

/// A count as Kafka Streams writes a `Long`: 8 bytes, big-endian.
pub fn count_message(key: &str, count: u64) -> KafkaMessage {
    KafkaMessage {
        key: Some(key.as_bytes().to_vec()),
        value: (count as i64).to_be_bytes().to_vec(),
    }
}

/// Reads a count written by [`count_message`].
pub fn decode_count(value: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(value.try_into().ok()?))
}

/// Sends `(key, count)` pairs to `topic`.
pub fn write_counts(counts: &PCollection<(String, u64)>, brokers: &str, topic: &str) -> Result<()> {
    counts
        .apply(
            "ToRecord",
            Map::new(|(k, n): &(String, u64)| count_message(k, *n)),
        )?
        .apply("WriteKafka", KafkaIO::write(brokers, topic))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_big_endian_longs() {
        let m = count_message("u1", 258);
        assert_eq!(m.key.as_deref(), Some(&b"u1"[..]));
        assert_eq!(m.value, vec![0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(decode_count(&m.value), Some(258));
        assert_eq!(decode_count(b"short"), None);
    }
}
