//! Triggers: when a grouping emits a pane for a window.
//!
//! The language is Beam's. A trigger is evaluated per key and window:
//!
//! - [`Trigger::Default`]: fires when the watermark passes the end of the
//!   window, then again for every late element; never finishes.
//! - [`Trigger::AfterWatermark`]: fires when the watermark passes the end of the
//!   window, with optional early firings (before) and late firings (after),
//!   each repeated; finishes at the end of the window unless it has late firings.
//! - [`Trigger::AfterProcessingTime`]: fires once processing time reaches the
//!   arrival of the first element of the pane plus a delay (optionally aligned).
//! - [`Trigger::AfterCount`]: fires once at least N elements arrived.
//! - [`Trigger::AfterEach`] (each in turn), [`Trigger::AfterFirst`] (once, when
//!   any fires), [`Trigger::AfterAll`] (once, when all fired),
//!   [`Trigger::Repeatedly`] (forever), [`Trigger::OrFinally`] (until another
//!   fires), [`Trigger::Never`].
//!
//! They behave as Beam Java's trigger state machines (runners-core), see
//! `runner_support::trigger_state` for the rules, including how they merge.
//!
//! A top-level trigger that finishes closes its window: later data for it is
//! dropped. A window is also closed when the watermark passes its end plus the
//! allowed lateness, when a final pane is emitted.
//!
//! ```
//! use beam_core::{Duration, Trigger};
//! let t = Trigger::after_watermark()
//!     .with_early_firings(Trigger::after_processing_time(Duration::from_mins(1)))
//!     .with_late_firings(Trigger::after_count(1));
//! assert!(!t.may_finish());
//! assert_eq!(t.to_string(), "AfterWatermark(early=AfterProcessingTime(delay=60000000), late=AfterCount(1))");
//! ```

use crate::time::{Duration, Timestamp};
use serde::Serialize;
use std::fmt;

/// When a grouping fires panes.
#[derive(Clone, Debug, PartialEq, Serialize, Default)]
pub enum Trigger {
    /// Fires at the end of the window and for every late element.
    #[default]
    Default,
    /// Fires when the watermark passes the end of the window.
    AfterWatermark {
        /// Repeated firings before the end of the window.
        early: Option<Box<Trigger>>,
        /// Repeated firings after the end of the window.
        late: Option<Box<Trigger>>,
    },
    /// Fires after processing time passes the first element of the pane plus `delay`.
    AfterProcessingTime {
        /// Delay after the first element's arrival.
        delay: Duration,
        /// Rounds the deadline up to the next multiple of `period` after `offset`.
        alignment: Option<(Duration, Timestamp)>,
    },
    /// Fires once at least this many elements arrived.
    AfterCount(u64),
    /// Runs each trigger in turn, each until it finishes.
    AfterEach(Vec<Trigger>),
    /// Fires once, when any sub-trigger fires, and finishes (as Beam Java's
    /// runners, which run only once-triggers as its sub-triggers).
    AfterFirst(Vec<Trigger>),
    /// Fires once, when every sub-trigger has fired, and finishes.
    AfterAll(Vec<Trigger>),
    /// Repeats a trigger forever.
    Repeatedly(Box<Trigger>),
    /// Fires as the first trigger does, and finishes when the second fires.
    OrFinally(Box<Trigger>, Box<Trigger>),
    /// Never fires; only the final pane at garbage collection is emitted.
    Never,
}

impl Trigger {
    /// [`Trigger::AfterWatermark`] without early or late firings.
    pub fn after_watermark() -> Self {
        Trigger::AfterWatermark {
            early: None,
            late: None,
        }
    }
    /// Adds early firings to an `AfterWatermark` (other triggers are returned unchanged).
    pub fn with_early_firings(self, t: Trigger) -> Self {
        match self {
            Trigger::AfterWatermark { late, .. } => Trigger::AfterWatermark {
                early: Some(Box::new(t)),
                late,
            },
            other => other,
        }
    }
    /// Adds late firings to an `AfterWatermark` (other triggers are returned unchanged).
    pub fn with_late_firings(self, t: Trigger) -> Self {
        match self {
            Trigger::AfterWatermark { early, .. } => Trigger::AfterWatermark {
                early,
                late: Some(Box::new(t)),
            },
            other => other,
        }
    }
    /// Fires `delay` of processing time after the first element of a pane.
    pub fn after_processing_time(delay: Duration) -> Self {
        Trigger::AfterProcessingTime {
            delay,
            alignment: None,
        }
    }
    /// Rounds an `AfterProcessingTime` deadline up to `offset + k * period`.
    pub fn aligned_to(self, period: Duration, offset: Timestamp) -> Self {
        match self {
            Trigger::AfterProcessingTime { delay, .. } => Trigger::AfterProcessingTime {
                delay,
                alignment: Some((period, offset)),
            },
            other => other,
        }
    }
    /// Fires after `n` elements.
    pub fn after_count(n: u64) -> Self {
        Trigger::AfterCount(n)
    }
    /// Repeats `t` forever.
    pub fn repeatedly(t: Trigger) -> Self {
        Trigger::Repeatedly(Box::new(t))
    }
    /// This trigger, finishing once `until` fires.
    pub fn or_finally(self, until: Trigger) -> Self {
        Trigger::OrFinally(Box::new(self), Box::new(until))
    }

    /// Whether the trigger can finish (and so close its window).
    pub fn may_finish(&self) -> bool {
        match self {
            Trigger::Default | Trigger::Repeatedly(_) | Trigger::Never => false,
            Trigger::AfterWatermark { late, .. } => late.is_none(),
            Trigger::AfterProcessingTime { .. }
            | Trigger::AfterCount(_)
            | Trigger::AfterFirst(_)
            | Trigger::AfterAll(_) => true,
            Trigger::AfterEach(ts) => ts.iter().all(Trigger::may_finish),
            Trigger::OrFinally(a, b) => a.may_finish() || b.may_finish(),
        }
    }

    /// Whether the trigger can fire on element arrival (it counts elements or
    /// starts processing-time delays), so panes must be considered after every bundle.
    pub fn reacts_to_elements(&self) -> bool {
        match self {
            Trigger::Default | Trigger::Never => false,
            Trigger::AfterWatermark { early, late } => {
                early.as_ref().is_some_and(|t| t.reacts_to_elements())
                    || late.as_ref().is_some_and(|t| t.reacts_to_elements())
            }
            Trigger::AfterProcessingTime { .. } | Trigger::AfterCount(_) => true,
            Trigger::AfterEach(ts) | Trigger::AfterAll(ts) | Trigger::AfterFirst(ts) => {
                ts.iter().any(Trigger::reacts_to_elements)
            }
            Trigger::Repeatedly(t) => t.reacts_to_elements(),
            Trigger::OrFinally(a, b) => a.reacts_to_elements() || b.reacts_to_elements(),
        }
    }

    /// Whether any part of the trigger waits for processing time.
    pub fn uses_processing_time(&self) -> bool {
        match self {
            Trigger::AfterProcessingTime { .. } => true,
            Trigger::Default | Trigger::Never | Trigger::AfterCount(_) => false,
            Trigger::AfterWatermark { early, late } => early
                .iter()
                .chain(late.iter())
                .any(|t| t.uses_processing_time()),
            Trigger::AfterEach(ts) | Trigger::AfterAll(ts) | Trigger::AfterFirst(ts) => {
                ts.iter().any(Trigger::uses_processing_time)
            }
            Trigger::Repeatedly(t) => t.uses_processing_time(),
            Trigger::OrFinally(a, b) => a.uses_processing_time() || b.uses_processing_time(),
        }
    }

    /// Checks the trigger's parameters.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Trigger::AfterCount(0) => Err("AfterCount needs a count of at least 1".into()),
            Trigger::AfterProcessingTime { delay, alignment } => {
                if delay.as_micros() < 0 {
                    return Err("AfterProcessingTime delay must not be negative".into());
                }
                if alignment.is_some_and(|(p, _)| p.as_micros() <= 0) {
                    return Err("AfterProcessingTime alignment period must be positive".into());
                }
                Ok(())
            }
            Trigger::AfterEach(ts) | Trigger::AfterAll(ts) | Trigger::AfterFirst(ts) => {
                if ts.is_empty() {
                    return Err(format!("{self} needs at least one sub-trigger"));
                }
                ts.iter().try_for_each(Trigger::validate)
            }
            Trigger::AfterWatermark { early, late } => early
                .iter()
                .chain(late.iter())
                .try_for_each(|t| t.validate()),
            Trigger::Repeatedly(t) => t.validate(),
            Trigger::OrFinally(a, b) => a.validate().and_then(|_| b.validate()),
            Trigger::Default | Trigger::AfterCount(_) | Trigger::Never => Ok(()),
        }
    }
}

fn list(f: &mut fmt::Formatter<'_>, name: &str, ts: &[Trigger]) -> fmt::Result {
    write!(f, "{name}(")?;
    for (i, t) in ts.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{t}")?;
    }
    f.write_str(")")
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Default => f.write_str("Default"),
            Trigger::AfterWatermark { early, late } => {
                f.write_str("AfterWatermark(")?;
                if let Some(e) = early {
                    write!(f, "early={e}")?;
                }
                if let Some(l) = late {
                    if early.is_some() {
                        f.write_str(", ")?;
                    }
                    write!(f, "late={l}")?;
                }
                f.write_str(")")
            }
            Trigger::AfterProcessingTime { delay, alignment } => {
                write!(f, "AfterProcessingTime(delay={}", delay.as_micros())?;
                if let Some((p, o)) = alignment {
                    write!(f, ", align={}@{}", p.as_micros(), o)?;
                }
                f.write_str(")")
            }
            Trigger::AfterCount(n) => write!(f, "AfterCount({n})"),
            Trigger::AfterEach(ts) => list(f, "AfterEach", ts),
            Trigger::AfterFirst(ts) => list(f, "AfterAny", ts),
            Trigger::AfterAll(ts) => list(f, "AfterAll", ts),
            Trigger::Repeatedly(t) => write!(f, "Repeatedly({t})"),
            Trigger::OrFinally(a, b) => write!(f, "OrFinally({a}, {b})"),
            Trigger::Never => f.write_str("Never"),
        }
    }
}

/// Whether panes carry everything since the window started or only what
/// arrived since the previous pane.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
pub enum AccumulationMode {
    /// Each pane holds only the elements since the previous pane.
    #[default]
    Discarding,
    /// Each pane holds every element of the window so far.
    Accumulating,
}

/// Whether an on-time pane is emitted when it would be empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
pub enum OnTimeBehavior {
    /// Always emit the on-time pane (the default).
    #[default]
    FireAlways,
    /// Only if it holds new elements.
    FireIfNonEmpty,
}

/// Whether the final pane at the end of allowed lateness is emitted when empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
pub enum ClosingBehavior {
    /// Always emit a final pane.
    FireAlways,
    /// Only if it holds new elements (the default).
    #[default]
    FireIfNonEmpty,
}
