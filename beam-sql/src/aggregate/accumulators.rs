//! The accumulators of the aggregate functions: how a row updates one, how
//! two merge, and how a column of them becomes the output column.

use super::{AggregateFunction, Kind};
use crate::exact_sum::ExactSum;
use arrow::array::{Array, ArrayRef, Decimal128Array, Float64Array, Int64Array};
use arrow::datatypes::{DataType, Field};
use arrow::row::RowConverter;
use beam_core::{UserError, UserResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::sync::Arc;

/// One aggregate's running result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Acc {
    Count(i64),
    Int {
        sum: i128,
        count: i64,
    },
    Float {
        sum: ExactSum,
        count: i64,
    },
    Decimal {
        sum: Option<i128>,
        count: i64,
    },
    Extreme(Option<Vec<u8>>),
    Distinct(BTreeSet<Vec<u8>>),
    /// Encoded values: for `Top` the best so far, best first, at most `n`;
    /// for `CollectList` every one, put in order when the list is read.
    List(Vec<Vec<u8>>),
}

/// Adds `v` to a list accumulator of `function`.
fn add_to_list(function: AggregateFunction, values: &mut Vec<Vec<u8>>, v: &[u8]) {
    match function {
        AggregateFunction::Top { n, smallest } => keep_top(values, v, n, smallest),
        _ => values.push(v.to_vec()),
    }
}

/// Keeps the `n` best of `values` plus `v`, best first.
fn keep_top(values: &mut Vec<Vec<u8>>, v: &[u8], n: usize, smallest: bool) {
    let better = |a: &[u8], b: &[u8]| if smallest { a < b } else { a > b };
    if values.len() == n && !better(v, &values[n - 1]) {
        return;
    }
    let at = values.partition_point(|x| !better(v, x));
    values.insert(at, v.to_vec());
    values.truncate(n);
}

pub(super) fn empty_acc(function: AggregateFunction, kind: Kind) -> Acc {
    match (function, kind) {
        (AggregateFunction::CountDistinct, _) => Acc::Distinct(BTreeSet::new()),
        (AggregateFunction::Top { .. } | AggregateFunction::CollectList, _) => {
            Acc::List(Vec::new())
        }
        (_, Kind::CountStar | Kind::Count) => Acc::Count(0),
        (_, Kind::Int) => Acc::Int { sum: 0, count: 0 },
        (_, Kind::Float) => Acc::Float {
            sum: ExactSum::default(),
            count: 0,
        },
        (_, Kind::Decimal) => Acc::Decimal {
            sum: Some(0),
            count: 0,
        },
        (_, Kind::Encoded) => Acc::Extreme(None),
    }
}

pub(super) fn merge_acc(function: AggregateFunction, acc: &mut Acc, other: Acc) {
    match (acc, other) {
        (Acc::Count(a), Acc::Count(b)) => *a += b,
        (Acc::Int { sum, count }, Acc::Int { sum: s, count: c }) => {
            *sum += s;
            *count += c;
        }
        (Acc::Float { sum, count }, Acc::Float { sum: s, count: c }) => {
            sum.merge(&s);
            *count += c;
        }
        (Acc::Decimal { sum, count }, Acc::Decimal { sum: s, count: c }) => {
            *sum = match (*sum, s) {
                (Some(a), Some(b)) => a.checked_add(b),
                _ => None,
            };
            *count += c;
        }
        (Acc::Extreme(a), Acc::Extreme(b)) => {
            if let Some(b) = b {
                let replace = match a {
                    None => true,
                    Some(a) if function == AggregateFunction::Min => b < *a,
                    Some(a) => b > *a,
                };
                if replace {
                    *a = Some(b);
                }
            }
        }
        (Acc::Distinct(a), Acc::Distinct(mut b)) => a.append(&mut b),
        (Acc::List(a), Acc::List(b)) => {
            for v in b {
                add_to_list(function, a, &v);
            }
        }
        (a, b) => unreachable!("accumulators of one plan: {a:?} and {b:?}"),
    }
}

pub(super) enum Column<'a> {
    None,
    Any(&'a dyn Array),
    Int(&'a Int64Array),
    Float(&'a Float64Array),
    Decimal(&'a Decimal128Array),
    Encoded(&'a dyn Array, arrow::row::Rows),
}

#[inline]
pub(super) fn update(function: AggregateFunction, acc: &mut Acc, column: &Column<'_>, row: usize) {
    match (acc, column) {
        (Acc::Count(n), Column::None) => *n += 1,
        (Acc::Count(n), Column::Any(a)) => *n += i64::from(a.is_valid(row)),
        (Acc::Int { sum, count }, Column::Int(a)) => {
            if a.is_valid(row) {
                *sum += i128::from(a.value(row));
                *count += 1;
            }
        }
        (Acc::Float { sum, count }, Column::Float(a)) => {
            if a.is_valid(row) {
                sum.add(a.value(row));
                *count += 1;
            }
        }
        (Acc::Decimal { sum, count }, Column::Decimal(a)) => {
            if a.is_valid(row) {
                *sum = sum.and_then(|s| s.checked_add(a.value(row)));
                *count += 1;
            }
        }
        (Acc::Extreme(best), Column::Encoded(a, rows)) => {
            if a.is_valid(row) {
                let v = rows.row(row);
                let replace = match best {
                    None => true,
                    Some(b) if function == AggregateFunction::Min => v.data() < b.as_slice(),
                    Some(b) => v.data() > b.as_slice(),
                };
                if replace {
                    *best = Some(v.data().to_vec());
                }
            }
        }
        (Acc::List(values), Column::Encoded(a, rows)) => {
            if a.is_valid(row) {
                add_to_list(function, values, rows.row(row).data());
            }
        }
        (Acc::Distinct(set), Column::Encoded(a, rows)) => {
            if a.is_valid(row) {
                let v = rows.row(row).data();
                if !set.contains(v) {
                    set.insert(v.to_vec());
                }
            }
        }
        (acc, _) => unreachable!("an accumulator of the wrong kind: {acc:?}"),
    }
}

pub(super) fn field_name(f: &Field) -> String {
    f.name().clone()
}

pub(super) fn finish_column<'a>(
    function: AggregateFunction,
    field: &Field,
    accs: impl Iterator<Item = &'a Acc>,
    converter: Option<&RowConverter>,
    name: &str,
    scale: i8,
) -> UserResult<ArrayRef> {
    use AggregateFunction::*;
    let overflow = || UserError::msg(format!("{name} overflows its type"));
    Ok(match (function, field.data_type()) {
        (Count | CountStar | CountDistinct, _) => Arc::new(
            accs.map(|a| match a {
                Acc::Count(n) => *n,
                Acc::Distinct(s) => s.len() as i64,
                _ => 0,
            })
            .collect::<Int64Array>(),
        ),
        (Avg, _) => Arc::new(
            accs.map(|a| match a {
                Acc::Int { count: 0, .. }
                | Acc::Float { count: 0, .. }
                | Acc::Decimal { count: 0, .. } => Ok(None),
                Acc::Int { sum, count } => Ok(Some(*sum as f64 / *count as f64)),
                Acc::Float { sum, count } => Ok(Some(sum.value() / *count as f64)),
                Acc::Decimal { sum, count } => {
                    let sum = sum.ok_or_else(overflow)?;
                    Ok(Some(sum as f64 / 10f64.powi(scale.into()) / *count as f64))
                }
                _ => Ok(None),
            })
            .collect::<UserResult<Float64Array>>()?,
        ),
        (Sum, DataType::Int64) => Arc::new(
            accs.map(|a| match a {
                Acc::Int { count: 0, .. } => Ok(None),
                Acc::Int { sum, .. } => i64::try_from(*sum).map(Some).map_err(|_| overflow()),
                _ => Ok(None),
            })
            .collect::<UserResult<Int64Array>>()?,
        ),
        (Sum, DataType::Float64) => Arc::new(
            accs.map(|a| match a {
                Acc::Float { count: 0, .. } => None,
                Acc::Float { sum, .. } => Some(sum.value()),
                _ => None,
            })
            .collect::<Float64Array>(),
        ),
        (Sum, DataType::Decimal128(p, s)) => Arc::new(
            accs.map(|a| match a {
                Acc::Decimal { count: 0, .. } => Ok(None),
                Acc::Decimal { sum, .. } => sum.map(Some).ok_or_else(overflow),
                _ => Ok(None),
            })
            .collect::<UserResult<Decimal128Array>>()?
            .with_precision_and_scale(*p, *s)
            .map_err(|e| UserError::msg(e.to_string()))?,
        ),
        (Min | Max, t) => {
            let converter = converter.expect("an encoded argument");
            let parser = converter.parser();
            let values: Vec<Option<&Vec<u8>>> = accs
                .map(|a| match a {
                    Acc::Extreme(v) => v.as_ref(),
                    _ => None,
                })
                .collect();
            let present: Vec<_> = values.iter().flatten().map(|v| parser.parse(v)).collect();
            let dense = converter
                .convert_rows(present)
                .map_err(|e| UserError::msg(e.to_string()))?
                .pop()
                .unwrap_or_else(|| arrow::array::new_empty_array(t));
            // Spread the present values over the groups, with nulls between.
            let mut next = 0u32;
            let indices: arrow::array::UInt32Array = values
                .iter()
                .map(|v| {
                    v.map(|_| {
                        next += 1;
                        next - 1
                    })
                })
                .collect();
            arrow::compute::take(&dense, &indices, None)
                .map_err(|e| UserError::msg(e.to_string()))?
        }
        (Top { .. } | CollectList, DataType::List(item)) => {
            let converter = converter.expect("an encoded argument");
            let parser = converter.parser();
            // Top's lists are in order already; a collected list is sorted.
            let lists: Vec<Vec<&Vec<u8>>> = accs
                .filter_map(|a| match a {
                    Acc::List(v) => {
                        let mut v: Vec<&Vec<u8>> = v.iter().collect();
                        if function == CollectList {
                            v.sort();
                        }
                        Some(v)
                    }
                    _ => None,
                })
                .collect();
            let rows: Vec<_> = lists
                .iter()
                .flat_map(|l| l.iter())
                .map(|v| parser.parse(v))
                .collect();
            let values = converter
                .convert_rows(rows)
                .map_err(|e| UserError::msg(e.to_string()))?
                .pop()
                .unwrap_or_else(|| arrow::array::new_empty_array(item.data_type()));
            let offsets = arrow::buffer::OffsetBuffer::from_lengths(lists.iter().map(|l| l.len()));
            Arc::new(
                arrow::array::ListArray::try_new(item.clone(), offsets, values, None)
                    .map_err(|e| UserError::msg(e.to_string()))?,
            )
        }
        (f, t) => return Err(UserError::msg(format!("{f:?} cannot produce {t}"))),
    })
}
