//! The state a grouping keeps per key and window: the buffer, the watermark
//! holds and, boxed because most elements never touch it, the trigger state,
//! the last pane and whether the end-of-window timer ran.

use crate::runner_support::trigger_state::TriggerState;
use crate::time::Timestamp;
use crate::window::{PaneInfo, Window};

/// Per (key, window) state. What every element touches is inline and small
/// (32 bytes for a number accumulator), since a table holds one per key and
/// window; the rest (the cold state) is boxed, and only once it differs from
/// a new window's: most windows of a large table fire once and never need it.
pub(crate) struct WindowState<A> {
    /// The buffer; an empty accumulator unless `has_acc`.
    acc: A,
    /// The element hold, or [`NO_HOLD`].
    element_hold: Timestamp,
    /// `None` while it equals the table's fresh cold state.
    cold: Option<Box<ColdState>>,
    has_acc: bool,
    pub(crate) new_data: bool,
    pub(crate) dirty: bool,
}

/// No element hold. A hold at the end of time would hold nothing back (the
/// input watermark never passes it) and a pane there takes its window's end
/// anyway, so the end of time itself stands for "none".
const NO_HOLD: Timestamp = Timestamp::MAX;

#[derive(Clone)]
pub(crate) struct ColdState {
    pub(crate) extra_hold: Option<Timestamp>,
    pub(crate) trigger: TriggerState,
    pub(crate) last_pane: Option<PaneInfo>,
    pub(crate) end_of_window_done: bool,
    /// A watermark part of the trigger saw an element before the window's
    /// end, so the end of the window evaluates the trigger (Beam's watermark
    /// triggers set their end-of-window timer then). Kept only for triggers
    /// whose watermark part may miss the first element.
    pub(crate) end_of_window_timer: bool,
    /// The deadline at which the grouping's deadline index lists this window.
    pub(crate) indexed_deadline: Option<Timestamp>,
}

impl ColdState {
    /// The cold state of a new window under `trigger`.
    pub(crate) fn fresh(trigger: &crate::trigger::Trigger) -> Self {
        ColdState {
            extra_hold: None,
            trigger: TriggerState::new(trigger),
            last_pane: None,
            end_of_window_done: false,
            end_of_window_timer: false,
            indexed_deadline: None,
        }
    }
}

impl<A> WindowState<A> {
    /// A new window's state with no data; `empty` is an empty accumulator
    /// and `fresh` the table's [`ColdState::fresh`].
    pub(crate) fn new(empty: A, fresh: &ColdState, input_wm: Timestamp, window: &Window) -> Self {
        // A window that is already late has run its end-of-window timer.
        let cold = (window.max_timestamp() < input_wm).then(|| {
            Box::new(ColdState {
                end_of_window_done: true,
                ..fresh.clone()
            })
        });
        WindowState {
            acc: empty,
            element_hold: NO_HOLD,
            cold,
            has_acc: false,
            new_data: false,
            dirty: false,
        }
    }

    /// The accumulator, if any data (or a partial) came.
    pub(crate) fn acc(&self) -> Option<&A> {
        self.has_acc.then_some(&self.acc)
    }

    pub(crate) fn acc_mut(&mut self) -> Option<&mut A> {
        self.has_acc.then_some(&mut self.acc)
    }

    pub(crate) fn set_acc(&mut self, acc: A) {
        self.acc = acc;
        self.has_acc = true;
    }

    /// Takes the accumulator, leaving `empty` in its place.
    pub(crate) fn take_acc(&mut self, empty: A) -> Option<A> {
        let acc = std::mem::replace(&mut self.acc, empty);
        std::mem::replace(&mut self.has_acc, false).then_some(acc)
    }

    pub(crate) fn element_hold(&self) -> Option<Timestamp> {
        (self.element_hold != NO_HOLD).then_some(self.element_hold)
    }

    pub(crate) fn set_element_hold(&mut self, hold: Option<Timestamp>) {
        self.element_hold = hold.unwrap_or(NO_HOLD);
    }

    /// A state with this cold state (kept inline only if it differs from `fresh`).
    pub(crate) fn with_cold(mut self, cold: ColdState, fresh: &ColdState) -> Self {
        let same = cold.extra_hold.is_none()
            && cold.last_pane.is_none()
            && !cold.end_of_window_done
            && !cold.end_of_window_timer
            && cold.indexed_deadline.is_none()
            && cold.trigger == fresh.trigger;
        self.cold = (!same).then(|| Box::new(cold));
        self
    }

    /// The cold state; `fresh` is the table's [`ColdState::fresh`].
    pub(crate) fn cold<'a>(&'a self, fresh: &'a ColdState) -> &'a ColdState {
        self.cold.as_deref().unwrap_or(fresh)
    }

    /// The cold state to change, boxed from `fresh` on first use.
    pub(crate) fn cold_mut(&mut self, fresh: &ColdState) -> &mut ColdState {
        self.cold.get_or_insert_with(|| Box::new(fresh.clone()))
    }

    /// The cold state, owned.
    pub(crate) fn take_cold(&mut self, fresh: &ColdState) -> ColdState {
        self.cold.take().map_or_else(|| fresh.clone(), |b| *b)
    }

    pub(crate) fn extra_hold(&self) -> Option<Timestamp> {
        self.cold.as_ref().and_then(|c| c.extra_hold)
    }

    pub(crate) fn indexed_deadline(&self) -> Option<Timestamp> {
        self.cold.as_ref().and_then(|c| c.indexed_deadline)
    }

    /// Notes that the deadline index no longer lists this window.
    pub(crate) fn clear_indexed_deadline(&mut self) {
        if let Some(c) = &mut self.cold {
            c.indexed_deadline = None;
        }
    }

    pub(crate) fn hold(&self) -> Option<Timestamp> {
        match (self.element_hold(), self.extra_hold()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
