//! Windowed SQL on an unbounded input: windows close as the watermark passes
//! them, and a row later than the watermark allows is dropped (and counted),
//! not added to a window already emitted; on direct and timely.

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use beam_core::{Map, Pipeline, PipelineOptions, TestStream, Timestamp};
use beam_sql::{Rows, SqlTransform, Table};
use runner_direct as _;
use runner_timely as _;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Click {
    user: String,
    at: String,
}

fn at(minute: i64, second: i64) -> (String, Timestamp) {
    let secs = 10 * 3600 + minute * 60 + second;
    (
        format!("2026-03-01 10:{minute:02}:{second:02}"),
        Timestamp::from_secs(1_772_323_200 + secs),
    )
}

fn click(user: &str, minute: i64, second: i64) -> (Click, Timestamp) {
    let (text, t) = at(minute, second);
    (
        Click {
            user: user.into(),
            at: text,
        },
        t,
    )
}

#[test]
fn windows_close_with_the_watermark_and_late_rows_are_dropped() {
    for runner in ["direct", "timely"] {
        let mut o = PipelineOptions::default();
        o.runner = runner.into();
        o.parallelism = Some(2);
        let p = Pipeline::new(o);
        let events = TestStream::new()
            .add_elements(vec![
                click("ann", 0, 5),
                click("bob", 0, 30),
                click("ann", 0, 50),
            ])
            .advance_watermark_to(at(1, 0).1)
            // Late: its minute has been emitted and allows no lateness.
            .add_elements(vec![click("bob", 0, 40), click("ann", 1, 10)])
            .advance_watermark_to_infinity();
        let clicks = p.apply("Clicks", events).unwrap();
        let table = Table::from_elements("Rows", &clicks).unwrap();
        let per_minute = p
            .apply(
                "PerMinute",
                SqlTransform::query(
                    "SELECT user, TUMBLE_START(CAST(at AS TIMESTAMP), INTERVAL '1' MINUTE) AS minute, COUNT(*) AS n
                     FROM clicks GROUP BY user, TUMBLE(CAST(at AS TIMESTAMP), INTERVAL '1' MINUTE)",
                )
                .with_table("clicks", &table),
            )
            .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        per_minute
            .rows()
            .apply(
                "Keep",
                Map::new(move |r: &Rows| {
                    let b: &RecordBatch = r.batch();
                    let users = b.column(0).as_string::<i64>();
                    let minutes = b.column(1).as_primitive::<TimestampMicrosecondType>();
                    let counts = b.column(2).as_primitive::<Int64Type>();
                    let mut out = sink.lock().unwrap();
                    for i in 0..b.num_rows() {
                        let minute = (minutes.value(i) / 60_000_000) % 60;
                        out.push((users.value(i).to_string(), minute, counts.value(i)));
                    }
                }),
            )
            .unwrap();
        let result = p.run().unwrap();
        let mut got = out.lock().unwrap().clone();
        got.sort();
        assert_eq!(
            got,
            [
                ("ann".to_string(), 0, 2),
                ("ann".to_string(), 1, 1),
                ("bob".to_string(), 0, 1)
            ],
            "{runner}"
        );
        let dropped = result
            .metrics()
            .counter("PerMinute", "dropped_due_to_lateness");
        assert_eq!(dropped, Some(1), "{runner}");
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Event {
    kind: String,
    user: String,
    at: String,
    amount: i64,
}

fn event(kind: &str, user: &str, minute: i64, second: i64, amount: i64) -> (Event, Timestamp) {
    let (at, t) = at(minute, second);
    (
        Event {
            kind: kind.into(),
            user: user.into(),
            at,
            amount,
        },
        t,
    )
}

/// Clicks and purchases of one stream aggregated per minute and joined: the
/// join matches rows of the same window only.
#[test]
fn windowed_streams_join_within_their_windows() {
    for runner in ["direct", "timely"] {
        let mut o = PipelineOptions::default();
        o.runner = runner.into();
        o.parallelism = Some(2);
        let p = Pipeline::new(o);
        let events = TestStream::new()
            .add_elements(vec![
                event("click", "ann", 0, 5, 0),
                event("click", "ann", 0, 15, 0),
                event("buy", "ann", 0, 40, 30),
            ])
            .advance_watermark_to(at(1, 0).1)
            .add_elements(vec![
                event("click", "bob", 1, 30, 0),
                event("buy", "ann", 1, 20, 7),
                event("buy", "bob", 1, 50, 12),
            ])
            .advance_watermark_to_infinity();
        let events = Table::from_elements("Rows", &p.apply("Events", events).unwrap()).unwrap();
        let joined = p
            .apply(
                "Joined",
                SqlTransform::query(
                    "SELECT c.user, c.minute, c.n, b.total
                     FROM (SELECT user, TUMBLE_START(CAST(at AS TIMESTAMP), INTERVAL '1' MINUTE) AS minute, COUNT(*) AS n
                           FROM events WHERE kind = 'click'
                           GROUP BY user, TUMBLE(CAST(at AS TIMESTAMP), INTERVAL '1' MINUTE)) c
                     JOIN (SELECT user AS buyer, SUM(amount) AS total
                           FROM events WHERE kind = 'buy'
                           GROUP BY user, TUMBLE(CAST(at AS TIMESTAMP), INTERVAL '1' MINUTE)) b
                     ON c.user = b.buyer",
                )
                .with_table("events", &events),
            )
            .unwrap();
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        joined
            .rows()
            .apply(
                "Keep",
                Map::new(move |r: &Rows| {
                    let b: &RecordBatch = r.batch();
                    let users = b.column(0).as_string::<i64>();
                    let minutes = b.column(1).as_primitive::<TimestampMicrosecondType>();
                    let counts = b.column(2).as_primitive::<Int64Type>();
                    let totals = b.column(3).as_primitive::<Int64Type>();
                    let mut out = sink.lock().unwrap();
                    for i in 0..b.num_rows() {
                        let minute = (minutes.value(i) / 60_000_000) % 60;
                        out.push((
                            users.value(i).to_string(),
                            minute,
                            counts.value(i),
                            totals.value(i),
                        ));
                    }
                }),
            )
            .unwrap();
        p.run().unwrap();
        let mut got = out.lock().unwrap().clone();
        got.sort();
        // Ann's minute-1 purchase has no click in minute 1, so no row,
        // although she clicked in minute 0.
        assert_eq!(
            got,
            [("ann".to_string(), 0, 2, 30), ("bob".to_string(), 1, 1, 12)],
            "{runner}"
        );
    }
}

/// A null or out-of-range event time fails the query, naming the row.
#[test]
fn rows_without_a_usable_event_time_fail_the_query() {
    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    struct Reading {
        sensor: String,
        micros: Option<i64>,
    }
    for (micros, wanted) in [
        (None, "has no event time"),
        (Some(i64::MAX), "outside the range of event time"),
    ] {
        let p = Pipeline::new(PipelineOptions::default());
        let rows = p
            .apply(
                "Readings",
                beam_core::Create::of(vec![
                    Reading {
                        sensor: "a".into(),
                        micros: Some(1),
                    },
                    Reading {
                        sensor: "b".into(),
                        micros,
                    },
                ]),
            )
            .unwrap();
        let table = Table::from_elements("Rows", &rows).unwrap();
        p.apply(
            "PerHour",
            SqlTransform::query(
                "SELECT sensor, COUNT(*) AS n FROM t
                 GROUP BY sensor, TUMBLE(CAST(micros AS TIMESTAMP), INTERVAL '1' HOUR)",
            )
            .with_table("t", &table),
        )
        .unwrap();
        let e = p.run().unwrap_err().to_string();
        assert!(e.contains(wanted) && e.contains("PerHour"), "{e}");
    }
}
