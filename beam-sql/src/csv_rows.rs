//! CSV records into record batches: the `csv` crate splits records (quotes,
//! escapes, multi-line fields), Arrow's cast kernels read the typed columns,
//! and a record that does not fit the schema is a dead letter naming its file,
//! line and column, never a silently null value.

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringBuilder};
use arrow::compute::{cast_with_options, filter_record_batch, CastOptions};
use arrow::datatypes::{DataType, SchemaRef};
use io_connectors::{DeadLetter, LineNumbers, RecordLocation};
use std::io::Read;

/// Reads batches of the records of one CSV file, or of one byte range of it.
pub(crate) struct CsvBatches {
    reader: csv::Reader<Box<dyn Read + Send>>,
    schema: SchemaRef,
    path: String,
    record: csv::ByteRecord,
    delimiter: u8,
    /// File line numbers of the input's lines.
    lines: LineNumbers,
    done: bool,
}

impl CsvBatches {
    /// Reads `input`, which starts at a record (at the header if `header`).
    pub(crate) fn open(
        path: &str,
        input: Box<dyn Read + Send>,
        header: bool,
        delimiter: u8,
        schema: SchemaRef,
        lines: LineNumbers,
    ) -> Result<CsvBatches, String> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(header)
            .flexible(true)
            .from_reader(input);
        if header {
            let header = reader.byte_headers().map_err(|e| e.to_string())?;
            if header.len() != schema.fields().len() {
                return Err(format!(
                    "the header has {} fields, the table's schema {} columns",
                    header.len(),
                    schema.fields().len()
                ));
            }
        }
        Ok(CsvBatches {
            reader,
            schema,
            path: path.to_string(),
            record: csv::ByteRecord::new(),
            delimiter,
            lines,
            done: false,
        })
    }

    /// A dead letter for the record on line `line` of the input.
    fn dead(&mut self, raw: Vec<u8>, line: u64, error: String) -> DeadLetter {
        DeadLetter {
            raw,
            location: RecordLocation::File {
                path: self.path.clone(),
                line: self.lines.line(line.saturating_sub(1)),
            },
            error,
        }
    }

    /// The next batch of up to `rows` good records, with the bad ones; `None`
    /// at the end of the file.
    pub(crate) fn next(
        &mut self,
        rows: usize,
    ) -> Result<Option<(RecordBatch, Vec<DeadLetter>)>, String> {
        if self.done {
            return Ok(None);
        }
        let width = self.schema.fields().len();
        let mut columns: Vec<StringBuilder> = (0..width)
            .map(|_| StringBuilder::with_capacity(rows, rows * 8))
            .collect();
        let mut lines = Vec::with_capacity(rows);
        let mut dead = Vec::new();
        let delimiter = self.delimiter;
        let raw_of = |r: &csv::ByteRecord| -> Vec<u8> {
            let mut raw = Vec::new();
            for (i, f) in r.iter().enumerate() {
                if i > 0 {
                    raw.push(delimiter);
                }
                raw.extend_from_slice(f);
            }
            raw
        };
        while lines.len() < rows {
            let more = match self.reader.read_byte_record(&mut self.record) {
                Ok(more) => more,
                // Byte records of a flexible reader fail only on I/O, which
                // no record explains: the read fails.
                Err(e) => {
                    let line = e.position().map_or(1, |p| p.line());
                    let line = self.lines.line(line.saturating_sub(1));
                    return Err(format!("line {line}: {e}"));
                }
            };
            if !more {
                self.done = true;
                break;
            }
            let line = self.record.position().map_or(0, |p| p.line());
            if self.record.len() != width {
                let raw = raw_of(&self.record);
                let found = self.record.len();
                dead.push(self.dead(
                    raw,
                    line,
                    format!("expected {width} fields (as in the header), found {found}"),
                ));
                continue;
            }
            let Ok(fields) = self
                .record
                .iter()
                .map(std::str::from_utf8)
                .collect::<Result<Vec<&str>, _>>()
            else {
                let raw = raw_of(&self.record);
                dead.push(self.dead(raw, line, "the record is not UTF-8".into()));
                continue;
            };
            for (b, f) in columns.iter_mut().zip(fields) {
                if f.is_empty() {
                    b.append_null();
                } else {
                    b.append_value(f);
                }
            }
            lines.push(line);
        }
        let text: Vec<ArrayRef> = columns
            .into_iter()
            .map(|mut b| std::sync::Arc::new(b.finish()) as ArrayRef)
            .collect();
        let mut good = vec![true; lines.len()];
        let mut errors: Vec<Option<String>> = vec![None; lines.len()];
        let mut typed = Vec::with_capacity(width);
        let options = CastOptions {
            safe: true,
            ..Default::default()
        };
        for (field, strings) in self.schema.fields().iter().zip(&text) {
            let values = if field.data_type() == &DataType::Utf8 {
                strings.clone()
            } else {
                cast_with_options(strings, field.data_type(), &options)
                    .map_err(|e| e.to_string())?
            };
            let texts = arrow::array::AsArray::as_string::<i32>(strings.as_ref());
            for row in 0..lines.len() {
                let inexact = match field.data_type() {
                    DataType::Decimal128(_, scale) if strings.is_valid(row) => {
                        !decimal_is_exact(texts.value(row), *scale)
                    }
                    _ => false,
                };
                let problem = if inexact {
                    Some(format!(
                        "column `{}`: {:?} has more decimal places than {}",
                        field.name(),
                        texts.value(row),
                        field.data_type()
                    ))
                } else if strings.is_valid(row) && values.is_null(row) {
                    Some(format!(
                        "column `{}`: {:?} is not a {}",
                        field.name(),
                        texts.value(row),
                        field.data_type()
                    ))
                } else if !field.is_nullable() && values.is_null(row) {
                    Some(format!("column `{}` is empty", field.name()))
                } else {
                    None
                };
                if let Some(p) = problem {
                    if good[row] {
                        good[row] = false;
                        errors[row] = Some(p);
                    }
                }
            }
            typed.push(values);
        }
        for row in 0..lines.len() {
            if let Some(error) = errors[row].take() {
                let mut raw = Vec::new();
                for (i, t) in text.iter().enumerate() {
                    if i > 0 {
                        raw.push(self.delimiter);
                    }
                    let t = arrow::array::AsArray::as_string::<i32>(t.as_ref());
                    if t.is_valid(row) {
                        raw.extend_from_slice(t.value(row).as_bytes());
                    }
                }
                dead.push(self.dead(raw, lines[row], error));
            }
        }
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(lines.len()));
        // Nullable columns while the bad rows are still in; the schema's own
        // nullability holds once they are filtered out.
        let loose = std::sync::Arc::new(arrow::datatypes::Schema::new(
            self.schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<_>>(),
        ));
        let batch =
            RecordBatch::try_new_with_options(loose, typed, &options).map_err(|e| e.to_string())?;
        let batch = if good.iter().all(|g| *g) {
            batch
        } else {
            filter_record_batch(&batch, &BooleanArray::from(good)).map_err(|e| e.to_string())?
        };
        let batch = RecordBatch::try_new_with_options(
            self.schema.clone(),
            batch.columns().to_vec(),
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| e.to_string())?;
        Ok(Some((batch, dead)))
    }
}

/// Whether decimal text (`12.50`, `-3`, `1.25e1`) has no more fractional
/// digits than `scale`, so that reading it loses nothing (Arrow's cast would
/// round the rest away).
fn decimal_is_exact(text: &str, scale: i8) -> bool {
    let t = text.trim();
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => match t[i + 1..].parse::<i64>() {
            Ok(e) => (&t[..i], e),
            Err(_) => return true,
        },
        None => (t, 0),
    };
    let fraction = mantissa.split_once('.').map_or("", |(_, f)| f);
    let digits = fraction.trim_end_matches('0').len() as i64;
    digits - exponent <= i64::from(scale)
}

#[cfg(test)]
mod tests {
    use super::decimal_is_exact;

    #[test]
    fn decimal_places_beyond_the_scale_are_not_exact() {
        assert!(decimal_is_exact("12.50", 2));
        assert!(decimal_is_exact("12.500", 2));
        assert!(decimal_is_exact("-3", 2));
        assert!(decimal_is_exact("1.234e1", 2));
        assert!(!decimal_is_exact("1.005", 2));
        assert!(!decimal_is_exact("1.5e-2", 2));
    }
}
