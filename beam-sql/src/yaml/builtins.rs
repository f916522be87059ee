//! The built-in YAML transform types: `Create`, `ReadFromCsv`,
//! `ReadFromJson`, `ReadFromParquet`, `ReadFromText`, `WriteToCsv`,
//! `WriteToJson`, `WriteToParquet`, `WriteToText`, `LogForTesting`,
//! `Filter`, `MapToFields`, `Sql`, `Combine`, `Explode`, `Flatten`, `Join`,
//! `Partition`, `WindowInto`, `AssignTimestamps` and
//! `ExtractWindowingInfo`, with Beam YAML's config keys.

pub use super::io::*;
pub use super::partition::*;
pub use super::windowing::*;
use super::{Language, YamlContext, YamlInputs, YamlOutputs, YamlTransform};
use crate::aggregate::{avg, count_star, max, min, sum, Aggregate};
use crate::expr::{col, Expr};
use crate::rows::Rows;
use crate::table::Table;
use crate::SqlTransform;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use beam_core::{DoFn, ParDo, ProcessContext, Result, UserError, UserResult};
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};
use std::sync::Arc;

/// One name or a list of names.
#[derive(Deserialize, Default, Clone)]
#[serde(untagged)]
pub enum Names {
    /// No names.
    #[default]
    None,
    /// One name.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Names {
    pub(crate) fn list(&self) -> Vec<String> {
        match self {
            Names::None => Vec::new(),
            Names::One(s) => vec![s.clone()],
            Names::Many(v) => v.clone(),
        }
    }
}

fn key_text(k: &Value) -> String {
    super::text(k).unwrap_or_default()
}

/// `Filter`: the rows for which `keep` is true.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    keep: Value,
    #[serde(default)]
    language: Option<String>,
}

#[typetag::deserialize(name = "Filter")]
impl YamlTransform for Filter {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let language = Language::named(cx, self.language.as_deref())?;
        let keep = language.expression(cx, &self.keep)?;
        Ok(YamlOutputs::main(inputs.one(cx)?.filter("Filter", keep)?))
    }
}

/// `MapToFields`: new fields from expressions (`append` keeps the input's
/// fields, less those in `drop`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapToFields {
    fields: Mapping,
    #[serde(default)]
    append: bool,
    #[serde(default)]
    drop: Names,
    #[serde(default)]
    language: Option<String>,
}

#[typetag::deserialize(name = "MapToFields")]
impl YamlTransform for MapToFields {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let t = inputs.one(cx)?;
        let language = Language::named(cx, self.language.as_deref())?;
        let drop = self.drop.list();
        if !self.append && !drop.is_empty() {
            return Err(cx.error("`drop` needs `append: true`"));
        }
        let mut columns: Vec<(Expr, String)> = Vec::new();
        if self.append {
            for f in t.schema().fields() {
                if !drop.contains(f.name()) {
                    columns.push((col(f.name()), f.name().clone()));
                }
            }
        }
        for (k, v) in &self.fields {
            let name = key_text(k);
            if columns.iter().any(|(_, n)| *n == name) {
                return Err(cx.error(format!("the field `{name}` is already in the input")));
            }
            columns.push((language.expression(cx, v)?, name));
        }
        let columns = columns
            .iter()
            .map(|(e, n)| (e.clone(), n.as_str()))
            .collect();
        Ok(YamlOutputs::main(t.select("Select", columns)?))
    }
}

/// `Sql`: a query; one input is the table `PCOLLECTION`, named inputs are
/// tables of their names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sql {
    query: String,
    #[serde(default)]
    #[allow(dead_code)]
    dialect: Option<String>,
}

#[typetag::deserialize(name = "Sql")]
impl YamlTransform for Sql {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let mut q = SqlTransform::query(&self.query);
        match inputs.all() {
            [(_, t)] => q = q.with_table("PCOLLECTION", t),
            all => {
                for (name, t) in all {
                    q = q.with_table(name, t);
                }
            }
        }
        Ok(YamlOutputs::main(cx.pipeline().apply("Query", q)?))
    }
}

/// `Combine`: per `group_by` key (or over all rows), the `combine` fields:
/// `name: fn` (over the field `name`) or `name: {value: expr, fn: fn}`, with
/// `fn` one of `sum`, `mean`, `count`, `min`, `max`, `any`, `all`, `group`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Combine {
    #[serde(default)]
    group_by: Names,
    combine: Mapping,
    #[serde(default)]
    language: Option<String>,
}

#[typetag::deserialize(name = "Combine")]
impl YamlTransform for Combine {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let t = inputs.one(cx)?;
        let language = Language::named(cx, self.language.as_deref())?;
        let mut aggregates: Vec<Aggregate> = Vec::new();
        for (k, v) in &self.combine {
            let name = key_text(k);
            let (value, function) = match v {
                Value::String(f) => (col(&name), f.clone()),
                Value::Mapping(m) => {
                    let value = m
                        .get("value")
                        .map(|v| language.expression(cx, v))
                        .transpose()?
                        .unwrap_or_else(|| col(&name));
                    let f = match m.get("fn") {
                        Some(Value::String(f)) => f.clone(),
                        Some(Value::Mapping(f)) => {
                            aggregates.push(combine_class(cx, &name, f, value)?);
                            continue;
                        }
                        _ => return Err(cx.error(format!("`{name}` needs a `fn`"))),
                    };
                    (value, f)
                }
                _ => return Err(cx.error(format!("`{name}` must be a fn name or {{value, fn}}"))),
            };
            let boolean = |v: &Expr| -> Result<()> {
                let t =
                    crate::eval::CompiledExpr::compile(v, t.schema()).map_err(|m| cx.error(m))?;
                if t.data_type() == &DataType::Boolean {
                    Ok(())
                } else {
                    Err(cx.error(format!(
                        "`{function}` of `{name}` needs a boolean value, not {}",
                        t.data_type()
                    )))
                }
            };
            let aggregate = match function.as_str() {
                "sum" => sum(value),
                "mean" | "avg" => avg(value),
                "count" => count_star(),
                "min" => min(value),
                "max" => max(value),
                // Beam leaves the order of a group's values open; here they
                // are in ascending order.
                "group" => crate::aggregate::collect_list(value),
                // Over booleans false < true: any is the largest, all the smallest.
                "any" => {
                    boolean(&value)?;
                    max(value)
                }
                "all" => {
                    boolean(&value)?;
                    min(value)
                }
                other => {
                    return Err(cx.error(format!(
                        "unknown combine fn `{other}` for `{name}`: use sum, mean, count, min, max, any, all or group"
                    )))
                }
            };
            aggregates.push(aggregate.alias(&name));
        }
        let keys = self
            .group_by
            .list()
            .into_iter()
            .map(|k| (col(&k), k))
            .collect();
        let out = t.group_by_named(keys).aggregate("Combine", aggregates)?;
        Ok(YamlOutputs::main(out))
    }
}

/// Beam's `TopCombineFn` (`n`, and `reverse` for the smallest), which is
/// built in; any other Python combine class is refused.
fn combine_class(cx: &YamlContext, name: &str, f: &Mapping, value: Expr) -> Result<Aggregate> {
    let class = f.get("type").and_then(super::text).unwrap_or_default();
    if class != "apache_beam.transforms.combiners.TopCombineFn" {
        return Err(cx.error(format!(
            "the combine fn `{class}` of `{name}` is a Python class, which does not run here: \
             use sum, mean, count, min, max, any, all or TopCombineFn"
        )));
    }
    let config = match f.get("config") {
        Some(Value::Mapping(c)) => c.clone(),
        None => Mapping::new(),
        Some(_) => {
            return Err(cx.error(format!(
                "the config of `{name}`'s TopCombineFn is a mapping"
            )))
        }
    };
    let mut n = None;
    let mut smallest = false;
    for (k, v) in &config {
        match (key_text(k).as_str(), v) {
            ("n", Value::Number(x)) => n = x.as_u64().map(|x| x as usize),
            ("reverse", Value::Bool(b)) => smallest = *b,
            (other, _) => {
                return Err(cx.error(format!(
                    "TopCombineFn of `{name}`: `{other}` is not supported here (n and reverse are)"
                )))
            }
        }
    }
    let n =
        n.ok_or_else(|| cx.error(format!("TopCombineFn of `{name}` needs a whole number `n`")))?;
    let top = if smallest {
        crate::aggregate::top_smallest(value, n)
    } else {
        crate::aggregate::top_largest(value, n)
    };
    Ok(top.alias(name))
}

/// `Explode`: one row per item of the list fields; with several fields,
/// their cross product (`cross_product: false` zips lists of equal length).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explode {
    fields: Names,
    #[serde(default = "yes")]
    cross_product: bool,
}

fn yes() -> bool {
    true
}

#[typetag::deserialize(name = "Explode")]
impl YamlTransform for Explode {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let t = inputs.one(cx)?;
        let fields = self.fields.list();
        if fields.is_empty() {
            return Err(cx.error("`fields` names the list fields to explode"));
        }
        let mut indices = Vec::new();
        let mut out_fields: Vec<Field> = t
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for name in &fields {
            let i = t.schema().index_of(name).map_err(|_| {
                cx.error(format!(
                    "no field `{name}` in {}",
                    crate::eval::column_list(t.schema())
                ))
            })?;
            let DataType::List(item) = t.schema().field(i).data_type() else {
                return Err(cx.error(format!("the field `{name}` is not a list")));
            };
            out_fields[i] = Field::new(name, item.data_type().clone(), true);
            indices.push(i);
        }
        let schema = Arc::new(Schema::new(out_fields));
        let groups = if self.cross_product {
            indices.iter().map(|i| vec![*i]).collect()
        } else {
            vec![indices]
        };
        let rows = t.rows().apply(
            "Explode",
            ParDo::of(ExplodeRows {
                groups,
                output: schema.clone(),
            }),
        )?;
        Ok(YamlOutputs::main(Table::new(rows, schema)))
    }
}

#[derive(Clone)]
struct ExplodeRows {
    /// Each group's lists are zipped; groups are applied one after another.
    groups: Vec<Vec<usize>>,
    output: arrow::datatypes::SchemaRef,
}

fn arrow_error(e: impl std::fmt::Display) -> UserError {
    UserError::msg(e.to_string())
}

fn explode_group(batch: &RecordBatch, group: &[usize]) -> UserResult<RecordBatch> {
    let lists: Vec<_> = group
        .iter()
        .map(|&i| batch.column(i).as_list::<i32>())
        .collect();
    let mut rows = Vec::new();
    let mut items: Vec<Vec<u32>> = vec![Vec::new(); group.len()];
    for r in 0..batch.num_rows() {
        let lengths: Vec<usize> = lists
            .iter()
            .map(|l| {
                if l.is_null(r) {
                    0
                } else {
                    l.value_length(r) as usize
                }
            })
            .collect();
        if lengths.iter().any(|&n| n != lengths[0]) {
            return Err(UserError::msg(format!(
                "row {r}: the lists to zip have the lengths {lengths:?}"
            )));
        }
        for k in 0..lengths[0] {
            rows.push(r as u32);
            for (g, l) in lists.iter().enumerate() {
                items[g].push(l.value_offsets()[r] as u32 + k as u32);
            }
        }
    }
    let rows = UInt32Array::from(rows);
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut fields = Vec::new();
    for (i, c) in batch.columns().iter().enumerate() {
        let f = batch.schema().field(i).clone();
        match group.iter().position(|&g| g == i) {
            Some(g) => {
                let values = lists[g].values();
                let taken =
                    arrow::compute::take(values, &UInt32Array::from(items[g].clone()), None)
                        .map_err(arrow_error)?;
                fields.push(Field::new(f.name(), taken.data_type().clone(), true));
                columns.push(taken);
            }
            None => {
                columns.push(arrow::compute::take(c, &rows, None).map_err(arrow_error)?);
                fields.push(f);
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(arrow_error)
}

impl DoFn for ExplodeRows {
    type In = Rows;
    type Out = Rows;
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        let mut batch = rows.batch().clone();
        for group in &self.groups {
            batch = explode_group(&batch, group)?;
        }
        if batch.num_rows() > 0 {
            let batch = RecordBatch::try_new(self.output.clone(), batch.columns().to_vec())
                .map_err(arrow_error)?;
            ctx.output(Rows::new(batch));
        }
        Ok(())
    }
}

/// `Flatten`: the rows of all inputs, which must have the same fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flatten {}

#[typetag::deserialize(name = "Flatten")]
impl YamlTransform for Flatten {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let mut all = inputs.all().iter().map(|(_, t)| t);
        let first = all.next().ok_or_else(|| cx.error("Flatten needs inputs"))?;
        let mut out = first.clone();
        for (i, t) in all.enumerate() {
            out = out.union(&format!("Union{i}"), t)?;
        }
        Ok(YamlOutputs::main(out))
    }
}

/// `Join`: named inputs joined on `equalities` (a field all inputs share,
/// or a list of `{input: field, ..}`), `type` inner, left, right or outer;
/// `fields` chooses each input's output fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Join {
    #[serde(rename = "type", default = "inner")]
    kind: String,
    equalities: Value,
    #[serde(default)]
    fields: Option<Mapping>,
}

fn inner() -> String {
    "inner".into()
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[typetag::deserialize(name = "Join")]
impl YamlTransform for Join {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let all = inputs.all();
        if all.len() < 2 {
            return Err(cx.error("Join needs at least two named inputs"));
        }
        let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
        // Each equality: the field of each input.
        let equalities: Vec<Vec<(String, String)>> = match &self.equalities {
            Value::String(field) => vec![names
                .iter()
                .map(|n| (n.to_string(), field.clone()))
                .collect()],
            Value::Sequence(list) => list
                .iter()
                .map(|e| match e {
                    Value::Mapping(m) => {
                        Ok(m.iter().map(|(k, v)| (key_text(k), key_text(v))).collect())
                    }
                    _ => Err(cx.error("each equality is a mapping of input to field")),
                })
                .collect::<Result<_>>()?,
            _ => return Err(cx.error("`equalities` is a field name or a list of mappings")),
        };
        let kind = match self.kind.as_str() {
            "inner" => "JOIN",
            "left" if all.len() == 2 => "LEFT JOIN",
            "right" if all.len() == 2 => "RIGHT JOIN",
            "outer" | "full" => "FULL JOIN",
            other => {
                return Err(cx.error(format!(
                    "join type `{other}` is not supported here: use inner, outer, or left/right with two inputs"
                )))
            }
        };
        let mut select = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (name, t) in all {
            let chosen: Vec<(String, String)> =
                match self.fields.as_ref().and_then(|f| f.get(name.as_str())) {
                    None => t
                        .schema()
                        .fields()
                        .iter()
                        .map(|f| (f.name().clone(), f.name().clone()))
                        .collect(),
                    Some(Value::Sequence(list)) => {
                        list.iter().map(|v| (key_text(v), key_text(v))).collect()
                    }
                    Some(Value::Mapping(m)) => {
                        m.iter().map(|(k, v)| (key_text(v), key_text(k))).collect()
                    }
                    Some(_) => return Err(cx.error("`fields` of an input is a list or a mapping")),
                };
            for (field, alias) in chosen {
                if !seen.insert(alias.clone()) {
                    // A shared key field is kept once.
                    let shared_key = self.fields.is_none()
                        && equalities
                            .iter()
                            .any(|eq| eq.iter().all(|(_, f)| *f == field));
                    if shared_key {
                        continue;
                    }
                    return Err(cx.error(format!(
                        "the field `{alias}` is in several inputs: choose the output fields with `fields`"
                    )));
                }
                select.push(format!(
                    "{}.{} AS {}",
                    quoted(name),
                    quoted(&field),
                    quoted(&alias)
                ));
            }
        }
        let mut query = format!("SELECT {} FROM {}", select.join(", "), quoted(names[0]));
        for (i, name) in names.iter().enumerate().skip(1) {
            let mut on = Vec::new();
            for eq in &equalities {
                let field_of =
                    |input: &str| eq.iter().find(|(n, _)| n == input).map(|(_, f)| f.clone());
                let (Some(right), Some((left_name, left))) = (
                    field_of(name),
                    names[..i]
                        .iter()
                        .find_map(|n| field_of(n).map(|f| (n.to_string(), f))),
                ) else {
                    continue;
                };
                on.push(format!(
                    "{}.{} = {}.{}",
                    quoted(&left_name),
                    quoted(&left),
                    quoted(name),
                    quoted(&right)
                ));
            }
            if on.is_empty() {
                return Err(cx.error(format!(
                    "no equality joins `{name}` to the inputs before it"
                )));
            }
            query.push_str(&format!(" {kind} {} ON {}", quoted(name), on.join(" AND ")));
        }
        let mut q = SqlTransform::query(&query);
        for (name, t) in all {
            q = q.with_table(name, t);
        }
        Ok(YamlOutputs::main(cx.pipeline().apply("Join", q)?))
    }
}
