//! The Nexmark event generator, as a splittable bounded source.
//!
//! Follows the standard generator's rules: of every 50 events, 1 is a person,
//! 3 are auctions and 46 are bids; event `n` is at `base_time + n /
//! rate` and is a pure function of `n` (its random choices come from a small,
//! fast generator seeded with `n`, Xoshiro256++ on 64-bit targets), so any split of the id range produces the same
//! events. Sellers and bidders are mostly "hot" people (the most recent id
//! rounded down to a multiple of 100) and otherwise one of the last 1000 people;
//! bids go to a hot auction half the time and otherwise to one of the last 100
//! auctions; prices are `10^(6u) * 100` cents for a uniform `u`; categories are
//! 10 to 14.

use super::model::{Auction, Bid, Event, Person};
use beam_core::unbounded::CheckpointMark;
use beam_core::{
    BoundedOutOfOrderness, BoundedSource, PaneInfo, Poll, Result, SourceReader, Timestamp,
    UnboundedReader, UnboundedSource, Window, WindowedValue,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
const TOTAL_PROPORTION: u64 = 50;
const FIRST_PERSON_ID: u64 = 1000;
const FIRST_AUCTION_ID: u64 = 1000;
const FIRST_CATEGORY_ID: u64 = 10;
const NUM_CATEGORIES: u64 = 5;
const HOT_RATIO: u64 = 100;
const ACTIVE_PEOPLE: u64 = 1000;
const IN_FLIGHT_AUCTIONS: u64 = 100;
/// 2015-07-15T00:00:00Z, the standard generator's base time.
const BASE_TIME_MS: i64 = 1_436_918_400_000;

const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];

/// Events `start..end` of a run at `rate` events per second (event time).
#[derive(Clone, Debug)]
pub struct NexmarkSource {
    /// First event number.
    pub start: u64,
    /// One past the last event number.
    pub end: u64,
    /// Events per second of event time.
    pub rate: u64,
}

impl NexmarkSource {
    /// Events `0..events` at `rate` events per second of event time.
    pub fn new(events: u64, rate: u64) -> Self {
        NexmarkSource {
            start: 0,
            end: events,
            rate: rate.max(1),
        }
    }
}

/// Event `n` of a run at `rate` events per second.
pub fn event(n: u64, rate: u64) -> Event {
    let mut rng = SmallRng::seed_from_u64(n);
    let date_time = BASE_TIME_MS + (n as i128 * 1000 / rate.max(1) as i128) as i64;
    let epoch = n / TOTAL_PROPORTION;
    let offset = n % TOTAL_PROPORTION;
    // The newest person and auction ids at this event.
    let last_person = epoch * PERSON_PROPORTION;
    // Auctions among events 0..=n: three per epoch, at offsets 1 to 3.
    let auctions_so_far = epoch * AUCTION_PROPORTION + offset.min(AUCTION_PROPORTION);
    let last_auction = auctions_so_far.saturating_sub(1);
    let recent = |rng: &mut SmallRng, last: u64, window: u64| {
        last - rng.random_range(0..window.min(last + 1))
    };
    let hot_or_recent = |rng: &mut SmallRng, last: u64, hot_one_in: u64, window: u64| {
        if rng.random_range(0..hot_one_in) > 0 {
            (last / HOT_RATIO) * HOT_RATIO
        } else {
            recent(rng, last, window)
        }
    };
    let price = |rng: &mut SmallRng| (10f64.powf(rng.random::<f64>() * 6.0) * 100.0).round() as u64;
    if offset < PERSON_PROPORTION {
        let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
        let card: Vec<String> = (0..4)
            .map(|_| format!("{:04}", rng.random_range(0..10_000)))
            .collect();
        Event::Person(Person {
            id: FIRST_PERSON_ID + last_person,
            name: format!("{first} {last}"),
            email_address: format!("{}@{}.com", first.to_lowercase(), last.to_lowercase()),
            credit_card: card.join(" "),
            city: US_CITIES[rng.random_range(0..US_CITIES.len())].to_string(),
            state: US_STATES[rng.random_range(0..US_STATES.len())].to_string(),
            date_time,
            extra: String::new(),
        })
    } else if offset < PERSON_PROPORTION + AUCTION_PROPORTION {
        let initial_bid = price(&mut rng);
        let seller = FIRST_PERSON_ID + hot_or_recent(&mut rng, last_person, 4, ACTIVE_PEOPLE);
        Event::Auction(Auction {
            id: FIRST_AUCTION_ID + last_auction,
            item_name: format!("item-{}", rng.random_range(0..100_000)),
            description: format!("description-{}", rng.random_range(0..100_000)),
            initial_bid,
            reserve: initial_bid + price(&mut rng),
            date_time,
            expires: date_time + rng.random_range(2_000..20_000),
            seller,
            category: FIRST_CATEGORY_ID + rng.random_range(0..NUM_CATEGORIES),
            extra: String::new(),
        })
    } else {
        let auction =
            FIRST_AUCTION_ID + hot_or_recent(&mut rng, last_auction, 2, IN_FLIGHT_AUCTIONS);
        let bidder = FIRST_PERSON_ID + hot_or_recent(&mut rng, last_person, 4, ACTIVE_PEOPLE);
        let channel = CHANNELS[rng.random_range(0..CHANNELS.len())];
        Event::Bid(Bid {
            auction,
            bidder,
            price: price(&mut rng),
            url: format!(
                "https://www.nexmark.com/{}/item.htm?query=1",
                channel.to_lowercase()
            ),
            channel: channel.to_string(),
            date_time,
            extra: String::new(),
        })
    }
}

struct NexmarkReader {
    next: u64,
    source: NexmarkSource,
}

impl SourceReader<Event> for NexmarkReader {
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<Event>>, max: usize) -> Result<bool> {
        while self.next < self.source.end && out.len() < max {
            let e = event(self.next, self.source.rate);
            let ts = Timestamp::from_millis(e.date_time());
            out.push(WindowedValue::new(
                e,
                ts,
                Window::Global,
                PaneInfo::NO_FIRING,
            ));
            self.next += 1;
        }
        Ok(self.next < self.source.end)
    }
}

/// About the average encoded size of an event, for splitting.
const EVENT_BYTES: u64 = 100;

impl BoundedSource for NexmarkSource {
    type Output = Event;
    fn estimated_size_bytes(&self) -> Result<u64> {
        Ok((self.end - self.start) * EVENT_BYTES)
    }
    fn split(&self, desired: u64) -> Result<Vec<Self>> {
        let step = (desired / EVENT_BYTES).max(1);
        Ok((self.start..self.end)
            .step_by(step as usize)
            .map(|s| NexmarkSource {
                start: s,
                end: (s + step).min(self.end),
                rate: self.rate,
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<Event>>> {
        Ok(Box::new(NexmarkReader {
            next: self.start,
            source: self.clone(),
        }))
    }
    fn describe(&self) -> String {
        format!(
            "Nexmark events {}..{} at {}/s",
            self.start, self.end, self.rate
        )
    }
}

/// Events `0..events` emitted at `rate` events per second of wall time, as an
/// unbounded source: event `n` is due `n / rate` seconds after `start_micros`
/// (wall clock) and its event time is `n / rate` seconds after the standard
/// base time, so event time keeps pace with the wall clock. A split reads
/// every `stride`-th event; each reader's watermark is the latest event time
/// it emitted (the events of a reader are in order).
#[derive(Clone, Debug)]
pub struct NexmarkStream {
    /// Number of events.
    pub events: u64,
    /// Events per second of wall time (and of event time).
    pub rate: u64,
    /// Wall-clock start of the run, microseconds since the epoch.
    pub start_micros: i64,
    first: u64,
    stride: u64,
}

impl NexmarkStream {
    /// `events` events at `rate` per second, starting at `start_micros` (wall clock).
    pub fn new(events: u64, rate: u64, start_micros: i64) -> Self {
        NexmarkStream {
            events,
            rate: rate.max(1),
            start_micros,
            first: 0,
            stride: 1,
        }
    }

    /// The wall-clock time (µs since the epoch) at which an event time is due.
    pub fn due_micros(&self, event_time: Timestamp) -> i64 {
        self.start_micros
            .saturating_add(event_time.as_micros().saturating_sub(BASE_TIME_MS * 1000))
    }
}

struct StreamReader {
    source: NexmarkStream,
    next: u64,
    watermark: BoundedOutOfOrderness,
}

impl UnboundedReader<Event> for StreamReader {
    fn poll(&mut self, out: &mut Vec<WindowedValue<Event>>, max: usize) -> Result<Poll> {
        let s = &self.source;
        let now = Timestamp::wall_clock().as_micros();
        while self.next < s.events && out.len() < max {
            let due = s.start_micros + (self.next as i128 * 1_000_000 / s.rate as i128) as i64;
            if due > now {
                return Ok(Poll::Pending(std::time::Duration::from_micros(
                    (due - now) as u64,
                )));
            }
            let e = event(self.next, s.rate);
            let ts = Timestamp::from_millis(e.date_time());
            self.watermark.observe(ts);
            out.push(WindowedValue::new(
                e,
                ts,
                Window::Global,
                PaneInfo::NO_FIRING,
            ));
            self.next += s.stride;
        }
        Ok(if self.next >= s.events {
            Poll::Finished
        } else {
            Poll::Ready
        })
    }
    fn watermark(&self) -> Timestamp {
        self.watermark.watermark()
    }
    /// The events of this split already due on the wall clock and not read yet.
    fn backlog(&self) -> Vec<beam_core::unbounded::SourceBacklog> {
        let s = &self.source;
        let elapsed = (Timestamp::wall_clock().as_micros() - s.start_micros).max(0) as i128;
        let due = ((elapsed * s.rate as i128 / 1_000_000) as u64 + 1).min(s.events);
        // Events first, first + stride, ... below `due`, from `next` on.
        let due_here = |n: u64| n.saturating_sub(s.first).div_ceil(s.stride);
        let left = due_here(due).saturating_sub(due_here(self.next));
        vec![beam_core::unbounded::SourceBacklog::records(
            format!("split {}", s.first),
            left,
        )]
    }
    fn checkpoint_mark(&self) -> Option<CheckpointMark> {
        let mark = (self.next, self.watermark.latest_observed());
        beam_core::coder::encode_to_vec(&mark)
            .ok()
            .map(CheckpointMark)
    }
}

impl UnboundedSource for NexmarkStream {
    type Output = Event;
    fn split(&self, desired: usize) -> Result<Vec<Self>> {
        let k = desired.max(1) as u64 * self.stride;
        Ok((0..desired.max(1) as u64)
            .map(|i| NexmarkStream {
                first: self.first + i * self.stride,
                stride: k,
                ..self.clone()
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<Event>>> {
        Ok(Box::new(StreamReader {
            source: self.clone(),
            next: self.first,
            watermark: BoundedOutOfOrderness::new(beam_core::Duration::ZERO),
        }))
    }
    fn can_resume(&self) -> bool {
        true
    }
    fn resume(&self, mark: &CheckpointMark) -> Result<Box<dyn UnboundedReader<Event>>> {
        let bad = |why: String| {
            beam_core::BeamError::Runner(format!("{}: bad checkpoint mark: {why}", self.describe()))
        };
        let (next, latest): (u64, Option<Timestamp>) =
            beam_core::coder::decode(&mark.0).map_err(bad)?;
        if next < self.first || !(next - self.first).is_multiple_of(self.stride) {
            return Err(bad(format!("event {next} is not read by this split")));
        }
        let mut watermark = BoundedOutOfOrderness::new(beam_core::Duration::ZERO);
        if let Some(t) = latest {
            watermark.observe(t);
        }
        Ok(Box::new(StreamReader {
            source: self.clone(),
            next,
            watermark,
        }))
    }
    fn describe(&self) -> String {
        format!(
            "Nexmark stream of {} events at {}/s",
            self.events, self.rate
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_split_knows_the_events_due_and_not_read() {
        // Started an hour ago: all 1000 events are due; each split has 500.
        let start = Timestamp::wall_clock().as_micros() - 3_600_000_000;
        let splits = NexmarkStream::new(1000, 100, start).split(2).unwrap();
        let mut reader = splits[1].reader().unwrap();
        let left = |r: &dyn UnboundedReader<Event>| r.backlog()[0].records;
        assert_eq!(left(reader.as_ref()), Some(500));
        let mut out = Vec::new();
        reader.poll(&mut out, 120).unwrap();
        assert_eq!(left(reader.as_ref()), Some(380));
        // Started just now at 1 event per second: only event 0 is due.
        let now = NexmarkStream::new(1000, 1, Timestamp::wall_clock().as_micros());
        assert_eq!(left(now.reader().unwrap().as_ref()), Some(1));
    }

    #[test]
    fn a_stream_split_resumes_from_its_checkpoint_mark() {
        // Started an hour ago: every event is due, nothing waits.
        let start = Timestamp::wall_clock().as_micros() - 3_600_000_000;
        let split = NexmarkStream::new(500, 1000, start)
            .split(2)
            .unwrap()
            .remove(1);
        let read_all = |r: &mut Box<dyn UnboundedReader<Event>>, out: &mut Vec<_>| {
            while r.poll(out, 1000).unwrap() != Poll::Finished {}
        };
        let mut straight = Vec::new();
        read_all(&mut split.reader().unwrap(), &mut straight);
        let mut reader = split.reader().unwrap();
        let mut first = Vec::new();
        reader.poll(&mut first, 100).unwrap();
        let mark = reader.checkpoint_mark().expect("a mark");
        let mut resumed = split.resume(&mark).unwrap();
        assert_eq!(resumed.watermark(), reader.watermark());
        read_all(&mut resumed, &mut first);
        assert_eq!(first.len(), 250);
        assert!(first.iter().zip(&straight).all(|(a, b)| a.value == b.value));
        let other = NexmarkStream::new(500, 1000, start)
            .split(2)
            .unwrap()
            .remove(0);
        assert!(
            other.resume(&mark).is_err(),
            "a mark of another split is refused"
        );
    }

    #[test]
    fn proportions_ids_and_times_follow_the_standard_generator() {
        let events: Vec<Event> = (0..5000).map(|n| event(n, 10_000)).collect();
        let count = |f: fn(&Event) -> bool| events.iter().filter(|e| f(e)).count();
        assert_eq!(count(|e| matches!(e, Event::Person(_))), 100);
        assert_eq!(count(|e| matches!(e, Event::Auction(_))), 300);
        assert_eq!(count(|e| matches!(e, Event::Bid(_))), 4600);
        // Ids are dense and increasing; bids and auctions refer to existing ones.
        let persons: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Person(p) => Some(p.id),
                _ => None,
            })
            .collect();
        assert_eq!(persons, (1000..1100).collect::<Vec<_>>());
        let auctions: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                Event::Auction(a) => Some(a.id),
                _ => None,
            })
            .collect();
        assert_eq!(auctions, (1000..1300).collect::<Vec<_>>());
        let mut max_auction = 0;
        for e in &events {
            match e {
                Event::Auction(a) => {
                    max_auction = a.id;
                    assert!(
                        (10..15).contains(&a.category)
                            && a.seller <= 1099
                            && a.reserve > a.initial_bid
                    );
                }
                Event::Bid(b) => assert!(b.auction <= max_auction.max(1000) && b.bidder <= 1099),
                Event::Person(_) => {}
            }
        }
        // 10 000 events per second: event 10 000 is one second after event 0.
        assert_eq!(
            event(10_000, 10_000).date_time() - event(0, 10_000).date_time(),
            1000
        );
        // Pure in the event number.
        assert_eq!(event(777, 10_000), event(777, 10_000));
    }
}
