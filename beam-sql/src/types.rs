//! The type rules of expressions: which types are numbers or text, the
//! common type two values are brought to, and how column names resolve.

use arrow::datatypes::{DataType, Schema};

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Class {
    Null,
    Int,
    Float,
    Decimal(i8),
    Text,
    Other,
}

pub(crate) fn class(t: &DataType) -> Class {
    match t {
        DataType::Null => Class::Null,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Class::Int,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Class::Float,
        DataType::Decimal128(_, s) => Class::Decimal(*s),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Class::Text,
        _ => Class::Other,
    }
}

/// The type two values are brought to before they are compared, combined by
/// `CASE` or `COALESCE`, or unioned.
pub(crate) fn common_type(a: &DataType, b: &DataType) -> Option<DataType> {
    if a == b {
        return Some(a.clone());
    }
    Some(match (class(a), class(b)) {
        (Class::Null, _) => b.clone(),
        (_, Class::Null) => a.clone(),
        (Class::Int, Class::Int) => DataType::Int64,
        (Class::Float, Class::Int | Class::Float | Class::Decimal(_))
        | (Class::Int | Class::Decimal(_), Class::Float) => DataType::Float64,
        (Class::Decimal(s), Class::Int) | (Class::Int, Class::Decimal(s)) => {
            DataType::Decimal128(38, s)
        }
        (Class::Decimal(x), Class::Decimal(y)) => DataType::Decimal128(38, x.max(y)),
        (Class::Text, Class::Text) => DataType::Utf8,
        (Class::Text, Class::Other) if a_is_temporal(b) => b.clone(),
        (Class::Other, Class::Text) if a_is_temporal(a) => a.clone(),
        _ => return None,
    })
}

fn a_is_temporal(t: &DataType) -> bool {
    t.is_temporal()
}

pub(crate) fn is_numeric(t: &DataType) -> bool {
    matches!(
        class(t),
        Class::Int | Class::Float | Class::Decimal(_) | Class::Null
    )
}

/// Resolves a column name against a schema: an exact name, or the part after
/// the last `.` of a qualified field name (`s.amount` answers `amount`).
pub(crate) fn resolve_column(schema: &Schema, name: &str) -> Result<usize, String> {
    if let Ok(i) = schema.index_of(name) {
        return Ok(i);
    }
    let matches: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            let n = f.name();
            n.rsplit_once('.').is_some_and(|(_, tail)| tail == name)
                || name.rsplit_once('.').is_some_and(|(_, tail)| tail == n)
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [i] => Ok(*i),
        [] => Err(format!(
            "no column `{name}`; the columns are {}",
            column_list(schema)
        )),
        _ => Err(format!(
            "column `{name}` is ambiguous: it could be {}",
            matches
                .iter()
                .map(|i| format!("`{}`", schema.field(*i).name()))
                .collect::<Vec<_>>()
                .join(" or ")
        )),
    }
}

pub(crate) fn column_list(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn class_is_int(t: &DataType) -> bool {
    class(t) == Class::Int
}

pub(crate) fn class_is_numeric(t: &DataType) -> bool {
    is_numeric(t)
}
