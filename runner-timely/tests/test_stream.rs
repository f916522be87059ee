//! TestStream on the timely runner: events applied in order on a quiescent pipeline.

use beam_core::testing::PAssert;
use beam_core::{
    Duration, Pipeline, PipelineOptions, Sum, TestStream, Timestamp, WindowFn, WindowInto,
};
use runner_timely as _;

#[test]
fn fixed_windows_fire_as_the_watermark_passes() {
    for workers in ["1", "2"] {
        let p = Pipeline::new(
            PipelineOptions::default()
                .with_runner("timely")
                .set("workers", workers),
        );
        let ts = |s| Timestamp::from_secs(s);
        let events = p
            .apply(
                "Events",
                TestStream::new()
                    .add_elements(vec![
                        (("a".to_string(), 1u64), ts(1)),
                        (("a".into(), 2), ts(3)),
                    ])
                    .advance_watermark_to(ts(20))
                    .add_elements(vec![(("a".to_string(), 5u64), ts(25))])
                    .advance_watermark_to_infinity(),
            )
            .unwrap();
        let sums = events
            .apply(
                "Window",
                WindowInto::new(WindowFn::fixed(Duration::from_secs(10))),
            )
            .unwrap()
            .apply("Sum", Sum::per_key())
            .unwrap();
        PAssert::that(&sums)
            .contains_in_any_order(vec![("a".to_string(), 3), ("a".to_string(), 5)])
            .unwrap();
        p.run().unwrap();
    }
}
