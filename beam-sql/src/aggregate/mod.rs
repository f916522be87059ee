//! Grouped aggregation: [`Table::group_by`] then [`GroupedTable::aggregate`]
//! with [`sum`], [`avg`], [`count`], [`count_star`], [`count_distinct`],
//! [`min`] and [`max`].
//!
//! Planned onto the model as a partial aggregation of each batch (a ParDo),
//! a `Combine.perKey` of the partial results by the row-encoded group key,
//! and a ParDo that turns the merged results back into rows; so it runs on
//! every runner, windowed or not, with results that do not depend on how the
//! input was split (float sums are exact until they are read).

mod accumulators;

use crate::eval::CompiledExpr;
use crate::expr::Expr;
use crate::rows::Rows;
use crate::table::{check_schema, check_unique_names, compile, RowBuffer, Table};
use accumulators::{empty_acc, field_name, finish_column, merge_acc, update, Acc, Column};
use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{
    DataType, Decimal128Type, Field, Float64Type, Int64Type, Schema, SchemaRef,
};
use arrow::row::{RowConverter, SortField};
use beam_core::{
    BeamError, Combine, CombineFn, DoFn, FinishBundleContext, Map, PCollection, ParDo,
    ProcessContext, Result, UserError, UserResult, WindowFn,
};
use std::collections::HashMap;
use std::sync::Arc;

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateFunction {
    /// `COUNT(x)`: the non-null values.
    Count,
    /// `COUNT(*)`: the rows.
    CountStar,
    /// `COUNT(DISTINCT x)`: the distinct non-null values.
    CountDistinct,
    /// `SUM(x)`: null when there are no non-null values.
    Sum,
    /// `AVG(x)`, a double: null when there are no non-null values.
    Avg,
    /// `MIN(x)`
    Min,
    /// `MAX(x)`
    Max,
    /// The `n` largest non-null values (the smallest with `smallest`), as a
    /// list in that order: Beam's `Top.largest` / `Top.smallest`.
    Top {
        /// How many.
        n: usize,
        /// The smallest instead of the largest.
        smallest: bool,
    },
    /// Every non-null value, as a list in ascending order.
    CollectList,
}

/// An aggregate of a group's rows, named in the output.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// The function.
    pub function: AggregateFunction,
    /// Its argument (none for `COUNT(*)`).
    pub arg: Option<Expr>,
    /// The output column's name.
    pub name: String,
}

impl Aggregate {
    /// Names the output column.
    pub fn alias(mut self, name: &str) -> Aggregate {
        self.name = name.to_string();
        self
    }
}

fn aggregate(function: AggregateFunction, arg: Expr, sql: &str) -> Aggregate {
    Aggregate {
        name: format!("{sql}({arg})"),
        function,
        arg: Some(arg),
    }
}

/// `SUM(x)`
pub fn sum(x: Expr) -> Aggregate {
    aggregate(AggregateFunction::Sum, x, "sum")
}
/// `AVG(x)`
pub fn avg(x: Expr) -> Aggregate {
    aggregate(AggregateFunction::Avg, x, "avg")
}
/// `COUNT(x)`
pub fn count(x: Expr) -> Aggregate {
    aggregate(AggregateFunction::Count, x, "count")
}
/// `COUNT(DISTINCT x)`
pub fn count_distinct(x: Expr) -> Aggregate {
    aggregate(AggregateFunction::CountDistinct, x, "count_distinct")
}
/// `MIN(x)`
pub fn min(x: Expr) -> Aggregate {
    aggregate(AggregateFunction::Min, x, "min")
}
/// `MAX(x)`
pub fn max(x: Expr) -> Aggregate {
    aggregate(AggregateFunction::Max, x, "max")
}
/// The `n` largest values of `x`, largest first.
pub fn top_largest(x: Expr, n: usize) -> Aggregate {
    aggregate(
        AggregateFunction::Top { n, smallest: false },
        x,
        "top_largest",
    )
}
/// The `n` smallest values of `x`, smallest first.
pub fn top_smallest(x: Expr, n: usize) -> Aggregate {
    aggregate(
        AggregateFunction::Top { n, smallest: true },
        x,
        "top_smallest",
    )
}
/// Every non-null value of `x`, as a list in ascending order (Beam YAML's
/// `group`).
pub fn collect_list(x: Expr) -> Aggregate {
    aggregate(AggregateFunction::CollectList, x, "collect_list")
}
/// `COUNT(*)`
pub fn count_star() -> Aggregate {
    Aggregate {
        function: AggregateFunction::CountStar,
        arg: None,
        name: "count(*)".into(),
    }
}

/// A table with grouping keys, waiting for its aggregates.
pub struct GroupedTable {
    table: Table,
    keys: Vec<(Expr, String)>,
}

impl Table {
    /// Groups rows by the values of `keys` (columns or expressions, named by
    /// [`Expr::output_name`]).
    pub fn group_by(&self, keys: Vec<Expr>) -> GroupedTable {
        let keys = keys
            .into_iter()
            .map(|k| {
                let name = k.output_name();
                (k, name)
            })
            .collect();
        GroupedTable {
            table: self.clone(),
            keys,
        }
    }

    /// Groups rows by named key expressions.
    pub fn group_by_named(&self, keys: Vec<(Expr, String)>) -> GroupedTable {
        GroupedTable {
            table: self.clone(),
            keys,
        }
    }

    /// One row per distinct row.
    pub fn distinct(&self, name: &str) -> Result<Table> {
        let keys = self
            .schema()
            .fields()
            .iter()
            .map(|f| (Expr::Column(f.name().clone()), f.name().clone()))
            .collect();
        self.group_by_named(keys).aggregate(name, Vec::new())
    }
}

/// How one aggregate reads its argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    CountStar,
    Count,
    Int,
    Float,
    Decimal,
    /// Min, max and distinct values compare by their row encoding.
    Encoded,
}

#[derive(Clone, Debug)]
struct Plan {
    input: SchemaRef,
    keys: Vec<CompiledExpr>,
    key_fields: Vec<SortField>,
    functions: Vec<AggregateFunction>,
    args: Vec<Option<CompiledExpr>>,
    kinds: Vec<Kind>,
    arg_fields: Vec<Option<SortField>>,
    output: SchemaRef,
}

impl GroupedTable {
    /// One row per group: the keys, then the aggregates.
    pub fn aggregate(self, name: &str, aggregates: Vec<Aggregate>) -> Result<Table> {
        let plan = plan(name, &self.table, &self.keys, &aggregates)?;
        let output = plan.output.clone();
        let pipeline = self.table.rows().pipeline().clone();
        let table = self.table.clone();
        let global = self.keys.is_empty();
        let rows = pipeline.apply_to(name, &table, AggregateTransform { plan, global })?;
        Ok(Table::new(rows, output))
    }
}

struct AggregateTransform {
    plan: Plan,
    global: bool,
}

impl beam_core::PTransform<Table> for AggregateTransform {
    type Output = PCollection<Rows>;
    fn expand(self, table: &Table) -> Result<PCollection<Rows>> {
        let plan = Arc::new(self.plan);
        let partial = table.rows().apply(
            "Partial",
            ParDo::of(PartialAggregate {
                plan: plan.clone(),
                converters: Converters::default(),
            }),
        )?;
        let merge = MergeAccumulators { plan: plan.clone() };
        let merged = if self.global {
            let values =
                partial.apply("Values", Map::new(|(_, a): &(Vec<u8>, Vec<Acc>)| a.clone()))?;
            let combine = Combine::globally(merge);
            let combine = if values.windowing().window_fn == WindowFn::Global {
                combine
            } else {
                combine.without_defaults()
            };
            values.apply("Merge", combine)?.apply(
                "WithEmptyKey",
                Map::new(|a: &Vec<Acc>| (Vec::new(), a.clone())),
            )?
        } else {
            partial.apply("Merge", Combine::per_key(merge))?
        };
        merged.apply(
            "ToRows",
            ParDo::of(FinishAggregate {
                plan,
                buffer: RowBuffer::default(),
                converter: Converters::default(),
            }),
        )
    }
}

fn plan(
    name: &str,
    table: &Table,
    keys: &[(Expr, String)],
    aggregates: &[Aggregate],
) -> Result<Plan> {
    let schema = table.schema();
    let mut fields = Vec::new();
    let mut compiled_keys = Vec::new();
    let mut key_fields = Vec::new();
    for (k, n) in keys {
        let c = compile(name, k, schema)?;
        fields.push(c.field(n));
        key_fields.push(SortField::new(c.data_type().clone()));
        compiled_keys.push(c);
    }
    let (mut functions, mut args, mut kinds, mut arg_fields) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for a in aggregates {
        use AggregateFunction::*;
        let arg = match (&a.arg, a.function) {
            (None, CountStar) => None,
            (Some(e), f) if f != CountStar => Some(compile(name, e, schema)?),
            _ => {
                return Err(BeamError::construction(
                    name,
                    format!(
                        "{} needs {} argument",
                        a.name,
                        if a.function == CountStar { "no" } else { "an" }
                    ),
                ))
            }
        };
        let ty = arg.as_ref().map(|c| c.data_type().clone());
        let (kind, out_type, arg) = match (a.function, ty) {
            (CountStar, _) => (Kind::CountStar, DataType::Int64, arg),
            (Count, _) => (Kind::Count, DataType::Int64, arg),
            (CountDistinct, _) => (Kind::Encoded, DataType::Int64, arg),
            (Min | Max, Some(t)) => (Kind::Encoded, t, arg),
            (Top { n: 0, .. }, _) => {
                return Err(BeamError::construction(
                    name,
                    format!("{} keeps no values: n must be at least 1", a.name),
                ))
            }
            (Top { .. } | CollectList, Some(t)) => (
                Kind::Encoded,
                DataType::List(Arc::new(Field::new("item", t, true))),
                arg,
            ),
            (Sum | Avg, Some(t)) => {
                let arg = arg.expect("an argument");
                let (kind, arg, sum_type) = match &t {
                    DataType::Decimal128(_, s) => {
                        (Kind::Decimal, arg, DataType::Decimal128(38, *s))
                    }
                    DataType::Float16 | DataType::Float32 | DataType::Float64 => (
                        Kind::Float,
                        cast(name, arg, &DataType::Float64)?,
                        DataType::Float64,
                    ),
                    DataType::Null => (
                        Kind::Int,
                        cast(name, arg, &DataType::Int64)?,
                        DataType::Int64,
                    ),
                    t if t.is_integer() => (
                        Kind::Int,
                        cast(name, arg, &DataType::Int64)?,
                        DataType::Int64,
                    ),
                    t => {
                        return Err(BeamError::construction(
                            name,
                            format!("{} needs a number, not {t}", a.name),
                        ))
                    }
                };
                let out = if a.function == Avg {
                    DataType::Float64
                } else {
                    sum_type
                };
                (kind, out, Some(arg))
            }
            (_, None) => unreachable!("checked above"),
        };
        arg_fields.push(match kind {
            Kind::Encoded => Some(SortField::new(
                arg.as_ref().expect("an argument").data_type().clone(),
            )),
            _ => None,
        });
        let nullable = !matches!(a.function, Count | CountStar | CountDistinct);
        fields.push(Field::new(&a.name, out_type, nullable));
        functions.push(a.function);
        args.push(arg);
        kinds.push(kind);
    }
    let output = Arc::new(Schema::new(fields));
    check_unique_names(name, &output)?;
    Ok(Plan {
        input: schema.clone(),
        keys: compiled_keys,
        key_fields,
        functions,
        args,
        kinds,
        arg_fields,
        output,
    })
}

fn cast(name: &str, e: CompiledExpr, to: &DataType) -> Result<CompiledExpr> {
    crate::eval::cast(e, to).map_err(|m| BeamError::construction(name, m))
}

/// Aggregates each batch by group.
#[derive(Clone)]
struct PartialAggregate {
    plan: Arc<Plan>,
    converters: Converters,
}

/// Row converters built on first use by each DoFn instance (they hold
/// per-instance dictionaries and are not cloned).
#[derive(Default)]
struct Converters(Option<(RowConverter, Vec<Option<RowConverter>>)>);

impl Clone for Converters {
    fn clone(&self) -> Self {
        Converters(None)
    }
}

impl Converters {
    fn get(&mut self, plan: &Plan) -> UserResult<&mut (RowConverter, Vec<Option<RowConverter>>)> {
        if self.0.is_none() {
            let args = plan
                .arg_fields
                .iter()
                .map(|f| {
                    f.as_ref()
                        .map(|f| converter(std::slice::from_ref(f)))
                        .transpose()
                })
                .collect::<UserResult<Vec<_>>>()?;
            self.0 = Some((converter(&plan.key_fields)?, args));
        }
        Ok(self.0.as_mut().expect("set above"))
    }
}

fn converter(fields: &[SortField]) -> UserResult<RowConverter> {
    RowConverter::new(fields.to_vec()).map_err(|e| UserError::msg(e.to_string()))
}

impl DoFn for PartialAggregate {
    type In = Rows;
    type Out = (Vec<u8>, Vec<Acc>);
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Self::Out>) -> UserResult {
        let batch = rows.batch();
        check_schema(batch, &self.plan.input)?;
        let plan = &self.plan;
        let (key_converter, arg_converters) = self.converters.get(plan)?;
        let msg = |e: arrow::error::ArrowError| UserError::msg(e.to_string());
        let key_arrays = plan
            .keys
            .iter()
            .map(|k| k.evaluate(batch))
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()
            .map_err(UserError::msg)?;
        // Without keys (a global aggregate) every row is in the one group.
        let keys = if key_arrays.is_empty() {
            None
        } else {
            Some(key_converter.convert_columns(&key_arrays).map_err(msg)?)
        };
        let arg_arrays = plan
            .args
            .iter()
            .map(|a| a.as_ref().map(|a| a.evaluate(batch)).transpose())
            .collect::<std::result::Result<Vec<Option<ArrayRef>>, _>>()
            .map_err(UserError::msg)?;
        let mut columns = Vec::with_capacity(arg_arrays.len());
        for (i, a) in arg_arrays.iter().enumerate() {
            columns.push(match (plan.kinds[i], a) {
                (Kind::CountStar, _) | (_, None) => Column::None,
                (Kind::Count, Some(a)) => Column::Any(a.as_ref()),
                (Kind::Int, Some(a)) => Column::Int(a.as_primitive::<Int64Type>()),
                (Kind::Float, Some(a)) => Column::Float(a.as_primitive::<Float64Type>()),
                (Kind::Decimal, Some(a)) => Column::Decimal(a.as_primitive::<Decimal128Type>()),
                (Kind::Encoded, Some(a)) => {
                    let c = arg_converters[i].as_mut().expect("an encoded argument");
                    Column::Encoded(
                        a.as_ref(),
                        c.convert_columns(std::slice::from_ref(a)).map_err(msg)?,
                    )
                }
            });
        }
        let mut index: HashMap<&[u8], usize, foldhash::fast::RandomState> = HashMap::default();
        let mut groups: Vec<(Vec<u8>, Vec<Acc>)> = Vec::new();
        for row in 0..batch.num_rows() {
            let key: &[u8] = keys.as_ref().map_or(&[], |k| k.row(row).data());
            let g = *index.entry(key).or_insert_with(|| {
                let accs = plan
                    .functions
                    .iter()
                    .zip(&plan.kinds)
                    .map(|(f, k)| empty_acc(*f, *k))
                    .collect();
                groups.push((key.to_vec(), accs));
                groups.len() - 1
            });
            let accs = &mut groups[g].1;
            for (a, column) in columns.iter().enumerate() {
                let function = plan.functions[a];
                update(function, &mut accs[a], column, row);
            }
        }
        for group in groups {
            ctx.output(group);
        }
        Ok(())
    }
}

#[derive(Clone)]
struct MergeAccumulators {
    plan: Arc<Plan>,
}

impl CombineFn for MergeAccumulators {
    type Input = Vec<Acc>;
    type Accum = Vec<Acc>;
    type Output = Vec<Acc>;
    fn create_accumulator(&self) -> Vec<Acc> {
        self.plan
            .functions
            .iter()
            .zip(&self.plan.kinds)
            .map(|(f, k)| empty_acc(*f, *k))
            .collect()
    }
    fn add_input(&self, acc: &mut Vec<Acc>, input: Vec<Acc>) {
        self.merge_accumulators(acc, input)
    }
    fn merge_accumulators(&self, acc: &mut Vec<Acc>, other: Vec<Acc>) {
        for ((a, b), f) in acc.iter_mut().zip(other).zip(&self.plan.functions) {
            merge_acc(*f, a, b);
        }
    }
    fn extract_output(&self, acc: Vec<Acc>) -> Vec<Acc> {
        acc
    }
}

/// Turns merged groups back into rows.
#[derive(Clone)]
struct FinishAggregate {
    plan: Arc<Plan>,
    buffer: RowBuffer<(Vec<u8>, Vec<Acc>)>,
    converter: Converters,
}

impl FinishAggregate {
    fn batch(&mut self, groups: Vec<(Vec<u8>, Vec<Acc>)>) -> UserResult<Rows> {
        let plan = self.plan.clone();
        let (keys, args) = self.converter.get(&plan)?;
        let (keys, args) = (&*keys, &*args);
        let msg = |e: arrow::error::ArrowError| UserError::msg(e.to_string());
        let mut columns: Vec<ArrayRef> = if plan.keys.is_empty() {
            Vec::new()
        } else {
            let parser = keys.parser();
            keys.convert_rows(groups.iter().map(|(k, _)| parser.parse(k)))
                .map_err(msg)?
        };
        for (a, function) in plan.functions.iter().enumerate() {
            let field = plan.output.field(plan.keys.len() + a);
            let accs = groups.iter().map(|(_, accs)| &accs[a]);
            let scale = match plan.args[a].as_ref().map(|c| c.data_type()) {
                Some(DataType::Decimal128(_, s)) => *s,
                _ => 0,
            };
            columns.push(finish_column(
                *function,
                field,
                accs,
                args[a].as_ref(),
                &field_name(field),
                scale,
            )?);
        }
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(groups.len()));
        RecordBatch::try_new_with_options(plan.output.clone(), columns, &options)
            .map(Rows::new)
            .map_err(msg)
    }
}

impl DoFn for FinishAggregate {
    type In = (Vec<u8>, Vec<Acc>);
    type Out = Rows;
    fn process(&mut self, group: &Self::In, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        if let Some(full) = self
            .buffer
            .push(ctx.timestamp(), *ctx.window(), group.clone())
        {
            let rows = self.batch(full)?;
            ctx.output(rows);
        }
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut FinishBundleContext<'_, Rows>) -> UserResult {
        for (timestamp, window, groups) in self.buffer.drain() {
            let rows = self.batch(groups)?;
            ctx.output(rows, timestamp, window);
        }
        Ok(())
    }
}
