//! Window functions and the windowing strategy of a PCollection.
//!
//! A [`WindowFn`] assigns each element to windows from its timestamp; merging
//! window functions ([`WindowFn::Sessions`]) later merge the windows of one key
//! that intersect. The [`WindowingStrategy`] of a PCollection bundles the window
//! function with how groupings compute output timestamps and how late data is
//! treated. Assignment rules follow Beam: fixed windows start at
//! `t - mod(t - offset, size)` with a non-negative modulus, sliding windows cover
//! an element `size / period` times, and intervals are half-open.
//!
//! An element can fall in no window: between sliding windows whose period is
//! longer than their size, or where a [`CustomWindowFn`] assigns none. Beam
//! drops it silently; here the [`WindowInto`](crate::WindowInto) step drops it
//! and counts it in its `dropped_in_no_window` counter.

use crate::error::BeamError;
use crate::time::{Duration, Timestamp};
use crate::trigger::{AccumulationMode, ClosingBehavior, OnTimeBehavior, Trigger};
use crate::window::{IntervalWindow, Window};
use serde::Serialize;

/// How elements are assigned to windows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum WindowFn {
    /// Every element in the single global window.
    Global,
    /// Tumbling windows of `size`, shifted by `offset`.
    Fixed {
        /// Window length.
        size: Duration,
        /// Shift of window starts from the epoch.
        offset: Duration,
    },
    /// Overlapping windows of `size` starting every `period`.
    Sliding {
        /// Window length.
        size: Duration,
        /// Distance between window starts.
        period: Duration,
        /// Shift of window starts from the epoch.
        offset: Duration,
    },
    /// Per-key sessions: `[t, t + gap)` per element, merged while they intersect.
    Sessions {
        /// Gap of inactivity that closes a session.
        gap: Duration,
    },
    /// A user-defined window function.
    Custom(CustomWindows),
    /// The windows produced by grouping with a merging window function: they are
    /// kept on the elements, but cannot be assigned or merged again. Apply a new
    /// [`WindowInto`](crate::WindowInto) before grouping again.
    InvalidWindows(Box<WindowFn>),
}

impl WindowFn {
    /// The single global window (Beam's `GlobalWindows`).
    pub fn global() -> Self {
        WindowFn::Global
    }
    /// Fixed windows of `size`, starting at multiples of `size` from the epoch.
    pub fn fixed(size: Duration) -> Self {
        WindowFn::Fixed {
            size,
            offset: Duration::ZERO,
        }
    }
    /// Fixed windows of `size` whose starts are shifted by `offset`, as
    /// Beam's `FixedWindows.of(size).withOffset(offset)`:
    ///
    /// ```
    /// use beam_core::{Duration, Timestamp, Window, WindowFn};
    /// // An hour from a quarter past: 10:15 belongs to [10:15, 11:15).
    /// let f = WindowFn::fixed_with_offset(Duration::from_secs(3600), Duration::from_secs(900));
    /// let mut got = Vec::new();
    /// f.assign(Timestamp::from_secs(10 * 3600 + 900), |w| got.push(w));
    /// assert_eq!(got, [Window::interval(Timestamp::from_secs(10 * 3600 + 900), Timestamp::from_secs(11 * 3600 + 900))]);
    /// ```
    pub fn fixed_with_offset(size: Duration, offset: Duration) -> Self {
        WindowFn::Fixed { size, offset }
    }
    /// Sliding windows of `size` every `period`. With a period longer than
    /// the size, the times between windows are in none (see the
    /// [module docs](self)).
    pub fn sliding(size: Duration, period: Duration) -> Self {
        WindowFn::Sliding {
            size,
            period,
            offset: Duration::ZERO,
        }
    }
    /// Sliding windows of `size` every `period`, their starts shifted by
    /// `offset` (Beam's `SlidingWindows.of(size).every(period).withOffset(offset)`).
    pub fn sliding_with_offset(size: Duration, period: Duration, offset: Duration) -> Self {
        WindowFn::Sliding {
            size,
            period,
            offset,
        }
    }
    /// Session windows with `gap`.
    pub fn sessions(gap: Duration) -> Self {
        WindowFn::Sessions { gap }
    }

    /// Checks parameters; called when the function is applied.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |d: &Duration, what: &str| {
            if d.as_micros() <= 0 {
                Err(format!("{what} must be positive, got {d:?}"))
            } else {
                Ok(())
            }
        };
        match self {
            WindowFn::Global | WindowFn::InvalidWindows(_) | WindowFn::Custom(_) => Ok(()),
            WindowFn::Fixed { size, offset } => {
                positive(size, "fixed window size")?;
                if offset.as_micros() < 0 || offset >= size {
                    return Err(format!(
                        "fixed window offset {offset:?} must be in [0, size)"
                    ));
                }
                Ok(())
            }
            WindowFn::Sliding {
                size,
                period,
                offset,
            } => {
                positive(size, "sliding window size")?;
                positive(period, "sliding window period")?;
                if offset.as_micros() < 0 || offset >= period {
                    return Err(format!(
                        "sliding window offset {offset:?} must be in [0, period)"
                    ));
                }
                Ok(())
            }
            WindowFn::Sessions { gap } => positive(gap, "session gap"),
        }
    }

    /// Whether windows of one key are merged before grouping.
    pub fn is_merging(&self) -> bool {
        match self {
            WindowFn::Sessions { .. } => true,
            WindowFn::Custom(c) => c.0.is_merging(),
            _ => false,
        }
    }

    /// Whether the function merges exactly the windows that intersect, into
    /// the window spanning them (sessions, and user-defined functions that say
    /// so): then a key's windows stay disjoint, and an arriving window is
    /// merged by looking only at the windows it intersects.
    pub fn merges_intersecting(&self) -> bool {
        match self {
            WindowFn::Sessions { .. } => true,
            WindowFn::Custom(c) => c.0.is_merging() && c.0.merges_intersecting(),
            _ => false,
        }
    }

    /// Merges a key's active windows: each group of windows that merge, with
    /// the window they merge into. Windows in no group stay as they are.
    pub fn merge_groups(
        &self,
        windows: &[IntervalWindow],
    ) -> Vec<(Vec<IntervalWindow>, IntervalWindow)> {
        match self {
            WindowFn::Custom(c) => c.0.merge(windows),
            _ => {
                let (target, merged) = Self::merge_windows(windows);
                let mut groups: Vec<(Vec<IntervalWindow>, IntervalWindow)> =
                    merged.iter().map(|m| (Vec::new(), *m)).collect();
                for (w, t) in windows.iter().zip(target) {
                    groups[t].0.push(*w);
                }
                groups.retain(|(members, result)| {
                    members.len() > 1 || members.first() != Some(result)
                });
                groups
            }
        }
    }

    /// Assigns the windows of an element at `ts`, calling `out` once per window.
    #[inline]
    pub fn assign(&self, ts: Timestamp, mut out: impl FnMut(Window)) {
        match self {
            WindowFn::Global => out(Window::Global),
            // In i128: near the ends of time a window may start before
            // Timestamp::MIN (it is clamped there) without overflowing.
            WindowFn::Fixed { size, offset } => {
                let start = window_start(ts.as_micros(), offset.as_micros(), size.as_micros());
                out(interval(start, i128::from(size.as_micros())))
            }
            WindowFn::Sliding {
                size,
                period,
                offset,
            } => {
                let mut start =
                    window_start(ts.as_micros(), offset.as_micros(), period.as_micros());
                let t = i128::from(ts.as_micros());
                let (size, period) = (i128::from(size.as_micros()), i128::from(period.as_micros()));
                while start > t - size {
                    out(interval(start, size));
                    start -= period;
                }
            }
            WindowFn::Sessions { gap } => out(interval(
                i128::from(ts.as_micros()),
                i128::from(gap.as_micros()),
            )),
            WindowFn::Custom(c) => {
                for w in c.0.assign(ts) {
                    out(Window::Interval(w))
                }
            }
            WindowFn::InvalidWindows(_) => {}
        }
    }

    /// The window of a side input (windowed by `self`) that a main-input window reads:
    /// the window containing the main window's max timestamp.
    pub fn side_input_window(&self, main: &Window) -> Result<Window, String> {
        match self {
            WindowFn::Global => Ok(Window::Global),
            WindowFn::Fixed { .. } => {
                let mut w = Window::Global;
                self.assign(main.max_timestamp(), |x| w = x);
                Ok(w)
            }
            WindowFn::Sliding { .. } => {
                let mut first = None;
                self.assign(main.max_timestamp(), |x| {
                    first.get_or_insert(x);
                });
                first.ok_or_else(|| "no sliding window contains the main window".to_string())
            }
            WindowFn::Custom(c) => c.0.side_input_window(main),
            WindowFn::Sessions { .. } | WindowFn::InvalidWindows(_) => Err(format!(
                "{self:?} has no side-input window mapping; re-window the side input with fixed, sliding or global windows"
            )),
        }
    }

    /// Merges the intersecting windows among `windows` (sorted by start), returning
    /// for each input window the index of the merged window it belongs to, and the
    /// merged windows.
    pub fn merge_windows(windows: &[IntervalWindow]) -> (Vec<usize>, Vec<IntervalWindow>) {
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&i| (windows[i].start, windows[i].end));
        let mut merged: Vec<IntervalWindow> = Vec::new();
        let mut target = vec![0; windows.len()];
        for i in order {
            let w = windows[i];
            match merged.last_mut() {
                Some(last) if last.intersects(&w) => *last = last.span(&w),
                _ => merged.push(w),
            }
            target[i] = merged.len() - 1;
        }
        (target, merged)
    }
}

/// A user-defined window function over interval windows.
///
/// ```
/// use beam_core::windowfn::{CustomWindowFn, CustomWindows};
/// use beam_core::{IntervalWindow, Timestamp, WindowFn};
///
/// /// Windows of one hour, except that whole days merge when asked.
/// #[derive(Debug)]
/// struct Hours;
/// impl CustomWindowFn for Hours {
///     fn name(&self) -> String { "Hours".into() }
///     fn assign(&self, ts: Timestamp) -> Vec<IntervalWindow> {
///         let h = 3_600_000_000;
///         let start = ts.as_micros().div_euclid(h) * h;
///         vec![IntervalWindow::new(Timestamp::from_micros(start), Timestamp::from_micros(start + h))]
///     }
/// }
/// let f = WindowFn::Custom(CustomWindows::new(Hours));
/// let mut got = Vec::new();
/// f.assign(Timestamp::from_secs(5400), |w| got.push(w));
/// assert_eq!(got.len(), 1);
/// ```
pub trait CustomWindowFn: Send + Sync + std::fmt::Debug + 'static {
    /// A name identifying the function (window functions with equal names are equal).
    fn name(&self) -> String;
    /// The windows of an element at `ts`.
    fn assign(&self, ts: Timestamp) -> Vec<IntervalWindow>;
    /// Whether windows of one key are merged before grouping.
    fn is_merging(&self) -> bool {
        false
    }
    /// For a merging function: the groups of `windows` that merge, each with
    /// the window it merges into.
    fn merge(&self, _windows: &[IntervalWindow]) -> Vec<(Vec<IntervalWindow>, IntervalWindow)> {
        Vec::new()
    }
    /// For a merging function: whether [`merge`](Self::merge) merges exactly
    /// the windows that intersect (touching is not intersecting) into the
    /// window spanning them, as sessions do. Saying so lets runners merge an
    /// arriving window by looking only at the windows it intersects (in
    /// O(log n) of a key's windows) instead of calling `merge` with all of
    /// them; `merge` is then not called.
    fn merges_intersecting(&self) -> bool {
        false
    }
    /// The window of a side input in this windowing that a main-input window reads.
    fn side_input_window(&self, _main: &Window) -> Result<Window, String> {
        Err(format!("{} has no side-input window mapping", self.name()))
    }
}

/// A shared handle to a [`CustomWindowFn`], comparable by name.
#[derive(Clone)]
pub struct CustomWindows(pub std::sync::Arc<dyn CustomWindowFn>);

impl CustomWindows {
    /// Wraps a user-defined window function.
    pub fn new(f: impl CustomWindowFn) -> Self {
        CustomWindows(std::sync::Arc::new(f))
    }
}

impl PartialEq for CustomWindows {
    fn eq(&self, other: &Self) -> bool {
        self.0.name() == other.0.name()
    }
}

impl std::fmt::Debug for CustomWindows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Custom({})", self.0.name())
    }
}

impl Serialize for CustomWindows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.name())
    }
}

/// The start of the window of length `period` (shifted by `offset`) holding
/// `t`: in i64 unless that would overflow.
#[inline]
fn window_start(t: i64, offset: i64, period: i64) -> i128 {
    let fast = t
        .checked_sub(offset)
        .map(|d| d.rem_euclid(period))
        .and_then(|r| t.checked_sub(r));
    match fast {
        Some(start) => i128::from(start),
        None => {
            let t = i128::from(t);
            t - (t - i128::from(offset)).rem_euclid(i128::from(period))
        }
    }
}

fn interval(start: i128, size: i128) -> Window {
    let at = |t: i128| Timestamp::from_micros(t.clamp(i64::MIN.into(), i64::MAX.into()) as i64);
    Window::Interval(IntervalWindow::new(at(start), at(start + size)))
}

/// How a grouping computes the timestamp of its output from its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Default)]
pub enum TimestampCombiner {
    /// The earliest input timestamp (after the window function's output-time shift).
    Earliest,
    /// The latest input timestamp.
    Latest,
    /// The window's max timestamp (the default).
    #[default]
    EndOfWindow,
}

impl TimestampCombiner {
    /// Combines two candidate output timestamps.
    pub fn combine(self, a: Timestamp, b: Timestamp) -> Timestamp {
        match self {
            TimestampCombiner::Earliest => a.min(b),
            TimestampCombiner::Latest | TimestampCombiner::EndOfWindow => a.max(b),
        }
    }
    /// The output timestamp of a pane in `window` whose inputs combined to `combined`.
    pub fn finish(self, combined: Timestamp, window: &Window) -> Timestamp {
        match self {
            TimestampCombiner::EndOfWindow => window.max_timestamp(),
            _ => combined,
        }
    }
}

/// Everything about how a PCollection is windowed and how groupings fire.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowingStrategy {
    /// How elements are assigned to windows.
    pub window_fn: WindowFn,
    /// How a grouping timestamps its output.
    pub timestamp_combiner: TimestampCombiner,
    /// How long after the end of a window late data is still accepted.
    pub allowed_lateness: Duration,
    /// When panes fire.
    pub trigger: Trigger,
    /// Whether panes accumulate.
    pub accumulation_mode: AccumulationMode,
    /// Whether an empty on-time pane is emitted.
    pub on_time_behavior: OnTimeBehavior,
    /// Whether an empty final pane is emitted.
    pub closing_behavior: ClosingBehavior,
}

impl WindowingStrategy {
    /// The global window with the default trigger: the strategy of Create and Read.
    pub fn global() -> Self {
        WindowingStrategy {
            window_fn: WindowFn::Global,
            timestamp_combiner: TimestampCombiner::EndOfWindow,
            allowed_lateness: Duration::ZERO,
            trigger: Trigger::Default,
            accumulation_mode: AccumulationMode::Discarding,
            on_time_behavior: OnTimeBehavior::FireAlways,
            closing_behavior: ClosingBehavior::FireIfNonEmpty,
        }
    }

    /// When the state of `window` is dropped: its max timestamp plus the allowed
    /// lateness, capped at the end of the global window.
    pub fn gc_time(&self, window: &Window) -> Timestamp {
        let max = window.max_timestamp();
        if max >= crate::window::GLOBAL_WINDOW_MAX {
            return max;
        }
        (max + self.allowed_lateness).min(crate::window::GLOBAL_WINDOW_MAX)
    }

    /// Errors unless this strategy can be grouped by key.
    pub(crate) fn check_groupable(&self, step: &str) -> Result<(), BeamError> {
        if let WindowFn::InvalidWindows(original) = &self.window_fn {
            return Err(BeamError::construction(
                step,
                format!(
                    "the input was grouped with the merging {original:?}, so its windows must have a valid Window merge function: apply WindowInto again before grouping"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(f: &WindowFn, ts: i64) -> Vec<Window> {
        let mut v = Vec::new();
        f.assign(Timestamp::from_micros(ts), |w| v.push(w));
        v
    }
    fn iw(a: i64, b: i64) -> Window {
        Window::interval(Timestamp::from_micros(a), Timestamp::from_micros(b))
    }

    #[test]
    fn fixed_windows_use_a_non_negative_modulus() {
        let f = WindowFn::fixed(Duration::from_micros(10));
        assert_eq!(windows(&f, 0), vec![iw(0, 10)]);
        assert_eq!(windows(&f, 9), vec![iw(0, 10)]);
        assert_eq!(windows(&f, -1), vec![iw(-10, 0)]);
        let f = WindowFn::Fixed {
            size: Duration::from_micros(10),
            offset: Duration::from_micros(3),
        };
        assert_eq!(windows(&f, 2), vec![iw(-7, 3)]);
        assert_eq!(windows(&f, 3), vec![iw(3, 13)]);
    }

    #[test]
    fn sliding_windows_cover_an_element_size_over_period_times() {
        // GroupByKeyTest.testGroupByKeyMultipleWindows: Sliding(5 every 3).
        let f = WindowFn::sliding(Duration::from_micros(5), Duration::from_micros(3));
        assert_eq!(windows(&f, 1), vec![iw(0, 5), iw(-3, 2)]);
        assert_eq!(windows(&f, 2), vec![iw(0, 5)]);
        assert_eq!(windows(&f, 4), vec![iw(3, 8), iw(0, 5)]);
    }

    #[test]
    fn touching_sessions_do_not_merge() {
        let w = |a, b| IntervalWindow::new(Timestamp::from_micros(a), Timestamp::from_micros(b));
        let (target, merged) = WindowFn::merge_windows(&[w(11, 21), w(1, 11), w(5, 9)]);
        assert_eq!(merged, vec![w(1, 11), w(11, 21)]);
        assert_eq!(target, vec![1, 0, 0]);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(WindowFn::fixed(Duration::ZERO).validate().is_err());
        assert!(WindowFn::sessions(Duration::from_secs(-1))
            .validate()
            .is_err());
    }
}
