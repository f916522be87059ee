//! More of Beam's MetricsTest: metrics of several steps kept apart, metrics
//! reported from the start and finish of bundles, and gauges.

use crate::scenario;
use beam_core::{
    Create, DoFn, FinishBundleContext, ParDo, ProcessContext, StartBundleContext, UserResult,
};

/// Counts elements into `name` and bundles into `bundles`.
#[derive(Clone)]
struct Counting {
    name: &'static str,
}

impl DoFn for Counting {
    type In = i64;
    type Out = i64;
    fn start_bundle(&mut self, ctx: &mut StartBundleContext<'_>) -> UserResult {
        ctx.metrics().inc_counter("bundles_started", 1);
        Ok(())
    }
    fn process(&mut self, x: &i64, ctx: &mut ProcessContext<'_, i64>) -> UserResult {
        ctx.metrics().inc_counter(self.name, 1);
        ctx.metrics().update_distribution("sizes", *x);
        ctx.metrics().set_gauge("last", *x);
        ctx.output(*x * 2);
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut FinishBundleContext<'_, i64>) -> UserResult {
        ctx.metrics().inc_counter("bundles_finished", 1);
        Ok(())
    }
}

// MetricsTest.testAllAttemptedMetrics / testCommittedCounterMetrics: the same
// metric name in two steps is two metrics, each with its step's values.
scenario!(
    metrics_of_two_steps_are_kept_apart,
    area = "ParDo",
    features = [Metrics, Lifecycle],
    beam = "MetricsTest.testAllAttemptedMetrics, testCommittedCounterMetrics",
    replay = false,
    |env| {
        let p = env.pipeline();
        p.apply("Create", Create::of(vec![1i64, 2, 3]))
            .unwrap()
            .apply("First", ParDo::of(Counting { name: "elements" }))
            .unwrap()
            .apply("Second", ParDo::of(Counting { name: "elements" }))
            .unwrap();
        let r = p.run().unwrap();
        let m = r.metrics();
        assert_eq!(m.counter("First", "elements"), Some(3));
        assert_eq!(m.counter("Second", "elements"), Some(3));
        let first = m.distribution("First", "sizes").unwrap();
        let second = m.distribution("Second", "sizes").unwrap();
        assert_eq!((first.sum, first.count, first.min, first.max), (6, 3, 1, 3));
        assert_eq!(
            (second.sum, second.count, second.min, second.max),
            (12, 3, 2, 6)
        );
        // Every bundle started was finished, in each step.
        for step in ["First", "Second"] {
            let started = m.counter(step, "bundles_started").unwrap_or(0);
            assert!(started >= 1, "{step}");
            assert_eq!(m.counter(step, "bundles_finished"), Some(started), "{step}");
        }
    }
);

// MetricsTest.testAttemptedGaugeMetrics: a gauge holds one of the values set
// (the latest set on some bundle).
scenario!(
    gauge_holds_a_value_that_was_set,
    area = "ParDo",
    features = [Metrics],
    beam = "MetricsTest.testAttemptedGaugeMetrics, testCommittedGaugeMetrics",
    replay = false,
    |env| {
        let p = env.pipeline();
        p.apply("Create", Create::of(vec![5i64, 7, 9]))
            .unwrap()
            .apply("Gauged", ParDo::of(Counting { name: "n" }))
            .unwrap();
        let r = p.run().unwrap();
        let g = r.metrics().gauge("Gauged", "last").unwrap();
        assert!([5, 7, 9].contains(&g), "{g}");
    }
);
