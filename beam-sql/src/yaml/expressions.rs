//! Expressions in YAML configs: SQL, bare column names, and the part of
//! Python that reads the same as SQL.

use super::YamlContext;
use crate::expr::{col, Expr};
use beam_core::Result;
use serde_yaml_ng::Value;

/// The `language:` of a transform's expressions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Language {
    /// No language: expressions are column names.
    Generic,
    /// SQL expressions.
    Sql,
    /// Python expressions that SQL shares; no callables.
    Python,
}

impl Language {
    /// The language a config names, refusing those that run user code.
    pub fn named(cx: &YamlContext, name: Option<&str>) -> Result<Language> {
        match name.map(str::to_ascii_lowercase).as_deref() {
            None | Some("generic") => Ok(Language::Generic),
            Some("sql" | "calcite" | "zetasql") => Ok(Language::Sql),
            Some("python") => Ok(Language::Python),
            Some(other) => Err(cx.error(format!(
                "`language: {other}` is not supported: expressions are SQL (language: sql), \
                 column names, or simple Python expressions; {other} code does not run here"
            ))),
        }
    }

    /// Parses an expression field: text, a number, or `{expression: ..}`.
    pub fn expression(self, cx: &YamlContext, v: &Value) -> Result<Expr> {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Mapping(m) => {
                if m.get("callable").is_some() || m.get("path").is_some() {
                    return Err(cx.error(
                        "Python and JavaScript callables are not supported: write the field as \
                         an expression in SQL (language: sql)",
                    ));
                }
                match m.get("expression") {
                    Some(Value::String(s)) if m.len() == 1 => s.clone(),
                    _ => {
                        return Err(cx.error("an expression field must be text or {expression: ..}"))
                    }
                }
            }
            _ => return Err(cx.error("an expression field must be text or {expression: ..}")),
        };
        let text = text.trim();
        match self {
            Language::Generic => {
                if is_name(text) {
                    Ok(col(text))
                } else {
                    Err(cx.error(format!(
                        "`{text}` is not a column name: without `language`, fields are column \
                         names; set `language: sql` for expressions"
                    )))
                }
            }
            Language::Sql => crate::sql::parse_expression(&cx.step, text),
            Language::Python => {
                let sql = python_to_sql(text).map_err(|m| cx.error(m))?;
                crate::sql::parse_expression(&cx.step, &sql)
            }
        }
    }
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Rewrites a Python expression into SQL, token by token: `==` is `=`,
/// `!=` is `<>`, strings are single-quoted, `True`/`False`/`None` are
/// literals, `is None`/`is not None` are null tests, `/` divides as floats;
/// anything else Python-only is refused.
fn python_to_sql(text: &str) -> std::result::Result<String, String> {
    let refuse = |what: &str| {
        format!(
            "the Python expression `{text}` uses {what}, which does not run here: only names, \
             literals, arithmetic, comparisons, and/or/not and `is None` do; write it in SQL \
             (language: sql)"
        )
    };
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut last_word = String::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            out.push(' ');
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "the Python expression `{text}` has an unclosed string"
                        ))
                    }
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some(&e @ ('\\' | '\'' | '"')) => value.push(e),
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            _ => return Err(refuse("an escape sequence")),
                        }
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        value.push(other);
                        i += 1;
                    }
                }
            }
            out.push('\'');
            out.push_str(&value.replace('\'', "''"));
            out.push('\'');
            last_word.clear();
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let sql = match word.as_str() {
                "True" => "TRUE".to_string(),
                "False" => "FALSE".to_string(),
                "None" if last_word == "is" || last_word == "not" => "NULL".to_string(),
                "None" => return Err(refuse("`None` outside `is None`")),
                "and" | "or" | "not" | "in" => word.to_ascii_uppercase(),
                "is" => "IS".to_string(),
                "lambda" | "if" | "else" | "for" | "import" | "def" => {
                    return Err(refuse(&format!("`{word}`")))
                }
                _ => format!("\"{word}\""),
            };
            if chars[i..].iter().find(|c| !c.is_whitespace()) == Some(&'(') {
                return Err(refuse(&format!("the call `{word}(..)`")));
            }
            out.push_str(&sql);
            last_word = word;
            continue;
        }
        last_word.clear();
        if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                out.push(chars[i]);
                i += 1;
            }
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let width = match two.as_str() {
            "==" => {
                out.push('=');
                2
            }
            "!=" => {
                out.push_str("<>");
                2
            }
            "<=" | ">=" => {
                out.push_str(&two);
                2
            }
            "//" | "**" => return Err(refuse(&format!("`{two}`"))),
            _ => {
                match c {
                    // Python's `/` divides as floats.
                    '/' => out.push_str("* CAST(1 AS DOUBLE) /"),
                    '+' | '-' | '*' | '%' | '<' | '>' | '(' | ')' | ',' => out.push(c),
                    other => return Err(refuse(&format!("`{other}`"))),
                }
                1
            }
        };
        i += width;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::python_to_sql;

    #[test]
    fn python_reads_as_sql() {
        assert_eq!(
            python_to_sql("category == \"Electronics\"").unwrap(),
            "\"category\" = 'Electronics'"
        );
        assert_eq!(
            python_to_sql("a / 2 > 1 and b is not None").unwrap(),
            "\"a\" * CAST(1 AS DOUBLE) / 2 > 1 AND \"b\" IS NOT NULL"
        );
        assert!(python_to_sql("len(x) > 2").unwrap_err().contains("len(..)"));
        assert!(python_to_sql("x.upper()").unwrap_err().contains("`.`"));
    }
}
