//! The state a grouping keeps per key and window: the buffer, the watermark
//! holds and, boxed because most elements never touch it, the trigger state,
//! the last pane and whether the end-of-window timer ran.

use crate::runner_support::trigger_state::TriggerState;
use crate::time::Timestamp;
use crate::window::{PaneInfo, Window};

/// Per (key, window) state. What every element touches is inline; the rest is
/// boxed, to keep hash-table slots small.
pub(crate) struct WindowState<A> {
    pub(crate) acc: Option<A>,
    pub(crate) element_hold: Option<Timestamp>,
    pub(crate) new_data: bool,
    pub(crate) dirty: bool,
    pub(crate) cold: Box<ColdState>,
}

pub(crate) struct ColdState {
    pub(crate) extra_hold: Option<Timestamp>,
    pub(crate) trigger: TriggerState,
    pub(crate) last_pane: Option<PaneInfo>,
    pub(crate) end_of_window_done: bool,
    /// The deadline at which the grouping's deadline index lists this window.
    pub(crate) indexed_deadline: Option<Timestamp>,
}

impl<A> WindowState<A> {
    pub(crate) fn hold(&self) -> Option<Timestamp> {
        match (self.element_hold, self.cold.extra_hold) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

pub(crate) fn new_state<A>(
    trigger: &crate::trigger::Trigger,
    input_wm: Timestamp,
    window: &Window,
) -> WindowState<A> {
    WindowState {
        acc: None,
        element_hold: None,
        new_data: false,
        dirty: false,
        cold: Box::new(ColdState {
            extra_hold: None,
            trigger: TriggerState::new(trigger),
            last_pane: None,
            end_of_window_done: window.max_timestamp() < input_wm,
            indexed_deadline: None,
        }),
    }
}
