//! The transforms users compose pipelines from.
//!
//! Primitives ([`Create`](crate::Create), [`Impulse`](crate::Impulse),
//! [`Read`](crate::Read), [`ParDo`](crate::ParDo),
//! [`GroupByKey`](crate::GroupByKey), [`Flatten`](crate::Flatten),
//! [`WindowInto`](crate::WindowInto), [`Reshuffle`](crate::Reshuffle))
//! and the composites built on them.

pub mod cogbk;
pub mod count;
pub mod elementwise;
pub mod flatten;
pub mod group_into_batches;
pub(crate) mod in_place;
pub mod join;
pub mod periodic_impulse;
pub mod publish;
pub mod publish_transactionally;
pub mod roots;
pub mod test_stream;
pub mod windowing;
