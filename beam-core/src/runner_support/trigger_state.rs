//! The state machine that evaluates a [`Trigger`] for one key and window.
//!
//! Each node of the trigger tree has a state (element counts, processing-time
//! deadlines, whether the watermark part has fired) and a finished bit. The
//! grouping calls [`on_element`] for each element, asks [`should_fire`] after each
//! bundle and at timers, and calls [`on_fire`] when it fires a pane. A finished
//! top-level trigger closes its window.

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

/// Records an element.
pub fn on_element(t: &Trigger, s: &mut TriggerState, ctx: &TriggerContext) {
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
                if let (Some(t), Some(s)) = (early, es) {
                    on_element(t, s, ctx);
                }
            } else if let (Some(t), Some(s)) = (late, ls) {
                on_element(t, s, ctx);
            }
        }
        (Trigger::AfterProcessingTime { delay, alignment }, Node::ProcessingTime { deadline })
            if deadline.is_none() =>
        {
            *deadline = Some(align(ctx.now + *delay, *alignment));
        }
        (Trigger::AfterCount(_), Node::Count(n)) => *n += 1,
        (Trigger::AfterEach(ts), Node::Children(cs)) => {
            if let Some(i) = first_unfinished(cs) {
                on_element(&ts[i], &mut cs[i], ctx);
            }
        }
        (Trigger::AfterFirst(ts) | Trigger::AfterAll(ts), Node::Children(cs)) => {
            for (t, c) in ts.iter().zip(cs.iter_mut()) {
                on_element(t, c, ctx);
            }
        }
        (Trigger::Repeatedly(t), Node::Children(cs)) => on_element(t, &mut cs[0], ctx),
        (Trigger::OrFinally(a, b), Node::Children(cs)) => {
            on_element(a, &mut cs[0], ctx);
            on_element(b, &mut cs[1], ctx);
        }
        _ => {}
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
        (Trigger::AfterFirst(ts), Node::Children(cs)) => {
            ts.iter().zip(cs).any(|(t, c)| should_fire(t, c, ctx))
        }
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
                    *is_late = true;
                    if late.is_none() {
                        s.finished = true;
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
            s.finished = first_unfinished(cs).is_none();
        }
        (Trigger::AfterFirst(ts), Node::Children(cs)) => {
            for (t, c) in ts.iter().zip(cs.iter_mut()) {
                if should_fire(t, c, ctx) {
                    on_fire(t, c, ctx);
                } else {
                    *c = TriggerState::new(t);
                }
            }
            s.finished = cs.iter().any(|c| c.finished);
        }
        (Trigger::AfterAll(ts), Node::Children(cs)) => {
            for (t, c) in ts.iter().zip(cs.iter_mut()) {
                on_fire(t, c, ctx);
            }
            s.finished = cs.iter().all(|c| c.finished);
        }
        (Trigger::Repeatedly(t), Node::Children(cs)) => fire_repeated(t, &mut cs[0], ctx),
        (Trigger::OrFinally(a, b), Node::Children(cs)) => {
            if should_fire(b, &cs[1], ctx) {
                on_fire(b, &mut cs[1], ctx);
                cs[0] = TriggerState::new(a);
            } else {
                on_fire(a, &mut cs[0], ctx);
            }
            s.finished = cs[0].finished || cs[1].finished;
        }
        _ => {}
    }
}

fn fire_repeated(t: &Trigger, s: &mut TriggerState, ctx: &TriggerContext) {
    on_fire(t, s, ctx);
    if s.finished {
        *s = TriggerState::new(t);
    }
}

/// Merges the states of windows being merged into one window.
pub fn merge(t: &Trigger, states: Vec<TriggerState>) -> TriggerState {
    let mut it = states.into_iter();
    let Some(mut acc) = it.next() else {
        return TriggerState::new(t);
    };
    for s in it {
        merge_into(t, &mut acc, s);
    }
    acc
}

fn merge_into(t: &Trigger, acc: &mut TriggerState, other: TriggerState) {
    acc.finished |= other.finished;
    match (t, &mut acc.node, other.node) {
        (
            Trigger::AfterWatermark { early, late },
            Node::Watermark {
                is_late,
                early: ea,
                late: la,
            },
            Node::Watermark {
                is_late: l2,
                early: eb,
                late: lb,
            },
        ) => {
            *is_late |= l2;
            if let (Some(t), Some(a), Some(b)) = (early, ea.as_mut(), eb) {
                merge_into(t, a, *b);
            }
            if let (Some(t), Some(a), Some(b)) = (late, la.as_mut(), lb) {
                merge_into(t, a, *b);
            }
        }
        (_, Node::ProcessingTime { deadline: a }, Node::ProcessingTime { deadline: b }) => {
            *a = match (*a, b) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
        }
        (_, Node::Count(a), Node::Count(b)) => *a += b,
        (
            Trigger::AfterEach(ts) | Trigger::AfterFirst(ts) | Trigger::AfterAll(ts),
            Node::Children(a),
            Node::Children(b),
        ) => {
            for ((t, x), y) in ts.iter().zip(a.iter_mut()).zip(b) {
                merge_into(t, x, y);
            }
        }
        (Trigger::Repeatedly(t), Node::Children(a), Node::Children(b)) => {
            if let (Some(x), Some(y)) = (a.first_mut(), b.into_iter().next()) {
                merge_into(t, x, y);
            }
        }
        (Trigger::OrFinally(ta, tb), Node::Children(a), Node::Children(b)) => {
            let mut b = b.into_iter();
            if let (Some(y0), Some(y1)) = (b.next(), b.next()) {
                merge_into(ta, &mut a[0], y0);
                merge_into(tb, &mut a[1], y1);
            }
        }
        _ => {}
    }
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
mod tests {
    use super::*;

    fn ctx(wm: i64, now: i64) -> TriggerContext {
        TriggerContext {
            window_max: Timestamp::from_micros(9),
            input_watermark: Timestamp::from_micros(wm),
            now: Timestamp::from_micros(now),
        }
    }

    #[test]
    fn after_watermark_with_early_and_late_firings() {
        let t = Trigger::after_watermark()
            .with_early_firings(Trigger::after_count(2))
            .with_late_firings(Trigger::after_count(1));
        let mut s = TriggerState::new(&t);
        let c = ctx(0, 0);
        on_element(&t, &mut s, &c);
        assert!(!should_fire(&t, &s, &c));
        on_element(&t, &mut s, &c);
        assert!(should_fire(&t, &s, &c));
        on_fire(&t, &mut s, &c);
        assert!(!should_fire(&t, &s, &c), "early trigger repeats from zero");
        let late = ctx(10, 0);
        assert!(should_fire(&t, &s, &late), "end of window");
        on_fire(&t, &mut s, &late);
        assert!(!s.is_finished() && !should_fire(&t, &s, &late));
        on_element(&t, &mut s, &late);
        assert!(should_fire(&t, &s, &late));
    }

    #[test]
    fn processing_time_deadlines_align() {
        let t = Trigger::after_processing_time(Duration::from_micros(5))
            .aligned_to(Duration::from_micros(10), Timestamp::from_micros(3));
        let mut s = TriggerState::new(&t);
        on_element(&t, &mut s, &ctx(0, 1));
        assert_eq!(next_deadline(&t, &s), Some(Timestamp::from_micros(13)));
        assert!(!should_fire(&t, &s, &ctx(0, 12)));
        assert!(should_fire(&t, &s, &ctx(0, 13)));
    }

    #[test]
    fn after_each_runs_its_triggers_in_turn() {
        let t = Trigger::AfterEach(vec![Trigger::after_count(2), Trigger::after_count(3)]);
        let mut s = TriggerState::new(&t);
        let c = ctx(0, 0);
        for _ in 0..2 {
            on_element(&t, &mut s, &c);
        }
        assert!(should_fire(&t, &s, &c));
        on_fire(&t, &mut s, &c);
        for _ in 0..2 {
            on_element(&t, &mut s, &c);
        }
        assert!(!should_fire(&t, &s, &c));
        on_element(&t, &mut s, &c);
        on_fire(&t, &mut s, &c);
        assert!(s.is_finished());
    }

    #[test]
    fn or_finally_finishes_when_its_until_trigger_fires() {
        let t = Trigger::repeatedly(Trigger::after_count(1)).or_finally(Trigger::after_watermark());
        let mut s = TriggerState::new(&t);
        on_element(&t, &mut s, &ctx(0, 0));
        on_fire(&t, &mut s, &ctx(0, 0));
        assert!(!s.is_finished());
        on_fire(&t, &mut s, &ctx(10, 0));
        assert!(s.is_finished());
    }

    #[test]
    fn merging_adds_counts_and_keeps_the_earliest_deadline() {
        let t = Trigger::AfterFirst(vec![
            Trigger::after_count(3),
            Trigger::after_processing_time(Duration::from_micros(5)),
        ]);
        let mut a = TriggerState::new(&t);
        let mut b = TriggerState::new(&t);
        on_element(&t, &mut a, &ctx(0, 10));
        on_element(&t, &mut b, &ctx(0, 2));
        on_element(&t, &mut b, &ctx(0, 3));
        let m = merge(&t, vec![a, b]);
        assert!(should_fire(&t, &m, &ctx(0, 0)));
        assert_eq!(next_deadline(&t, &m), Some(Timestamp::from_micros(7)));
    }
}
