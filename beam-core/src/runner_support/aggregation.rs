//! What a grouping computes ([`Aggregation`]) and the kernel runners call to
//! build grouping tables and to partition input by key.

use crate::batch::Batch;
use crate::coder::{Element, Key};
use crate::kernel::{GroupingKernel, GroupingTable};
use crate::runner_support::grouping::WindowedTable;
use crate::window::WindowedValue;
use crate::windowfn::WindowingStrategy;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

/// What a grouping computes per key and window.
pub trait Aggregation: Send + Sync + 'static {
    /// Input element type: `(K, V)` for GroupByKey and Combine.perKey.
    type In: Element;
    /// Key type.
    type K: Key;
    /// Input value type.
    type V: Element;
    /// Accumulator (cloned only to emit accumulating panes).
    type Acc: Send + Clone;
    /// Output value type.
    type Out: Element;
    /// The key of an input element.
    fn key<'a>(&self, input: &'a Self::In) -> &'a Self::K;
    /// Splits an input element into its key and value.
    fn split(&self, input: Self::In) -> (Self::K, Self::V);
    /// An empty accumulator.
    fn create(&self) -> Self::Acc;
    /// Adds one value.
    fn add(&self, acc: &mut Self::Acc, value: Self::V);
    /// Merges `other` into `acc`.
    fn merge(&self, acc: &mut Self::Acc, other: Self::Acc);
    /// The output of an accumulator.
    fn extract(&self, acc: Self::Acc) -> Self::Out;
}

/// The kernel of a grouping step: creates tables and partitions input by key.
pub(crate) struct TableKernel<A: Aggregation> {
    pub agg: Arc<A>,
    pub strategy: Arc<WindowingStrategy>,
    pub step: Arc<str>,
}

/// The partition of `key` among `parts`: the same in every process of a job.
pub(crate) fn partition_of<K: Hash>(key: &K, parts: usize) -> usize {
    let h = foldhash::fast::FixedState::with_seed(0x5eed_beef).hash_one(key);
    (h % parts as u64) as usize
}

impl<A: Aggregation> GroupingKernel for TableKernel<A> {
    fn new_table(&self) -> Box<dyn GroupingTable> {
        Box::new(WindowedTable::new(self))
    }
    fn partition(&self, batch: Batch, parts: usize) -> Vec<Batch> {
        let parts = parts.max(1);
        match batch.downcast::<A::In>() {
            Ok(values) => {
                let mut out: Vec<Vec<WindowedValue<A::In>>> =
                    (0..parts).map(|_| Vec::new()).collect();
                for wv in values {
                    out[partition_of(self.agg.key(&wv.value), parts)].push(wv);
                }
                out.into_iter().map(Batch::new).collect()
            }
            Err(b) => vec![b],
        }
    }
}
