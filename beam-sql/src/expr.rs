//! [`Expr`]: scalar expressions over a row's columns, built with [`col`] and
//! [`lit`] (or parsed from SQL), compiled against a schema before they run.

use arrow::datatypes::DataType;

/// A literal value.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    /// SQL `NULL`, of no particular type.
    Null,
    /// A boolean.
    Boolean(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// An exact decimal: the digits as an integer and the scale.
    Decimal(i128, i8),
    /// A string.
    Str(String),
}

/// An arithmetic, comparison or boolean operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`: integers divide to a float, as in Spark and DuckDB; dividing by
    /// zero gives null.
    Div,
    /// `%`: null when dividing by zero.
    Mod,
    /// `=`
    Eq,
    /// `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`, with SQL's three-valued logic.
    And,
    /// `OR`, with SQL's three-valued logic.
    Or,
    /// `||`: string concatenation (null if either side is null).
    Concat,
}

impl BinaryOp {
    /// How SQL writes the operator.
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Concat => "||",
        }
    }

    pub(crate) fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Lt
                | BinaryOp::LtEq
                | BinaryOp::Gt
                | BinaryOp::GtEq
        )
    }
}

/// A scalar function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Function {
    /// `UPPER(s)`
    Upper,
    /// `LOWER(s)`
    Lower,
    /// `LENGTH(s)` (also `CHAR_LENGTH`): characters, not bytes.
    Length,
    /// `TRIM(s)`: leading and trailing whitespace removed.
    Trim,
    /// `LTRIM(s)`
    Ltrim,
    /// `RTRIM(s)`
    Rtrim,
    /// `SUBSTRING(s, start [, length])`, 1-based, in characters.
    Substring,
    /// `REPLACE(s, from, to)`
    Replace,
    /// `CONCAT(a, b, ...)`: nulls count as empty strings.
    Concat,
    /// `COALESCE(a, b, ...)`: the first non-null argument.
    Coalesce,
    /// `NULLIF(a, b)`: null if `a = b`, else `a`.
    NullIf,
    /// `ABS(x)`
    Abs,
    /// `ROUND(x [, digits])`: half away from zero.
    Round,
    /// `FLOOR(x)`
    Floor,
    /// `CEIL(x)` (also `CEILING`)
    Ceil,
}

impl Function {
    /// The function named `name` (case-insensitive), if there is one.
    pub fn by_name(name: &str) -> Option<Function> {
        Some(match name.to_ascii_lowercase().as_str() {
            "upper" => Function::Upper,
            "lower" => Function::Lower,
            "length" | "char_length" | "character_length" => Function::Length,
            "trim" => Function::Trim,
            "ltrim" => Function::Ltrim,
            "rtrim" => Function::Rtrim,
            "substring" | "substr" => Function::Substring,
            "replace" => Function::Replace,
            "concat" => Function::Concat,
            "coalesce" => Function::Coalesce,
            "nullif" => Function::NullIf,
            "abs" => Function::Abs,
            "round" => Function::Round,
            "floor" => Function::Floor,
            "ceil" | "ceiling" => Function::Ceil,
            _ => return None,
        })
    }
}

/// A scalar expression: evaluated row by row (vectorized over a batch).
///
/// ```
/// use beam_sql::{col, lit};
/// let e = col("amount").gt(lit(1000)).and(col("region").eq(lit("west")));
/// assert_eq!(e.to_string(), "((amount > 1000) AND (region = 'west'))");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A column, by name.
    Column(String),
    /// A literal.
    Literal(Literal),
    /// A binary operation.
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `NOT e`
    Not(Box<Expr>),
    /// `-e`
    Negate(Box<Expr>),
    /// `e IS NULL`
    IsNull(Box<Expr>),
    /// `e IS NOT NULL`
    IsNotNull(Box<Expr>),
    /// `CASE WHEN c THEN v ... [ELSE e] END` (a `CASE x WHEN` is written as
    /// comparisons).
    Case {
        /// Conditions and their values, in order.
        branches: Vec<(Expr, Expr)>,
        /// The value when no condition holds (null without it).
        otherwise: Option<Box<Expr>>,
    },
    /// `CAST(e AS type)`
    Cast(Box<Expr>, DataType),
    /// A scalar function call.
    Call(Function, Vec<Expr>),
    /// `e [NOT] IN (a, b, ...)`
    InList {
        /// The tested value.
        expr: Box<Expr>,
        /// The values.
        list: Vec<Expr>,
        /// `NOT IN`
        negated: bool,
    },
    /// `e [NOT] LIKE pattern` (or `ILIKE`).
    Like {
        /// The tested string.
        expr: Box<Expr>,
        /// The pattern (`%` and `_` wildcards).
        pattern: Box<Expr>,
        /// `NOT LIKE`
        negated: bool,
        /// `ILIKE`
        case_insensitive: bool,
    },
}

/// A column by name.
pub fn col(name: &str) -> Expr {
    Expr::Column(name.to_string())
}

/// A literal: `lit(3)`, `lit(2.5)`, `lit("west")`, `lit(true)`.
pub fn lit(value: impl Into<Literal>) -> Expr {
    Expr::Literal(value.into())
}

impl From<i64> for Literal {
    fn from(v: i64) -> Literal {
        Literal::Int(v)
    }
}
impl From<i32> for Literal {
    fn from(v: i32) -> Literal {
        Literal::Int(v.into())
    }
}
impl From<f64> for Literal {
    fn from(v: f64) -> Literal {
        Literal::Float(v)
    }
}
impl From<bool> for Literal {
    fn from(v: bool) -> Literal {
        Literal::Boolean(v)
    }
}
impl From<&str> for Literal {
    fn from(v: &str) -> Literal {
        Literal::Str(v.to_string())
    }
}
impl From<String> for Literal {
    fn from(v: String) -> Literal {
        Literal::Str(v)
    }
}

macro_rules! binary_methods {
    ($($(#[$doc:meta])* $name:ident => $op:ident),* $(,)?) => {
        impl Expr {
            $(
                $(#[$doc])*
                pub fn $name(self, other: Expr) -> Expr {
                    Expr::Binary(BinaryOp::$op, Box::new(self), Box::new(other))
                }
            )*
        }
    };
}

macro_rules! arithmetic {
    ($($trait:ident $method:ident => $op:ident),*) => {
        $(
            impl std::ops::$trait for Expr {
                type Output = Expr;
                fn $method(self, other: Expr) -> Expr {
                    Expr::Binary(BinaryOp::$op, Box::new(self), Box::new(other))
                }
            }
        )*
    };
}

arithmetic!(Add add => Add, Sub sub => Sub, Mul mul => Mul, Div div => Div, Rem rem => Mod);

impl std::ops::Neg for Expr {
    type Output = Expr;
    fn neg(self) -> Expr {
        Expr::Negate(Box::new(self))
    }
}

binary_methods! {
    /// `self = other`
    eq => Eq,
    /// `self <> other`
    not_eq => NotEq,
    /// `self < other`
    lt => Lt,
    /// `self <= other`
    lt_eq => LtEq,
    /// `self > other`
    gt => Gt,
    /// `self >= other`
    gt_eq => GtEq,
    /// `self AND other`
    and => And,
    /// `self OR other`
    or => Or,
}

impl Expr {
    /// `NOT self`
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
    /// `self IS NULL`
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }
    /// `self IS NOT NULL`
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(Box::new(self))
    }
    /// `CAST(self AS to)`
    pub fn cast(self, to: DataType) -> Expr {
        Expr::Cast(Box::new(self), to)
    }
    /// `self BETWEEN low AND high`
    pub fn between(self, low: Expr, high: Expr) -> Expr {
        self.clone().gt_eq(low).and(self.lt_eq(high))
    }
    /// `self LIKE pattern`
    pub fn like(self, pattern: &str) -> Expr {
        Expr::Like {
            expr: Box::new(self),
            pattern: Box::new(lit(pattern)),
            negated: false,
            case_insensitive: false,
        }
    }
    /// `self IN (values)`
    pub fn in_list(self, values: Vec<Expr>) -> Expr {
        Expr::InList {
            expr: Box::new(self),
            list: values,
            negated: false,
        }
    }
    /// A scalar function call.
    pub fn call(function: Function, args: Vec<Expr>) -> Expr {
        Expr::Call(function, args)
    }
    /// `CASE WHEN condition THEN value` (add branches with [`Expr::when`]
    /// and the default with [`Expr::otherwise`]).
    pub fn case_when(condition: Expr, value: Expr) -> Expr {
        Expr::Case {
            branches: vec![(condition, value)],
            otherwise: None,
        }
    }
    /// Adds a `WHEN condition THEN value` branch to a `CASE`.
    pub fn when(self, condition: Expr, value: Expr) -> Expr {
        match self {
            Expr::Case {
                mut branches,
                otherwise,
            } => {
                branches.push((condition, value));
                Expr::Case {
                    branches,
                    otherwise,
                }
            }
            other => Expr::Case {
                branches: vec![(other, condition)],
                otherwise: Some(Box::new(value)),
            },
        }
    }
    /// Sets a `CASE`'s `ELSE` value.
    pub fn otherwise(self, value: Expr) -> Expr {
        match self {
            Expr::Case { branches, .. } => Expr::Case {
                branches,
                otherwise: Some(Box::new(value)),
            },
            other => other,
        }
    }

    /// The name a projection gives this expression's column when it has no
    /// alias: a column's own name, otherwise the expression as SQL.
    pub fn output_name(&self) -> String {
        match self {
            Expr::Column(name) => name.rsplit('.').next().unwrap_or(name).to_string(),
            other => other.to_string(),
        }
    }

    /// The columns the expression reads.
    pub fn columns(&self, out: &mut Vec<String>) {
        match self {
            Expr::Column(name) => out.push(name.clone()),
            Expr::Literal(_) => {}
            Expr::Binary(_, a, b) => {
                a.columns(out);
                b.columns(out);
            }
            Expr::Not(e) | Expr::Negate(e) | Expr::IsNull(e) | Expr::IsNotNull(e) => e.columns(out),
            Expr::Cast(e, _) => e.columns(out),
            Expr::Case {
                branches,
                otherwise,
            } => {
                for (c, v) in branches {
                    c.columns(out);
                    v.columns(out);
                }
                if let Some(e) = otherwise {
                    e.columns(out);
                }
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.columns(out)),
            Expr::InList { expr, list, .. } => {
                expr.columns(out);
                list.iter().for_each(|a| a.columns(out));
            }
            Expr::Like { expr, pattern, .. } => {
                expr.columns(out);
                pattern.columns(out);
            }
        }
    }
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Boolean(b) => write!(f, "{}", if *b { "TRUE" } else { "FALSE" }),
            Literal::Int(i) => write!(f, "{i}"),
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Decimal(digits, scale) => {
                let s = *scale as usize;
                let abs = digits.unsigned_abs().to_string();
                let sign = if *digits < 0 { "-" } else { "" };
                if s == 0 {
                    write!(f, "{sign}{abs}")
                } else {
                    let padded = format!("{abs:0>width$}", width = s + 1);
                    let (whole, frac) = padded.split_at(padded.len() - s);
                    write!(f, "{sign}{whole}.{frac}")
                }
            }
            Literal::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

/// `a, b, c`
fn write_list(f: &mut std::fmt::Formatter<'_>, items: &[Expr]) -> std::fmt::Result {
    for (i, a) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a}")?;
    }
    Ok(())
}

impl std::fmt::Display for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expr::Column(name) => f.write_str(name),
            Expr::Literal(l) => write!(f, "{l}"),
            Expr::Binary(op, a, b) => write!(f, "({a} {} {b})", op.symbol()),
            Expr::Not(e) => write!(f, "(NOT {e})"),
            Expr::Negate(e) => write!(f, "(-{e})"),
            Expr::IsNull(e) => write!(f, "({e} IS NULL)"),
            Expr::IsNotNull(e) => write!(f, "({e} IS NOT NULL)"),
            Expr::Case {
                branches,
                otherwise,
            } => {
                f.write_str("CASE")?;
                for (c, v) in branches {
                    write!(f, " WHEN {c} THEN {v}")?;
                }
                if let Some(e) = otherwise {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            Expr::Cast(e, t) => write!(f, "CAST({e} AS {t})"),
            Expr::Call(func, args) => {
                write!(f, "{}(", format!("{func:?}").to_ascii_lowercase())?;
                write_list(f, args)?;
                f.write_str(")")
            }
            Expr::InList {
                expr,
                list,
                negated,
            } => {
                write!(f, "({expr} {}IN (", if *negated { "NOT " } else { "" })?;
                write_list(f, list)?;
                f.write_str("))")
            }
            Expr::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => write!(
                f,
                "({expr} {}{} {pattern})",
                if *negated { "NOT " } else { "" },
                if *case_insensitive { "ILIKE" } else { "LIKE" }
            ),
        }
    }
}
