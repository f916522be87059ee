//! [`ParDo`]: the primitive that runs a [`DoFn`] on every element, and its kernel.

use crate::batch::Batch;
use crate::coder::{self, Element};
use crate::dofn::{
    DoFn, FinishBundleContext, Outputs, ProcessContext, StartBundleContext, TupleTag,
};
use crate::error::{BeamError, Result, UserError};
use crate::graph::{Primitive, SideInputSpec};
use crate::kernel::{BundleEnv, BundleProcessor, ParDoKernel};
use crate::pipeline::{OutputSpec, PCollection, PTransform, Pipeline};
use crate::side_input::{PCollectionView, ViewFn};
use crate::time::Timestamp;
use crate::user_code;
use crate::window::{PaneInfo, Window};
use crate::windowfn::WindowingStrategy;
use std::sync::Arc;

type OutputMaker = fn(WindowingStrategy, bool) -> OutputSpec;

struct TagSpec {
    id: usize,
    name: String,
    make: OutputMaker,
}

/// Applies a [`DoFn`] to every element; see the [`dofn`](crate::dofn) module.
pub struct ParDo<F: DoFn> {
    f: F,
    side_inputs: Vec<SideInputSpec>,
    tags: Vec<TagSpec>,
}

impl<F: DoFn> ParDo<F> {
    /// A ParDo running `f`.
    pub fn of(f: F) -> Self {
        ParDo {
            f,
            side_inputs: Vec::new(),
            tags: Vec::new(),
        }
    }
    /// Makes `view` readable from the DoFn through
    /// [`ProcessContext::side_input`].
    pub fn with_side_input<V: ViewFn>(mut self, view: &PCollectionView<V>) -> Self {
        self.side_inputs.push(view.spec());
        self
    }
    /// Declares an additional output; the application then returns [`ParDoOutputs`].
    pub fn with_output<T: Element>(mut self, tag: &TupleTag<T>) -> MultiParDo<F> {
        self.tags.push(TagSpec {
            id: tag.id,
            name: tag.name().to_string(),
            make: |w, b| OutputSpec::of::<T>(w, b),
        });
        MultiParDo(self)
    }

    fn build(self, input: &PCollection<F::In>) -> Result<(Pipeline, Vec<usize>, Vec<usize>)> {
        let p = input.pipeline().clone();
        let step = p.current_scope();
        let (windowing, bounded, _) = p.pcollection_info(input.id());
        let mut outputs = vec![OutputSpec::of::<F::Out>(windowing.clone(), bounded).tagged("out")];
        for t in &self.tags {
            if self.tags.iter().filter(|o| o.id == t.id).count() > 1 {
                return Err(BeamError::construction(
                    &step,
                    format!("output tag '{}' declared twice", t.name),
                ));
            }
            outputs.push((t.make)(windowing.clone(), bounded).tagged(t.name.clone()));
        }
        let tag_ids: Vec<usize> = self.tags.iter().map(|t| t.id).collect();
        let kernel = DoFnKernel {
            prototype: self.f,
            step: step.clone(),
            tag_ids: tag_ids.clone().into(),
        };
        let ids = p.add_primitive(
            Primitive::ParDo {
                kernel: Arc::new(kernel),
                side_inputs: self.side_inputs,
            },
            vec![input.id()],
            outputs,
        )?;
        Ok((p, ids, tag_ids))
    }
}

impl<F: DoFn> PTransform<PCollection<F::In>> for ParDo<F> {
    type Output = PCollection<F::Out>;
    fn expand(self, input: &PCollection<F::In>) -> Result<PCollection<F::Out>> {
        let (p, ids, _) = self.build(input)?;
        Ok(PCollection::new(p, ids[0]))
    }
}

/// A [`ParDo`] with additional outputs.
pub struct MultiParDo<F: DoFn>(ParDo<F>);

impl<F: DoFn> MultiParDo<F> {
    /// Declares another additional output.
    pub fn with_output<T: Element>(self, tag: &TupleTag<T>) -> MultiParDo<F> {
        self.0.with_output(tag)
    }
    /// Makes `view` readable from the DoFn.
    pub fn with_side_input<V: ViewFn>(self, view: &PCollectionView<V>) -> Self {
        MultiParDo(self.0.with_side_input(view))
    }
}

/// The outputs of a [`MultiParDo`]: the main one and one per declared tag.
pub struct ParDoOutputs<O> {
    /// The main output.
    pub main: PCollection<O>,
    tagged: Vec<(usize, usize)>,
}

impl<O: Element> ParDoOutputs<O> {
    /// The PCollection of the output `tag`.
    pub fn get<T: Element>(&self, tag: &TupleTag<T>) -> Result<PCollection<T>> {
        self.tagged
            .iter()
            .find(|(id, _)| *id == tag.id)
            .map(|(_, pc)| PCollection::new(self.main.pipeline().clone(), *pc))
            .ok_or_else(|| {
                BeamError::construction(
                    self.main.name(),
                    format!("no output tag '{}' was declared", tag.name()),
                )
            })
    }
}

impl<F: DoFn> PTransform<PCollection<F::In>> for MultiParDo<F> {
    type Output = ParDoOutputs<F::Out>;
    fn expand(self, input: &PCollection<F::In>) -> Result<ParDoOutputs<F::Out>> {
        let (p, ids, tag_ids) = self.0.build(input)?;
        Ok(ParDoOutputs {
            main: PCollection::new(p, ids[0]),
            tagged: tag_ids.into_iter().zip(ids[1..].iter().copied()).collect(),
        })
    }
}

struct DoFnKernel<F> {
    prototype: F,
    step: String,
    tag_ids: Arc<[usize]>,
}

impl<F: DoFn> ParDoKernel for DoFnKernel<F> {
    fn instantiate(&self) -> Box<dyn BundleProcessor> {
        Box::new(DoFnProcessor {
            f: self.prototype.clone(),
            step: self.step.clone(),
            tag_ids: self.tag_ids.clone(),
            check: MutationCheck::default(),
        })
    }
}

struct DoFnProcessor<F> {
    f: F,
    step: String,
    tag_ids: Arc<[usize]>,
    check: MutationCheck,
}

/// Why user code failed on the element at an index of its bundle.
pub(crate) enum Failure {
    User(usize, UserError),
    /// The user function changed its input; holds the value as it was.
    Mutation(String),
    Coder(usize, String),
}

/// The direct runner's mutation check: an element's encoding before and
/// after user code saw it, in buffers reused across elements.
#[derive(Default)]
pub(crate) struct MutationCheck {
    before: Vec<u8>,
    after: Vec<u8>,
}

impl MutationCheck {
    /// Records element `i`'s value before user code sees it.
    pub(crate) fn before<T: Element>(
        &mut self,
        i: usize,
        value: &T,
    ) -> std::result::Result<(), Failure> {
        self.before.clear();
        coder::encode(value, &mut self.before).map_err(|e| Failure::Coder(i, e))
    }

    /// Fails if element `i`'s value now encodes differently.
    pub(crate) fn after<T: Element>(
        &mut self,
        i: usize,
        value: &T,
    ) -> std::result::Result<(), Failure> {
        self.after.clear();
        coder::encode(value, &mut self.after).map_err(|e| Failure::Coder(i, e))?;
        if self.before == self.after {
            return Ok(());
        }
        let was: T = coder::decode(&self.before).map_err(|e| Failure::Coder(i, e))?;
        Err(Failure::Mutation(coder::describe(&was)))
    }
}

/// The error for a bundle whose user code failed (`Ok`) or panicked (`Err`,
/// on the element at `current`); `describe` shows the element at an index.
pub(crate) fn bundle_error(
    step: &str,
    failure: std::result::Result<Failure, String>,
    describe: impl Fn(usize) -> Option<String>,
    current: usize,
) -> BeamError {
    let step = step.to_string();
    match failure {
        Ok(Failure::User(i, e)) => BeamError::UserCode {
            step,
            element: describe(i),
            message: e.full_message(),
        },
        Ok(Failure::Mutation(was)) => BeamError::IllegalMutation { step, element: was },
        Ok(Failure::Coder(i, e)) => BeamError::Coder {
            step,
            message: format!("{e} (element {})", describe(i).unwrap_or_default()),
        },
        Err(message) => BeamError::UserPanic {
            step,
            element: describe(current),
            message,
        },
    }
}

impl<F: DoFn> DoFnProcessor<F> {
    fn lifecycle(
        &mut self,
        what: &str,
        call: impl FnOnce(&mut F) -> crate::UserResult,
    ) -> Result<()> {
        let f = &mut self.f;
        match user_code::catch(|| call(f)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(BeamError::UserCode {
                step: self.step.clone(),
                element: None,
                message: format!("in {what}: {}", e.full_message()),
            }),
            Err(msg) => Err(BeamError::UserPanic {
                step: self.step.clone(),
                element: None,
                message: format!("in {what}: {msg}"),
            }),
        }
    }
}

fn split_outputs<'a, O: Element>(
    outputs: &'a mut [Batch],
    tag_ids: &'a [usize],
) -> Result<Outputs<'a, O>> {
    let (main, tagged) = outputs
        .split_first_mut()
        .ok_or_else(|| BeamError::Runner("a ParDo needs its main output batch".into()))?;
    let main = main
        .downcast_mut::<O>()
        .ok_or_else(|| BeamError::Runner("ParDo output batch has the wrong element type".into()))?;
    Ok(Outputs {
        main,
        tagged,
        tag_ids,
    })
}

impl<F: DoFn> BundleProcessor for DoFnProcessor<F> {
    fn setup(&mut self) -> Result<()> {
        self.lifecycle("setup", |f| f.setup())
    }

    fn start_bundle(&mut self, env: &mut BundleEnv<'_>) -> Result<()> {
        let metrics = &mut *env.metrics;
        self.lifecycle("start_bundle", |f| {
            f.start_bundle(&mut StartBundleContext { metrics })
        })
    }

    fn process_batch(&mut self, input: Batch, env: &mut BundleEnv<'_>) -> Result<()> {
        let input = input.downcast_for::<F::In>(&self.step)?;
        let tag_ids = self.tag_ids.clone();
        let out = split_outputs::<F::Out>(env.outputs, &tag_ids)?;
        // Room for one output per input (maps and most selections) up front,
        // instead of growing the batch by doubling while elements are pushed.
        out.main.reserve(input.len());
        let check = env.check_mutation;
        let skew = self.f.allowed_timestamp_skew();
        let mut current = 0usize;
        let (f, mutation) = (&mut self.f, &mut self.check);
        let mut ctx = ProcessContext {
            timestamp: Timestamp::MIN,
            window: Window::Global,
            pane: PaneInfo::NO_FIRING,
            skew,
            out,
            side_inputs: env.side_inputs,
            metrics: env.metrics,
        };
        let result = user_code::catch(|| {
            for (i, wv) in input.iter().enumerate() {
                current = i;
                if check {
                    mutation.before(i, &wv.value)?;
                }
                ctx.timestamp = wv.timestamp;
                ctx.window = wv.window;
                ctx.pane = wv.pane;
                f.process(&wv.value, &mut ctx)
                    .map_err(|e| Failure::User(i, e))?;
                if check {
                    mutation.after(i, &wv.value)?;
                }
            }
            Ok(())
        });
        let describe = |i: usize| Some(coder::describe(&input[i].value));
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => Err(bundle_error(&self.step, Ok(failure), describe, current)),
            Err(msg) => Err(bundle_error(&self.step, Err(msg), describe, current)),
        }
    }

    fn finish_bundle(&mut self, env: &mut BundleEnv<'_>) -> Result<()> {
        let tag_ids = self.tag_ids.clone();
        let out = split_outputs::<F::Out>(env.outputs, &tag_ids)?;
        let metrics = &mut *env.metrics;
        self.lifecycle("finish_bundle", |f| {
            f.finish_bundle(&mut FinishBundleContext { out, metrics })
        })
    }

    fn teardown(&mut self) -> Result<()> {
        self.lifecycle("teardown", |f| f.teardown())
    }
}
