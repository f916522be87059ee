//! The monitoring endpoints against real clients, while a streaming pipeline
//! runs on timely: a Prometheus server scrapes `/metrics` and its query API
//! gives the step counters, agreeing with the run's final metrics; a headless
//! Chromium renders the status page with the page's own JavaScript, and the
//! DOM it ends with lists every step, a throughput and a watermark.
//!
//! `scripts/services.sh` installs Prometheus and Chromium (Debian's packages)
//! and names them in `BEAM_TEST_PROMETHEUS` and `BEAM_TEST_CHROMIUM`; each
//! test starts its own on 127.0.0.1 and stops it.

use beam_core::unbounded::{Poll, SourceBacklog, UnboundedReader, UnboundedSource};
use beam_core::{
    Duration as BeamDuration, Map, PaneInfo, ParDo, Pipeline, PipelineOptions, ReadUnbounded, Sum,
    Timestamp, Window, WindowFn, WindowInto, WindowedValue,
};
use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

mod common;
use common::endpoints::{free_addr, get, Seen};

use runner_timely as _;

/// A ticking stream's phase, set by its test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Emitting at its rate.
    Ticking,
    /// Emitting nothing more, but not finished: the job stays up.
    Quiet,
    /// Finished: the job drains and ends.
    Finished,
}

/// Each named stream's phase and the elements it emitted so far.
fn streams() -> &'static Mutex<HashMap<String, (Phase, u64)>> {
    static STREAMS: OnceLock<Mutex<HashMap<String, (Phase, u64)>>> = OnceLock::new();
    STREAMS.get_or_init(Default::default)
}

fn set_phase(name: &str, phase: Phase) -> u64 {
    let mut s = streams().lock().unwrap();
    let entry = s.get_mut(name).unwrap();
    entry.0 = phase;
    entry.1
}

/// Numbers at `rate` per second of wall time per split, stamped with the
/// wall clock, until its test ends it.
#[derive(Clone)]
struct Ticks {
    name: String,
    rate: u64,
    split: usize,
}

struct TickReader {
    name: String,
    split: usize,
    rate: u64,
    started: Instant,
    emitted: u64,
    watermark: Timestamp,
}

impl UnboundedReader<u64> for TickReader {
    fn poll(&mut self, out: &mut Vec<WindowedValue<u64>>, max: usize) -> beam_core::Result<Poll> {
        let mut streams = streams().lock().unwrap();
        let (phase, total) = streams.get_mut(&self.name).unwrap();
        match phase {
            Phase::Finished => return Ok(Poll::Finished),
            Phase::Quiet => return Ok(Poll::Pending(Duration::from_millis(20))),
            Phase::Ticking => {}
        }
        let due = (self.started.elapsed().as_secs_f64() * self.rate as f64) as u64;
        let now = Timestamp::wall_clock();
        while self.emitted < due && out.len() < max {
            out.push(WindowedValue::new(
                self.emitted,
                now,
                Window::Global,
                PaneInfo::NO_FIRING,
            ));
            self.emitted += 1;
            *total += 1;
        }
        self.watermark = now;
        Ok(Poll::Pending(Duration::from_millis(10)))
    }
    fn watermark(&self) -> Timestamp {
        self.watermark
    }
    /// The ticks due and not emitted yet.
    fn backlog(&self) -> Vec<SourceBacklog> {
        let due = (self.started.elapsed().as_secs_f64() * self.rate as f64) as u64;
        let partition = format!("{}/{}", self.name, self.split);
        vec![SourceBacklog::records(
            partition,
            due.saturating_sub(self.emitted),
        )]
    }
}

impl UnboundedSource for Ticks {
    type Output = u64;
    fn split(&self, desired: usize) -> beam_core::Result<Vec<Self>> {
        Ok((0..desired.max(1))
            .map(|split| Ticks {
                split,
                ..self.clone()
            })
            .collect())
    }
    fn reader(&self) -> beam_core::Result<Box<dyn UnboundedReader<u64>>> {
        Ok(Box::new(TickReader {
            name: self.name.clone(),
            split: self.split,
            rate: self.rate,
            started: Instant::now(),
            emitted: 0,
            watermark: Timestamp::MIN,
        }))
    }
    fn describe(&self) -> String {
        format!("ticks {} at {}/s", self.name, self.rate)
    }
}

/// A streaming job on timely with two workers: ticks, counted, in 1 s
/// windows, summed per key.
fn streaming_job(name: &str, rate: u64, flags: &[String]) -> Pipeline {
    streams()
        .lock()
        .unwrap()
        .insert(name.to_string(), (Phase::Ticking, 0));
    let mut args: Vec<String> = ["test", "--runner", "timely", "--parallelism", "2"]
        .map(String::from)
        .to_vec();
    args.extend(["--job-name".to_string(), name.to_string()]);
    args.extend_from_slice(flags);
    let p = Pipeline::new(PipelineOptions::from_args(args).unwrap());
    let source = Ticks {
        name: name.to_string(),
        rate,
        split: 0,
    };
    p.apply("Ticks", ReadUnbounded::from(source))
        .unwrap()
        .apply("Seen", ParDo::of(Seen))
        .unwrap()
        .apply(
            "Seconds",
            WindowInto::new(WindowFn::fixed(BeamDuration::from_secs(1))),
        )
        .unwrap()
        .apply("Keyed", Map::new(|x: &u64| (x % 7, 1u64)))
        .unwrap()
        .apply("SumPerKey", Sum::per_key())
        .unwrap();
    p
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn tool(var: &str) -> PathBuf {
    PathBuf::from(std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the tests with `bash scripts/test.sh`, which installs it")
    }))
}

/// A child process killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Prometheus scraping `target` every second, honouring the pipeline's own
/// `job` label.
fn start_prometheus(dir: &Path, target: SocketAddr) -> (Service, SocketAddr) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: beam\n    honor_labels: true\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let web = free_addr();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(tool("BEAM_TEST_PROMETHEUS"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("prometheus starts");
    (Service(child), web)
}

/// The value of an instant query that gives one series, if it gives one.
fn prometheus_value(web: SocketAddr, query: &str) -> Option<f64> {
    let q: String = query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = get(web, &format!("/api/v1/query?query={q}"))?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = v["data"]["result"].as_array()?;
    if result.len() != 1 {
        return None;
    }
    result[0]["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_a_running_stream_and_agrees_with_the_result() {
    let name = "scraped";
    let metrics = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let metrics_out = dir.path().join("metrics.json");
    let p = streaming_job(
        name,
        500,
        &[
            "--metrics-addr".into(),
            metrics.to_string(),
            "--metrics-out".into(),
            metrics_out.display().to_string(),
        ],
    );
    let run = std::thread::spawn(move || p.run());
    let (_prometheus, web) = start_prometheus(dir.path(), metrics);

    let seen_in = format!("beam_step_elements_in_total{{job=\"{name}\",step=\"Seen\"}}");
    let user_seen =
        format!("beam_user_counter_total{{job=\"{name}\",step=\"Seen\",name=\"seen\"}}");
    let running = format!("beam_job_running{{job=\"{name}\"}}");
    // While it ticks: Prometheus has scraped the job running, with counts.
    wait_for(
        "Prometheus to scrape a running job",
        Duration::from_secs(60),
        || {
            (prometheus_value(web, &running)? == 1.0 && prometheus_value(web, &seen_in)? > 0.0)
                .then_some(())
        },
    );

    // Quiet: the counts are final while the job is still up; Prometheus
    // catches up with them (Keyed maps one to one, so the sum takes them all).
    let emitted = set_phase(name, Phase::Quiet) as f64;
    assert!(emitted > 0.0);
    let sum_step = "SumPerKey/Combine.perKey";
    let sum_in = format!("beam_step_elements_in_total{{job=\"{name}\",step=\"{sum_step}\"}}");
    wait_for(
        "Prometheus to see every element",
        Duration::from_secs(60),
        || {
            [&seen_in, &user_seen, &sum_in]
                .iter()
                .all(|q| prometheus_value(web, q) == Some(emitted))
                .then_some(())
        },
    );

    set_phase(name, Phase::Finished);
    let result = run.join().unwrap().expect("the job succeeds");
    assert_eq!(
        result.metrics().counter("Seen", "seen"),
        Some(emitted as i64)
    );
    let done: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metrics_out).unwrap()).unwrap();
    let step = |n: &str| {
        done["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(step("Seen")["elements_in"].as_f64(), Some(emitted));
    assert_eq!(step(sum_step)["elements_in"].as_f64(), Some(emitted));
}

/// Runs Chromium headless on `url` with `args`; its standard output.
fn chromium(dir: &Path, url: &str, args: &[&str]) -> String {
    let mut child = Command::new(tool("BEAM_TEST_CHROMIUM"))
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", dir.display()))
        .args(args)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut out = String::new();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::BufReader::new(stdout).read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            panic!("chromium did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    out.push_str(&reader.join().unwrap());
    out
}

/// Where test artefacts are kept: `target/test-artefacts`.
fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("test-artefacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn chromium_renders_the_live_status_page() {
    let name = "watched";
    let status = free_addr();
    let p = streaming_job(name, 1000, &["--status-addr".into(), status.to_string()]);
    let run = std::thread::spawn(move || p.run());

    // The endpoint samples throughput every second: wait for two samples
    // with elements flowing.
    let steps: Vec<String> = wait_for("a sampled throughput", Duration::from_secs(60), || {
        let m: serde_json::Value = serde_json::from_str(&get(status, "/api/metrics")?).ok()?;
        let seen = m["steps"]
            .as_array()?
            .iter()
            .position(|s| s["name"] == "Seen")?;
        let rates = m["throughput"]["steps"][seen].as_array()?;
        (rates.len() >= 2 && rates.last()?.as_f64()? > 0.0).then(|| {
            m["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["name"].as_str().unwrap().to_string())
                .collect()
        })
    });

    // Each reader reports its backlog, per partition.
    let m: serde_json::Value = serde_json::from_str(&get(status, "/api/metrics").unwrap()).unwrap();
    let ticks = m["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Ticks")
        .unwrap();
    let partitions: Vec<&str> = ticks["backlog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["partition"].as_str().unwrap())
        .collect();
    assert_eq!(
        partitions,
        [format!("{name}/0"), format!("{name}/1")],
        "{ticks}"
    );

    let profile = tempfile::tempdir().unwrap();
    let url = format!("http://{status}/");
    // The DOM after the page's script fetched and rendered the metrics.
    let dom = chromium(
        profile.path(),
        &url,
        &["--dump-dom", "--virtual-time-budget=5000"],
    );
    assert!(
        dom.contains(&format!("<title>{name} · beam-rs</title>")),
        "{dom}"
    );
    assert!(dom.contains("class=\"state-running\""), "{dom}");
    for step in &steps {
        assert!(
            dom.contains(&format!("data-step=\"{step}\"")),
            "step {step} is not on the page:\n{dom}"
        );
    }
    let cells = |class: &str| -> Vec<String> {
        let open = format!("<td class=\"{class}\">");
        dom.split(&open)
            .skip(1)
            .map(|rest| rest.split("</td>").next().unwrap_or("").to_string())
            .collect()
    };
    let rates = cells("rate");
    assert!(
        rates
            .iter()
            .any(|r| r.replace(',', "").parse::<u64>().is_ok_and(|n| n > 0)),
        "no step shows a non-zero throughput: {rates:?}"
    );
    let watermarks = cells("watermark");
    // A watermark is shown as `YYYY-MM-DD HH:MM:SS.mmm` (UTC), near now.
    let this_year = 1970 + Timestamp::wall_clock().as_micros() / 1_000_000 / 31_556_952;
    let near_now = |w: &str| {
        w.len() == 23
            && w.get(..4)
                .and_then(|y| y.parse::<i64>().ok())
                .is_some_and(|y| (y - this_year).abs() <= 1)
    };
    assert!(
        watermarks.iter().any(|w| near_now(w)),
        "no PCollection shows a watermark: {watermarks:?}"
    );

    let shot = artefacts().join("status-page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(
        profile.path(),
        &url,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,900",
            "--virtual-time-budget=5000",
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{}",
        png.len()
    );

    set_phase(name, Phase::Finished);
    run.join().unwrap().expect("the job succeeds");
    // The server stops with the pipeline.
    assert!(TcpStream::connect_timeout(&status, Duration::from_secs(1)).is_err());
}
