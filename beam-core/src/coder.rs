//! Elements and their coders.
//!
//! An element type's serde representation is its coder. Encoding uses postcard,
//! a compact, deterministic format for everything but unordered collections:
//! keys of a [`GroupByKey`](crate::GroupByKey) must encode the same way whenever
//! they compare equal, so key types must not contain a `HashMap` or `HashSet`
//! (use `BTreeMap`/`BTreeSet`). The direct runner checks that every element
//! survives an encode/decode round trip.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::hash::Hash;

/// What every PCollection element must be: cloneable, thread-safe, encodable and printable.
///
/// Implemented for every type with these properties.
pub trait Element: Clone + Send + Sync + Serialize + DeserializeOwned + Debug + 'static {}
impl<T: Clone + Send + Sync + Serialize + DeserializeOwned + Debug + 'static> Element for T {}

/// What a grouping key must be: an element with `Hash` and `Eq` that agree with its
/// (deterministic) encoding.
pub trait Key: Element + Hash + Eq {}
impl<T: Element + Hash + Eq> Key for T {}

/// Appends the encoding of `value` to `out`.
pub fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), String> {
    let buf = std::mem::take(out);
    match postcard::to_extend(value, buf) {
        Ok(buf) => {
            *out = buf;
            Ok(())
        }
        Err(e) => Err(format!("cannot encode element: {e}")),
    }
}

/// Encodes `value` into a new buffer.
pub fn encode_to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    encode(value, &mut out)?;
    Ok(out)
}

/// Decodes one value from `bytes`, which must hold exactly its encoding.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes(bytes) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(format!(
            "cannot decode element: {} of {} bytes left over",
            rest.len(),
            bytes.len()
        )),
        Err(e) => Err(format!("cannot decode element: {e}")),
    }
}

/// A Debug rendering of an element for error messages, cut to a readable
/// length (with the length of the whole rendering, which is counted, not kept).
pub fn describe<T: Debug + ?Sized>(value: &T) -> String {
    const LIMIT: usize = 300;
    /// Keeps the first `LIMIT` bytes written and counts the rest.
    struct Bounded {
        kept: String,
        total: usize,
        full: bool,
    }
    impl std::fmt::Write for Bounded {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.total += s.len();
            if !self.full {
                let mut end = LIMIT.saturating_sub(self.kept.len()).min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                self.kept.push_str(&s[..end]);
                self.full = end < s.len();
            }
            Ok(())
        }
    }
    let mut out = Bounded {
        kept: String::new(),
        total: 0,
        full: false,
    };
    let _ = std::fmt::Write::write_fmt(&mut out, format_args!("{value:?}"));
    if out.total <= LIMIT {
        return out.kept;
    }
    format!("{}... ({} bytes of Debug output)", out.kept, out.total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_determinism() {
        let v = ("word".to_string(), 42u64, vec![1i32, -2]);
        let a = encode_to_vec(&v).unwrap();
        let b = encode_to_vec(&v.clone()).unwrap();
        assert_eq!(a, b);
        let back: (String, u64, Vec<i32>) = decode(&a).unwrap();
        assert_eq!(back, v);
        assert!(decode::<(String, u64)>(&a[..2]).is_err());
        assert!(decode::<String>(&a).unwrap_err().contains("left over"));
    }

    #[test]
    fn describe_cuts_long_values_on_char_boundaries() {
        let s = "é".repeat(1000);
        let d = describe(&s);
        assert!(d.len() < 400, "{}", d.len());
        assert!(d.contains("bytes of Debug output"));
    }
}
