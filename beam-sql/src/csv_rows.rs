//! CSV records into record batches: the `csv` crate splits records (quotes,
//! escapes, multi-line fields), Arrow's cast kernels read the typed columns,
//! and a record that does not fit the schema is a dead letter naming its file,
//! line and column, never a silently null value.

use arrow::array::{
    Array, ArrayRef, BooleanArray, Date32Builder, Decimal128Builder, Float64Builder, Int64Builder,
    RecordBatch, StringBuilder,
};
use arrow::compute::kernels::cast_utils::{parse_decimal, Parser};
use arrow::compute::{cast_with_options, filter_record_batch, CastOptions};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::datatypes::{Date32Type, Decimal128Type, Float64Type, Int64Type};
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
    /// How each column is parsed when every column has a direct parser.
    parsers: Option<Vec<Parse>>,
    done: bool,
}

/// A column type parsed straight from the field text, by the same parser
/// Arrow's cast from text uses.
#[derive(Clone, Copy)]
enum Parse {
    Text,
    Int64,
    Float64,
    Date32,
    Decimal(u8, i8),
}

impl Parse {
    fn of(t: &DataType) -> Option<Parse> {
        Some(match t {
            DataType::Utf8 => Parse::Text,
            DataType::Int64 => Parse::Int64,
            DataType::Float64 => Parse::Float64,
            DataType::Date32 => Parse::Date32,
            DataType::Decimal128(p, s) => Parse::Decimal(*p, *s),
            _ => return None,
        })
    }
}

/// A parsed field of the record being read.
#[derive(Clone, Copy)]
enum Cell {
    Null,
    Text(usize),
    Int(i64),
    Float(f64),
    Date(i32),
    Decimal(i128),
}

/// The builders of a batch's columns.
enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Date(Date32Builder),
    Decimal(Decimal128Builder, u8, i8),
}

impl Builder {
    fn new(p: Parse, rows: usize) -> Builder {
        match p {
            Parse::Text => Builder::Text(StringBuilder::with_capacity(rows, rows * 8)),
            Parse::Int64 => Builder::Int(Int64Builder::with_capacity(rows)),
            Parse::Float64 => Builder::Float(Float64Builder::with_capacity(rows)),
            Parse::Date32 => Builder::Date(Date32Builder::with_capacity(rows)),
            Parse::Decimal(p, s) => Builder::Decimal(Decimal128Builder::with_capacity(rows), p, s),
        }
    }

    fn finish(self) -> Result<ArrayRef, String> {
        Ok(match self {
            Builder::Text(mut b) => std::sync::Arc::new(b.finish()),
            Builder::Int(mut b) => std::sync::Arc::new(b.finish()),
            Builder::Float(mut b) => std::sync::Arc::new(b.finish()),
            Builder::Date(mut b) => std::sync::Arc::new(b.finish()),
            Builder::Decimal(mut b, p, s) => std::sync::Arc::new(
                b.finish()
                    .with_precision_and_scale(p, s)
                    .map_err(|e| e.to_string())?,
            ),
        })
    }
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
        let parsers = schema
            .fields()
            .iter()
            .map(|f| Parse::of(f.data_type()))
            .collect();
        Ok(CsvBatches {
            reader,
            schema,
            path: path.to_string(),
            record: csv::ByteRecord::new(),
            delimiter,
            lines,
            parsers,
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
        if let Some(parsers) = self.parsers.clone() {
            return self.next_parsed(rows, &parsers);
        }
        let width = self.schema.fields().len();
        let mut columns: Vec<StringBuilder> = (0..width)
            .map(|_| StringBuilder::with_capacity(rows, rows * 8))
            .collect();
        let mut lines = Vec::with_capacity(rows);
        let mut dead = Vec::new();
        while lines.len() < rows {
            let Some(line) = self.next_record(&mut dead)? else {
                break;
            };
            let Ok(fields) = self
                .record
                .iter()
                .map(std::str::from_utf8)
                .collect::<Result<Vec<&str>, _>>()
            else {
                let raw = self.raw();
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

impl CsvBatches {
    /// Reads the next record with as many fields as the schema has columns
    /// into `self.record` and returns its line (of the input); records with
    /// another count become dead letters. `None` at the end of the input.
    fn next_record(&mut self, dead: &mut Vec<DeadLetter>) -> Result<Option<u64>, String> {
        let width = self.schema.fields().len();
        loop {
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
                return Ok(None);
            }
            let line = self.record.position().map_or(0, |p| p.line());
            if self.record.len() == width {
                return Ok(Some(line));
            }
            let (raw, found) = (self.raw(), self.record.len());
            let error = format!("expected {width} fields (as in the header), found {found}");
            dead.push(self.dead(raw, line, error));
        }
    }

    /// The raw text of the current record, fields joined by the delimiter.
    fn raw(&self) -> Vec<u8> {
        let mut raw = Vec::new();
        for (i, f) in self.record.iter().enumerate() {
            if i > 0 {
                raw.push(self.delimiter);
            }
            raw.extend_from_slice(f);
        }
        raw
    }

    /// Parses field `i` of the current record as `p`: the cell, or why the
    /// record does not fit (the same checks, in the same order, as the
    /// cast path).
    fn cell(&self, i: usize, p: Parse, text: &str) -> Result<Cell, String> {
        let field = &self.schema.fields()[i];
        if text.is_empty() {
            return if field.is_nullable() {
                Ok(Cell::Null)
            } else {
                Err(format!("column `{}` is empty", field.name()))
            };
        }
        let not_a = || {
            format!(
                "column `{}`: {:?} is not a {}",
                field.name(),
                text,
                field.data_type()
            )
        };
        Ok(match p {
            Parse::Text => Cell::Text(i),
            Parse::Int64 => Cell::Int(Int64Type::parse(text).ok_or_else(not_a)?),
            Parse::Float64 => Cell::Float(Float64Type::parse(text).ok_or_else(not_a)?),
            Parse::Date32 => Cell::Date(Date32Type::parse(text).ok_or_else(not_a)?),
            Parse::Decimal(precision, scale) => {
                if !decimal_is_exact(text, scale) {
                    return Err(format!(
                        "column `{}`: {:?} has more decimal places than {}",
                        field.name(),
                        text,
                        field.data_type()
                    ));
                }
                Cell::Decimal(
                    parse_decimal::<Decimal128Type>(text, precision, scale).map_err(|_| not_a())?,
                )
            }
        })
    }

    /// [`CsvBatches::next`] when every column has a direct parser: fields
    /// are parsed as they are read, with no text copy.
    fn next_parsed(
        &mut self,
        rows: usize,
        parsers: &[Parse],
    ) -> Result<Option<(RecordBatch, Vec<DeadLetter>)>, String> {
        let width = parsers.len();
        let mut builders: Vec<Builder> = parsers.iter().map(|p| Builder::new(*p, rows)).collect();
        let mut cells = vec![Cell::Null; width];
        let mut dead = Vec::new();
        let mut count = 0;
        while count < rows {
            let Some(line) = self.next_record(&mut dead)? else {
                break;
            };
            // One UTF-8 check per record; the record's buffer moves, and
            // comes back for the next read.
            let text = match csv::StringRecord::from_byte_record(std::mem::take(&mut self.record)) {
                Ok(text) => text,
                Err(e) => {
                    self.record = e.into_byte_record();
                    let raw = self.raw();
                    dead.push(self.dead(raw, line, "the record is not UTF-8".into()));
                    continue;
                }
            };
            let mut problem = None;
            for (i, p) in parsers.iter().enumerate() {
                match self.cell(i, *p, &text[i]) {
                    Ok(c) => cells[i] = c,
                    Err(e) => {
                        problem.get_or_insert(e);
                    }
                }
            }
            if let Some(error) = problem {
                self.record = text.into_byte_record();
                let raw = self.raw();
                dead.push(self.dead(raw, line, error));
                continue;
            }
            for (b, c) in builders.iter_mut().zip(&cells) {
                match (b, *c) {
                    (Builder::Text(b), Cell::Text(i)) => b.append_value(&text[i]),
                    (Builder::Int(b), Cell::Int(v)) => b.append_value(v),
                    (Builder::Float(b), Cell::Float(v)) => b.append_value(v),
                    (Builder::Date(b), Cell::Date(v)) => b.append_value(v),
                    (Builder::Decimal(b, ..), Cell::Decimal(v)) => b.append_value(v),
                    (Builder::Text(b), _) => b.append_null(),
                    (Builder::Int(b), _) => b.append_null(),
                    (Builder::Float(b), _) => b.append_null(),
                    (Builder::Date(b), _) => b.append_null(),
                    (Builder::Decimal(b, ..), _) => b.append_null(),
                }
            }
            self.record = text.into_byte_record();
            count += 1;
        }
        let columns = builders
            .into_iter()
            .map(Builder::finish)
            .collect::<Result<Vec<_>, _>>()?;
        let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(count));
        let batch = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
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
    use super::*;

    /// A dead letter's line, error and raw text.
    type Dead = (u64, String, Vec<u8>);

    fn read_all(text: &[u8], direct: bool) -> (Vec<RecordBatch>, Vec<Dead>) {
        use arrow::datatypes::{Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
            Field::new("x", DataType::Float64, true),
            Field::new("d", DataType::Decimal128(6, 2), true),
            Field::new("day", DataType::Date32, true),
        ]));
        let input: Box<dyn Read + Send> = Box::new(std::io::Cursor::new(text.to_vec()));
        let lines = LineNumbers::new(std::sync::Arc::new("t.csv".into()), 0);
        let mut r = CsvBatches::open("t.csv", input, true, b',', schema, lines).unwrap();
        if !direct {
            r.parsers = None;
        }
        let (mut batches, mut dead) = (Vec::new(), Vec::new());
        while let Some((b, d)) = r.next(3).unwrap() {
            batches.push(b);
            dead.extend(
                d.into_iter()
                    .map(|d| (d.location.line().unwrap(), d.error, d.raw)),
            );
        }
        (batches, dead)
    }

    #[test]
    fn direct_parsing_reads_what_the_cast_path_reads() {
        let text = b"id,name,x,d,day\n\
            1,ann,1.5,12.50,2025-01-02\n\
            2,,,,\n\
            ,bob,1,1,2025-01-01\n\
            4,\"c, d\",1e3,-3,2024-02-29\n\
            5,eve,x1,1,2025-01-01\n\
            6,eve,1,1.005,2025-01-01\n\
            7,eve,1,99999.99,2025-01-01\n\
            8,eve,1,1,2025-02-30\n\
            9,eve,1\n\
            10,\xff,1,1,2025-01-01\n\
            11,\"multi\nline\",2,2,2025-03-03\n\
            12,zed,-0.0,0.1,2025-12-31\n";
        let (a, dead_a) = read_all(text, true);
        let (b, dead_b) = read_all(text, false);
        // Batches may end at other rows: the rows are what must agree.
        let all = |v: &[RecordBatch]| arrow::compute::concat_batches(&v[0].schema(), v).unwrap();
        let (a, b) = (all(&a), all(&b));
        for (c, (p, q)) in a.columns().iter().zip(b.columns()).enumerate() {
            assert_eq!(p, q, "column {c}: {p:?} / {q:?}");
        }
        assert_eq!(a, b);
        let (mut dead_a, mut dead_b) = (dead_a, dead_b);
        dead_a.sort();
        dead_b.sort();
        assert_eq!(dead_a, dead_b);
        assert_eq!(a.num_rows(), 5);
        let lines: Vec<u64> = dead_a.iter().map(|d| d.0).collect();
        assert_eq!(lines, [4, 6, 7, 8, 9, 10, 11]);
    }

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
