//! Publishing staged output in transactions: the second phase of a sink
//! whose output system has transactions but no invisible staging (Kafka).
//!
//! [`PublishTransactionally`] is [`Publish`](crate::Publish) for such a sink.
//! The staged items are the records themselves (with their timestamps and
//! windows); a [`TransactionalPublisher`] makes a batch of them visible at once, together with a *progress record*
//! (the epoch its writer committed) in the same transaction:
//!
//! - A runner without checkpoints calls [`publish`](TransactionalPublisher::publish)
//!   with each bundle as it arrives.
//! - The timely runner with checkpoints keeps each worker's items of a
//!   checkpoint epoch in the checkpoint, and once a checkpoint covering them
//!   is complete calls [`commit`](TransactionalPublisher::commit) with the
//!   worker's [`WriterId`], the newest epoch covered, and the items.
//! - A run that restores first calls [`recover`](TransactionalPublisher::recover)
//!   for every writer of the checkpoint: the publisher ends (aborts) what a
//!   writer left open and returns the last epoch it committed; the run then
//!   commits the restored items of later epochs only. So no item is published
//!   twice, even when the crash came between a commit and the next
//!   checkpoint. A writer that committed an epoch newer than the checkpoint
//!   (an older checkpoint is being restored) makes the restore fail rather
//!   than publish that output again.
//!
//! A writer's identity is stable across restores: the job (fixed at the
//! first start, kept by every checkpoint) and the writer's index.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::kernel::WriterId;
//! use beam_core::{Create, Pipeline, PipelineOptions, PublishTransactionally};
//! use beam_core::{TransactionalPublisher, UserResult, WindowedValue};
//! use std::sync::{Arc, Mutex};
//!
//! #[derive(Clone, Default)]
//! struct Log(Arc<Mutex<Vec<u32>>>);
//!
//! impl TransactionalPublisher<u32> for Log {
//!     fn publish(&self, items: &[&WindowedValue<u32>]) -> UserResult {
//!         self.0.lock().unwrap().extend(items.iter().map(|wv| wv.value));
//!         Ok(())
//!     }
//!     fn commit(&self, _: &WriterId, _: u64, items: &[&WindowedValue<u32>]) -> UserResult {
//!         self.publish(items)
//!     }
//!     fn recover(&self, writers: &[WriterId]) -> UserResult<Vec<Option<u64>>> {
//!         Ok(vec![None; writers.len()])
//!     }
//! }
//!
//! let log = Log::default();
//! let p = Pipeline::new(PipelineOptions::default());
//! p.apply("Records", Create::of(vec![1u32, 2, 3]))?
//!     .apply("Publish", PublishTransactionally::with(log.clone()))?;
//! p.run()?;
//! let mut seen = log.0.lock().unwrap().clone();
//! seen.sort();
//! assert_eq!(seen, [1, 2, 3]);
//! # Ok::<(), beam_core::BeamError>(())
//! ```

use crate::kernel::PublishKernel;
use crate::{
    Batch, BeamError, Element, PCollection, PTransform, Result, UserError, UserResult,
    WindowedValue,
};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// One writer of a transactional sink: stable across the restores of a job.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct WriterId {
    /// The job, fixed at its first start and kept by its checkpoints.
    pub job: String,
    /// The writer's index (the worker that staged its items).
    pub index: u32,
}

impl fmt::Display for WriterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.job, self.index)
    }
}

/// Makes a writer's items visible in one transaction with its progress; see
/// the [module docs](self).
pub trait TransactionalPublisher<T>: Send + Sync + 'static {
    /// Makes `items` (with their timestamps and windows) visible now, in a
    /// run that replays nothing.
    fn publish(&self, items: &[&WindowedValue<T>]) -> UserResult;
    /// Makes `items` visible and records that `writer` committed `epoch`,
    /// both in one transaction.
    fn commit(&self, writer: &WriterId, epoch: u64, items: &[&WindowedValue<T>]) -> UserResult;
    /// For each of `writers`: aborts what it left open (and fences off a
    /// process still using it), then returns the last epoch it committed.
    fn recover(&self, writers: &[WriterId]) -> UserResult<Vec<Option<u64>>>;
}

/// Publishes its input with a [`TransactionalPublisher`], and passes the
/// items on unchanged; see the [module docs](self).
pub struct PublishTransactionally<T, P> {
    publisher: P,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element, P: TransactionalPublisher<T>> PublishTransactionally<T, P> {
    /// Publishes with `publisher`.
    pub fn with(publisher: P) -> Self {
        PublishTransactionally {
            publisher,
            _t: PhantomData,
        }
    }
}

impl<T: Element, P: TransactionalPublisher<T>> PTransform<PCollection<T>>
    for PublishTransactionally<T, P>
{
    /// The items, as they were published.
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<T>> {
        let kernel = Arc::new(TypedTransactional {
            step: input.pipeline().current_scope(),
            publisher: self.publisher,
            _t: PhantomData,
        });
        super::publish::add_publish(input, kernel)
    }
}

struct TypedTransactional<T, P> {
    step: String,
    publisher: P,
    _t: PhantomData<fn() -> T>,
}

impl<T: Element, P: TransactionalPublisher<T>> TypedTransactional<T, P> {
    /// Runs user code `f` over the items of `batches`, naming the step (and
    /// `what`) if it fails or panics.
    fn call<R>(
        &self,
        what: &str,
        batches: &[Batch],
        f: impl FnOnce(&[&WindowedValue<T>]) -> std::result::Result<R, UserError>,
    ) -> Result<R> {
        let mut items = Vec::with_capacity(batches.iter().map(Batch::len).sum());
        for b in batches {
            let values = b.downcast_ref::<T>().ok_or_else(|| {
                BeamError::Runner(format!(
                    "'{}' got a bundle of {}, not of {}",
                    self.step,
                    b.type_name(),
                    std::any::type_name::<T>()
                ))
            })?;
            items.extend(values.iter());
        }
        let element = || Some(format!("{what} of {} items", items.len()));
        match crate::user_code::catch(|| f(&items)) {
            Err(panic) => Err(BeamError::UserPanic {
                step: self.step.clone(),
                element: element(),
                message: panic,
            }),
            Ok(Err(e)) => Err(BeamError::UserCode {
                step: self.step.clone(),
                element: element(),
                message: e.full_message(),
            }),
            Ok(Ok(r)) => Ok(r),
        }
    }
}

impl<T: Element, P: TransactionalPublisher<T>> PublishKernel for TypedTransactional<T, P> {
    fn publish(&self, batch: &Batch) -> Result<()> {
        self.call("a bundle", std::slice::from_ref(batch), |items| {
            self.publisher.publish(items)
        })
    }
    fn is_transactional(&self) -> bool {
        true
    }
    fn commit(&self, writer: &WriterId, epoch: u64, batches: &[Batch]) -> Result<()> {
        let what = format!("the commit of writer {writer} up to epoch {epoch}");
        self.call(&what, batches, |items| {
            self.publisher.commit(writer, epoch, items)
        })
    }
    fn recover(&self, writers: &[WriterId]) -> Result<Vec<Option<u64>>> {
        let recovered = self.call("recovering writers", &[], |_| {
            self.publisher.recover(writers)
        })?;
        if recovered.len() != writers.len() {
            return Err(BeamError::UserCode {
                step: self.step.clone(),
                element: None,
                message: format!(
                    "recover returned {} epochs for {} writers",
                    recovered.len(),
                    writers.len()
                ),
            });
        }
        Ok(recovered)
    }
    fn discard_unpublished(&self) -> Result<()> {
        Ok(())
    }
}
