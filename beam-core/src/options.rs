//! Pipeline options from the command line.
//!
//! [`PipelineOptions`] implements clap's `Args`, so a program flattens it into
//! its own command line. Besides the common options (`--runner`,
//! `--parallelism`, `--job-name`, `--dump-graph`, and the monitoring ones:
//! `--metrics-addr`, `--status-addr`, `--metrics-out`, `--log-level`,
//! `--no-step-metrics`, see [`monitoring`](crate::monitoring)) it adds the options every
//! runner linked into the program declares in its
//! [`RunnerRegistration`](crate::RunnerRegistration) (for example the direct
//! runner's `--seed` and `--no-checks`).
//!
//! ```
//! use beam_core::PipelineOptions;
//! let o = PipelineOptions::from_args(["prog", "--runner", "direct", "--parallelism", "2"]).unwrap();
//! assert_eq!(o.runner, "direct");
//! assert_eq!(o.parallelism, Some(2));
//! ```

use crate::error::{BeamError, Result};
use crate::runner::registered_runners;
use clap::{Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

/// An option a runner adds to the command line.
#[derive(Debug)]
pub struct RunnerOption {
    /// Long name, without dashes.
    pub name: &'static str,
    /// One-line help.
    pub help: &'static str,
    /// Whether it takes a value (`--seed 7`) or is a flag (`--no-checks`).
    pub takes_value: bool,
}

/// Options of one pipeline run.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// Name of the registered runner to run on.
    pub runner: String,
    /// Worker threads (or partitions) the runner may use; `None` lets it decide.
    pub parallelism: Option<usize>,
    /// A name for the job, used in logs and graph exports.
    pub job_name: String,
    /// Write the pipeline graph here before running (`.dot` for Graphviz, else JSON).
    pub dump_graph: Option<PathBuf>,
    /// Serve Prometheus metrics at `http://ADDR/metrics` while the pipeline runs.
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Serve the live status page (and its JSON API) at this address while it runs.
    pub status_addr: Option<std::net::SocketAddr>,
    /// Write the final metrics here as JSON when the run ends (also when it fails).
    pub metrics_out: Option<PathBuf>,
    /// Log level (`error`, `warn`, `info`, `debug`, `trace`, or a `RUST_LOG`
    /// filter); `RUST_LOG` is used when it is not given.
    pub log_level: Option<String>,
    /// Turns off the per-bundle step metrics (elements, bytes, bundle times,
    /// watermarks); the user's metrics stay.
    pub no_step_metrics: bool,
    runner_options: BTreeMap<String, String>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            runner: "direct".to_string(),
            parallelism: None,
            job_name: "beam-job".to_string(),
            dump_graph: None,
            metrics_addr: None,
            status_addr: None,
            metrics_out: None,
            log_level: None,
            no_step_metrics: false,
            runner_options: BTreeMap::new(),
        }
    }
}

impl PipelineOptions {
    /// Parses options from a full argument list (program name first).
    pub fn from_args<I, T>(args: I) -> std::result::Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let cmd = Self::augment_args(Command::new("pipeline"));
        let matches = cmd.try_get_matches_from(args)?;
        Self::from_arg_matches(&matches)
    }
    /// These options, on `runner`.
    pub fn with_runner(mut self, runner: impl Into<String>) -> Self {
        self.runner = runner.into();
        self
    }
    /// Sets a runner-specific option (`"true"` for a flag).
    pub fn set(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.runner_options.insert(name.into(), value.into());
        self
    }
    /// A runner-specific option's raw value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.runner_options.get(name).map(String::as_str)
    }
    /// Whether a runner-specific flag is set.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true"))
    }
    /// A runner-specific option parsed as `T`.
    pub fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|e| BeamError::Options(format!("--{name} {v}: {e}"))),
        }
    }
    /// `--memory-budget` (e.g. `512MiB`): the bytes a runner's grouping state
    /// and buffered input may take before they spill to disk; `None` when not
    /// given. At least 1 MiB.
    pub fn memory_budget(&self) -> Result<Option<usize>> {
        let Some(b) = self.parse::<bytesize::ByteSize>("memory-budget")? else {
            return Ok(None);
        };
        let bytes = usize::try_from(b.as_u64()).unwrap_or(usize::MAX);
        if bytes < 1 << 20 {
            return Err(BeamError::Options(format!(
                "--memory-budget {bytes}: at least 1 MiB is needed"
            )));
        }
        Ok(Some(bytes))
    }
}

/// Half the machine's memory (1 GiB where it cannot be read): the memory
/// budget where none is given.
pub fn default_memory_budget() -> usize {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    });
    match total_kib {
        Some(kib) => usize::try_from(kib * 1024 / 2).unwrap_or(usize::MAX),
        None => 1 << 30,
    }
}

impl Args for PipelineOptions {
    fn augment_args(cmd: Command) -> Command {
        let mut cmd = cmd
            .arg(
                Arg::new("runner")
                    .long("runner")
                    .value_name("NAME")
                    .default_value("direct")
                    .help("Runner to execute the pipeline on (direct, rayon, timely, ...)"),
            )
            .arg(
                Arg::new("parallelism")
                    .long("parallelism")
                    .value_name("N")
                    .value_parser(clap::value_parser!(u32).range(1..))
                    .help("Worker threads the runner may use"),
            )
            .arg(
                Arg::new("job-name")
                    .long("job-name")
                    .value_name("NAME")
                    .default_value("beam-job")
                    .help("Name of the job"),
            )
            .arg(
                Arg::new("dump-graph")
                    .long("dump-graph")
                    .value_name("PATH")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Write the pipeline graph to PATH before running (.dot: Graphviz, otherwise JSON)"),
            )
            .arg(
                Arg::new("metrics-addr")
                    .long("metrics-addr")
                    .value_name("HOST:PORT")
                    .value_parser(clap::value_parser!(std::net::SocketAddr))
                    .help("Serve Prometheus metrics at http://HOST:PORT/metrics while the pipeline runs"),
            )
            .arg(
                Arg::new("status-addr")
                    .long("status-addr")
                    .value_name("HOST:PORT")
                    .value_parser(clap::value_parser!(std::net::SocketAddr))
                    .help("Serve a live status page (and /api/graph, /api/metrics) at HOST:PORT while the pipeline runs"),
            )
            .arg(
                Arg::new("metrics-out")
                    .long("metrics-out")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help("Write the final metrics to FILE as JSON when the run ends (also when it fails)"),
            )
            .arg(
                Arg::new("log-level")
                    .long("log-level")
                    .value_name("LEVEL")
                    .help("Log level: error, warn, info, debug, trace, or a RUST_LOG filter (default: RUST_LOG, else warn)"),
            )
            .arg(
                Arg::new("no-step-metrics")
                    .long("no-step-metrics")
                    .action(ArgAction::SetTrue)
                    .help("Do not record per-step metrics (elements, bytes, bundle times, watermarks)"),
            );
        let mut seen = std::collections::HashSet::new();
        for reg in registered_runners() {
            for opt in reg.options {
                if !seen.insert(opt.name) {
                    continue;
                }
                let help = format!("[{} runner] {}", reg.name, opt.help);
                let arg = Arg::new(opt.name).long(opt.name).help(help);
                cmd = cmd.arg(if opt.takes_value {
                    arg.num_args(1).value_name("VALUE")
                } else {
                    arg.action(ArgAction::SetTrue)
                });
            }
        }
        cmd
    }
    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for PipelineOptions {
    fn from_arg_matches(m: &ArgMatches) -> std::result::Result<Self, clap::Error> {
        let mut o = PipelineOptions::default();
        o.update_from_arg_matches(m)?;
        Ok(o)
    }
    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> std::result::Result<(), clap::Error> {
        if let Some(r) = m.get_one::<String>("runner") {
            self.runner = r.clone();
        }
        if let Some(n) = m.get_one::<u32>("parallelism") {
            self.parallelism = Some(*n as usize);
        }
        if let Some(j) = m.get_one::<String>("job-name") {
            self.job_name = j.clone();
        }
        if let Some(p) = m.get_one::<PathBuf>("dump-graph") {
            self.dump_graph = Some(p.clone());
        }
        if let Some(a) = m.get_one::<std::net::SocketAddr>("metrics-addr") {
            self.metrics_addr = Some(*a);
        }
        if let Some(a) = m.get_one::<std::net::SocketAddr>("status-addr") {
            self.status_addr = Some(*a);
        }
        if let Some(p) = m.get_one::<PathBuf>("metrics-out") {
            self.metrics_out = Some(p.clone());
        }
        if let Some(l) = m.get_one::<String>("log-level") {
            self.log_level = Some(l.clone());
        }
        if m.get_flag("no-step-metrics") {
            self.no_step_metrics = true;
        }
        for reg in registered_runners() {
            for opt in reg.options {
                if opt.takes_value {
                    if let Some(v) = m.get_one::<String>(opt.name) {
                        self.runner_options.insert(opt.name.to_string(), v.clone());
                    }
                } else if m.get_flag(opt.name) {
                    self.runner_options
                        .insert(opt.name.to_string(), "true".to_string());
                }
            }
        }
        Ok(())
    }
}
