//! Root transforms: [`Create`], [`Impulse`] and [`Read`].

use crate::batch::Batch;
use crate::coder::Element;
use crate::error::Result;
use crate::graph::Primitive;
use crate::pipeline::{OutputSpec, PBegin, PCollection, PTransform};
use crate::source::{BoundedSource, SourceAdapter};
use crate::time::Timestamp;
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
pub struct Read<S>(S);

impl<S: BoundedSource> Read<S> {
    /// Reads `source`.
    pub fn from(source: S) -> Self {
        Read(source)
    }
}

impl<S: BoundedSource> PTransform<PBegin> for Read<S> {
    type Output = PCollection<S::Output>;
    fn expand(self, input: &PBegin) -> Result<PCollection<S::Output>> {
        let p = input.pipeline().clone();
        let ids = p.add_primitive(
            Primitive::Read {
                source: Arc::new(SourceAdapter(self.0)),
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
