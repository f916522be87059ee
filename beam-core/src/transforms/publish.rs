//! Publishing staged output once: the second phase of an exactly-once sink.
//!
//! A sink that wants its output visible exactly once splits its work in two.
//! First a step writes each piece of output somewhere invisible (a hidden
//! file, a staging table) and emits a description of it, the *staged item*.
//! Then [`Publish`] makes each staged item visible with its [`Publisher`].
//!
//! When a runner publishes depends on whether it can replay input:
//!
//! - A runner without checkpoints publishes each staged item as it arrives.
//! - The timely runner with checkpoints publishes the items staged in a
//!   checkpoint epoch only once the checkpoint covering that epoch is
//!   complete. The items not yet published are part of the checkpoint; a run
//!   that restores from it publishes them before it starts (the input that
//!   made them will not be read again), then asks the publisher to discard
//!   whatever else was staged (the dead run's output of later epochs, which
//!   the restored run produces again).
//!
//! So a publisher's [`publish`](Publisher::publish) may be called again for an
//! item it already published (after a crash between publishing and the next
//! checkpoint), possibly from two processes at once, and must then leave the
//! published output as it is.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, Pipeline, PipelineOptions, Publish, Publisher, UserResult};
//! use std::sync::{Arc, Mutex};
//!
//! #[derive(Clone, Default)]
//! struct Visible(Arc<Mutex<Vec<String>>>);
//!
//! impl Publisher<String> for Visible {
//!     fn publish(&self, item: &String) -> UserResult {
//!         let mut seen = self.0.lock().unwrap();
//!         if !seen.contains(item) {
//!             seen.push(item.clone());
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let visible = Visible::default();
//! let p = Pipeline::new(PipelineOptions::default());
//! p.apply("Staged", Create::of(vec!["a".to_string(), "b".to_string()]))?
//!     .apply("Publish", Publish::with(visible.clone()))?;
//! p.run()?;
//! let mut seen = visible.0.lock().unwrap().clone();
//! seen.sort();
//! assert_eq!(seen, ["a", "b"]);
//! # Ok::<(), beam_core::BeamError>(())
//! ```

use crate::graph::Primitive;
use crate::kernel::{PublishKernel, WriterId};
use crate::pipeline::OutputSpec;
use crate::{Batch, BeamError, Element, PCollection, PTransform, Result, UserResult};
use std::marker::PhantomData;
use std::sync::Arc;

/// Makes staged items visible; see the [module docs](self).
pub trait Publisher<T>: Send + Sync + 'static {
    /// Makes `item` visible. Called again for an item already published, it
    /// must leave the published output as it is.
    fn publish(&self, item: &T) -> UserResult;
    /// Removes every staged item that was not published. A run that restores
    /// from a checkpoint calls it once, after publishing the checkpoint's
    /// items and before any new item is staged.
    fn discard_unpublished(&self) -> UserResult {
        Ok(())
    }
}

/// Publishes each staged item of its input with a [`Publisher`], and passes
/// the items on unchanged; see the [module docs](self).
pub struct Publish<T, P> {
    publisher: P,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element, P: Publisher<T>> Publish<T, P> {
    /// Publishes with `publisher`.
    pub fn with(publisher: P) -> Self {
        Publish {
            publisher,
            _t: PhantomData,
        }
    }
}

impl<T: Element, P: Publisher<T>> PTransform<PCollection<T>> for Publish<T, P> {
    /// The staged items, as they were published.
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<T>> {
        let kernel = Arc::new(TypedPublish {
            step: input.pipeline().current_scope(),
            publisher: self.publisher,
            _t: PhantomData,
        });
        add_publish(input, kernel)
    }
}

/// Adds the Publish primitive with `kernel` after `input`; its output is the
/// input's items.
pub(crate) fn add_publish<T: Element>(
    input: &PCollection<T>,
    kernel: Arc<dyn PublishKernel>,
) -> Result<PCollection<T>> {
    let p = input.pipeline().clone();
    let ids = p.add_primitive(
        Primitive::Publish { kernel },
        vec![input.id()],
        vec![OutputSpec::of::<T>(input.windowing(), input.is_bounded())],
    )?;
    Ok(PCollection::new(p, ids[0]))
}

struct TypedPublish<T, P> {
    step: String,
    publisher: P,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element, P: Publisher<T>> TypedPublish<T, P> {
    fn failed(&self, element: Option<String>, e: crate::UserError) -> BeamError {
        BeamError::UserCode {
            step: self.step.clone(),
            element,
            message: e.full_message(),
        }
    }
}

impl<T: Element, P: Publisher<T>> PublishKernel for TypedPublish<T, P> {
    fn publish(&self, batch: &Batch) -> Result<()> {
        let values = batch.downcast_ref::<T>().ok_or_else(|| {
            BeamError::Runner(format!(
                "'{}' got a bundle of {}, not of {}",
                self.step,
                batch.type_name(),
                std::any::type_name::<T>()
            ))
        })?;
        for v in values {
            crate::user_code::catch(|| self.publisher.publish(&v.value))
                .map_err(|panic| BeamError::UserPanic {
                    step: self.step.clone(),
                    element: Some(crate::coder::describe(&v.value)),
                    message: panic,
                })?
                .map_err(|e| self.failed(Some(crate::coder::describe(&v.value)), e))?;
        }
        Ok(())
    }
    fn is_transactional(&self) -> bool {
        false
    }
    fn commit(&self, _: &WriterId, _: u64, batches: &[Batch]) -> Result<()> {
        batches.iter().try_for_each(|b| self.publish(b))
    }
    fn recover(&self, writers: &[WriterId]) -> Result<Vec<Option<u64>>> {
        Ok(vec![None; writers.len()])
    }
    fn discard_unpublished(&self) -> Result<()> {
        crate::user_code::catch(|| self.publisher.discard_unpublished())
            .map_err(|panic| BeamError::UserPanic {
                step: self.step.clone(),
                element: None,
                message: panic,
            })?
            .map_err(|e| self.failed(None, e))
    }
}
