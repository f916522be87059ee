//! Reading tables from files: CSV (with a header, declared or inferred
//! types), JSON lines and Parquet, each file a split of a bounded source that
//! yields Arrow record batches.

use crate::rows::Rows;
use crate::table::Table;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use beam_core::{BeamError, BoundedSource, Pipeline, Read, Result, SourceReader, WindowedValue};
use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
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

/// Reads the files matching `pattern` as a table. Without `schema`, the
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
    let files: Vec<PathBuf> = io_connectors::expand_pattern(pattern)?
        .into_iter()
        .map(|(path, _)| path)
        .collect();
    let schema = match schema {
        Some(s) => s,
        None => infer(&files[0], &format)?,
    };
    let source = FileTableSource {
        files,
        format,
        schema: schema.clone(),
    };
    let rows = p.apply(name, Read::from(source))?;
    Ok(Table::new(rows, schema))
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

/// The files of a table, read one file per split.
struct FileTableSource {
    files: Vec<PathBuf>,
    format: Format,
    schema: SchemaRef,
}

impl BoundedSource for FileTableSource {
    type Output = Rows;
    fn estimated_size_bytes(&self) -> Result<u64> {
        let mut total = 0;
        for f in &self.files {
            total += std::fs::metadata(f)
                .map_err(|e| BeamError::io(f.display().to_string(), e))?
                .len();
        }
        Ok(total)
    }
    fn split(&self, _desired: u64) -> Result<Vec<Self>> {
        Ok(self
            .files
            .iter()
            .map(|f| FileTableSource {
                files: vec![f.clone()],
                format: self.format.clone(),
                schema: self.schema.clone(),
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<Rows>>> {
        Ok(Box::new(FileTableReader {
            files: self.files.clone().into_iter().rev().collect(),
            format: self.format.clone(),
            schema: self.schema.clone(),
            current: None,
        }))
    }
    fn describe(&self) -> String {
        format!("{:?} files {:?}", self.format, self.files)
    }
}

type Batches =
    Box<dyn Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>> + Send>;

struct FileTableReader {
    files: Vec<PathBuf>,
    format: Format,
    schema: SchemaRef,
    current: Option<(String, Batches)>,
}

impl FileTableReader {
    fn open(&self, path: &std::path::Path) -> Result<Batches> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| BeamError::io(&shown, e))?;
        Ok(match &self.format {
            Format::Csv { delimiter } => Box::new(
                arrow::csv::ReaderBuilder::new(self.schema.clone())
                    .with_header(true)
                    .with_delimiter(*delimiter)
                    .with_batch_size(BATCH_ROWS)
                    .build(file)
                    .map_err(|e| invalid(&shown, e))?,
            ),
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
        })
    }
}

impl SourceReader<Rows> for FileTableReader {
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<Rows>>, _max: usize) -> Result<bool> {
        loop {
            if self.current.is_none() {
                let Some(path) = self.files.pop() else {
                    return Ok(false);
                };
                let batches = self.open(&path)?;
                self.current = Some((path.display().to_string(), batches));
            }
            let (path, batches) = self.current.as_mut().expect("opened above");
            match batches.next() {
                Some(Ok(batch)) => {
                    if batch.num_rows() > 0 {
                        out.push(WindowedValue::in_global_window(Rows::new(batch)));
                        return Ok(true);
                    }
                }
                Some(Err(e)) => return Err(invalid(path, e)),
                None => self.current = None,
            }
        }
    }
}
