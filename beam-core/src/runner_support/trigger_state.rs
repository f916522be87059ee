//! The state machine that evaluates a [`Trigger`] for one key and window.
//!
//! Each node of the trigger tree has a state (element counts, processing-time
//! deadlines, whether the watermark part has fired) and a finished bit. The
//! grouping calls [`on_element`] for each element, asks [`should_fire`] after each
//! bundle and at timers, and calls [`on_fire`] when it fires a pane. A finished
//! top-level trigger closes its window.
//!
//! The rules are those of Beam Java's trigger state machines (runners-core),
//! which every Java runner applies whatever SDK built the pipeline:
//! - `AfterAll` and `AfterFirst` fire once and finish then (Beam Java accepts
//!   only once-triggers as their children; a child that could fire again does
//!   not make them fire again).
//! - `AfterEach` runs its children in turn; `OrFinally` finishes when either
//!   child finishes; `Repeatedly` starts its child afresh when it finishes.
//! - The early and late firings of `AfterWatermark` repeat: each of their
//!   firings starts them afresh, and so does the end-of-window firing.
//! - Only a watermark trigger that saw an element before the end of the window
//!   asks to be evaluated there ([`on_element`] says so); a window whose
//!   trigger never did waits for its garbage-collection time.
//! - When windows merge ([`merge`]): counts add up and the earliest deadline
//!   stays; a count finished in any merging window is finished, a deadline if
//!   it finished in the window merged into; a watermark trigger stays past its
//!   end-of-window firing only if it was so in every merging window and the
//!   merged window's end is past, otherwise it is revived and its late firings
//!   start afresh; `AfterEach` merges its children in order up to the first
//!   unfinished one and starts the rest afresh; composites take their finished
//!   bit from their children. With merging windows, composites feed elements
//!   to every child, finished or not, so a child a merge revives has counted
//!   them.

use crate::time::{Duration, Timestamp};
use crate::trigger::Trigger;

/// What a trigger sees when it is evaluated.
#[derive(Clone, Copy, Debug)]
pub struct TriggerContext {
    /// The window's max timestamp.
    pub window_max: Timestamp,
    /// The grouping's input watermark.
    pub input_watermark: Timestamp,
    /// Current processing time.
    pub now: Timestamp,
    /// Whether windows may merge (every child of a composite then sees every
    /// element, since a merge can revive a finished one).
    pub merging: bool,
}

impl TriggerContext {
    fn past_end_of_window(&self) -> bool {
        self.input_watermark > self.window_max
    }
}

/// The state of one trigger node.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TriggerState {
    finished: bool,
    node: Node,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum Node {
    Leaf,
    Watermark {
        /// The end-of-window firing happened (in Beam, the finished bit of the
        /// early firings).
        is_late: bool,
        early: Option<Box<TriggerState>>,
        late: Option<Box<TriggerState>>,
    },
    ProcessingTime {
        deadline: Option<Timestamp>,
    },
    Count(u64),
    Children(Vec<TriggerState>),
}

impl TriggerState {
    /// The initial state of `trigger`.
    pub fn new(trigger: &Trigger) -> Self {
        let node = match trigger {
            Trigger::Default | Trigger::Never => Node::Leaf,
            Trigger::AfterWatermark { early, late } => Node::Watermark {
                is_late: false,
                early: early.as_ref().map(|t| Box::new(TriggerState::new(t))),
                late: late.as_ref().map(|t| Box::new(TriggerState::new(t))),
            },
            Trigger::AfterProcessingTime { .. } => Node::ProcessingTime { deadline: None },
            Trigger::AfterCount(_) => Node::Count(0),
            Trigger::AfterEach(ts) | Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => {
                Node::Children(ts.iter().map(TriggerState::new).collect())
            }
            Trigger::Repeatedly(t) => Node::Children(vec![TriggerState::new(t)]),
            Trigger::OrFinally(a, b) => {
                Node::Children(vec![TriggerState::new(a), TriggerState::new(b)])
            }
        };
        TriggerState {
            finished: false,
            node,
        }
    }

    /// Whether the trigger finished.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// Whether a watermark part of `trigger` sees the first element of every
/// window (so every window asks for its end-of-window evaluation, and none
/// needs to record that it did).
pub fn watermark_sees_first_element(trigger: &Trigger) -> bool {
    match trigger {
        Trigger::Default | Trigger::AfterWatermark { .. } => true,
        Trigger::AfterProcessingTime { .. } | Trigger::AfterCount(_) | Trigger::Never => false,
        Trigger::AfterEach(ts) => ts.first().is_some_and(watermark_sees_first_element),
        Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => {
            ts.iter().any(watermark_sees_first_element)
        }
        Trigger::Repeatedly(t) => watermark_sees_first_element(t),
        Trigger::OrFinally(a, b) => {
            watermark_sees_first_element(a) || watermark_sees_first_element(b)
        }
    }
}

/// Whether `trigger` has a watermark part anywhere.
pub fn has_watermark_part(trigger: &Trigger) -> bool {
    match trigger {
        Trigger::Default | Trigger::AfterWatermark { .. } => true,
        Trigger::AfterProcessingTime { .. } | Trigger::AfterCount(_) | Trigger::Never => false,
        Trigger::AfterEach(ts) | Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => {
            ts.iter().any(has_watermark_part)
        }
        Trigger::Repeatedly(t) => has_watermark_part(t),
        Trigger::OrFinally(a, b) => has_watermark_part(a) || has_watermark_part(b),
    }
}

fn align(t: Timestamp, alignment: Option<(Duration, Timestamp)>) -> Timestamp {
    match alignment {
        None => t,
        Some((period, offset)) => {
            let p = period.as_micros();
            let since = (t.as_micros().saturating_sub(offset.as_micros())).rem_euclid(p);
            if since == 0 {
                t
            } else {
                t + Duration::from_micros(p - since)
            }
        }
    }
}

fn first_unfinished(children: &[TriggerState]) -> Option<usize> {
    children.iter().position(|c| !c.finished)
}

/// Feeds an element to each of `children` (with their states) and says
/// whether a watermark part saw it before the end of the window.
fn feed<'a>(
    children: impl Iterator<Item = (&'a Trigger, &'a mut TriggerState)>,
    ctx: &TriggerContext,
) -> bool {
    children.fold(false, |timer, (t, c)| on_element(t, c, ctx) | timer)
}

/// Records an element (of a window that is not closed). Returns whether a
/// watermark part of the trigger saw it before the end of the window (Beam's
/// watermark triggers set their end-of-window timer then).
pub fn on_element(t: &Trigger, s: &mut TriggerState, ctx: &TriggerContext) -> bool {
    match (t, &mut s.node) {
        (Trigger::Default, _) => !ctx.past_end_of_window(),
        (
            Trigger::AfterWatermark { early, late },
            Node::Watermark {
                is_late,
                early: es,
                late: ls,
            },
        ) => {
            let mut timer = !ctx.past_end_of_window();
            if ctx.merging || !*is_late {
                if let (Some(t), Some(s)) = (early, es) {
                    timer |= on_element(t, s, ctx);
                }
            }
            if ctx.merging || *is_late {
                if let (Some(t), Some(s)) = (late, ls) {
                    timer |= on_element(t, s, ctx);
                }
            }
            timer
        }
        (Trigger::AfterProcessingTime { delay, alignment }, Node::ProcessingTime { deadline }) => {
            if deadline.is_none() {
                *deadline = Some(align(ctx.now + *delay, *alignment));
            }
            false
        }
        (Trigger::AfterCount(_), Node::Count(n)) => {
            *n = n.saturating_add(1);
            false
        }
        (Trigger::AfterEach(ts), Node::Children(cs)) if !ctx.merging => {
            first_unfinished(cs).is_some_and(|i| on_element(&ts[i], &mut cs[i], ctx))
        }
        (Trigger::AfterAll(ts), Node::Children(cs)) => feed(
            ts.iter().zip(cs.iter_mut()).filter(|(_, c)| !c.finished),
            ctx,
        ),
        (Trigger::AfterEach(ts) | Trigger::AfterFirst(ts), Node::Children(cs)) => {
            feed(ts.iter().zip(cs.iter_mut()), ctx)
        }
        (Trigger::Repeatedly(t), Node::Children(cs)) => on_element(t, &mut cs[0], ctx),
        (Trigger::OrFinally(a, b), Node::Children(cs)) => {
            feed([&**a, &**b].into_iter().zip(cs.iter_mut()), ctx)
        }
        _ => false,
    }
}

/// Whether the trigger is ready to fire.
pub fn should_fire(t: &Trigger, s: &TriggerState, ctx: &TriggerContext) -> bool {
    if s.finished {
        return false;
    }
    match (t, &s.node) {
        (Trigger::Default, _) => ctx.past_end_of_window(),
        (Trigger::Never, _) => false,
        (
            Trigger::AfterWatermark { early, late },
            Node::Watermark {
                is_late,
                early: es,
                late: ls,
            },
        ) => {
            if !*is_late {
                ctx.past_end_of_window()
                    || matches!((early, es), (Some(t), Some(s)) if should_fire(t, s, ctx))
            } else {
                matches!((late, ls), (Some(t), Some(s)) if should_fire(t, s, ctx))
            }
        }
        (Trigger::AfterProcessingTime { .. }, Node::ProcessingTime { deadline }) => {
            deadline.is_some_and(|d| ctx.now >= d)
        }
        (Trigger::AfterCount(n), Node::Count(c)) => c >= n,
        (Trigger::AfterEach(ts), Node::Children(cs)) => {
            first_unfinished(cs).is_some_and(|i| should_fire(&ts[i], &cs[i], ctx))
        }
        (Trigger::AfterFirst(ts), Node::Children(cs)) => ts
            .iter()
            .zip(cs)
            .any(|(t, c)| c.finished || should_fire(t, c, ctx)),
        (Trigger::AfterAll(ts), Node::Children(cs)) => ts
            .iter()
            .zip(cs)
            .all(|(t, c)| c.finished || should_fire(t, c, ctx)),
        (Trigger::Repeatedly(t), Node::Children(cs)) => should_fire(t, &cs[0], ctx),
        (Trigger::OrFinally(a, b), Node::Children(cs)) => {
            should_fire(a, &cs[0], ctx) || should_fire(b, &cs[1], ctx)
        }
        _ => false,
    }
}

/// Fires the trigger (it was ready); updates its finished bits.
pub fn on_fire(t: &Trigger, s: &mut TriggerState, ctx: &TriggerContext) {
    if s.finished {
        return;
    }
    match (t, &mut s.node) {
        (
            Trigger::AfterWatermark { early, late },
            Node::Watermark {
                is_late,
                early: es,
                late: ls,
            },
        ) => {
            if !*is_late {
                if ctx.past_end_of_window() {
                    // The end-of-window firing: the late firings start afresh.
                    *is_late = true;
                    if let (Some(t), Some(st)) = (early, es) {
                        **st = TriggerState::new(t);
                    }
                    match (late, ls) {
                        (Some(t), Some(st)) => **st = TriggerState::new(t),
                        _ => s.finished = true,
                    }
                } else if let (Some(t), Some(st)) = (early, es) {
                    fire_repeated(t, st, ctx);
                }
            } else if let (Some(t), Some(st)) = (late, ls) {
                fire_repeated(t, st, ctx);
            }
        }
        (Trigger::AfterProcessingTime { .. } | Trigger::AfterCount(_), _) => s.finished = true,
        (Trigger::AfterEach(ts), Node::Children(cs)) => {
            if let Some(i) = first_unfinished(cs) {
                on_fire(&ts[i], &mut cs[i], ctx);
            }
            if ctx.merging {
                // Every child counted the elements of the pane just fired.
                for (t, c) in ts.iter().zip(cs.iter_mut()) {
                    clear(t, c);
                }
            }
            s.finished = first_unfinished(cs).is_none();
        }
        (Trigger::AfterFirst(ts), Node::Children(cs)) => {
            for (t, c) in ts.iter().zip(cs.iter_mut()) {
                if should_fire(t, c, ctx) {
                    on_fire(t, c, ctx);
                } else {
                    clear(t, c);
                }
            }
            s.finished = true;
        }
        (Trigger::AfterAll(ts), Node::Children(cs)) => {
            for (t, c) in ts.iter().zip(cs.iter_mut()) {
                on_fire(t, c, ctx);
            }
            s.finished = true;
        }
        (Trigger::Repeatedly(t), Node::Children(cs)) => fire_repeated(t, &mut cs[0], ctx),
        (Trigger::OrFinally(a, b), Node::Children(cs)) => {
            if should_fire(b, &cs[1], ctx) {
                on_fire(b, &mut cs[1], ctx);
                clear(a, &mut cs[0]);
            } else {
                on_fire(a, &mut cs[0], ctx);
            }
            s.finished = cs[0].finished || cs[1].finished;
        }
        _ => {}
    }
}

/// Fires a repeated trigger: once finished, it starts afresh.
fn fire_repeated(t: &Trigger, s: &mut TriggerState, ctx: &TriggerContext) {
    on_fire(t, s, ctx);
    if s.finished {
        *s = TriggerState::new(t);
    }
}

/// Forgets what the trigger counted (elements, deadlines) but not which of
/// its parts finished (Beam's `clear`).
fn clear(t: &Trigger, s: &mut TriggerState) {
    match (t, &mut s.node) {
        (
            Trigger::AfterWatermark { early, late },
            Node::Watermark {
                early: es,
                late: ls,
                ..
            },
        ) => {
            if let (Some(t), Some(st)) = (early, es) {
                clear(t, st);
            }
            if let (Some(t), Some(st)) = (late, ls) {
                clear(t, st);
            }
        }
        (_, Node::ProcessingTime { deadline }) => *deadline = None,
        (_, Node::Count(n)) => *n = 0,
        (_, Node::Children(cs)) => {
            for (t, c) in children_of(t).into_iter().zip(cs.iter_mut()) {
                clear(t, c);
            }
        }
        _ => {}
    }
}

/// The sub-triggers of a composite trigger, in the order of its state's children.
fn children_of(t: &Trigger) -> Vec<&Trigger> {
    match t {
        Trigger::AfterEach(ts) | Trigger::AfterFirst(ts) | Trigger::AfterAll(ts) => {
            ts.iter().collect()
        }
        Trigger::Repeatedly(c) => vec![&**c],
        Trigger::OrFinally(a, b) => vec![&**a, &**b],
        _ => Vec::new(),
    }
}

/// The trigger state of a window into which windows with `states` merge
/// (Beam's `onMerge`). `into`: the index in `states` of the merged window's
/// own state, if it is one of the merging windows; `ctx`: the merged window's.
pub fn merge(
    t: &Trigger,
    states: Vec<TriggerState>,
    into: Option<usize>,
    ctx: &TriggerContext,
) -> TriggerState {
    if states.is_empty() {
        return TriggerState::new(t);
    }
    let finished_in_any = states.iter().any(|s| s.finished);
    let finished_in_into = into.is_some_and(|i| states.get(i).is_some_and(|s| s.finished));
    let nodes = states.into_iter().map(|s| s.node);
    let (finished, node) = match t {
        Trigger::Default | Trigger::Never => (false, Node::Leaf),
        Trigger::AfterCount(_) => {
            let total = nodes
                .map(|n| match n {
                    Node::Count(c) => c,
                    _ => 0,
                })
                .fold(0u64, u64::saturating_add);
            let count = if finished_in_any { 0 } else { total };
            (finished_in_any, Node::Count(count))
        }
        Trigger::AfterProcessingTime { .. } => {
            let earliest = nodes
                .filter_map(|n| match n {
                    Node::ProcessingTime { deadline } => deadline,
                    _ => None,
                })
                .min();
            let deadline = if finished_in_into { None } else { earliest };
            (finished_in_into, Node::ProcessingTime { deadline })
        }
        Trigger::AfterWatermark { early, late } => {
            let (mut late_in_all, mut earlies, mut lates) = (true, Vec::new(), Vec::new());
            for n in nodes {
                if let Node::Watermark {
                    is_late,
                    early: e,
                    late: l,
                } = n
                {
                    late_in_all &= is_late;
                    earlies.extend(e.map(|b| *b));
                    lates.extend(l.map(|b| *b));
                }
            }
            let is_late = late_in_all && ctx.past_end_of_window();
            let early = early.as_deref().map(|t| {
                let mut s = if is_late {
                    TriggerState::new(t)
                } else {
                    merge(t, earlies, into, ctx)
                };
                s.finished = false;
                Box::new(s)
            });
            let late = late.as_deref().map(|t| {
                Box::new(if is_late {
                    merge(t, lates, into, ctx)
                } else {
                    TriggerState::new(t)
                })
            });
            let finished = is_late && late.is_none();
            (
                finished,
                Node::Watermark {
                    is_late,
                    early,
                    late,
                },
            )
        }
        composite => {
            let children = children_of(composite);
            let mut per_child: Vec<Vec<TriggerState>> =
                children.iter().map(|_| Vec::new()).collect();
            for n in nodes {
                if let Node::Children(cs) = n {
                    for (states, c) in per_child.iter_mut().zip(cs) {
                        states.push(c);
                    }
                }
            }
            let in_turn = matches!(composite, Trigger::AfterEach(_));
            let mut earlier_finished = true;
            let cs: Vec<TriggerState> = children
                .iter()
                .zip(per_child)
                .map(|(t, states)| {
                    // AfterEach: children after the first unfinished one start afresh.
                    if in_turn && !earlier_finished {
                        return TriggerState::new(t);
                    }
                    let s = merge(t, states, into, ctx);
                    earlier_finished &= s.finished;
                    s
                })
                .collect();
            let finished = match composite {
                Trigger::AfterEach(_) | Trigger::AfterAll(_) => cs.iter().all(|c| c.finished),
                Trigger::AfterFirst(_) | Trigger::OrFinally(..) => cs.iter().any(|c| c.finished),
                _ => false,
            };
            (finished, Node::Children(cs))
        }
    };
    TriggerState { finished, node }
}

/// The earliest processing time at which the trigger may become ready.
pub fn next_deadline(t: &Trigger, s: &TriggerState) -> Option<Timestamp> {
    if s.finished {
        return None;
    }
    let min = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    match (t, &s.node) {
        (_, Node::ProcessingTime { deadline }) => *deadline,
        (
            Trigger::AfterWatermark { early, late },
            Node::Watermark {
                is_late,
                early: es,
                late: ls,
            },
        ) => {
            let pick = if *is_late { (late, ls) } else { (early, es) };
            match pick {
                (Some(t), Some(s)) => next_deadline(t, s),
                _ => None,
            }
        }
        (Trigger::AfterEach(ts), Node::Children(cs)) => {
            first_unfinished(cs).and_then(|i| next_deadline(&ts[i], &cs[i]))
        }
        (Trigger::AfterFirst(ts) | Trigger::AfterAll(ts), Node::Children(cs)) => ts
            .iter()
            .zip(cs)
            .fold(None, |acc, (t, c)| min(acc, next_deadline(t, c))),
        (Trigger::Repeatedly(t), Node::Children(cs)) => next_deadline(t, &cs[0]),
        (Trigger::OrFinally(a, b), Node::Children(cs)) => {
            min(next_deadline(a, &cs[0]), next_deadline(b, &cs[1]))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "trigger_state_tests.rs"]
mod tests;
