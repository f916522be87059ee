//! A bounded source of generated elements, for benchmarks: element `i` of
//! `start..end` is `make(i)`, and the source splits into ranges of `i`.

use beam_core::{BoundedSource, Element, Result, SourceReader, WindowedValue};
use std::marker::PhantomData;

/// Elements `make(i)` for `i` in `start..end`, each estimated at 16 bytes.
///
/// ```
/// use beam_core::{Pipeline, PipelineOptions, Read, WindowedValue};
/// use examples::generated::Generated;
/// let p = Pipeline::new(PipelineOptions::default());
/// let squares = p.apply("Squares", Read::from(Generated::new(0..4, |i| {
///     WindowedValue::in_global_window(i * i)
/// })))?;
/// # Ok::<(), beam_core::BeamError>(())
/// ```
pub struct Generated<T, F> {
    start: u64,
    end: u64,
    make: F,
    _t: PhantomData<fn() -> T>,
}

impl<T, F: Clone> Clone for Generated<T, F> {
    fn clone(&self) -> Self {
        Generated {
            start: self.start,
            end: self.end,
            make: self.make.clone(),
            _t: PhantomData,
        }
    }
}

impl<T, F: Fn(u64) -> WindowedValue<T>> Generated<T, F> {
    /// The elements `make(i)` for `i` in `range`.
    pub fn new(range: std::ops::Range<u64>, make: F) -> Self {
        Generated {
            start: range.start,
            end: range.end,
            make,
            _t: PhantomData,
        }
    }
}

struct GeneratedReader<T, F> {
    next: u64,
    source: Generated<T, F>,
}

impl<T, F> SourceReader<T> for GeneratedReader<T, F>
where
    T: Element,
    F: Fn(u64) -> WindowedValue<T> + Send,
{
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<T>>, max: usize) -> Result<bool> {
        while self.next < self.source.end && out.len() < max {
            out.push((self.source.make)(self.next));
            self.next += 1;
        }
        Ok(self.next < self.source.end)
    }
}

impl<T, F> BoundedSource for Generated<T, F>
where
    T: Element,
    F: Fn(u64) -> WindowedValue<T> + Clone + Send + Sync + 'static,
{
    type Output = T;
    fn estimated_size_bytes(&self) -> Result<u64> {
        Ok((self.end - self.start) * 16)
    }
    fn split(&self, desired: u64) -> Result<Vec<Self>> {
        let step = (desired / 16).max(1);
        Ok((self.start..self.end)
            .step_by(step as usize)
            .map(|s| Generated::new(s..(s + step).min(self.end), self.make.clone()))
            .collect())
    }
    fn reader(&self) -> Result<Box<dyn SourceReader<T>>> {
        Ok(Box::new(GeneratedReader {
            next: self.start,
            source: self.clone(),
        }))
    }
    fn describe(&self) -> String {
        format!("generated elements {}..{}", self.start, self.end)
    }
}
