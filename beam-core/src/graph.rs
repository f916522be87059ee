//! The pipeline graph a runner receives, and its export as JSON and DOT.
//!
//! Transforms are stored in construction order, which is a topological order:
//! every transform's inputs were produced by transforms before it.

use crate::batch::{Batch, BatchCodec};
use crate::error::{BeamError, Result};
use crate::kernel::{GroupingKernel, ParDoKernel, ViewKernel, WindowKernel};
use crate::options::PipelineOptions;
use crate::source::ErasedSource;
use crate::windowfn::WindowingStrategy;
use serde::Serialize;
use std::fmt::Write as _;
use std::sync::Arc;

/// A side input read by a ParDo.
#[derive(Clone)]
pub struct SideInputSpec {
    /// Identifies the view within the pipeline.
    pub view_id: usize,
    /// The PCollection the view is built from.
    pub pcollection: usize,
    /// Builds the view from the PCollection.
    pub kernel: Arc<dyn ViewKernel>,
}

/// The primitives every runner translates.
#[derive(Clone)]
#[non_exhaustive]
pub enum Primitive {
    /// One empty element `()` at [`Timestamp::MIN`](crate::Timestamp::MIN) in the global window.
    Impulse,
    /// Fixed elements.
    Create {
        /// The elements (with their timestamps and windows).
        values: Batch,
    },
    /// Reads a bounded source.
    Read {
        /// The source.
        source: Arc<dyn ErasedSource>,
        /// When set, how far out of event-time order the source's elements
        /// may be: streaming runners hold the read's watermark this far
        /// behind the latest event time each reader has read (see
        /// [`SourceWatermark`](crate::runner_support::SourceWatermark));
        /// otherwise the watermark moves to the end of time once all is read.
        out_of_orderness: Option<crate::time::Duration>,
    },
    /// Element-wise processing with a DoFn.
    ParDo {
        /// Builds DoFn processors.
        kernel: Arc<dyn ParDoKernel>,
        /// Views the DoFn reads.
        side_inputs: Vec<SideInputSpec>,
    },
    /// Groups `(K, V)` into `(K, Vec<V>)` per key and window.
    GroupByKey {
        /// Grouping tables.
        kernel: Arc<dyn GroupingKernel>,
    },
    /// Combines the values of each key and window; may be lifted before a shuffle.
    CombinePerKey {
        /// Combining tables.
        kernel: Arc<dyn GroupingKernel>,
    },
    /// The union of its inputs.
    Flatten,
    /// Assigns windows.
    WindowInto {
        /// Window assignment.
        kernel: Arc<dyn WindowKernel>,
    },
    /// Redistributes elements; elements, timestamps, windows and panes are unchanged.
    Reshuffle,
    /// A ParDo with state and timers per key and window.
    StatefulParDo {
        /// Builds per-worker processors.
        kernel: Arc<dyn crate::kernel::StatefulKernel>,
    },
    /// Reads an unbounded source.
    ReadUnbounded {
        /// The source.
        source: Arc<dyn crate::unbounded::ErasedUnboundedSource>,
    },
    /// Publishes staged items (the second phase of an exactly-once sink) and
    /// passes them on.
    Publish {
        /// The publisher.
        kernel: Arc<dyn crate::kernel::PublishKernel>,
    },
    /// A scripted unbounded source for tests.
    TestStream {
        /// The script, applied in order.
        events: Vec<StreamEvent>,
    },
}

/// One step of a [`TestStream`](crate::TestStream) script.
#[derive(Clone, Debug)]
pub enum StreamEvent {
    /// Emit these elements as one bundle.
    Elements(Batch),
    /// Move the stream's watermark here.
    Watermark(crate::time::Timestamp),
    /// Advance processing time by this much.
    ProcessingTime(crate::time::Duration),
}

impl Primitive {
    /// Short kind name, as in graph exports.
    pub fn kind(&self) -> &'static str {
        match self {
            Primitive::Impulse => "Impulse",
            Primitive::Create { .. } => "Create",
            Primitive::Read { .. } => "Read",
            Primitive::ParDo { .. } => "ParDo",
            Primitive::GroupByKey { .. } => "GroupByKey",
            Primitive::CombinePerKey { .. } => "CombinePerKey",
            Primitive::Flatten => "Flatten",
            Primitive::WindowInto { .. } => "WindowInto",
            Primitive::Reshuffle => "Reshuffle",
            Primitive::Publish { .. } => "Publish",
            Primitive::TestStream { .. } => "TestStream",
            Primitive::ReadUnbounded { .. } => "ReadUnbounded",
            Primitive::StatefulParDo { .. } => "StatefulParDo",
        }
    }
}

/// A primitive transform in the graph.
#[derive(Clone)]
pub struct TransformNode {
    /// Unique hierarchical name ("CountWords/Count/Combine.perKey").
    pub name: String,
    /// What it does.
    pub primitive: Primitive,
    /// Main inputs (PCollection ids).
    pub inputs: Vec<usize>,
    /// Outputs (PCollection ids), main output first.
    pub outputs: Vec<usize>,
}

impl TransformNode {
    /// Side inputs, for a ParDo.
    pub fn side_inputs(&self) -> &[SideInputSpec] {
        match &self.primitive {
            Primitive::ParDo { side_inputs, .. } => side_inputs,
            _ => &[],
        }
    }
}

/// A PCollection in the graph.
#[derive(Clone)]
pub struct PCollectionNode {
    /// Name: the producing step and output tag.
    pub name: String,
    /// Index of the producing transform.
    pub producer: usize,
    /// Decodes and creates batches of the element type.
    pub codec: Arc<dyn BatchCodec>,
    /// How it is windowed.
    pub windowing: WindowingStrategy,
    /// Whether it is finite.
    pub bounded: bool,
}

/// A complete pipeline: what a runner runs.
#[derive(Clone)]
pub struct Graph {
    /// Primitive transforms in topological order.
    pub transforms: Vec<TransformNode>,
    /// PCollections by id.
    pub pcollections: Vec<PCollectionNode>,
    /// The options of the run.
    pub options: PipelineOptions,
}

#[derive(Serialize)]
struct JsonTransform<'a> {
    name: &'a str,
    kind: &'a str,
    inputs: Vec<&'a str>,
    side_inputs: Vec<&'a str>,
    outputs: Vec<&'a str>,
}

#[derive(Serialize)]
struct JsonPCollection<'a> {
    name: &'a str,
    element_type: &'a str,
    bounded: bool,
    windowing: &'a WindowingStrategy,
}

#[derive(Serialize)]
struct JsonGraph<'a> {
    job_name: &'a str,
    transforms: Vec<JsonTransform<'a>>,
    pcollections: Vec<JsonPCollection<'a>>,
}

impl Graph {
    /// For each PCollection, the transforms that read it as a main input.
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut c = vec![Vec::new(); self.pcollections.len()];
        for (i, t) in self.transforms.iter().enumerate() {
            for &input in &t.inputs {
                c[input].push(i);
            }
        }
        c
    }

    /// The graph as JSON.
    pub fn to_json(&self) -> String {
        let pname = |id: &usize| self.pcollections[*id].name.as_str();
        let g = JsonGraph {
            job_name: &self.options.job_name,
            transforms: self
                .transforms
                .iter()
                .map(|t| JsonTransform {
                    name: &t.name,
                    kind: t.primitive.kind(),
                    inputs: t.inputs.iter().map(pname).collect(),
                    side_inputs: t
                        .side_inputs()
                        .iter()
                        .map(|s| pname(&s.pcollection))
                        .collect(),
                    outputs: t.outputs.iter().map(pname).collect(),
                })
                .collect(),
            pcollections: self
                .pcollections
                .iter()
                .map(|p| JsonPCollection {
                    name: &p.name,
                    element_type: p.codec.type_name(),
                    bounded: p.bounded,
                    windowing: &p.windowing,
                })
                .collect(),
        };
        serde_json::to_string_pretty(&g).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// The graph in Graphviz DOT: one node per transform, one edge per PCollection use.
    pub fn to_dot(&self) -> String {
        let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let mut s = String::new();
        let _ = writeln!(
            s,
            "digraph \"{}\" {{\n  rankdir=TB;\n  node [shape=box];",
            esc(&self.options.job_name)
        );
        for (i, t) in self.transforms.iter().enumerate() {
            let _ = writeln!(
                s,
                "  t{i} [label=\"{}\\n({})\"];",
                esc(&t.name),
                t.primitive.kind()
            );
        }
        for (i, t) in self.transforms.iter().enumerate() {
            for &input in &t.inputs {
                let p = &self.pcollections[input];
                let _ = writeln!(
                    s,
                    "  t{} -> t{i} [label=\"{}\"];",
                    p.producer,
                    esc(p.codec.type_name())
                );
            }
            for side in t.side_inputs() {
                let p = &self.pcollections[side.pcollection];
                let _ = writeln!(
                    s,
                    "  t{} -> t{i} [style=dashed, label=\"side input\"];",
                    p.producer
                );
            }
        }
        s.push_str("}\n");
        s
    }

    /// Writes the graph to `path`: DOT if it ends in `.dot`, JSON otherwise.
    pub fn dump(&self, path: &std::path::Path) -> Result<()> {
        let text = if path.extension().is_some_and(|e| e == "dot") {
            self.to_dot()
        } else {
            self.to_json()
        };
        std::fs::write(path, text).map_err(|e| BeamError::io(path.display().to_string(), e))
    }
}
