//! The rayon runner refuses unbounded pipelines before any data moves.

use beam_core::{BeamError, Pipeline, PipelineOptions, TestStream, Timestamp};
use runner_rayon as _;

#[test]
fn unbounded_sources_are_refused_naming_the_step() {
    let p = Pipeline::new(PipelineOptions::default().with_runner("rayon"));
    p.apply(
        "Events",
        TestStream::new().add_elements(vec![(1, Timestamp::EPOCH)]),
    )
    .unwrap();
    match p.run().unwrap_err() {
        BeamError::Unsupported {
            runner,
            step,
            feature,
        } => {
            assert_eq!((runner.as_str(), step.as_str()), ("rayon", "Events"));
            assert!(feature.contains("--runner timely"), "{feature}");
        }
        other => panic!("unexpected {other}"),
    }
}
