//! [`TestStream`]: an unbounded source whose elements, watermark and processing
//! time are scripted, so tests of triggers and timers are exact.
//!
//! Runners apply each event only when the pipeline is quiescent (everything
//! from the previous event was processed and watermarks propagated), as Beam's
//! TestStream requires.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{AccumulationMode, Count, Duration, Timestamp, TestStream, Trigger, WindowFn, WindowInto};
//! use beam_core::testing::{PAssert, TestPipeline};
//! let p = TestPipeline::new();
//! let events = TestStream::new()
//!     .add_elements(vec![("k".to_string(), Timestamp::from_secs(1)), ("k".to_string(), Timestamp::from_secs(2))])
//!     .advance_watermark_to(Timestamp::from_secs(100))
//!     .add_elements(vec![("k".to_string(), Timestamp::from_secs(3))]) // late, dropped
//!     .advance_watermark_to_infinity();
//! let counts = p.apply("Events", events).unwrap()
//!     .apply("Window", WindowInto::new(WindowFn::fixed(Duration::from_secs(10)))).unwrap()
//!     .apply("Count", Count::per_element()).unwrap();
//! PAssert::that(&counts).contains_in_any_order(vec![("k".to_string(), 2)]).unwrap();
//! let result = p.run().unwrap();
//! assert_eq!(result.metrics().counter("Count", "dropped_due_to_lateness"), Some(1));
//! ```

use crate::batch::Batch;
use crate::coder::Element;
use crate::error::{BeamError, Result};
use crate::graph::{Primitive, StreamEvent};
use crate::pipeline::{OutputSpec, PBegin, PCollection, PTransform};
use crate::time::{Duration, Timestamp};
use crate::window::{WindowedValue, GLOBAL_WINDOW_MAX};
use crate::windowfn::WindowingStrategy;

/// A scripted unbounded source; see the [module docs](self).
pub struct TestStream<T> {
    events: Vec<Event<T>>,
}

enum Event<T> {
    Elements(Vec<(T, Timestamp)>),
    Watermark(Timestamp),
    ProcessingTime(Duration),
}

impl<T: Element> Default for TestStream<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> TestStream<T> {
    /// A stream with no events yet.
    pub fn new() -> Self {
        TestStream { events: Vec::new() }
    }
    /// Emits `elements` (with their timestamps) as one bundle.
    pub fn add_elements(mut self, elements: Vec<(T, Timestamp)>) -> Self {
        self.events.push(Event::Elements(elements));
        self
    }
    /// Moves the watermark of the stream to `t`.
    pub fn advance_watermark_to(mut self, t: Timestamp) -> Self {
        self.events.push(Event::Watermark(t));
        self
    }
    /// Advances processing time by `d`.
    pub fn advance_processing_time(mut self, d: Duration) -> Self {
        self.events.push(Event::ProcessingTime(d));
        self
    }
    /// Moves the watermark to the end of time: every window fires its final pane.
    pub fn advance_watermark_to_infinity(self) -> Self {
        self.advance_watermark_to(Timestamp::MAX)
    }
}

impl<T: Element> PTransform<PBegin> for TestStream<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PBegin) -> Result<PCollection<T>> {
        let p = input.pipeline().clone();
        let step = p.current_scope();
        let mut wm = Timestamp::MIN;
        let mut events = Vec::with_capacity(self.events.len());
        for e in self.events {
            events.push(match e {
                Event::Elements(els) => {
                    if let Some((v, t)) = els.iter().find(|(_, t)| *t > GLOBAL_WINDOW_MAX) {
                        return Err(BeamError::construction(
                            &step,
                            format!("element {v:?} at {t} is after the end of the global window"),
                        ));
                    }
                    StreamEvent::Elements(Batch::new(
                        els.into_iter()
                            .map(|(v, t)| WindowedValue::timestamped(v, t))
                            .collect(),
                    ))
                }
                Event::Watermark(t) => {
                    if t < wm {
                        return Err(BeamError::construction(
                            &step,
                            format!("the watermark must not go back: {t} after {wm}"),
                        ));
                    }
                    wm = t;
                    StreamEvent::Watermark(t)
                }
                Event::ProcessingTime(d) => {
                    if d.as_micros() < 0 {
                        return Err(BeamError::construction(
                            &step,
                            "processing time must not go back",
                        ));
                    }
                    StreamEvent::ProcessingTime(d)
                }
            });
        }
        let ids = p.add_primitive(
            Primitive::TestStream { events },
            vec![],
            vec![OutputSpec::of::<T>(WindowingStrategy::global(), false)],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}
