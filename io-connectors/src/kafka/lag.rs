//! A reader's consumer lag: each partition's high watermark (the offset after
//! its newest record), as librdkafka's statistics report it, minus the next
//! offset the reader hands out.
//!
//! The statistics come from the consumer's own `poll` (every
//! `statistics.interval.ms`, one second unless the pipeline sets it), so
//! knowing the lag costs no request to the broker.

use rdkafka::client::ClientContext;
use rdkafka::consumer::ConsumerContext;
use rdkafka::statistics::Statistics;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How often librdkafka reports, unless the pipeline's config says otherwise.
pub(super) const STATISTICS_INTERVAL_MS: &str = "1000";

/// The consumer context of a reader: keeps the high watermark of every
/// partition from the latest statistics.
#[derive(Clone, Debug, Default)]
pub(super) struct HighWatermarks(Arc<Mutex<HashMap<(String, i32), i64>>>);

impl HighWatermarks {
    /// Seeds a partition's high watermark (as fetched when the reader opened).
    pub(super) fn set(&self, topic: &str, partition: i32, high: i64) {
        self.lock().insert((topic.to_string(), partition), high);
    }

    /// The latest known high watermark of a partition.
    pub(super) fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.lock().get(&(topic.to_string(), partition)).copied()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, i32), i64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ClientContext for HighWatermarks {
    fn stats(&self, statistics: Statistics) {
        let mut known = self.lock();
        for (topic, t) in statistics.topics {
            for (partition, p) in t.partitions {
                // librdkafka lists an internal partition -1; offsets below 0
                // mean "not known yet".
                if partition >= 0 && p.hi_offset >= 0 {
                    known.insert((topic.clone(), partition), p.hi_offset);
                }
            }
        }
    }
}

impl ConsumerContext for HighWatermarks {}
