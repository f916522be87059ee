//! Parquet, with the `arrow` and `parquet` crates: typed rows (through serde, by
//! `serde_arrow`) or Arrow record batches.
//!
//! Reading splits files by row groups (a split is a run of row groups of about the
//! desired size) and can project columns, so only the named columns are decoded.
//! Writing converts rows to Arrow batches and writes Snappy-compressed row groups of
//! a configurable number of rows.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{testing::PAssert, Create, Pipeline, PipelineOptions};
//! use io_connectors::ParquetIO;
//!
//! #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Total { category: String, total: f64, count: u64 }
//! #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
//! struct Category { category: String }
//!
//! let dir = tempfile::tempdir().unwrap();
//! let prefix = dir.path().join("totals").display().to_string();
//! let p = Pipeline::new(PipelineOptions::default());
//! p.apply("Rows", Create::of(vec![
//!     Total { category: "books".into(), total: 3.5, count: 2 },
//!     Total { category: "toys".into(), total: 1.0, count: 1 },
//! ])).unwrap()
//! .apply("Write", ParquetIO::write(&prefix).with_num_shards(1).with_suffix(".parquet")).unwrap();
//! p.run().unwrap();
//!
//! // Read back only the `category` column.
//! let p = Pipeline::new(PipelineOptions::default());
//! let cats = p.apply("Read", ParquetIO::read::<Category>(&format!("{prefix}-*.parquet"))
//!     .with_columns(&["category"])).unwrap();
//! PAssert::that(&cats).contains_in_any_order(vec![
//!     Category { category: "books".into() }, Category { category: "toys".into() },
//! ]).unwrap();
//! p.run().unwrap();
//! ```

use crate::files::expand_pattern;
use crate::sink::{ShardFormat, WriteFiles};
use arrow_array::RecordBatch;
use arrow_schema::FieldRef;
use beam_core::{
    BeamError, BoundedSource, Element, PBegin, PCollection, PTransform, Read, Result, SourceReader,
    UserError, UserResult, WindowedValue,
};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::file::properties::WriterProperties;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};
use std::fs::File;
use std::io::Write;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

/// Entry points: [`ParquetIO::read`], [`ParquetIO::read_batches`], [`ParquetIO::write`]
/// and [`ParquetIO::write_batches`].
pub struct ParquetIO;

impl ParquetIO {
    /// Reads the rows of the Parquet files matching `pattern` as `T`s (fields by column name).
    pub fn read<T: Element + DeserializeOwned>(pattern: &str) -> ReadParquet<T> {
        ReadParquet {
            pattern: pattern.to_string(),
            columns: None,
            decode: decode_rows::<T>,
        }
    }
    /// Reads the Parquet files matching `pattern` as Arrow record batches.
    pub fn read_batches(pattern: &str) -> ReadParquet<ArrowBatch> {
        ReadParquet {
            pattern: pattern.to_string(),
            columns: None,
            decode: decode_batch,
        }
    }
    /// Writes `T`s as Parquet rows to shard files named after `prefix`.
    pub fn write<T: Element>(prefix: &str) -> WriteFiles<T, ParquetRows<T>> {
        WriteFiles::new(
            prefix,
            ParquetRows {
                row_group_rows: DEFAULT_ROW_GROUP_ROWS,
                _t: PhantomData,
            },
        )
    }
    /// Writes Arrow record batches (all of one schema) to shard files named after `prefix`.
    pub fn write_batches(prefix: &str) -> WriteFiles<ArrowBatch, ParquetBatches> {
        WriteFiles::new(
            prefix,
            ParquetBatches {
                row_group_rows: DEFAULT_ROW_GROUP_ROWS,
            },
        )
    }
}

const DEFAULT_ROW_GROUP_ROWS: usize = 128 * 1024;

/// An Arrow record batch as a pipeline element. Its coder is a small Parquet file
/// (used only when a runner moves or checks it).
#[derive(Clone, Debug, PartialEq)]
pub struct ArrowBatch(pub RecordBatch);

impl Serialize for ArrowBatch {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        let mut write = || -> parquet::errors::Result<()> {
            let mut w = ArrowWriter::try_new(&mut bytes, self.0.schema(), None)?;
            w.write(&self.0)?;
            w.close()?;
            Ok(())
        };
        write().map_err(serde::ser::Error::custom)?;
        bytes.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ArrowBatch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let bytes = Vec::<u8>::deserialize(d)?;
        let read = || -> std::result::Result<RecordBatch, String> {
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
                .map_err(|e| e.to_string())?;
            let rows = builder.metadata().file_metadata().num_rows().max(1) as usize;
            let schema = builder.schema().clone();
            let mut reader = builder
                .with_batch_size(rows)
                .build()
                .map_err(|e| e.to_string())?;
            match reader.next() {
                Some(b) => b.map_err(|e| e.to_string()),
                // A batch of no rows: its schema is all there is.
                None => Ok(RecordBatch::new_empty(schema)),
            }
        };
        read().map(ArrowBatch).map_err(serde::de::Error::custom)
    }
}

/// Reads Parquet files; see [`ParquetIO::read`].
pub struct ReadParquet<T> {
    pattern: String,
    columns: Option<Vec<String>>,
    decode: Decode<T>,
}

impl<T> ReadParquet<T> {
    /// Decodes only these columns (top-level names).
    pub fn with_columns(mut self, columns: &[&str]) -> Self {
        self.columns = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }
}

type Decode<T> = fn(RecordBatch, &mut Vec<WindowedValue<T>>) -> std::result::Result<(), String>;

fn decode_batch(
    batch: RecordBatch,
    out: &mut Vec<WindowedValue<ArrowBatch>>,
) -> std::result::Result<(), String> {
    out.push(WindowedValue::in_global_window(ArrowBatch(batch)));
    Ok(())
}

fn decode_rows<T: DeserializeOwned>(
    batch: RecordBatch,
    out: &mut Vec<WindowedValue<T>>,
) -> std::result::Result<(), String> {
    let rows = serde_arrow::from_record_batch::<Vec<T>>(&batch).map_err(|e| e.to_string())?;
    out.extend(rows.into_iter().map(WindowedValue::in_global_window));
    Ok(())
}

/// One file's row groups read by one split.
#[derive(Clone, Debug)]
struct RowGroups {
    path: Arc<PathBuf>,
    groups: Vec<usize>,
    bytes: u64,
}

/// A splittable source of a set of row groups of Parquet files.
pub struct ParquetSource<T> {
    parts: Vec<RowGroups>,
    columns: Option<Arc<Vec<String>>>,
    decode: Decode<T>,
}

impl<T> Clone for ParquetSource<T> {
    fn clone(&self) -> Self {
        ParquetSource {
            parts: self.parts.clone(),
            columns: self.columns.clone(),
            decode: self.decode,
        }
    }
}

fn pq_err(path: &std::path::Path, e: impl std::fmt::Display) -> BeamError {
    BeamError::io(
        path.display().to_string(),
        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    )
}

impl<T: Element + DeserializeOwned> ParquetSource<T> {
    /// The rows of the files matching `pattern`, decoding only `columns` if given.
    pub fn rows(pattern: &str, columns: Option<Vec<String>>) -> Result<Self> {
        Self::new(pattern, columns, decode_rows::<T>)
    }
}

impl<T: Element> ParquetSource<T> {
    fn new(pattern: &str, columns: Option<Vec<String>>, decode: Decode<T>) -> Result<Self> {
        let mut parts = Vec::new();
        for (path, _) in expand_pattern(pattern)? {
            let file =
                File::open(&path).map_err(|e| BeamError::io(path.display().to_string(), e))?;
            let builder =
                ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| pq_err(&path, e))?;
            if let Some(cols) = &columns {
                let schema = builder.schema();
                for c in cols {
                    if schema.field_with_name(c).is_err() {
                        return Err(pq_err(
                            &path,
                            format!(
                                "no column '{c}' (columns: {:?})",
                                schema.fields().iter().map(|f| f.name()).collect::<Vec<_>>()
                            ),
                        ));
                    }
                }
            }
            let path = Arc::new(path);
            for (i, rg) in builder.metadata().row_groups().iter().enumerate() {
                parts.push(RowGroups {
                    path: path.clone(),
                    groups: vec![i],
                    bytes: rg.compressed_size().max(0) as u64,
                });
            }
        }
        Ok(ParquetSource {
            parts,
            columns: columns.map(Arc::new),
            decode,
        })
    }
}

impl<T: Element> BoundedSource for ParquetSource<T> {
    type Output = T;
    fn estimated_size_bytes(&self) -> Result<u64> {
        Ok(self.parts.iter().map(|p| p.bytes).sum())
    }
    fn split(&self, desired: u64) -> Result<Vec<Self>> {
        // Consecutive row groups of one file, up to about `desired` bytes per split.
        let mut out: Vec<Self> = Vec::new();
        let mut current: Vec<RowGroups> = Vec::new();
        let mut size = 0;
        for part in &self.parts {
            if size > 0 && size + part.bytes > desired {
                out.push(ParquetSource {
                    parts: std::mem::take(&mut current),
                    ..self.clone()
                });
                size = 0;
            }
            match current.last_mut() {
                Some(last) if Arc::ptr_eq(&last.path, &part.path) => {
                    last.groups.extend(&part.groups);
                    last.bytes += part.bytes;
                }
                _ => current.push(part.clone()),
            }
            size += part.bytes;
        }
        if !current.is_empty() {
            out.push(ParquetSource {
                parts: current,
                ..self.clone()
            });
        }
        Ok(out)
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<T>>> {
        Ok(Box::new(ParquetReader {
            pending: self.parts.iter().rev().cloned().collect(),
            current: None,
            columns: self.columns.clone(),
            decode: self.decode,
        }))
    }
    fn describe(&self) -> String {
        match self.parts.as_slice() {
            [one] => format!("Parquet {} row groups {:?}", one.path.display(), one.groups),
            many => format!("Parquet ({} files' row groups)", many.len()),
        }
    }
}

struct ParquetReader<T> {
    pending: Vec<RowGroups>,
    current: Option<(ParquetRecordBatchReader, Arc<PathBuf>)>,
    columns: Option<Arc<Vec<String>>>,
    decode: Decode<T>,
}

impl<T> ParquetReader<T> {
    fn open(&self, part: &RowGroups) -> Result<ParquetRecordBatchReader> {
        let file = File::open(part.path.as_ref())
            .map_err(|e| BeamError::io(part.path.display().to_string(), e))?;
        let mut builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| pq_err(&part.path, e))?
            .with_row_groups(part.groups.clone())
            .with_batch_size(8192);
        if let Some(cols) = &self.columns {
            let mask =
                ProjectionMask::columns(builder.parquet_schema(), cols.iter().map(String::as_str));
            builder = builder.with_projection(mask);
        }
        builder.build().map_err(|e| pq_err(&part.path, e))
    }
}

impl<T: Element> SourceReader<T> for ParquetReader<T> {
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<T>>, max: usize) -> Result<bool> {
        while out.len() < max {
            if self.current.is_none() {
                let Some(part) = self.pending.pop() else {
                    return Ok(false);
                };
                self.current = Some((self.open(&part)?, part.path.clone()));
            }
            let (reader, path) = self.current.as_mut().expect("opened above");
            match reader.next() {
                Some(batch) => {
                    let batch = batch.map_err(|e| pq_err(path, e))?;
                    (self.decode)(batch, out)
                        .map_err(|e| pq_err(path, format!("cannot decode rows: {e}")))?;
                }
                None => self.current = None,
            }
        }
        Ok(!self.pending.is_empty() || self.current.is_some())
    }
}

impl<T: Element> PTransform<PBegin> for ReadParquet<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PBegin) -> Result<PCollection<T>> {
        let source = ParquetSource::new(&self.pattern, self.columns, self.decode)?;
        input.pipeline().apply("Read", Read::from(source))
    }
}

/// Writes rows as Parquet; see [`ParquetIO::write`].
pub struct ParquetRows<T> {
    row_group_rows: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for ParquetRows<T> {
    fn clone(&self) -> Self {
        ParquetRows {
            row_group_rows: self.row_group_rows,
            _t: PhantomData,
        }
    }
}

/// Writes Arrow record batches as Parquet; see [`ParquetIO::write_batches`].
#[derive(Clone)]
pub struct ParquetBatches {
    row_group_rows: usize,
}

fn properties(row_group_rows: usize) -> WriterProperties {
    WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group_rows.max(1)))
        .set_compression(parquet::basic::Compression::SNAPPY)
        .build()
}

fn to_user(e: impl std::fmt::Display) -> UserError {
    UserError::msg(e.to_string())
}

impl<T: Element> ShardFormat<T> for ParquetRows<T> {
    fn write_shard(&self, out: &mut (dyn Write + Send), records: &[&T]) -> UserResult {
        let fields = match Vec::<FieldRef>::from_type::<T>(TracingOptions::default()) {
            Ok(f) => f,
            Err(by_type) => Vec::<FieldRef>::from_samples(records, TracingOptions::default())
                .map_err(|e| UserError::msg(format!("cannot derive a Parquet schema for the rows: {by_type}; from the data: {e}")))?,
        };
        let schema = Arc::new(arrow_schema::Schema::new(fields.clone()));
        let mut w = ArrowWriter::try_new(out, schema, Some(properties(self.row_group_rows)))
            .map_err(to_user)?;
        for chunk in records.chunks(self.row_group_rows.max(1)) {
            let batch = serde_arrow::to_record_batch(&fields, &chunk).map_err(to_user)?;
            w.write(&batch).map_err(to_user)?;
        }
        w.close().map_err(to_user)?;
        Ok(())
    }
    fn compress_by_suffix(&self) -> bool {
        false
    }
}

impl ShardFormat<ArrowBatch> for ParquetBatches {
    fn write_shard(&self, out: &mut (dyn Write + Send), records: &[&ArrowBatch]) -> UserResult {
        let Some(first) = records.first() else {
            return Ok(()); // an empty shard is an empty file
        };
        let mut w =
            ArrowWriter::try_new(out, first.0.schema(), Some(properties(self.row_group_rows)))
                .map_err(to_user)?;
        for b in records {
            w.write(&b.0).map_err(to_user)?;
        }
        w.close().map_err(to_user)?;
        Ok(())
    }
    fn compress_by_suffix(&self) -> bool {
        false
    }
}

impl<T: Element> WriteFiles<T, ParquetRows<T>> {
    /// Rows per row group (default 131 072).
    pub fn with_row_group_rows(self, rows: usize) -> Self {
        self.map_format(|mut f| {
            f.row_group_rows = rows;
            f
        })
    }
}

impl WriteFiles<ArrowBatch, ParquetBatches> {
    /// Rows per row group (default 131 072).
    pub fn with_row_group_rows(self, rows: usize) -> Self {
        self.map_format(|mut f| {
            f.row_group_rows = rows;
            f
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrow_batches_round_trip_through_their_coder_even_when_empty() {
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "n",
            arrow_schema::DataType::Int64,
            true,
        )]));
        let full = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(arrow_array::Int64Array::from(vec![
                Some(1),
                None,
                Some(3),
            ]))],
        )
        .unwrap();
        for batch in [full, RecordBatch::new_empty(schema)] {
            let mut bytes = Vec::new();
            beam_core::coder::encode(&ArrowBatch(batch.clone()), &mut bytes).unwrap();
            let back: ArrowBatch = beam_core::coder::decode(&bytes).unwrap();
            assert_eq!(back.0, batch);
        }
    }
}
