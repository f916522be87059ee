//! [`Latest`]: the element with the latest timestamp, globally or per key.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, Latest, Timestamp, WithTimestamps};
//! use beam_core::testing::{PAssert, TestPipeline};
//! let p = TestPipeline::new();
//! let readings = p
//!     .apply("Readings", Create::of(vec![("a".to_string(), 3i64), ("a".to_string(), 1), ("b".to_string(), 2)]))?
//!     .apply("Time", WithTimestamps::of(|kv: &(String, i64)| Timestamp::from_secs(kv.1)))?;
//! let latest = readings.apply("Latest", Latest::per_key())?;
//! PAssert::that(&latest).contains_in_any_order(vec![("a".to_string(), 3), ("b".to_string(), 2)])?;
//! p.run()?;
//! # Ok::<(), beam_core::BeamError>(())
//! ```
//!
//! Between elements with the same timestamp the choice does not depend on
//! bundling: the one whose encoding sorts last wins.

use crate::coder::{encode, Element, Key};
use crate::combine::{Combine, CombineFn};
use crate::error::Result;
use crate::pipeline::{PCollection, PTransform};
use crate::time::Timestamp;
use crate::transforms::elementwise::{FlatMap, MapWithContext};
use std::marker::PhantomData;

/// The latest element of each window: [`Latest::globally`] (`None` for an
/// empty global window), [`Latest::per_key`].
pub struct Latest;

impl Latest {
    /// The element with the latest timestamp, as `Some(element)`; `None` for
    /// an empty input in the global window. For other windowings use
    /// [`LatestGlobally::without_defaults`].
    pub fn globally<T: Element>() -> LatestGlobally<T> {
        LatestGlobally {
            defaults: true,
            _t: PhantomData,
        }
    }
    /// The value with the latest timestamp of each key.
    pub fn per_key<K: Key, V: Element>() -> LatestPerKey<K, V> {
        LatestPerKey(PhantomData)
    }
}

/// See [`Latest::globally`].
pub struct LatestGlobally<T> {
    defaults: bool,
    _t: PhantomData<fn(T)>,
}

impl<T> LatestGlobally<T> {
    /// Produces nothing for an empty window (needed outside the global window).
    pub fn without_defaults(mut self) -> Self {
        self.defaults = false;
        self
    }
}

/// See [`Latest::per_key`].
pub struct LatestPerKey<K, V>(PhantomData<fn(K, V)>);

/// Keeps the timestamped value with the latest timestamp (`None` for no input).
pub struct LatestFn<T>(PhantomData<fn(T)>);

impl<T> Clone for LatestFn<T> {
    fn clone(&self) -> Self {
        LatestFn(PhantomData)
    }
}

impl<T> Default for LatestFn<T> {
    fn default() -> Self {
        LatestFn(PhantomData)
    }
}

/// Whether `x` replaces `kept`: a later timestamp, or the same one and an
/// encoding that sorts after it (so ties do not depend on arrival order).
fn replaces<T: Element>(kept: &(Timestamp, T), x: &(Timestamp, T)) -> bool {
    match x.0.cmp(&kept.0) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            match (encode(&kept.1, &mut a), encode(&x.1, &mut b)) {
                (Ok(()), Ok(())) => b > a,
                _ => false,
            }
        }
    }
}

impl<T: Element> CombineFn for LatestFn<T> {
    type Input = (Timestamp, T);
    type Accum = Option<(Timestamp, T)>;
    type Output = Option<T>;
    fn create_accumulator(&self) -> Self::Accum {
        None
    }
    fn add_input(&self, acc: &mut Self::Accum, x: (Timestamp, T)) {
        match acc {
            Some(kept) if !replaces(kept, &x) => {}
            _ => *acc = Some(x),
        }
    }
    fn merge_accumulators(&self, acc: &mut Self::Accum, other: Self::Accum) {
        if let Some(x) = other {
            self.add_input(acc, x)
        }
    }
    fn extract_output(&self, acc: Self::Accum) -> Option<T> {
        acc.map(|(_, v)| v)
    }
}

impl<T: Element> PTransform<PCollection<T>> for LatestGlobally<T> {
    type Output = PCollection<Option<T>>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<Option<T>>> {
        let timed = input.apply(
            "Timestamps",
            MapWithContext::new(|x: &T, ctx| (ctx.timestamp(), x.clone())),
        )?;
        let combine = Combine::globally(LatestFn::<T>::default());
        let combine = if self.defaults {
            combine
        } else {
            combine.without_defaults()
        };
        timed.apply("Combine", combine)
    }
}

impl<K: Key, V: Element> PTransform<PCollection<(K, V)>> for LatestPerKey<K, V> {
    type Output = PCollection<(K, V)>;
    fn expand(self, input: &PCollection<(K, V)>) -> Result<PCollection<(K, V)>> {
        input
            .apply(
                "Timestamps",
                MapWithContext::new(|kv: &(K, V), ctx| {
                    (kv.0.clone(), (ctx.timestamp(), kv.1.clone()))
                }),
            )?
            .apply("Combine", Combine::per_key(LatestFn::<V>::default()))?
            .apply(
                "Unwrap",
                FlatMap::new(|kv: &(K, Option<V>)| kv.1.clone().map(|v| (kv.0.clone(), v))),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_are_broken_by_encoding_whatever_the_order() {
        let f = LatestFn::<String>::default();
        let (x, y) = (
            (Timestamp::from_micros(5), "x".to_string()),
            (Timestamp::from_micros(5), "y".to_string()),
        );
        for order in [[x.clone(), y.clone()], [y.clone(), x.clone()]] {
            let mut acc = f.create_accumulator();
            for v in order {
                f.add_input(&mut acc, v);
            }
            assert_eq!(f.extract_output(acc), Some("y".to_string()));
        }
        let mut acc = Some((Timestamp::from_micros(9), "a".to_string()));
        f.merge_accumulators(&mut acc, Some(y));
        assert_eq!(f.extract_output(acc), Some("a".to_string()));
    }
}
