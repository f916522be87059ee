//! Type-erased batches: how runners move elements without knowing their type.
//!
//! A [`Batch`] is a `Vec<WindowedValue<T>>` behind one erased handle. Runners
//! split, concatenate, clone, shuffle and encode batches; every per-element loop
//! happens inside typed code (the kernels captured when the pipeline was built),
//! which downcasts the whole batch once.

use crate::coder::{self, Element};
use crate::time::Timestamp;
use crate::window::{Window, WindowedValue};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::any::Any;

trait ErasedBatch: Send + Sync {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    fn len(&self) -> usize;
    fn clone_box(&self) -> Box<dyn ErasedBatch>;
    fn empty_like(&self) -> Box<dyn ErasedBatch>;
    fn split_off(&mut self, at: usize) -> Box<dyn ErasedBatch>;
    fn append(&mut self, other: Box<dyn ErasedBatch>);
    fn shuffle(&mut self, rng: &mut StdRng);
    fn round_trip(&mut self) -> Result<(), String>;
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String>;
    fn estimated_bytes(&self) -> usize;
    fn inline_bytes(&self) -> usize;
    fn type_name(&self) -> &'static str;
    fn take_where(&mut self, f: &mut dyn FnMut(&Window) -> bool) -> Box<dyn ErasedBatch>;
    fn min_timestamp(&self) -> Option<Timestamp>;
    fn position_of_timestamp(&self, f: &mut dyn FnMut(Timestamp) -> bool) -> Option<usize>;
    fn describe_element(&self, i: usize) -> String;
}

impl<T: Element> ErasedBatch for Vec<WindowedValue<T>> {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn clone_box(&self) -> Box<dyn ErasedBatch> {
        Box::new(self.clone())
    }
    fn empty_like(&self) -> Box<dyn ErasedBatch> {
        Box::new(Vec::<WindowedValue<T>>::new())
    }
    fn split_off(&mut self, at: usize) -> Box<dyn ErasedBatch> {
        Box::new(Vec::split_off(self, at.min(self.len())))
    }
    fn append(&mut self, other: Box<dyn ErasedBatch>) {
        match other.into_any().downcast::<Vec<WindowedValue<T>>>() {
            Ok(mut v) => Vec::append(self, &mut v),
            Err(_) => unreachable!("batches of one PCollection share their element type"),
        }
    }
    fn shuffle(&mut self, rng: &mut StdRng) {
        self.as_mut_slice().shuffle(rng);
    }
    fn round_trip(&mut self) -> Result<(), String> {
        let mut buf = Vec::new();
        for wv in self.iter_mut() {
            buf.clear();
            coder::encode(&wv.value, &mut buf)?;
            let back: T = coder::decode(&buf).map_err(|e| {
                format!(
                    "{e}; the element {} does not survive its coder",
                    coder::describe(&wv.value)
                )
            })?;
            wv.value = back;
        }
        Ok(())
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        coder::encode(self, out)
    }
    fn estimated_bytes(&self) -> usize {
        estimated_bytes(self.as_slice(), self.capacity(), |wv| &wv.value)
    }
    fn inline_bytes(&self) -> usize {
        self.capacity().max(self.len()) * std::mem::size_of::<WindowedValue<T>>()
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
    fn take_where(&mut self, f: &mut dyn FnMut(&Window) -> bool) -> Box<dyn ErasedBatch> {
        let mut taken = Vec::new();
        let mut kept = Vec::with_capacity(self.len());
        for wv in self.drain(..) {
            if f(&wv.window) {
                taken.push(wv);
            } else {
                kept.push(wv);
            }
        }
        *self = kept;
        Box::new(taken)
    }
    fn min_timestamp(&self) -> Option<Timestamp> {
        self.iter().map(|wv| wv.timestamp).min()
    }
    fn position_of_timestamp(&self, f: &mut dyn FnMut(Timestamp) -> bool) -> Option<usize> {
        self.iter().position(|wv| f(wv.timestamp))
    }
    fn describe_element(&self, i: usize) -> String {
        self.get(i)
            .map_or_else(String::new, |wv| coder::describe(&wv.value))
    }
}

/// A batch of windowed elements of one (erased) type.
///
/// ```
/// use beam_core::{Batch, WindowedValue};
/// let mut b = Batch::new(vec![WindowedValue::in_global_window(1u32), WindowedValue::in_global_window(2)]);
/// let tail = b.split_off(1);
/// assert_eq!((b.len(), tail.len()), (1, 1));
/// b.append(tail);
/// let values: Vec<u32> = b.downcast::<u32>().unwrap().into_iter().map(|wv| wv.value).collect();
/// assert_eq!(values, vec![1, 2]);
/// ```
pub struct Batch(Box<dyn ErasedBatch>);

impl Batch {
    /// Wraps typed elements.
    pub fn new<T: Element>(values: Vec<WindowedValue<T>>) -> Self {
        Batch(Box::new(values))
    }
    /// The elements gathered in `values` as a batch, leaving it empty (and
    /// its allocation with the batch); `None` if there are none.
    pub fn take_from<T: Element>(values: &mut Vec<WindowedValue<T>>) -> Option<Self> {
        (!values.is_empty()).then(|| Batch::new(std::mem::take(values)))
    }
    /// An empty batch of `T`.
    pub fn empty<T: Element>() -> Self {
        Batch::new::<T>(Vec::new())
    }
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether the batch has no elements.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
    /// An empty batch of the same element type.
    pub fn empty_like(&self) -> Batch {
        Batch(self.0.empty_like())
    }
    /// Splits off the elements from `at` on. The returned batch is allocated for
    /// its own length; `self` keeps its capacity, so cut big batches from the end.
    pub fn split_off(&mut self, at: usize) -> Batch {
        Batch(self.0.split_off(at))
    }
    /// Moves all elements of `other` (same element type) to the end of `self`.
    pub fn append(&mut self, other: Batch) {
        self.0.append(other.0)
    }
    /// Shuffles the elements.
    pub fn shuffle(&mut self, rng: &mut StdRng) {
        self.0.shuffle(rng)
    }
    /// Encodes and decodes every element, replacing it with the decoded copy.
    pub fn round_trip(&mut self) -> Result<(), String> {
        self.0.round_trip()
    }
    /// Appends the encoding of the whole batch to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), String> {
        self.0.encode(out)
    }
    /// An estimate of the memory the elements take: their inline size plus
    /// their heap contents, estimated from the encoded size of up to 16 sampled
    /// elements. Runners use it to keep buffered data within a memory budget.
    pub fn estimated_bytes(&self) -> usize {
        self.0.estimated_bytes()
    }
    /// The memory of the batch's buffer alone (what its elements own on the
    /// heap is not counted; see [`Batch::estimated_bytes`]).
    pub fn inline_bytes(&self) -> usize {
        self.0.inline_bytes()
    }
    /// Rust name of the element type.
    pub fn type_name(&self) -> &'static str {
        self.0.type_name()
    }
    /// Moves the elements whose window satisfies `f` into a batch of their
    /// own, keeping the order of both parts.
    pub fn take_where(&mut self, mut f: impl FnMut(&Window) -> bool) -> Batch {
        Batch(self.0.take_where(&mut f))
    }
    /// The earliest timestamp of the elements (`None` when empty).
    pub fn min_timestamp(&self) -> Option<Timestamp> {
        self.0.min_timestamp()
    }
    /// The position of the first element whose timestamp satisfies `f`,
    /// visiting the elements in order (`f` sees every element before it).
    pub fn position_of_timestamp(&self, mut f: impl FnMut(Timestamp) -> bool) -> Option<usize> {
        self.0.position_of_timestamp(&mut f)
    }
    /// The element at `i`, shortened for an error message (empty past the end).
    pub fn describe_element(&self, i: usize) -> String {
        self.0.describe_element(i)
    }
    /// The typed elements, or the batch back if `T` is not its element type.
    pub fn downcast<T: Element>(self) -> Result<Vec<WindowedValue<T>>, Batch> {
        if self.0.as_any().is::<Vec<WindowedValue<T>>>() {
            match self.0.into_any().downcast::<Vec<WindowedValue<T>>>() {
                Ok(v) => Ok(*v),
                Err(_) => unreachable!("type checked above"),
            }
        } else {
            Err(self)
        }
    }
    /// The typed elements, or a runner error naming `step` if the batch holds another type.
    pub fn downcast_for<T: Element>(self, step: &str) -> crate::Result<Vec<WindowedValue<T>>> {
        self.downcast::<T>().map_err(|b| {
            crate::BeamError::Runner(format!("step '{step}' got a batch of {}", b.type_name()))
        })
    }
    /// The typed elements by reference.
    pub fn downcast_ref<T: Element>(&self) -> Option<&Vec<WindowedValue<T>>> {
        self.0.as_any().downcast_ref()
    }
    /// The typed elements by mutable reference.
    pub fn downcast_mut<T: Element>(&mut self) -> Option<&mut Vec<WindowedValue<T>>> {
        self.0.as_any_mut().downcast_mut()
    }
}

impl Clone for Batch {
    fn clone(&self) -> Self {
        Batch(self.0.clone_box())
    }
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batch<{}>({} elements)", self.type_name(), self.len())
    }
}

/// Estimated memory of `items` held in a buffer of `capacity`: the buffer
/// plus, for the heap data the items own, the encoded size of up to 16 evenly
/// spaced samples scaled to all items.
pub(crate) fn estimated_bytes<I, V: serde::Serialize>(
    items: &[I],
    capacity: usize,
    value: impl Fn(&I) -> &V,
) -> usize {
    const SAMPLES: usize = 16;
    let n = items.len();
    if n == 0 {
        return capacity * std::mem::size_of::<I>();
    }
    let stride = n.div_ceil(SAMPLES);
    let (mut sampled, mut bytes) = (0usize, 0usize);
    for item in items.iter().step_by(stride) {
        sampled += 1;
        bytes += postcard::experimental::serialized_size(value(item)).unwrap_or(0);
    }
    capacity.max(n) * std::mem::size_of::<I>() + bytes * n / sampled
}

/// Decodes batches of one element type: the part of a PCollection's kernel a
/// runner needs where data leaves memory.
pub trait BatchCodec: Send + Sync {
    /// An empty batch of the element type.
    fn empty(&self) -> Batch;
    /// Decodes a batch written by [`Batch::encode`].
    fn decode(&self, bytes: &[u8]) -> Result<Batch, String>;
    /// Rust name of the element type.
    fn type_name(&self) -> &'static str;
}

pub(crate) struct TypedCodec<T>(std::marker::PhantomData<fn() -> T>);

impl<T> TypedCodec<T> {
    pub(crate) fn new() -> Self {
        TypedCodec(std::marker::PhantomData)
    }
}

impl<T: Element> BatchCodec for TypedCodec<T> {
    fn empty(&self) -> Batch {
        Batch::empty::<T>()
    }
    fn decode(&self, bytes: &[u8]) -> Result<Batch, String> {
        coder::decode::<Vec<WindowedValue<T>>>(bytes).map(Batch::new)
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}
