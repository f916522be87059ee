//! Event time in a bounded read: timestamps given as elements are read, and
//! a watermark that follows them at a declared out-of-orderness bound, so
//! that windows close while the input is read (as Flink's file source with a
//! bounded-out-of-orderness watermark strategy). The windows hold exactly
//! what they hold without the watermark; an element further out of order
//! than declared fails the run, naming it.

use crate::scenario;
use crate::scenarios::common::{collect, panes};
use beam_core::{
    BoundedSource, DoFn, Duration, Map, ParDo, ProcessContext, Read, Result, SourceReader, Sum,
    Timestamp, UserResult, WindowFn, WindowInto, WindowedValue,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The numbers `start..end`, in order, 100 to a bundle; counts what its
/// readers read. A paced source takes 50 µs a bundle, as parsing would, so
/// that reading is slow next to a runner's passing of watermarks.
#[derive(Clone)]
struct Numbers {
    start: u64,
    end: u64,
    splittable: bool,
    paced: bool,
    read: Arc<AtomicU64>,
}

struct NumbersReader {
    next: u64,
    end: u64,
    paced: bool,
    read: Arc<AtomicU64>,
}

impl SourceReader<u64> for NumbersReader {
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<u64>>, max: usize) -> Result<bool> {
        if self.paced {
            std::thread::sleep(std::time::Duration::from_micros(50));
        }
        while self.next < self.end && out.len() < max {
            out.push(WindowedValue::in_global_window(self.next));
            self.next += 1;
            self.read.fetch_add(1, Ordering::SeqCst);
        }
        Ok(self.next < self.end)
    }
    fn max_bundle_elements(&self) -> usize {
        100
    }
}

impl BoundedSource for Numbers {
    type Output = u64;
    fn estimated_size_bytes(&self) -> Result<u64> {
        Ok((self.end - self.start) * 8)
    }
    fn split(&self, desired: u64) -> Result<Vec<Self>> {
        if !self.splittable {
            return Ok(vec![self.clone()]);
        }
        let step = (desired / 8).max(1);
        Ok((self.start..self.end)
            .step_by(step as usize)
            .map(|s| Numbers {
                start: s,
                end: (s + step).min(self.end),
                ..self.clone()
            })
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<u64>>> {
        Ok(Box::new(NumbersReader {
            next: self.start,
            end: self.end,
            paced: self.paced,
            read: self.read.clone(),
        }))
    }
    fn describe(&self) -> String {
        format!("Numbers({}..{})", self.start, self.end)
    }
}

/// Number `i` happens about `i` hundredths of a second in, up to 490 ms
/// late: never more than 500 ms before a number read before it.
fn time_of(i: u64) -> Timestamp {
    Timestamp::from_millis((i * 10 + (i * 7919 % 50) * 10) as i64)
}

const BOUND: Duration = Duration::from_millis(500);

fn key_of(i: u64) -> String {
    format!("k{}", i % 3)
}

/// Every `(key, window start in ms, count)` of numbers `0..n` in `windows`,
/// computed directly.
fn expected(n: u64, windows: &WindowFn) -> Vec<(String, i64, i64)> {
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..n {
        windows.assign(time_of(i), |w| {
            let start = w.as_interval().expect("interval windows").start.as_millis();
            *counts.entry((key_of(i), start)).or_insert(0i64) += 1;
        });
    }
    counts.into_iter().map(|((k, s), c)| (k, s, c)).collect()
}

/// Reads numbers `0..n` with their event times and the watermark bound,
/// counts them per key in `windows`, and gives what the runner read when
/// each count came out.
#[derive(Clone)]
struct NoteRead {
    read: Arc<AtomicU64>,
    seen: Arc<Mutex<Vec<u64>>>,
}

impl DoFn for NoteRead {
    type In = (String, i64);
    type Out = (String, i64);
    fn process(
        &mut self,
        x: &(String, i64),
        ctx: &mut ProcessContext<'_, (String, i64)>,
    ) -> UserResult {
        self.seen
            .lock()
            .map_err(|e| beam_core::UserError::msg(e.to_string()))?
            .push(self.read.load(Ordering::SeqCst));
        ctx.output(x.clone());
        Ok(())
    }
}

struct Counted {
    counts: Vec<(String, i64, i64)>,
    read_at_output: Vec<u64>,
}

fn count_in_windows(env: &crate::Env, n: u64, windows: WindowFn, paced: bool) -> Counted {
    let read = Arc::new(AtomicU64::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let p = env.pipeline();
    let numbers = p
        .apply(
            "Read",
            Read::from(Numbers {
                start: 0,
                end: n,
                splittable: true,
                paced,
                read: read.clone(),
            })
            .with_timestamps(|i| time_of(*i))
            .with_bounded_out_of_orderness(BOUND),
        )
        .unwrap();
    let counts = numbers
        .apply("Key", Map::new(|i: &u64| (key_of(*i), 1i64)))
        .unwrap()
        .apply("Window", WindowInto::new(windows))
        .unwrap()
        .apply("Count", Sum::per_key())
        .unwrap()
        .apply(
            "NoteRead",
            ParDo::of(NoteRead {
                read,
                seen: seen.clone(),
            }),
        )
        .unwrap();
    let got = collect(&counts, "Out");
    p.run().unwrap();
    let mut counts: Vec<_> = panes(&got)
        .into_iter()
        .map(|wv| {
            let start = wv.window.as_interval().expect("interval windows").start;
            (wv.value.0, start.as_millis(), wv.value.1)
        })
        .collect();
    counts.sort();
    let read_at_output = seen.lock().unwrap().clone();
    Counted {
        counts,
        read_at_output,
    }
}

// Flink's bounded-out-of-orderness watermark on a file source; in Beam a
// bounded read with a watermark estimator. With the watermark following the
// event times read, every window holds what the read without it gives: no
// element is behind the watermark when it arrives.
scenario!(
    read_with_an_event_time_watermark_counts_every_element,
    area = "Windowing",
    features = [],
    beam = "WatermarkEstimators (bounded reads with event-time watermarks); Flink WatermarkStrategy.forBoundedOutOfOrderness",
    replay = true,
    |env| {
        for windows in [
            WindowFn::fixed(Duration::from_secs(1)),
            WindowFn::sliding(Duration::from_secs(2), Duration::from_millis(500)),
        ] {
            let got = count_in_windows(env, 3000, windows.clone(), false);
            assert_eq!(got.counts, expected(3000, &windows), "{windows:?}");
        }
    }
);

// The point of the watermark: windows are emitted while the input is read,
// so their state does not wait for the end of a large file.
scenario!(
    read_with_an_event_time_watermark_closes_windows_while_it_reads,
    area = "Windowing",
    features = [ReadWatermarks],
    beam = "Flink FileSource with WatermarkStrategy.forBoundedOutOfOrderness",
    replay = false,
    |env| {
        let n = 100_000;
        let windows = WindowFn::fixed(Duration::from_secs(1));
        let got = count_in_windows(env, n, windows.clone(), true);
        assert_eq!(got.counts, expected(n, &windows));
        let first = got.read_at_output.iter().min().copied().unwrap_or(n);
        assert!(
            first < n / 2,
            "the first window came out after {first} of {n} elements were read"
        );
    }
);

// An element further out of order than the read declares would arrive behind
// a watermark that already passed it; the run fails and names it instead.
scenario!(
    read_out_of_its_declared_event_time_order_fails,
    area = "Windowing",
    features = [],
    beam = "(no Beam counterpart: Flink drops such elements as late)",
    replay = false,
    |env| {
        let p = env.pipeline();
        let numbers = p
            .apply(
                "Read",
                Read::from(Numbers {
                    start: 0,
                    end: 1000,
                    splittable: false,
                    paced: false,
                    read: Arc::new(AtomicU64::new(0)),
                })
                .with_timestamps(|i| {
                    if *i == 777 {
                        Timestamp::EPOCH
                    } else {
                        time_of(*i)
                    }
                })
                .with_bounded_out_of_orderness(BOUND),
            )
            .unwrap();
        numbers
            .apply("Key", Map::new(|i: &u64| (key_of(*i), 1i64)))
            .unwrap()
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(1))),
            )
            .unwrap()
            .apply("Count", Sum::per_key())
            .unwrap();
        let e = p.run().expect_err("the run fails").to_string();
        assert!(
            e.contains("'Read'") && e.contains("out of event-time order") && e.contains("777"),
            "{e}"
        );
    }
);
