//! Nexmark, the standard streaming benchmark: an event generator (people,
//! auctions, bids) and queries 0 to 8, 11 and 12, written once against
//! beam-core and run on any runner by the `nexmark` program.

pub mod generator;
pub mod model;
pub mod queries;
pub mod streaming;

pub use generator::{event, NexmarkSource, NexmarkStream};
pub use model::{Auction, Bid, Event, Person};
pub use queries::{query, QUERIES};

/// Counts query results in the `results` counter of its step and drops them
/// (the benchmark sink).
#[derive(Clone)]
pub struct CountResults;

impl beam_core::DoFn for CountResults {
    type In = String;
    type Out = ();
    fn process(
        &mut self,
        _: &String,
        ctx: &mut beam_core::ProcessContext<'_, ()>,
    ) -> beam_core::UserResult {
        ctx.metrics().inc_counter("results", 1);
        Ok(())
    }
}
