//! Pipelines, PCollections and transforms.
//!
//! A [`Pipeline`] records a graph of transforms. [`PCollection<T>`] is a typed
//! handle to one of its datasets; applying a [`PTransform`] to it adds nodes and
//! returns the outputs. Composite transforms expand into other transforms, and
//! every application gets a unique hierarchical name made of the names of the
//! applications around it (`"CountWords/Count/Combine.perKey"`), used in errors,
//! metrics and graph exports. Applying two transforms with the same name in the
//! same scope is an error.
//!
//! ```
//! use beam_core::{Create, Map, Pipeline, PipelineOptions};
//! let p = Pipeline::new(PipelineOptions::default());
//! let nums = p.apply("Numbers", Create::of(vec![1, 2, 3])).unwrap();
//! let doubled = nums.apply("Double", Map::new(|x: &i32| x * 2)).unwrap();
//! assert!(nums.apply("Double", Map::new(|x: &i32| x * 3)).is_err()); // duplicate name
//! # let _ = doubled;
//! ```

use crate::batch::TypedCodec;
use crate::coder::Element;
use crate::error::{BeamError, Result};
use crate::graph::{Graph, PCollectionNode, Primitive, TransformNode};
use crate::monitoring::server::{Endpoints, MonitorServer};
use crate::monitoring::{report, JobMonitor, RunState};
use crate::options::PipelineOptions;
use crate::runner::{find_runner, PipelineResult};
use crate::windowfn::WindowingStrategy;
use std::collections::HashSet;
use std::io::IsTerminal;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, MutexGuard};

/// A transform from `In` to [`PTransform::Output`].
///
/// Composites implement `expand` by applying other transforms to `input`;
/// primitives are provided by beam-core.
pub trait PTransform<In> {
    /// What applying the transform produces.
    type Output;
    /// Builds the transform's part of the graph.
    fn expand(self, input: &In) -> Result<Self::Output>;
}

struct State {
    transforms: Vec<TransformNode>,
    pcollections: Vec<PCollectionNode>,
    scope: Vec<String>,
    names: HashSet<String>,
    next_id: usize,
    /// Temporary directories of the transforms, removed when a run ends.
    temp_paths: Vec<crate::TempPath>,
}

/// A pipeline under construction; cheap to clone (all clones share one graph).
#[derive(Clone)]
pub struct Pipeline {
    state: Arc<Mutex<State>>,
    options: Arc<PipelineOptions>,
}

/// The input of transforms that start a pipeline (Create, Read, Impulse).
#[derive(Clone)]
pub struct PBegin {
    pipeline: Pipeline,
}

impl PBegin {
    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}

/// Description of one output of a primitive being added.
pub(crate) struct OutputSpec {
    pub codec: Arc<dyn crate::batch::BatchCodec>,
    pub windowing: WindowingStrategy,
    pub bounded: bool,
    pub tag: String,
}

impl OutputSpec {
    pub(crate) fn of<T: Element>(windowing: WindowingStrategy, bounded: bool) -> Self {
        OutputSpec {
            codec: Arc::new(TypedCodec::<T>::new()),
            windowing,
            bounded,
            tag: "out".to_string(),
        }
    }
    pub(crate) fn tagged(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }
}

impl Pipeline {
    /// An empty pipeline that will run with `options`.
    pub fn new(options: PipelineOptions) -> Self {
        Pipeline {
            state: Arc::new(Mutex::new(State {
                transforms: Vec::new(),
                pcollections: Vec::new(),
                scope: Vec::new(),
                names: HashSet::new(),
                next_id: 0,
                temp_paths: Vec::new(),
            })),
            options: Arc::new(options),
        }
    }

    /// The options the pipeline will run with.
    pub fn options(&self) -> &PipelineOptions {
        &self.options
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies a root transform (Create, Read, ...).
    pub fn apply<T: PTransform<PBegin>>(&self, name: &str, transform: T) -> Result<T::Output> {
        let begin = PBegin {
            pipeline: self.clone(),
        };
        self.apply_to(name, &begin, transform)
    }

    /// Applies `transform` to `input` under `name` in the current scope.
    pub fn apply_to<In, T: PTransform<In>>(
        &self,
        name: &str,
        input: &In,
        transform: T,
    ) -> Result<T::Output> {
        if name.is_empty() || name.contains('/') {
            let scope = self.lock().scope.join("/");
            return Err(BeamError::construction(
                format!("{scope}/{name}"),
                "a step name must be non-empty and must not contain '/'",
            ));
        }
        {
            let mut st = self.lock();
            let mut full = st.scope.join("/");
            if !full.is_empty() {
                full.push('/');
            }
            full.push_str(name);
            if !st.names.insert(full.clone()) {
                return Err(BeamError::DuplicateName { name: full });
            }
            st.scope.push(name.to_string());
        }
        let out = transform.expand(input);
        self.lock().scope.pop();
        out
    }

    /// The full name of the application being expanded.
    pub fn current_scope(&self) -> String {
        self.lock().scope.join("/")
    }

    /// A fresh id (for views and other per-pipeline identities).
    pub(crate) fn next_id(&self) -> usize {
        let mut st = self.lock();
        st.next_id += 1;
        st.next_id
    }

    /// Adds a primitive named after the current scope; returns its output ids.
    pub(crate) fn add_primitive(
        &self,
        primitive: Primitive,
        inputs: Vec<usize>,
        outputs: Vec<OutputSpec>,
    ) -> Result<Vec<usize>> {
        let mut st = self.lock();
        let name = st.scope.join("/");
        if st.transforms.iter().any(|t| t.name == name) {
            return Err(BeamError::DuplicateName { name });
        }
        let tid = st.transforms.len();
        let mut ids = Vec::with_capacity(outputs.len());
        for o in outputs {
            let id = st.pcollections.len();
            st.pcollections.push(PCollectionNode {
                name: format!("{name}.{}", o.tag),
                producer: tid,
                codec: o.codec,
                windowing: o.windowing,
                bounded: o.bounded,
            });
            ids.push(id);
        }
        st.transforms.push(TransformNode {
            name,
            primitive,
            inputs,
            outputs: ids.clone(),
        });
        Ok(ids)
    }

    pub(crate) fn pcollection_info(&self, id: usize) -> (WindowingStrategy, bool, String) {
        let st = self.lock();
        let p = &st.pcollections[id];
        (p.windowing.clone(), p.bounded, p.name.clone())
    }

    /// A snapshot of the graph built so far.
    pub fn graph(&self) -> Graph {
        let st = self.lock();
        Graph {
            transforms: st.transforms.clone(),
            pcollections: st.pcollections.clone(),
            options: (*self.options).clone(),
        }
    }

    /// Runs the pipeline on the runner named in its options and waits for it to finish.
    ///
    /// Before any data moves: the runner is looked up (an unknown name lists the
    /// registered ones), the graph is written to `--dump-graph` if asked, and the
    /// runner validates that it supports every step.
    ///
    /// While it runs, the run's [`JobMonitor`] records what every step does;
    /// `--metrics-addr` and `--status-addr` serve it, `--metrics-out` writes
    /// it at the end (also after a failure), and a run of two seconds or more
    /// prints a per-step summary when standard error is a terminal.
    ///
    /// SIGINT and SIGTERM stop the process while it runs (status 130 and
    /// 143), removing the temporary directories of every run in progress; the
    /// run's own temporary directories (see [`hold_temp_path`](Self::hold_temp_path))
    /// are removed when it returns, whether it succeeded or failed.
    pub fn run(&self) -> Result<PipelineResult> {
        crate::temp_paths::install_signal_handler();
        let result = self.run_graph();
        let held = std::mem::take(&mut self.lock().temp_paths);
        drop(held);
        result
    }

    fn run_graph(&self) -> Result<PipelineResult> {
        let reg = find_runner(&self.options.runner)?;
        let graph = self.graph();
        if let Some(path) = &self.options.dump_graph {
            graph.dump(path)?;
        }
        let runner = (reg.create)();
        runner.validate(&graph)?;
        let options = graph.options.clone();
        crate::logging::init(options.log_level.as_deref())?;
        let monitor = Arc::new(JobMonitor::new(&graph));
        let mut servers = Vec::new();
        let endpoints = [
            (options.metrics_addr, Endpoints::Prometheus, "metrics"),
            (options.status_addr, Endpoints::StatusPage, "status page"),
        ];
        for (addr, kind, what) in endpoints {
            if let Some(addr) = addr {
                let server = MonitorServer::start(addr, kind, monitor.clone())?;
                let path = if kind == Endpoints::Prometheus {
                    "metrics"
                } else {
                    ""
                };
                eprintln!("{what}: http://{}/{path}", server.address());
                servers.push(server);
            }
        }
        let span = tracing::info_span!("run", job = %options.job_name, runner = %options.runner);
        let bar = graph
            .pcollections
            .iter()
            .all(|p| p.bounded)
            .then(|| crate::monitoring::progress::ProgressBar::start(monitor.clone()));
        let result = span.in_scope(|| runner.run(graph, monitor.clone()));
        drop(bar);
        match &result {
            Ok(_) => monitor.finish(RunState::Done),
            Err(e) => {
                monitor.record_error(e);
                monitor.finish(RunState::Failed);
            }
        }
        let snapshot = monitor.snapshot();
        if let Some(path) = &options.metrics_out {
            let written = report::write_metrics_json(&snapshot, path);
            if let (Err(e), true) = (written, result.is_ok()) {
                return Err(e);
            }
        }
        // Runs shorter than this need no summary (tests, small examples).
        const SUMMARY_AFTER_SECONDS: f64 = 2.0;
        if std::io::stderr().is_terminal() && snapshot.elapsed_seconds >= SUMMARY_AFTER_SECONDS {
            eprint!("{}", report::summary(&snapshot));
        }
        drop(servers);
        result
    }

    /// Keeps a transform's temporary directory until the pipeline's run ends,
    /// then removes it (on success, on failure, and on SIGINT or SIGTERM).
    pub fn hold_temp_path(&self, path: crate::TempPath) {
        self.lock().temp_paths.push(path);
    }
}

/// A typed handle to a dataset of a [`Pipeline`].
pub struct PCollection<T> {
    pipeline: Pipeline,
    id: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for PCollection<T> {
    fn clone(&self) -> Self {
        PCollection {
            pipeline: self.pipeline.clone(),
            id: self.id,
            _t: PhantomData,
        }
    }
}

impl<T: Element> PCollection<T> {
    pub(crate) fn new(pipeline: Pipeline, id: usize) -> Self {
        PCollection {
            pipeline,
            id,
            _t: PhantomData,
        }
    }
    /// Applies `transform` under `name`.
    pub fn apply<X: PTransform<PCollection<T>>>(
        &self,
        name: &str,
        transform: X,
    ) -> Result<X::Output> {
        self.pipeline.apply_to(name, self, transform)
    }
    /// The pipeline this PCollection belongs to.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
    /// Id within the pipeline graph.
    pub fn id(&self) -> usize {
        self.id
    }
    /// How the PCollection is windowed.
    pub fn windowing(&self) -> WindowingStrategy {
        self.pipeline.pcollection_info(self.id).0
    }
    /// Whether the PCollection is finite.
    pub fn is_bounded(&self) -> bool {
        self.pipeline.pcollection_info(self.id).1
    }
    /// The PCollection's name in the graph.
    pub fn name(&self) -> String {
        self.pipeline.pcollection_info(self.id).2
    }
}

impl<T> std::fmt::Debug for PCollection<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PCollection<{}>#{}", std::any::type_name::<T>(), self.id)
    }
}
