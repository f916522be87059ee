//! Beam YAML: pipelines written as Apache Beam YAML files, run on the
//! relational layer (so on every runner).
//!
//! A file has a `pipeline:` (a `chain` of transforms, each fed by the one
//! before, or a composite whose transforms name their `input`s) and
//! optional `options:`. Each transform has a `type`, an optional `name`,
//! `input` (a name, `name.output`, a list or a mapping), `config` and
//! `windowing`; `type: chain` and `type: composite` nest, with `input` and
//! `output` wiring. Transform types are looked up in a registry built on
//! `typetag`: the built-in ones are listed in [`builtins`], and a crate can
//! add its own by implementing [`YamlTransform`] for a serde-deserializable
//! config type under `#[typetag::deserialize(name = "MyTransform")]`.
//!
//! Expressions (`Filter`'s `keep`, `MapToFields`'s fields, `Partition`'s `by`,
//! `Combine`'s values) are SQL with `language: sql`, column names without a
//! language, and with `language: python` the expressions that Python and SQL
//! share (names, literals, arithmetic, comparisons, `and`/`or`/`not`, `is
//! None`). Python and JavaScript callables are refused with an error naming
//! the transform.
//!
//! ```
//! use beam_core::Pipeline;
//! use beam_sql::yaml::YamlPipeline;
//!
//! let spec = YamlPipeline::parse(r#"
//! pipeline:
//!   type: chain
//!   transforms:
//!     - type: Create
//!       config:
//!         elements: [{fruit: apple, n: 3}, {fruit: pear, n: 1}, {fruit: apple, n: 2}]
//!     - type: Combine
//!       config:
//!         group_by: fruit
//!         combine:
//!           total: {value: n, fn: sum}
//! "#)?;
//! let p = Pipeline::new(Default::default());
//! spec.expand(&p)?;
//! # Ok::<(), beam_core::BeamError>(())
//! ```

pub mod builtins;
mod expressions;
mod io;
mod partition;
mod values;
mod windowing;

use crate::table::Table;
use beam_core::{BeamError, Pipeline, Result, WindowFn, WindowInto};
use serde_yaml_ng::{Mapping, Value};
use std::collections::BTreeMap;
pub(crate) use windowing::windowing;

pub use expressions::Language;

/// A transform that a YAML `type` names. Its config is deserialized from the
/// transform's `config` mapping.
#[typetag::deserialize]
pub trait YamlTransform {
    /// Builds the transform on its inputs; names of steps are relative to
    /// the transform's own scope.
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs>;
}

/// What a transform is applied in: the pipeline and its step name.
pub struct YamlContext {
    pipeline: Pipeline,
    step: String,
}

impl YamlContext {
    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
    /// A construction error naming the transform.
    pub fn error(&self, message: impl Into<String>) -> BeamError {
        BeamError::construction(&self.step, message)
    }
}

/// The inputs of a transform, in the order written (named `input` when
/// there is one unnamed input).
#[derive(Clone, Default)]
pub struct YamlInputs {
    tables: Vec<(String, Table)>,
}

impl YamlInputs {
    /// Every input with its name.
    pub fn all(&self) -> &[(String, Table)] {
        &self.tables
    }
    /// The single input, or an error.
    pub fn one(&self, cx: &YamlContext) -> Result<&Table> {
        match self.tables.as_slice() {
            [(_, t)] => Ok(t),
            [] => Err(cx.error("this transform needs an input")),
            _ => Err(cx.error("this transform takes one input")),
        }
    }
}

/// The outputs of a transform: its main output and named ones.
#[derive(Clone, Default)]
pub struct YamlOutputs {
    main: Option<Table>,
    named: BTreeMap<String, Table>,
}

impl YamlOutputs {
    /// Just a main output.
    pub fn main(table: Table) -> YamlOutputs {
        YamlOutputs {
            main: Some(table),
            named: BTreeMap::new(),
        }
    }
    /// No outputs (a sink).
    pub fn none() -> YamlOutputs {
        YamlOutputs::default()
    }
    /// Adds a named output.
    pub fn with(mut self, name: &str, table: Table) -> YamlOutputs {
        self.named.insert(name.to_string(), table);
        self
    }
}

/// A parsed Beam YAML pipeline file.
pub struct YamlPipeline {
    pipeline: Mapping,
}

fn construction(message: impl Into<String>) -> BeamError {
    BeamError::construction("pipeline", message)
}

fn mapping<'a>(v: &'a Value, what: &str) -> Result<&'a Mapping> {
    v.as_mapping()
        .ok_or_else(|| construction(format!("{what} must be a mapping")))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl YamlPipeline {
    /// Parses a file's text.
    pub fn parse(yaml: &str) -> Result<YamlPipeline> {
        let root: Value = serde_yaml_ng::from_str(yaml)
            .map_err(|e| construction(format!("the file is not valid YAML: {e}")))?;
        let root = mapping(&root, "the file")?;
        for key in root.keys() {
            match key.as_str() {
                Some("pipeline" | "options" | "providers") => {}
                _ => {
                    return Err(construction(format!(
                        "unknown top-level key {}",
                        serde_yaml_ng::to_string(key).unwrap_or_default().trim()
                    )))
                }
            }
        }
        if root.get("providers").is_some() {
            return Err(construction(
                "`providers` (external transform services) are not supported; register Rust transforms with typetag",
            ));
        }
        let pipeline = root
            .get("pipeline")
            .ok_or_else(|| construction("the file has no `pipeline`"))?;
        let pipeline = match pipeline {
            // A bare list of transforms is a composite.
            Value::Sequence(_) => {
                let mut m = Mapping::new();
                m.insert("transforms".into(), pipeline.clone());
                m
            }
            other => mapping(other, "`pipeline`")?.clone(),
        };
        Ok(YamlPipeline { pipeline })
    }

    /// Builds the pipeline's transforms into `p`.
    pub fn expand(&self, p: &Pipeline) -> Result<()> {
        let mut names = std::collections::BTreeSet::new();
        Scope::new(p, &mut names).composite(&self.pipeline, &YamlInputs::default(), "pipeline")?;
        Ok(())
    }
}

/// Expands transforms, keeping step names unique.
struct Scope<'a> {
    pipeline: Pipeline,
    names: &'a mut std::collections::BTreeSet<String>,
}

/// The keys a transform spec may have.
const SPEC_KEYS: &[&str] = &[
    "type",
    "name",
    "input",
    "output",
    "config",
    "windowing",
    "transforms",
    "source",
    "sink",
    "resource_hints",
];

impl<'a> Scope<'a> {
    fn new(p: &Pipeline, names: &'a mut std::collections::BTreeSet<String>) -> Scope<'a> {
        Scope {
            pipeline: p.clone(),
            names,
        }
    }

    fn step_name(&mut self, wanted: &str) -> String {
        let base: String = wanted.replace('/', "_");
        let base = if base.is_empty() {
            "Transform".into()
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 1;
        while !self.names.insert(name.clone()) {
            n += 1;
            name = format!("{base}{n}");
        }
        name
    }

    /// A `chain` or `composite` (the kind is `type`; without one, a list
    /// whose transforms name no inputs is a chain).
    fn composite(
        &mut self,
        spec: &Mapping,
        inputs: &YamlInputs,
        path: &str,
    ) -> Result<YamlOutputs> {
        let mut transforms: Vec<Value> = Vec::new();
        if let Some(source) = spec.get("source") {
            transforms.push(source.clone());
        }
        match spec.get("transforms") {
            Some(Value::Sequence(list)) => transforms.extend(list.iter().cloned()),
            Some(_) => return Err(construction(format!("{path}: `transforms` must be a list"))),
            None => {}
        }
        if let Some(sink) = spec.get("sink") {
            transforms.push(sink.clone());
        }
        let kind = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("composite");
        if kind == "chain" {
            let mut current = inputs.clone();
            let mut last = YamlOutputs::none();
            for (i, t) in transforms.iter().enumerate() {
                let t = mapping(t, &format!("{path}: transform {}", i + 1))?;
                if t.get("input").is_some() && i > 0 {
                    return Err(construction(format!(
                        "{path}: in a chain, only the first transform may name an `input`"
                    )));
                }
                last = self.transform(t, &current, path)?;
                current = YamlInputs {
                    tables: last
                        .main
                        .iter()
                        .map(|t| ("input".to_string(), t.clone()))
                        .collect(),
                };
            }
            return Ok(last);
        }
        // A composite: transforms are expanded in dependency order.
        let specs: Vec<&Mapping> = transforms
            .iter()
            .enumerate()
            .map(|(i, t)| mapping(t, &format!("{path}: transform {}", i + 1)))
            .collect::<Result<_>>()?;
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        let mut ambiguous = std::collections::BTreeSet::new();
        for (i, t) in specs.iter().enumerate() {
            for key in [t.get("name"), t.get("type")].into_iter().flatten() {
                let key = text(key).unwrap_or_default();
                if by_name.insert(key.clone(), i).is_some_and(|j| j != i) {
                    ambiguous.insert(key);
                }
                if t.get("name").is_some() {
                    break;
                }
            }
        }
        let mut done: Vec<Option<YamlOutputs>> = vec![None; specs.len()];
        let mut resolve = Resolver {
            specs: &specs,
            by_name: &by_name,
            ambiguous: &ambiguous,
            scope_inputs: inputs,
            done: &mut done,
            path,
        };
        for i in 0..specs.len() {
            resolve.expand(self, i, &mut Vec::new())?;
        }
        let outputs = match spec.get("output") {
            None => YamlOutputs::none(),
            Some(Value::Mapping(m)) => {
                let mut out = YamlOutputs::none();
                for (k, v) in m {
                    let table =
                        resolve.reference(self, &text(v).unwrap_or_default(), &mut Vec::new())?;
                    out.named.insert(text(k).unwrap_or_default(), table);
                }
                out
            }
            Some(v) => YamlOutputs::main(resolve.reference(
                self,
                &text(v).unwrap_or_default(),
                &mut Vec::new(),
            )?),
        };
        Ok(outputs)
    }

    /// One transform of a composite or chain, on its resolved inputs.
    fn transform(
        &mut self,
        spec: &Mapping,
        inputs: &YamlInputs,
        path: &str,
    ) -> Result<YamlOutputs> {
        for key in spec.keys() {
            let k = key.as_str().unwrap_or("");
            if !SPEC_KEYS.contains(&k) {
                return Err(construction(format!(
                    "{path}: a transform has the unknown key `{k}`"
                )));
            }
        }
        let kind = spec
            .get("type")
            .and_then(text)
            .ok_or_else(|| construction(format!("{path}: a transform has no `type`")))?;
        let label = spec
            .get("name")
            .and_then(text)
            .unwrap_or_else(|| kind.clone());
        let step = self.step_name(&label);
        let windowing = spec
            .get("windowing")
            .map(|w| windowing(w).map_err(|m| BeamError::construction(&step, m)))
            .transpose()?;
        let mut inputs = inputs.clone();
        if let Some(w) = &windowing {
            for (name, t) in inputs.tables.iter_mut() {
                *t = rewindow(&self.pipeline, &format!("{step}Windowing{name}"), t, w)?;
            }
        }
        let outputs = if kind == "chain" || kind == "composite" {
            let inner = self.pipeline.clone();
            let names = &mut *self.names;
            let mut nested = Scope {
                pipeline: inner,
                names,
            };
            nested.composite(spec, &inputs, &format!("{path}/{label}"))?
        } else {
            if spec.get("output").is_some() || spec.get("transforms").is_some() {
                return Err(BeamError::construction(
                    &step,
                    "`output` and `transforms` belong to chain and composite transforms",
                ));
            }
            let config = match spec.get("config") {
                None | Some(Value::Null) => Mapping::new(),
                Some(Value::Mapping(m)) => m.clone(),
                Some(_) => {
                    return Err(BeamError::construction(&step, "`config` must be a mapping"))
                }
            };
            // The registry's externally tagged form: `{Type: config}`.
            let mut tagged = Mapping::new();
            tagged.insert(Value::String(kind.clone()), Value::Mapping(config));
            let transform: Box<dyn YamlTransform> =
                serde_yaml_ng::from_value(Value::Mapping(tagged)).map_err(|e| {
                    let e = e.to_string();
                    let message = if e.contains("unknown variant") {
                        format!("no transform type `{kind}` is registered ({e})")
                    } else {
                        format!("the config of {kind} is invalid: {e}")
                    };
                    BeamError::construction(&step, message)
                })?;
            let cx = YamlContext {
                pipeline: self.pipeline.clone(),
                step: step.clone(),
            };
            self.pipeline
                .apply_to(&step, &inputs, Leaf { transform, cx: &cx })?
        };
        match (&windowing, inputs.tables.is_empty()) {
            (Some(w), true) => {
                let mut out = outputs;
                if let Some(t) = &out.main {
                    out.main = Some(rewindow(&self.pipeline, &format!("{step}Windowing"), t, w)?);
                }
                Ok(out)
            }
            _ => Ok(outputs),
        }
    }
}

struct Leaf<'c> {
    transform: Box<dyn YamlTransform>,
    cx: &'c YamlContext,
}

impl beam_core::PTransform<YamlInputs> for Leaf<'_> {
    type Output = YamlOutputs;
    fn expand(self, inputs: &YamlInputs) -> Result<YamlOutputs> {
        self.transform.expand(self.cx, inputs)
    }
}

/// Resolves the inputs of a composite's transforms by name.
struct Resolver<'r> {
    specs: &'r [&'r Mapping],
    by_name: &'r BTreeMap<String, usize>,
    ambiguous: &'r std::collections::BTreeSet<String>,
    scope_inputs: &'r YamlInputs,
    done: &'r mut Vec<Option<YamlOutputs>>,
    path: &'r str,
}

impl Resolver<'_> {
    fn expand(
        &mut self,
        scope: &mut Scope<'_>,
        i: usize,
        stack: &mut Vec<usize>,
    ) -> Result<YamlOutputs> {
        if let Some(out) = &self.done[i] {
            return Ok(out.clone());
        }
        if stack.contains(&i) {
            return Err(construction(format!(
                "{}: the transforms' inputs form a cycle",
                self.path
            )));
        }
        stack.push(i);
        let spec = self.specs[i];
        let label = [spec.get("name"), spec.get("type")]
            .into_iter()
            .flatten()
            .find_map(text)
            .unwrap_or_default();
        let inputs = self.inputs_of(scope, spec, stack).map_err(|e| match e {
            BeamError::Construction { step, message } => BeamError::Construction {
                step,
                message: format!("the input of `{label}`: {message}"),
            },
            other => other,
        })?;
        let out = scope.transform(spec, &inputs, self.path)?;
        stack.pop();
        self.done[i] = Some(out.clone());
        Ok(out)
    }

    /// The tables a transform's `input` names.
    fn inputs_of(
        &mut self,
        scope: &mut Scope<'_>,
        spec: &Mapping,
        stack: &mut Vec<usize>,
    ) -> Result<YamlInputs> {
        let mut inputs = YamlInputs::default();
        match spec.get("input") {
            None => {}
            Some(Value::Sequence(list)) => {
                for (n, v) in list.iter().enumerate() {
                    let r = text(v).unwrap_or_default();
                    let t = self.reference(scope, &r, stack)?;
                    inputs.tables.push((format!("input{n}"), t));
                }
            }
            Some(Value::Mapping(m)) => {
                for (k, v) in m {
                    let t = self.reference(scope, &text(v).unwrap_or_default(), stack)?;
                    inputs.tables.push((text(k).unwrap_or_default(), t));
                }
            }
            Some(v) => {
                let t = self.reference(scope, &text(v).unwrap_or_default(), stack)?;
                inputs.tables.push(("input".into(), t));
            }
        }
        Ok(inputs)
    }

    /// `Name`, `Name.output`, `input` or `input.name`.
    fn reference(
        &mut self,
        scope: &mut Scope<'_>,
        r: &str,
        stack: &mut Vec<usize>,
    ) -> Result<Table> {
        let path = self.path;
        let missing = move |what: String| construction(format!("{path}: {what}"));
        if r == "input" {
            return match self.scope_inputs.tables.as_slice() {
                [(_, t)] => Ok(t.clone()),
                _ => Err(missing(
                    "`input` names the composite's single input, but it has none or several".into(),
                )),
            };
        }
        if let Some(name) = r.strip_prefix("input.") {
            if let Some((_, t)) = self.scope_inputs.tables.iter().find(|(n, _)| n == name) {
                return Ok(t.clone());
            }
        }
        let (name, tag) = match self.by_name.get(r) {
            Some(_) => (r, None),
            None => match r.rsplit_once('.') {
                Some((n, t)) if self.by_name.contains_key(n) => (n, Some(t)),
                _ => return Err(missing(format!("no transform is named `{r}`"))),
            },
        };
        if self.ambiguous.contains(name) {
            return Err(missing(format!(
                "`{name}` names several transforms: give them distinct names"
            )));
        }
        let i = self.by_name[name];
        let out = self.expand(scope, i, stack)?;
        match tag {
            None => out
                .main
                .clone()
                .ok_or_else(|| missing(format!("`{name}` has no main output"))),
            Some(tag) => out.named.get(tag).cloned().ok_or_else(|| {
                missing(format!(
                    "`{name}` has no output `{tag}` (it has: {})",
                    out.named.keys().cloned().collect::<Vec<_>>().join(", ")
                ))
            }),
        }
    }
}

/// Applies a windowing to a table.
fn rewindow(p: &Pipeline, name: &str, t: &Table, w: &WindowFn) -> Result<Table> {
    let rows = p.apply_to(name, t.rows(), WindowInto::new(w.clone()))?;
    Ok(Table::new(rows, t.schema().clone()))
}
