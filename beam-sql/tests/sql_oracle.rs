//! SQL queries on generated data, run on direct, rayon and timely, and compared
//! row for row with DuckDB (installed from PyPI by scripts/test.sh, which sets
//! `BEAM_SQL_ORACLE_PYTHON`).

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use beam_core::{Map, Pipeline, PipelineOptions, ToList, WindowFn, WindowInto};
use beam_sql::read::{read, Format};
use beam_sql::{Rows, SqlTransform};
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;
use serde_json::Value;
use std::sync::{Arc, Mutex};

const QUERIES: &[&str] = &[
    // Projections and expressions.
    "SELECT id, x, y FROM t",
    "SELECT * FROM t",
    "SELECT id, x + 1 AS x1, x * 2 - 3 AS x2, y / 2 AS half FROM t",
    "SELECT id, x % 7 AS m, -x AS neg FROM t",
    "SELECT id, x / 4 AS q FROM t",
    "SELECT id, d * 2 AS dd, d + x AS dx FROM t",
    "SELECT id, y + x AS yx, d + y AS dy FROM t",
    "SELECT id, g || '-' || h AS gh FROM t",
    "SELECT id, UPPER(s) AS u, LOWER(g) AS l, LENGTH(s) AS n FROM t",
    "SELECT id, SUBSTRING(s, 2, 3) AS sub, SUBSTR(s, 3) AS tail FROM t",
    "SELECT id, CONCAT(g, s) AS c, COALESCE(x, -1) AS cx FROM t",
    "SELECT id, COALESCE(s, g, 'none') AS c FROM t",
    "SELECT id, NULLIF(h, 'b') AS n FROM t",
    "SELECT id, ABS(x - 500) AS a, FLOOR(y) AS f, CEIL(y) AS c FROM t",
    "SELECT id, ROUND(y, 1) AS r FROM t",
    "SELECT id, REPLACE(s, 'a', 'A') AS r, TRIM(s) AS tr FROM t",
    "SELECT id, CAST(x AS DOUBLE) / 3 AS c, CAST(id AS VARCHAR) AS sid FROM t",
    "SELECT id, CASE WHEN x > 500 THEN 'big' WHEN x > 100 THEN 'mid' ELSE 'small' END AS size FROM t",
    "SELECT id, CASE h WHEN 'a' THEN 1 WHEN 'b' THEN 2 END AS hn FROM t",
    "SELECT id, CASE WHEN y IS NULL THEN 0.0 ELSE y END AS y0 FROM t",
    // Filters, with nulls.
    "SELECT id FROM t WHERE x > 500",
    "SELECT id FROM t WHERE x IS NULL",
    "SELECT id FROM t WHERE x IS NOT NULL AND y < 0.5",
    "SELECT id FROM t WHERE g = 'alpha' OR x < 10",
    "SELECT id FROM t WHERE NOT (x > 100)",
    "SELECT id FROM t WHERE g IN ('alpha', 'gamma')",
    "SELECT id FROM t WHERE g NOT IN ('alpha', 'gamma')",
    "SELECT id FROM t WHERE x BETWEEN 100 AND 200",
    "SELECT id FROM t WHERE x NOT BETWEEN 100 AND 900",
    "SELECT id FROM t WHERE s LIKE 'a%'",
    "SELECT id FROM t WHERE s NOT LIKE '%e%'",
    "SELECT id FROM t WHERE s ILIKE 'B%'",
    "SELECT id FROM t WHERE d > 50.25",
    "SELECT id FROM t WHERE y > x / 1000.0",
    "SELECT id FROM t WHERE (x > 100) IS TRUE",
    "SELECT id FROM t WHERE x = NULL",
    "SELECT id, s FROM t WHERE s <> 'bob' AND h <> 'c'",
    // Aggregates over the whole table.
    "SELECT COUNT(*) AS n FROM t",
    "SELECT COUNT(x) AS n, COUNT(DISTINCT g) AS groups FROM t",
    "SELECT SUM(x) AS sx, SUM(y) AS sy, SUM(d) AS sd FROM t",
    "SELECT AVG(x) AS ax, AVG(y) AS ay, AVG(d) AS ad FROM t",
    "SELECT MIN(x) AS a, MAX(x) AS b, MIN(s) AS c, MAX(s) AS e, MIN(d) AS f, MAX(y) AS m FROM t",
    "SELECT COUNT(*) AS n, SUM(x) AS s FROM t WHERE x > 100000",
    "SELECT SUM(x) / COUNT(x) AS mean FROM t",
    // Group by.
    "SELECT g, COUNT(*) AS n FROM t GROUP BY g",
    "SELECT g, h, COUNT(*) AS n, SUM(x) AS sx FROM t GROUP BY g, h",
    "SELECT g, AVG(y) AS ay, MIN(y) AS mi, MAX(y) AS ma FROM t GROUP BY g",
    "SELECT h, SUM(d) AS sd, AVG(d) AS ad FROM t GROUP BY h",
    "SELECT g, COUNT(DISTINCT h) AS hs, COUNT(DISTINCT s) AS ss FROM t GROUP BY g",
    "SELECT x % 3 AS r, COUNT(*) AS n FROM t GROUP BY x % 3",
    "SELECT g, COUNT(*) AS n FROM t GROUP BY 1",
    "SELECT UPPER(g) AS ug, SUM(x) AS sx FROM t GROUP BY UPPER(g)",
    "SELECT g, SUM(x) + COUNT(*) AS v FROM t GROUP BY g",
    "SELECT g, MAX(x) - MIN(x) AS spread FROM t WHERE x IS NOT NULL GROUP BY g",
    "SELECT CASE WHEN x > 500 THEN 'big' ELSE 'small' END AS size, COUNT(*) AS n FROM t GROUP BY CASE WHEN x > 500 THEN 'big' ELSE 'small' END",
    // Having.
    "SELECT g, COUNT(*) AS n FROM t GROUP BY g HAVING COUNT(*) > 390",
    "SELECT g, h, SUM(x) AS sx FROM t GROUP BY g, h HAVING SUM(x) > 60000 AND h <> 'a'",
    "SELECT h, AVG(y) AS ay FROM t GROUP BY h HAVING MAX(x) > 990",
    // Order by and limit.
    "SELECT id, x FROM t ORDER BY x DESC, id LIMIT 10",
    "SELECT id, x FROM t ORDER BY x, id LIMIT 5 OFFSET 3",
    "SELECT id, y FROM t ORDER BY y NULLS FIRST, id LIMIT 7",
    "SELECT id FROM t ORDER BY id DESC LIMIT 3",
    "SELECT g, SUM(x) AS sx FROM t GROUP BY g ORDER BY sx DESC NULLS LAST",
    "SELECT g, COUNT(*) AS n FROM t GROUP BY g ORDER BY 2 DESC, 1",
    "SELECT id, s FROM t ORDER BY LENGTH(s) DESC, id LIMIT 4",
    "SELECT g, h, COUNT(*) AS n FROM t GROUP BY g, h ORDER BY COUNT(*) DESC, g, h LIMIT 5",
    // Joins.
    "SELECT a.id, b.id AS bid FROM t a JOIN t b ON a.id = b.x WHERE a.id < 50",
    "SELECT a.id, b.g FROM t a LEFT JOIN (SELECT id, g FROM t WHERE id % 3 = 0) b ON a.id = b.id WHERE a.id < 100",
    "SELECT a.id, b.id AS bid FROM (SELECT id, x FROM t WHERE id < 100) a RIGHT JOIN (SELECT id, x FROM t WHERE id < 200) b ON a.x = b.x",
    "SELECT a.id, b.id AS bid, a.x FROM (SELECT id, x FROM t WHERE id < 300) a FULL JOIN (SELECT id, x FROM t WHERE id >= 200 AND id < 400) b ON a.x = b.x",
    "SELECT a.g, COUNT(*) AS n, SUM(b.x) AS sx FROM t a JOIN t b ON a.g = b.g AND a.h = b.h WHERE a.id < 100 AND b.id < 100 GROUP BY a.g",
    "SELECT a.id, b.s FROM t a INNER JOIN t b ON b.id = a.id + 1 WHERE a.x > 900 ORDER BY a.id LIMIT 20",
    // Distinct, union, subqueries.
    "SELECT DISTINCT g FROM t",
    "SELECT DISTINCT g, h FROM t",
    "SELECT g FROM t WHERE x < 50 UNION ALL SELECT h FROM t WHERE x > 950",
    "SELECT g FROM t WHERE x < 50 UNION SELECT h FROM t WHERE x > 950",
    "SELECT g, n FROM (SELECT g, COUNT(*) AS n FROM t GROUP BY g) WHERE n > 300",
    "SELECT AVG(n) AS an FROM (SELECT h, COUNT(*) AS n FROM t GROUP BY h)",
    "SELECT g, MIN(ts) AS first, MAX(ts) AS last FROM t GROUP BY g",
];

/// Windowed aggregates, each with the same query written for DuckDB, which
/// has no `TUMBLE`, `HOP` or `SESSION`: windows there are buckets of
/// `time_bucket`, a series of window starts, or sessions numbered with
/// window functions.
const WINDOWED: &[(&str, &str)] = &[
    (
        "SELECT g, TUMBLE_START(ts, INTERVAL '1' HOUR) AS ws, TUMBLE_END(ts, INTERVAL '1' HOUR) AS we, COUNT(*) AS n, SUM(x) AS sx FROM t GROUP BY g, TUMBLE(ts, INTERVAL '1' HOUR)",
        "SELECT g, ws, ws + INTERVAL '1 hour' AS we, COUNT(*) AS n, SUM(x) AS sx FROM (SELECT *, time_bucket(INTERVAL '1 hour', ts) AS ws FROM t) GROUP BY g, ws",
    ),
    (
        "SELECT TUMBLE_START(ts, INTERVAL '15' MINUTE) AS ws, AVG(y) AS ay, MAX(d) AS md FROM t WHERE x > 100 GROUP BY TUMBLE(ts, INTERVAL '15' MINUTE)",
        "SELECT ws, AVG(y) AS ay, MAX(d) AS md FROM (SELECT *, time_bucket(INTERVAL '15 minutes', ts) AS ws FROM t WHERE x > 100) GROUP BY ws",
    ),
    (
        "SELECT h, TUMBLE_END(ts, INTERVAL '2' HOUR) AS we, COUNT(*) AS n FROM t GROUP BY h, TUMBLE(ts, INTERVAL '2' HOUR) HAVING COUNT(*) > 25",
        "SELECT h, ws + INTERVAL '2 hours' AS we, COUNT(*) AS n FROM (SELECT *, time_bucket(INTERVAL '2 hours', ts) AS ws FROM t) GROUP BY h, ws HAVING COUNT(*) > 25",
    ),
    (
        "SELECT TUMBLE_START(ts, INTERVAL '6 hours') AS ws, COUNT(DISTINCT g) AS gs, COUNT(*) AS n FROM t GROUP BY TUMBLE(ts, INTERVAL '6 hours')",
        "SELECT ws, COUNT(DISTINCT g) AS gs, COUNT(*) AS n FROM (SELECT *, time_bucket(INTERVAL '6 hours', ts) AS ws FROM t) GROUP BY ws",
    ),
    (
        "SELECT g, HOP_START(ts, INTERVAL '30' MINUTE, INTERVAL '2' HOUR) AS ws, HOP_END(ts, INTERVAL '30' MINUTE, INTERVAL '2' HOUR) AS we, COUNT(*) AS n, SUM(x) AS sx FROM t GROUP BY g, HOP(ts, INTERVAL '30' MINUTE, INTERVAL '2' HOUR)",
        "SELECT g, ws, ws + INTERVAL '2 hours' AS we, COUNT(*) AS n, SUM(x) AS sx FROM (SELECT *, unnest(generate_series(time_bucket(INTERVAL '30 minutes', ts) - INTERVAL '90 minutes', time_bucket(INTERVAL '30 minutes', ts), INTERVAL '30 minutes')) AS ws FROM t) GROUP BY g, ws",
    ),
    (
        "SELECT h, HOP_START(ts, INTERVAL '20' MINUTE, INTERVAL '50' MINUTE) AS ws, COUNT(*) AS n, MIN(x) AS mx FROM t GROUP BY h, HOP(ts, INTERVAL '20' MINUTE, INTERVAL '50' MINUTE)",
        "SELECT h, ws, COUNT(*) AS n, MIN(x) AS mx FROM (SELECT *, unnest(generate_series(time_bucket(INTERVAL '20 minutes', ts) - INTERVAL '40 minutes', time_bucket(INTERVAL '20 minutes', ts), INTERVAL '20 minutes')) AS ws FROM t) WHERE ws + INTERVAL '50 minutes' > ts GROUP BY h, ws",
    ),
    (
        "SELECT g, SESSION_START(ts, INTERVAL '5' MINUTE) AS ws, SESSION_END(ts, INTERVAL '5' MINUTE) AS we, COUNT(*) AS n, SUM(x) AS sx FROM t GROUP BY g, SESSION(ts, INTERVAL '5' MINUTE)",
        "SELECT g, MIN(ts) AS ws, MAX(ts) + INTERVAL '5 minutes' AS we, COUNT(*) AS n, SUM(x) AS sx FROM (SELECT *, SUM(CASE WHEN prev IS NULL OR ts >= prev + INTERVAL '5 minutes' THEN 1 ELSE 0 END) OVER (PARTITION BY g ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid FROM (SELECT *, LAG(ts) OVER (PARTITION BY g ORDER BY ts) AS prev FROM t)) GROUP BY g, sid",
    ),
    (
        "SELECT g, h, SESSION_END(ts, INTERVAL '20' MINUTE) AS we, COUNT(*) AS n FROM t WHERE x IS NOT NULL GROUP BY g, h, SESSION(ts, INTERVAL '20' MINUTE)",
        "SELECT g, h, MAX(ts) + INTERVAL '20 minutes' AS we, COUNT(*) AS n FROM (SELECT *, SUM(CASE WHEN prev IS NULL OR ts >= prev + INTERVAL '20 minutes' THEN 1 ELSE 0 END) OVER (PARTITION BY g, h ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid FROM (SELECT *, LAG(ts) OVER (PARTITION BY g, h ORDER BY ts) AS prev FROM t WHERE x IS NOT NULL)) GROUP BY g, h, sid",
    ),
    (
        "SELECT ws, n FROM (SELECT TUMBLE_START(ts, INTERVAL '1' HOUR) AS ws, COUNT(*) AS n FROM t GROUP BY TUMBLE(ts, INTERVAL '1' HOUR)) WHERE n > 80",
        "SELECT ws, n FROM (SELECT time_bucket(INTERVAL '1 hour', ts) AS ws, COUNT(*) AS n FROM t GROUP BY ws) WHERE n > 80",
    ),
];

/// A table of `rows` rows with nulls in every nullable column.
fn table_csv(rows: usize) -> String {
    let groups = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let names = [
        "alice", "bob", "carol", "dave", "eve", "anna", " bea ", "Bert",
    ];
    let mut state = 42u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    let mut text = String::from("id,g,h,x,y,d,s,ts\n");
    for id in 0..rows {
        let g = if next() % 13 == 0 {
            ""
        } else {
            groups[(next() % 5) as usize]
        };
        let h = ["a", "b", "c"][(next() % 3) as usize];
        let x = if next() % 11 == 0 {
            String::new()
        } else {
            (next() % 1000).to_string()
        };
        let y = if next() % 9 == 0 {
            String::new()
        } else {
            format!("{}", (next() % 1_000_000) as f64 / 1_000_000.0)
        };
        let d = format!("{}.{:02}", next() % 100, next() % 100);
        let s = if next() % 7 == 0 {
            ""
        } else {
            names[(next() % 8) as usize]
        };
        let s = if s.contains(' ') {
            format!("\"{s}\"")
        } else {
            s.to_string()
        };
        let second = next() % 86_400;
        let ts = format!(
            "2026-03-01 {:02}:{:02}:{:02}",
            second / 3600,
            second / 60 % 60,
            second % 60
        );
        text.push_str(&format!("{id},{g},{h},{x},{y},{d},{s},{ts}\n"));
    }
    text
}

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("g", DataType::Utf8, true),
        Field::new("h", DataType::Utf8, true),
        Field::new("x", DataType::Int64, true),
        Field::new("y", DataType::Float64, true),
        Field::new("d", DataType::Decimal128(10, 2), true),
        Field::new("s", DataType::Utf8, true),
        Field::new(
            "ts",
            DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
            false,
        ),
    ]))
}

fn oracle_python() -> String {
    match std::env::var("BEAM_SQL_ORACLE_PYTHON") {
        Ok(p) => p,
        Err(_) => {
            let ok = std::process::Command::new("python3")
                .args(["-c", "import duckdb"])
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok,
                "the SQL suite needs DuckDB: run scripts/test.sh, or set BEAM_SQL_ORACLE_PYTHON \
                 to a Python with the duckdb package"
            );
            "python3".into()
        }
    }
}

fn json_of(batch: &RecordBatch, row: usize) -> Vec<Value> {
    batch
        .columns()
        .iter()
        .map(|c| {
            if c.is_null(row) {
                return Value::Null;
            }
            match c.data_type() {
                DataType::Int64 => c
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .value(row)
                    .into(),
                DataType::Float64 => c
                    .as_primitive::<arrow::datatypes::Float64Type>()
                    .value(row)
                    .into(),
                DataType::Decimal128(_, s) => {
                    let v = c
                        .as_primitive::<arrow::datatypes::Decimal128Type>()
                        .value(row);
                    (v as f64 / 10f64.powi((*s).into())).into()
                }
                DataType::Utf8 => c.as_string::<i32>().value(row).into(),
                DataType::Boolean => c.as_boolean().value(row).into(),
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None) => {
                    let micros = c
                        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .value(row);
                    let t = arrow::temporal_conversions::timestamp_us_to_datetime(micros)
                        .expect("a timestamp in range");
                    // As Python's isoformat, which the oracle writes.
                    if micros % 1_000_000 == 0 {
                        t.format("%Y-%m-%dT%H:%M:%S").to_string().into()
                    } else {
                        t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string().into()
                    }
                }
                t => panic!("no JSON for {t}"),
            }
        })
        .collect()
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => a == b,
    }
}

fn sort_key(row: &[Value]) -> String {
    row.iter()
        .map(|v| match v.as_f64() {
            Some(x) => format!("{x:.6e}"),
            None => v.to_string(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn run_ours(runner: &str, csv: &str, query: &str) -> Result<Vec<Vec<Value>>, String> {
    let mut o = PipelineOptions::default();
    o.runner = runner.into();
    o.parallelism = Some(2);
    let p = Pipeline::new(o);
    let t = read(
        &p,
        "Read",
        csv,
        Format::Csv { delimiter: b',' },
        Some(schema()),
    )
    .map_err(|e| e.to_string())?;
    let result = p
        .apply("Query", SqlTransform::query(query).with_table("t", &t))
        .map_err(|e| e.to_string())?;
    let out = Arc::new(Mutex::new(Vec::new()));
    let sink = out.clone();
    // Windowed results are gathered across their windows.
    result
        .rows()
        .apply("Unwindow", WindowInto::new(WindowFn::global()))
        .and_then(|rows| rows.apply("Gather", ToList::globally()))
        .and_then(|g| {
            g.apply(
                "Keep",
                Map::new(move |rows: &Vec<Rows>| {
                    sink.lock()
                        .unwrap()
                        .extend(rows.iter().map(|r| r.batch().clone()));
                }),
            )
        })
        .map_err(|e| e.to_string())?;
    p.run().map_err(|e| e.to_string())?;
    let batches = out.lock().unwrap().clone();
    Ok(batches
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |r| json_of(b, r)))
        .collect())
}

#[test]
fn sql_queries_agree_with_duckdb() {
    assert!(QUERIES.len() >= 60);
    let ours: Vec<&str> = QUERIES
        .iter()
        .copied()
        .chain(WINDOWED.iter().map(|(q, _)| *q))
        .collect();
    let theirs: Vec<&str> = QUERIES
        .iter()
        .copied()
        .chain(WINDOWED.iter().map(|(_, q)| *q))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, table_csv(2000)).unwrap();
    let queries = dir.path().join("queries.json");
    std::fs::write(&queries, serde_json::to_string(&theirs).unwrap()).unwrap();
    let results = dir.path().join("results.json");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oracle/duckdb_oracle.py");
    let status = std::process::Command::new(oracle_python())
        .args([
            script,
            csv.to_str().unwrap(),
            queries.to_str().unwrap(),
            results.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "the DuckDB oracle failed");
    let expected: Vec<Value> = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    let mut failures = Vec::new();
    for (query, want) in ours.iter().zip(&expected) {
        let want: Vec<Vec<Value>> = match want.get("rows") {
            Some(rows) => serde_json::from_value(rows.clone()).unwrap(),
            None => panic!("DuckDB refused {query}: {want}"),
        };
        let ordered = query.contains("ORDER BY");
        for runner in ["direct", "rayon", "timely"] {
            let got = match run_ours(runner, csv.to_str().unwrap(), query) {
                Ok(rows) => rows,
                Err(e) => {
                    failures.push(format!("{runner}: {query}\n  error: {e}"));
                    continue;
                }
            };
            let (mut got, mut want) = (got, want.clone());
            if !ordered {
                got.sort_by_key(|r| sort_key(r));
                want.sort_by_key(|r| sort_key(r));
            }
            let equal = got.len() == want.len()
                && got
                    .iter()
                    .zip(&want)
                    .all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)));
            if !equal {
                let first = got.iter().zip(&want).position(|(a, b)| {
                    a.len() != b.len() || !a.iter().zip(b).all(|(x, y)| same(x, y))
                });
                failures.push(format!(
                    "{runner}: {query}\n  {} rows, DuckDB {}; first difference at {first:?}: ours {:?}, DuckDB {:?}",
                    got.len(),
                    want.len(),
                    first.and_then(|i| got.get(i)),
                    first.and_then(|i| want.get(i)),
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks differ:\n{}",
        failures.len(),
        ours.len() * 3,
        failures.join("\n")
    );
}

#[test]
fn errors_name_the_column_and_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, table_csv(10)).unwrap();
    let csv = csv.to_str().unwrap();
    let e = run_ours("direct", csv, "SELECT id,\n  nope + 1 FROM t").unwrap_err();
    assert!(e.contains("nope") && e.contains("line 2, column 3"), "{e}");
    let e = run_ours("direct", csv, "SELECT g, x FROM t GROUP BY g").unwrap_err();
    assert!(
        e.contains("column `x` at line 1, column 11 must appear in GROUP BY"),
        "{e}"
    );
    let e = run_ours("direct", csv, "SELECT * FROM u").unwrap_err();
    assert!(e.contains("no table `u`") && e.contains("column 15"), "{e}");
    let e = run_ours("direct", csv, "SELECT id FROM t WHERE g + 1 > 2").unwrap_err();
    assert!(e.contains("`+` cannot apply to Utf8 and Int64"), "{e}");
    let e = run_ours(
        "direct",
        csv,
        "SELECT TUMBLE_START(ts, INTERVAL '1' HOUR) AS ws FROM t",
    )
    .unwrap_err();
    assert!(e.contains("needs a GROUP BY TUMBLE(..) window"), "{e}");
    let e = run_ours(
        "direct",
        csv,
        "SELECT TUMBLE_START(ts, INTERVAL '2' HOUR) AS ws FROM t GROUP BY TUMBLE(ts, INTERVAL '1' HOUR)",
    )
    .unwrap_err();
    assert!(e.contains("is not the window of GROUP BY TUMBLE"), "{e}");
    let e = run_ours(
        "direct",
        csv,
        "SELECT COUNT(*) FROM t GROUP BY TUMBLE(x, INTERVAL '1' HOUR)",
    )
    .unwrap_err();
    assert!(e.contains("the event time `x` must be a timestamp"), "{e}");
    let e = run_ours(
        "direct",
        csv,
        "SELECT COUNT(*) FROM t GROUP BY SESSION(ts, 5)",
    )
    .unwrap_err();
    assert!(
        e.contains("expected an interval") && e.contains("column 45"),
        "{e}"
    );
    let e = run_ours(
        "direct",
        csv,
        "SELECT id FROM t WHERE TUMBLE_END(ts, INTERVAL '1' HOUR) > ts",
    )
    .unwrap_err();
    assert!(e.contains("is not allowed in WHERE"), "{e}");
}
