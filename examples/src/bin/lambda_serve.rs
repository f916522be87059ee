//! The Lambda architecture's serving layer: `query(user, date)` answered by
//! merging the batch view (before its cut-off) with the speed view in Redis
//! (at and after it), from the command line or over HTTP:
//!
//! ```text
//! lambda_serve query --user user07 --date 2025-11-24 --redis redis://127.0.0.1:6379/
//! lambda_serve serve --addr 127.0.0.1:8088 --redis redis://127.0.0.1:6379/
//! curl '127.0.0.1:8088/query?user=user07&date=2025-11-24'
//! ```
//!
//! The answer is JSON: `{"user_id", "date", "total_amount",
//! "transaction_count", "last_transaction_time"}`, or `null` when the user
//! has no transaction on that date. The server rereads the batch view when
//! its `CURRENT` file names a new version.

use anyhow::Context;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use clap::{Parser, Subcommand};
use examples::lambda::{
    current_version, merge, read_batch_view, read_speed, BatchView, DailyTotal,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

#[derive(Parser)]
#[command(about = "The serving layer: batch and speed views merged per user and date")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Views {
    /// The batch view's directory.
    #[arg(long, default_value = "lambda-view")]
    view: PathBuf,
    /// Redis URL of the speed view.
    #[arg(long)]
    redis: String,
    /// Prefix of the speed view's Redis keys.
    #[arg(long, default_value = "lambda")]
    key_prefix: String,
}

#[derive(Subcommand)]
enum Command {
    /// Answers one query and prints it.
    Query {
        #[command(flatten)]
        views: Views,
        /// The user.
        #[arg(long)]
        user: String,
        /// The date, `YYYY-MM-DD` (UTC).
        #[arg(long)]
        date: String,
    },
    /// Serves `GET /query?user=U&date=D` over HTTP.
    Serve {
        #[command(flatten)]
        views: Views,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8088")]
        addr: String,
    },
}

/// The batch view as last read, and Redis.
struct Serving {
    views: Views,
    batch: Mutex<BatchView>,
    redis: redis::Client,
}

impl Serving {
    fn new(views: Views) -> anyhow::Result<Self> {
        let batch = read_batch_view(&views.view)?;
        let redis = redis::Client::open(views.redis.as_str())
            .with_context(|| format!("Redis URL {}", views.redis))?;
        Ok(Serving {
            views,
            batch: Mutex::new(batch),
            redis,
        })
    }

    /// The merged totals of `user` on `date`.
    fn query(&self, user: &str, date: &str) -> anyhow::Result<Option<DailyTotal>> {
        let row = {
            let mut batch = self.batch.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
            if current_version(Path::new(&self.views.view))? != batch.version {
                *batch = read_batch_view(&self.views.view)?;
            }
            batch
                .rows
                .get(&(user.to_string(), date.to_string()))
                .cloned()
        };
        let mut redis = self.redis.get_connection()?;
        let speed = read_speed(&mut redis, &self.views.key_prefix, user, date)?;
        Ok(merge(row.as_ref(), speed))
    }
}

#[derive(serde::Deserialize)]
struct QueryParams {
    user: String,
    date: String,
}

async fn answer(
    State(serving): State<Arc<Serving>>,
    Query(q): Query<QueryParams>,
) -> Result<Json<Option<DailyTotal>>, (axum::http::StatusCode, String)> {
    let internal = |e: anyhow::Error| {
        (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("{e:#}"),
        )
    };
    let serving = serving.clone();
    tokio::task::spawn_blocking(move || serving.query(&q.user, &q.date))
        .await
        .map_err(|e| internal(e.into()))?
        .map(Json)
        .map_err(internal)
}

fn serve(views: Views, addr: &str) -> anyhow::Result<()> {
    let serving = Arc::new(Serving::new(views)?);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        eprintln!(
            "serving on http://{}/query?user=U&date=D",
            listener.local_addr()?
        );
        let app = Router::new()
            .route("/query", get(answer))
            .with_state(serving);
        axum::serve(listener, app).await?;
        Ok(())
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    beam_core::cli::run_main(|| -> anyhow::Result<()> {
        match args.command {
            Command::Query { views, user, date } => {
                let answer = Serving::new(views)?.query(&user, &date)?;
                println!("{}", serde_json::to_string(&answer)?);
                Ok(())
            }
            Command::Serve { views, addr } => serve(views, &addr),
        }
    })
}
