//! Windowed grouping in SQL, as Beam SQL and Flink SQL write it:
//! `GROUP BY key, TUMBLE(ts, INTERVAL '1' HOUR)`, `HOP(ts, slide, size)` or
//! `SESSION(ts, gap)`, with `TUMBLE_START(..)`, `TUMBLE_END(..)` (and the
//! `HOP_` and `SESSION_` forms) naming the window's bounds in the select
//! list and `HAVING`.

use super::{at, Planner};
use crate::expr::Expr;
use crate::table::Table;
use beam_core::{Duration, Result, WindowFn};
use sqlparser::ast;

/// The hidden columns the window bounds are computed into.
pub(super) const WINDOW_START: &str = "__window_start";
pub(super) const WINDOW_END: &str = "__window_end";

/// A reference to a window bound in an expression, checked against the
/// query's `GROUP BY` window when that is planned.
pub(super) struct BoundRef {
    /// `TUMBLE`, `HOP` or `SESSION`.
    kind: &'static str,
    /// The arguments as written, normalized by the parser's printing.
    args: String,
    /// The call as written, for errors.
    text: String,
    at: String,
}

/// The window of a `GROUP BY`.
pub(super) struct GroupWindow {
    kind: &'static str,
    args: String,
    pub(super) time: Expr,
    pub(super) window_fn: WindowFn,
}

fn kind_of(name: &str) -> Option<&'static str> {
    match name {
        "tumble" => Some("TUMBLE"),
        "hop" => Some("HOP"),
        "session" => Some("SESSION"),
        _ => None,
    }
}

fn arguments(f: &ast::Function) -> Vec<&ast::Expr> {
    match &f.args {
        ast::FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|a| match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => Some(x),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn args_text(f: &ast::Function) -> String {
    f.args.to_string().to_ascii_lowercase()
}

impl Planner<'_> {
    /// A window bound call (`TUMBLE_START(..)`): recorded, and replaced by
    /// its hidden column. `None` for other functions.
    pub(super) fn window_bound(
        &mut self,
        name: &str,
        f: &ast::Function,
        whole: &ast::Expr,
    ) -> Result<Option<Expr>> {
        if kind_of(name).is_some() {
            return Err(self.error(format!(
                "{} is a window of GROUP BY, not a value{}",
                name.to_ascii_uppercase(),
                at(whole)
            )));
        }
        let Some((prefix, column)) = name
            .strip_suffix("_start")
            .map(|p| (p, WINDOW_START))
            .or_else(|| name.strip_suffix("_end").map(|p| (p, WINDOW_END)))
        else {
            return Ok(None);
        };
        let Some(kind) = kind_of(prefix) else {
            return Ok(None);
        };
        self.window_refs.push(BoundRef {
            kind,
            args: args_text(f),
            text: whole.to_string(),
            at: at(whole),
        });
        Ok(Some(Expr::Column(column.to_string())))
    }

    /// Fails if window bounds were used where no window is (in `WHERE` or
    /// `ON`, before grouping).
    pub(super) fn no_window_refs(&mut self, clause: &str) -> Result<()> {
        match self.window_refs.first() {
            None => Ok(()),
            Some(r) => Err(self.error(format!(
                "{} is not allowed in {clause}{}: window bounds exist after a windowed GROUP BY",
                r.text, r.at
            ))),
        }
    }

    /// Takes the window out of a `GROUP BY` list, and checks that the
    /// window bounds used in the query are of it.
    pub(super) fn group_window(
        &mut self,
        group_by: &mut Vec<ast::Expr>,
    ) -> Result<Option<GroupWindow>> {
        let mut found = None;
        let mut rest = Vec::new();
        for g in group_by.drain(..) {
            let call = match &g {
                ast::Expr::Function(f) => {
                    kind_of(&f.name.to_string().to_ascii_lowercase()).map(|k| (k, f))
                }
                _ => None,
            };
            let Some((kind, f)) = call else {
                rest.push(g);
                continue;
            };
            if found.is_some() {
                return Err(self.error(format!(
                    "GROUP BY has a second window {g}{}: one window per grouping",
                    at(&g)
                )));
            }
            found = Some(self.parse_window(kind, f, &g)?);
        }
        *group_by = rest;
        let refs = std::mem::take(&mut self.window_refs);
        for r in &refs {
            match &found {
                None => {
                    return Err(self.error(format!(
                        "{}{} needs a GROUP BY {}(..) window",
                        r.text, r.at, r.kind
                    )))
                }
                Some(w) if w.kind != r.kind || w.args != r.args => {
                    return Err(self.error(format!(
                        "{}{} is not the window of GROUP BY {}{}",
                        r.text, r.at, w.kind, w.args
                    )))
                }
                Some(_) => {}
            }
        }
        Ok(found)
    }

    fn parse_window(
        &mut self,
        kind: &'static str,
        f: &ast::Function,
        whole: &ast::Expr,
    ) -> Result<GroupWindow> {
        let args = arguments(f);
        let expected = match kind {
            "HOP" => 3,
            _ => 2,
        };
        if args.len() != expected {
            let form = match kind {
                "TUMBLE" => "TUMBLE(time, INTERVAL size)",
                "HOP" => "HOP(time, INTERVAL slide, INTERVAL size)",
                _ => "SESSION(time, INTERVAL gap)",
            };
            return Err(self.error(format!("the window is written {form}{}", at(whole))));
        }
        let time = self.expr(args[0], &mut None)?;
        let first = self.interval(args[1])?;
        let window_fn = match kind {
            "TUMBLE" => WindowFn::fixed(first),
            "HOP" => WindowFn::sliding(self.interval(args[2])?, first),
            _ => WindowFn::sessions(first),
        };
        window_fn
            .validate()
            .map_err(|m| self.error(format!("{m}{}", at(whole))))?;
        Ok(GroupWindow {
            kind,
            args: args_text(f),
            time,
            window_fn,
        })
    }

    /// `INTERVAL '5' MINUTE` or `INTERVAL '5 minutes'`.
    fn interval(&self, e: &ast::Expr) -> Result<Duration> {
        let bad = || {
            self.error(format!(
                "expected an interval such as INTERVAL '5' MINUTE, got {e}{}",
                at(e)
            ))
        };
        let ast::Expr::Interval(i) = e else {
            return Err(bad());
        };
        if i.last_field.is_some() {
            return Err(bad());
        }
        let text = match i.value.as_ref() {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => s.clone(),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        };
        let mut words = text.split_whitespace();
        let amount: f64 = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
        let unit = match (&i.leading_field, words.next()) {
            (Some(field), None) => field.to_string().to_ascii_lowercase(),
            (None, Some(unit)) if words.next().is_none() => unit.to_ascii_lowercase(),
            _ => return Err(bad()),
        };
        let micros_per = match unit.trim_end_matches('s') {
            "millisecond" => 1e3,
            "second" => 1e6,
            "minute" => 60e6,
            "hour" => 3600e6,
            "day" => 86_400e6,
            _ => return Err(bad()),
        };
        let micros = amount * micros_per;
        if !((1.0..9.2e18).contains(&micros) && micros.fract() == 0.0) {
            return Err(bad());
        }
        Ok(Duration::from_micros(micros as i64))
    }
}

impl GroupWindow {
    /// The table windowed by this grouping's window.
    pub(super) fn apply(&self, planner: &mut Planner<'_>, table: &Table) -> Result<Table> {
        let name = planner.name("Window");
        table
            .window(&name, self.time.clone(), self.window_fn.clone())
            .map_err(|e| planner.column_error(e, false))
    }
}
