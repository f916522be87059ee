//! The state a grouping keeps per key and window: the buffer, the watermark
//! holds and, boxed because most elements never touch it, the trigger state,
//! the last pane and whether the end-of-window timer ran.

use crate::runner_support::trigger_state::TriggerState;
use crate::time::Timestamp;
use crate::window::{PaneInfo, Window};

/// Per (key, window) state. What every element touches is inline; the rest
/// (the cold state) is boxed, and only once it differs from a new window's:
/// most windows of a large table fire once at their end and never need it.
pub(crate) struct WindowState<A> {
    pub(crate) acc: Option<A>,
    pub(crate) element_hold: Option<Timestamp>,
    pub(crate) new_data: bool,
    pub(crate) dirty: bool,
    /// `None` while it equals the table's fresh cold state.
    cold: Option<Box<ColdState>>,
}

#[derive(Clone)]
pub(crate) struct ColdState {
    pub(crate) extra_hold: Option<Timestamp>,
    pub(crate) trigger: TriggerState,
    pub(crate) last_pane: Option<PaneInfo>,
    pub(crate) end_of_window_done: bool,
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
            indexed_deadline: None,
        }
    }
}

impl<A> WindowState<A> {
    /// A new window's state; `fresh` is the table's [`ColdState::fresh`].
    pub(crate) fn new(fresh: &ColdState, input_wm: Timestamp, window: &Window) -> Self {
        // A window that is already late has run its end-of-window timer.
        let cold = (window.max_timestamp() < input_wm).then(|| {
            Box::new(ColdState {
                end_of_window_done: true,
                ..fresh.clone()
            })
        });
        WindowState {
            acc: None,
            element_hold: None,
            new_data: false,
            dirty: false,
            cold,
        }
    }

    /// A state with this cold state (kept inline only if it differs from `fresh`).
    pub(crate) fn with_cold(mut self, cold: ColdState, fresh: &ColdState) -> Self {
        let same = cold.extra_hold.is_none()
            && cold.last_pane.is_none()
            && !cold.end_of_window_done
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
        match (self.element_hold, self.extra_hold()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
