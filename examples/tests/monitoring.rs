//! Live monitoring on every runner: the Prometheus endpoint and the status
//! page's JSON API answer while the pipeline runs, with step metrics and
//! user metrics that are current (not only at the end); `--metrics-out`
//! records the final metrics, also of a failed run.

use beam_core::{
    Create, DoFn, ParDo, Pipeline, PipelineOptions, ProcessContext, UserError, UserResult,
};
use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

mod common;
use common::endpoints::{free_addr, try_http, Seen};

use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

/// Gates that tests open once they have looked at the running job.
fn open_gates() -> &'static Mutex<HashSet<String>> {
    static GATES: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    GATES.get_or_init(Default::default)
}

/// Holds the element 0 until its gate opens; fails on `fail_on`.
#[derive(Clone)]
struct Gate {
    name: String,
    fail_on: Option<u64>,
}

impl DoFn for Gate {
    type In = u64;
    type Out = u64;
    fn process(&mut self, x: &u64, ctx: &mut ProcessContext<'_, u64>) -> UserResult {
        if Some(*x) == self.fail_on {
            return Err(UserError::msg(format!("element {x} is bad")));
        }
        if *x == 0 {
            let start = Instant::now();
            while !open_gates().lock().unwrap().contains(&self.name) {
                if start.elapsed() > Duration::from_secs(60) {
                    return Err(UserError::msg("the test never opened the gate"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        ctx.output(*x);
        Ok(())
    }
}

fn http(addr: SocketAddr, method: &str, path: &str) -> (String, String) {
    try_http(addr, method, path).expect("the endpoint answers")
}

fn pipeline(runner: &str, extra: &[String], gate: Gate) -> Pipeline {
    let mut args: Vec<String> = ["test", "--runner", runner, "--parallelism", "2"]
        .map(String::from)
        .to_vec();
    args.extend_from_slice(extra);
    let p = Pipeline::new(PipelineOptions::from_args(args).unwrap());
    p.apply("Numbers", Create::of((0..1000u64).collect::<Vec<_>>()))
        .unwrap()
        .apply("Seen", ParDo::of(Seen))
        .unwrap()
        .apply("Gate", ParDo::of(gate))
        .unwrap();
    p
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn endpoints_answer_while_running(runner: &str) {
    let metrics: SocketAddr = free_addr();
    let status: SocketAddr = free_addr();
    let out = tempfile::tempdir().unwrap();
    let metrics_out = out.path().join("metrics.json");
    let name = format!("live-{runner}");
    let gate = Gate {
        name: name.clone(),
        fail_on: None,
    };
    let extra = [
        "--metrics-addr".to_string(),
        metrics.to_string(),
        "--status-addr".to_string(),
        status.to_string(),
        "--metrics-out".to_string(),
        metrics_out.display().to_string(),
        "--job-name".to_string(),
        name.clone(),
    ];
    let p = pipeline(runner, &extra, gate);
    let run = std::thread::spawn(move || p.run().map(|r| r.metrics().counter("Seen", "seen")));

    // While element 0 is held: the job runs, and Seen's counter is live.
    let snapshot = || -> serde_json::Value {
        try_http(status, "GET", "/api/metrics")
            .ok()
            .and_then(|(_, body)| serde_json::from_str(&body).ok())
            .unwrap_or_default()
    };
    wait_for("the gate step to hold a bundle", || {
        let s = snapshot();
        s["steps"].as_array().is_some_and(|steps| {
            steps
                .iter()
                .any(|t| t["name"] == "Gate" && t["in_flight_bundles"] == 1)
        })
    });
    let s = snapshot();
    assert_eq!(s["state"], "running", "{s}");
    assert_eq!(s["job"], name.as_str());
    let seen = s["user_metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "seen")
        .map(|m| m["value"]["Counter"].as_i64().unwrap());
    assert!(
        seen.is_some_and(|n| n > 0),
        "{runner}: user counter not live: {s}"
    );
    let seen_step = s["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Seen")
        .unwrap();
    assert!(seen_step["elements_in"].as_u64().unwrap() > 0, "{s}");

    let (line, text) = http(metrics, "GET", "/metrics");
    assert!(line.contains("200"), "{line}");
    let running = format!("beam_job_running{{job=\"{name}\",process=\"0\"}} 1.0");
    assert!(
        text.lines().any(|l| l == running),
        "{runner}: no {running:?} in\n{text}"
    );
    let elements =
        format!("beam_step_elements_in_total{{job=\"{name}\",process=\"0\",step=\"Seen\"}} ");
    assert!(text.lines().any(|l| l.starts_with(&elements)), "{text}");
    assert!(text.contains("# TYPE beam_step_bundle_duration_seconds histogram"));
    assert!(text.contains("beam_user_counter_total{"), "{text}");

    // The page is served from the binary; the API is read-only.
    let (line, page) = http(status, "GET", "/");
    assert!(
        line.contains("200") && page.contains("api/metrics"),
        "{line}"
    );
    let (line, graph) = http(status, "GET", "/api/graph");
    assert!(line.contains("200") && graph.contains("Gate"), "{line}");
    let (line, _) = http(status, "POST", "/api/metrics");
    assert!(line.contains("405"), "{line}");
    assert!(http(metrics, "GET", "/").0.contains("404"));

    open_gates().lock().unwrap().insert(name.clone());
    let seen_total = run.join().unwrap().expect("the run succeeds");
    assert_eq!(seen_total, Some(1000), "{runner}");
    // Served only while the job runs.
    assert!(TcpStream::connect_timeout(&metrics, Duration::from_secs(1)).is_err());

    let done: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metrics_out).unwrap()).unwrap();
    assert_eq!(done["state"], "done");
    let step = |n: &str| {
        done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == n)
            .unwrap()
            .clone()
    };
    for n in ["Seen", "Gate"] {
        assert_eq!(step(n)["elements_in"], 1000, "{runner} {n}: {done}");
        assert_eq!(step(n)["elements_out"], 1000, "{runner} {n}");
        assert_eq!(step(n)["in_flight_bundles"], 0, "{runner} {n}");
        assert!(step(n)["bundles"]["count"].as_u64().unwrap() >= 1);
    }
    let out_pc = step("Gate")["outputs"][0].as_u64().unwrap() as usize;
    assert_eq!(
        done["pcollections"][out_pc]["watermark"]["complete"], true,
        "{done}"
    );
}

#[test]
fn endpoints_answer_while_running_on_direct() {
    endpoints_answer_while_running("direct");
}

#[test]
fn endpoints_answer_while_running_on_rayon() {
    endpoints_answer_while_running("rayon");
}

#[test]
fn endpoints_answer_while_running_on_timely() {
    endpoints_answer_while_running("timely");
}

#[test]
fn a_failed_run_writes_its_metrics_and_names_the_step_and_element() {
    for runner in ["direct", "rayon", "timely"] {
        let out = tempfile::tempdir().unwrap();
        let path = out.path().join("m.json");
        let name = format!("fail-{runner}");
        open_gates().lock().unwrap().insert(name.clone());
        let gate = Gate {
            name,
            fail_on: Some(77),
        };
        let p = pipeline(
            runner,
            &["--metrics-out".into(), path.display().to_string()],
            gate,
        );
        assert!(p.run().is_err(), "{runner}");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(m["state"], "failed", "{runner}");
        let e = &m["errors"][0];
        assert_eq!(e["step"], "Gate", "{runner}: {m}");
        assert!(
            e["element"].as_str().unwrap().contains("77"),
            "{runner}: {e}"
        );
        assert!(e["message"].as_str().unwrap().contains("element 77 is bad"));
        let gate = m["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "Gate")
            .unwrap();
        assert_eq!(gate["errors"], 1, "{runner}");
    }
}

#[test]
fn a_taken_port_fails_before_any_data_moves() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let gate = Gate {
        name: "never".into(),
        fail_on: Some(0),
    };
    let p = pipeline("direct", &["--metrics-addr".into(), addr.clone()], gate);
    let e = p.run().unwrap_err().to_string();
    assert!(e.contains("--metrics-addr") && e.contains(&addr), "{e}");
}

/// Holds the line `line 0` until its gate opens.
#[derive(Clone)]
struct HoldLine(String);

impl DoFn for HoldLine {
    type In = String;
    type Out = String;
    fn process(&mut self, line: &String, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        if line == "line 0" {
            let start = Instant::now();
            while !open_gates().lock().unwrap().contains(&self.0) {
                if start.elapsed() > Duration::from_secs(60) {
                    return Err(UserError::msg("the test never opened the gate"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        ctx.output(line.clone());
        Ok(())
    }
}

/// A file source's bytes: planned (the file's size), read as its readers go,
/// and the rest as the step's backlog, while the run holds one line.
fn a_file_source_reports_bytes_read_and_left(runner: &str) {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lines.txt");
    let text: String = (0..400_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&input, &text).unwrap();
    let status: SocketAddr = free_addr();
    let metrics_out = dir.path().join("metrics.json");
    let name = format!("bytes-{runner}");
    let args: Vec<String> = [
        "test",
        "--runner",
        runner,
        "--parallelism",
        "2",
        "--job-name",
        &name,
        "--status-addr",
        &status.to_string(),
        "--metrics-out",
        &metrics_out.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    let p = Pipeline::new(PipelineOptions::from_args(args).unwrap());
    p.apply(
        "Lines",
        io_connectors::TextIO::read(&input.display().to_string()),
    )
    .unwrap()
    .apply("Hold", ParDo::of(HoldLine(name.clone())))
    .unwrap();
    let run = std::thread::spawn(move || p.run());
    let read_step = |s: &serde_json::Value| -> Option<serde_json::Value> {
        s["steps"]
            .as_array()?
            .iter()
            .find(|t| t["source_bytes"].is_object())
            .cloned()
    };
    let size = text.len() as u64;
    // Held: the split holding line 0 is not read to its end.
    let started = Instant::now();
    let held = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{runner}: the run never held line 0"
        );
        let s: serde_json::Value = try_http(status, "GET", "/api/metrics")
            .ok()
            .and_then(|(_, body)| serde_json::from_str(&body).ok())
            .unwrap_or_default();
        let holding = s["steps"].as_array().is_some_and(|steps| {
            steps
                .iter()
                .any(|t| t["name"] == "Hold" && t["in_flight_bundles"] == 1)
        });
        if let Some(step) = read_step(&s).filter(|_| holding) {
            break step;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(held["source_bytes"]["planned"], size, "{runner}: {held}");
    let read = held["source_bytes"]["read"].as_u64().unwrap();
    assert!(read < size, "{runner}: {held}");
    let left = &held["backlog"][0];
    assert_eq!(left["bytes"], size - read, "{runner}: {held}");
    assert!(
        left["partition"].as_str().unwrap().contains("lines.txt"),
        "{left}"
    );
    let (_, text) = http(status, "GET", "/metrics");
    let gauge = text
        .lines()
        .find(|l| l.starts_with("beam_source_backlog_bytes{"))
        .unwrap_or_else(|| panic!("{runner}: no backlog gauge in\n{text}"));
    assert!(gauge.contains("step=\"Lines/Read\""), "{gauge}");

    open_gates().lock().unwrap().insert(name);
    run.join().unwrap().expect("the run succeeds");
    let done: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metrics_out).unwrap()).unwrap();
    let step = read_step(&done).unwrap();
    assert_eq!(step["source_bytes"]["read"], size, "{runner}: {step}");
    assert_eq!(step["backlog"][0]["bytes"], 0, "{runner}: {step}");
}

#[test]
fn a_file_source_reports_bytes_read_and_left_on_direct() {
    a_file_source_reports_bytes_read_and_left("direct");
}

#[test]
fn a_file_source_reports_bytes_read_and_left_on_rayon() {
    a_file_source_reports_bytes_read_and_left("rayon");
}

#[test]
fn a_file_source_reports_bytes_read_and_left_on_timely() {
    a_file_source_reports_bytes_read_and_left("timely");
}
