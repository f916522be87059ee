//! Joins on keys: [`Table::join`], inner, left, right and full, planned as a
//! `GroupByKey` of both sides' rows by their row-encoded key values (so on
//! streams, inside each window). Null keys match nothing, as in SQL.

use crate::eval::{common_type, CompiledExpr};
use crate::expr::Expr;
use crate::rows::Rows;
use crate::table::{check_schema, check_unique_names, compile, Table};
use arrow::array::{new_null_array, ArrayRef, RecordBatch, UInt32Array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use beam_core::{
    BeamError, DoFn, Flatten, GroupByKey, PCollection, PCollectionList, PTransform, ParDo,
    ProcessContext, Result, UserError, UserResult,
};
use std::collections::HashMap;
use std::sync::Arc;

/// Which rows a join keeps besides the matching pairs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    /// Only matching pairs.
    Inner,
    /// Also left rows without a match, with nulls on the right.
    Left,
    /// Also right rows without a match, with nulls on the left.
    Right,
    /// Also unmatched rows of both sides.
    Full,
}

impl Table {
    /// Joins with `right` where each pair of `on` expressions (left, right)
    /// is equal. The result has this table's columns, then `right`'s; their
    /// names must differ (rename or qualify them first).
    pub fn join(
        &self,
        name: &str,
        right: &Table,
        kind: JoinKind,
        on: Vec<(Expr, Expr)>,
    ) -> Result<Table> {
        if on.is_empty() {
            return Err(BeamError::construction(
                name,
                "a join needs at least one key",
            ));
        }
        let (mut left_keys, mut right_keys, mut key_fields) = (Vec::new(), Vec::new(), Vec::new());
        for (l, r) in &on {
            let (a, b) = (
                compile(name, l, self.schema())?,
                compile(name, r, right.schema())?,
            );
            let t = common_type(a.data_type(), b.data_type()).ok_or_else(|| {
                BeamError::construction(
                    name,
                    format!(
                        "cannot join {l} ({}) with {r} ({})",
                        a.data_type(),
                        b.data_type()
                    ),
                )
            })?;
            let cast = |e: CompiledExpr| {
                crate::eval::cast(e, &t).map_err(|m| BeamError::construction(name, m))
            };
            left_keys.push(cast(a)?);
            right_keys.push(cast(b)?);
            key_fields.push(SortField::new(t.clone()));
        }
        let nullable = |f: &Arc<Field>, pad: bool| {
            let f = f.as_ref().clone();
            if pad {
                f.with_nullable(true)
            } else {
                f
            }
        };
        let pad_left = matches!(kind, JoinKind::Right | JoinKind::Full);
        let pad_right = matches!(kind, JoinKind::Left | JoinKind::Full);
        let fields: Vec<Field> = self
            .schema()
            .fields()
            .iter()
            .map(|f| nullable(f, pad_left))
            .chain(
                right
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| nullable(f, pad_right)),
            )
            .collect();
        let output = Arc::new(Schema::new(fields));
        check_unique_names(name, &output)?;
        let plan = Arc::new(JoinPlan {
            kind,
            schemas: [self.schema().clone(), right.schema().clone()],
            keys: [left_keys, right_keys],
            key_fields,
            output: output.clone(),
        });
        let rows =
            self.rows()
                .pipeline()
                .apply_to(name, &(self.clone(), right.clone()), Join { plan })?;
        Ok(Table::new(rows, output))
    }
}

struct JoinPlan {
    kind: JoinKind,
    schemas: [SchemaRef; 2],
    keys: [Vec<CompiledExpr>; 2],
    key_fields: Vec<SortField>,
    output: SchemaRef,
}

struct Join {
    plan: Arc<JoinPlan>,
}

type Keyed = (Vec<u8>, (u8, Rows));

impl PTransform<(Table, Table)> for Join {
    type Output = PCollection<Rows>;
    fn expand(self, (left, right): &(Table, Table)) -> Result<PCollection<Rows>> {
        let key = |side: u8| KeyRows {
            plan: self.plan.clone(),
            side,
        };
        let l = left.rows().apply("KeyLeft", ParDo::of(key(0)))?;
        let r = right.rows().apply("KeyRight", ParDo::of(key(1)))?;
        PCollectionList::of(vec![l, r])?
            .apply("Flatten", Flatten)?
            .apply("Group", GroupByKey::new())?
            .apply("Pair", ParDo::of(PairRows { plan: self.plan }))
    }
}

#[derive(Clone)]
struct KeyRows {
    plan: Arc<JoinPlan>,
    side: u8,
}

impl DoFn for KeyRows {
    type In = Rows;
    type Out = Keyed;
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Keyed>) -> UserResult {
        let batch = rows.batch();
        let side = usize::from(self.side);
        check_schema(batch, &self.plan.schemas[side])?;
        let msg = |e: arrow::error::ArrowError| UserError::msg(e.to_string());
        let arrays = self.plan.keys[side]
            .iter()
            .map(|k| k.evaluate(batch))
            .collect::<std::result::Result<Vec<ArrayRef>, _>>()
            .map_err(UserError::msg)?;
        let converter = RowConverter::new(self.plan.key_fields.clone()).map_err(msg)?;
        let encoded = converter.convert_columns(&arrays).map_err(msg)?;
        // Rows grouped by their encoded key, looked up without copying it;
        // rows with a null key get a key of their own side (`[1, side]`),
        // which never meets the other side's, while the others are `[0, key]`.
        let mut by_key: HashMap<&[u8], Vec<u32>, foldhash::fast::RandomState> = HashMap::default();
        let mut null_rows = Vec::new();
        for row in 0..batch.num_rows() {
            if arrays.iter().any(|a| a.is_null(row)) {
                null_rows.push(row as u32);
            } else {
                by_key
                    .entry(encoded.row(row).data())
                    .or_default()
                    .push(row as u32);
            }
        }
        let mut groups: Vec<(Vec<u8>, Vec<u32>)> = by_key
            .into_iter()
            .map(|(k, rows)| {
                let mut key = Vec::with_capacity(k.len() + 1);
                key.push(0);
                key.extend_from_slice(k);
                (key, rows)
            })
            .collect();
        if !null_rows.is_empty() {
            groups.push((vec![1, self.side], null_rows));
        }
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (key, rows) in groups {
            let part =
                arrow::compute::take_record_batch(batch, &UInt32Array::from(rows)).map_err(msg)?;
            ctx.output((key, (self.side, Rows::new(part))));
        }
        Ok(())
    }
}

#[derive(Clone)]
struct PairRows {
    plan: Arc<JoinPlan>,
}

impl DoFn for PairRows {
    type In = (Vec<u8>, Vec<(u8, Rows)>);
    type Out = Rows;
    fn process(&mut self, group: &Self::In, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        let msg = |e: arrow::error::ArrowError| UserError::msg(e.to_string());
        let side = |s: u8| -> UserResult<RecordBatch> {
            let parts: Vec<RecordBatch> = group
                .1
                .iter()
                .filter(|(t, _)| *t == s)
                .map(|(_, r)| r.batch().clone())
                .collect();
            arrow::compute::concat_batches(&self.plan.schemas[usize::from(s)], &parts).map_err(msg)
        };
        let (left, right) = (side(0)?, side(1)?);
        let (nl, nr) = (left.num_rows(), right.num_rows());
        let kind = self.plan.kind;
        let out = if nl > 0 && nr > 0 {
            let li: UInt32Array = (0..nl as u32)
                .flat_map(|i| std::iter::repeat_n(i, nr))
                .collect();
            let ri: UInt32Array = (0..nl).flat_map(|_| 0..nr as u32).collect();
            let mut columns: Vec<ArrayRef> = Vec::new();
            for c in left.columns() {
                columns.push(arrow::compute::take(c, &li, None).map_err(msg)?);
            }
            for c in right.columns() {
                columns.push(arrow::compute::take(c, &ri, None).map_err(msg)?);
            }
            Some(columns)
        } else if nl > 0 && matches!(kind, JoinKind::Left | JoinKind::Full) {
            let mut columns = left.columns().to_vec();
            for f in self.plan.schemas[1].fields() {
                columns.push(new_null_array(f.data_type(), nl));
            }
            Some(columns)
        } else if nr > 0 && matches!(kind, JoinKind::Right | JoinKind::Full) {
            let mut columns: Vec<ArrayRef> = self.plan.schemas[0]
                .fields()
                .iter()
                .map(|f| new_null_array(f.data_type(), nr))
                .collect();
            columns.extend(right.columns().iter().cloned());
            Some(columns)
        } else {
            None
        };
        if let Some(columns) = out {
            let batch = RecordBatch::try_new(self.plan.output.clone(), columns).map_err(msg)?;
            ctx.output(Rows::new(batch));
        }
        Ok(())
    }
}
