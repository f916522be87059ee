//! Unbounded sources on the timely (and direct) runner: readers' watermarks close windows;
//! an idle reader does not hold them back; the run ends when every reader has
//! finished.

use beam_core::testing::PAssert;
use beam_core::{
    BoundedOutOfOrderness, Duration, PaneInfo, Pipeline, PipelineOptions, Poll, ReadUnbounded,
    Result, Sum, Timestamp, UnboundedReader, UnboundedSource, Window, WindowFn, WindowInto,
    WindowedValue,
};
use runner_direct as _;
use runner_rayon as _;
use runner_timely as _;

/// Split 0 emits `(key, 1)` at seconds 0..30, two per second, slightly out of
/// order; split 1 emits nothing for a while (idle), then finishes.
#[derive(Clone)]
struct Ticks {
    split: Option<usize>,
}

struct TickReader {
    split: usize,
    next: u64,
    opened: std::time::Instant,
    watermark: BoundedOutOfOrderness,
}

impl UnboundedReader<(String, u64)> for TickReader {
    fn poll(&mut self, out: &mut Vec<WindowedValue<(String, u64)>>, max: usize) -> Result<Poll> {
        if self.split == 1 {
            return Ok(
                if self.opened.elapsed() > std::time::Duration::from_millis(300) {
                    Poll::Finished
                } else {
                    Poll::Pending(std::time::Duration::from_millis(5))
                },
            );
        }
        while self.next < 60 && out.len() < max.min(4) {
            // Pairs swapped: 1, 0, 3, 2, ... half-seconds.
            let half = self.next ^ 1;
            let ts = Timestamp::from_millis(half as i64 * 500);
            self.watermark.observe(ts);
            out.push(WindowedValue::new(
                ("k".to_string(), 1),
                ts,
                Window::Global,
                PaneInfo::NO_FIRING,
            ));
            self.next += 1;
        }
        Ok(if self.next >= 60 {
            Poll::Finished
        } else {
            Poll::Ready
        })
    }
    fn watermark(&self) -> Timestamp {
        self.watermark.watermark()
    }
    fn is_idle(&self) -> bool {
        self.watermark.is_idle()
    }
}

impl UnboundedSource for Ticks {
    type Output = (String, u64);
    fn split(&self, _desired: usize) -> Result<Vec<Self>> {
        Ok(vec![Ticks { split: Some(0) }, Ticks { split: Some(1) }])
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<(String, u64)>>> {
        Ok(Box::new(TickReader {
            split: self.split.unwrap_or(0),
            next: 0,
            opened: std::time::Instant::now(),
            watermark: BoundedOutOfOrderness::new(Duration::from_millis(500))
                .with_idle_timeout(std::time::Duration::from_millis(20)),
        }))
    }
    fn describe(&self) -> String {
        "ticks".into()
    }
}

/// Sums the ticks per 10 s window on `options`' runner: 20 ticks in each of the
/// three windows, which the readers' watermarks close.
fn windowed_sums(options: PipelineOptions) {
    let p = Pipeline::new(options);
    let sums = p
        .apply("Ticks", ReadUnbounded::from(Ticks { split: None }))
        .unwrap()
        .apply(
            "Window",
            WindowInto::new(WindowFn::fixed(Duration::from_secs(10))),
        )
        .unwrap()
        .apply("Sum", Sum::per_key())
        .unwrap();
    PAssert::that(&sums)
        .contains_in_any_order(vec![("k".to_string(), 20); 3])
        .unwrap();
    p.run().unwrap();
}

#[test]
fn windows_of_an_unbounded_source_fire_with_every_worker_count() {
    for workers in ["1", "2"] {
        windowed_sums(
            PipelineOptions::default()
                .with_runner("timely")
                .set("workers", workers),
        );
    }
}

#[test]
fn the_direct_runner_reads_unbounded_sources_too() {
    windowed_sums(PipelineOptions::default().with_runner("direct"));
}

#[test]
fn the_batch_runner_refuses_unbounded_sources_before_running() {
    let p = Pipeline::new(PipelineOptions::default().with_runner("rayon"));
    p.apply("Ticks", ReadUnbounded::from(Ticks { split: None }))
        .unwrap();
    let err = p.run().unwrap_err().to_string();
    assert!(err.contains("Ticks"), "{err}");
}
