//! SQL expressions into [`Expr`]s: operators, literals, types, functions,
//! and aggregate calls pulled out as columns.

use super::{at, shorten, Planner};
use crate::aggregate::{Aggregate, AggregateFunction};
use crate::expr::{BinaryOp, Expr, Function, Literal};
use arrow::datatypes::DataType;
use beam_core::{BeamError, Result};
use sqlparser::ast;
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

impl Planner<'_> {
    /// Converts a SQL expression; aggregate calls become columns named in
    /// `aggregates` (refused where `aggregates` is `None`).
    pub(super) fn expr(
        &mut self,
        e: &ast::Expr,
        aggregates: &mut Option<Vec<(Aggregate, String)>>,
    ) -> Result<Expr> {
        use ast::Expr as E;
        Ok(match e {
            E::Identifier(_) | E::CompoundIdentifier(_) => {
                let name = match e {
                    E::Identifier(id) => id.value.clone(),
                    E::CompoundIdentifier(parts) => parts
                        .iter()
                        .map(|p| p.value.as_str())
                        .collect::<Vec<_>>()
                        .join("."),
                    _ => unreachable!(),
                };
                if !self.positions.iter().any(|(n, _)| *n == name) {
                    self.positions.push((name.clone(), at(e)));
                }
                Expr::Column(name)
            }
            E::Value(v) => Expr::Literal(self.literal(&v.value, e)?),
            E::Nested(inner) => self.expr(inner, aggregates)?,
            E::BinaryOp { left, op, right } => {
                let op = match op {
                    ast::BinaryOperator::Plus => BinaryOp::Add,
                    ast::BinaryOperator::Minus => BinaryOp::Sub,
                    ast::BinaryOperator::Multiply => BinaryOp::Mul,
                    ast::BinaryOperator::Divide => BinaryOp::Div,
                    ast::BinaryOperator::Modulo => BinaryOp::Mod,
                    ast::BinaryOperator::Eq => BinaryOp::Eq,
                    ast::BinaryOperator::NotEq => BinaryOp::NotEq,
                    ast::BinaryOperator::Lt => BinaryOp::Lt,
                    ast::BinaryOperator::LtEq => BinaryOp::LtEq,
                    ast::BinaryOperator::Gt => BinaryOp::Gt,
                    ast::BinaryOperator::GtEq => BinaryOp::GtEq,
                    ast::BinaryOperator::And => BinaryOp::And,
                    ast::BinaryOperator::Or => BinaryOp::Or,
                    ast::BinaryOperator::StringConcat => BinaryOp::Concat,
                    other => return Err(self.unsupported(&format!("the operator `{other}`"), e)),
                };
                Expr::Binary(
                    op,
                    Box::new(self.expr(left, aggregates)?),
                    Box::new(self.expr(right, aggregates)?),
                )
            }
            E::UnaryOp { op, expr } => {
                let x = self.expr(expr, aggregates)?;
                match op {
                    ast::UnaryOperator::Not => x.not(),
                    ast::UnaryOperator::Minus => match x {
                        Expr::Literal(Literal::Int(i)) => Expr::Literal(Literal::Int(-i)),
                        Expr::Literal(Literal::Decimal(d, s)) => {
                            Expr::Literal(Literal::Decimal(-d, s))
                        }
                        x => -x,
                    },
                    ast::UnaryOperator::Plus => x,
                    other => return Err(self.unsupported(&format!("the operator `{other}`"), e)),
                }
            }
            E::IsNull(x) => self.expr(x, aggregates)?.is_null(),
            E::IsNotNull(x) => self.expr(x, aggregates)?.is_not_null(),
            E::IsTrue(x) | E::IsNotFalse(x) | E::IsFalse(x) | E::IsNotTrue(x) => {
                let v = self.expr(x, aggregates)?;
                let target = matches!(e, E::IsTrue(_) | E::IsNotTrue(_));
                let test = Expr::call(
                    Function::Coalesce,
                    vec![
                        v.eq(Expr::Literal(Literal::Boolean(target))),
                        Expr::Literal(Literal::Boolean(false)),
                    ],
                );
                if matches!(e, E::IsNotTrue(_) | E::IsNotFalse(_)) {
                    test.not()
                } else {
                    test
                }
            }
            E::In {
                expr,
                target: ast::InTarget::List(list),
                negated,
                ..
            } => Expr::InList {
                expr: Box::new(self.expr(expr, aggregates)?),
                list: list
                    .iter()
                    .map(|v| self.expr(v, aggregates))
                    .collect::<Result<_>>()?,
                negated: *negated,
            },
            E::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let x = self.expr(expr, aggregates)?;
                let b = x.between(self.expr(low, aggregates)?, self.expr(high, aggregates)?);
                if *negated {
                    b.not()
                } else {
                    b
                }
            }
            E::Like {
                negated,
                expr,
                pattern,
                escape_char,
                any,
                ..
            }
            | E::ILike {
                negated,
                expr,
                pattern,
                escape_char,
                any,
                ..
            } => {
                if escape_char.is_some() || *any {
                    return Err(self.unsupported("LIKE with ESCAPE or ANY", e));
                }
                Expr::Like {
                    expr: Box::new(self.expr(expr, aggregates)?),
                    pattern: Box::new(self.expr(pattern, aggregates)?),
                    negated: *negated,
                    case_insensitive: matches!(e, E::ILike { .. }),
                }
            }
            E::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                let operand = operand
                    .as_ref()
                    .map(|o| self.expr(o, aggregates))
                    .transpose()?;
                let mut branches = Vec::new();
                for c in conditions {
                    let condition = self.expr(&c.condition, aggregates)?;
                    let condition = match &operand {
                        Some(o) => o.clone().eq(condition),
                        None => condition,
                    };
                    branches.push((condition, self.expr(&c.result, aggregates)?));
                }
                Expr::Case {
                    branches,
                    otherwise: else_result
                        .as_ref()
                        .map(|x| self.expr(x, aggregates).map(Box::new))
                        .transpose()?,
                }
            }
            E::Cast {
                expr, data_type, ..
            } => {
                let to = self.data_type(data_type, e)?;
                self.expr(expr, aggregates)?.cast(to)
            }
            E::TypedString(ts) => {
                let to = self.data_type(&ts.data_type, e)?;
                let text = match &ts.value.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                Expr::Literal(Literal::Str(text)).cast(to)
            }
            E::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![self.expr(expr, aggregates)?];
                args.push(match substring_from {
                    Some(f) => self.expr(f, aggregates)?,
                    None => Expr::Literal(Literal::Int(1)),
                });
                if let Some(n) = substring_for {
                    args.push(self.expr(n, aggregates)?);
                }
                Expr::call(Function::Substring, args)
            }
            E::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                if trim_what.is_some() || trim_characters.is_some() {
                    return Err(self.unsupported("TRIM of given characters", e));
                }
                let f = match trim_where {
                    Some(ast::TrimWhereField::Leading) => Function::Ltrim,
                    Some(ast::TrimWhereField::Trailing) => Function::Rtrim,
                    _ => Function::Trim,
                };
                Expr::call(f, vec![self.expr(expr, aggregates)?])
            }
            E::Ceil { expr, .. } => Expr::call(Function::Ceil, vec![self.expr(expr, aggregates)?]),
            E::Floor { expr, .. } => {
                Expr::call(Function::Floor, vec![self.expr(expr, aggregates)?])
            }
            E::Function(f) => self.function(f, e, aggregates)?,
            other => {
                return Err(self.unsupported(&format!("`{}`", shorten(&other.to_string())), other))
            }
        })
    }

    fn function(
        &mut self,
        f: &ast::Function,
        whole: &ast::Expr,
        aggregates: &mut Option<Vec<(Aggregate, String)>>,
    ) -> Result<Expr> {
        let name = f.name.to_string().to_ascii_lowercase();
        // A keyword the parser reads as a call without parentheses (`user`)
        // is a column name here.
        if matches!(f.args, ast::FunctionArguments::None) && f.over.is_none() {
            return Ok(Expr::Column(f.name.to_string()));
        }
        if f.over.is_some() || f.filter.is_some() || !f.within_group.is_empty() {
            return Err(self.unsupported("window functions and FILTER", whole));
        }
        let (distinct, raw_args): (bool, Vec<ast::FunctionArg>) = match &f.args {
            ast::FunctionArguments::None => (false, Vec::new()),
            ast::FunctionArguments::List(list) => {
                if !list.clauses.is_empty() {
                    return Err(self.unsupported("clauses in function arguments", whole));
                }
                (
                    matches!(
                        list.duplicate_treatment,
                        Some(ast::DuplicateTreatment::Distinct)
                    ),
                    list.args.clone(),
                )
            }
            ast::FunctionArguments::Subquery(_) => {
                return Err(self.unsupported("subqueries", whole))
            }
        };
        if let Some(bound) = self.window_bound(&name, f, whole)? {
            return Ok(bound);
        }
        let aggregate = match name.as_str() {
            "count" => Some(AggregateFunction::Count),
            "sum" => Some(AggregateFunction::Sum),
            "avg" | "mean" => Some(AggregateFunction::Avg),
            "min" => Some(AggregateFunction::Min),
            "max" => Some(AggregateFunction::Max),
            _ => None,
        };
        if let Some(function) = aggregate {
            let Some(found) = aggregates.as_mut() else {
                return Err(self.error(format!(
                    "the aggregate {} is not allowed here{}",
                    name.to_ascii_uppercase(),
                    at(whole)
                )));
            };
            let _ = found;
            let (function, arg) = match raw_args.as_slice() {
                [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard)]
                    if function == AggregateFunction::Count && !distinct =>
                {
                    (AggregateFunction::CountStar, None)
                }
                [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x))] => {
                    // Aggregates inside aggregates are refused.
                    let arg = self.expr(x, &mut None)?;
                    let function = match (function, distinct) {
                        (AggregateFunction::Count, true) => AggregateFunction::CountDistinct,
                        (f, true)
                            if matches!(f, AggregateFunction::Min | AggregateFunction::Max) =>
                        {
                            f
                        }
                        (_, true) => {
                            return Err(self.unsupported("DISTINCT in this aggregate", whole))
                        }
                        (f, false) => f,
                    };
                    (function, Some(arg))
                }
                _ => {
                    return Err(self.error(format!(
                        "{} takes one argument{}",
                        name.to_ascii_uppercase(),
                        at(whole)
                    )))
                }
            };
            let list = aggregates.as_mut().expect("checked above");
            let candidate = Aggregate {
                function,
                arg,
                name: String::new(),
            };
            let existing = list
                .iter()
                .find(|(a, _)| a.function == candidate.function && a.arg == candidate.arg)
                .map(|(_, n)| n.clone());
            let column = match existing {
                Some(n) => n,
                None => {
                    let n = format!("__agg{}", list.len());
                    list.push((candidate.alias(&n), n.clone()));
                    n
                }
            };
            return Ok(Expr::Column(column));
        }
        let function = Function::by_name(&name)
            .ok_or_else(|| self.error(format!("no function `{}`{}", f.name, at(whole))))?;
        if distinct {
            return Err(self.unsupported("DISTINCT in a scalar function", whole));
        }
        let mut args = Vec::new();
        for a in &raw_args {
            match a {
                ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x)) => {
                    args.push(self.expr(x, aggregates)?)
                }
                _ => return Err(self.unsupported("this function argument", whole)),
            }
        }
        Ok(Expr::call(function, args))
    }

    fn literal(&self, v: &ast::Value, node: &ast::Expr) -> Result<Literal> {
        Ok(match v {
            ast::Value::Null => Literal::Null,
            ast::Value::Boolean(b) => Literal::Boolean(*b),
            ast::Value::SingleQuotedString(s) => Literal::Str(s.clone()),
            ast::Value::Number(n, _) => {
                if let Ok(i) = n.parse::<i64>() {
                    Literal::Int(i)
                } else if let Some(d) = decimal(n) {
                    d
                } else {
                    Literal::Float(
                        n.parse()
                            .map_err(|_| self.error(format!("bad number {n}{}", at(node))))?,
                    )
                }
            }
            other => return Err(self.unsupported(&format!("the literal {other}"), node)),
        })
    }

    fn data_type(&self, t: &ast::DataType, node: &ast::Expr) -> Result<DataType> {
        use ast::DataType as T;
        Ok(match t {
            T::Int(_)
            | T::Integer(_)
            | T::BigInt(_)
            | T::SmallInt(_)
            | T::TinyInt(_)
            | T::Int64 => DataType::Int64,
            T::Double(_) | T::DoublePrecision | T::Float(_) | T::Real | T::Float64 => {
                DataType::Float64
            }
            T::Varchar(_) | T::Text | T::String(_) | T::Char(_) => DataType::Utf8,
            T::Boolean | T::Bool => DataType::Boolean,
            T::Date => DataType::Date32,
            T::Timestamp(_, ast::TimezoneInfo::None | ast::TimezoneInfo::WithoutTimeZone)
            | T::Datetime(_) => crate::window::BOUND_TYPE,
            T::Decimal(info) | T::Numeric(info) => match info {
                ast::ExactNumberInfo::PrecisionAndScale(p, s) => {
                    DataType::Decimal128(*p as u8, *s as i8)
                }
                ast::ExactNumberInfo::Precision(p) => DataType::Decimal128(*p as u8, 0),
                ast::ExactNumberInfo::None => DataType::Decimal128(18, 3),
            },
            other => return Err(self.unsupported(&format!("the type {other}"), node)),
        })
    }
}

/// A decimal literal (`12.50`) as an exact decimal.
fn decimal(text: &str) -> Option<Literal> {
    let (whole, frac) = text.split_once('.')?;
    if !whole
        .bytes()
        .chain(frac.bytes())
        .all(|b| b.is_ascii_digit())
        || frac.len() > 18
    {
        return None;
    }
    let digits: i128 = format!("{whole}{frac}").parse().ok()?;
    Some(Literal::Decimal(digits, frac.len() as i8))
}

/// `e` with its group-key subexpressions replaced by the key columns.
pub(super) fn replace_keys(e: &Expr, keys: &[(Expr, String)]) -> Expr {
    if let Some((_, name)) = keys.iter().find(|(k, _)| k == e) {
        return Expr::Column(name.clone());
    }
    let r = |x: &Expr| Box::new(replace_keys(x, keys));
    match e {
        Expr::Column(_) | Expr::Literal(_) => e.clone(),
        Expr::Binary(op, a, b) => Expr::Binary(*op, r(a), r(b)),
        Expr::Not(x) => Expr::Not(r(x)),
        Expr::Negate(x) => Expr::Negate(r(x)),
        Expr::IsNull(x) => Expr::IsNull(r(x)),
        Expr::IsNotNull(x) => Expr::IsNotNull(r(x)),
        Expr::Cast(x, t) => Expr::Cast(r(x), t.clone()),
        Expr::Case {
            branches,
            otherwise,
        } => Expr::Case {
            branches: branches
                .iter()
                .map(|(c, v)| (replace_keys(c, keys), replace_keys(v, keys)))
                .collect(),
            otherwise: otherwise.as_ref().map(|x| r(x)),
        },
        Expr::Call(f, args) => Expr::Call(*f, args.iter().map(|a| replace_keys(a, keys)).collect()),
        Expr::InList {
            expr,
            list,
            negated,
        } => Expr::InList {
            expr: r(expr),
            list: list.iter().map(|a| replace_keys(a, keys)).collect(),
            negated: *negated,
        },
        Expr::Like {
            expr,
            pattern,
            negated,
            case_insensitive,
        } => Expr::Like {
            expr: r(expr),
            pattern: r(pattern),
            negated: *negated,
            case_insensitive: *case_insensitive,
        },
    }
}

/// Parses one SQL expression (no aggregates) into an [`Expr`]; for
/// expression fields of other front ends. Errors name `step`.
pub(crate) fn parse_expression(step: &str, text: &str) -> Result<Expr> {
    let dialect = GenericDialect {};
    let parsed = Parser::new(&dialect)
        .try_with_sql(text)
        .and_then(|mut p| {
            let e = p.parse_expr()?;
            p.expect_token(&sqlparser::tokenizer::Token::EOF)?;
            Ok(e)
        })
        .map_err(|e| {
            BeamError::construction(step, format!("cannot parse the expression `{text}`: {e}"))
        })?;
    let mut planner = Planner {
        tables: &[],
        step: step.to_string(),
        next: 0,
        positions: Vec::new(),
        window_refs: Vec::new(),
    };
    let e = planner.expr(&parsed, &mut None)?;
    planner.no_window_refs("an expression")?;
    Ok(e)
}
