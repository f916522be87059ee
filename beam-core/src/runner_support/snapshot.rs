//! What the state snapshots of grouping tables and stateful processors share:
//! every snapshot starts with its layout version and its step's name, checked
//! before the rest is decoded, so a snapshot of another step or layout is
//! refused with a clear error.

use crate::coder;
use crate::error::{BeamError, Result};
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
