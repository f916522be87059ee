//! [`ExactSum`]: a sum of floats that does not depend on the order of the
//! additions, so that `SUM` and `AVG` of doubles give the same answer however
//! the input is split into bundles or spread over workers.

use serde::{Deserialize, Serialize};

/// The exact sum of finite floats as non-overlapping partials (Shewchuk's
/// algorithm, as in Python's `math.fsum`), rounded once when read; infinities
/// and NaNs are summed apart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExactSum {
    partials: Vec<f64>,
    special: f64,
    any_special: bool,
}

impl ExactSum {
    /// Adds `x`.
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            self.special += x;
            self.any_special = true;
            return;
        }
        let mut x = x;
        let mut kept = 0;
        for i in 0..self.partials.len() {
            let mut y = self.partials[i];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            if !hi.is_finite() {
                // Finite values whose sum overflows: the sum is that infinity.
                self.special += hi;
                self.any_special = true;
                self.partials.clear();
                return;
            }
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        self.partials.push(x);
    }

    /// Adds every partial of `other`.
    pub fn merge(&mut self, other: &ExactSum) {
        for &p in &other.partials {
            self.add(p);
        }
        if other.any_special {
            self.special += other.special;
            self.any_special = true;
        }
    }

    /// The sum, correctly rounded.
    pub fn value(&self) -> f64 {
        if self.any_special {
            return self.special;
        }
        let p = &self.partials;
        let Some(mut n) = p.len().checked_sub(1) else {
            return 0.0;
        };
        let mut hi = p[n];
        let mut lo = 0.0;
        while n > 0 {
            n -= 1;
            let x = hi;
            let y = p[n];
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        // Round half to even across the remaining partials.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sum_does_not_depend_on_the_order() {
        let values = [1e16, 1.0, -1e16, 0.1, 0.2, 0.3, 1e-3, -0.7];
        let mut forward = ExactSum::default();
        values.iter().for_each(|&v| forward.add(v));
        let mut halves = (ExactSum::default(), ExactSum::default());
        values.iter().rev().take(4).for_each(|&v| halves.0.add(v));
        values.iter().take(4).for_each(|&v| halves.1.add(v));
        halves.0.merge(&halves.1);
        assert_eq!(forward.value(), halves.0.value());
        assert!((forward.value() - 0.901).abs() < 1e-15);
    }

    #[test]
    fn infinities_and_overflow() {
        let mut s = ExactSum::default();
        s.add(f64::MAX);
        s.add(f64::MAX);
        assert_eq!(s.value(), f64::INFINITY);
        let mut n = ExactSum::default();
        n.add(f64::INFINITY);
        n.add(f64::NEG_INFINITY);
        assert!(n.value().is_nan());
    }
}
