//! What the state snapshots of grouping tables and stateful processors share:
//! every snapshot starts with its layout version and its step's name, checked
//! before the rest is decoded, so a snapshot of another step or layout is
//! refused with a clear error.

use crate::coder;
use crate::error::{BeamError, Result};
use crate::time::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The version of the snapshot layouts; restoring another version fails.
pub(crate) const FORMAT: u32 = 2;

/// The first two fields of every snapshot image.
#[derive(Deserialize)]
struct Header {
    format: u32,
    step: String,
}

/// An error about a step's state snapshot.
pub(crate) fn error(step: &str, message: impl std::fmt::Display) -> BeamError {
    BeamError::Coder {
        step: step.to_string(),
        message: format!("state snapshot: {message}"),
    }
}

/// Encodes an image whose first fields are `FORMAT` and the step's name.
pub(crate) fn encode<T: Serialize>(step: &str, image: &T) -> Result<Vec<u8>> {
    coder::encode_to_vec(image).map_err(|m| error(step, m))
}

/// Decodes an image for `step`, refusing other layouts and other steps.
pub(crate) fn decode<T: DeserializeOwned>(step: &str, bytes: &[u8]) -> Result<T> {
    let (header, _) = postcard::take_from_bytes::<Header>(bytes)
        .map_err(|e| error(step, format!("cannot read the header: {e}")))?;
    if header.format != FORMAT {
        return Err(error(
            step,
            format!("layout version {} (expected {FORMAT})", header.format),
        ));
    }
    if header.step != step {
        return Err(error(
            step,
            format!("the snapshot is of step '{}'", header.step),
        ));
    }
    coder::decode(bytes).map_err(|m| error(step, m))
}

/// The watermarks and processing time of a state restored from several
/// snapshots: the least input and output watermarks (what fired before them
/// is gone from every snapshot, so nothing fires twice) and the latest
/// processing time; each at its start value without snapshots.
pub(crate) fn merged_times(
    times: impl Iterator<Item = (Timestamp, Timestamp, Timestamp)>,
) -> (Timestamp, Timestamp, Timestamp) {
    times
        .fold(
            None,
            |acc: Option<(Timestamp, Timestamp, Timestamp)>, (i, o, n)| {
                Some(match acc {
                    None => (i, o, n),
                    Some((ai, ao, an)) => (ai.min(i), ao.min(o), an.max(n)),
                })
            },
        )
        .unwrap_or((Timestamp::MIN, Timestamp::MIN, Timestamp::MIN))
}
