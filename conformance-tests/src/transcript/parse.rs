//! Parsing transcripts: Beam's Python window and trigger expressions
//! (`FixedWindows(10)`, `AfterWatermark(early=AfterCount(2))`) and the YAML documents.

use super::{Action, Expected, Transcript};
use beam_core::{Duration, Trigger, WindowFn};
use yaml_rust2::{Yaml, YamlLoader};

/// A parsed expression: `Name(arg, key=arg, ...)` or an integer.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Int(i64),
    Call(String, Vec<(Option<String>, Expr)>),
}

fn parse_expr(text: &str) -> Result<Expr, String> {
    let tokens: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut pos = 0;
    let e = expr(&tokens, &mut pos)?;
    if pos != tokens.len() {
        return Err(format!(
            "unexpected '{}' in '{text}'",
            tokens[pos..].iter().collect::<String>()
        ));
    }
    Ok(e)
}

fn expr(t: &[char], pos: &mut usize) -> Result<Expr, String> {
    let start = *pos;
    if t.get(*pos).is_some_and(|c| *c == '-' || c.is_ascii_digit()) {
        *pos += 1;
        while t.get(*pos).is_some_and(|c| c.is_ascii_digit()) {
            *pos += 1;
        }
        let s: String = t[start..*pos].iter().collect();
        return s.parse().map(Expr::Int).map_err(|e| format!("{s}: {e}"));
    }
    while t
        .get(*pos)
        .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '.')
    {
        *pos += 1;
    }
    if *pos == start {
        return Err(format!(
            "expected a name at '{}'",
            t[start..].iter().collect::<String>()
        ));
    }
    let name: String = t[start..*pos].iter().collect();
    let mut args = Vec::new();
    if t.get(*pos) == Some(&'(') {
        *pos += 1;
        while t.get(*pos) != Some(&')') {
            let save = *pos;
            let mut key = None;
            while t
                .get(*pos)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                *pos += 1;
            }
            if t.get(*pos) == Some(&'=') {
                key = Some(t[save..*pos].iter().collect());
                *pos += 1;
            } else {
                *pos = save;
            }
            args.push((key, expr(t, pos)?));
            match t.get(*pos) {
                Some(',') => *pos += 1,
                Some(')') => {}
                _ => return Err(format!("expected ',' or ')' after argument of {name}")),
            }
        }
        *pos += 1;
    }
    Ok(Expr::Call(name, args))
}

fn int_arg(args: &[(Option<String>, Expr)], i: usize, what: &str) -> Result<i64, String> {
    match args.get(i) {
        Some((_, Expr::Int(v))) => Ok(*v),
        _ => Err(format!("{what}: expected an integer argument {i}")),
    }
}

/// Parses a Python window function expression.
pub fn parse_window_fn(text: &str) -> Result<WindowFn, String> {
    let d = Duration::from_micros;
    match parse_expr(text)? {
        Expr::Call(n, a) if n == "FixedWindows" => Ok(WindowFn::Fixed {
            size: d(int_arg(&a, 0, &n)?),
            offset: d(if a.len() > 1 { int_arg(&a, 1, &n)? } else { 0 }),
        }),
        Expr::Call(n, a) if n == "SlidingWindows" => Ok(WindowFn::Sliding {
            size: d(int_arg(&a, 0, &n)?),
            period: d(int_arg(&a, 1, &n)?),
            offset: d(if a.len() > 2 { int_arg(&a, 2, &n)? } else { 0 }),
        }),
        Expr::Call(n, a) if n == "Sessions" => Ok(WindowFn::sessions(d(int_arg(&a, 0, &n)?))),
        Expr::Call(n, _) if n == "GlobalWindows" => Ok(WindowFn::Global),
        other => Err(format!("unsupported window function {other:?}")),
    }
}

fn trigger_of(e: &Expr) -> Result<Trigger, String> {
    let Expr::Call(name, args) = e else {
        return Err(format!("expected a trigger, got {e:?}"));
    };
    let subs = || {
        args.iter()
            .map(|(_, a)| trigger_of(a))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match name.as_str() {
        "Default" | "DefaultTrigger" => Trigger::Default,
        "Never" | "_Never" => Trigger::Never,
        "AfterCount" => Trigger::after_count(int_arg(args, 0, name)? as u64),
        "AfterProcessingTime" => Trigger::after_processing_time(Duration::from_micros(
            int_arg(args, 0, name).unwrap_or(0),
        )),
        "AfterWatermark" => {
            let mut t = Trigger::after_watermark();
            for (k, a) in args {
                match k.as_deref() {
                    Some("early") => t = t.with_early_firings(trigger_of(a)?),
                    Some("late") => t = t.with_late_firings(trigger_of(a)?),
                    other => return Err(format!("AfterWatermark: unknown argument {other:?}")),
                }
            }
            t
        }
        "AfterEach" => Trigger::AfterEach(subs()?),
        "AfterAny" | "AfterFirst" => Trigger::AfterFirst(subs()?),
        "AfterAll" => Trigger::AfterAll(subs()?),
        "Repeatedly" => Trigger::repeatedly(subs()?.pop().ok_or("Repeatedly needs a trigger")?),
        "OrFinally" => {
            let mut s = subs()?;
            if s.len() != 2 {
                return Err("OrFinally needs two triggers".into());
            }
            let until = s.pop().expect("two");
            s.pop().expect("two").or_finally(until)
        }
        other => return Err(format!("unsupported trigger {other}")),
    })
}

/// Parses a Python trigger expression.
pub fn parse_trigger(text: &str) -> Result<Trigger, String> {
    trigger_of(&parse_expr(text)?)
}

fn yaml_ints(y: &Yaml) -> Option<Vec<i64>> {
    y.as_vec()
        .map(|v| v.iter().filter_map(Yaml::as_i64).collect())
}

fn parse_expected(y: &Yaml) -> Expected {
    let get = |k: &str| &y[k];
    Expected {
        window: yaml_ints(get("window")).and_then(|w| (w.len() == 2).then(|| (w[0], w[1]))),
        values: yaml_ints(get("values")),
        timestamp: get("timestamp").as_i64(),
        index: get("index").as_i64(),
        nonspeculative_index: get("nonspeculative_index").as_i64(),
        early: get("early").as_bool(),
        late: get("late").as_bool(),
        is_final: get("final").as_bool(),
    }
}

fn text_of(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Parses every transcript of a multi-document YAML text.
pub fn parse(text: &str) -> Result<Vec<Transcript>, String> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if d.is_null() {
            continue;
        }
        let name = text_of(&d["name"]).unwrap_or_else(|| format!("transcript {i}"));
        let mut actions = Vec::new();
        for a in d["transcript"]
            .as_vec()
            .ok_or_else(|| format!("{name}: no transcript"))?
        {
            let Some(h) = a.as_hash() else {
                return Err(format!("{name}: an action must be a map"));
            };
            for (k, v) in h {
                let action = match k.as_str() {
                    Some("input") => Action::Input(
                        yaml_ints(v).ok_or_else(|| format!("{name}: input needs a list"))?,
                    ),
                    Some("watermark") => Action::Watermark(
                        v.as_i64().ok_or_else(|| format!("{name}: bad watermark"))?,
                    ),
                    Some("clock") => {
                        Action::Clock(v.as_i64().ok_or_else(|| format!("{name}: bad clock"))?)
                    }
                    Some("expect") => Action::Expect(
                        v.as_vec()
                            .map(|l| l.iter().map(parse_expected).collect())
                            .unwrap_or_default(),
                    ),
                    Some("state") => Action::State,
                    other => return Err(format!("{name}: unknown action {other:?}")),
                };
                actions.push(action);
            }
        }
        let combiner = text_of(&d["timestamp_combiner"]).or_else(|| text_of(&d["output_time_fn"]));
        out.push(Transcript {
            name,
            window_fn: text_of(&d["window_fn"]).unwrap_or_else(|| "GlobalWindows".into()),
            trigger_fn: text_of(&d["trigger_fn"]).unwrap_or_else(|| "Default".into()),
            combiner: combiner.unwrap_or_else(|| "OUTPUT_AT_EOW".into()),
            accumulation: text_of(&d["accumulation_mode"]).unwrap_or_else(|| "accumulating".into()),
            allowed_lateness: d["allowed_lateness"].as_i64().unwrap_or(0),
            error: text_of(&d["error"]),
            actions,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_parse() {
        assert_eq!(
            parse_trigger("AfterWatermark(early=AfterCount(2), late=AfterCount(3))").unwrap(),
            Trigger::after_watermark()
                .with_early_firings(Trigger::after_count(2))
                .with_late_firings(Trigger::after_count(3))
        );
        assert_eq!(
            parse_trigger("Repeatedly(AfterAny(AfterCount(3), AfterWatermark()))").unwrap(),
            Trigger::repeatedly(Trigger::AfterFirst(vec![
                Trigger::after_count(3),
                Trigger::after_watermark()
            ]))
        );
        assert_eq!(
            parse_window_fn("Sessions(10)").unwrap(),
            WindowFn::sessions(Duration::from_micros(10))
        );
        assert_eq!(
            parse_window_fn("SlidingWindows(10, 5)").unwrap(),
            WindowFn::sliding(Duration::from_micros(10), Duration::from_micros(5))
        );
        assert!(parse_trigger("AfterWatermark(early=)").is_err());
        assert!(parse_window_fn("Bogus(1)").is_err());
    }
}
