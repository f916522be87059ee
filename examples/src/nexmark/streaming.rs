//! The global-window parts of the Nexmark queries, for unbounded input.
//!
//! A GroupByKey in the global window fires only at the end of time, which an
//! unbounded stream never reaches, so Beam refuses it without a trigger. The
//! joins of queries 3, 4 and 6 are written here as stateful ParDos instead (as
//! Beam's own Nexmark writes them for streaming): each match is emitted once,
//! as soon as it is known, so a stream gives the same results as the bounded
//! run. The aggregations over every winning bid (queries 4 and 6) fire a
//! running pane every second of processing time and a final pane when the
//! stream ends, accumulating: that final pane is the bounded run's result.

use super::model::{Auction, Bid, Person};
use beam_core::{
    AccumulationMode, Duration, Element, Flatten, Map, PCollection, PCollectionList, Result,
    StateContext, StatefulDoFn, StatefulParDo, Trigger, UserResult, WindowInto,
};
use serde::{Deserialize, Serialize};

/// A seller's side of query 3's join.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum SellerSide {
    Person(Person),
    Auction(u64),
}

/// Query 3's join by seller id: each person with each of their auctions,
/// once, whichever arrives first.
#[derive(Clone)]
struct JoinSellers;

/// (name, city, state, auction id).
pub type SellerMatch = (String, String, String, u64);

impl StatefulDoFn for JoinSellers {
    type Key = u64;
    type Value = SellerSide;
    type Out = SellerMatch;
    fn process(
        &mut self,
        _seller: &u64,
        side: &SellerSide,
        ctx: &mut StateContext<'_, u64, SellerMatch>,
    ) -> UserResult {
        match side {
            SellerSide::Person(p) => {
                let mut pending = ctx.bag_state::<u64>("auctions")?;
                let ids = pending.read();
                pending.clear();
                ctx.value_state::<Person>("person")?.write(p.clone());
                for id in ids {
                    ctx.output((p.name.clone(), p.city.clone(), p.state.clone(), id));
                }
            }
            SellerSide::Auction(id) => match ctx.value_state::<Person>("person")?.read() {
                Some(p) => ctx.output((p.name, p.city, p.state, *id)),
                None => ctx.bag_state::<u64>("auctions")?.add(*id),
            },
        }
        Ok(())
    }
}

/// Query 3's join, for a stream.
pub fn join_sellers(
    people: &PCollection<(u64, Person)>,
    items: &PCollection<(u64, u64)>,
) -> Result<PCollection<SellerMatch>> {
    let people = people.apply(
        "PersonSide",
        Map::new(|(id, p): &(u64, Person)| (*id, SellerSide::Person(p.clone()))),
    )?;
    let items = items.apply(
        "AuctionSide",
        Map::new(|(seller, id): &(u64, u64)| (*seller, SellerSide::Auction(*id))),
    )?;
    PCollectionList::of(vec![people, items])?
        .apply("BothSides", Flatten)?
        .apply("JoinSellers", StatefulParDo::of(JoinSellers))
}

/// An auction's side of the winning-bid join.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum AuctionSide {
    /// The auction.
    Auction(Auction),
    /// A bid on it.
    Bid(Bid),
}

/// Whether `b` can win `a`, and the order among those that can: highest
/// price, then earliest, then lowest bidder.
fn eligible(a: &Auction, b: &Bid) -> bool {
    b.price >= a.reserve && b.date_time >= a.date_time && b.date_time < a.expires
}

fn better(x: &Bid, y: &Bid) -> bool {
    (
        x.price,
        std::cmp::Reverse(x.date_time),
        std::cmp::Reverse(x.bidder),
    ) > (
        y.price,
        std::cmp::Reverse(y.date_time),
        std::cmp::Reverse(y.bidder),
    )
}

/// The winning bid of each auction, output when the watermark passes its
/// expiry (every bid that can win it has arrived by then).
#[derive(Clone)]
struct WinningBid;

impl StatefulDoFn for WinningBid {
    type Key = u64;
    type Value = AuctionSide;
    type Out = (Auction, Bid);
    fn process(
        &mut self,
        _auction: &u64,
        side: &AuctionSide,
        ctx: &mut StateContext<'_, u64, (Auction, Bid)>,
    ) -> UserResult {
        match side {
            AuctionSide::Auction(a) => {
                ctx.value_state::<Auction>("auction")?.write(a.clone());
                let mut early = ctx.bag_state::<Bid>("early")?;
                let bids = early.read();
                early.clear();
                for b in &bids {
                    offer(a, b, ctx)?;
                }
                ctx.set_event_timer("expiry", beam_core::Timestamp::from_millis(a.expires))?;
            }
            AuctionSide::Bid(b) => match ctx.value_state::<Auction>("auction")?.read() {
                Some(a) => offer(&a, b, ctx)?,
                None => ctx.bag_state::<Bid>("early")?.add(b.clone()),
            },
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _auction: &u64,
        _timer: &str,
        ctx: &mut StateContext<'_, u64, (Auction, Bid)>,
    ) -> UserResult {
        let auction = ctx.value_state::<Auction>("auction")?.read();
        let best = ctx.value_state::<Bid>("best")?.read();
        if let (Some(a), Some(b)) = (auction, best) {
            ctx.output((a, b));
        }
        ctx.value_state::<Auction>("auction")?.clear();
        ctx.value_state::<Bid>("best")?.clear();
        ctx.bag_state::<Bid>("early")?.clear();
        Ok(())
    }
}

fn offer(a: &Auction, b: &Bid, ctx: &mut StateContext<'_, u64, (Auction, Bid)>) -> UserResult {
    if !eligible(a, b) {
        return Ok(());
    }
    let mut best = ctx.value_state::<Bid>("best")?;
    if best.read().is_none_or(|current| better(b, &current)) {
        best.write(b.clone());
    }
    Ok(())
}

/// The winning-bid join, for a stream.
pub fn winning_bids(
    auctions: &PCollection<(u64, Auction)>,
    bids: &PCollection<(u64, Bid)>,
) -> Result<PCollection<(Auction, Bid)>> {
    let auctions = auctions.apply(
        "AuctionSide",
        Map::new(|(id, a): &(u64, Auction)| (*id, AuctionSide::Auction(a.clone()))),
    )?;
    let bids = bids.apply(
        "BidSide",
        Map::new(|(id, b): &(u64, Bid)| (*id, AuctionSide::Bid(b.clone()))),
    )?;
    PCollectionList::of(vec![auctions, bids])?
        .apply("BothSides", Flatten)?
        .apply("WinningBid", StatefulParDo::of(WinningBid))
}

/// The global window with a running pane every second of processing time and
/// a final one when the stream ends, accumulating.
pub fn running_panes<T: Element>(input: &PCollection<T>) -> Result<PCollection<T>> {
    input.apply(
        "RunningPanes",
        WindowInto::configure().triggering(
            Trigger::after_watermark()
                .with_early_firings(Trigger::after_processing_time(Duration::from_secs(1))),
            AccumulationMode::Accumulating,
            Duration::ZERO,
        ),
    )
}
