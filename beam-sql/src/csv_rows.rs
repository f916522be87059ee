//! CSV records into record batches: records are split a batch at a time
//! ([`RecordSplitter`]: quotes, doubled quotes, multi-line fields as the
//! `csv` crate reads them), each column is parsed into its Arrow array by
//! the parsers Arrow's cast from text uses, and a record that does not fit
//! the schema is a dead letter naming its file, line and column, never a
//! silently null value.

use crate::csv_split::{RecordSplitter, TextRecords};
use crate::field_parse::{plain_date, plain_decimal};
use arrow::array::{
    Array, ArrayRef, BooleanArray, Decimal128Builder, PrimitiveBuilder, RecordBatch,
    RecordBatchOptions, StringBuilder,
};
use arrow::compute::kernels::cast_utils::{parse_decimal, Parser};
use arrow::compute::{cast_with_options, filter_record_batch, CastOptions};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Field, Schema, SchemaRef};
use arrow::datatypes::{Date32Type, Decimal128Type, Float64Type, Int64Type};
use io_connectors::{DeadLetter, LineNumbers, RecordLocation};
use std::io::Read;
use std::sync::Arc;

/// Reads batches of the records of one CSV file, or of one byte range of it.
pub(crate) struct CsvBatches {
    splitter: RecordSplitter,
    records: TextRecords,
    schema: SchemaRef,
    path: String,
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

/// The fields of a batch's records as text: the whole batch checked as
/// UTF-8 at once when it is valid, field by field when it is not.
enum Fields<'a> {
    Whole(&'a str),
    Bytes(&'a [u8]),
}

/// The records of a batch that fit the schema so far: their indices in the
/// batch, and why each that stopped fitting while its columns were parsed
/// does not.
struct Fitting {
    rows: Vec<usize>,
    /// The width of every record, when every record of the batch fits.
    uniform: Option<usize>,
    failed: Vec<bool>,
    errors: Vec<(usize, String)>,
}

impl Fitting {
    /// Field `i` of fitting row `k` (checked as UTF-8 already).
    #[inline]
    fn text<'a>(
        &self,
        records: &'a TextRecords,
        fields: &Fields<'a>,
        k: usize,
        i: usize,
    ) -> &'a str {
        let (start, end) = self.span(records, k, i);
        fields.get(start, end).unwrap_or_default()
    }

    /// Where field `i` of fitting row `k` is in the batch's bytes.
    #[inline]
    fn span(&self, records: &TextRecords, k: usize, i: usize) -> (usize, usize) {
        match self.uniform {
            Some(width) => records.field_span(k * width + i),
            None => records.span(self.rows[k], i),
        }
    }

    /// Row `k` of the fitting rows does not fit, for the first reason found.
    fn fail(&mut self, k: usize, error: impl FnOnce() -> String) {
        if !self.failed[k] {
            self.failed[k] = true;
            self.errors.push((self.rows[k], error()));
        }
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
        mut lines: LineNumbers,
    ) -> Result<CsvBatches, String> {
        let mut splitter = RecordSplitter::new(input, delimiter);
        let mut records = TextRecords::default();
        if header {
            splitter
                .read(&mut records, 1)
                .map_err(|e| format!("line {}: {e}", lines.line(0)))?;
            let found = if records.len() == 0 {
                0
            } else {
                records.width(0)
            };
            if found != schema.fields().len() {
                return Err(format!(
                    "the header has {found} fields, the table's schema {} columns",
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
            splitter,
            records,
            schema,
            path: path.to_string(),
            delimiter,
            lines,
            parsers,
            done: false,
        })
    }

    /// A dead letter for record `r` of the batch.
    fn dead(&mut self, records: &TextRecords, r: usize, error: String) -> DeadLetter {
        DeadLetter {
            raw: records.joined(r, self.delimiter),
            location: RecordLocation::File {
                path: self.path.clone(),
                line: self.lines.line(records.line(r).saturating_sub(1)),
            },
            error,
        }
    }

    /// The next batch of the good records among the next `rows` records,
    /// with the bad ones; `None` at the end of the file.
    pub(crate) fn next(
        &mut self,
        rows: usize,
    ) -> Result<Option<(RecordBatch, Vec<DeadLetter>)>, String> {
        if self.done {
            return Ok(None);
        }
        self.records.clear();
        if let Err(e) = self.splitter.read(&mut self.records, rows) {
            let line = self.lines.line(self.splitter.line().saturating_sub(1));
            return Err(format!("line {line}: {e}"));
        }
        if self.records.len() < rows {
            self.done = true;
        }
        if self.records.len() == 0 {
            return Ok(None);
        }
        let records = std::mem::take(&mut self.records);
        let result = self.batch(&records);
        self.records = records;
        result.map(Some)
    }

    /// The batch of `records`' good records, and their bad ones.
    fn batch(&mut self, records: &TextRecords) -> Result<(RecordBatch, Vec<DeadLetter>), String> {
        let width = self.schema.fields().len();
        let fields = match std::str::from_utf8(records.bytes()) {
            Ok(text) => Fields::Whole(text),
            Err(_) => Fields::Bytes(records.bytes()),
        };
        // ASCII text splits into valid UTF-8 fields wherever it splits.
        let ascii = records.bytes().is_ascii();
        let mut fitting = Fitting {
            rows: Vec::with_capacity(records.len()),
            uniform: None,
            failed: Vec::new(),
            errors: Vec::new(),
        };
        let mut dead = Vec::new();
        for r in 0..records.len() {
            let found = records.width(r);
            if found != width {
                let error = format!("expected {width} fields (as in the header), found {found}");
                dead.push((r, error));
            } else if !ascii && (0..width).any(|i| text(records, &fields, r, i).is_none()) {
                dead.push((r, "the record is not UTF-8".to_string()));
            } else {
                fitting.rows.push(r);
            }
        }
        fitting.failed = vec![false; fitting.rows.len()];
        if fitting.rows.len() == records.len() {
            fitting.uniform = Some(width);
        }
        let columns = match self.parsers.clone() {
            Some(parsers) => parsers
                .iter()
                .enumerate()
                .map(|(i, p)| self.parsed(records, &fields, i, *p, &mut fitting))
                .collect::<Result<Vec<_>, _>>()?,
            None => self.cast(records, &fields, &mut fitting)?,
        };
        dead.append(&mut fitting.errors);
        dead.sort_by_key(|(r, _)| *r);
        let dead = dead
            .into_iter()
            .map(|(r, error)| self.dead(records, r, error))
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(fitting.rows.len()));
        if !fitting.failed.contains(&true) {
            let batch = RecordBatch::try_new_with_options(self.schema.clone(), columns, &options)
                .map_err(|e| e.to_string())?;
            return Ok((batch, dead));
        }
        // Nullable columns while the bad rows are still in; the schema's own
        // nullability holds once they are filtered out.
        let loose = Arc::new(Schema::new(
            self.schema
                .fields()
                .iter()
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect::<Vec<Field>>(),
        ));
        let batch = RecordBatch::try_new_with_options(loose, columns, &options)
            .map_err(|e| e.to_string())?;
        let good = BooleanArray::from_iter(fitting.failed.iter().map(|f| Some(!f)));
        let batch = filter_record_batch(&batch, &good).map_err(|e| e.to_string())?;
        let batch = RecordBatch::try_new_with_options(
            self.schema.clone(),
            batch.columns().to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| e.to_string())?;
        Ok((batch, dead))
    }

    /// Column `i` of the fitting rows, parsed as `p`; a row whose field does
    /// not parse gets a null here and fails.
    fn parsed(
        &self,
        records: &TextRecords,
        fields: &Fields<'_>,
        i: usize,
        p: Parse,
        fitting: &mut Fitting,
    ) -> Result<ArrayRef, String> {
        let field = self.schema.fields()[i].as_ref();
        let n = fitting.rows.len();
        Ok(match p {
            Parse::Text => {
                let bytes = (0..n)
                    .map(|k| {
                        let (start, end) = fitting.span(records, k, i);
                        end - start
                    })
                    .sum();
                let mut b = StringBuilder::with_capacity(n, bytes);
                for k in 0..n {
                    let t = fitting.text(records, fields, k, i);
                    if t.is_empty() {
                        if !field.is_nullable() {
                            fitting.fail(k, || empty(field));
                        }
                        b.append_null();
                    } else {
                        b.append_value(t);
                    }
                }
                Arc::new(b.finish())
            }
            Parse::Int64 => {
                primitive::<Int64Type>(records, fields, i, field, fitting, Int64Type::parse)
            }
            Parse::Float64 => primitive::<Float64Type>(records, fields, i, field, fitting, |t| {
                Float64Type::parse(t)
            }),
            Parse::Date32 => primitive::<Date32Type>(records, fields, i, field, fitting, |t| {
                plain_date(t.as_bytes()).or_else(|| Date32Type::parse(t))
            }),
            Parse::Decimal(precision, scale) => {
                let mut b = Decimal128Builder::with_capacity(n);
                for k in 0..n {
                    let t = fitting.text(records, fields, k, i);
                    if t.is_empty() {
                        if !field.is_nullable() {
                            fitting.fail(k, || empty(field));
                        }
                        b.append_null();
                    } else if let Some(v) = plain_decimal(t.as_bytes(), precision, scale) {
                        b.append_value(v);
                    } else if !decimal_is_exact(t, scale) {
                        fitting.fail(k, || {
                            format!(
                                "column `{}`: {t:?} has more decimal places than {}",
                                field.name(),
                                field.data_type()
                            )
                        });
                        b.append_null();
                    } else if let Ok(v) = parse_decimal::<Decimal128Type>(t, precision, scale) {
                        b.append_value(v);
                    } else {
                        fitting.fail(k, || not_a(field, t));
                        b.append_null();
                    }
                }
                Arc::new(
                    b.finish()
                        .with_precision_and_scale(precision, scale)
                        .map_err(|e| e.to_string())?,
                )
            }
        })
    }

    /// Every column of the fitting rows, read as text and cast to the
    /// schema's types by Arrow's cast, for schemas with a type no direct
    /// parser reads.
    fn cast(
        &self,
        records: &TextRecords,
        fields: &Fields<'_>,
        fitting: &mut Fitting,
    ) -> Result<Vec<ArrayRef>, String> {
        let options = CastOptions {
            safe: true,
            ..Default::default()
        };
        let n = fitting.rows.len();
        let mut typed = Vec::with_capacity(self.schema.fields().len());
        for (i, field) in self.schema.fields().iter().enumerate() {
            let mut b = StringBuilder::with_capacity(n, n * 8);
            for k in 0..n {
                match fitting.text(records, fields, k, i) {
                    "" => b.append_null(),
                    t => b.append_value(t),
                }
            }
            let strings: ArrayRef = Arc::new(b.finish());
            let values = if field.data_type() == &DataType::Utf8 {
                strings.clone()
            } else {
                cast_with_options(&strings, field.data_type(), &options)
                    .map_err(|e| e.to_string())?
            };
            let texts = arrow::array::AsArray::as_string::<i32>(strings.as_ref());
            for k in 0..n {
                let valid = strings.is_valid(k);
                if let (DataType::Decimal128(_, scale), true) = (field.data_type(), valid) {
                    if !decimal_is_exact(texts.value(k), *scale) {
                        fitting.fail(k, || {
                            format!(
                                "column `{}`: {:?} has more decimal places than {}",
                                field.name(),
                                texts.value(k),
                                field.data_type()
                            )
                        });
                    }
                }
                if valid && values.is_null(k) {
                    fitting.fail(k, || not_a(field, texts.value(k)));
                } else if !field.is_nullable() && values.is_null(k) {
                    fitting.fail(k, || empty(field));
                }
            }
            typed.push(values);
        }
        Ok(typed)
    }
}

/// Field `i` of record `r` as text; `None` if it is not UTF-8.
#[inline]
fn text<'a>(records: &'a TextRecords, fields: &Fields<'a>, r: usize, i: usize) -> Option<&'a str> {
    let (start, end) = records.span(r, i);
    fields.get(start, end)
}

impl<'a> Fields<'a> {
    /// The text from `start` to `end`; `None` if it is not UTF-8.
    #[inline]
    fn get(&self, start: usize, end: usize) -> Option<&'a str> {
        match self {
            Fields::Whole(text) => text.get(start..end),
            Fields::Bytes(bytes) => std::str::from_utf8(&bytes[start..end]).ok(),
        }
    }
}

/// Column `i` of the fitting rows parsed by `parse` into a primitive array.
fn primitive<T: ArrowPrimitiveType>(
    records: &TextRecords,
    fields: &Fields<'_>,
    i: usize,
    field: &Field,
    fitting: &mut Fitting,
    parse: impl Fn(&str) -> Option<T::Native>,
) -> ArrayRef {
    let n = fitting.rows.len();
    let mut b = PrimitiveBuilder::<T>::with_capacity(n);
    for k in 0..n {
        let t = fitting.text(records, fields, k, i);
        if t.is_empty() {
            if !field.is_nullable() {
                fitting.fail(k, || empty(field));
            }
            b.append_null();
        } else if let Some(v) = parse(t) {
            b.append_value(v);
        } else {
            fitting.fail(k, || not_a(field, t));
            b.append_null();
        }
    }
    Arc::new(b.finish())
}

fn empty(field: &Field) -> String {
    format!("column `{}` is empty", field.name())
}

fn not_a(field: &Field, text: &str) -> String {
    format!(
        "column `{}`: {:?} is not a {}",
        field.name(),
        text,
        field.data_type()
    )
}

/// Whether decimal text (`12.50`, `-3`, `1.25e1`) has no more fractional
/// digits than `scale`, so that reading it loses nothing (Arrow's cast would
/// round the rest away).
fn decimal_is_exact(text: &str, scale: i8) -> bool {
    let t = text.trim();
    let b = t.as_bytes();
    let (mantissa, exponent) = match b.iter().position(|c| matches!(c, b'e' | b'E')) {
        Some(i) => match t[i + 1..].parse::<i64>() {
            Ok(e) => (&b[..i], e),
            Err(_) => return true,
        },
        None => (b, 0),
    };
    let fraction = match mantissa.iter().position(|c| *c == b'.') {
        Some(i) => &mantissa[i + 1..],
        None => &[],
    };
    let zeros = fraction.iter().rev().take_while(|c| **c == b'0').count();
    let digits = (fraction.len() - zeros) as i64;
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
