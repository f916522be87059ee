//! Numbers: built-in combiners never turn an overflow into a plausible total.

use crate::scenario;

use beam_core::testing::PAssert;
use beam_core::{Count, Create, Sum};

// An i64 total that does not fit fails the step, globally and per key; one
// that fits is output whatever order its elements are added in (no
// intermediate overflow); a wider element type holds any total.
scenario!(
    integer_sum_overflow_fails_the_step,
    area = "Combine and composites",
    features = [],
    beam = "Sum.ofLongs, Sum.longsPerKey (Beam Java wraps on overflow; here the step fails)",
    replay = false,
    |env| {
        let big = vec![i64::MAX - 1, 1, 1, -5];
        let fits = env.pipeline();
        let total = fits
            .apply("Big", Create::of(big.clone()))
            .unwrap()
            .apply("Total", Sum::globally())
            .unwrap();
        PAssert::that(&total)
            .contains_in_any_order(vec![i64::MAX - 4])
            .unwrap();
        fits.run().unwrap();

        let big = vec![i64::MAX - 1, 1, 1, -1, 1];
        let p = env.pipeline();
        p.apply("Big", Create::of(big.clone()))
            .unwrap()
            .apply("Total", Sum::globally())
            .unwrap();
        match p.run().unwrap_err() {
            beam_core::BeamError::UserPanic { step, message, .. } => {
                assert!(step.starts_with("Total"), "{step}");
                assert!(message.contains("integer overflow"), "{message}");
            }
            other => panic!("unexpected {other}"),
        }

        let p = env.pipeline();
        let keyed: Vec<(String, i64)> = big.iter().map(|&v| ("k".to_string(), v)).collect();
        p.apply("Keyed", Create::of(keyed))
            .unwrap()
            .apply("TotalPerKey", Sum::per_key())
            .unwrap();
        let err = p.run().unwrap_err().to_string();
        assert!(
            err.contains("TotalPerKey") && err.contains("integer overflow"),
            "{err}"
        );

        let p = env.pipeline();
        let wide: Vec<i128> = big.iter().map(|&v| i128::from(v)).collect();
        let total = p
            .apply("Wide", Create::of(wide))
            .unwrap()
            .apply("Total", Sum::globally())
            .unwrap();
        PAssert::that(&total)
            .contains_in_any_order(vec![i128::from(i64::MAX) + 1])
            .unwrap();
        let count = p
            .apply("Some", Create::of(vec![1u8, 2, 3]))
            .unwrap()
            .apply("Count", Count::globally())
            .unwrap();
        PAssert::that(&count)
            .contains_in_any_order(vec![3])
            .unwrap();
        p.run().unwrap();
    }
);
