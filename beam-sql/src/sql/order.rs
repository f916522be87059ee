//! `ORDER BY`, `LIMIT` and `OFFSET`: sort keys from positions, output
//! names or expressions, planned as a global ordering with a limit.

use super::{at, Planner};
use crate::expr::Expr;
use crate::sort::SortKey;
use crate::table::Table;
use beam_core::Result;
use sqlparser::ast;

impl Planner<'_> {
    pub(super) fn order_and_limit(
        &mut self,
        table: Table,
        order: &[ast::OrderByExpr],
        limit: Option<usize>,
        offset: usize,
        visible: Option<Vec<String>>,
    ) -> Result<Table> {
        let mut sort = Vec::new();
        for o in order {
            let expr = match &o.expr {
                ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                    let i = self.count(&o.expr)?;
                    let f = table
                        .schema()
                        .fields()
                        .get(i.wrapping_sub(1))
                        .ok_or_else(|| {
                            self.error(format!(
                                "ORDER BY {i} is not a column of the result{}",
                                at(&o.expr)
                            ))
                        })?;
                    Expr::Column(f.name().clone())
                }
                e => self.expr(e, &mut None)?,
            };
            sort.push(SortKey {
                expr,
                descending: matches!(o.options.sort, Some(ast::OrderBySort::Desc)),
                nulls_first: o.options.nulls_first.unwrap_or(false),
            });
        }
        if sort.is_empty() && limit.is_none() && offset == 0 {
            return Ok(table);
        }
        self.sorted(table, sort, limit, offset, visible)
    }

    pub(super) fn sorted(
        &mut self,
        table: Table,
        sort: Vec<SortKey>,
        limit: Option<usize>,
        offset: usize,
        visible: Option<Vec<String>>,
    ) -> Result<Table> {
        let name = self.name("OrderBy");
        let table = table.order_by(&name, sort, limit, offset)?;
        match visible {
            None => Ok(table),
            Some(columns) => {
                let name = self.name("DropSortColumns");
                table.select(
                    &name,
                    columns
                        .iter()
                        .map(|c| (Expr::Column(c.clone()), c.as_str()))
                        .collect(),
                )
            }
        }
    }
}
