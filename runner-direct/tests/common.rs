//! Helpers shared by the direct runner's model tests.
#![allow(dead_code)]

use beam_core::{Pipeline, PipelineOptions, Timestamp, Window};
// Links the runner into the test binary so the registry finds it.
use runner_direct as _;

/// A pipeline on the direct runner with checks on and the given seed.
pub fn pipeline(seed: u64) -> Pipeline {
    Pipeline::new(
        PipelineOptions::default()
            .with_runner("direct")
            .set("seed", seed.to_string()),
    )
}

/// A timestamp of `x` microseconds (the unit of Beam's scenarios, read as integers).
pub fn ts(x: i64) -> Timestamp {
    Timestamp::from_micros(x)
}

/// The interval window `[a, b)` in microseconds.
pub fn iw(a: i64, b: i64) -> Window {
    Window::interval(ts(a), ts(b))
}

pub fn s(x: &str) -> String {
    x.to_string()
}
