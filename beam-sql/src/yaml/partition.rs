//! The `Partition` YAML transform.

use super::{Language, YamlContext, YamlInputs, YamlOutputs, YamlTransform};
use crate::expr::{col, lit, Expr};
use crate::rows::Rows;
use crate::table::{compile, Table};
use arrow::datatypes::Schema;
use beam_core::{DoFn, ParDo, ProcessContext, Result, UserError, UserResult};
use serde::Deserialize;
use serde_yaml_ng::Value;

/// `Partition`: each row to the output its `by` expression names; rows
/// naming no output go to `unknown_output`, or fail the pipeline.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    by: Value,
    outputs: Vec<String>,
    #[serde(default)]
    unknown_output: Option<String>,
    #[serde(default)]
    language: Option<String>,
}

#[typetag::deserialize(name = "Partition")]
impl YamlTransform for Partition {
    fn expand(&self, cx: &YamlContext, inputs: &YamlInputs) -> Result<YamlOutputs> {
        let t = inputs.one(cx)?;
        let language = Language::named(cx, self.language.as_deref())?;
        let by = language.expression(cx, &self.by)?;
        // `by` is computed once per row, into a column of its own, which
        // each output's filter compares and then leaves out.
        let column = unused_column_name(t.schema(), "partition_by");
        let tagged = t.with_column("By", &column, by.clone())?;
        let part_of = |step: &str, keep: Expr| -> Result<Table> {
            let schema = t.schema().clone();
            let predicate = compile(step, &keep, tagged.schema())?;
            let projection = schema
                .fields()
                .iter()
                .map(|f| compile(step, &col(f.name()), tagged.schema()))
                .collect::<Result<Vec<_>>>()?;
            tagged.map_rows(step, Some(predicate), Some(projection), schema)
        };
        let mut out = YamlOutputs::none();
        for (i, name) in self.outputs.iter().enumerate() {
            let part = part_of(&format!("Output{i}"), col(&column).eq(lit(name.as_str())))?;
            out = out.with(name, part);
        }
        let names: Vec<Expr> = self.outputs.iter().map(|n| lit(n.as_str())).collect();
        let unknown = col(&column).is_null().or(col(&column).in_list(names).not());
        let rest = part_of("Unknown", unknown)?;
        match &self.unknown_output {
            Some(name) => out = out.with(name, rest),
            None => {
                let by_text = by.to_string();
                rest.rows().apply(
                    "FailOnUnknown",
                    ParDo::of(FailOnRows {
                        message: format!(
                            "a row's `{by_text}` names none of the outputs {:?}, and there is no `unknown_output`",
                            self.outputs
                        ),
                    }),
                )?;
            }
        }
        Ok(out)
    }
}

#[derive(Clone)]
struct FailOnRows {
    message: String,
}

impl DoFn for FailOnRows {
    type In = Rows;
    type Out = Rows;
    fn process(&mut self, rows: &Rows, _: &mut ProcessContext<'_, Rows>) -> UserResult {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        Err(UserError::msg(self.message.clone()))
    }
}

/// `base`, or `base` with a number after it, whichever no column of `schema` has.
fn unused_column_name(schema: &Schema, base: &str) -> String {
    let taken = |n: &str| schema.fields().iter().any(|f| f.name() == n);
    let mut name = base.to_string();
    let mut i = 1;
    while taken(&name) {
        name = format!("{base}_{i}");
        i += 1;
    }
    name
}
