//! The Kafka sink: an idempotent producer, flushed and checked every bundle.
//!
//! It is at least once across a crash and a restore from a checkpoint: the
//! records produced after the checkpoint are produced again (the idempotent
//! producer only removes duplicates of its own retries). For exactly once,
//! see [`WriteKafka::exactly_once`].

use beam_core::{
    DoFn, FinishBundleContext, PCollection, PTransform, ParDo, ProcessContext, Result, Timestamp,
    UserError, UserResult,
};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// A record to produce.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KafkaMessage {
    /// The key (decides the partition), if any.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Vec<u8>,
}

impl KafkaMessage {
    /// `value` serialized as JSON, with `key` as UTF-8 bytes.
    pub fn json<T: Serialize>(key: Option<&str>, value: &T) -> std::result::Result<Self, String> {
        Ok(KafkaMessage {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: serde_json::to_vec(value).map_err(|e| e.to_string())?,
        })
    }
}

/// Produces messages; see [`KafkaIO::write`].
pub struct WriteKafka {
    pub(super) brokers: String,
    pub(super) topic: String,
    pub(super) config: Vec<(String, String)>,
}

impl WriteKafka {
    /// Any librdkafka producer property.
    pub fn with_producer_config(mut self, key: &str, value: &str) -> Self {
        self.config.push((key.to_string(), value.to_string()));
        self
    }
}

/// The delivery failures a producer reported since they were last taken.
#[derive(Clone, Default)]
pub(super) struct DeliveryErrors(Arc<Mutex<Vec<String>>>);

impl DeliveryErrors {
    /// Fails naming how many records to `topic` were not delivered, if any.
    pub(super) fn check(&self, topic: &str) -> UserResult {
        let errs = std::mem::take(&mut *self.0.lock().map_err(|_| UserError::msg("poisoned"))?);
        match errs.first() {
            Some(first) => Err(UserError::msg(format!(
                "{} records to Kafka topic {topic} were not delivered; first error: {first}",
                errs.len()
            ))),
            None => Ok(()),
        }
    }
}

/// Queues `record`, serving delivery reports while the producer's queue is
/// full.
pub(super) fn send<C: ProducerContext>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, [u8], [u8], C::DeliveryOpaque>,
) -> UserResult {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((e, r))
                if matches!(
                    e.rdkafka_error_code(),
                    Some(rdkafka::types::RDKafkaErrorCode::QueueFull)
                ) =>
            {
                producer.poll(std::time::Duration::from_millis(10));
                record = r;
            }
            Err((e, r)) => {
                return Err(UserError::msg(format!("Kafka produce to {}: {e}", r.topic)))
            }
        }
    }
}

/// The Kafka record timestamp (milliseconds) of an element's event time, if
/// it has one.
pub(super) fn record_time(ts: Timestamp) -> Option<i64> {
    (ts > Timestamp::MIN && ts < beam_core::window::GLOBAL_WINDOW_MAX)
        .then(|| ts.as_micros() / 1000)
}

impl ClientContext for DeliveryErrors {}

impl ProducerContext for DeliveryErrors {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, _)) = result {
            if let Ok(mut errs) = self.0.lock() {
                errs.push(e.to_string());
            }
        }
    }
}

struct KafkaWriter {
    brokers: Arc<str>,
    topic: Arc<str>,
    config: Arc<Vec<(String, String)>>,
    producer: Option<BaseProducer<DeliveryErrors>>,
    errors: DeliveryErrors,
}

impl Clone for KafkaWriter {
    fn clone(&self) -> Self {
        KafkaWriter {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            config: self.config.clone(),
            producer: None,
            errors: DeliveryErrors::default(),
        }
    }
}

impl KafkaWriter {
    fn producer(&mut self) -> UserResult<&BaseProducer<DeliveryErrors>> {
        if self.producer.is_none() {
            let mut cfg = ClientConfig::new();
            cfg.set("bootstrap.servers", self.brokers.as_ref())
                .set("enable.idempotence", "true")
                .set("acks", "all")
                .set("linger.ms", "5");
            for (k, v) in self.config.iter() {
                cfg.set(k, v);
            }
            let p = cfg
                .create_with_context(self.errors.clone())
                .map_err(|e| UserError::msg(format!("Kafka producer for {}: {e}", self.brokers)))?;
            self.producer = Some(p);
        }
        Ok(self.producer.as_ref().expect("created above"))
    }
}

impl DoFn for KafkaWriter {
    type In = KafkaMessage;
    type Out = ();
    fn process(&mut self, m: &KafkaMessage, ctx: &mut ProcessContext<'_, ()>) -> UserResult {
        let ts = ctx.timestamp();
        let topic = self.topic.clone();
        let producer = self.producer()?;
        let mut record = BaseRecord::<[u8], [u8]>::to(&topic).payload(&m.value[..]);
        if let Some(k) = &m.key {
            record = record.key(&k[..]);
        }
        if let Some(ms) = record_time(ts) {
            record = record.timestamp(ms);
        }
        send(producer, record)?;
        producer.poll(std::time::Duration::ZERO);
        ctx.metrics().inc_counter("kafka_records_produced", 1);
        Ok(())
    }
    fn finish_bundle(&mut self, _: &mut FinishBundleContext<'_, ()>) -> UserResult {
        if let Some(p) = &self.producer {
            p.flush(std::time::Duration::from_secs(60))
                .map_err(|e| UserError::msg(format!("Kafka flush to {}: {e}", self.topic)))?;
        }
        self.errors.check(&self.topic)
    }
}

impl PTransform<PCollection<KafkaMessage>> for WriteKafka {
    /// Nothing: the records are the effect.
    type Output = PCollection<()>;
    fn expand(self, input: &PCollection<KafkaMessage>) -> Result<PCollection<()>> {
        input.apply(
            "WriteKafka",
            ParDo::of(KafkaWriter {
                brokers: self.brokers.into(),
                topic: self.topic.into(),
                config: Arc::new(self.config),
                producer: None,
                errors: DeliveryErrors::default(),
            }),
        )
    }
}
