//! Nexmark queries 0 to 8, 11 and 12, written once against beam-core; each
//! returns its results as JSON lines.

use super::model::{Auction, Bid, Event, Person};
use super::streaming;
use crate::records::FormatInWindow;
use beam_core::{
    AccumulationMode, CoGbkResult, CoGroupByKey, Combine, CombineFn, Count, Duration, FlatMap,
    GroupByKey, KeyedPCollectionTuple, Map, Max, Mean, PCollection, ParDo, Result, Trigger,
    TupleTag, Window, WindowFn, WindowInto,
};

/// One JSON object with these fields in this order, as a line of text: values
/// are written by serde_json (numbers as they are, strings escaped) straight
/// into the line, with no intermediate `serde_json::Value`.
macro_rules! json_line {
    ({ $($k:literal : $v:expr),* $(,)? }) => {{
        let mut out: Vec<u8> = Vec::with_capacity(128);
        out.push(b'{');
        $(
            if out.len() > 1 {
                out.push(b',');
            }
            out.push(b'"');
            out.extend_from_slice($k.as_bytes());
            out.extend_from_slice(b"\":");
            // Numbers and strings always serialize (non-finite floats as null).
            let _ = serde_json::to_writer(&mut out, &$v);
        )*
        out.push(b'}');
        String::from_utf8(out).unwrap_or_default()
    }};
}

/// The queries this suite runs.
pub const QUERIES: [u32; 11] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 11, 12];

/// What a query takes from each event (a kind of event, or just the fields it
/// needs), without an intermediate collection per element.
#[derive(Clone)]
struct FromEvents<T>(fn(&Event) -> Option<T>);

impl<T: beam_core::Element> beam_core::DoFn for FromEvents<T> {
    type In = Event;
    type Out = T;
    fn process(
        &mut self,
        e: &Event,
        ctx: &mut beam_core::ProcessContext<'_, T>,
    ) -> beam_core::UserResult {
        if let Some(x) = (self.0)(e) {
            ctx.output(x);
        }
        Ok(())
    }
}

/// The auctions with the highest bid count: the count and those auctions,
/// combined per bundle before the exchange (as Beam's Nexmark q5 does with a
/// combine across the window). The output is sorted by auction id.
#[derive(Clone)]
struct HottestAuctions;

impl CombineFn for HottestAuctions {
    type Input = (u64, u64);
    type Accum = (u64, Vec<u64>);
    type Output = Vec<(u64, u64)>;
    fn create_accumulator(&self) -> (u64, Vec<u64>) {
        (0, Vec::new())
    }
    fn add_input(&self, acc: &mut (u64, Vec<u64>), (auction, count): (u64, u64)) {
        if count > acc.0 {
            acc.0 = count;
            acc.1.clear();
        }
        if count == acc.0 {
            acc.1.push(auction);
        }
    }
    fn merge_accumulators(&self, acc: &mut (u64, Vec<u64>), other: (u64, Vec<u64>)) {
        if other.0 > acc.0 {
            *acc = other;
        } else if other.0 == acc.0 {
            acc.1.extend(other.1);
        }
    }
    fn extract_output(&self, (count, mut auctions): (u64, Vec<u64>)) -> Vec<(u64, u64)> {
        auctions.sort_unstable();
        auctions.into_iter().map(|a| (a, count)).collect()
    }
}

fn bids(events: &PCollection<Event>) -> Result<PCollection<Bid>> {
    events.apply(
        "Bids",
        ParDo::of(FromEvents(|e| match e {
            Event::Bid(b) => Some(b.clone()),
            _ => None,
        })),
    )
}

fn persons(events: &PCollection<Event>) -> Result<PCollection<Person>> {
    events.apply(
        "Persons",
        ParDo::of(FromEvents(|e| match e {
            Event::Person(p) => Some(p.clone()),
            _ => None,
        })),
    )
}

fn auctions(events: &PCollection<Event>) -> Result<PCollection<Auction>> {
    events.apply(
        "Auctions",
        ParDo::of(FromEvents(|e| match e {
            Event::Auction(a) => Some(a.clone()),
            _ => None,
        })),
    )
}

/// The end of a window, in milliseconds since the epoch.
fn window_end(w: &Window) -> i64 {
    match w {
        Window::Global => i64::MAX,
        Window::Interval(iw) => iw.end.as_millis(),
    }
}

fn lines<T: beam_core::Element>(
    pcoll: &PCollection<T>,
    f: impl Fn(&T, &Window) -> String + Clone + Send + Sync + 'static,
) -> Result<PCollection<String>> {
    pcoll.apply(
        "Json",
        ParDo::of(FormatInWindow(
            move |x: &T, w: &Window| f(x, w),
            std::marker::PhantomData,
        )),
    )
}

/// The winning bid of each closed auction: the highest bid (ties: earliest,
/// then lowest bidder) at or above the reserve, placed while the auction was open.
/// Each auction with its winning bid (a stream's once the auction expired);
/// for a stream, in the global window with running panes (see [`streaming`]).
fn winning_bids(events: &PCollection<Event>) -> Result<PCollection<(Auction, Bid)>> {
    let by_id =
        auctions(events)?.apply("AuctionById", Map::new(|a: &Auction| (a.id, a.clone())))?;
    let by_auction =
        bids(events)?.apply("BidByAuction", Map::new(|b: &Bid| (b.auction, b.clone())))?;
    if !events.is_bounded() {
        let winners = streaming::winning_bids(&by_id, &by_auction)?;
        return streaming::running_panes(&winners);
    }
    let (ta, tb) = (
        TupleTag::<Auction>::new("auction"),
        TupleTag::<Bid>::new("bid"),
    );
    let (ta2, tb2) = (ta.clone(), tb.clone());
    KeyedPCollectionTuple::of(&ta, &by_id)
        .and(&tb, &by_auction)
        .apply("JoinBids", CoGroupByKey)?
        .apply(
            "Winner",
            FlatMap::new(move |(_, r): &(u64, CoGbkResult)| {
                let Ok(Some(a)) = r.get_only(&ta2) else {
                    return vec![];
                };
                let best = r
                    .get(&tb2)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|b| {
                        b.price >= a.reserve
                            && b.date_time >= a.date_time
                            && b.date_time < a.expires
                    })
                    .max_by(|x, y| {
                        (
                            x.price,
                            std::cmp::Reverse(x.date_time),
                            std::cmp::Reverse(x.bidder),
                        )
                            .cmp(&(
                                y.price,
                                std::cmp::Reverse(y.date_time),
                                std::cmp::Reverse(y.bidder),
                            ))
                    });
                best.map(|b| (a, b)).into_iter().collect()
            }),
        )
}

/// A bid ranked for query 7: price, then earliest, then lowest auction and bidder.
type RankedBid = (u64, i64, std::cmp::Reverse<u64>, std::cmp::Reverse<u64>);

/// Query `q` over `events`, as JSON lines.
pub fn query(q: u32, events: &PCollection<Event>) -> Result<PCollection<String>> {
    let secs = Duration::from_secs;
    match q {
        // Pass-through.
        0 => lines(events, |e: &Event, _| {
            serde_json::to_string(e).unwrap_or_default()
        }),
        // Currency conversion: bid prices in euros.
        1 => lines(
            &bids(events)?,
            |b: &Bid, _| json_line!({"auction": b.auction, "bidder": b.bidder, "price": b.price * 89 / 100, "date_time": b.date_time}),
        ),
        // Selection: bids on every 123rd auction.
        2 => {
            let chosen = bids(events)?.apply(
                "Every123rd",
                FlatMap::new(|b: &Bid| {
                    if b.auction.is_multiple_of(123) {
                        vec![(b.auction, b.price)]
                    } else {
                        vec![]
                    }
                }),
            )?;
            lines(
                &chosen,
                |(a, p): &(u64, u64), _| json_line!({"auction": a, "price": p}),
            )
        }
        // Local item suggestion: sellers in OR, ID or CA of auctions in category 10.
        3 => {
            let people = persons(events)?.apply(
                "InStates",
                FlatMap::new(|p: &Person| {
                    if ["OR", "ID", "CA"].contains(&p.state.as_str()) {
                        vec![(p.id, p.clone())]
                    } else {
                        vec![]
                    }
                }),
            )?;
            let items = auctions(events)?.apply(
                "Category10",
                FlatMap::new(|a: &Auction| {
                    if a.category == 10 {
                        vec![(a.seller, a.id)]
                    } else {
                        vec![]
                    }
                }),
            )?;
            let joined = if events.is_bounded() {
                let (tp, ta) = (
                    TupleTag::<Person>::new("person"),
                    TupleTag::<u64>::new("auction"),
                );
                let (tp2, ta2) = (tp.clone(), ta.clone());
                KeyedPCollectionTuple::of(&tp, &people)
                    .and(&ta, &items)
                    .apply("JoinSellers", CoGroupByKey)?
                    .apply(
                        "Pairs",
                        FlatMap::new(move |(_, r): &(u64, CoGbkResult)| {
                            let Ok(Some(p)) = r.get_only(&tp2) else {
                                return vec![];
                            };
                            let ids = r.get(&ta2).unwrap_or_default();
                            ids.into_iter()
                                .map(|id| (p.name.clone(), p.city.clone(), p.state.clone(), id))
                                .collect()
                        }),
                    )?
            } else {
                streaming::join_sellers(&people, &items)?
            };
            lines(
                &joined,
                |(n, c, s, id): &(String, String, String, u64), _| json_line!({"name": n, "city": c, "state": s, "auction": id}),
            )
        }
        // Average winning price per category.
        4 => {
            let avg = winning_bids(events)?
                .apply(
                    "ByCategory",
                    Map::new(|(a, b): &(Auction, Bid)| (a.category, b.price)),
                )?
                .apply("Average", Mean::per_key())?;
            lines(
                &avg,
                |(c, p): &(u64, f64), _| json_line!({"category": c, "average_price": p}),
            )
        }
        // Hot items: the auctions with the most bids in each 10 s window sliding by 5 s.
        5 => {
            let counts = events
                .apply(
                    "BidAuctions",
                    ParDo::of(FromEvents(|e| match e {
                        Event::Bid(b) => Some(b.auction),
                        _ => None,
                    })),
                )?
                .apply(
                    "Window",
                    WindowInto::new(WindowFn::sliding(secs(10), secs(5))),
                )?
                .apply("Count", Count::per_element())?
                .apply(
                    "Hottest",
                    Combine::globally(HottestAuctions).without_defaults(),
                )?
                .apply("Each", FlatMap::new(|top: &Vec<(u64, u64)>| top.clone()))?;
            lines(
                &counts,
                |(a, n): &(u64, u64), w| json_line!({"auction": a, "count": n, "window_end": window_end(w)}),
            )
        }
        // Average selling price of each seller's last 10 closed auctions.
        6 => {
            let per_seller = winning_bids(events)?
                .apply(
                    "BySeller",
                    Map::new(|(a, b): &(Auction, Bid)| (a.seller, (a.expires, a.id, b.price))),
                )?
                .apply("GroupBySeller", GroupByKey::new())?
                .apply(
                    "Last10",
                    Map::new(|(s, v): &(u64, Vec<(i64, u64, u64)>)| {
                        let mut v = v.clone();
                        v.sort();
                        let last: Vec<u64> = v.iter().rev().take(10).map(|x| x.2).collect();
                        (*s, last.iter().sum::<u64>() as f64 / last.len() as f64)
                    }),
                )?;
            lines(
                &per_seller,
                |(s, p): &(u64, f64), _| json_line!({"seller": s, "average_price": p}),
            )
        }
        // Highest bid in each 10 s window (ties: the earliest, then lowest auction and bidder).
        7 => {
            let best = events
                .apply(
                    "RankBids",
                    ParDo::of(FromEvents(|e| match e {
                        Event::Bid(b) => Some((
                            (),
                            (
                                b.price,
                                -b.date_time,
                                std::cmp::Reverse(b.auction),
                                std::cmp::Reverse(b.bidder),
                            ),
                        )),
                        _ => None,
                    })),
                )?
                .apply("Window", WindowInto::new(WindowFn::fixed(secs(10))))?
                .apply("Max", Max::per_key())?;
            lines(
                &best,
                |(_, (p, t, a, b)): &((), RankedBid), w| json_line!({"auction": a.0, "bidder": b.0, "price": p, "date_time": -t, "window_end": window_end(w)}),
            )
        }
        // New users: people who opened an auction in the 10 s window they registered in.
        8 => {
            let people = persons(events)?
                .apply("PersonWindow", WindowInto::new(WindowFn::fixed(secs(10))))?
                .apply("PersonById", Map::new(|p: &Person| (p.id, p.name.clone())))?;
            let sellers = auctions(events)?
                .apply("AuctionWindow", WindowInto::new(WindowFn::fixed(secs(10))))?
                .apply("BySeller", Map::new(|a: &Auction| (a.seller, a.reserve)))?;
            let (tp, ta) = (
                TupleTag::<String>::new("person"),
                TupleTag::<u64>::new("reserve"),
            );
            let (tp2, ta2) = (tp.clone(), ta.clone());
            let joined = KeyedPCollectionTuple::of(&tp, &people)
                .and(&ta, &sellers)
                .apply("JoinNewSellers", CoGroupByKey)?
                .apply(
                    "NewSellers",
                    FlatMap::new(move |(id, r): &(u64, CoGbkResult)| {
                        let Ok(Some(name)) = r.get_only(&tp2) else {
                            return vec![];
                        };
                        let mut reserves = r.get(&ta2).unwrap_or_default();
                        reserves.sort();
                        reserves
                            .into_iter()
                            .map(|res| (*id, name.clone(), res))
                            .collect()
                    }),
                )?;
            lines(
                &joined,
                |(id, n, r): &(u64, String, u64), w| json_line!({"id": id, "name": n, "reserve": r, "window_end": window_end(w)}),
            )
        }
        // User sessions: bids per bidder per session (10 s gap).
        11 => {
            let sessions = bids(events)?
                .apply("Sessions", WindowInto::new(WindowFn::sessions(secs(10))))?
                .apply("ByBidder", Map::new(|b: &Bid| b.bidder))?
                .apply("Count", Count::per_element())?;
            lines(
                &sessions,
                |(b, n): &(u64, u64), w| json_line!({"bidder": b, "bids": n, "window_end": window_end(w)}),
            )
        }
        // Processing-time windows: bids per bidder, a pane every 10 s of processing time.
        12 => {
            let counts = bids(events)?
                .apply(
                    "ProcessingTimeWindows",
                    WindowInto::configure().triggering(
                        Trigger::repeatedly(Trigger::after_processing_time(secs(10))),
                        AccumulationMode::Discarding,
                        Duration::ZERO,
                    ),
                )?
                .apply("ByBidder", Map::new(|b: &Bid| b.bidder))?
                .apply("Count", Count::per_element())?;
            lines(
                &counts,
                |(b, n): &(u64, u64), _| json_line!({"bidder": b, "bids": n}),
            )
        }
        other => Err(beam_core::BeamError::Options(format!(
            "--query {other}: Nexmark queries here are {QUERIES:?}"
        ))),
    }
}
