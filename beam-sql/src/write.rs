//! [`Table::write`]: a table to sharded CSV, JSON-lines, Parquet or text
//! files, written with io-connectors' file sink (temporary files, then an
//! atomic publish). Text shards (CSV, JSON lines, text) hold their rows
//! sorted by their encoded bytes, so the files do not depend on bundling.

use crate::rows::Rows;
use crate::table::Table;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;
use beam_core::{BeamError, Map, PCollection, ParDo, Result, UserError, UserResult};
use io_connectors::{ArrowBatch, ParquetIO, ShardFormat, TextIO, WriteFiles};
use std::io::Write;

/// A file format a table can be written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFormat {
    /// CSV with a header row in each file.
    Csv,
    /// One JSON object per row and line.
    JsonLines,
    /// Apache Parquet.
    Parquet,
    /// The values of a table's single text column, one per line.
    Text,
}

impl Table {
    /// Writes the rows to files named after `prefix` (`prefix-00000-of-00002`
    /// and so on, with the format's suffix); the output is the names of the
    /// files written.
    pub fn write(
        &self,
        name: &str,
        prefix: &str,
        format: WriteFormat,
    ) -> Result<PCollection<String>> {
        match format {
            WriteFormat::Csv => self.rows().apply(
                name,
                WriteFiles::new(prefix, RowsAsText { csv: true }).with_suffix(".csv"),
            ),
            WriteFormat::JsonLines => self.rows().apply(
                name,
                WriteFiles::new(prefix, RowsAsText { csv: false }).with_suffix(".json"),
            ),
            WriteFormat::Parquet => {
                let batches = self.rows().apply(
                    &format!("{name}Batches"),
                    Map::new(|r: &Rows| ArrowBatch(r.batch().clone())),
                )?;
                batches.apply(
                    name,
                    ParquetIO::write_batches(prefix).with_suffix(".parquet"),
                )
            }
            WriteFormat::Text => {
                let fields = self.schema().fields();
                if fields.len() != 1 || fields[0].data_type() != &DataType::Utf8 {
                    return Err(BeamError::construction(
                        name,
                        format!(
                            "text is written from one text column, but the rows have {}",
                            crate::eval::column_list(self.schema())
                        ),
                    ));
                }
                let lines = self
                    .rows()
                    .apply(&format!("{name}Lines"), ParDo::of(TextValues))?;
                lines.apply(name, TextIO::write(prefix))
            }
        }
    }
}

#[derive(Clone)]
struct TextValues;

impl beam_core::DoFn for TextValues {
    type In = Rows;
    type Out = String;
    fn process(
        &mut self,
        rows: &Rows,
        ctx: &mut beam_core::ProcessContext<'_, String>,
    ) -> UserResult {
        let column = rows.batch().column(0).as_string::<i32>();
        for i in 0..column.len() {
            if column.is_null(i) {
                return Err(UserError::msg(format!("row {i} has a null text value")));
            }
            ctx.output(column.value(i).to_string());
        }
        Ok(())
    }
}

/// Rows encoded into one buffer, and each row's byte range in it.
type Encoded = (Vec<u8>, Vec<(usize, usize)>);

/// CSV or JSON lines, rows sorted by their encoding.
#[derive(Clone)]
struct RowsAsText {
    csv: bool,
}

fn user(e: impl std::fmt::Display) -> UserError {
    UserError::msg(e.to_string())
}

impl RowsAsText {
    /// Each row's encoding, in one buffer.
    fn encode(&self, batches: &[&Rows]) -> UserResult<Encoded> {
        let mut buffer = Vec::new();
        let mut spans = Vec::new();
        for rows in batches {
            let batch: &RecordBatch = rows.batch();
            if self.csv {
                let start = buffer.len();
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .build(&mut buffer);
                w.write(batch).map_err(user)?;
                drop(w);
                // A quoted value may hold a line break: records are found by
                // reading the batch's text back as CSV.
                let text = &buffer[start..];
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(text);
                let mut record = csv::ByteRecord::new();
                let mut at = start;
                while reader.read_byte_record(&mut record).map_err(user)? {
                    let end = start + reader.position().byte() as usize;
                    spans.push((at, end));
                    at = end;
                }
            } else {
                let start = buffer.len();
                let mut w = arrow::json::LineDelimitedWriter::new(&mut buffer);
                w.write(batch).map_err(user)?;
                w.finish().map_err(user)?;
                drop(w);
                let mut at = start;
                for (i, b) in buffer[start..].iter().enumerate() {
                    if *b == b'\n' {
                        spans.push((at, start + i + 1));
                        at = start + i + 1;
                    }
                }
            }
        }
        Ok((buffer, spans))
    }
}

impl ShardFormat<Rows> for RowsAsText {
    fn write_shard(&self, out: &mut (dyn Write + Send), records: &[&Rows]) -> UserResult {
        if self.csv {
            if let Some(first) = records.first() {
                let schema = first.batch().schema();
                let mut header = csv::Writer::from_writer(Vec::new());
                header
                    .write_record(schema.fields().iter().map(|f| f.name().as_str()))
                    .map_err(user)?;
                out.write_all(&header.into_inner().map_err(user)?)
                    .map_err(user)?;
            }
        }
        let (buffer, mut spans) = self.encode(records)?;
        spans.sort_by(|a, b| buffer[a.0..a.1].cmp(&buffer[b.0..b.1]));
        for (start, end) in spans {
            out.write_all(&buffer[start..end]).map_err(user)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn csv_shards_hold_whole_records_in_order() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec!["b\nline two", "c, d", "a"])),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .unwrap();
        let rows = Rows::new(batch);
        let mut out = Vec::new();
        RowsAsText { csv: true }
            .write_shard(&mut out, &[&rows])
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            // Sorted by their bytes, so quoted records come first.
            "k,v\n\"b\nline two\",1\n\"c, d\",2\na,3\n"
        );
    }
}
