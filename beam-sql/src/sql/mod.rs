//! [`SqlTransform`]: SQL queries over named tables, parsed with `sqlparser`
//! and planned onto the relational verbs (so onto the Beam model), which run
//! on every runner.
//!
//! Supported: `SELECT [DISTINCT]` with expressions and aliases, `*`, `FROM`
//! one table or a subquery, `WHERE`, `GROUP BY` (expressions, output
//! aliases, positions), `HAVING`, the aggregates `COUNT(*)`, `COUNT([DISTINCT]
//! x)`, `SUM`, `AVG`, `MIN`, `MAX`, `ORDER BY` (expressions, aliases,
//! positions, `ASC`/`DESC`, `NULLS FIRST/LAST`), `LIMIT`/`OFFSET`, `UNION
//! [ALL]`; windowed grouping with `TUMBLE(ts, INTERVAL size)`, `HOP(ts,
//! INTERVAL slide, INTERVAL size)` and `SESSION(ts, INTERVAL gap)` in `GROUP
//! BY`, their bounds as `TUMBLE_START(..)`/`TUMBLE_END(..)` (and `HOP_`,
//! `SESSION_`), as Beam SQL and Flink SQL write them; the result stays in its
//! windows, so joins and aggregates after it are per window; in expressions arithmetic, comparisons, `AND`/`OR`/`NOT`, `IS
//! [NOT] NULL`, `[NOT] IN`, `[NOT] BETWEEN`, `[NOT] LIKE`/`ILIKE`, `CASE`,
//! `CAST`, `||` and the functions of [`Function`]. Anything else is refused
//! with an error naming it and its position in the query.

mod convert;
mod order;
mod windows;

use crate::aggregate::Aggregate;
use crate::eval::CompiledExpr;
use crate::expr::Expr;
use crate::join::JoinKind;
use crate::sort::SortKey;
use crate::table::Table;
use beam_core::{BeamError, PBegin, PTransform, Result};
use sqlparser::ast::{self, Spanned};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

/// A SQL query over named tables, applied as a root transform.
///
/// ```
/// use beam_core::{Create, Pipeline};
/// use beam_sql::{SqlTransform, Table};
///
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
/// struct Sale { category: String, amount: f64 }
///
/// let p = Pipeline::new(Default::default());
/// let sales = p.apply("Create", Create::of(vec![
///     Sale { category: "toys".into(), amount: 2000.0 },
/// ]))?;
/// let sales = Table::from_elements("ToRows", &sales)?;
/// let totals = p.apply(
///     "Totals",
///     SqlTransform::query(
///         "SELECT category, SUM(amount) AS total FROM sales
///          WHERE amount > 1000 GROUP BY category ORDER BY total DESC",
///     )
///     .with_table("sales", &sales),
/// )?;
/// assert_eq!(totals.schema().field(1).name(), "total");
/// # Ok::<(), beam_core::BeamError>(())
/// ```
pub struct SqlTransform {
    query: String,
    tables: Vec<(String, Table)>,
}

impl SqlTransform {
    /// A query; name its tables with [`SqlTransform::with_table`].
    pub fn query(sql: &str) -> SqlTransform {
        SqlTransform {
            query: sql.to_string(),
            tables: Vec::new(),
        }
    }

    /// Makes `table` readable as `name` (case-insensitive).
    pub fn with_table(mut self, name: &str, table: &Table) -> SqlTransform {
        self.tables.push((name.to_ascii_lowercase(), table.clone()));
        self
    }
}

impl PTransform<PBegin> for SqlTransform {
    type Output = Table;
    fn expand(self, input: &PBegin) -> Result<Table> {
        let step = input.pipeline().current_scope();
        let statements = Parser::parse_sql(&GenericDialect {}, &self.query)
            .map_err(|e| BeamError::construction(&step, format!("cannot parse the query: {e}")))?;
        let [ast::Statement::Query(query)] = statements.as_slice() else {
            return Err(BeamError::construction(
                &step,
                "the query must be exactly one SELECT statement",
            ));
        };
        let mut planner = Planner {
            tables: &self.tables,
            step: step.clone(),
            next: 0,
            positions: Vec::new(),
            window_refs: Vec::new(),
        };
        planner.query(query)
    }
}

pub(crate) use convert::parse_expression;

pub(crate) struct Planner<'a> {
    tables: &'a [(String, Table)],
    step: String,
    next: usize,
    /// Where each column name first appears in the query.
    positions: Vec<(String, String)>,
    /// The window bounds used by the select being planned.
    window_refs: Vec<windows::BoundRef>,
}

/// Where a piece of the query starts, as `line L, column C`.
pub(crate) fn at(node: &impl Spanned) -> String {
    let start = node.span().start;
    if start.line == 0 {
        String::new()
    } else {
        format!(" at line {}, column {}", start.line, start.column)
    }
}

struct Projection {
    exprs: Vec<(Expr, String)>,
}

impl Planner<'_> {
    fn error(&self, message: impl Into<String>) -> BeamError {
        BeamError::construction(&self.step, message)
    }

    fn unsupported(&self, what: &str, node: &impl Spanned) -> BeamError {
        self.error(format!("{what} is not supported{}", at(node)))
    }

    /// A fresh step name.
    fn name(&mut self, what: &str) -> String {
        self.next += 1;
        format!("{what}{}", self.next)
    }

    fn query(&mut self, q: &ast::Query) -> Result<Table> {
        if let Some(with) = &q.with {
            return Err(self.unsupported("WITH", with));
        }
        let mut order = Vec::new();
        if let Some(o) = &q.order_by {
            match &o.kind {
                ast::OrderByKind::Expressions(e) => order = e.clone(),
                ast::OrderByKind::All(_) => return Err(self.error("ORDER BY ALL is not supported")),
            }
        }
        let (limit, offset) = match &q.limit_clause {
            None => (None, 0),
            Some(ast::LimitClause::LimitOffset { limit, offset, .. }) => (
                limit.as_ref().map(|e| self.count(e)).transpose()?,
                offset
                    .as_ref()
                    .map(|o| self.count(&o.value))
                    .transpose()?
                    .unwrap_or(0),
            ),
            Some(ast::LimitClause::OffsetCommaLimit { offset, limit }) => {
                (Some(self.count(limit)?), self.count(offset)?)
            }
        };
        match q.body.as_ref() {
            ast::SetExpr::Select(select) => self.select(select, &order, limit, offset),
            body => {
                let table = self.set_expr(body)?;
                self.order_and_limit(table, &order, limit, offset, None)
            }
        }
    }

    fn count(&self, e: &ast::Expr) -> Result<usize> {
        match e {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => n.parse().map_err(|_| {
                    self.error(format!("LIMIT and OFFSET take a count, not {n}{}", at(e)))
                }),
                _ => Err(self.error(format!("LIMIT and OFFSET take a count{}", at(e)))),
            },
            _ => Err(self.error(format!("LIMIT and OFFSET take a count{}", at(e)))),
        }
    }

    fn set_expr(&mut self, body: &ast::SetExpr) -> Result<Table> {
        match body {
            ast::SetExpr::Select(s) => self.select(s, &[], None, 0),
            ast::SetExpr::Query(q) => self.query(q),
            ast::SetExpr::SetOperation {
                op: ast::SetOperator::Union,
                set_quantifier,
                left,
                right,
            } => {
                let (l, r) = (self.set_expr(left)?, self.set_expr(right)?);
                let name = self.name("Union");
                let all = l.union(&name, &r)?;
                if matches!(set_quantifier, ast::SetQuantifier::All) {
                    Ok(all)
                } else {
                    let name = self.name("Distinct");
                    all.distinct(&name)
                }
            }
            other => Err(self.unsupported(&format!("`{}`", shorten(&other.to_string())), other)),
        }
    }

    fn from(&mut self, from: &[ast::TableWithJoins]) -> Result<Table> {
        let [t] = from else {
            return Err(self.error(if from.is_empty() {
                "a query needs a FROM table".to_string()
            } else {
                "several FROM tables (a cross join) are not supported; use JOIN ... ON".to_string()
            }));
        };
        if t.joins.is_empty() {
            return self.relation(&t.relation);
        }
        let mut table = self.qualified(&t.relation)?;
        for j in &t.joins {
            use ast::JoinOperator as J;
            let (kind, constraint) = match &j.join_operator {
                J::Join(c) | J::Inner(c) => (JoinKind::Inner, c),
                J::Left(c) | J::LeftOuter(c) => (JoinKind::Left, c),
                J::Right(c) | J::RightOuter(c) => (JoinKind::Right, c),
                J::FullOuter(c) => (JoinKind::Full, c),
                _ => return Err(self.unsupported("this kind of join", &j.relation)),
            };
            let ast::JoinConstraint::On(on) = constraint else {
                return Err(self.unsupported("a join without ON", &j.relation));
            };
            let right = self.qualified(&j.relation)?;
            let mut pairs = Vec::new();
            self.equalities(on, &table, &right, &mut pairs)?;
            let name = self.name("Join");
            table = table
                .join(&name, &right, kind, pairs)
                .map_err(|e| self.column_error(e, false))?;
        }
        Ok(table)
    }

    /// `on` as pairs of equal (left, right) expressions.
    fn equalities(
        &mut self,
        on: &ast::Expr,
        left: &Table,
        right: &Table,
        out: &mut Vec<(Expr, Expr)>,
    ) -> Result<()> {
        match on {
            ast::Expr::Nested(e) => self.equalities(e, left, right, out),
            ast::Expr::BinaryOp {
                left: a,
                op: ast::BinaryOperator::And,
                right: b,
            } => {
                self.equalities(a, left, right, out)?;
                self.equalities(b, left, right, out)
            }
            ast::Expr::BinaryOp {
                left: a,
                op: ast::BinaryOperator::Eq,
                right: b,
            } => {
                let (x, y) = (self.expr(a, &mut None)?, self.expr(b, &mut None)?);
                let reads = |e: &Expr, t: &Table| CompiledExpr::compile(e, t.schema()).is_ok();
                if reads(&x, left) && reads(&y, right) {
                    out.push((x, y));
                } else if reads(&y, left) && reads(&x, right) {
                    out.push((y, x));
                } else {
                    return Err(self.error(format!(
                        "a join condition must compare a column of each side{}",
                        at(on)
                    )));
                }
                Ok(())
            }
            other => Err(self.unsupported(
                "a join condition other than equalities joined by AND",
                other,
            )),
        }
    }

    /// A FROM item with its columns named `qualifier.column`.
    fn qualified(&mut self, relation: &ast::TableFactor) -> Result<Table> {
        let table = self.relation(relation)?;
        let qualifier = match relation {
            ast::TableFactor::Table { name, alias, .. } => alias
                .as_ref()
                .map(|a| a.name.value.clone())
                .unwrap_or_else(|| plain_name(name)),
            ast::TableFactor::Derived { alias: Some(a), .. } => a.name.value.clone(),
            other => {
                return Err(self.error(format!("a joined subquery needs an alias{}", at(other))))
            }
        };
        let names: Vec<String> = table
            .schema()
            .fields()
            .iter()
            .map(|f| {
                format!(
                    "{qualifier}.{}",
                    f.name().rsplit('.').next().unwrap_or(f.name())
                )
            })
            .collect();
        let name = self.name("Qualify");
        table.rename(&name, &names.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn relation(&mut self, relation: &ast::TableFactor) -> Result<Table> {
        match relation {
            ast::TableFactor::Table { name, .. } => {
                let wanted = plain_name(name).to_ascii_lowercase();
                self.tables
                    .iter()
                    .find(|(n, _)| *n == wanted)
                    .map(|(_, t)| t.clone())
                    .ok_or_else(|| {
                        self.error(format!(
                            "no table `{name}`{}; the tables are {}",
                            at(name),
                            self.tables
                                .iter()
                                .map(|(n, _)| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    })
            }
            ast::TableFactor::Derived { subquery, .. } => self.query(subquery),
            other => Err(self.unsupported("this FROM item", other)),
        }
    }

    fn select(
        &mut self,
        s: &ast::Select,
        order: &[ast::OrderByExpr],
        limit: Option<usize>,
        offset: usize,
    ) -> Result<Table> {
        let mut table = self.from(&s.from)?;
        self.no_window_refs("FROM")?;
        if let Some(w) = &s.selection {
            let predicate = self.expr(w, &mut None)?;
            self.no_window_refs("WHERE")?;
            let name = self.name("Where");
            table = table
                .filter(&name, predicate)
                .map_err(|e| self.column_error(e, false))?;
        }
        // The projection, with aggregates pulled out as columns.
        let mut aggregates: Option<Vec<(Aggregate, String)>> = Some(Vec::new());
        let mut projection = Projection { exprs: Vec::new() };
        for item in &s.projection {
            match item {
                ast::SelectItem::UnnamedExpr(e) => {
                    let x = self.expr(e, &mut aggregates)?;
                    let name = match e {
                        ast::Expr::Identifier(i) => i.value.clone(),
                        ast::Expr::CompoundIdentifier(parts) => {
                            parts.last().map(|i| i.value.clone()).unwrap_or_default()
                        }
                        other => other.to_string(),
                    };
                    projection.exprs.push((x, name));
                }
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    let x = self.expr(expr, &mut aggregates)?;
                    projection.exprs.push((x, alias.value.clone()));
                }
                ast::SelectItem::Wildcard(_) => {
                    for f in table.schema().fields() {
                        projection
                            .exprs
                            .push((Expr::Column(f.name().clone()), f.name().clone()));
                    }
                }
                other => return Err(self.unsupported("this select item", other)),
            }
        }
        // Output names are unique: a repeated one gets `_1`, `_2`, ...
        let mut seen = std::collections::BTreeSet::new();
        for (_, name) in projection.exprs.iter_mut() {
            let base = name.clone();
            let mut n = 0;
            while !seen.insert(name.clone()) {
                n += 1;
                *name = format!("{base}_{n}");
            }
        }
        let mut group_by = match &s.group_by {
            ast::GroupByExpr::Expressions(exprs, modifiers) if modifiers.is_empty() => {
                exprs.clone()
            }
            other => return Err(self.error(format!("`{other}` is not supported"))),
        };
        let having = s
            .having
            .as_ref()
            .map(|h| self.expr(h, &mut aggregates))
            .transpose()?;
        // ORDER BY: positions and output names refer to the projection;
        // other expressions are computed alongside it.
        let mut sort = Vec::new();
        for o in order {
            let descending = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
            let nulls_first = o.options.nulls_first.unwrap_or(false);
            let target = match &o.expr {
                ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                    let i = self.count(&o.expr)?;
                    let (_, name) = projection.exprs.get(i.wrapping_sub(1)).ok_or_else(|| {
                        self.error(format!(
                            "ORDER BY {i} is not a column of the result{}",
                            at(&o.expr)
                        ))
                    })?;
                    Expr::Column(name.clone())
                }
                ast::Expr::Identifier(id)
                    if projection.exprs.iter().any(|(_, n)| *n == id.value) =>
                {
                    Expr::Column(id.value.clone())
                }
                e => {
                    let x = self.expr(e, &mut aggregates)?;
                    match projection.exprs.iter().find(|(p, _)| *p == x) {
                        Some((_, name)) => Expr::Column(name.clone()),
                        None => {
                            let name = format!("__order{}", sort.len());
                            projection.exprs.push((x, name.clone()));
                            Expr::Column(name)
                        }
                    }
                }
            };
            sort.push(SortKey {
                expr: target,
                descending,
                nulls_first,
            });
        }
        let aggregates = aggregates.unwrap_or_default();
        let window = self.group_window(&mut group_by)?;
        let grouped = window.is_some() || !group_by.is_empty() || !aggregates.is_empty();
        if grouped {
            let mut keys = Vec::new();
            for (i, g) in group_by.iter().enumerate() {
                let key = match g {
                    ast::Expr::Value(v) if matches!(v.value, ast::Value::Number(..)) => {
                        let n = self.count(g)?;
                        projection
                            .exprs
                            .get(n.wrapping_sub(1))
                            .map(|(e, _)| e.clone())
                            .ok_or_else(|| {
                                self.error(format!(
                                    "GROUP BY {n} is not a column of the result{}",
                                    at(g)
                                ))
                            })?
                    }
                    ast::Expr::Identifier(id)
                        if table.schema().field_with_name(&id.value).is_err() =>
                    {
                        match projection.exprs.iter().find(|(_, n)| *n == id.value) {
                            Some((e, _)) => e.clone(),
                            None => self.expr(g, &mut None)?,
                        }
                    }
                    _ => self.expr(g, &mut None)?,
                };
                keys.push((key, format!("__key{i}")));
            }
            if let Some(w) = &window {
                table = w.apply(self, &table)?;
            }
            let name = self.name("Aggregate");
            let mut aggregated = table
                .group_by_named(keys.clone())
                .aggregate(&name, aggregates.iter().map(|(a, _)| a.clone()).collect())
                .map_err(|e| self.column_error(e, false))?;
            if window.is_some() {
                let name = self.name("WindowBounds");
                aggregated = aggregated.with_window_bounds(
                    &name,
                    windows::WINDOW_START,
                    windows::WINDOW_END,
                )?;
            }
            let rewrite = |e: &Expr| convert::replace_keys(e, &keys);
            for (e, _) in projection.exprs.iter_mut() {
                *e = rewrite(e);
            }
            table = aggregated;
            if let Some(h) = having {
                let name = self.name("Having");
                table = table
                    .filter(&name, rewrite(&h))
                    .map_err(|e| self.column_error(e, true))?;
            }
        } else if let Some(h) = &s.having {
            return Err(self.error(format!("HAVING without GROUP BY or aggregates{}", at(h))));
        }
        let hidden = projection
            .exprs
            .iter()
            .any(|(_, n)| n.starts_with("__order"));
        let name = self.name("Select");
        let columns: Vec<(Expr, &str)> = projection
            .exprs
            .iter()
            .map(|(e, n)| (e.clone(), n.as_str()))
            .collect();
        table = table
            .select(&name, columns)
            .map_err(|e| self.column_error(e, grouped))?;
        if s.distinct.is_some() {
            if hidden {
                return Err(self.error(
                    "with SELECT DISTINCT, ORDER BY expressions must appear in the select list",
                ));
            }
            let name = self.name("Distinct");
            table = table.distinct(&name)?;
        }
        let visible: Option<Vec<String>> = hidden.then(|| {
            projection
                .exprs
                .iter()
                .map(|(_, n)| n.clone())
                .filter(|n| !n.starts_with("__order"))
                .collect()
        });
        if sort.is_empty() && limit.is_none() && offset == 0 {
            return Ok(table);
        }
        self.sorted(table, sort, limit, offset, visible)
    }

    /// An unknown column's error, with where the query names it.
    fn column_error(&self, e: BeamError, grouped: bool) -> BeamError {
        match e {
            BeamError::Construction { step, message } if message.starts_with("no column") => {
                let column = message.split('`').nth(1).unwrap_or("").to_string();
                let position = self
                    .positions
                    .iter()
                    .find(|(n, _)| *n == column)
                    .map(|(_, p)| p.clone())
                    .unwrap_or_default();
                let message = if grouped && !column.starts_with("__") {
                    format!(
                        "column `{column}`{position} must appear in GROUP BY or be used in an aggregate"
                    )
                } else {
                    format!("{message}{position}")
                };
                BeamError::Construction { step, message }
            }
            other => other,
        }
    }
}

/// A table name as written, without quotes.
fn plain_name(name: &ast::ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part {
            ast::ObjectNamePart::Identifier(i) => i.value.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(57).collect::<String>())
    }
}
