//! Ordering: [`Table::order_by`], a global sort with an optional limit (a
//! top-N), and [`Table::union`].
//!
//! Each batch is sorted (and cut to the limit) where it is, then the sorted
//! pieces meet in one `Combine.globally` per window, which keeps at most the
//! limit's rows as it merges. Rows that tie on the sort keys are ordered by
//! all their columns, so which rows a limit keeps does not depend on how the
//! input was split.

use crate::eval::CompiledExpr;
use crate::expr::Expr;
use crate::rows::Rows;
use crate::table::{check_schema, compile, Table};
use arrow::array::RecordBatch;
use arrow::compute::{lexsort_to_indices, take_record_batch, SortColumn, SortOptions};
use arrow::datatypes::SchemaRef;
use beam_core::{
    BeamError, Combine, CombineFn, DoFn, Flatten, PCollectionList, ParDo, ProcessContext, Result,
    UserError, UserResult, WindowFn,
};
use std::sync::Arc;

/// A sort key: an expression and its direction.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    /// What to sort by.
    pub expr: Expr,
    /// Largest first.
    pub descending: bool,
    /// Nulls before the other values (after them by default, as in DuckDB).
    pub nulls_first: bool,
}

impl Expr {
    /// Sort by this expression, smallest first, nulls last.
    pub fn sort_asc(self) -> SortKey {
        SortKey {
            expr: self,
            descending: false,
            nulls_first: false,
        }
    }
    /// Sort by this expression, largest first, nulls last.
    pub fn sort_desc(self) -> SortKey {
        SortKey {
            expr: self,
            descending: true,
            nulls_first: false,
        }
    }
}

#[derive(Clone)]
struct SortSpec {
    schema: SchemaRef,
    keys: Vec<(CompiledExpr, SortOptions)>,
    limit: Option<usize>,
    offset: usize,
}

impl SortSpec {
    /// `batch` sorted, cut to the first `keep` rows when given.
    fn sort(&self, batch: &RecordBatch, keep: Option<usize>) -> UserResult<RecordBatch> {
        let msg = |e: arrow::error::ArrowError| UserError::msg(e.to_string());
        let mut columns = Vec::new();
        for (k, options) in &self.keys {
            columns.push(SortColumn {
                values: k.evaluate(batch).map_err(UserError::msg)?,
                options: Some(*options),
            });
        }
        for c in batch.columns() {
            if sortable(c.data_type()) {
                columns.push(SortColumn {
                    values: c.clone(),
                    options: Some(SortOptions::default()),
                });
            }
        }
        if columns.is_empty() {
            return Ok(match keep {
                Some(n) => batch.slice(0, n.min(batch.num_rows())),
                None => batch.clone(),
            });
        }
        let indices = lexsort_to_indices(&columns, keep).map_err(msg)?;
        take_record_batch(batch, &indices).map_err(msg)
    }

    fn keep(&self) -> Option<usize> {
        self.limit.map(|l| l.saturating_add(self.offset))
    }
}

/// Whether rows can break ties on a column of this type.
fn sortable(t: &arrow::datatypes::DataType) -> bool {
    t.is_primitive()
        || matches!(
            t,
            arrow::datatypes::DataType::Utf8
                | arrow::datatypes::DataType::LargeUtf8
                | arrow::datatypes::DataType::Boolean
                | arrow::datatypes::DataType::Binary
        )
}

impl Table {
    /// The rows in order of `keys`; with `limit`, only the first `limit`
    /// rows (after skipping `offset`). The result is one batch per window.
    pub fn order_by(
        &self,
        name: &str,
        keys: Vec<SortKey>,
        limit: Option<usize>,
        offset: usize,
    ) -> Result<Table> {
        let mut compiled = Vec::new();
        for k in &keys {
            compiled.push((
                compile(name, &k.expr, self.schema())?,
                SortOptions {
                    descending: k.descending,
                    nulls_first: k.nulls_first,
                },
            ));
        }
        let spec = SortSpec {
            schema: self.schema().clone(),
            keys: compiled,
            limit,
            offset,
        };
        let schema = self.schema().clone();
        let rows = self
            .rows()
            .pipeline()
            .apply_to(name, self, OrderBy { spec })?;
        Ok(Table::new(rows, schema))
    }

    /// The first `limit` rows in no particular order (`LIMIT` without
    /// `ORDER BY`; the rows kept are still chosen deterministically).
    pub fn limit(&self, name: &str, limit: usize) -> Result<Table> {
        self.order_by(name, Vec::new(), Some(limit), 0)
    }

    /// The rows of both tables (`UNION ALL`); their columns must have the
    /// same types, and take this table's names.
    pub fn union(&self, name: &str, other: &Table) -> Result<Table> {
        let (a, b) = (self.schema(), other.schema());
        let same = a.fields().len() == b.fields().len()
            && a.fields()
                .iter()
                .zip(b.fields())
                .all(|(x, y)| x.data_type() == y.data_type());
        if !same {
            return Err(BeamError::construction(
                name,
                format!(
                    "a union needs columns of the same types: {:?} and {:?}",
                    a.fields()
                        .iter()
                        .map(|f| f.data_type().to_string())
                        .collect::<Vec<_>>(),
                    b.fields()
                        .iter()
                        .map(|f| f.data_type().to_string())
                        .collect::<Vec<_>>()
                ),
            ));
        }
        // This table's names; a column is nullable if it is on either side.
        let schema = Arc::new(arrow::datatypes::Schema::new(
            a.fields()
                .iter()
                .zip(b.fields())
                .map(|(x, y)| {
                    x.as_ref()
                        .clone()
                        .with_nullable(x.is_nullable() || y.is_nullable())
                })
                .collect::<Vec<_>>(),
        ));
        let pipeline = self.rows().pipeline().clone();
        let union = pipeline.apply_to(
            name,
            &(self.clone(), other.clone()),
            Union {
                schema: schema.clone(),
            },
        )?;
        Ok(Table::new(union, schema))
    }
}

struct Union {
    schema: SchemaRef,
}

impl beam_core::PTransform<(Table, Table)> for Union {
    type Output = beam_core::PCollection<Rows>;
    fn expand(self, (a, b): &(Table, Table)) -> Result<Self::Output> {
        let to_schema = |t: &Table, name: &str| {
            if t.schema().fields() == self.schema.fields() {
                Ok(t.rows().clone())
            } else {
                t.rows().apply(
                    name,
                    ParDo::of(Rename {
                        schema: self.schema.clone(),
                    }),
                )
            }
        };
        let (a, b) = (to_schema(a, "RenameLeft")?, to_schema(b, "RenameRight")?);
        PCollectionList::of(vec![a, b])?.apply("Flatten", Flatten)
    }
}

#[derive(Clone)]
struct Rename {
    schema: SchemaRef,
}

impl DoFn for Rename {
    type In = Rows;
    type Out = Rows;
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        let batch = RecordBatch::try_new(self.schema.clone(), rows.batch().columns().to_vec())
            .map_err(|e| UserError::msg(e.to_string()))?;
        ctx.output(Rows::new(batch));
        Ok(())
    }
}

struct OrderBy {
    spec: SortSpec,
}

impl beam_core::PTransform<Table> for OrderBy {
    type Output = beam_core::PCollection<Rows>;
    fn expand(self, table: &Table) -> Result<Self::Output> {
        let spec = Arc::new(self.spec);
        let sorted = table
            .rows()
            .apply("SortBatches", ParDo::of(SortBatch { spec: spec.clone() }))?;
        let combine = Combine::globally(MergeSorted { spec });
        let combine = if sorted.windowing().window_fn == WindowFn::Global {
            combine
        } else {
            combine.without_defaults()
        };
        sorted.apply("Merge", combine)
    }
}

#[derive(Clone)]
struct SortBatch {
    spec: Arc<SortSpec>,
}

impl DoFn for SortBatch {
    type In = Rows;
    type Out = Rows;
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        check_schema(rows.batch(), &self.spec.schema)?;
        let sorted = self.spec.sort(rows.batch(), self.spec.keep())?;
        if sorted.num_rows() > 0 {
            ctx.output(Rows::new(sorted));
        }
        Ok(())
    }
}

#[derive(Clone)]
struct MergeSorted {
    spec: Arc<SortSpec>,
}

impl MergeSorted {
    fn concat(&self, parts: &[Rows]) -> RecordBatch {
        let batches: Vec<RecordBatch> = parts.iter().map(|r| r.batch().clone()).collect();
        arrow::compute::concat_batches(&self.spec.schema, &batches)
            .expect("batches of the table's schema")
    }
}

impl CombineFn for MergeSorted {
    type Input = Rows;
    type Accum = Vec<Rows>;
    type Output = Rows;
    fn create_accumulator(&self) -> Vec<Rows> {
        Vec::new()
    }
    fn add_input(&self, acc: &mut Vec<Rows>, input: Rows) {
        self.merge_accumulators(acc, vec![input]);
    }
    fn merge_accumulators(&self, acc: &mut Vec<Rows>, other: Vec<Rows>) {
        acc.extend(other);
        if let Some(keep) = self.spec.keep() {
            let held: usize = acc.iter().map(Rows::num_rows).sum();
            if held > keep.saturating_mul(2).max(1024) {
                let all = self.concat(acc);
                let top = self.spec.sort(&all, Some(keep)).expect("sortable keys");
                *acc = vec![Rows::new(top)];
            }
        }
    }
    fn extract_output(&self, acc: Vec<Rows>) -> Rows {
        let all = self.concat(&acc);
        let sorted = self
            .spec
            .sort(&all, self.spec.keep())
            .expect("sortable keys");
        let start = self.spec.offset.min(sorted.num_rows());
        Rows::new(sorted.slice(start, sorted.num_rows() - start))
    }
}
