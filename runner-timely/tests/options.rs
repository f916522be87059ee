//! Run options are checked before any data moves.

use beam_core::{Create, Pipeline, PipelineOptions};
use runner_timely as _;

#[test]
fn zero_workers_or_processes_are_refused() {
    for (name, value) in [("workers", "0"), ("processes", "0")] {
        let p = Pipeline::new(
            PipelineOptions::default()
                .with_runner("timely")
                .set(name, value),
        );
        p.apply("One", Create::of(vec![1u8])).unwrap();
        let err = p.run().unwrap_err().to_string();
        assert!(
            err.contains(&format!("--{name} must be at least 1")),
            "{err}"
        );
    }
}
