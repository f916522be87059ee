//! Reading tables from files: CSV (with a header, declared or inferred
//! types), JSON lines and Parquet, as a bounded source that yields Arrow
//! record batches. An uncompressed CSV file is split into byte ranges, each
//! owning the records that start in it (quoted line breaks included), so one
//! large file is read on every core; other files are one split each.

use crate::csv_rows::CsvBatches;
use crate::rows::Rows;
use crate::table::Table;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use beam_core::{
    BeamError, BoundedSource, DoFn, PCollection, ParDo, Pipeline, ProcessContext, Read, Result,
    SourceReader, TupleTag, UserResult, WindowedValue,
};
use io_connectors::{CsvRecordStarts, DeadLetter, FileRange, LineNumbers, RecordLocation};
use std::fs::File;
use std::io::BufReader;
use std::sync::Arc;

/// A file format a table can be read from.
#[derive(Clone, Debug)]
pub enum Format {
    /// CSV with a header row, fields separated by `delimiter`.
    Csv {
        /// The field separator.
        delimiter: u8,
    },
    /// One JSON object per line; fields become columns by name.
    JsonLines,
    /// Apache Parquet.
    Parquet,
}

const BATCH_ROWS: usize = 8192;

fn invalid(path: &str, message: impl std::fmt::Display) -> BeamError {
    BeamError::io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, message.to_string()),
    )
}

/// Reads the files matching `pattern` as a table; a record that does not fit
/// the schema fails the pipeline with an error naming its file and line (see
/// [`read_with_dead_letter`] to set such records aside). Without `schema`, the
/// schema is inferred from the first file (the CSV header and the first 1 000
/// rows' values; the first 1 000 JSON lines; the Parquet footer); every file
/// must then have that schema.
///
/// ```no_run
/// use beam_core::Pipeline;
/// use beam_sql::read::{read, Format};
/// let p = Pipeline::new(Default::default());
/// let sales = read(&p, "ReadSales", "sales.csv", Format::Csv { delimiter: b',' }, None)?;
/// # Ok::<(), beam_core::BeamError>(())
/// ```
pub fn read(
    p: &Pipeline,
    name: &str,
    pattern: &str,
    format: Format,
    schema: Option<SchemaRef>,
) -> Result<Table> {
    let (table, _) = read_items(p, name, pattern, format, schema, false)?;
    Ok(table)
}

/// Like [`read`], but a CSV record that does not fit the schema (a wrong
/// number of fields, a value its column's type cannot read, an empty value
/// in a non-nullable column) goes to the second output as a dead letter
/// naming its file, line and column, instead of failing the pipeline.
pub fn read_with_dead_letter(
    p: &Pipeline,
    name: &str,
    pattern: &str,
    format: Format,
    schema: Option<SchemaRef>,
) -> Result<(Table, PCollection<DeadLetter>)> {
    read_items(p, name, pattern, format, schema, true)
}

fn read_items(
    p: &Pipeline,
    name: &str,
    pattern: &str,
    format: Format,
    schema: Option<SchemaRef>,
    dead_letters: bool,
) -> Result<(Table, PCollection<DeadLetter>)> {
    // The pattern is expanded once: the schema is inferred from a file the
    // source reads.
    let ranges = FileRange::whole_files(pattern)?;
    let schema = match (schema, ranges.first()) {
        (Some(s), _) => s,
        (None, Some(first)) => infer(&first.path, &format)?,
        (None, None) => {
            return Err(invalid(
                pattern,
                "no file matches, so no schema can be inferred",
            ))
        }
    };
    let source = FileTableSource {
        ranges,
        format,
        schema: schema.clone(),
        dead_letters,
        starts: CsvRecordStarts::default(),
    };
    let items = p.apply(name, Read::from(source))?;
    let dead = TupleTag::<DeadLetter>::new("dead_letters");
    let split = items.apply(
        &format!("{name}Split"),
        ParDo::of(SplitItems { dead: dead.clone() }).with_output(&dead),
    )?;
    let dead = split.get(&dead)?;
    Ok((Table::new(split.main, schema), dead))
}

/// What a file source reads: rows, or a record set aside.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum ReadItem {
    /// Records that fit the schema.
    Rows(Rows),
    /// A record that does not.
    Dead(DeadLetter),
}

/// Rows to the main output, dead letters to their tagged one.
#[derive(Clone)]
struct SplitItems {
    dead: TupleTag<DeadLetter>,
}

impl DoFn for SplitItems {
    type In = ReadItem;
    type Out = Rows;
    fn process(&mut self, item: &ReadItem, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        match item {
            ReadItem::Rows(r) => ctx.output(r.clone()),
            ReadItem::Dead(d) => ctx.output_tagged(&self.dead, d.clone())?,
        }
        Ok(())
    }
}

fn infer(path: &std::path::Path, format: &Format) -> Result<SchemaRef> {
    let shown = path.display().to_string();
    let file = File::open(path).map_err(|e| BeamError::io(&shown, e))?;
    Ok(Arc::new(match format {
        Format::Csv { delimiter } => {
            arrow::csv::reader::Format::default()
                .with_header(true)
                .with_delimiter(*delimiter)
                .infer_schema(file, Some(1000))
                .map_err(|e| invalid(&shown, e))?
                .0
        }
        Format::JsonLines => {
            arrow::json::reader::infer_json_schema(BufReader::new(file), Some(1000))
                .map_err(|e| invalid(&shown, e))?
                .0
        }
        Format::Parquet => {
            let builder =
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .map_err(|e| invalid(&shown, e))?;
            builder.schema().as_ref().clone()
        }
    }))
}

/// The files of a table: byte ranges of CSV files, whole files otherwise.
struct FileTableSource {
    ranges: Vec<FileRange>,
    format: Format,
    schema: SchemaRef,
    dead_letters: bool,
    starts: CsvRecordStarts,
}

impl FileTableSource {
    fn with_ranges(&self, ranges: Vec<FileRange>) -> FileTableSource {
        FileTableSource {
            ranges,
            format: self.format.clone(),
            schema: self.schema.clone(),
            dead_letters: self.dead_letters,
            starts: self.starts.clone(),
        }
    }
}

impl BoundedSource for FileTableSource {
    type Output = ReadItem;
    fn estimated_size_bytes(&self) -> Result<u64> {
        Ok(self.ranges.iter().map(|r| r.end - r.start).sum())
    }
    fn split(&self, desired: u64) -> Result<Vec<Self>> {
        let ranges = match self.format {
            Format::Csv { .. } => FileRange::split_all(&self.ranges, desired),
            _ => self.ranges.clone(),
        };
        Ok(ranges
            .into_iter()
            .map(|r| self.with_ranges(vec![r]))
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<ReadItem>>> {
        Ok(Box::new(FileTableReader {
            ranges: self.ranges.iter().rev().cloned().collect(),
            format: self.format.clone(),
            schema: self.schema.clone(),
            dead_letters: self.dead_letters,
            starts: self.starts.clone(),
            current: None,
        }))
    }
    fn describe(&self) -> String {
        let shown: Vec<String> = self
            .ranges
            .iter()
            .map(|r| format!("{}[{}..{})", r.path.display(), r.start, r.end))
            .collect();
        format!("{:?} {}", self.format, shown.join(", "))
    }
}

type Batches =
    Box<dyn Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>> + Send>;

/// An open file: CSV through [`CsvBatches`], the other formats through
/// Arrow's readers.
enum Open {
    Csv(Box<CsvBatches>),
    Arrow(Batches),
}

struct FileTableReader {
    ranges: Vec<FileRange>,
    format: Format,
    schema: SchemaRef,
    dead_letters: bool,
    starts: CsvRecordStarts,
    current: Option<(String, Open)>,
}

impl FileTableReader {
    /// The records of a CSV range: those that start in it.
    fn open_csv(&self, range: &FileRange, delimiter: u8) -> Result<CsvBatches> {
        let shown = range.path.display().to_string();
        let (input, first): (Box<dyn std::io::Read + Send>, u64) =
            if range.compression.is_splittable() {
                let start = self
                    .starts
                    .record_start(range, range.start, delimiter, b'"')?;
                let end = self
                    .starts
                    .record_start(range, range.end, delimiter, b'"')?;
                let input = range.open_at(start)?;
                (
                    Box::new(std::io::Read::take(input, end.saturating_sub(start))),
                    start,
                )
            } else {
                (range.open_at(0)?, 0)
            };
        let lines = LineNumbers::new(range.path.clone(), first);
        CsvBatches::open(
            &shown,
            input,
            first == 0,
            delimiter,
            self.schema.clone(),
            lines,
        )
        .map_err(|e| invalid(&shown, e))
    }

    fn open(&self, range: &FileRange) -> Result<Open> {
        let path = range.path.as_path();
        let shown = path.display().to_string();
        if let Format::Csv { delimiter } = &self.format {
            return self
                .open_csv(range, *delimiter)
                .map(|c| Open::Csv(Box::new(c)));
        }
        let file = File::open(path).map_err(|e| BeamError::io(&shown, e))?;
        Ok(Open::Arrow(match &self.format {
            Format::Csv { .. } => unreachable!("opened above"),
            Format::JsonLines => Box::new(
                arrow::json::ReaderBuilder::new(self.schema.clone())
                    .with_batch_size(BATCH_ROWS)
                    .build(BufReader::new(file))
                    .map_err(|e| invalid(&shown, e))?,
            ),
            Format::Parquet => {
                let builder =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .map_err(|e| invalid(&shown, e))?;
                if builder.schema().fields() != self.schema.fields() {
                    return Err(invalid(
                        &shown,
                        format!(
                            "the file's columns {} differ from the table's {}",
                            crate::eval::column_list(builder.schema()),
                            crate::eval::column_list(&self.schema)
                        ),
                    ));
                }
                Box::new(
                    builder
                        .with_batch_size(BATCH_ROWS)
                        .build()
                        .map_err(|e| invalid(&shown, e))?,
                )
            }
        }))
    }
}

/// Rows per element are [`BATCH_ROWS`]; a bundle holds this many elements.
const BUNDLE_BATCHES: usize = 4;

impl SourceReader<ReadItem> for FileTableReader {
    fn max_bundle_elements(&self) -> usize {
        BUNDLE_BATCHES
    }

    fn read_batch(&mut self, out: &mut Vec<WindowedValue<ReadItem>>, _max: usize) -> Result<bool> {
        loop {
            if self.current.is_none() {
                let Some(range) = self.ranges.pop() else {
                    return Ok(false);
                };
                let open = self.open(&range)?;
                self.current = Some((range.path.display().to_string(), open));
            }
            let (path, open) = self.current.as_mut().expect("opened above");
            let next = match open {
                Open::Arrow(batches) => match batches.next() {
                    Some(Ok(batch)) => Some((batch, Vec::new())),
                    Some(Err(e)) => return Err(invalid(path, e)),
                    None => None,
                },
                Open::Csv(csv) => csv.next(BATCH_ROWS).map_err(|e| invalid(path, e))?,
            };
            let Some((batch, dead)) = next else {
                self.current = None;
                continue;
            };
            if let Some(d) = dead.first() {
                if !self.dead_letters {
                    let at = match &d.location {
                        RecordLocation::File { path, line } => format!("{path}:{line}"),
                        other => format!("{other:?}"),
                    };
                    return Err(invalid(
                        &at,
                        format!(
                            "{} ({}); read_with_dead_letter sets such records aside",
                            d.error,
                            d.raw_text()
                        ),
                    ));
                }
            }
            let any = batch.num_rows() > 0 || !dead.is_empty();
            out.extend(
                dead.into_iter()
                    .map(|d| WindowedValue::in_global_window(ReadItem::Dead(d))),
            );
            if batch.num_rows() > 0 {
                out.push(WindowedValue::in_global_window(ReadItem::Rows(Rows::new(
                    batch,
                ))));
            }
            if any {
                return Ok(true);
            }
        }
    }
}
