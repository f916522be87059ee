//! Sources, sinks and `Create`, `LogForTesting` for YAML pipelines.

use super::values::{batch_of, python_rows};
use super::{YamlContext, YamlInputs, YamlOutputs, YamlTransform};
use crate::read::{read, Format};
use crate::rows::Rows;
use crate::table::Table;
use crate::write::WriteFormat;
use beam_core::{Create as CreateElements, DoFn, ParDo, ProcessContext, Result, UserResult};
use serde::Deserialize;
use serde_yaml_ng::Value;

/// `Create`: rows from `elements` (mappings are rows; other values are rows
/// of one field, `element`), the schema inferred as from JSON.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    elements: Vec<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    reshuffle: Option<bool>,
}

#[typetag::deserialize(name = "Create")]
impl YamlTransform for Create {
    fn expand(&self, cx: &YamlContext, _: &YamlInputs) -> Result<YamlOutputs> {
        let batch = batch_of(&self.elements).map_err(|m| cx.error(m))?;
        let schema = batch.schema();
        let rows = cx
            .pipeline()
            .apply("Elements", CreateElements::of(vec![Rows::new(batch)]))?;
        Ok(YamlOutputs::main(Table::new(rows, schema)))
    }
}

/// The `path` of a read or write.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathConfig {
    path: String,
}

macro_rules! reader {
    ($name:ident, $yaml:literal, $format:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Deserialize)]
        #[serde(transparent)]
        pub struct $name(PathConfig);

        #[typetag::deserialize(name = $yaml)]
        impl YamlTransform for $name {
            fn expand(&self, cx: &YamlContext, _: &YamlInputs) -> Result<YamlOutputs> {
                let t = read(cx.pipeline(), "Read", &self.0.path, $format, None)?;
                Ok(YamlOutputs::main(t))
            }
        }
    };
}

/// `ReadFromCsv`: CSV files (a path or glob) with a header, types inferred;
/// with `error_handling: {output: name}`, records that do not fit go to the
/// output `name` as rows of `location`, `error` and `record`, instead of
/// failing the pipeline.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadFromCsv {
    path: String,
    #[serde(default)]
    error_handling: Option<ErrorHandling>,
    /// Declared column types (`name: SQL type`), in the file's order;
    /// without it, types are inferred.
    #[serde(default)]
    schema: Option<serde_yaml_ng::Mapping>,
}

/// A schema from `name: SQL type` pairs (`VARCHAR`, `BIGINT`,
/// `DECIMAL(18, 2)`, `DATE`, ...); a type ending in `NOT NULL` is required.
fn declared_schema(
    cx: &YamlContext,
    m: &serde_yaml_ng::Mapping,
) -> Result<arrow::datatypes::SchemaRef> {
    let mut fields = Vec::new();
    for (k, v) in m {
        let name = super::text(k).unwrap_or_default();
        let mut ty = super::text(v).unwrap_or_default();
        let required = ty.to_ascii_uppercase().trim_end().ends_with("NOT NULL");
        if required {
            ty.truncate(
                ty.to_ascii_uppercase()
                    .rfind("NOT NULL")
                    .unwrap_or(ty.len()),
            );
        }
        let parsed = crate::sql::parse_expression(&cx.step, &format!("CAST(NULL AS {ty})"))?;
        let crate::expr::Expr::Cast(_, t) = parsed else {
            return Err(cx.error(format!("`{ty}` is not a type")));
        };
        fields.push(arrow::datatypes::Field::new(name, t, !required));
    }
    Ok(std::sync::Arc::new(arrow::datatypes::Schema::new(fields)))
}

/// Where records that cannot be read go.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorHandling {
    output: String,
}

/// A record set aside, as a row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct BadRecord {
    location: String,
    error: String,
    record: String,
}

#[typetag::deserialize(name = "ReadFromCsv")]
impl YamlTransform for ReadFromCsv {
    fn expand(&self, cx: &YamlContext, _: &YamlInputs) -> Result<YamlOutputs> {
        let csv = Format::Csv { delimiter: b',' };
        let schema = self
            .schema
            .as_ref()
            .map(|m| declared_schema(cx, m))
            .transpose()?;
        let Some(errors) = &self.error_handling else {
            return Ok(YamlOutputs::main(read(
                cx.pipeline(),
                "Read",
                &self.path,
                csv,
                schema,
            )?));
        };
        let (t, dead) =
            crate::read::read_with_dead_letter(cx.pipeline(), "Read", &self.path, csv, schema)?;
        let bad = dead.apply(
            "BadRecords",
            beam_core::Map::new(|d: &io_connectors::DeadLetter| BadRecord {
                location: d.location.to_string(),
                error: d.error.clone(),
                record: d.raw_text().to_string(),
            }),
        )?;
        let bad = Table::from_elements("BadRows", &bad)?;
        Ok(YamlOutputs::main(t).with(&errors.output, bad))
    }
}

reader!(
    ReadFromJson,
    "ReadFromJson",
    Format::JsonLines,
    "`ReadFromJson`: JSON lines, types inferred."
);
reader!(
    ReadFromParquet,
    "ReadFromParquet",
    Format::Parquet,
    "`ReadFromParquet`: Parquet files."
);

/// A line of text as a row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Line {
    line: String,
}

/// `ReadFromText`: lines, as rows of one field, `line`.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct ReadFromText(PathConfig);

#[typetag::deserialize(name = "ReadFromText")]
impl YamlTransform for ReadFromText {
    fn expand(&self, cx: &YamlContext, _: &YamlInputs) -> Result<YamlOutputs> {
        let lines = cx
            .pipeline()
            .apply("Read", io_connectors::TextIO::read(&self.0.path))?;
        let lines = lines.apply(
            "Rows",
            beam_core::Map::new(|l: &String| Line { line: l.clone() }),
        )?;
        Ok(YamlOutputs::main(Table::from_elements("ToRows", &lines)?))
    }
}

macro_rules! writer {
    ($name:ident, $yaml:literal, $format:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Deserialize)]
        #[serde(transparent)]
        pub struct $name(PathConfig);

        #[typetag::deserialize(name = $yaml)]
        impl YamlTransform for $name {
            fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
                inputs.one(cx)?.write("Write", &self.0.path, $format)?;
                Ok(YamlOutputs::none())
            }
        }
    };
}

writer!(
    WriteToCsv,
    "WriteToCsv",
    WriteFormat::Csv,
    "`WriteToCsv`: CSV files named after `path`."
);
writer!(
    WriteToJson,
    "WriteToJson",
    WriteFormat::JsonLines,
    "`WriteToJson`: JSON lines named after `path`."
);
writer!(
    WriteToParquet,
    "WriteToParquet",
    WriteFormat::Parquet,
    "`WriteToParquet`: Parquet files named after `path`."
);
writer!(
    WriteToText,
    "WriteToText",
    WriteFormat::Text,
    "`WriteToText`: the single text field of each row, one per line."
);

/// `LogForTesting`: prints each row to standard output as Beam's Python SDK
/// does (`Row(fruit='apple', n=3)`), optionally after a `prefix`, and passes
/// the rows on.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogForTesting {
    #[serde(default)]
    #[allow(dead_code)]
    level: Option<String>,
    #[serde(default)]
    prefix: Option<String>,
}

#[derive(Clone)]
struct PrintRows {
    prefix: String,
}

impl DoFn for PrintRows {
    type In = Rows;
    type Out = Rows;
    fn process(&mut self, rows: &Rows, ctx: &mut ProcessContext<'_, Rows>) -> UserResult {
        use std::io::Write;
        let mut text = String::new();
        for line in python_rows(rows.batch()) {
            text.push_str(&self.prefix);
            text.push_str(&line);
            text.push('\n');
        }
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| beam_core::UserError::msg(e.to_string()))?;
        ctx.output(rows.clone());
        Ok(())
    }
}

#[typetag::deserialize(name = "LogForTesting")]
impl YamlTransform for LogForTesting {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let t = inputs.one(cx)?;
        let prefix = self.prefix.clone().unwrap_or_default();
        let rows = t.rows().apply("Print", ParDo::of(PrintRows { prefix }))?;
        Ok(YamlOutputs::main(Table::new(rows, t.schema().clone())))
    }
}
