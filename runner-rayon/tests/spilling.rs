//! Groupings whose input outgrows `--memory-budget` spill to disk and give the
//! same results; the spill files are gone afterwards, whether the run succeeds
//! or fails.

use beam_core::testing::PAssert;
use beam_core::{
    BeamError, Create, GroupByKey, Map, Pipeline, PipelineOptions, PipelineResult, Sum, TryMap,
    UserError,
};
use runner_rayon as _;
use std::path::Path;

fn options(temp: &Path, threads: usize) -> PipelineOptions {
    let mut o = PipelineOptions::default()
        .with_runner("rayon")
        .set("memory-budget", "1MiB")
        .set("temp-dir", temp.display().to_string());
    o.parallelism = Some(threads);
    o
}

/// `n` pairs over `keys` string keys: key `k{i % keys}`, value `i`.
fn pairs(n: u64, keys: u64) -> Vec<(String, u64)> {
    (0..n).map(|i| (format!("k{}", i % keys), i)).collect()
}

fn assert_no_spill_files(temp: &Path) {
    let left: Vec<_> = std::fs::read_dir(temp).unwrap().collect();
    assert!(left.is_empty(), "spill files left behind: {left:?}");
}

fn spilled_runs(result: &PipelineResult, step: &str) -> i64 {
    result.metrics().counter(step, "spilled_runs").unwrap_or(0)
}

#[test]
fn group_by_key_spills_and_groups_every_value_once() {
    let (n, keys) = (150_000u64, 4_000u64);
    // Each key's values are i ≡ key (mod keys): count and sum are known in closed form.
    let expected: Vec<(String, (u64, u64))> = (0..keys)
        .map(|k| {
            let count = (n - k).div_ceil(keys);
            let sum = count * k + keys * count * (count - 1) / 2;
            (format!("k{k}"), (count, sum))
        })
        .collect();
    // With 8 threads each worker's share is small enough that buckets are split again.
    for threads in [1, 8] {
        let temp = tempfile::tempdir().unwrap();
        let p = Pipeline::new(options(temp.path(), threads));
        let grouped = p
            .apply("Pairs", Create::of(pairs(n, keys)))
            .unwrap()
            .apply("Group", GroupByKey::new())
            .unwrap()
            .apply(
                "Summarize",
                Map::new(|(k, vs): &(String, Vec<u64>)| {
                    (k.clone(), (vs.len() as u64, vs.iter().sum::<u64>()))
                }),
            )
            .unwrap();
        PAssert::that(&grouped)
            .contains_in_any_order(expected.clone())
            .unwrap();
        let result = p.run().unwrap();
        assert!(
            spilled_runs(&result, "Group") > 1,
            "{threads} threads: no spill"
        );
        assert_no_spill_files(temp.path());
    }
}

#[test]
fn lifted_combine_spills_partial_accumulators() {
    let (n, keys) = (120_000u64, 60_000u64);
    let expected: Vec<(String, u64)> = (0..keys)
        .map(|k| (format!("k{k}"), k + (k + keys)))
        .collect();
    let temp = tempfile::tempdir().unwrap();
    let p = Pipeline::new(options(temp.path(), 2));
    let sums = p
        .apply("Pairs", Create::of(pairs(n, keys)))
        .unwrap()
        .apply("Identity", Map::new(|kv: &(String, u64)| kv.clone()))
        .unwrap()
        .apply("Sum", Sum::per_key())
        .unwrap();
    PAssert::that(&sums)
        .contains_in_any_order(expected)
        .unwrap();
    let result = p.run().unwrap();
    assert!(spilled_runs(&result, "Sum") > 1, "no spill");
    assert_no_spill_files(temp.path());
}

#[test]
fn spill_files_are_removed_when_the_run_fails() {
    let temp = tempfile::tempdir().unwrap();
    let p = Pipeline::new(options(temp.path(), 2));
    p.apply("Pairs", Create::of(pairs(100_000, 1_000)))
        .unwrap()
        .apply("Group", GroupByKey::new())
        .unwrap()
        .apply(
            "Fail",
            TryMap::new(|(k, _): &(String, Vec<u64>)| {
                if k == "k999" {
                    Err(UserError::msg("bad key"))
                } else {
                    Ok(k.clone())
                }
            }),
        )
        .unwrap();
    match p.run().unwrap_err() {
        BeamError::UserCode { step, .. } => assert!(step.starts_with("Fail"), "{step}"),
        other => panic!("unexpected {other}"),
    }
    assert_no_spill_files(temp.path());
}

#[test]
fn memory_budget_must_be_a_size() {
    let p = Pipeline::new(
        PipelineOptions::default()
            .with_runner("rayon")
            .set("memory-budget", "lots"),
    );
    p.apply("One", Create::of(vec![1u8])).unwrap();
    let err = p.run().unwrap_err().to_string();
    assert!(err.contains("--memory-budget lots"), "{err}");
}
