//! Relational pipelines on the Beam model: schemas, DataFrame-style verbs and
//! SQL over PCollections of rows, which travel as Arrow record batches inside
//! bundles and run on every runner.
//!
//! ```
//! use beam_core::{Create, Pipeline};
//! use beam_sql::{col, lit, sum, count_star, Table};
//!
//! #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
//! struct Sale { category: String, amount: f64 }
//!
//! let p = Pipeline::new(Default::default());
//! let sales = p.apply("Create", Create::of(vec![
//!     Sale { category: "books".into(), amount: 12.5 },
//!     Sale { category: "toys".into(), amount: 2000.0 },
//!     Sale { category: "toys".into(), amount: 1500.0 },
//! ]))?;
//! let totals = Table::from_elements("ToRows", &sales)?
//!     .filter("Big", col("amount").gt(lit(1000)))?
//!     .group_by(vec![col("category")])
//!     .aggregate("Totals", vec![sum(col("amount")).alias("total"), count_star().alias("n")])?;
//! assert_eq!(totals.schema().field(1).name(), "total");
//! # Ok::<(), beam_core::BeamError>(())
//! ```

#![deny(missing_docs)]

mod aggregate;
mod csv_rows;
mod csv_split;
mod eval;
mod exact_sum;
mod expr;
mod field_parse;
mod functions;
mod join;
pub mod read;
mod rows;
mod sort;
mod sql;
mod table;
mod types;
mod window;
mod write;
pub mod yaml;

pub use aggregate::{
    avg, collect_list, count, count_distinct, count_star, max, min, sum, top_largest, top_smallest,
    Aggregate, AggregateFunction, GroupedTable,
};
pub use eval::CompiledExpr;
pub use exact_sum::ExactSum;
pub use expr::{col, lit, BinaryOp, Expr, Function, Literal};
pub use join::JoinKind;
pub use rows::Rows;
pub use sort::SortKey;
pub use sql::SqlTransform;
pub use table::Table;
pub use window::bound_type;
pub use write::WriteFormat;
