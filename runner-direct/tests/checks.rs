//! The direct runner's model checks and error reporting.

mod common;

use beam_core::testing::PAssert;
use beam_core::{
    BeamError, Count, Create, DoFn, Map, ParDo, Pipeline, PipelineOptions, ProcessContext, TryMap,
    UserError, UserResult,
};
use common::{pipeline, s};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

#[derive(Clone)]
struct FailOn(i32);

impl DoFn for FailOn {
    type In = i32;
    type Out = i32;
    fn process(&mut self, x: &i32, ctx: &mut ProcessContext<'_, i32>) -> UserResult {
        if *x == self.0 {
            return Err(UserError::msg("thirteen is unlucky"));
        }
        ctx.output(*x);
        Ok(())
    }
}

// A DoFn failing on one element fails the run with the step and the element.
#[test]
fn user_errors_name_the_step_and_element() {
    let p = pipeline(0);
    p.apply("Create", Create::of(1..100))
        .unwrap()
        .apply("Outer", TryMap::new(|x: &i32| Ok::<i32, UserError>(*x)))
        .unwrap()
        .apply("Unlucky", ParDo::of(FailOn(13)))
        .unwrap();
    match p.run().unwrap_err() {
        BeamError::UserCode {
            step,
            element,
            message,
        } => {
            assert_eq!(step, "Unlucky");
            assert_eq!(element.as_deref(), Some("13"));
            assert_eq!(message, "thirteen is unlucky");
        }
        other => panic!("unexpected {other}"),
    }
    // Errors from `?` on std errors keep their message; nested steps get full names.
    let p = pipeline(0);
    p.apply("Create", Create::of(vec![s("12"), s("x")]))
        .unwrap()
        .apply(
            "Parse",
            TryMap::new(|x: &String| Ok::<i64, UserError>(x.parse::<i64>()?)),
        )
        .unwrap();
    let err = p.run().unwrap_err().to_string();
    assert_eq!(
        err,
        "step 'Parse/ParDo' failed on element \"x\": invalid digit found in string"
    );
}

// A panic in user code fails the run the same way, with its location.
#[test]
fn panics_are_reported_with_step_and_element() {
    let p = pipeline(0);
    p.apply("Create", Create::of(vec![1, 2, 3]))
        .unwrap()
        .apply(
            "Boom",
            Map::new(|x: &i32| if *x == 2 { panic!("no twos") } else { *x }),
        )
        .unwrap();
    match p.run().unwrap_err() {
        BeamError::UserPanic {
            step,
            element,
            message,
        } => {
            assert_eq!(step, "Boom/ParDo");
            assert_eq!(element.as_deref(), Some("2"));
            assert!(
                message.starts_with("no twos (at ") && message.contains("checks.rs"),
                "{message}"
            );
        }
        other => panic!("unexpected {other}"),
    }
}

/// A shared counter: interior mutability behind a shared reference.
#[derive(Clone, Debug)]
struct Shared(Arc<AtomicI32>);

impl Serialize for Shared {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(self.0.load(Ordering::SeqCst))
    }
}

impl<'de> Deserialize<'de> for Shared {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i32::deserialize(d).map(|v| Shared(Arc::new(AtomicI32::new(v))))
    }
}

#[derive(Clone)]
struct Mutate;

impl DoFn for Mutate {
    type In = (String, Shared);
    type Out = i32;
    fn process(&mut self, x: &(String, Shared), ctx: &mut ProcessContext<'_, i32>) -> UserResult {
        ctx.output(x.1 .0.fetch_add(1, Ordering::SeqCst));
        Ok(())
    }
}

// ParDoTest / DirectRunner enforceImmutability: mutating an input fails, unless checks are off.
#[test]
fn mutating_an_input_is_detected() {
    let build = |options: PipelineOptions| {
        let p = Pipeline::new(options);
        p.apply(
            "Create",
            Create::of(vec![(s("a"), Shared(Arc::new(AtomicI32::new(1))))]),
        )
        .unwrap()
        .apply("Mutate", ParDo::of(Mutate))
        .unwrap();
        p
    };
    let err = build(PipelineOptions::default()).run().unwrap_err();
    assert!(
        matches!(&err, BeamError::IllegalMutation { step, .. } if step == "Mutate"),
        "{err}"
    );
    assert!(err.to_string().contains("(\"a\", Shared(1))"), "{err}");
    build(PipelineOptions::default().set("no-checks", "true"))
        .run()
        .unwrap();
}

/// Encodes as a string but decodes as a number: does not survive its coder.
#[derive(Clone, Debug)]
struct Lossy;

impl Serialize for Lossy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("lossy")
    }
}

impl<'de> Deserialize<'de> for Lossy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(|_| Lossy)
    }
}

// DirectRunner enforceEncodability: every element round-trips through its coder.
#[test]
fn elements_that_do_not_survive_their_coder_are_detected() {
    let p = pipeline(0);
    p.apply("Create", Create::of(vec![1]))
        .unwrap()
        .apply("MakeLossy", Map::new(|_: &i32| Lossy))
        .unwrap();
    let err = p.run().unwrap_err();
    assert!(
        matches!(&err, BeamError::Coder { step, .. } if step == "MakeLossy/ParDo.out"),
        "{err}"
    );
}

#[derive(Clone, Default)]
struct FirstOfBundle {
    seen: bool,
}

impl DoFn for FirstOfBundle {
    type In = i32;
    type Out = i32;
    fn start_bundle(&mut self, _: &mut beam_core::StartBundleContext<'_>) -> UserResult {
        self.seen = false;
        Ok(())
    }
    fn process(&mut self, x: &i32, ctx: &mut ProcessContext<'_, i32>) -> UserResult {
        if !self.seen {
            ctx.output(*x);
            self.seen = true;
        }
        Ok(())
    }
}

fn first_of_bundles(seed: u64) -> Vec<i32> {
    let p = pipeline(seed);
    let out = p
        .apply("Create", Create::of(0..50))
        .unwrap()
        .apply("First", ParDo::of(FirstOfBundle::default()))
        .unwrap();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = got.clone();
    PAssert::that(&out)
        .satisfies(move |xs: &[i32]| {
            let mut v = xs.to_vec();
            v.sort();
            *sink.lock().unwrap() = v;
        })
        .unwrap();
    p.run().unwrap();
    let v = got.lock().unwrap().clone();
    v
}

// Order- and bundling-dependent results change with the seed and repeat with it.
#[test]
fn shuffling_is_seeded_and_reproducible() {
    assert_eq!(first_of_bundles(1), first_of_bundles(1));
    let distinct: std::collections::HashSet<Vec<i32>> = (0..8).map(first_of_bundles).collect();
    assert!(distinct.len() > 1, "shuffling had no effect: {distinct:?}");
}

#[test]
fn construction_errors() {
    let p = pipeline(0);
    let xs = p.apply("Xs", Create::of(vec![1])).unwrap();
    let err = xs.apply("Xs", Map::new(|x: &i32| *x)).err().unwrap();
    assert!(
        matches!(err, BeamError::DuplicateName { ref name } if name == "Xs"),
        "{err}"
    );
    let err = xs
        .apply("a/b", Map::new(|x: &i32| *x))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("must not contain '/'"), "{err}");
    // The same name in different scopes is fine.
    xs.apply("Count", Count::per_element()).unwrap();
    p.apply("Ys", Create::of(vec![2]))
        .unwrap()
        .apply("Count2", Count::per_element())
        .unwrap();
    let names: Vec<String> = p
        .graph()
        .transforms
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert!(names.contains(&s("Count/Combine.perElement")), "{names:?}");
    assert!(names.contains(&s("Count2/Combine.perElement")), "{names:?}");
}

#[test]
fn unknown_runners_list_the_registered_ones() {
    let p = Pipeline::new(PipelineOptions::default().with_runner("flink"));
    let err = p.run().unwrap_err().to_string();
    assert_eq!(err, "unknown runner 'flink'; registered runners: direct");
}

#[test]
fn graphs_export_as_json_and_dot() {
    let dir = std::env::temp_dir().join(format!("graph-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["g.json", "g.dot"] {
        let path = dir.join(file);
        let mut o = PipelineOptions::default();
        o.dump_graph = Some(path.clone());
        o.job_name = "export".into();
        let p = Pipeline::new(o);
        p.apply("Words", Create::of(vec![s("a")]))
            .unwrap()
            .apply("CountWords", Count::per_element())
            .unwrap();
        p.run().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("CountWords/Combine.perElement"), "{text}");
        if file.ends_with(".json") {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["job_name"], "export");
            assert_eq!(v["transforms"][0]["kind"], "Create");
        } else {
            assert!(text.starts_with("digraph \"export\""), "{text}");
            assert!(text.contains("->"), "{text}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
