//! The scalar functions: their type rules and their kernels.

use crate::eval::{
    cast, class_is_int, class_is_numeric, common_type, int_builder, string_builder, CompiledExpr,
};
use crate::expr::Function;
use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::compute::kernels::{cmp, numeric, zip::zip};
use arrow::compute::{is_not_null, nullif};
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use std::sync::Arc;

fn arity(f: Function, n: usize, allowed: std::ops::RangeInclusive<usize>) -> Result<(), String> {
    if allowed.contains(&n) {
        Ok(())
    } else {
        Err(format!(
            "{} takes {} arguments, not {n}",
            format!("{f:?}").to_ascii_uppercase(),
            if allowed.start() == allowed.end() {
                allowed.start().to_string()
            } else if *allowed.end() == usize::MAX {
                format!("at least {}", allowed.start())
            } else {
                format!("{} to {}", allowed.start(), allowed.end())
            }
        ))
    }
}

fn text(e: CompiledExpr) -> Result<CompiledExpr, String> {
    cast(e, &DataType::Utf8)
}

fn int(e: CompiledExpr) -> Result<CompiledExpr, String> {
    if !class_is_int(e.data_type()) && e.data_type() != &DataType::Null {
        return Err(format!("expected an integer, found {}", e.data_type()));
    }
    cast(e, &DataType::Int64)
}

/// Checks a call's arguments, casting them to the types the kernel takes;
/// returns them with the result's type.
pub(crate) fn check(
    f: Function,
    args: Vec<CompiledExpr>,
) -> Result<(Vec<CompiledExpr>, DataType), String> {
    use Function::*;
    let n = args.len();
    match f {
        Upper | Lower | Trim | Ltrim | Rtrim => {
            arity(f, n, 1..=1)?;
            Ok((
                args.into_iter().map(text).collect::<Result<_, _>>()?,
                DataType::Utf8,
            ))
        }
        Length => {
            arity(f, n, 1..=1)?;
            Ok((
                args.into_iter().map(text).collect::<Result<_, _>>()?,
                DataType::Int64,
            ))
        }
        Substring => {
            arity(f, n, 2..=3)?;
            let mut it = args.into_iter();
            let mut out = vec![text(it.next().expect("arity"))?];
            for a in it {
                out.push(int(a)?);
            }
            Ok((out, DataType::Utf8))
        }
        Replace => {
            arity(f, n, 3..=3)?;
            Ok((
                args.into_iter().map(text).collect::<Result<_, _>>()?,
                DataType::Utf8,
            ))
        }
        Concat => {
            arity(f, n, 1..=usize::MAX)?;
            Ok((
                args.into_iter().map(text).collect::<Result<_, _>>()?,
                DataType::Utf8,
            ))
        }
        Coalesce | NullIf => {
            if f == NullIf {
                arity(f, n, 2..=2)?;
            } else {
                arity(f, n, 1..=usize::MAX)?;
            }
            let mut ty = DataType::Null;
            for a in &args {
                ty = common_type(&ty, a.data_type())
                    .ok_or_else(|| format!("cannot mix {ty} and {}", a.data_type()))?;
            }
            let args = args
                .into_iter()
                .map(|a| cast(a, &ty))
                .collect::<Result<_, _>>()?;
            Ok((args, ty))
        }
        Abs | Floor | Ceil | Round => {
            if f == Round {
                arity(f, n, 1..=2)?;
            } else {
                arity(f, n, 1..=1)?;
            }
            let mut it = args.into_iter();
            let x = it.next().expect("arity");
            if !class_is_numeric(x.data_type()) {
                return Err(format!("expected a number, found {}", x.data_type()));
            }
            let x = if class_is_int(x.data_type()) || x.data_type() == &DataType::Null {
                cast(x, &DataType::Int64)?
            } else if f == Abs && matches!(x.data_type(), DataType::Decimal128(..)) {
                x
            } else {
                cast(x, &DataType::Float64)?
            };
            let ty = x.data_type().clone();
            let mut out = vec![x];
            if let Some(d) = it.next() {
                out.push(int(d)?);
            }
            Ok((out, ty))
        }
    }
}

/// Runs `f` on argument columns of `rows` rows.
pub(crate) fn call(
    f: Function,
    args: &[ArrayRef],
    ty: &DataType,
    rows: usize,
) -> Result<ArrayRef, String> {
    use Function::*;
    let e = |e: arrow::error::ArrowError| e.to_string();
    let strings = |i: usize| args[i].as_string::<i32>();
    let map_text = |g: &dyn Fn(&str) -> String| -> ArrayRef {
        let s = strings(0);
        let mut b = string_builder(rows);
        for v in s.iter() {
            b.append_option(v.map(g));
        }
        Arc::new(b.finish())
    };
    Ok(match f {
        Upper => map_text(&|s| s.to_uppercase()),
        Lower => map_text(&|s| s.to_lowercase()),
        Trim => map_text(&|s| s.trim().to_string()),
        Ltrim => map_text(&|s| s.trim_start().to_string()),
        Rtrim => map_text(&|s| s.trim_end().to_string()),
        Length => {
            let mut b = int_builder(rows);
            for v in strings(0).iter() {
                b.append_option(v.map(|s| s.chars().count() as i64));
            }
            Arc::new(b.finish())
        }
        Substring => {
            let s = strings(0);
            let start = args[1].as_primitive::<Int64Type>();
            let len = args.get(2).map(|a| a.as_primitive::<Int64Type>());
            let mut b = string_builder(rows);
            for i in 0..rows {
                if s.is_null(i) || start.is_null(i) || len.is_some_and(|l| l.is_null(i)) {
                    b.append_null();
                    continue;
                }
                // SQL positions start at 1; a start before 1 eats into the length.
                let from = start.value(i);
                let end = len.map(|l| from.saturating_add(l.value(i).max(0)));
                let first = from.max(1) as usize - 1;
                let count = end.map(|end| (end.max(1) as usize - 1).saturating_sub(first));
                let chars = s.value(i).chars().skip(first);
                let piece: String = match count {
                    Some(c) => chars.take(c).collect(),
                    None => chars.collect(),
                };
                b.append_value(piece);
            }
            Arc::new(b.finish())
        }
        Replace => {
            let (s, from, to) = (strings(0), strings(1), strings(2));
            let mut b = string_builder(rows);
            for i in 0..rows {
                if s.is_null(i) || from.is_null(i) || to.is_null(i) {
                    b.append_null();
                } else if from.value(i).is_empty() {
                    b.append_value(s.value(i));
                } else {
                    b.append_value(s.value(i).replace(from.value(i), to.value(i)));
                }
            }
            Arc::new(b.finish())
        }
        Concat => {
            let mut b = string_builder(rows);
            let mut joined = String::new();
            for i in 0..rows {
                joined.clear();
                for a in args {
                    let s = a.as_string::<i32>();
                    if !s.is_null(i) {
                        joined.push_str(s.value(i));
                    }
                }
                b.append_value(&joined);
            }
            Arc::new(b.finish())
        }
        Coalesce => {
            let mut result = args[args.len() - 1].clone();
            for a in args[..args.len() - 1].iter().rev() {
                result = zip(&is_not_null(a).map_err(e)?, a, &result).map_err(e)?;
            }
            result
        }
        NullIf => {
            let same = cmp::eq(&args[0], &args[1]).map_err(e)?;
            let same = crate::eval::null_as_false(&same);
            nullif(&args[0], &same).map_err(e)?
        }
        Abs => {
            let zero =
                arrow::compute::cast(&arrow::array::Int64Array::from(vec![0]), ty).map_err(e)?;
            let negative = cmp::lt(&args[0], &arrow::array::Scalar::new(zero)).map_err(e)?;
            let flipped = numeric::neg(&args[0]).map_err(e)?;
            zip(&negative, &flipped, &args[0]).map_err(e)?
        }
        Floor | Ceil | Round => {
            if class_is_int(ty) {
                return Ok(args[0].clone());
            }
            let x = args[0].as_primitive::<Float64Type>();
            let digits = args.get(1).map(|a| a.as_primitive::<Int64Type>());
            let out: Float64Array = (0..rows)
                .map(|i| {
                    if x.is_null(i) || digits.is_some_and(|d| d.is_null(i)) {
                        return None;
                    }
                    let v = x.value(i);
                    Some(match f {
                        Floor => v.floor(),
                        Ceil => v.ceil(),
                        _ => {
                            let d = digits.map_or(0, |d| d.value(i)).clamp(-30, 30) as i32;
                            round_half_away(v, d)
                        }
                    })
                })
                .collect();
            Arc::new(out)
        }
    })
}

/// `v` rounded to `digits` decimal places, halves away from zero (the
/// scaled value is rounded, as DuckDB and Spark round doubles).
fn round_half_away(v: f64, digits: i32) -> f64 {
    if !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(digits);
    let r = (v * scale).round() / scale;
    if r.is_finite() {
        r
    } else {
        v
    }
}
