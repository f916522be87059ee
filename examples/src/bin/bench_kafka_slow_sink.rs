//! A fast Kafka source into a slow sink: produces `--records` records to a
//! new topic, then reads the topic to its end, reshuffles the records over
//! the workers, and writes them to a sink that sleeps `--sleep-ms` per
//! bundle; checks that every record arrived once. Run it
//! under `scripts/peak-rss.sh` to see that memory stays bounded: the source
//! waits for the sink instead of queueing what it read.
//!
//! ```sh
//! source scripts/services.sh   # starts a Kafka-protocol broker
//! cargo build --release -p examples --bin bench_kafka_slow_sink
//! scripts/peak-rss.sh 600 target/release/bench_kafka_slow_sink --brokers "$BEAM_TEST_KAFKA_BROKERS" --records 5000000 --runner timely --workers 2
//! ```

use beam_core::{
    DoFn, FinishBundleContext, ParDo, Pipeline, PipelineOptions, ProcessContext, Reshuffle,
    UserResult,
};
use clap::Parser;
use io_connectors::kafka::{KafkaIO, KafkaRecord};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::process::ExitCode;
use std::time::{Duration, Instant};
// Link the runners so `--runner` finds them.
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

#[derive(Parser)]
struct Args {
    /// The Kafka brokers.
    #[arg(long)]
    brokers: String,
    /// Records to produce and read.
    #[arg(long, default_value_t = 5_000_000)]
    records: u64,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 2)]
    partitions: i32,
    /// Milliseconds the sink sleeps per bundle.
    #[arg(long, default_value_t = 1)]
    sleep_ms: u64,
    #[command(flatten)]
    pipeline: PipelineOptions,
}

/// Counts records and sleeps once per bundle.
#[derive(Clone)]
struct SlowSink(Duration);

impl DoFn for SlowSink {
    type In = KafkaRecord;
    type Out = ();
    fn process(&mut self, r: &KafkaRecord, ctx: &mut ProcessContext<'_, ()>) -> UserResult {
        ctx.metrics().inc_counter("records", 1);
        ctx.metrics()
            .inc_counter("bytes", r.value.as_ref().map_or(0, |v| v.len() as i64));
        Ok(())
    }
    fn finish_bundle(&mut self, _: &mut FinishBundleContext<'_, ()>) -> UserResult {
        std::thread::sleep(self.0);
        Ok(())
    }
}

fn produce(args: &Args, topic: &str) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .create()?;
    let new =
        NewTopic::new(topic, args.partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1");
    for r in futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new()))? {
        r.map_err(|(t, e)| anyhow::anyhow!("create topic {t}: {e}"))?;
    }
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("linger.ms", "20")
        .create()?;
    let payload = "x".repeat(100);
    for i in 0..args.records {
        let key = format!("user{}", i % 1000);
        let mut record = BaseRecord::to(topic)
            .key(key.as_str())
            .payload(payload.as_str());
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let topic = format!("slow-sink-{nanos}");
        let started = Instant::now();
        produce(&args, &topic)?;
        let produced = started.elapsed().as_secs_f64();
        let p = Pipeline::new(args.pipeline.clone());
        p.apply(
            "Records",
            KafkaIO::read(&args.brokers, &[&topic]).stop_at_end(),
        )?
        .apply("Spread", Reshuffle)?
        .apply(
            "SlowSink",
            ParDo::of(SlowSink(Duration::from_millis(args.sleep_ms))),
        )?;
        let started = Instant::now();
        let result = p.run()?;
        let secs = started.elapsed().as_secs_f64();
        let read = result.metrics().counter("SlowSink", "records").unwrap_or(0);
        anyhow::ensure!(
            read == args.records as i64,
            "{read} of {} records reached the sink",
            args.records
        );
        println!(
            "{} records produced in {produced:.1} s; read through a sink sleeping {} ms per bundle in {secs:.1} s ({:.0} records/s), every record once",
            args.records,
            args.sleep_ms,
            read as f64 / secs
        );
        Ok(())
    })
}
