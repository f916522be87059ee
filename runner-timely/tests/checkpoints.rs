//! Checkpoints on the timely runner, through its options: a run publishes
//! checkpoints while its windows wait and reports them in its metrics; a run
//! restored from one of them gives the uninterrupted run's result; a source
//! that cannot resume is refused before anything runs.

use beam_core::{
    BoundedOutOfOrderness, CheckpointMark, DoFn, Duration, PaneInfo, ParDo, Pipeline,
    PipelineOptions, Poll, ProcessContext, ReadUnbounded, Result, Sum, Timestamp, UnboundedReader,
    UnboundedSource, UserResult, Window, WindowFn, WindowInto, WindowedValue,
};
use runner_timely as _;
use std::sync::{Arc, Mutex};

/// Keeps what it is given (a side input, as PAssert's, would hold every
/// checkpoint back until the end: its ParDo acknowledges checkpoints only
/// once its side inputs are complete).
#[derive(Clone)]
struct Collect(Arc<Mutex<Vec<(u64, u64)>>>);

impl DoFn for Collect {
    type In = (u64, u64);
    type Out = ();
    fn process(&mut self, x: &(u64, u64), _: &mut ProcessContext<'_, ()>) -> UserResult {
        self.0.lock().expect("not poisoned").push(*x);
        Ok(())
    }
}

/// 600 elements `(i % 3, 1)` at millisecond `i`, ten per poll, polled every
/// 2 ms: about 120 ms of reading, resumable at any element.
#[derive(Clone)]
struct Numbers {
    resumable: bool,
}

struct NumbersReader {
    next: u64,
    watermark: BoundedOutOfOrderness,
}

const COUNT: u64 = 600;

impl UnboundedReader<(u64, u64)> for NumbersReader {
    fn poll(&mut self, out: &mut Vec<WindowedValue<(u64, u64)>>, _max: usize) -> Result<Poll> {
        for _ in 0..10 {
            if self.next >= COUNT {
                return Ok(Poll::Finished);
            }
            let ts = Timestamp::from_millis(self.next as i64);
            self.watermark.observe(ts);
            out.push(WindowedValue::new(
                (self.next % 3, 1),
                ts,
                Window::Global,
                PaneInfo::NO_FIRING,
            ));
            self.next += 1;
        }
        Ok(Poll::Pending(std::time::Duration::from_millis(2)))
    }
    fn watermark(&self) -> Timestamp {
        self.watermark.watermark()
    }
    fn checkpoint_mark(&self) -> Option<CheckpointMark> {
        Some(CheckpointMark(self.next.to_le_bytes().to_vec()))
    }
}

impl UnboundedSource for Numbers {
    type Output = (u64, u64);
    fn split(&self, _desired: usize) -> Result<Vec<Self>> {
        Ok(vec![self.clone()])
    }
    fn reader(&self) -> Result<Box<dyn UnboundedReader<(u64, u64)>>> {
        Ok(Box::new(NumbersReader {
            next: 0,
            watermark: BoundedOutOfOrderness::new(Duration::ZERO),
        }))
    }
    fn can_resume(&self) -> bool {
        self.resumable
    }
    fn resume(&self, mark: &CheckpointMark) -> Result<Box<dyn UnboundedReader<(u64, u64)>>> {
        let next = u64::from_le_bytes(mark.0.as_slice().try_into().expect("8 bytes"));
        let mut watermark = BoundedOutOfOrderness::new(Duration::ZERO);
        if next > 0 {
            watermark.observe(Timestamp::from_millis(next as i64 - 1));
        }
        Ok(Box::new(NumbersReader { next, watermark }))
    }
    fn describe(&self) -> String {
        "numbers".into()
    }
}

/// Counts per key in one-hour windows (none closes before the end of input),
/// checking them.
fn counts(options: PipelineOptions, resumable: bool) -> Result<beam_core::PipelineResult> {
    let p = Pipeline::new(options);
    let got = Arc::new(Mutex::new(Vec::new()));
    p.apply("Numbers", ReadUnbounded::from(Numbers { resumable }))?
        .apply(
            "Window",
            WindowInto::new(WindowFn::fixed(Duration::from_secs(3600))),
        )?
        .apply("Sum", Sum::per_key())?
        .apply("Collect", ParDo::of(Collect(got.clone())))?;
    let result = p.run()?;
    let mut got = got.lock().expect("not poisoned").clone();
    got.sort();
    assert_eq!(got, vec![(0, 200), (1, 200), (2, 200)]);
    Ok(result)
}

fn options(dir: &std::path::Path, workers: &str) -> PipelineOptions {
    PipelineOptions::default()
        .with_runner("timely")
        .set("workers", workers)
        .set("checkpoint-dir", dir.to_str().unwrap())
        .set("checkpoint-interval", "10ms")
        .set("retain-checkpoints", "1000")
}

#[test]
fn checkpoints_complete_while_windows_wait_and_restore_to_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let result = counts(options(dir.path(), "2"), true).unwrap();
    let completed = result
        .metrics()
        .counter("Numbers", "checkpoints_completed")
        .unwrap_or(0);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        completed >= 2,
        "{completed} checkpoints in a run of 100 ms or more at 10 ms: {names:?}"
    );
    let published: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("chk-") && !name.ends_with(".tmp")
        })
        .collect();
    assert_eq!(published.len() as i64, completed);
    // Restore from a checkpoint in the middle of the run: the same counts.
    let mut sorted = published.clone();
    sorted.sort();
    let middle = &sorted[sorted.len() / 2];
    counts(
        options(dir.path(), "2").set("restore-from", middle.to_str().unwrap()),
        true,
    )
    .unwrap();
}

#[test]
fn a_source_that_cannot_resume_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = counts(options(dir.path(), "1"), false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Numbers") && e.contains("cannot resume"), "{e}");
}
