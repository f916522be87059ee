//! Values between YAML and rows: `Create`'s elements into a record batch
//! (schema inferred as from JSON), and rows printed as Beam's Python SDK
//! prints them (`Row(fruit='apple', n=3)`), which `LogForTesting` writes.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::*;
use serde_yaml_ng::Value;
use std::sync::Arc;

/// The elements as one batch; elements that are not mappings become rows
/// of one field, `element`.
pub(super) fn batch_of(elements: &[Value]) -> Result<RecordBatch, String> {
    let rows: Vec<serde_json::Value> = elements
        .iter()
        .map(|e| {
            let json = serde_json::to_value(e).map_err(|e| e.to_string())?;
            Ok(match json {
                serde_json::Value::Object(_) => json,
                other => serde_json::json!({ "element": other }),
            })
        })
        .collect::<Result<_, String>>()?;
    let inferred = arrow::json::reader::infer_json_schema_from_iterator(rows.iter().map(Ok))
        .map_err(|e| format!("cannot infer the elements' schema: {e}"))?;
    // Fields in the order they first appear (JSON objects sort their keys).
    let mut order: Vec<String> = Vec::new();
    for e in elements {
        match e {
            Value::Mapping(m) => {
                for k in m.keys() {
                    let k = super::text(k).unwrap_or_default();
                    if !order.contains(&k) {
                        order.push(k);
                    }
                }
            }
            _ if !order.iter().any(|k| k == "element") => order.push("element".into()),
            _ => {}
        }
    }
    let fields: Vec<FieldRef> = order
        .iter()
        .filter_map(|k| {
            inferred
                .field_with_name(k)
                .ok()
                .map(|f| Arc::new(f.clone()))
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .build_decoder()
        .map_err(|e| e.to_string())?;
    decoder.serialize(&rows).map_err(|e| e.to_string())?;
    let batch = decoder
        .flush()
        .map_err(|e| e.to_string())?
        .unwrap_or_else(|| RecordBatch::new_empty(schema));
    Ok(batch)
}

/// `Row(a=1, b='x')` for each row.
pub(super) fn python_rows(batch: &RecordBatch) -> Vec<String> {
    let schema = batch.schema();
    (0..batch.num_rows())
        .map(|row| {
            let fields: Vec<String> = schema
                .fields()
                .iter()
                .zip(batch.columns())
                .map(|(f, c)| format!("{}={}", f.name(), python_value(c, row)))
                .collect();
            format!("Row({})", fields.join(", "))
        })
        .collect()
}

/// Python's `repr` of a float: `4.0`, `3.5`, `1e+16`.
pub(super) fn python_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        // Rust writes 1e16 and 1.5e-5; Python 1e+16 and 1.5e-05.
        let s = format!("{x:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    let s = format!("{x}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

fn python_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn python_value(c: &ArrayRef, row: usize) -> String {
    if c.is_null(row) {
        return "None".into();
    }
    macro_rules! int {
        ($t:ty) => {
            c.as_primitive::<$t>().value(row).to_string()
        };
    }
    match c.data_type() {
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Float32 => python_float(c.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Float64 => python_float(c.as_primitive::<Float64Type>().value(row)),
        DataType::Boolean => if c.as_boolean().value(row) {
            "True"
        } else {
            "False"
        }
        .into(),
        DataType::Utf8 => python_str(c.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => python_str(c.as_string::<i64>().value(row)),
        DataType::Decimal128(_, s) => {
            let v = c.as_primitive::<Decimal128Type>().value(row);
            format!("Decimal('{}')", Decimal128Type::format_decimal(v, 38, *s))
        }
        DataType::List(_) => {
            let list = c.as_list::<i32>().value(row);
            let items: Vec<String> = (0..list.len()).map(|i| python_value(&list, i)).collect();
            format!("[{}]", items.join(", "))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let micros = c.as_primitive::<TimestampMicrosecondType>().value(row);
            format!("Timestamp({})", python_float(micros as f64 / 1e6))
        }
        _ => match arrow::util::display::array_value_to_string(c, row) {
            Ok(s) => python_str(&s),
            Err(_) => "?".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_python_does() {
        assert_eq!(python_float(4.0), "4.0");
        assert_eq!(python_float(119.98), "119.98");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(1.5e-5), "1.5e-05");
        assert_eq!(python_str("it's"), "\"it's\"");
    }

    #[test]
    fn elements_become_rows() {
        let elements: Vec<Value> =
            serde_yaml_ng::from_str("[{a: 1, b: x}, {a: 2.5, b: y, c: [p, q]}]").unwrap();
        let batch = batch_of(&elements).unwrap();
        assert_eq!(
            python_rows(&batch),
            [
                "Row(a=1.0, b='x', c=None)",
                "Row(a=2.5, b='y', c=['p', 'q'])"
            ]
        );
    }
}
