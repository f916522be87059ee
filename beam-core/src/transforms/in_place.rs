//! Steps that keep their input's elements: they move each bundle's elements
//! through, dropping some ([`Filter`](crate::Filter)) or changing their
//! timestamps ([`WithTimestamps`](crate::WithTimestamps)), instead of cloning
//! every kept element into a new bundle as a DoFn's output would.

use crate::batch::Batch;
use crate::coder::{self, Element};
use crate::error::{BeamError, Result, UserResult};
use crate::graph::Primitive;
use crate::kernel::{BundleEnv, BundleProcessor, ParDoKernel};
use crate::pardo::{bundle_error, Failure, MutationCheck};
use crate::pipeline::{OutputSpec, PCollection, PTransform};
use crate::user_code;
use crate::window::WindowedValue;
use std::marker::PhantomData;
use std::sync::Arc;

/// What an in-place step does to one element.
pub(crate) trait InPlace<T>: Clone + Send + Sync + 'static {
    /// Changes `wv` in place; `Ok(false)` drops it.
    fn apply(&self, wv: &mut WindowedValue<T>) -> UserResult<bool>;
}

/// Adds an in-place step applying `f` to `input`'s elements.
pub(crate) struct InPlaceStep<T, F> {
    pub(crate) f: F,
    pub(crate) _t: PhantomData<fn(T)>,
}

impl<T: Element, F: InPlace<T>> PTransform<PCollection<T>> for InPlaceStep<T, F> {
    type Output = PCollection<T>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<T>> {
        let p = input.pipeline().clone();
        let step = p.current_scope();
        let (windowing, bounded, _) = p.pcollection_info(input.id());
        let kernel = InPlaceKernel::<T, F> {
            f: self.f,
            step,
            _t: PhantomData,
        };
        let ids = p.add_primitive(
            Primitive::ParDo {
                kernel: Arc::new(kernel),
                side_inputs: Vec::new(),
            },
            vec![input.id()],
            vec![OutputSpec::of::<T>(windowing, bounded).tagged("out")],
        )?;
        Ok(PCollection::new(p, ids[0]))
    }
}

struct InPlaceKernel<T, F> {
    f: F,
    step: String,
    _t: PhantomData<fn(T)>,
}

impl<T: Element, F: InPlace<T>> ParDoKernel for InPlaceKernel<T, F> {
    fn instantiate(&self) -> Box<dyn BundleProcessor> {
        Box::new(InPlaceKernel::<T, F> {
            f: self.f.clone(),
            step: self.step.clone(),
            _t: PhantomData,
        })
    }
}

impl<T: Element, F: InPlace<T>> InPlaceKernel<T, F> {
    /// Applies `f` to every element, keeping the kept ones at the front;
    /// returns how many were kept. With `check`, fails if the user function
    /// changed an element's value (the direct runner's mutation check).
    fn run(
        f: &F,
        values: &mut [WindowedValue<T>],
        check: bool,
        current: &mut usize,
    ) -> std::result::Result<usize, Failure> {
        let mut mutation = MutationCheck::default();
        let mut kept = 0;
        for i in 0..values.len() {
            *current = i;
            if check {
                mutation.before(i, &values[i].value)?;
            }
            let keep = f.apply(&mut values[i]).map_err(|e| Failure::User(i, e))?;
            if check {
                mutation.after(i, &values[i].value)?;
            }
            if keep {
                values.swap(kept, i);
                kept += 1;
            }
        }
        Ok(kept)
    }
}

impl<T: Element, F: InPlace<T>> BundleProcessor for InPlaceKernel<T, F> {
    fn setup(&mut self) -> Result<()> {
        Ok(())
    }

    fn start_bundle(&mut self, _: &mut BundleEnv<'_>) -> Result<()> {
        Ok(())
    }

    fn process_batch(&mut self, input: Batch, env: &mut BundleEnv<'_>) -> Result<()> {
        let mut values = input.downcast_for::<T>(&self.step)?;
        let mut current = 0;
        let f = &self.f;
        let check = env.check_mutation;
        let result = user_code::catch(|| Self::run(f, &mut values, check, &mut current));
        let describe = |i: usize| values.get(i).map(|wv| coder::describe(&wv.value));
        let kept = match result {
            Ok(Ok(kept)) => kept,
            Ok(Err(failure)) => {
                return Err(bundle_error(&self.step, Ok(failure), describe, current))
            }
            Err(msg) => return Err(bundle_error(&self.step, Err(msg), describe, current)),
        };
        values.truncate(kept);
        let out = env
            .outputs
            .first_mut()
            .and_then(|b| b.downcast_mut::<T>())
            .ok_or_else(|| BeamError::Runner("in-place step output of the wrong type".into()))?;
        if out.is_empty() {
            *out = values;
        } else {
            out.append(&mut values);
        }
        Ok(())
    }

    fn finish_bundle(&mut self, _: &mut BundleEnv<'_>) -> Result<()> {
        Ok(())
    }

    fn teardown(&mut self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::SideInputs;
    use crate::metrics::MetricsContainer;
    use crate::time::Timestamp;

    #[derive(Clone)]
    struct EvenOrPanic;

    impl InPlace<i64> for EvenOrPanic {
        fn apply(&self, wv: &mut WindowedValue<i64>) -> UserResult<bool> {
            assert!(wv.value >= 0, "negative");
            wv.timestamp = Timestamp::from_micros(wv.value);
            Ok(wv.value % 2 == 0)
        }
    }

    fn run(values: Vec<i64>, out: Vec<i64>) -> (Result<()>, Vec<WindowedValue<i64>>) {
        let kernel = InPlaceKernel::<i64, EvenOrPanic> {
            f: EvenOrPanic,
            step: "Even".into(),
            _t: PhantomData,
        };
        let mut p = kernel.instantiate();
        let input = Batch::new(
            values
                .into_iter()
                .map(WindowedValue::in_global_window)
                .collect(),
        );
        let mut outputs = [Batch::new(
            out.into_iter()
                .map(WindowedValue::in_global_window)
                .collect(),
        )];
        let (sides, mut metrics) = (SideInputs::new(), MetricsContainer::new());
        let mut env = BundleEnv {
            outputs: &mut outputs,
            side_inputs: &sides,
            metrics: &mut metrics,
            check_mutation: true,
        };
        let r = p.process_batch(input, &mut env);
        let [out] = outputs;
        (r, out.downcast::<i64>().unwrap_or_default())
    }

    #[test]
    fn keeps_the_kept_elements_in_order_after_what_the_output_holds() {
        let (r, out) = run(vec![1, 2, 3, 4, 6], vec![10]);
        r.unwrap();
        let got: Vec<(i64, i64)> = out
            .iter()
            .map(|wv| (wv.value, wv.timestamp.as_micros()))
            .collect();
        assert_eq!(got[0].0, 10);
        assert_eq!(&got[1..], &[(2, 2), (4, 4), (6, 6)]);
    }

    #[test]
    fn a_panic_names_the_step_and_the_element() {
        let (r, _) = run(vec![2, -7, 4], vec![]);
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("Even") && e.contains("-7") && e.contains("negative"),
            "{e}"
        );
    }
}
