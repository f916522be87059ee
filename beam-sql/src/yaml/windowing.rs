//! The windowing transforms of YAML pipelines: `WindowInto`,
//! `AssignTimestamps` and `ExtractWindowingInfo`.

use super::{Language, YamlContext, YamlInputs, YamlOutputs, YamlTransform};
use crate::expr::lit;
use crate::rows::Rows;
use crate::table::Table;
use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use beam_core::{DoFn, ParDo, ProcessContext, Result, UserError, UserResult, Window, WindowFn};
use serde::Deserialize;
use serde_yaml_ng::Value;
use std::sync::Arc;

fn arrow_error(e: impl std::fmt::Display) -> UserError {
    UserError::msg(e.to_string())
}

/// `WindowInto`: `windowing: {type: fixed, size: 10s}` (or sliding,
/// sessions, global).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowInto {
    windowing: Value,
}

#[typetag::deserialize(name = "WindowInto")]
impl YamlTransform for WindowInto {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let t = inputs.one(cx)?;
        let f = super::windowing(&self.windowing).map_err(|m| cx.error(m))?;
        let rows = t
            .rows()
            .apply("WindowInto", beam_core::WindowInto::new(f))?;
        Ok(YamlOutputs::main(Table::new(rows, t.schema().clone())))
    }
}

/// `AssignTimestamps`: each row's event time from `timestamp`, a field of
/// a timestamp type or of seconds since the epoch.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignTimestamps {
    timestamp: Value,
    #[serde(default)]
    language: Option<String>,
}

#[typetag::deserialize(name = "AssignTimestamps")]
impl YamlTransform for AssignTimestamps {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let t = inputs.one(cx)?;
        let language = Language::named(cx, self.language.as_deref())?;
        let e = language.expression(cx, &self.timestamp)?;
        let compiled =
            crate::eval::CompiledExpr::compile(&e, t.schema()).map_err(|m| cx.error(m))?;
        let e = match compiled.data_type() {
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => e,
            t if t.is_numeric() => (e * lit(1_000_000))
                .cast(DataType::Int64)
                .cast(crate::window::BOUND_TYPE),
            other => {
                return Err(cx.error(format!(
                    "the timestamp must be a time or seconds, not {other}"
                )))
            }
        };
        Ok(YamlOutputs::main(t.with_event_time("Timestamps", e)?))
    }
}

/// `ExtractWindowingInfo`: the fields `window_start`, `window_end` (seconds,
/// as doubles), `window_string` (`[start, end)`) and `timestamp` (seconds)
/// of each row's window and element.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtractWindowingInfo {
    #[serde(default)]
    fields: super::builtins::Names,
}

#[typetag::deserialize(name = "ExtractWindowingInfo")]
impl YamlTransform for ExtractWindowingInfo {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let t = inputs.one(cx)?;
        let mut fields = self.fields.list();
        if fields.is_empty() {
            fields = ["timestamp", "window_start", "window_end", "window_string"]
                .map(String::from)
                .to_vec();
        }
        let mut out: Vec<Field> = t
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for f in &fields {
            let ty = match f.as_str() {
                "window_string" => DataType::Utf8,
                "timestamp" | "window_start" | "window_end" => DataType::Float64,
                other => return Err(cx.error(format!("unknown windowing field `{other}`"))),
            };
            out.push(Field::new(f, ty, true));
        }
        let schema = Arc::new(Schema::new(out));
        let rows = t.rows().apply(
            "Extract",
            ParDo::of(WindowingInfo {
                fields,
                output: schema.clone(),
            }),
        )?;
        Ok(YamlOutputs::main(Table::new(rows, schema)))
    }
}

#[derive(Clone)]
struct WindowingInfo {
    fields: Vec<String>,
    output: arrow::datatypes::SchemaRef,
}

impl DoFn for WindowingInfo {
    type In = Rows;
    type Out = Rows;
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        let n = rows.num_rows();
        let seconds = |t: beam_core::Timestamp| t.as_micros() as f64 / 1e6;
        let (start, end) = match ctx.window() {
            Window::Interval(w) => (Some(seconds(w.start)), Some(seconds(w.end))),
            Window::Global => (None, None),
        };
        let mut columns = rows.batch().columns().to_vec();
        for f in &self.fields {
            let column: ArrayRef = match f.as_str() {
                "timestamp" => Arc::new(Float64Array::from(vec![seconds(ctx.timestamp()); n])),
                "window_start" => Arc::new(Float64Array::from(vec![start; n])),
                "window_end" => Arc::new(Float64Array::from(vec![end; n])),
                _ => {
                    let text = match (start, end) {
                        (Some(s), Some(e)) => format!(
                            "[{}, {})",
                            super::values::python_float(s),
                            super::values::python_float(e)
                        ),
                        _ => "GlobalWindow".to_string(),
                    };
                    Arc::new(StringArray::from(vec![text; n]))
                }
            };
            columns.push(column);
        }
        let batch = RecordBatch::try_new(self.output.clone(), columns).map_err(arrow_error)?;
        ctx.output(Rows::new(batch));
        Ok(())
    }
}

/// A `windowing:` spec: `{type: fixed, size: 10s}`, `sliding` (`size`,
/// `period`), `sessions` (`gap`) or `global`.
pub(crate) fn windowing(v: &Value) -> std::result::Result<WindowFn, String> {
    let m = v.as_mapping().ok_or("`windowing` must be a mapping")?;
    let get = |k: &str| -> std::result::Result<beam_core::Duration, String> {
        let v = m.get(k).ok_or(format!("this windowing needs `{k}`"))?;
        duration(v)
    };
    let kind = m
        .get("type")
        .and_then(Value::as_str)
        .ok_or("`windowing` needs a `type`")?;
    for key in m.keys() {
        let k = key.as_str().unwrap_or("");
        if !["type", "size", "period", "gap", "offset"].contains(&k) {
            return Err(format!("unknown windowing key `{k}`"));
        }
    }
    let offset = match m.get("offset") {
        Some(v) => duration(v)?,
        None => beam_core::Duration::ZERO,
    };
    let f = match kind {
        "global" => WindowFn::global(),
        "fixed" => WindowFn::fixed_with_offset(get("size")?, offset),
        "sliding" => WindowFn::sliding_with_offset(get("size")?, get("period")?, offset),
        "sessions" => WindowFn::sessions(get("gap")?),
        other => return Err(format!("unknown windowing type `{other}`")),
    };
    f.validate()?;
    Ok(f)
}

/// `10s`, `500ms`, `5m`, `2h`, `1d`, or a number of seconds.
fn duration(v: &Value) -> std::result::Result<beam_core::Duration, String> {
    let s = super::text(v).ok_or("a duration must be a number or text such as 10s")?;
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let amount: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration such as 10s"))?;
    let micros_per = match unit.trim() {
        "" | "s" => 1e6,
        "ms" => 1e3,
        "m" | "min" => 60e6,
        "h" => 3600e6,
        "d" => 86_400e6,
        other => return Err(format!("unknown duration unit `{other}` in `{s}`")),
    };
    Ok(beam_core::Duration::from_micros(
        (amount * micros_per).round() as i64,
    ))
}
