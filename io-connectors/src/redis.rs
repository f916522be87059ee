//! Redis, with the `redis` crate: a sink of mutations (SET, HSET, INCRBY, each with
//! an optional TTL) sent in pipelined batches, and a lookup transform for
//! enrichment with a per-bundle cache.
//!
//! The sink writes a bundle's mutations in pipelines of
//! [`batch_size`](WriteRedis::with_batch_size) commands and flushes at the end of
//! every bundle, so a bundle that completed is in Redis. SET and HSET are
//! idempotent; INCRBY is not, so a runner that retries a bundle counts it twice
//! (as with Beam's RedisIO).
//!
//! Across a crash and a restore from a checkpoint the sink is at least once:
//! what was written after the checkpoint is written again. With SET and HSET
//! of values that depend only on the input (per-window results, say) that
//! is effectively once, since writing a value again leaves Redis as it was;
//! with INCRBY it counts twice. Write per-window values with SET, not
//! increments, where a restore must not double-count.
//!
//! ```no_run
//! # use runner_direct as _;
//! use beam_core::{Create, Pipeline, PipelineOptions};
//! use io_connectors::redis::{RedisIO, RedisMutation};
//! let p = Pipeline::new(PipelineOptions::default());
//! p.apply("Views", Create::of(vec![
//!     RedisMutation::incr_by("views:home", 3),
//!     RedisMutation::set("last:user7", "home").with_ttl_millis(60_000),
//! ])).unwrap()
//! .apply("ToRedis", RedisIO::write("redis://127.0.0.1:6379/")).unwrap();
//! p.run().unwrap();
//! ```

use beam_core::{
    BeamError, DoFn, Element, FinishBundleContext, PCollection, PTransform, ParDo, ProcessContext,
    Result, StartBundleContext, UserError, UserResult,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// Entry points: [`RedisIO::write`] and [`RedisIO::lookup`].
pub struct RedisIO;

impl RedisIO {
    /// Applies [`RedisMutation`]s to the server at `url` (`redis://host:port/db`).
    pub fn write(url: &str) -> WriteRedis {
        WriteRedis {
            url: url.to_string(),
            batch_size: 1000,
        }
    }
    /// Pairs each element with the value stored under the key `key_of` gives it
    /// (`GET`; `None` when absent).
    pub fn lookup<T: Element, F>(url: &str, key_of: F) -> LookupRedis<T, F>
    where
        F: Fn(&T) -> String + Clone + Send + Sync + 'static,
    {
        LookupRedis {
            url: url.to_string(),
            key_of,
            _t: PhantomData,
        }
    }
}

/// One write to Redis.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RedisMutation {
    /// What to do.
    pub command: RedisCommand,
    /// Expire the key this many milliseconds after the write (`PX` / `PEXPIRE`).
    pub ttl_millis: Option<u64>,
}

/// The commands the sink sends.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RedisCommand {
    /// `SET key value`.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// `HSET key field value`.
    HSet {
        /// The hash's key.
        key: String,
        /// The field.
        field: String,
        /// The value.
        value: String,
    },
    /// `INCRBY key delta`.
    IncrBy {
        /// The key.
        key: String,
        /// The increment.
        delta: i64,
    },
}

impl RedisMutation {
    fn of(command: RedisCommand) -> Self {
        RedisMutation {
            command,
            ttl_millis: None,
        }
    }
    /// `SET key value`.
    pub fn set(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self::of(RedisCommand::Set {
            key: key.into(),
            value: value.into(),
        })
    }
    /// `HSET key field value`.
    pub fn hset(
        key: impl Into<String>,
        field: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        Self::of(RedisCommand::HSet {
            key: key.into(),
            field: field.into(),
            value: value.into(),
        })
    }
    /// `INCRBY key delta`.
    pub fn incr_by(key: impl Into<String>, delta: i64) -> Self {
        Self::of(RedisCommand::IncrBy {
            key: key.into(),
            delta,
        })
    }
    /// Expires the key `ttl` milliseconds after this write.
    pub fn with_ttl_millis(mut self, ttl: u64) -> Self {
        self.ttl_millis = Some(ttl);
        self
    }

    fn add_to(&self, pipe: &mut redis::Pipeline) {
        let key = match &self.command {
            RedisCommand::Set { key, value } => {
                let cmd = pipe.cmd("SET").arg(key).arg(value);
                if let Some(ttl) = self.ttl_millis {
                    cmd.arg("PX").arg(ttl);
                }
                cmd.ignore();
                return;
            }
            RedisCommand::HSet { key, field, value } => {
                pipe.cmd("HSET").arg(key).arg(field).arg(value).ignore();
                key
            }
            RedisCommand::IncrBy { key, delta } => {
                pipe.cmd("INCRBY").arg(key).arg(*delta).ignore();
                key
            }
        };
        if let Some(ttl) = self.ttl_millis {
            pipe.cmd("PEXPIRE").arg(key).arg(ttl).ignore();
        }
    }
}

fn connect(url: &str) -> UserResult<redis::Connection> {
    let client =
        redis::Client::open(url).map_err(|e| UserError::msg(format!("redis {url}: {e}")))?;
    client
        .get_connection()
        .map_err(|e| UserError::msg(format!("redis {url}: {e}")))
}

/// Writes mutations; see [`RedisIO::write`].
pub struct WriteRedis {
    url: String,
    batch_size: usize,
}

impl WriteRedis {
    /// Commands per pipelined round trip (default 1000).
    pub fn with_batch_size(mut self, n: usize) -> Self {
        self.batch_size = n.max(1);
        self
    }
}

struct RedisWriter {
    url: Arc<str>,
    batch_size: usize,
    conn: Option<redis::Connection>,
    pipe: redis::Pipeline,
    pending: usize,
}

impl Clone for RedisWriter {
    fn clone(&self) -> Self {
        RedisWriter {
            url: self.url.clone(),
            batch_size: self.batch_size,
            conn: None,
            pipe: redis::pipe(),
            pending: 0,
        }
    }
}

impl RedisWriter {
    fn flush(&mut self) -> UserResult<u64> {
        if self.pending == 0 {
            return Ok(0);
        }
        let conn = match &mut self.conn {
            Some(c) => c,
            None => self.conn.insert(connect(&self.url)?),
        };
        self.pipe
            .query::<()>(conn)
            .map_err(|e| UserError::msg(format!("redis {}: {e}", self.url)))?;
        self.pipe.clear();
        Ok(std::mem::take(&mut self.pending) as u64)
    }
}

impl DoFn for RedisWriter {
    type In = RedisMutation;
    type Out = ();
    fn setup(&mut self) -> UserResult {
        self.conn = Some(connect(&self.url)?);
        Ok(())
    }
    fn start_bundle(&mut self, _: &mut StartBundleContext<'_>) -> UserResult {
        self.pipe.clear();
        self.pending = 0;
        Ok(())
    }
    fn process(&mut self, m: &RedisMutation, ctx: &mut ProcessContext<'_, ()>) -> UserResult {
        m.add_to(&mut self.pipe);
        self.pending += 1;
        if self.pending >= self.batch_size {
            let n = self.flush()?;
            ctx.metrics().inc_counter("redis_writes", n as i64);
        }
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut FinishBundleContext<'_, ()>) -> UserResult {
        let n = self.flush()?;
        ctx.metrics().inc_counter("redis_writes", n as i64);
        Ok(())
    }
}

impl PTransform<PCollection<RedisMutation>> for WriteRedis {
    /// Nothing: the writes are the effect.
    type Output = PCollection<()>;
    fn expand(self, input: &PCollection<RedisMutation>) -> Result<PCollection<()>> {
        redis::Client::open(self.url.as_str()).map_err(|e| {
            BeamError::construction(input.name(), format!("invalid Redis URL {}: {e}", self.url))
        })?;
        input.apply(
            "WriteRedis",
            ParDo::of(RedisWriter {
                url: self.url.into(),
                batch_size: self.batch_size,
                conn: None,
                pipe: redis::pipe(),
                pending: 0,
            }),
        )
    }
}

/// Enriches elements with Redis values; see [`RedisIO::lookup`].
pub struct LookupRedis<T, F> {
    url: String,
    key_of: F,
    _t: PhantomData<fn() -> T>,
}

struct Lookup<T, F> {
    url: Arc<str>,
    key_of: F,
    conn: Option<redis::Connection>,
    cache: HashMap<String, Option<String>>,
    _t: PhantomData<fn() -> T>,
}

impl<T, F: Clone> Clone for Lookup<T, F> {
    fn clone(&self) -> Self {
        Lookup {
            url: self.url.clone(),
            key_of: self.key_of.clone(),
            conn: None,
            cache: HashMap::new(),
            _t: PhantomData,
        }
    }
}

impl<T: Element, F> DoFn for Lookup<T, F>
where
    F: Fn(&T) -> String + Clone + Send + Sync + 'static,
{
    type In = T;
    type Out = (T, Option<String>);
    fn setup(&mut self) -> UserResult {
        self.conn = Some(connect(&self.url)?);
        Ok(())
    }
    fn start_bundle(&mut self, _: &mut StartBundleContext<'_>) -> UserResult {
        // Values are cached for one bundle only, so updates show up in later bundles.
        self.cache.clear();
        Ok(())
    }
    fn process(&mut self, v: &T, ctx: &mut ProcessContext<'_, (T, Option<String>)>) -> UserResult {
        let key = (self.key_of)(v);
        let value = match self.cache.get(&key) {
            Some(hit) => {
                ctx.metrics().inc_counter("redis_cache_hits", 1);
                hit.clone()
            }
            None => {
                let conn = match &mut self.conn {
                    Some(c) => c,
                    None => self.conn.insert(connect(&self.url)?),
                };
                let got: Option<String> = redis::cmd("GET")
                    .arg(&key)
                    .query(conn)
                    .map_err(|e| UserError::msg(format!("redis {} GET {key}: {e}", self.url)))?;
                ctx.metrics().inc_counter("redis_lookups", 1);
                self.cache.insert(key, got.clone());
                got
            }
        };
        ctx.output((v.clone(), value));
        Ok(())
    }
}

impl<T: Element, F> PTransform<PCollection<T>> for LookupRedis<T, F>
where
    F: Fn(&T) -> String + Clone + Send + Sync + 'static,
{
    type Output = PCollection<(T, Option<String>)>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<(T, Option<String>)>> {
        redis::Client::open(self.url.as_str()).map_err(|e| {
            BeamError::construction(input.name(), format!("invalid Redis URL {}: {e}", self.url))
        })?;
        input.apply(
            "LookupRedis",
            ParDo::of(Lookup {
                url: self.url.into(),
                key_of: self.key_of,
                conn: None,
                cache: HashMap::new(),
                _t: PhantomData,
            }),
        )
    }
}
