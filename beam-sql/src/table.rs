//! [`Table`]: a PCollection of [`Rows`] with its [`Schema`], and the
//! stateless relational verbs (filter, select, with_column).

use crate::eval::CompiledExpr;
use crate::expr::Expr;
use crate::rows::Rows;
use arrow::array::RecordBatch;
use arrow::datatypes::{FieldRef, Schema, SchemaRef};
use beam_core::{
    BeamError, DoFn, Element, FinishBundleContext, PCollection, PTransform, ParDo, ProcessContext,
    Result, Timestamp, UserError, UserResult, Window,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// A schema'd PCollection: rows as Arrow record batches of one schema. Build
/// one from typed elements ([`Table::from_elements`]) or read one
/// ([`read`](crate::read)); transform it with the relational verbs or
/// [`SqlTransform`](crate::SqlTransform); turn it back into typed elements
/// with [`Table::to_elements`].
///
/// ```
/// use beam_core::{Create, Pipeline};
/// use beam_sql::{col, lit, Table};
///
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
/// struct Sale { category: String, amount: f64 }
///
/// let p = Pipeline::new(Default::default());
/// let sales = p.apply("Create", Create::of(vec![
///     Sale { category: "books".into(), amount: 12.5 },
///     Sale { category: "toys".into(), amount: 2000.0 },
/// ]))?;
/// let table = Table::from_elements("ToRows", &sales)?;
/// let big = table.filter("Big", col("amount").gt(lit(1000)))?;
/// assert_eq!(big.schema().field(0).name(), "category");
/// # Ok::<(), beam_core::BeamError>(())
/// ```
#[derive(Clone)]
pub struct Table {
    rows: PCollection<Rows>,
    schema: SchemaRef,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Table({})", crate::eval::column_list(&self.schema))
    }
}

impl Table {
    /// A table of `rows`, every batch of which has `schema`.
    pub fn new(rows: PCollection<Rows>, schema: SchemaRef) -> Table {
        Table { rows, schema }
    }

    /// The batches.
    pub fn rows(&self) -> &PCollection<Rows> {
        &self.rows
    }

    /// The schema every batch has.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Applies a transform of tables under `name`.
    pub fn apply<X: PTransform<Table>>(&self, name: &str, transform: X) -> Result<X::Output> {
        self.rows.pipeline().apply_to(name, self, transform)
    }

    /// A table of typed elements, one row each, with the schema serde_arrow
    /// traces from `T` (struct fields become columns).
    pub fn from_elements<T: Element + Serialize + DeserializeOwned>(
        name: &str,
        elements: &PCollection<T>,
    ) -> Result<Table> {
        use serde_arrow::schema::{SchemaLike, TracingOptions};
        let fields = Vec::<FieldRef>::from_type::<T>(TracingOptions::default()).map_err(|e| {
            BeamError::construction(name, format!("no schema for the elements: {e}"))
        })?;
        let schema = Arc::new(Schema::new(fields.clone()));
        let rows = elements.apply(
            name,
            ParDo::of(ElementsToRows::<T> {
                fields,
                buffer: RowBuffer::default(),
            }),
        )?;
        Ok(Table { rows, schema })
    }

    /// The rows as typed elements, each row deserialized into `T` by its
    /// columns' names.
    pub fn to_elements<T: Element + DeserializeOwned>(&self, name: &str) -> Result<PCollection<T>> {
        self.rows.apply(
            name,
            ParDo::of(RowsToElements::<T>(std::marker::PhantomData)),
        )
    }

    /// The rows for which `predicate` is true (not false or null).
    pub fn filter(&self, name: &str, predicate: Expr) -> Result<Table> {
        let compiled = compile(name, &predicate, &self.schema)?;
        if compiled.data_type() != &arrow::datatypes::DataType::Boolean {
            return Err(BeamError::construction(
                name,
                format!(
                    "the filter {predicate} is {}, not a boolean",
                    compiled.data_type()
                ),
            ));
        }
        self.map_rows(name, Some(compiled), None, self.schema.clone())
    }

    /// Each row's values of `columns`, named: `(expression, name)` pairs.
    pub fn select(&self, name: &str, columns: Vec<(Expr, &str)>) -> Result<Table> {
        let mut compiled = Vec::new();
        let mut fields = Vec::new();
        for (e, column) in &columns {
            let c = compile(name, e, &self.schema)?;
            fields.push(c.field(column));
            compiled.push(c);
        }
        let schema = Arc::new(Schema::new(fields));
        check_unique_names(name, &schema)?;
        self.map_rows(name, None, Some(compiled), schema)
    }

    /// Every column, with `column` added (or replaced, if one has that name)
    /// as `value`.
    pub fn with_column(&self, name: &str, column: &str, value: Expr) -> Result<Table> {
        let mut columns: Vec<(Expr, &str)> = self
            .schema
            .fields()
            .iter()
            .map(|f| (Expr::Column(f.name().clone()), f.name().as_str()))
            .collect();
        match columns.iter_mut().find(|(_, n)| *n == column) {
            Some(slot) => slot.0 = value,
            None => columns.push((value, column)),
        }
        self.select(name, columns)
    }

    /// The same rows under new column names, in order.
    pub fn rename(&self, name: &str, names: &[&str]) -> Result<Table> {
        if names.len() != self.schema.fields().len() {
            return Err(BeamError::construction(
                name,
                format!(
                    "{} names for {} columns",
                    names.len(),
                    self.schema.fields().len()
                ),
            ));
        }
        let columns = self
            .schema
            .fields()
            .iter()
            .zip(names)
            .map(|(f, n)| (Expr::Column(f.name().clone()), *n))
            .collect();
        self.select(name, columns)
    }

    pub(crate) fn map_rows(
        &self,
        name: &str,
        filter: Option<CompiledExpr>,
        projection: Option<Vec<CompiledExpr>>,
        schema: SchemaRef,
    ) -> Result<Table> {
        let rows = self.rows.apply(
            name,
            ParDo::of(MapRows {
                input: self.schema.clone(),
                filter,
                projection,
                output: schema.clone(),
            }),
        )?;
        Ok(Table { rows, schema })
    }
}

pub(crate) fn compile(step: &str, e: &Expr, schema: &Schema) -> Result<CompiledExpr> {
    CompiledExpr::compile(e, schema).map_err(|m| BeamError::construction(step, m))
}

pub(crate) fn check_unique_names(step: &str, schema: &Schema) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for f in schema.fields() {
        if !seen.insert(f.name()) {
            return Err(BeamError::construction(
                step,
                format!("two output columns are named `{}`", f.name()),
            ));
        }
    }
    Ok(())
}

/// Fails unless a batch has the schema its table declares.
pub(crate) fn check_schema(batch: &RecordBatch, expected: &SchemaRef) -> UserResult {
    let got = batch.schema();
    if Arc::ptr_eq(&got, expected) || got.fields() == expected.fields() {
        return Ok(());
    }
    let same_types = got.fields().len() == expected.fields().len()
        && got
            .fields()
            .iter()
            .zip(expected.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
    if same_types {
        return Ok(());
    }
    Err(UserError::msg(format!(
        "a batch has the columns {}, but the table declares {}",
        crate::eval::column_list(&got),
        crate::eval::column_list(expected)
    )))
}

/// Filters and projects batches.
#[derive(Clone)]
struct MapRows {
    input: SchemaRef,
    filter: Option<CompiledExpr>,
    projection: Option<Vec<CompiledExpr>>,
    output: SchemaRef,
}

impl DoFn for MapRows {
    type In = Rows;
    type Out = Rows;
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        let batch = rows.batch();
        check_schema(batch, &self.input)?;
        let filtered;
        let batch = match &self.filter {
            None => batch,
            Some(f) => {
                let keep = f.evaluate(batch).map_err(UserError::msg)?;
                let keep = crate::eval::null_as_false(arrow::array::AsArray::as_boolean(&keep));
                filtered = arrow::compute::filter_record_batch(batch, &keep)
                    .map_err(|e| UserError::msg(e.to_string()))?;
                &filtered
            }
        };
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let out = match &self.projection {
            None => batch.clone(),
            Some(columns) => {
                let arrays = columns
                    .iter()
                    .map(|c| c.evaluate(batch))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(UserError::msg)?;
                RecordBatch::try_new(self.output.clone(), arrays)
                    .map_err(|e| UserError::msg(e.to_string()))?
            }
        };
        ctx.output(Rows::new(out));
        Ok(())
    }
}

/// Rows gathered per (timestamp, window) within a bundle, emitted as batches
/// of up to [`RowBuffer::BATCH_ROWS`] rows.
pub(crate) struct RowBuffer<T> {
    groups: Vec<(Timestamp, Window, Vec<T>)>,
    /// Where each (timestamp, window) group is in `groups`.
    index: std::collections::HashMap<(Timestamp, Window), usize, foldhash::fast::RandomState>,
}

impl<T> Default for RowBuffer<T> {
    fn default() -> Self {
        RowBuffer {
            groups: Vec::new(),
            index: Default::default(),
        }
    }
}

/// A clone starts empty: buffered rows belong to the bundle of the instance
/// that holds them.
impl<T> Clone for RowBuffer<T> {
    fn clone(&self) -> Self {
        RowBuffer::default()
    }
}

impl<T> RowBuffer<T> {
    pub(crate) const BATCH_ROWS: usize = 8192;

    /// Adds a row; returns a full group to emit now, if this one filled it.
    pub(crate) fn push(&mut self, timestamp: Timestamp, window: Window, row: T) -> Option<Vec<T>> {
        let groups = &mut self.groups;
        let slot = *self.index.entry((timestamp, window)).or_insert_with(|| {
            groups.push((timestamp, window, Vec::new()));
            groups.len() - 1
        });
        let rows = &mut self.groups[slot].2;
        rows.push(row);
        if rows.len() >= Self::BATCH_ROWS {
            Some(std::mem::take(rows))
        } else {
            None
        }
    }

    /// Takes every group.
    pub(crate) fn drain(&mut self) -> Vec<(Timestamp, Window, Vec<T>)> {
        self.index.clear();
        std::mem::take(&mut self.groups)
            .into_iter()
            .filter(|(_, _, rows)| !rows.is_empty())
            .collect()
    }
}

struct ElementsToRows<T> {
    fields: Vec<FieldRef>,
    buffer: RowBuffer<T>,
}

impl<T: Clone> Clone for ElementsToRows<T> {
    fn clone(&self) -> Self {
        ElementsToRows {
            fields: self.fields.clone(),
            buffer: RowBuffer::default(),
        }
    }
}

impl<T: Element + Serialize> ElementsToRows<T> {
    fn batch(&self, items: &[T]) -> UserResult<Rows> {
        serde_arrow::to_record_batch(&self.fields, &items)
            .map(Rows::new)
            .map_err(|e| UserError::msg(format!("cannot make rows of the elements: {e}")))
    }
}

impl<T: Element + Serialize> DoFn for ElementsToRows<T> {
    type In = T;
    type Out = Rows;
    fn process(&mut self, element: &T, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        if let Some(full) = self
            .buffer
            .push(ctx.timestamp(), *ctx.window(), element.clone())
        {
            let rows = self.batch(&full)?;
            ctx.output(rows);
        }
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut FinishBundleContext<'_, Rows>) -> UserResult {
        for (timestamp, window, items) in self.buffer.drain() {
            ctx.output(self.batch(&items)?, timestamp, window);
        }
        Ok(())
    }
}

struct RowsToElements<T>(std::marker::PhantomData<fn() -> T>);

impl<T> Clone for RowsToElements<T> {
    fn clone(&self) -> Self {
        RowsToElements(std::marker::PhantomData)
    }
}

impl<T: Element + DeserializeOwned> DoFn for RowsToElements<T> {
    type In = Rows;
    type Out = T;
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, T>) -> UserResult {
        let items: Vec<T> = serde_arrow::from_record_batch(rows.batch())
            .map_err(|e| UserError::msg(format!("cannot read the rows as elements: {e}")))?;
        for item in items {
            ctx.output(item);
        }
        Ok(())
    }
}
