//! Event time: [`Timestamp`] and [`Duration`], both in microseconds.
//!
//! Beam measures event time on a bounded line. [`Timestamp::MIN`] and
//! [`Timestamp::MAX`] are the ends of that line: Beam Java's
//! `BoundedWindow.TIMESTAMP_MIN_VALUE` and `TIMESTAMP_MAX_VALUE`,
//! −9 223 372 036 854 775 and 9 223 372 036 854 775 *milliseconds*
//! (about 292 million years either side of the epoch), here in microseconds:
//! −9 223 372 036 854 775 000 and 9 223 372 036 854 775 000. Arithmetic
//! saturates at them, so adding an allowed lateness to the end of the global
//! window never overflows. The global window ends one day before the end of
//! time ([`GLOBAL_WINDOW_MAX`](crate::GLOBAL_WINDOW_MAX), Beam Java's
//! `GlobalWindow.INSTANCE.maxTimestamp()`, 9 223 371 950 454 775 ms; Beam
//! Python's is one microsecond less).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in event time, in microseconds since the Unix epoch.
///
/// ```
/// use beam_core::{Duration, Timestamp};
/// let t = Timestamp::from_millis(1_500);
/// assert_eq!(t + Duration::from_millis(500), Timestamp::from_secs(2));
/// assert_eq!(Timestamp::MAX + Duration::from_secs(10), Timestamp::MAX);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Timestamp(i64);

/// A span of event or processing time, in microseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct Duration(i64);

const MICROS_PER_MILLI: i64 = 1_000;
const MICROS_PER_SEC: i64 = 1_000_000;

impl Timestamp {
    /// The smallest representable timestamp: "minus infinity" for watermarks
    /// (Beam's `TIMESTAMP_MIN_VALUE`, −9 223 372 036 854 775 ms).
    pub const MIN: Timestamp = Timestamp(-9_223_372_036_854_775_000);
    /// The largest representable timestamp: "plus infinity" for watermarks
    /// (Beam's `TIMESTAMP_MAX_VALUE`, 9 223 372 036 854 775 ms).
    pub const MAX: Timestamp = Timestamp(9_223_372_036_854_775_000);
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp `micros` microseconds after the epoch, clamped to [MIN, MAX].
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(clamp(micros))
    }
    /// A timestamp `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(clamp(millis.saturating_mul(MICROS_PER_MILLI)))
    }
    /// A timestamp `secs` seconds after the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(clamp(secs.saturating_mul(MICROS_PER_SEC)))
    }
    /// The wall clock now (processing time when no test clock drives it).
    pub fn wall_clock() -> Self {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        Timestamp::from_micros(micros)
    }
    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }
    /// Milliseconds since the epoch (rounded towards minus infinity).
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(MICROS_PER_MILLI)
    }
    /// `self - d`, saturating at the ends of time.
    pub fn minus(self, d: Duration) -> Timestamp {
        Timestamp::from_micros(self.0.saturating_sub(d.0))
    }
    /// The earliest output timestamp that an allowed skew of `skew` permits
    /// for an input at `self`: [`Timestamp::MIN`] for [`Duration::MAX`].
    pub(crate) fn minus_skew(self, skew: Duration) -> Timestamp {
        if skew == Duration::MAX {
            Timestamp::MIN
        } else {
            self.minus(skew)
        }
    }
    /// `self + d`, saturating at the ends of time.
    pub fn plus(self, d: Duration) -> Timestamp {
        Timestamp::from_micros(self.0.saturating_add(d.0))
    }
}

const fn clamp(v: i64) -> i64 {
    if v < Timestamp::MIN.0 {
        Timestamp::MIN.0
    } else if v > Timestamp::MAX.0 {
        Timestamp::MAX.0
    } else {
        v
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);
    /// The longest duration; as an allowed timestamp skew it allows any
    /// output timestamp (Beam's `Duration.millis(Long.MAX_VALUE)`).
    pub const MAX: Duration = Duration(i64::MAX);
    /// A duration of `micros` microseconds.
    pub const fn from_micros(micros: i64) -> Self {
        Duration(micros)
    }
    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: i64) -> Self {
        Duration(millis.saturating_mul(MICROS_PER_MILLI))
    }
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Duration(secs.saturating_mul(MICROS_PER_SEC))
    }
    /// A duration of `mins` minutes.
    pub const fn from_mins(mins: i64) -> Self {
        Duration(mins.saturating_mul(60 * MICROS_PER_SEC))
    }
    /// A duration of `hours` hours.
    pub const fn from_hours(hours: i64) -> Self {
        Duration(hours.saturating_mul(3_600 * MICROS_PER_SEC))
    }
    /// Length in microseconds.
    pub const fn as_micros(self) -> i64 {
        self.0
    }
}

impl std::ops::Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        self.plus(d)
    }
}

impl std::ops::Sub<Duration> for Timestamp {
    type Output = Timestamp;
    fn sub(self, d: Duration) -> Timestamp {
        self.minus(d)
    }
}

impl std::ops::Sub<Timestamp> for Timestamp {
    type Output = Duration;
    fn sub(self, other: Timestamp) -> Duration {
        Duration(self.0.saturating_sub(other.0))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Timestamp::MIN => f.write_str("MIN"),
            Timestamp::MAX => f.write_str("MAX"),
            Timestamp(v) => write!(f, "{v}"),
        }
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}us", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_at_the_ends_of_time() {
        assert_eq!(Timestamp::MIN - Duration::from_secs(1), Timestamp::MIN);
        assert_eq!(Timestamp::MAX + Duration::from_hours(24), Timestamp::MAX);
        assert_eq!(Timestamp::from_micros(i64::MIN), Timestamp::MIN);
        assert_eq!(
            Timestamp::from_millis(3) - Timestamp::from_millis(1),
            Duration::from_millis(2)
        );
        assert_eq!(Timestamp::from_micros(-1).as_millis(), -1);
    }
}
