//! The HTTP endpoints of a running pipeline: Prometheus's `/metrics`
//! (`--metrics-addr`) and the live status page with its JSON API
//! (`--status-addr`: `/`, `/api/graph`, `/api/metrics`).
//!
//! Each is served on its own thread by a single-threaded tokio runtime with
//! axum, only on the address the user gave, and only while the pipeline runs.
//! Every route is a read-only `GET`: nothing served can change the job. The
//! page and its script are compiled into the binary; it loads nothing else.

use super::{JobMonitor, MonitorSnapshot, ThroughputHistory, ThroughputSeries};
use crate::error::{BeamError, Result};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const STATUS_PAGE: &str = include_str!("status.html");
/// How often the status endpoint samples each step's throughput.
const THROUGHPUT_INTERVAL: Duration = Duration::from_secs(1);
/// How far back the sampled throughput goes.
const THROUGHPUT_WINDOW_SECONDS: f64 = 300.0;

/// The body of `/api/metrics`: the snapshot and the recent throughput.
#[derive(serde::Serialize)]
struct StatusMetrics {
    #[serde(flatten)]
    snapshot: MonitorSnapshot,
    throughput: ThroughputSeries,
}

/// What an endpoint serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// `/metrics` only.
    Prometheus,
    /// The status page, `/api/graph`, `/api/metrics`, and `/metrics`.
    StatusPage,
}

/// A running endpoint; stops when dropped.
pub struct MonitorServer {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MonitorServer {
    /// Binds `address` (before any data moves, so a taken port fails the
    /// run at once) and serves `endpoints` of `monitor` on a thread of its own.
    pub fn start(
        address: SocketAddr,
        endpoints: Endpoints,
        monitor: Arc<JobMonitor>,
    ) -> Result<MonitorServer> {
        let what = match endpoints {
            Endpoints::Prometheus => "--metrics-addr",
            Endpoints::StatusPage => "--status-addr",
        };
        let fail = |e: std::io::Error| BeamError::Options(format!("{what} {address}: {e}"));
        let listener = std::net::TcpListener::bind(address).map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        let bound = listener.local_addr().map_err(fail)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(fail)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let history = Arc::new(Mutex::new(ThroughputHistory::new(
            THROUGHPUT_WINDOW_SECONDS,
        )));
        let sampler = (endpoints == Endpoints::StatusPage).then(|| {
            let (monitor, history) = (monitor.clone(), history.clone());
            async move {
                let mut every = tokio::time::interval(THROUGHPUT_INTERVAL);
                loop {
                    every.tick().await;
                    let snapshot = monitor.snapshot();
                    super::lock(&history).record(&snapshot);
                }
            }
        });
        let router = routes(endpoints, monitor, history);
        let thread = std::thread::Builder::new()
            .name(format!("beam-http-{}", bound.port()))
            .spawn(move || {
                if let Some(sampler) = sampler {
                    runtime.spawn(sampler);
                }
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(address = %bound, error = %e, "cannot serve");
                            return;
                        }
                    };
                    let served = axum::serve(listener, router)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!(address = %bound, error = %e, "serving stopped");
                    }
                });
            })
            .map_err(fail)?;
        Ok(MonitorServer {
            address: bound,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address it listens on (the port the system chose for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for MonitorServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn routes(
    endpoints: Endpoints,
    monitor: Arc<JobMonitor>,
    history: Arc<Mutex<ThroughputHistory>>,
) -> Router {
    let m = monitor.clone();
    let metrics = get(move || {
        let m = m.clone();
        async move {
            (
                [(CONTENT_TYPE, super::prometheus::CONTENT_TYPE)],
                super::prometheus::encode(&m),
            )
                .into_response()
        }
    });
    let router = Router::new().route("/metrics", metrics);
    if endpoints == Endpoints::Prometheus {
        return router;
    }
    let graph = monitor.graph_json().to_string();
    let m = monitor;
    router
        .route(
            "/",
            get(|| async { ([(CONTENT_TYPE, "text/html; charset=utf-8")], STATUS_PAGE) }),
        )
        .route(
            "/api/graph",
            get(move || {
                let graph = graph.clone();
                async move { ([(CONTENT_TYPE, "application/json")], graph) }
            }),
        )
        .route(
            "/api/metrics",
            get(move || {
                let (m, history) = (m.clone(), history.clone());
                async move {
                    let body = StatusMetrics {
                        snapshot: m.snapshot(),
                        throughput: super::lock(&history).series(),
                    };
                    let body = serde_json::to_string(&body)
                        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
                    ([(CONTENT_TYPE, "application/json")], body)
                }
            }),
        )
}
