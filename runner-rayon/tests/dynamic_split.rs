//! Dynamic work rebalancing on the rayon runner: a source that does not split up
//! front, but whose running reader can give up its unread rest, is read by every
//! worker, and every element exactly once.

use beam_core::source::{erase, ErasedSource};
use beam_core::testing::PAssert;
use beam_core::{
    BoundedSource, Count, DynamicSplit, Pipeline, PipelineOptions, Read, Result, SourceReader, Sum,
    WindowedValue,
};
use runner_rayon as _;
use std::sync::{Arc, Mutex};

/// The numbers `start..end`, as one piece up front.
#[derive(Clone)]
struct Numbers {
    start: u64,
    end: u64,
}

/// The reader's position and end, shared with its split handle.
struct Range {
    next: u64,
    end: u64,
}

struct NumbersReader(Arc<Mutex<Range>>);

struct NumbersSplit(Arc<Mutex<Range>>);

impl SourceReader<u64> for NumbersReader {
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<u64>>, max: usize) -> Result<bool> {
        while out.len() < max {
            // Slow enough that idle workers get to split.
            std::thread::sleep(std::time::Duration::from_micros(20));
            let mut r = self.0.lock().unwrap();
            if r.next >= r.end {
                return Ok(false);
            }
            out.push(WindowedValue::in_global_window(r.next));
            r.next += 1;
        }
        Ok(true)
    }
    fn dynamic_split(&self) -> Option<Arc<dyn DynamicSplit>> {
        Some(Arc::new(NumbersSplit(self.0.clone())))
    }
}

impl DynamicSplit for NumbersSplit {
    fn remaining(&self) -> u64 {
        let r = self.0.lock().unwrap();
        r.end.saturating_sub(r.next)
    }
    fn split_remaining(&self, keep: f64) -> Option<Arc<dyn ErasedSource>> {
        let mut r = self.0.lock().unwrap();
        let left = r.end.saturating_sub(r.next);
        if left < 100 {
            return None;
        }
        let at = r.next + (left as f64 * keep) as u64;
        let end = std::mem::replace(&mut r.end, at);
        Some(erase(Numbers { start: at, end }))
    }
}

impl BoundedSource for Numbers {
    type Output = u64;
    fn estimated_size_bytes(&self) -> Result<u64> {
        Ok((self.end - self.start) * 8)
    }
    fn split(&self, _desired: u64) -> Result<Vec<Self>> {
        Ok(vec![self.clone()])
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<u64>>> {
        Ok(Box::new(NumbersReader(Arc::new(Mutex::new(Range {
            next: self.start,
            end: self.end,
        })))))
    }
    fn describe(&self) -> String {
        format!("Numbers({}..{})", self.start, self.end)
    }
}

#[test]
fn idle_workers_split_a_running_reader_and_every_element_is_read_once() {
    let n = 20_000u64;
    let mut options = PipelineOptions::default().with_runner("rayon");
    options.parallelism = Some(4);
    let p = Pipeline::new(options);
    let numbers = p
        .apply("Numbers", Read::from(Numbers { start: 0, end: n }))
        .unwrap();
    let sum = numbers.apply("Sum", Sum::globally()).unwrap();
    let count = numbers.apply("Count", Count::per_element()).unwrap();
    PAssert::that(&sum)
        .contains_in_any_order(vec![n * (n - 1) / 2])
        .unwrap();
    PAssert::that(&count)
        .satisfies(move |counts: &[(u64, u64)]| {
            assert_eq!(counts.len() as u64, n);
            assert!(counts.iter().all(|(_, c)| *c == 1), "an element read twice");
        })
        .unwrap();
    let result = p.run().unwrap();
    let splits = result
        .metrics()
        .counter("Numbers", "dynamic_splits")
        .unwrap_or(0);
    assert!(
        splits >= 3,
        "idle workers should have split the one reader: {splits} splits"
    );
}
