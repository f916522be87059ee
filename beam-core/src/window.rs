//! Windows, panes and windowed values: the metadata every element carries.
//!
//! Every element of a [`PCollection`](crate::PCollection) lives in exactly one
//! [`Window`] here (an element assigned to several sliding windows is one
//! [`WindowedValue`] per window), has an event [`Timestamp`], and a [`PaneInfo`]
//! saying which firing of a grouping produced it.

use crate::time::{Duration, Timestamp};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A half-open interval `[start, end)` of event time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IntervalWindow {
    /// First timestamp in the window.
    pub start: Timestamp,
    /// First timestamp after the window.
    pub end: Timestamp,
}

impl IntervalWindow {
    /// The window `[start, end)`.
    pub fn new(start: Timestamp, end: Timestamp) -> Self {
        IntervalWindow { start, end }
    }
    /// The last timestamp inside the window: `end - 1`.
    pub fn max_timestamp(&self) -> Timestamp {
        self.end - Duration::from_micros(1)
    }
    /// Whether the two windows overlap. Windows that only touch
    /// (`[1,11)` and `[11,21)`) do not intersect.
    pub fn intersects(&self, other: &IntervalWindow) -> bool {
        self.start < other.end && other.start < self.end
    }
    /// The smallest window containing both.
    pub fn span(&self, other: &IntervalWindow) -> IntervalWindow {
        IntervalWindow {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
    /// Whether `ts` lies inside the window.
    pub fn contains(&self, ts: Timestamp) -> bool {
        self.start <= ts && ts < self.end
    }
}

impl fmt::Debug for IntervalWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// A window: the global window or an interval of event time.
///
/// ```
/// use beam_core::{IntervalWindow, Timestamp, Window};
/// let w = Window::interval(Timestamp::from_micros(0), Timestamp::from_micros(10));
/// assert_eq!(w.max_timestamp(), Timestamp::from_micros(9));
/// assert_eq!(Window::Global.max_timestamp(), beam_core::GLOBAL_WINDOW_MAX);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Window {
    /// The single window of all time.
    Global,
    /// A bounded interval of event time.
    Interval(IntervalWindow),
}

/// The max timestamp of the global window: one day before [`Timestamp::MAX`],
/// so that timers and holds at the end of the global window can still fire.
/// Beam Java's `GlobalWindow.INSTANCE.maxTimestamp()`: 9 223 371 950 454 775 ms
/// (here 9 223 371 950 454 775 000 µs).
pub const GLOBAL_WINDOW_MAX: Timestamp =
    Timestamp::from_micros(9_223_372_036_854_775_000 - 86_400_000_000);

impl Window {
    /// The interval window `[start, end)`.
    pub fn interval(start: Timestamp, end: Timestamp) -> Self {
        Window::Interval(IntervalWindow { start, end })
    }
    /// The last timestamp an element of this window may carry.
    pub fn max_timestamp(&self) -> Timestamp {
        match self {
            Window::Global => GLOBAL_WINDOW_MAX,
            Window::Interval(w) => w.max_timestamp(),
        }
    }
    /// The interval, if this is an interval window.
    pub fn as_interval(&self) -> Option<&IntervalWindow> {
        match self {
            Window::Global => None,
            Window::Interval(w) => Some(w),
        }
    }
}

impl fmt::Debug for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Global => f.write_str("GlobalWindow"),
            Window::Interval(w) => fmt::Debug::fmt(w, f),
        }
    }
}

/// When, relative to the watermark, a pane was produced.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum PaneTiming {
    /// Before the input watermark passed the end of the window.
    Early,
    /// The first pane after the input watermark passed the end of the window.
    OnTime,
    /// After the on-time pane.
    Late,
    /// Not produced by a grouping (or the timing is not known).
    Unknown,
}

/// Which firing of a grouping produced an element.
///
/// Elements that did not come out of a [`GroupByKey`](crate::GroupByKey) carry
/// [`PaneInfo::NO_FIRING`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PaneInfo {
    /// This is the first pane of its window.
    pub is_first: bool,
    /// No more panes will follow for this window.
    pub is_last: bool,
    /// Early, on time, late or unknown.
    pub timing: PaneTiming,
    /// 0 for the first pane, counting every pane of the window.
    pub index: i64,
    /// Counts only on-time and late panes; -1 for early panes.
    pub nonspeculative_index: i64,
}

impl PaneInfo {
    /// The pane of an element that was never grouped.
    pub const NO_FIRING: PaneInfo = PaneInfo {
        is_first: true,
        is_last: true,
        timing: PaneTiming::Unknown,
        index: 0,
        nonspeculative_index: 0,
    };
    /// The only pane of a window, fired when the watermark passed its end.
    pub const ON_TIME_AND_ONLY_FIRING: PaneInfo = PaneInfo {
        is_first: true,
        is_last: true,
        timing: PaneTiming::OnTime,
        index: 0,
        nonspeculative_index: 0,
    };
}

impl Default for PaneInfo {
    fn default() -> Self {
        PaneInfo::NO_FIRING
    }
}

impl fmt::Debug for PaneInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Pane(first={}, last={}, {:?}, index={}, nonspec={})",
            self.is_first, self.is_last, self.timing, self.index, self.nonspeculative_index
        )
    }
}

/// A value with its event timestamp, window and pane.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowedValue<T> {
    /// The element itself.
    pub value: T,
    /// Its event time.
    pub timestamp: Timestamp,
    /// The window it belongs to.
    pub window: Window,
    /// The firing that produced it.
    pub pane: PaneInfo,
}

impl<T> WindowedValue<T> {
    /// `value` at `timestamp` in the global window, never fired.
    pub fn new(value: T, timestamp: Timestamp, window: Window, pane: PaneInfo) -> Self {
        WindowedValue {
            value,
            timestamp,
            window,
            pane,
        }
    }
    /// `value` at [`Timestamp::MIN`] in the global window: how Create emits elements.
    pub fn in_global_window(value: T) -> Self {
        Self::timestamped(value, Timestamp::MIN)
    }
    /// `value` at `timestamp` in the global window.
    pub fn timestamped(value: T, timestamp: Timestamp) -> Self {
        WindowedValue {
            value,
            timestamp,
            window: Window::Global,
            pane: PaneInfo::NO_FIRING,
        }
    }
    /// The same metadata around another value.
    pub fn with_value<U>(&self, value: U) -> WindowedValue<U> {
        WindowedValue {
            value,
            timestamp: self.timestamp,
            window: self.window,
            pane: self.pane,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for WindowedValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} @ {} in {:?}",
            self.value, self.timestamp, self.window
        )
    }
}
