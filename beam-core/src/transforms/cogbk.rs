//! [`CoGroupByKey`]: groups several keyed PCollections by key at once.
//!
//! Each input is tagged with a [`TupleTag`]; the output has one
//! [`CoGbkResult`] per key and window, from which each input's values are read
//! back by tag, typed.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{CoGroupByKey, Create, KeyedPCollectionTuple, Map, TupleTag};
//! use beam_core::testing::{PAssert, TestPipeline};
//! let p = TestPipeline::new();
//! let emails = p.apply("Emails", Create::of(vec![("amy".to_string(), "amy@x".to_string())])).unwrap();
//! let phones = p.apply("Phones", Create::of(vec![("amy".to_string(), 111u32), ("amy".into(), 222), ("bob".into(), 333)])).unwrap();
//! let (e, ph) = (TupleTag::<String>::new("emails"), TupleTag::<u32>::new("phones"));
//! let joined = KeyedPCollectionTuple::of(&e, &emails).and(&ph, &phones).apply("Join", CoGroupByKey).unwrap();
//! let summary = joined.apply("Summarize", Map::new(move |(k, r): &(String, beam_core::CoGbkResult)| {
//!     (k.clone(), r.get(&e).unwrap().len(), r.get(&ph).unwrap().len())
//! })).unwrap();
//! PAssert::that(&summary).contains_in_any_order(vec![("amy".into(), 1, 2), ("bob".into(), 0, 1)]).unwrap();
//! p.run().unwrap();
//! ```

use crate::coder::{self, Element, Key};
use crate::dofn::{DoFn, ProcessContext, TupleTag};
use crate::error::{Result, UserError, UserResult};
use crate::gbk::GroupByKey;
use crate::pardo::ParDo;
use crate::pipeline::{PCollection, PTransform, Pipeline};
use crate::transforms::elementwise::Map;
use crate::transforms::flatten::{Flatten, PCollectionList};
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;

/// One input's value, encoded, with the index of its input.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RawUnion {
    input: u32,
    bytes: Vec<u8>,
}

/// The values of every input for one key and window.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CoGbkResult {
    tags: Vec<usize>,
    values: Vec<Vec<Vec<u8>>>,
}

impl CoGbkResult {
    /// The values of the input tagged `tag` (empty if it had none for this key).
    pub fn get<T: Element>(&self, tag: &TupleTag<T>) -> UserResult<Vec<T>> {
        let i = self.tags.iter().position(|&t| t == tag.id).ok_or_else(|| {
            UserError::msg(format!(
                "tag '{}' is not an input of this CoGroupByKey",
                tag.name()
            ))
        })?;
        self.values[i]
            .iter()
            .map(|b| coder::decode::<T>(b).map_err(UserError::msg))
            .collect()
    }
    /// The single value of the input tagged `tag`, or `None` if it has none;
    /// an error if it has several.
    pub fn get_only<T: Element>(&self, tag: &TupleTag<T>) -> UserResult<Option<T>> {
        let mut v = self.get(tag)?;
        match v.len() {
            0 => Ok(None),
            1 => Ok(v.pop()),
            n => Err(UserError::msg(format!(
                "tag '{}' has {n} values, expected at most one",
                tag.name()
            ))),
        }
    }
}

type Tagger<K> = Box<dyn Fn(u32) -> Result<PCollection<(K, RawUnion)>>>;

/// Keyed PCollections with their tags: the input of [`CoGroupByKey`].
pub struct KeyedPCollectionTuple<K> {
    pipeline: Pipeline,
    tags: Vec<usize>,
    taggers: Vec<(String, Tagger<K>)>,
}

#[derive(Clone)]
struct Encode<K, V>(u32, PhantomData<fn(K, V)>);

impl<K: Key, V: Element> DoFn for Encode<K, V> {
    type In = (K, V);
    type Out = (K, RawUnion);
    fn process(&mut self, kv: &(K, V), ctx: &mut ProcessContext<'_, (K, RawUnion)>) -> UserResult {
        let bytes = coder::encode_to_vec(&kv.1).map_err(UserError::msg)?;
        ctx.output((
            kv.0.clone(),
            RawUnion {
                input: self.0,
                bytes,
            },
        ));
        Ok(())
    }
}

impl<K: Key> KeyedPCollectionTuple<K> {
    /// A tuple with one input.
    pub fn of<V: Element>(tag: &TupleTag<V>, pcoll: &PCollection<(K, V)>) -> Self {
        KeyedPCollectionTuple {
            pipeline: pcoll.pipeline().clone(),
            tags: Vec::new(),
            taggers: Vec::new(),
        }
        .and(tag, pcoll)
    }
    /// This tuple with another input.
    pub fn and<V: Element>(mut self, tag: &TupleTag<V>, pcoll: &PCollection<(K, V)>) -> Self {
        let pc = pcoll.clone();
        self.tags.push(tag.id);
        self.taggers.push((
            tag.name().to_string(),
            Box::new(move |i| pc.apply("Encode", ParDo::of(Encode::<K, V>(i, PhantomData)))),
        ));
        self
    }
    /// Applies `transform` to the tuple.
    pub fn apply<X: PTransform<KeyedPCollectionTuple<K>>>(
        &self,
        name: &str,
        transform: X,
    ) -> Result<X::Output> {
        self.pipeline.apply_to(name, self, transform)
    }
}

/// Groups several keyed PCollections by key; see the [module docs](self).
pub struct CoGroupByKey;

impl<K: Key> PTransform<KeyedPCollectionTuple<K>> for CoGroupByKey {
    type Output = PCollection<(K, CoGbkResult)>;
    fn expand(self, input: &KeyedPCollectionTuple<K>) -> Result<Self::Output> {
        let p = input.pipeline.clone();
        let mut unions = Vec::new();
        for (i, (name, tagger)) in input.taggers.iter().enumerate() {
            let pc = p.apply_to(
                &format!("Tag[{name}]"),
                &(),
                TaggerTransform(tagger, i as u32),
            )?;
            unions.push(pc);
        }
        let tags = input.tags.clone();
        let n = tags.len();
        let grouped = PCollectionList::of(unions)?
            .apply("Flatten", Flatten)?
            .apply("GroupByKey", GroupByKey::new())?;
        grouped.apply(
            "ConstructResult",
            Map::new(move |(k, raws): &(K, Vec<RawUnion>)| {
                let mut values = vec![Vec::new(); n];
                for r in raws {
                    values[r.input as usize].push(r.bytes.clone());
                }
                (
                    k.clone(),
                    CoGbkResult {
                        tags: tags.clone(),
                        values,
                    },
                )
            }),
        )
    }
}

struct TaggerTransform<'a, K>(&'a Tagger<K>, u32);

impl<K: Key> PTransform<()> for TaggerTransform<'_, K> {
    type Output = PCollection<(K, RawUnion)>;
    fn expand(self, _: &()) -> Result<Self::Output> {
        (self.0)(self.1)
    }
}
