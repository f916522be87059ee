//! The event-time examples, run as users run them, on the bundled samples.

use std::process::Command;

fn run(bin: &str, args: &[&str]) -> String {
    let out = Command::new(bin).args(args).output().expect("example runs");
    assert!(
        out.status.success(),
        "{bin}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn total_events(lines: &str, prefix: &str) -> u64 {
    lines
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(|l| {
            let n = l
                .rsplit(": ")
                .next()
                .or_else(|| l.rsplit(", ").next())
                .expect("count");
            n.trim_end_matches(" events")
                .parse::<u64>()
                .expect("number")
        })
        .sum()
}

const EVENTS: u64 = 364;

#[test]
fn user_sessions_cover_every_event_and_split_on_gaps() {
    let out = run(env!("CARGO_BIN_EXE_user_sessions"), &["--runner", "direct"]);
    let total: u64 = out
        .lines()
        .map(|l| {
            l.rsplit(", ")
                .next()
                .unwrap()
                .trim_end_matches(" events")
                .parse::<u64>()
                .unwrap()
        })
        .sum();
    assert_eq!(total, EVENTS);
    // Every user of the sample has at least one session; some have several.
    assert!(out.lines().filter(|l| l.starts_with("user01,")).count() >= 1);
    assert!(out.lines().count() > 20, "{out}");
    assert_eq!(
        out,
        run(env!("CARGO_BIN_EXE_user_sessions"), &["--seed", "9"])
    );
}

#[test]
fn window_ops_count_the_stream_in_four_windowings() {
    let out = run(env!("CARGO_BIN_EXE_window_ops"), &[]);
    assert_eq!(total_events(&out, "Tumbling"), EVENTS);
    // Sliding windows of 10 minutes every 2 minutes see each event 5 times.
    assert_eq!(total_events(&out, "Sliding"), 5 * EVENTS);
    assert_eq!(total_events(&out, "session"), EVENTS);
    let global: Vec<u64> = out
        .lines()
        .filter(|l| l.starts_with("global"))
        .map(|l| {
            l.rsplit(": ")
                .next()
                .unwrap()
                .trim_end_matches(" events")
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(
        global.iter().max(),
        Some(&EVENTS),
        "the final global pane holds every event: {global:?}"
    );
}

#[test]
fn fraud_alert_flags_the_bursts() {
    let out = run(env!("CARGO_BIN_EXE_fraud_alert"), &[]);
    assert!(out.lines().all(|l| l.starts_with("ALERT ")), "{out}");
    let users: std::collections::BTreeSet<&str> =
        out.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(
        users.into_iter().collect::<Vec<_>>(),
        vec!["user03", "user11"]
    );
    let low = run(
        env!("CARGO_BIN_EXE_fraud_alert"),
        &["--threshold", "1000000"],
    );
    assert!(low.is_empty());
}

#[test]
fn risk_scoring_alerts_and_clears_idle_profiles() {
    let out = run(env!("CARGO_BIN_EXE_risk_scoring"), &[]);
    assert!(out.lines().any(|l| l.starts_with("ALERT user11")), "{out}");
    // Every user goes idle once after their last payment (15 users in the sample).
    assert_eq!(out.lines().filter(|l| l.starts_with("IDLE ")).count(), 15);
    assert_eq!(
        out,
        run(env!("CARGO_BIN_EXE_risk_scoring"), &["--seed", "3"])
    );
}
