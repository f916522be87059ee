//! The exactly-once Kafka sink: each writer's records of a checkpoint are
//! produced in one transaction, with a progress record, once the checkpoint
//! is complete.
//!
//! librdkafka cannot commit a transaction that another process opened: a
//! new producer with the same `transactional.id` aborts it. So records are
//! not produced before the checkpoint that covers them is complete; until
//! then they are staged in the checkpoint ([`PublishTransactionally`]). Once
//! it is, the writer (one per worker, `transactional.id` =
//! `PREFIX-JOB-WRITER`) produces them and a progress record (key: the
//! transactional id, value: the epoch) to the progress topic in one
//! transaction. A restore first recovers every writer of the checkpoint: a
//! new producer with its id aborts what it left open and fences off a
//! process still using it; a probe record, produced and committed, marks
//! how far the progress topic must be read (with `read_committed`) to see
//! the writer's last commit. Only the restored records of later epochs are
//! committed again.
//!
//! Consumers see the records once their transaction commits, so with
//! `isolation.level=read_committed` (librdkafka's default) they see every
//! record exactly once, about one checkpoint interval after it was made.
//!
//! On a run without checkpoints (the direct and rayon runners, timely
//! without `--checkpoint-dir`) nothing is replayed and the records are
//! produced as they arrive with the idempotent producer, as by
//! [`WriteKafka`].

use super::sink::{record_time, send, DeliveryErrors, KafkaMessage, WriteKafka};
use beam_core::kernel::WriterId;
use beam_core::{
    Map, PCollection, PTransform, PublishTransactionally, Result, TransactionalPublisher,
    UserError, UserResult, WindowedValue,
};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a transaction's commit, a producer's start or a read of the
/// progress topic may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Produces messages exactly once; see [`WriteKafka::exactly_once`].
pub struct WriteKafkaExactlyOnce {
    write: WriteKafka,
    prefix: Option<String>,
    progress_topic: String,
}

impl WriteKafka {
    /// Produces exactly once on a checkpointing run: each writer's records
    /// of a checkpoint in one transaction, committed once the checkpoint is
    /// complete, with a progress record in the same transaction (see the
    /// [module docs](self)). Consumers must read with
    /// `isolation.level=read_committed`.
    pub fn exactly_once(self) -> WriteKafkaExactlyOnce {
        WriteKafkaExactlyOnce {
            write: self,
            prefix: None,
            progress_topic: "beam-sink-progress".into(),
        }
    }
}

impl WriteKafkaExactlyOnce {
    /// The start of every writer's `transactional.id` (default
    /// `beam-TOPIC`); two sinks of one pipeline writing to the same topic
    /// need different ones.
    pub fn with_transactional_id_prefix(mut self, prefix: &str) -> Self {
        self.prefix = Some(prefix.to_string());
        self
    }
    /// The topic of the progress records (default `beam-sink-progress`); it
    /// is created (one partition, compacted) when missing.
    pub fn with_progress_topic(mut self, topic: &str) -> Self {
        self.progress_topic = topic.to_string();
        self
    }
}

impl PTransform<PCollection<KafkaMessage>> for WriteKafkaExactlyOnce {
    /// Nothing: the records are the effect.
    type Output = PCollection<()>;
    fn expand(self, input: &PCollection<KafkaMessage>) -> Result<PCollection<()>> {
        let prefix = self
            .prefix
            .unwrap_or_else(|| format!("beam-{}", self.write.topic));
        let publisher = KafkaTransactions {
            brokers: self.write.brokers,
            topic: self.write.topic,
            progress_topic: self.progress_topic,
            prefix,
            config: self.write.config,
            writers: Mutex::new(HashMap::new()),
            plain: Mutex::new(None),
            progress_topic_ready: OnceLock::new(),
        };
        input
            .apply("Commit", PublishTransactionally::with(publisher))?
            .apply("Done", Map::new(|_: &KafkaMessage| ()))
    }
}

type KafkaProducer = BaseProducer<DeliveryErrors>;

/// A writer's transactional producer and its delivery failures.
struct Writer {
    producer: KafkaProducer,
    errors: DeliveryErrors,
}

/// A progress record's value.
#[derive(Serialize, Deserialize)]
struct Progress {
    epoch: u64,
    records: usize,
}

struct KafkaTransactions {
    brokers: String,
    topic: String,
    progress_topic: String,
    prefix: String,
    config: Vec<(String, String)>,
    /// Transactional producers, by transactional id.
    writers: Mutex<HashMap<String, Arc<Writer>>>,
    /// The idempotent producer of runs without checkpoints.
    plain: Mutex<Option<Arc<Writer>>>,
    progress_topic_ready: OnceLock<std::result::Result<(), String>>,
}

fn kafka_error(what: &str, e: KafkaError) -> UserError {
    UserError::msg(format!("{what}: {e}"))
}

impl KafkaTransactions {
    fn transactional_id(&self, writer: &WriterId) -> String {
        format!("{}-{writer}", self.prefix)
    }

    fn producer_config(&self) -> ClientConfig {
        let mut cfg = ClientConfig::new();
        cfg.set("bootstrap.servers", &self.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5");
        for (k, v) in &self.config {
            cfg.set(k, v);
        }
        cfg
    }

    /// A new producer for `id`, its transactions initialized: librdkafka
    /// aborts what an earlier producer with that id left open and fences
    /// that producer off.
    fn start_writer(&self, id: &str) -> UserResult<Arc<Writer>> {
        let errors = DeliveryErrors::default();
        let producer: KafkaProducer = self
            .producer_config()
            .set("transactional.id", id)
            .create_with_context(errors.clone())
            .map_err(|e| kafka_error(&format!("Kafka producer for {}", self.brokers), e))?;
        producer
            .init_transactions(TIMEOUT)
            .map_err(|e| kafka_error(&format!("Kafka transactions of '{id}'"), e))?;
        let writer = Arc::new(Writer { producer, errors });
        self.writers
            .lock()
            .map_err(|_| UserError::msg("poisoned"))?
            .insert(id.to_string(), writer.clone());
        Ok(writer)
    }

    fn writer(&self, id: &str) -> UserResult<Arc<Writer>> {
        let known = self
            .writers
            .lock()
            .map_err(|_| UserError::msg("poisoned"))?
            .get(id)
            .cloned();
        match known {
            Some(w) => Ok(w),
            None => {
                self.ensure_progress_topic()?;
                self.start_writer(id)
            }
        }
    }

    /// Forgets `id`'s producer (after a failed transaction: the next use
    /// starts a new one, which aborts what this one left).
    fn forget(&self, id: &str) {
        if let Ok(mut w) = self.writers.lock() {
            w.remove(id);
        }
    }

    /// Creates the progress topic (one partition, compacted) if it is
    /// missing, once.
    fn ensure_progress_topic(&self) -> UserResult {
        let ready = self.progress_topic_ready.get_or_init(|| {
            let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                .set("bootstrap.servers", &self.brokers)
                .create()
                .map_err(|e| format!("Kafka admin client for {}: {e}", self.brokers))?;
            let topic = NewTopic::new(&self.progress_topic, 1, TopicReplication::Fixed(1))
                .set("cleanup.policy", "compact");
            let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
            let results = futures_executor::block_on(admin.create_topics([&topic], &options))
                .map_err(|e| format!("creating Kafka topic {}: {e}", self.progress_topic))?;
            for r in results {
                match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((t, e)) => return Err(format!("creating Kafka topic {t}: {e}")),
                }
            }
            Ok(())
        });
        ready.clone().map_err(UserError::msg)
    }

    /// Queues `items` to the sink's topic.
    fn send_items(
        &self,
        producer: &KafkaProducer,
        items: &[&WindowedValue<KafkaMessage>],
    ) -> UserResult {
        for item in items {
            let m = &item.value;
            let mut record = BaseRecord::<[u8], [u8]>::to(&self.topic).payload(&m.value[..]);
            if let Some(k) = &m.key {
                record = record.key(&k[..]);
            }
            if let Some(ms) = record_time(item.timestamp) {
                record = record.timestamp(ms);
            }
            send(producer, record)?;
            producer.poll(Duration::ZERO);
        }
        Ok(())
    }

    /// One transaction of `id`: `items` and a record of `key` and `value` to
    /// the progress topic; committed (retried while the broker says the
    /// commit may be retried), or aborted and the producer forgotten.
    fn transaction(
        &self,
        id: &str,
        items: &[&WindowedValue<KafkaMessage>],
        key: &str,
        value: &[u8],
    ) -> UserResult {
        let writer = self.writer(id)?;
        let producer = &writer.producer;
        let what = |step: &str| format!("Kafka transaction of '{id}' ({step})");
        let attempt = || -> UserResult {
            producer
                .begin_transaction()
                .map_err(|e| kafka_error(&what("begin"), e))?;
            self.send_items(producer, items)?;
            send(
                producer,
                BaseRecord::to(&self.progress_topic)
                    .partition(0)
                    .key(key.as_bytes())
                    .payload(value),
            )?;
            if fail::eval("kafka-produced", |_| ()).is_some() {
                eprintln!("failpoint kafka-produced: aborting the process");
                std::process::abort();
            }
            let mut tries = 0;
            loop {
                match producer.commit_transaction(TIMEOUT) {
                    Ok(()) => break,
                    Err(KafkaError::Transaction(e)) if e.is_retriable() && tries < 3 => {
                        tries += 1;
                    }
                    Err(e) => return Err(kafka_error(&what("commit"), e)),
                }
            }
            writer.errors.check(&self.topic)
        };
        let result = attempt();
        if result.is_err() {
            // Whatever it left open is aborted by the next producer of `id`.
            let _ = producer.abort_transaction(TIMEOUT);
            self.forget(id);
        }
        result
    }

    /// Reads the progress topic (`read_committed`) from its start until
    /// every probe in `probes` (key → value) appears, and returns the last
    /// epoch recorded before it under each probe's transactional id.
    fn read_progress(
        &self,
        probes: &HashMap<String, (String, Vec<u8>)>,
    ) -> UserResult<HashMap<String, u64>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", format!("{}-recovery", self.prefix))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .map_err(|e| kafka_error(&format!("Kafka consumer for {}", self.brokers), e))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.progress_topic, 0, Offset::Beginning)
            .map_err(|e| kafka_error("progress topic", e))?;
        consumer
            .assign(&tpl)
            .map_err(|e| kafka_error(&format!("reading Kafka topic {}", self.progress_topic), e))?;
        // Probe key → transactional id.
        let mut waiting: HashMap<&str, &str> = probes
            .iter()
            .map(|(id, (key, _))| (key.as_str(), id.as_str()))
            .collect();
        let mut last: HashMap<String, u64> = HashMap::new();
        let deadline = Instant::now() + TIMEOUT;
        while !waiting.is_empty() {
            if Instant::now() > deadline {
                return Err(UserError::msg(format!(
                    "reading Kafka topic {} to its end took more than {TIMEOUT:?}",
                    self.progress_topic
                )));
            }
            let Some(m) = consumer.poll(Duration::from_millis(100)) else {
                continue;
            };
            let m = m.map_err(|e| {
                kafka_error(&format!("reading Kafka topic {}", self.progress_topic), e)
            })?;
            let key = m
                .key()
                .and_then(|k| std::str::from_utf8(k).ok())
                .unwrap_or("");
            if let Some(id) = waiting.get(key).copied() {
                if m.payload() == Some(&probes[id].1[..]) {
                    waiting.remove(key);
                }
                continue;
            }
            if probes.contains_key(key) && waiting.values().any(|id| *id == key) {
                let progress: Progress = serde_json::from_slice(m.payload().unwrap_or(b""))
                    .map_err(|e| {
                        UserError::msg(format!(
                            "a progress record of '{key}' in Kafka topic {} (offset {}) does not parse: {e}",
                            self.progress_topic,
                            m.offset()
                        ))
                    })?;
                last.insert(key.to_string(), progress.epoch);
            }
        }
        Ok(last)
    }
}

impl TransactionalPublisher<KafkaMessage> for KafkaTransactions {
    fn publish(&self, items: &[&WindowedValue<KafkaMessage>]) -> UserResult {
        let writer = {
            let mut plain = self.plain.lock().map_err(|_| UserError::msg("poisoned"))?;
            match &*plain {
                Some(w) => w.clone(),
                None => {
                    let errors = DeliveryErrors::default();
                    let producer: KafkaProducer = self
                        .producer_config()
                        .create_with_context(errors.clone())
                        .map_err(|e| {
                            kafka_error(&format!("Kafka producer for {}", self.brokers), e)
                        })?;
                    let w = Arc::new(Writer { producer, errors });
                    *plain = Some(w.clone());
                    w
                }
            }
        };
        self.send_items(&writer.producer, items)?;
        writer
            .producer
            .flush(TIMEOUT)
            .map_err(|e| kafka_error(&format!("Kafka flush to {}", self.topic), e))?;
        writer.errors.check(&self.topic)
    }

    fn commit(
        &self,
        writer: &WriterId,
        epoch: u64,
        items: &[&WindowedValue<KafkaMessage>],
    ) -> UserResult {
        let id = self.transactional_id(writer);
        let value = serde_json::to_vec(&Progress {
            epoch,
            records: items.len(),
        })
        .map_err(|e| UserError::msg(e.to_string()))?;
        self.transaction(&id, items, &id, &value)
    }

    fn recover(&self, writers: &[WriterId]) -> UserResult<Vec<Option<u64>>> {
        self.ensure_progress_topic()?;
        let nonce = format!(
            "{:x}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            std::process::id()
        );
        let mut probes = HashMap::new();
        for writer in writers {
            let id = self.transactional_id(writer);
            // A new producer: aborts what the writer left open.
            self.forget(&id);
            self.start_writer(&id)?;
            let key = format!("{id}/probe");
            let value = nonce.clone().into_bytes();
            self.transaction(&id, &[], &key, &value)?;
            probes.insert(id, (key, value));
        }
        if probes.is_empty() {
            return Ok(Vec::new());
        }
        let last = self.read_progress(&probes)?;
        Ok(writers
            .iter()
            .map(|w| last.get(&self.transactional_id(w)).copied())
            .collect())
    }
}
