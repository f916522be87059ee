//! The Lambda architecture's shared pieces: per (user, date) totals, the
//! batch view (Parquet files with the cut-off time they cover, replaced
//! atomically), the speed view (per-window totals in Redis hashes) and the
//! merge the serving layer answers with.
//!
//! - `lambda_batch` computes [`DailyTotal`]s of the transactions before a
//!   cut-off into a new version directory of the view, then points the
//!   view's `CURRENT` file at it in one rename ([`publish_batch_view`]).
//! - `lambda_speed` reads the transactions at and after the cut-off from
//!   Kafka, totals them per user in 1-minute windows, and `HSET`s each
//!   window's total under `PREFIX:USER:DATE`, field the window's start: a
//!   window written again (after a restore, or a second run over the same
//!   records) leaves the hash as it was.
//! - `lambda_serve` answers `query(user, date)` with the batch row plus the
//!   speed windows ([`merge`]).

use crate::records::utc;
use beam_core::combine::CombineFn;
use beam_core::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A transaction as Parquet rows hold it (the timestamp in epoch seconds).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransactionRow {
    /// Transaction id.
    pub txn_id: String,
    /// Who paid.
    pub user_id: String,
    /// How much.
    pub amount: f64,
    /// When, in epoch seconds.
    pub timestamp: i64,
}

/// The totals of one user on one (UTC) date.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DailyTotal {
    /// Who.
    pub user_id: String,
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    /// The sum of the amounts.
    pub total_amount: f64,
    /// How many transactions.
    pub transaction_count: u64,
    /// The latest transaction's time, epoch seconds.
    pub last_transaction_time: i64,
}

/// The UTC date of `t`, `YYYY-MM-DD`.
pub fn date_of(t: Timestamp) -> String {
    utc(t)[..10].to_string()
}

/// Totals of payments (amount, time in epoch seconds): (sum, count, latest
/// time), per day in the batch view, per window in the speed layer and Kappa.
#[derive(Clone, Default)]
pub struct PaymentTotalsFn;

impl CombineFn for PaymentTotalsFn {
    type Input = (f64, i64);
    type Accum = (f64, u64, i64);
    type Output = (f64, u64, i64);
    fn create_accumulator(&self) -> Self::Accum {
        (0.0, 0, i64::MIN)
    }
    fn add_input(&self, acc: &mut Self::Accum, (amount, t): (f64, i64)) {
        acc.0 += amount;
        acc.1 += 1;
        acc.2 = acc.2.max(t);
    }
    fn merge_accumulators(&self, acc: &mut Self::Accum, other: Self::Accum) {
        acc.0 += other.0;
        acc.1 += other.1;
        acc.2 = acc.2.max(other.2);
    }
    fn extract_output(&self, acc: Self::Accum) -> Self::Output {
        acc
    }
}

/// What a batch view version covers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchViewMeta {
    /// Every transaction before this time (epoch seconds) is in the view;
    /// none at or after it.
    pub cutoff: i64,
}

/// The file naming the view's current version directory.
const CURRENT: &str = "CURRENT";
const META: &str = "meta.json";

/// A fresh version directory under view `dir` for a run to write into.
pub fn new_version_dir(dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let version = dir.join(format!("v{nanos}"));
    std::fs::create_dir(&version)?;
    Ok(version)
}

/// Makes `version` (written completely) the current version of view `dir`,
/// with its cut-off: one atomic rename of the `CURRENT` file, so a reader
/// sees the old view or the new one, never a mix. Older versions are removed.
pub fn publish_batch_view(dir: &Path, version: &Path, meta: &BatchViewMeta) -> anyhow::Result<()> {
    let name = version
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| anyhow::anyhow!("{} is not a version directory", version.display()))?;
    beam_core::atomic_write::write_atomically(&version.join(META), &serde_json::to_vec(meta)?)?;
    beam_core::atomic_write::write_atomically(&dir.join(CURRENT), name.as_bytes())?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let old = path.file_name().and_then(|n| n.to_str()) != Some(name);
        if old && path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        }
    }
    Ok(())
}

/// The current batch view of `dir`: its cut-off and rows by (user, date).
#[derive(Clone, Debug, Default)]
pub struct BatchView {
    /// The version directory read (`None` when no view was published).
    pub version: Option<String>,
    /// What it covers (`None` when no view was published).
    pub meta: Option<BatchViewMeta>,
    /// The rows.
    pub rows: HashMap<(String, String), DailyTotal>,
}

/// The version `CURRENT` names in view `dir`, if any.
pub fn current_version(dir: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(dir.join(CURRENT)) {
        Ok(name) => Ok(Some(name.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("{}: {e}", dir.join(CURRENT).display())),
    }
}

/// Reads the current batch view of `dir` (empty if none was published).
pub fn read_batch_view(dir: &Path) -> anyhow::Result<BatchView> {
    let Some(version) = current_version(dir)? else {
        return Ok(BatchView::default());
    };
    let vdir = dir.join(&version);
    let meta: BatchViewMeta = serde_json::from_slice(&std::fs::read(vdir.join(META))?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", vdir.join(META).display()))?;
    let mut rows = HashMap::new();
    for entry in std::fs::read_dir(&vdir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("parquet") {
            continue;
        }
        let file = std::fs::File::open(&path)?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
            .build()?;
        for batch in reader {
            let batch = batch?;
            let totals: Vec<DailyTotal> = serde_arrow::from_record_batch(&batch)
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            for t in totals {
                rows.insert((t.user_id.clone(), t.date.clone()), t);
            }
        }
    }
    Ok(BatchView {
        version: Some(version),
        meta: Some(meta),
        rows,
    })
}

/// The Redis hash holding `user`'s speed windows on `date`.
pub fn speed_key(prefix: &str, user: &str, date: &str) -> String {
    format!("{prefix}:{user}:{date}")
}

/// One speed window's value in its hash: `total,count,last`.
pub fn speed_value(total: f64, count: u64, last: i64) -> String {
    format!("{total},{count},{last}")
}

/// The speed view of `user` on `date`: the sum of its windows in Redis.
pub fn read_speed(
    redis: &mut redis::Connection,
    prefix: &str,
    user: &str,
    date: &str,
) -> anyhow::Result<Option<DailyTotal>> {
    let windows: HashMap<String, String> = redis::cmd("HGETALL")
        .arg(speed_key(prefix, user, date))
        .query(redis)?;
    let mut out: Option<DailyTotal> = None;
    for (field, value) in windows {
        let parts: Vec<&str> = value.split(',').collect();
        let bad = || anyhow::anyhow!("speed window {field} of {user} on {date}: '{value}'");
        let [total, count, last] = parts[..] else {
            return Err(bad());
        };
        let window = DailyTotal {
            user_id: user.to_string(),
            date: date.to_string(),
            total_amount: total.parse().map_err(|_| bad())?,
            transaction_count: count.parse().map_err(|_| bad())?,
            last_transaction_time: last.parse().map_err(|_| bad())?,
        };
        out = merge(out.as_ref(), Some(window));
    }
    Ok(out)
}

/// The batch row and the speed totals of one (user, date) together.
pub fn merge(batch: Option<&DailyTotal>, speed: Option<DailyTotal>) -> Option<DailyTotal> {
    match (batch, speed) {
        (None, s) => s,
        (Some(b), None) => Some(b.clone()),
        (Some(b), Some(s)) => Some(DailyTotal {
            user_id: b.user_id.clone(),
            date: b.date.clone(),
            total_amount: b.total_amount + s.total_amount,
            transaction_count: b.transaction_count + s.transaction_count,
            last_transaction_time: b.last_transaction_time.max(s.last_transaction_time),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_totals_and_keeps_the_latest_time() {
        let row = |total, count, last| DailyTotal {
            user_id: "u".into(),
            date: "2025-11-24".into(),
            total_amount: total,
            transaction_count: count,
            last_transaction_time: last,
        };
        assert_eq!(
            merge(Some(&row(10.0, 2, 5)), Some(row(1.5, 1, 9))),
            Some(row(11.5, 3, 9))
        );
        assert_eq!(merge(None, Some(row(1.0, 1, 1))), Some(row(1.0, 1, 1)));
        assert_eq!(merge(None, None), None);
        assert_eq!(date_of(Timestamp::from_secs(1_764_000_000)), "2025-11-24");
    }

    #[test]
    fn a_published_view_replaces_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_batch_view(dir.path()).unwrap().meta.is_none());
        let first = new_version_dir(dir.path()).unwrap();
        publish_batch_view(dir.path(), &first, &BatchViewMeta { cutoff: 10 }).unwrap();
        let second = new_version_dir(dir.path()).unwrap();
        publish_batch_view(dir.path(), &second, &BatchViewMeta { cutoff: 20 }).unwrap();
        let view = read_batch_view(dir.path()).unwrap();
        assert_eq!(view.meta, Some(BatchViewMeta { cutoff: 20 }));
        assert!(!first.exists() && second.exists());
    }
}
