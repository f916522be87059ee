//! Kafka helpers of the tests that run programs against the test broker.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// The broker the test script started (`BEAM_TEST_KAFKA_BROKERS`).
pub fn brokers() -> String {
    std::env::var("BEAM_TEST_KAFKA_BROKERS").expect(
        "BEAM_TEST_KAFKA_BROKERS is not set: run the tests with `bash scripts/test.sh`, which installs and starts a Kafka-protocol broker (tansu)",
    )
}

/// `name` made unique to this process and moment.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// Creates `name` with `partitions` partitions, keeping records whatever
/// their age (test records carry timestamps in the past).
pub fn create_topic(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let topic =
        NewTopic::new(name, partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1");
    for r in
        futures_executor::block_on(admin.create_topics([&topic], &AdminOptions::new())).unwrap()
    {
        r.unwrap_or_else(|(t, e)| panic!("create topic {t}: {e}"));
    }
}

/// Every record (key, value) of partition 0 of `topic`, in order, once none
/// came for 3 s.
pub fn read_partition(brokers: &str, topic: &str) -> Vec<(Option<String>, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("check"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let mut got = Vec::new();
    let mut last = std::time::Instant::now();
    let deadline = last + std::time::Duration::from_secs(90);
    while last.elapsed() < std::time::Duration::from_secs(3) && std::time::Instant::now() < deadline
    {
        if let Some(m) = consumer.poll(std::time::Duration::from_millis(100)) {
            let m = m.unwrap();
            let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
            got.push((key, m.payload().unwrap_or_default().to_vec()));
            last = std::time::Instant::now();
        }
    }
    got
}

/// Runs program `bin` with `args` to its end; fails with its standard error.
pub fn run_program(bin: &str, args: &[&str]) {
    let out = std::process::Command::new(bin).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Produces `(key, value, timestamp in ms)` records to `topic` and waits
/// until the broker has them all.
pub fn produce(
    brokers: &str,
    topic: &str,
    records: impl IntoIterator<Item = (String, String, i64)>,
) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for (key, value, ms) in records {
        let record = BaseRecord::to(topic)
            .key(key.as_str())
            .payload(value.as_str())
            .timestamp(ms);
        producer.send(record).map_err(|(e, _)| e).unwrap();
        producer.poll(std::time::Duration::ZERO);
    }
    producer.flush(std::time::Duration::from_secs(30)).unwrap();
}
