//! Root transforms: [`Create`], [`Impulse`] and [`Read`].

use crate::batch::Batch;
use crate::coder::Element;
use crate::error::Result;
use crate::graph::Primitive;
use crate::pipeline::{OutputSpec, PBegin, PCollection, PTransform};
use crate::source::{BoundedSource, ErasedSource, SourceAdapter};
use crate::source_watermark::{TimeFn, TimestampedSource};
use crate::time::{Duration, Timestamp};
use crate::window::{WindowedValue, GLOBAL_WINDOW_MAX};
use crate::windowfn::WindowingStrategy;
use crate::BeamError;
use std::sync::Arc;

/// A bounded PCollection of given elements, in the global window.
///
/// ```
/// # use runner_direct as _;
/// use beam_core::{Create, Timestamp};
/// use beam_core::testing::TestPipeline;
/// let p = TestPipeline::new();
/// let plain = p.apply("Plain", Create::of(vec![1, 2, 3])).unwrap(); // at Timestamp::MIN
/// let timed = p.apply("Timed", Create::timestamped(vec![('a', Timestamp::from_millis(1))])).unwrap();
/// # let _ = (plain, timed);
/// ```
pub struct Create<T> {
    values: Vec<WindowedValue<T>>,
}

impl<T: Element> Create<T> {
    /// The elements, each at [`Timestamp::MIN`].
    pub fn of(values: impl IntoIterator<Item = T>) -> Self {
        Create {
            values: values
                .into_iter()
                .map(WindowedValue::in_global_window)
                .collect(),
        }
    }
    /// The elements with their timestamps.
    pub fn timestamped(values: impl IntoIterator<Item = (T, Timestamp)>) -> Self {
        Create {
            values: values
                .into_iter()
                .map(|(v, ts)| WindowedValue::timestamped(v, ts))
                .collect(),
        }
    }
}

impl<T: Element> PTransform<PBegin> for Create<T> {
    type Output = PCollection<T>;
    fn expand(self, input: &PBegin) -> Result<PCollection<T>> {
        let p = input.pipeline().clone();
        if let Some(bad) = self
            .values
            .iter()
            .find(|wv| wv.timestamp > GLOBAL_WINDOW_MAX)
        {
            return Err(BeamError::construction(
                p.current_scope(),
                format!(
                    "element {:?} has a timestamp after the end of the global window",
                    bad.value
                ),
            ));
        }
        let ids = p.add_primitive(
            Primitive::Create {
                values: Batch::new(self.values),
            },
            vec![],
            vec![OutputSpec::of::<T>(WindowingStrategy::global(), true)],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}

/// A single element `()` at [`Timestamp::MIN`] in the global window: the root
/// other transforms start from.
pub struct Impulse;

impl PTransform<PBegin> for Impulse {
    type Output = PCollection<()>;
    fn expand(self, input: &PBegin) -> Result<PCollection<()>> {
        let p = input.pipeline().clone();
        let ids = p.add_primitive(
            Primitive::Impulse,
            vec![],
            vec![OutputSpec::of::<()>(WindowingStrategy::global(), true)],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}

/// Reads a [`BoundedSource`].
///
/// By default the read's watermark goes from the start to the end of time
/// once everything is read, so a windowed aggregation downstream emits its
/// windows at the end. A read whose elements carry event times (their own,
/// or from [`with_timestamps`](Self::with_timestamps)) and come roughly in
/// time order can say how far out of order they are with
/// [`with_bounded_out_of_orderness`](Self::with_bounded_out_of_orderness):
/// streaming runners then hold its watermark that far behind the latest time
/// read, and windows close while it is read, with the same results.
///
/// ```
/// # use runner_direct as _;
/// use beam_core::testing::{PAssert, TestPipeline};
/// use beam_core::{BoundedSource, Count, Duration, Read, Result, SourceReader, Timestamp, WindowFn, WindowInto, WindowedValue};
///
/// /// The seconds `0..n`, in order.
/// #[derive(Clone)]
/// struct Seconds(u64);
/// struct Reader { next: u64, end: u64 }
/// impl SourceReader<u64> for Reader {
///     fn read_batch(&mut self, out: &mut Vec<WindowedValue<u64>>, max: usize) -> Result<bool> {
///         while self.next < self.end && out.len() < max {
///             out.push(WindowedValue::in_global_window(self.next));
///             self.next += 1;
///         }
///         Ok(self.next < self.end)
///     }
/// }
/// impl BoundedSource for Seconds {
///     type Output = u64;
///     fn estimated_size_bytes(&self) -> Result<u64> { Ok(self.0 * 8) }
///     fn split(&self, _desired: u64) -> Result<Vec<Self>> { Ok(vec![self.clone()]) }
///     fn reader(&self) -> Result<Box<dyn SourceReader<u64>>> {
///         Ok(Box::new(Reader { next: 0, end: self.0 }))
///     }
///     fn describe(&self) -> String { format!("Seconds({})", self.0) }
/// }
///
/// let p = TestPipeline::new();
/// let seconds = p
///     .apply(
///         "Read",
///         Read::from(Seconds(120))
///             .with_timestamps(|s: &u64| Timestamp::from_secs(*s as i64))
///             .with_bounded_out_of_orderness(Duration::ZERO),
///     )
///     .unwrap();
/// let per_minute = seconds
///     .apply("Minutes", WindowInto::new(WindowFn::fixed(Duration::from_secs(60))))
///     .unwrap()
///     .apply("Count", Count::globally().without_defaults())
///     .unwrap();
/// PAssert::that(&per_minute).contains_in_any_order(vec![60, 60]).unwrap();
/// ```
pub struct Read<S: BoundedSource> {
    source: S,
    timestamps: Option<TimeFn<S::Output>>,
    out_of_orderness: Option<Duration>,
}

impl<S: BoundedSource> Read<S> {
    /// Reads `source`.
    pub fn from(source: S) -> Self {
        Read {
            source,
            timestamps: None,
            out_of_orderness: None,
        }
    }
    /// Gives each element the event time `time` computes from it, as it is
    /// read (in place of the time the source gave it).
    pub fn with_timestamps(
        mut self,
        time: impl Fn(&S::Output) -> Timestamp + Send + Sync + 'static,
    ) -> Self {
        self.timestamps = Some(Arc::new(time));
        self
    }
    /// Declares that every element's event time is at least the latest time
    /// read before it minus `bound` (`Duration::ZERO`: the input is ordered
    /// by time; for several files, in the order of their names). Streaming
    /// runners (direct, timely) then hold the read's watermark `bound`
    /// behind the latest event time each of their readers has read, so
    /// windows close during the read; results are those of the read without
    /// it. An element that is further out of order than declared, against
    /// what its reader read before it, fails the run with an error naming
    /// it rather than arrive late.
    pub fn with_bounded_out_of_orderness(mut self, bound: Duration) -> Self {
        self.out_of_orderness = Some(bound.max(Duration::ZERO));
        self
    }
}

impl<S: BoundedSource> PTransform<PBegin> for Read<S> {
    type Output = PCollection<S::Output>;
    fn expand(self, input: &PBegin) -> Result<PCollection<S::Output>> {
        let p = input.pipeline().clone();
        let plain: Arc<dyn ErasedSource> = Arc::new(SourceAdapter(self.source));
        let source = match self.timestamps {
            Some(time) => Arc::new(TimestampedSource { inner: plain, time }),
            None => plain,
        };
        let ids = p.add_primitive(
            Primitive::Read {
                source,
                out_of_orderness: self.out_of_orderness,
            },
            vec![],
            vec![OutputSpec::of::<S::Output>(
                WindowingStrategy::global(),
                true,
            )],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}
