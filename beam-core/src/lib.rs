//! The portable Beam model in Rust.
//!
//! Write a pipeline once against this crate; choose where it runs with
//! `--runner` (`direct`, `rayon`, `timely`, or any runner linked into the
//! program). A pipeline is a graph of transforms over [`PCollection`]s:
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Count, Create, FlatMap, Map, Pipeline, PipelineOptions};
//! use beam_core::testing::PAssert;
//!
//! let p = Pipeline::new(PipelineOptions::default()); // runner "direct"
//! let lines = p.apply("Lines", Create::of(vec!["to be or".to_string(), "not to be".to_string()]))?;
//! let counts = lines
//!     .apply("Split", FlatMap::new(|l: &String| l.split(' ').map(str::to_string).collect::<Vec<_>>()))?
//!     .apply("Count", Count::per_element())?
//!     .apply("Format", Map::new(|(w, n): &(String, u64)| format!("{w}: {n}")))?;
//! PAssert::that(&counts).contains_in_any_order(
//!     ["to: 2", "be: 2", "or: 1", "not: 1"].map(String::from).to_vec())?;
//! p.run()?;
//! # Ok::<(), beam_core::BeamError>(())
//! ```
//!
//! # Writing a program
//!
//! A program depends on `beam-core` and on the runner crates it may run on,
//! and names each runner crate once so that it is linked (runners register
//! themselves; one that is not linked is "unknown runner" at run time):
//!
//! ```toml
//! [dependencies]
//! beam-core = { path = "../beam-core" }
//! runner-direct = { path = "../runner-direct" }
//! runner-timely = { path = "../runner-timely" }  # any of direct, rayon, timely
//! ```
//!
//! ```
//! use runner_direct as _; // links the runner: `--runner direct` finds it
//! use beam_core::{Create, Duration, Pipeline, PipelineOptions, Sum, TryMap};
//! use beam_core::{Timestamp, UserError, WindowFn, WindowInto, WithTimestamps};
//!
//! fn run() -> Result<(), beam_core::BeamError> {
//!     let p = Pipeline::new(PipelineOptions::from_args(["prog", "--runner", "direct"])
//!         .map_err(|e| beam_core::BeamError::Options(e.to_string()))?);
//!     p.apply("Events", Create::of(vec!["alice,3,60000".to_string(), "bob,4,61000".to_string()]))?
//!         // Event time from a field (Create and file sources give every
//!         // element the minimum timestamp; Kafka records carry their own).
//!         .apply("EventTime", WithTimestamps::of(|line: &String| {
//!             let ms = line.rsplit(',').next().and_then(|t| t.parse().ok()).unwrap_or(0);
//!             Timestamp::from_millis(ms)
//!         }))?
//!         .apply("Parse", TryMap::new(|line: &String| {
//!             let mut f = line.split(',');
//!             let user = f.next().unwrap_or_default().to_string();
//!             let n: u64 = f.next().unwrap_or_default().parse()?; // any std error converts to UserError
//!             Ok::<_, UserError>((user, n))
//!         }))?
//!         .apply("Minutes", WindowInto::new(WindowFn::fixed(Duration::from_secs(60))))?
//!         .apply("Sum", Sum::per_key())?;
//!     p.run()?;
//!     Ok(())
//! }
//! // In `main`: `beam_core::cli::run_main(run)` prints an error with its
//! // causes and exits with status 1, without a panic.
//! run()?;
//! # Ok::<(), beam_core::BeamError>(())
//! ```
//!
//! Time is in microseconds ([`Timestamp`], [`Duration`]), finer than Beam's
//! milliseconds: Beam encodes window bounds in milliseconds, so sessions that
//! Beam computes from sub-millisecond event times lose those digits. To
//! compare output with Beam's, give elements millisecond timestamps
//! (`Timestamp::from_millis`).
//!
//! Runners see the graph through the [runner contract](kernel): type-erased
//! batches and typed kernels captured at construction, and share the model's
//! semantics through [`runner_support`].

#![deny(missing_docs)]

pub mod atomic_write;
pub mod batch;
pub mod cli;
pub mod coder;
pub mod combine;
pub mod dofn;
pub mod error;
pub mod gbk;
pub mod graph;
pub mod kernel;
pub mod logging;
pub mod metrics;
pub mod monitoring;
pub mod options;
pub mod pardo;
pub mod pipeline;
pub mod runner;
pub mod runner_support;
pub mod side_input;
pub mod source;
pub(crate) mod source_watermark;
pub mod state;
pub mod temp_paths;
pub mod testing;
pub mod time;
pub mod transforms;
pub mod trigger;
pub mod unbounded;
pub mod user_code;
pub mod window;
pub mod windowfn;

pub use batch::Batch;
pub use coder::{Element, Key};
pub use combine::builtins::{Max, Mean, Min, Sum, Summable, ToList, Top};
pub use combine::composed::CombineFns;
pub use combine::latest::Latest;
pub use combine::{Combine, CombineFn};
pub use dofn::{DoFn, FinishBundleContext, ProcessContext, StartBundleContext, TupleTag};
pub use error::{BeamError, Result, UserError, UserResult};
pub use gbk::GroupByKey;
pub use metrics::{MetricResults, MetricsContainer};
pub use options::{PipelineOptions, RunnerOption};
pub use pardo::{ParDo, ParDoOutputs};
pub use pipeline::{PBegin, PCollection, PTransform, Pipeline};
pub use runner::{
    Feature, KnownFailure, PipelineResult, PipelineState, Runner, RunnerRegistration,
};
pub use side_input::{PCollectionView, View};
pub use source::{BoundedSource, DynamicSplit, SourceReader};
pub use state::{StateContext, StatefulDoFn, StatefulParDo, TimeDomain};
pub use temp_paths::TempPath;
pub use time::{Duration, Timestamp};
pub use transforms::cogbk::{CoGbkResult, CoGroupByKey, KeyedPCollectionTuple};
pub use transforms::count::{Count, Distinct};
pub use transforms::elementwise::{
    Filter, FlatMap, Keys, KvSwap, Map, MapWithContext, Partition, Reify, TryMap, Values, WithKeys,
    WithTimestamps,
};
pub use transforms::flatten::{Flatten, PCollectionList, Reshuffle};
pub use transforms::group_into_batches::GroupIntoBatches;
pub use transforms::join::InnerJoin;
pub use transforms::periodic_impulse::PeriodicImpulse;
pub use transforms::publish::{Publish, Publisher};
pub use transforms::publish_transactionally::{PublishTransactionally, TransactionalPublisher};
pub use transforms::roots::{Create, Impulse, Read};
pub use transforms::test_stream::TestStream;
pub use transforms::windowing::WindowInto;
pub use trigger::{AccumulationMode, ClosingBehavior, OnTimeBehavior, Trigger};
pub use unbounded::{
    BoundedOutOfOrderness, CheckpointMark, Poll, ReadUnbounded, UnboundedReader, UnboundedSource,
};
pub use window::{IntervalWindow, PaneInfo, PaneTiming, Window, WindowedValue, GLOBAL_WINDOW_MAX};
pub use windowfn::{TimestampCombiner, WindowFn, WindowingStrategy};

pub use inventory;
