//! Helpers shared by scenarios.

use beam_core::{Timestamp, Window};

/// A timestamp of `x` microseconds (the unit of Beam's scenarios, read as integers).
pub fn ts(x: i64) -> Timestamp {
    Timestamp::from_micros(x)
}

/// The interval window `[a, b)` in microseconds.
pub fn iw(a: i64, b: i64) -> Window {
    Window::interval(ts(a), ts(b))
}

/// An owned string.
pub fn s(x: &str) -> String {
    x.to_string()
}
