//! [`Rows`]: a chunk of a relational PCollection, an Arrow record batch that
//! travels through bundles as one element.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Rows of a [`Table`](crate::Table): an Arrow record batch, which is one
/// element of the underlying PCollection, so that relational work runs on
/// Arrow's vectorized kernels while runners move, group and check it like any
/// other element. Its coder is Arrow's IPC stream format.
///
/// ```
/// use arrow::array::{Int64Array, RecordBatch};
/// use beam_sql::Rows;
/// use std::sync::Arc;
///
/// let batch = RecordBatch::try_from_iter([(
///     "n",
///     Arc::new(Int64Array::from(vec![1, 2])) as _,
/// )])
/// .unwrap();
/// let rows = Rows::new(batch);
/// assert_eq!(rows.num_rows(), 2);
/// assert_eq!(format!("{rows:?}"), "[{n: 1}, {n: 2}]");
/// ```
#[derive(Clone, PartialEq)]
pub struct Rows(RecordBatch);

impl Rows {
    /// Wraps a record batch.
    pub fn new(batch: RecordBatch) -> Rows {
        Rows(batch)
    }

    /// The record batch.
    pub fn batch(&self) -> &RecordBatch {
        &self.0
    }

    /// Unwraps the record batch.
    pub fn into_batch(self) -> RecordBatch {
        self.0
    }

    /// How many rows there are.
    pub fn num_rows(&self) -> usize {
        self.0.num_rows()
    }

    /// The rows' schema.
    pub fn schema(&self) -> SchemaRef {
        self.0.schema()
    }
}

impl From<RecordBatch> for Rows {
    fn from(batch: RecordBatch) -> Rows {
        Rows(batch)
    }
}

/// Rows as `[{a: 1, b: x}, ...]`, at most the first 20 (error messages shorten
/// it further).
impl fmt::Debug for Rows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 20;
        let options = FormatOptions::default().with_null("null");
        let schema = self.0.schema();
        let formatters: Vec<_> = self
            .0
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<_, _>>()
            .map_err(|_| fmt::Error)?;
        f.write_str("[")?;
        for row in 0..self.0.num_rows().min(SHOWN) {
            if row > 0 {
                f.write_str(", ")?;
            }
            f.write_str("{")?;
            for (i, (field, formatter)) in schema.fields().iter().zip(&formatters).enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{}: {}", field.name(), formatter.value(row))?;
            }
            f.write_str("}")?;
        }
        if self.0.num_rows() > SHOWN {
            write!(f, ", ... {} rows in all", self.0.num_rows())?;
        }
        f.write_str("]")
    }
}

impl Serialize for Rows {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut bytes = Vec::new();
        let mut writer = StreamWriter::try_new(&mut bytes, &self.0.schema())
            .map_err(serde::ser::Error::custom)?;
        writer.write(&self.0).map_err(serde::ser::Error::custom)?;
        writer.finish().map_err(serde::ser::Error::custom)?;
        drop(writer);
        s.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for Rows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rows, D::Error> {
        let bytes = serde_bytes::ByteBuf::deserialize(d)?;
        let reader =
            StreamReader::try_new(bytes.as_slice(), None).map_err(serde::de::Error::custom)?;
        let schema = reader.schema();
        let mut batches = Vec::new();
        for batch in reader {
            batches.push(batch.map_err(serde::de::Error::custom)?);
        }
        match batches.len() {
            0 => Ok(Rows(RecordBatch::new_empty(schema))),
            1 => Ok(Rows(batches.pop().expect("one batch"))),
            _ => arrow::compute::concat_batches(&schema, &batches)
                .map(Rows)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Float64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn rows_survive_the_coder_with_nulls() {
        let batch = RecordBatch::try_from_iter([
            ("s", Arc::new(StringArray::from(vec![Some("a"), None])) as _),
            (
                "x",
                Arc::new(Float64Array::from(vec![None, Some(1.5)])) as _,
            ),
        ])
        .unwrap();
        let rows = Rows::new(batch);
        let bytes = beam_core::coder::encode_to_vec(&rows).unwrap();
        let back: Rows = beam_core::coder::decode(&bytes).unwrap();
        assert_eq!(back, rows);
        assert_eq!(format!("{back:?}"), "[{s: a, x: null}, {s: null, x: 1.5}]");
    }
}
