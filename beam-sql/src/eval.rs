//! Compiled expressions: an [`Expr`] with its columns resolved to indices and
//! its types checked and coerced against a schema, evaluated on record
//! batches with Arrow's compute kernels.

use crate::expr::{BinaryOp, Expr, Function, Literal};
use crate::types::{class, is_numeric, Class};
pub(crate) use crate::types::{
    class_is_int, class_is_numeric, column_list, common_type, resolve_column,
};
use arrow::array::{
    new_empty_array, new_null_array, Array, ArrayRef, AsArray, BooleanArray, Datum,
    Decimal128Array, Float64Array, Int64Array, Int64Builder, RecordBatch, StringArray,
    StringBuilder, UInt32Array,
};
use arrow::compute::kernels::{boolean, cmp, numeric, zip::zip};
use arrow::compute::{can_cast_types, cast_with_options, is_not_null, is_null, CastOptions};
use arrow::datatypes::{DataType, Field, Schema};
use std::sync::Arc;

/// An expression ready to run on batches of one schema.
#[derive(Clone, Debug)]
pub struct CompiledExpr {
    node: Node,
    data_type: DataType,
}

#[derive(Clone, Debug)]
enum Node {
    Column(usize),
    Literal(ArrayRef),
    Cast(Box<CompiledExpr>),
    Arith(BinaryOp, Box<CompiledExpr>, Box<CompiledExpr>),
    Compare(BinaryOp, Box<CompiledExpr>, Box<CompiledExpr>),
    And(Box<CompiledExpr>, Box<CompiledExpr>),
    Or(Box<CompiledExpr>, Box<CompiledExpr>),
    Not(Box<CompiledExpr>),
    Negate(Box<CompiledExpr>),
    IsNull(Box<CompiledExpr>, bool),
    Case(Vec<(CompiledExpr, CompiledExpr)>, Option<Box<CompiledExpr>>),
    Call(Function, Vec<CompiledExpr>),
    /// `a || b`: null if either is.
    ConcatOp(Box<CompiledExpr>, Box<CompiledExpr>),
    Like {
        expr: Box<CompiledExpr>,
        pattern: Box<CompiledExpr>,
        negated: bool,
        case_insensitive: bool,
    },
}

/// The value of an expression on a batch: a column, or one value for every row.
pub(crate) enum Value {
    Array(ArrayRef),
    Scalar(ArrayRef),
}

impl Datum for Value {
    fn get(&self) -> (&dyn Array, bool) {
        match self {
            Value::Array(a) => (a.as_ref(), false),
            Value::Scalar(a) => (a.as_ref(), true),
        }
    }
}

impl Value {
    fn is_scalar(&self) -> bool {
        matches!(self, Value::Scalar(_))
    }

    /// The value as a column of `rows` rows.
    pub(crate) fn into_array(self, rows: usize) -> Result<ArrayRef, String> {
        match self {
            Value::Array(a) => Ok(a),
            Value::Scalar(a) if rows == 1 => Ok(a),
            Value::Scalar(a) => {
                arrow::compute::take(&a, &UInt32Array::from(vec![0u32; rows]), None)
                    .map_err(|e| e.to_string())
            }
        }
    }

    fn map(self, f: impl FnOnce(&ArrayRef) -> Result<ArrayRef, String>) -> Result<Value, String> {
        Ok(match &self {
            Value::Array(a) => Value::Array(f(a)?),
            Value::Scalar(a) => Value::Scalar(f(a)?),
        })
    }
}

fn wrap(scalar: bool, a: ArrayRef) -> Value {
    if scalar {
        Value::Scalar(a)
    } else {
        Value::Array(a)
    }
}

fn err(e: arrow::error::ArrowError) -> String {
    e.to_string()
}

fn literal_array(l: &Literal) -> Result<ArrayRef, String> {
    Ok(match l {
        Literal::Null => new_null_array(&DataType::Null, 1),
        Literal::Boolean(b) => Arc::new(BooleanArray::from(vec![*b])),
        Literal::Int(i) => Arc::new(Int64Array::from(vec![*i])),
        Literal::Float(x) => Arc::new(Float64Array::from(vec![*x])),
        Literal::Decimal(d, s) => Arc::new(
            Decimal128Array::from(vec![*d])
                .with_precision_and_scale(38, *s)
                .map_err(err)?,
        ),
        Literal::Str(s) => Arc::new(StringArray::from(vec![s.as_str()])),
    })
}

impl CompiledExpr {
    /// Compiles `expr` for batches of `schema`.
    pub fn compile(expr: &Expr, schema: &Schema) -> Result<CompiledExpr, String> {
        compile(expr, schema)
    }

    /// The type of the expression's values.
    pub fn data_type(&self) -> &DataType {
        &self.data_type
    }

    /// The expression's values on `batch`, one per row.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef, String> {
        self.eval(batch)?.into_array(batch.num_rows())
    }

    /// The field the expression's values make under `name`.
    pub fn field(&self, name: &str) -> Field {
        Field::new(name, self.data_type.clone(), true)
    }

    fn cast_to(self, to: &DataType) -> Result<CompiledExpr, String> {
        if &self.data_type == to {
            return Ok(self);
        }
        if !can_cast_types(&self.data_type, to) {
            return Err(format!("cannot cast {} to {to}", self.data_type));
        }
        Ok(CompiledExpr {
            node: Node::Cast(Box::new(self)),
            data_type: to.clone(),
        })
    }

    pub(crate) fn eval(&self, batch: &RecordBatch) -> Result<Value, String> {
        match &self.node {
            Node::Column(i) => Ok(Value::Array(batch.column(*i).clone())),
            Node::Literal(a) => Ok(Value::Scalar(a.clone())),
            Node::Cast(e) => {
                let options = CastOptions {
                    safe: false,
                    ..Default::default()
                };
                e.eval(batch)?
                    .map(|a| cast_with_options(a, &self.data_type, &options).map_err(err))
            }
            Node::Arith(op, a, b) => {
                let (x, y) = (a.eval(batch)?, b.eval(batch)?);
                let scalar = x.is_scalar() && y.is_scalar();
                let y = if matches!(op, BinaryOp::Div | BinaryOp::Mod) {
                    // Dividing by zero gives null, as in SQL engines.
                    y.map(|d| {
                        let zero = arrow::compute::cast(&Int64Array::from(vec![0]), d.data_type())
                            .map_err(err)?;
                        let is_zero = cmp::eq(d, &arrow::array::Scalar::new(zero)).map_err(err)?;
                        arrow::compute::nullif(d, &is_zero).map_err(err)
                    })?
                } else {
                    y
                };
                Ok(wrap(scalar, arithmetic(*op, &x, &y).map_err(err)?))
            }
            Node::Compare(op, a, b) => {
                let (x, y) = (a.eval(batch)?, b.eval(batch)?);
                let scalar = x.is_scalar() && y.is_scalar();
                let out = match op {
                    BinaryOp::Eq => cmp::eq(&x, &y),
                    BinaryOp::NotEq => cmp::neq(&x, &y),
                    BinaryOp::Lt => cmp::lt(&x, &y),
                    BinaryOp::LtEq => cmp::lt_eq(&x, &y),
                    BinaryOp::Gt => cmp::gt(&x, &y),
                    _ => cmp::gt_eq(&x, &y),
                }
                .map_err(err)?;
                Ok(wrap(scalar, Arc::new(out)))
            }
            Node::And(a, b) | Node::Or(a, b) => {
                let (x, y) = (a.eval(batch)?, b.eval(batch)?);
                let scalar = x.is_scalar() && y.is_scalar();
                let rows = if scalar { 1 } else { batch.num_rows() };
                let (x, y) = (x.into_array(rows)?, y.into_array(rows)?);
                let (x, y) = (x.as_boolean(), y.as_boolean());
                let out = if matches!(self.node, Node::And(..)) {
                    boolean::and_kleene(x, y)
                } else {
                    boolean::or_kleene(x, y)
                }
                .map_err(err)?;
                Ok(wrap(scalar, Arc::new(out)))
            }
            Node::Not(e) => e
                .eval(batch)?
                .map(|a| Ok(Arc::new(boolean::not(a.as_boolean()).map_err(err)?) as ArrayRef)),
            Node::Negate(e) => e.eval(batch)?.map(|a| numeric::neg(a).map_err(err)),
            Node::IsNull(e, negated) => e.eval(batch)?.map(|a| {
                let out = if *negated { is_not_null(a) } else { is_null(a) };
                Ok(Arc::new(out.map_err(err)?) as ArrayRef)
            }),
            Node::Case(branches, otherwise) => {
                let rows = batch.num_rows();
                let mut result = match otherwise {
                    Some(e) => e.evaluate(batch)?,
                    None => new_null_array(&self.data_type, rows),
                };
                for (condition, value) in branches.iter().rev() {
                    let c = condition.evaluate(batch)?;
                    let c = crate::eval::null_as_false(c.as_boolean());
                    let v = value.evaluate(batch)?;
                    result = zip(&c, &v, &result).map_err(err)?;
                }
                Ok(Value::Array(result))
            }
            Node::Call(f, args) => self.call(*f, args, batch),
            Node::ConcatOp(a, b) => {
                let (x, y) = (a.eval(batch)?, b.eval(batch)?);
                let scalar = x.is_scalar() && y.is_scalar();
                let rows = if scalar { 1 } else { batch.num_rows() };
                let (x, y) = (x.into_array(rows)?, y.into_array(rows)?);
                let out = arrow::compute::kernels::concat_elements::concat_elements_utf8(
                    x.as_string::<i32>(),
                    y.as_string::<i32>(),
                )
                .map_err(err)?;
                Ok(wrap(scalar, Arc::new(out)))
            }
            Node::Like {
                expr,
                pattern,
                negated,
                case_insensitive,
            } => {
                use arrow::compute::kernels::comparison::{ilike, like, nilike, nlike};
                let (x, y) = (expr.eval(batch)?, pattern.eval(batch)?);
                let scalar = x.is_scalar() && y.is_scalar();
                let out = match (negated, case_insensitive) {
                    (false, false) => like(&x, &y),
                    (true, false) => nlike(&x, &y),
                    (false, true) => ilike(&x, &y),
                    (true, true) => nilike(&x, &y),
                }
                .map_err(err)?;
                Ok(wrap(scalar, Arc::new(out)))
            }
        }
    }

    fn call(
        &self,
        f: Function,
        args: &[CompiledExpr],
        batch: &RecordBatch,
    ) -> Result<Value, String> {
        let values: Vec<Value> = args
            .iter()
            .map(|a| a.eval(batch))
            .collect::<Result<_, _>>()?;
        let scalar = values.iter().all(Value::is_scalar);
        let rows = if scalar { 1 } else { batch.num_rows() };
        let arrays: Vec<ArrayRef> = values
            .into_iter()
            .map(|v| v.into_array(rows))
            .collect::<Result<_, _>>()?;
        let out = crate::functions::call(f, &arrays, &self.data_type, rows)?;
        Ok(wrap(scalar, out))
    }
}

fn compile(expr: &Expr, schema: &Schema) -> Result<CompiledExpr, String> {
    Ok(match expr {
        Expr::Column(name) => {
            let i = resolve_column(schema, name)?;
            CompiledExpr {
                node: Node::Column(i),
                data_type: schema.field(i).data_type().clone(),
            }
        }
        Expr::Literal(l) => {
            let a = literal_array(l)?;
            CompiledExpr {
                data_type: a.data_type().clone(),
                node: Node::Literal(a),
            }
        }
        Expr::Binary(op, a, b) => {
            let (a, b) = (compile(a, schema)?, compile(b, schema)?);
            binary(*op, a, b, expr)?
        }
        Expr::Not(e) => {
            let e = boolean_operand(compile(e, schema)?, expr)?;
            CompiledExpr {
                node: Node::Not(Box::new(e)),
                data_type: DataType::Boolean,
            }
        }
        Expr::Negate(e) => {
            let e = compile(e, schema)?;
            if !is_numeric(&e.data_type) {
                return Err(format!("cannot negate {} in {expr}", e.data_type));
            }
            let e = if e.data_type == DataType::Null {
                e.cast_to(&DataType::Int64)?
            } else {
                e
            };
            CompiledExpr {
                data_type: e.data_type.clone(),
                node: Node::Negate(Box::new(e)),
            }
        }
        Expr::IsNull(e) | Expr::IsNotNull(e) => CompiledExpr {
            node: Node::IsNull(
                Box::new(compile(e, schema)?),
                matches!(expr, Expr::IsNotNull(_)),
            ),
            data_type: DataType::Boolean,
        },
        Expr::Case {
            branches,
            otherwise,
        } => {
            let mut conditions = Vec::new();
            let mut values = Vec::new();
            for (c, v) in branches {
                conditions.push(boolean_operand(compile(c, schema)?, expr)?);
                values.push(compile(v, schema)?);
            }
            let otherwise = otherwise.as_ref().map(|e| compile(e, schema)).transpose()?;
            let mut ty = DataType::Null;
            for v in values.iter().chain(otherwise.iter()) {
                ty = common_type(&ty, &v.data_type)
                    .ok_or_else(|| format!("CASE mixes {ty} and {} in {expr}", v.data_type))?;
            }
            let values = values
                .into_iter()
                .map(|v| v.cast_to(&ty))
                .collect::<Result<Vec<_>, _>>()?;
            let otherwise = otherwise.map(|e| e.cast_to(&ty)).transpose()?;
            CompiledExpr {
                node: Node::Case(
                    conditions.into_iter().zip(values).collect(),
                    otherwise.map(Box::new),
                ),
                data_type: ty,
            }
        }
        Expr::Cast(e, to) => compile(e, schema)?
            .cast_to(to)
            .map_err(|m| format!("{m} in {expr}"))?,
        Expr::Call(f, args) => {
            let args = args
                .iter()
                .map(|a| compile(a, schema))
                .collect::<Result<Vec<_>, _>>()?;
            let (args, data_type) =
                crate::functions::check(*f, args).map_err(|m| format!("{m} in {expr}"))?;
            CompiledExpr {
                node: Node::Call(*f, args),
                data_type,
            }
        }
        Expr::InList {
            expr: e,
            list,
            negated,
        } => {
            let mut any = Expr::Literal(Literal::Boolean(false));
            for (i, v) in list.iter().enumerate() {
                let eq = (**e).clone().eq(v.clone());
                any = if i == 0 { eq } else { any.or(eq) };
            }
            let any = if *negated { any.not() } else { any };
            compile(&any, schema)?
        }
        Expr::Like {
            expr: e,
            pattern,
            negated,
            case_insensitive,
        } => {
            let e = text_operand(compile(e, schema)?, expr)?;
            let pattern = text_operand(compile(pattern, schema)?, expr)?;
            CompiledExpr {
                node: Node::Like {
                    expr: Box::new(e),
                    pattern: Box::new(pattern),
                    negated: *negated,
                    case_insensitive: *case_insensitive,
                },
                data_type: DataType::Boolean,
            }
        }
    })
}

fn boolean_operand(e: CompiledExpr, whole: &Expr) -> Result<CompiledExpr, String> {
    match e.data_type {
        DataType::Boolean => Ok(e),
        DataType::Null => e.cast_to(&DataType::Boolean),
        ref t => Err(format!("expected a boolean, found {t} in {whole}")),
    }
}

pub(crate) fn text_operand(e: CompiledExpr, whole: &Expr) -> Result<CompiledExpr, String> {
    match class(&e.data_type) {
        Class::Text | Class::Null => e.cast_to(&DataType::Utf8),
        _ => Err(format!(
            "expected a string, found {} in {whole}",
            e.data_type
        )),
    }
}

fn binary(
    op: BinaryOp,
    a: CompiledExpr,
    b: CompiledExpr,
    whole: &Expr,
) -> Result<CompiledExpr, String> {
    let mismatch = |a: &CompiledExpr, b: &CompiledExpr| {
        format!(
            "`{}` cannot apply to {} and {} in {whole}",
            op.symbol(),
            a.data_type,
            b.data_type
        )
    };
    match op {
        BinaryOp::And | BinaryOp::Or => {
            let (a, b) = (boolean_operand(a, whole)?, boolean_operand(b, whole)?);
            let node = if op == BinaryOp::And {
                Node::And(Box::new(a), Box::new(b))
            } else {
                Node::Or(Box::new(a), Box::new(b))
            };
            Ok(CompiledExpr {
                node,
                data_type: DataType::Boolean,
            })
        }
        BinaryOp::Concat => {
            let cast = |e: CompiledExpr| e.cast_to(&DataType::Utf8);
            Ok(CompiledExpr {
                node: Node::ConcatOp(Box::new(cast(a)?), Box::new(cast(b)?)),
                data_type: DataType::Utf8,
            })
        }
        _ if op.is_comparison() => {
            let ty = common_type(&a.data_type, &b.data_type).ok_or_else(|| mismatch(&a, &b))?;
            let ty = if ty == DataType::Null {
                DataType::Boolean
            } else {
                ty
            };
            Ok(CompiledExpr {
                node: Node::Compare(op, Box::new(a.cast_to(&ty)?), Box::new(b.cast_to(&ty)?)),
                data_type: DataType::Boolean,
            })
        }
        _ => {
            if !is_numeric(&a.data_type) || !is_numeric(&b.data_type) {
                return Err(mismatch(&a, &b));
            }
            let ty = match (class(&a.data_type), class(&b.data_type)) {
                (Class::Null, Class::Null) => DataType::Int64,
                _ if op == BinaryOp::Div => DataType::Float64,
                (Class::Decimal(_), _) | (_, Class::Decimal(_)) => {
                    if matches!(class(&a.data_type), Class::Float)
                        || matches!(class(&b.data_type), Class::Float)
                    {
                        DataType::Float64
                    } else {
                        // Decimals keep their own precision and scale; Arrow
                        // works out the result's.
                        let to_decimal = |e: CompiledExpr| match class(&e.data_type) {
                            Class::Decimal(_) => Ok(e),
                            _ => e.cast_to(&DataType::Decimal128(19, 0)),
                        };
                        let (a, b) = (to_decimal(a)?, to_decimal(b)?);
                        return arith(op, a, b, whole);
                    }
                }
                _ => common_type(&a.data_type, &b.data_type).ok_or_else(|| mismatch(&a, &b))?,
            };
            let ty = match ty {
                DataType::Null => DataType::Int64,
                t => t,
            };
            arith(op, a.cast_to(&ty)?, b.cast_to(&ty)?, whole)
        }
    }
}

fn arith(
    op: BinaryOp,
    a: CompiledExpr,
    b: CompiledExpr,
    whole: &Expr,
) -> Result<CompiledExpr, String> {
    // The result type is what the kernel makes of two empty columns.
    let (x, y) = (new_empty_array(&a.data_type), new_empty_array(&b.data_type));
    let out = arithmetic(op, &x, &y).map_err(|e| format!("{e} in {whole}"))?;
    Ok(CompiledExpr {
        data_type: out.data_type().clone(),
        node: Node::Arith(op, Box::new(a), Box::new(b)),
    })
}

/// An arithmetic operator's kernel (checked: overflow is an error).
fn arithmetic(
    op: BinaryOp,
    x: &dyn Datum,
    y: &dyn Datum,
) -> Result<ArrayRef, arrow::error::ArrowError> {
    match op {
        BinaryOp::Add => numeric::add(x, y),
        BinaryOp::Sub => numeric::sub(x, y),
        BinaryOp::Mul => numeric::mul(x, y),
        BinaryOp::Div => numeric::div(x, y),
        _ => numeric::rem(x, y),
    }
}

/// `CompiledExpr::cast_to` for the functions module.
pub(crate) fn cast(e: CompiledExpr, to: &DataType) -> Result<CompiledExpr, String> {
    e.cast_to(to)
}

/// Builders used by the functions module.
pub(crate) fn string_builder(rows: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * 8)
}

pub(crate) fn int_builder(rows: usize) -> Int64Builder {
    Int64Builder::with_capacity(rows)
}

/// A boolean column with its nulls made false (what `WHERE` and `WHEN` test).
pub(crate) fn null_as_false(mask: &BooleanArray) -> BooleanArray {
    match mask.nulls() {
        None => mask.clone(),
        Some(nulls) => BooleanArray::new(mask.values() & nulls.inner(), None),
    }
}
