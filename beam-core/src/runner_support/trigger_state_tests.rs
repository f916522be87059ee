//! Unit tests of the trigger state machines.

use super::*;

fn ctx(wm: i64, now: i64) -> TriggerContext {
    TriggerContext {
        window_max: Timestamp::from_micros(9),
        input_watermark: Timestamp::from_micros(wm),
        now: Timestamp::from_micros(now),
        merging: false,
    }
}

fn merging(wm: i64) -> TriggerContext {
    TriggerContext {
        merging: true,
        ..ctx(wm, 0)
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
    let m = merge(&t, vec![a, b], Some(0), &ctx(0, 0));
    assert!(should_fire(&t, &m, &ctx(0, 0)));
    assert_eq!(next_deadline(&t, &m), Some(Timestamp::from_micros(7)));
}

#[test]
fn after_all_and_after_first_fire_once_and_finish() {
    // Beam Java's AfterAll/AfterFirst finish after their one firing, even if
    // a child could fire again.
    let c = ctx(0, 0);
    let all = Trigger::AfterAll(vec![
        Trigger::repeatedly(Trigger::after_count(1)),
        Trigger::after_count(2),
    ]);
    let mut s = TriggerState::new(&all);
    on_element(&all, &mut s, &c);
    assert!(!should_fire(&all, &s, &c));
    on_element(&all, &mut s, &c);
    assert!(should_fire(&all, &s, &c));
    on_fire(&all, &mut s, &c);
    assert!(s.is_finished());

    let first = Trigger::AfterFirst(vec![
        Trigger::repeatedly(Trigger::after_count(1)),
        Trigger::after_count(5),
    ]);
    let mut s = TriggerState::new(&first);
    on_element(&first, &mut s, &c);
    assert!(should_fire(&first, &s, &c));
    on_fire(&first, &mut s, &c);
    assert!(s.is_finished());
}

#[test]
fn only_a_watermark_part_that_sees_an_element_asks_for_the_end_of_window() {
    let t = Trigger::AfterEach(vec![Trigger::after_count(1), Trigger::after_watermark()]);
    assert!(!watermark_sees_first_element(&t) && has_watermark_part(&t));
    let mut s = TriggerState::new(&t);
    let c = ctx(0, 0);
    assert!(
        !on_element(&t, &mut s, &c),
        "the count sees the first element"
    );
    on_fire(&t, &mut s, &c);
    assert!(on_element(&t, &mut s, &c), "then the watermark part");
    assert!(!on_element(&t, &mut s, &ctx(10, 0)), "not after the end");
    assert!(watermark_sees_first_element(&Trigger::repeatedly(
        Trigger::after_watermark().with_early_firings(Trigger::after_count(3))
    )));
}

#[test]
fn a_merge_revives_a_watermark_trigger_unless_late_in_every_window() {
    let t = Trigger::after_watermark().with_late_firings(Trigger::after_count(2));
    let late = |wm| {
        let mut s = TriggerState::new(&t);
        on_fire(&t, &mut s, &merging(wm));
        s
    };
    // One window past its end-of-window firing, one not: the merged window
    // (whose end is past) fires its end-of-window pane again.
    let m = merge(
        &t,
        vec![late(10), TriggerState::new(&t)],
        Some(0),
        &merging(10),
    );
    assert!(should_fire(&t, &m, &merging(10)));
    // Both late and the merged window's end past: only the late firings,
    // which add up.
    let mut a = late(10);
    let mut b = late(10);
    on_element(&t, &mut a, &merging(10));
    on_element(&t, &mut b, &merging(10));
    let m = merge(&t, vec![a.clone(), b.clone()], None, &merging(10));
    assert!(should_fire(&t, &m, &merging(10)));
    let m = merge(&t, vec![a], None, &merging(10));
    assert!(!should_fire(&t, &m, &merging(10)));
    // Both late but the merged window ends later: revived, late firings afresh.
    let m = merge(&t, vec![late(10), b], None, &merging(5));
    assert!(!should_fire(&t, &m, &merging(5)));
    assert!(should_fire(&t, &m, &merging(10)));
}

#[test]
fn after_each_merges_children_in_turn() {
    let t = Trigger::AfterEach(vec![Trigger::after_count(2), Trigger::after_count(2)]);
    let c = merging(0);
    // Window a: first child fired; window b: one element, seen by both children.
    let mut a = TriggerState::new(&t);
    on_element(&t, &mut a, &c);
    on_element(&t, &mut a, &c);
    on_fire(&t, &mut a, &c);
    let mut b = TriggerState::new(&t);
    on_element(&t, &mut b, &c);
    // The first child is finished in a, so finished; the second counts b's element.
    let mut m = merge(&t, vec![a, b.clone()], None, &c);
    assert!(!should_fire(&t, &m, &c));
    on_element(&t, &mut m, &c);
    assert!(should_fire(&t, &m, &c));
    // Neither finished the first child: the second starts afresh.
    let mut m = merge(&t, vec![b.clone(), b], None, &c);
    assert!(should_fire(&t, &m, &c), "the first child counted two");
    on_fire(&t, &mut m, &c);
    assert!(!should_fire(&t, &m, &c), "the pane's elements were cleared");
}
