//! Dynamic work rebalancing: while a reader runs, another thread splits off its
//! unread rest again and again; the reader and every residual together read each
//! record exactly once (text with LF and CRLF, and CSV).

use beam_core::source::ErasedSource;
use beam_core::BoundedSource;
use io_connectors::records::Strict;
use io_connectors::{CsvFormat, FileSource, TextLines};
use std::sync::{Arc, Mutex};

/// Reads `source` while a second thread keeps splitting it; reads the residuals
/// the same way. Returns every element read (as debug strings) and the number of
/// splits.
fn read_with_splits<S: BoundedSource>(source: S) -> (Vec<String>, usize) {
    let mut reader = source.reader().unwrap();
    let handle = reader
        .dynamic_split()
        .expect("one-range file sources split dynamically");
    let residuals: Arc<Mutex<Vec<Arc<dyn ErasedSource>>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let splitter = {
        let (residuals, done) = (residuals.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(r) = handle.split_remaining(0.7) {
                    residuals.lock().unwrap().push(r);
                }
                std::thread::yield_now();
            }
        })
    };
    let mut out = Vec::new();
    loop {
        let max = out.len() + 97;
        if !reader.read_batch(&mut out, max).unwrap() {
            break;
        }
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    splitter.join().unwrap();
    let mut all: Vec<String> = out.iter().map(|wv| format!("{:?}", wv.value)).collect();
    let residuals = std::mem::take(&mut *residuals.lock().unwrap());
    let splits = residuals.len();
    for r in residuals {
        let mut reader = r.open().unwrap();
        while let Some(batch) = reader.next_batch(1000).unwrap() {
            all.push(format!("{} elements", batch.len()));
        }
    }
    (all, splits)
}

fn count(all: &[String]) -> usize {
    all.iter()
        .map(|s| {
            s.strip_suffix(" elements")
                .map_or(1, |n| n.parse().unwrap())
        })
        .sum()
}

#[test]
fn text_and_csv_read_every_record_once_under_concurrent_splits() {
    let dir = tempfile::tempdir().unwrap();
    let n = 400_000;
    let text: String = (0..n)
        .map(|i| format!("line number {i}{}", if i % 3 == 0 { "\r\n" } else { "\n" }))
        .collect();
    let path = dir.path().join("big.txt");
    std::fs::write(&path, &text).unwrap();
    let source = FileSource::new(path.to_str().unwrap(), TextLines::default()).unwrap();
    let (all, splits) = read_with_splits(Strict(source));
    assert!(splits > 0, "the splitter never split");
    assert_eq!(count(&all), n);
    // Exactly once, not just the right count: the first reader's own lines are distinct.
    let mut mine: Vec<&String> = all.iter().filter(|s| !s.ends_with(" elements")).collect();
    let before = mine.len();
    mine.sort();
    mine.dedup();
    assert_eq!(mine.len(), before);

    #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
    struct Row {
        id: u64,
        name: String,
    }
    let csv: String = std::iter::once("id,name\n".to_string())
        .chain((0..n).map(|i| {
            format!(
                "{i},\"name, {i}\"{}",
                if i % 2 == 0 { "\r\n" } else { "\n" }
            )
        }))
        .collect();
    let path = dir.path().join("big.csv");
    std::fs::write(&path, &csv).unwrap();
    let source = FileSource::new(path.to_str().unwrap(), CsvFormat::<Row>::new()).unwrap();
    let (all, splits) = read_with_splits(Strict(source));
    assert!(splits > 0);
    assert_eq!(count(&all), n);
}

/// A split watched by the job monitor counts what its reader and every
/// residual split off it read: nothing twice, nothing missed, while another
/// thread keeps splitting.
#[test]
fn a_watched_split_counts_every_byte_once_under_concurrent_splits() {
    use beam_core::monitoring::JobMonitor;
    use beam_core::{Pipeline, PipelineOptions};
    use io_connectors::TextIO;
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..200_000).map(|i| format!("line {i}\n")).collect();
    let path = dir.path().join("lines.txt");
    std::fs::write(&path, &text).unwrap();
    let p = Pipeline::new(PipelineOptions::default());
    p.apply("Lines", TextIO::read(path.to_str().unwrap()))
        .unwrap();
    let graph = p.graph();
    let step = graph
        .transforms
        .iter()
        .position(|t| t.primitive.kind() == "Read")
        .unwrap();
    let monitor = Arc::new(JobMonitor::new(&graph));
    let source = FileSource::new(path.to_str().unwrap(), TextLines::default()).unwrap();
    let watched = monitor.watch_split(step, beam_core::source::erase(Strict(source)));
    let bytes = || monitor.snapshot().steps[step].source_bytes.unwrap();
    assert_eq!(bytes().planned, text.len() as u64);

    let mut reader = watched.open().unwrap();
    let handle = reader.dynamic_split().expect("a watched file split splits");
    let residuals: Arc<Mutex<Vec<Arc<dyn ErasedSource>>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let splitter = {
        let (residuals, done) = (residuals.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(r) = handle.split_remaining(0.7) {
                    residuals.lock().unwrap().push(r);
                }
                std::thread::yield_now();
            }
        })
    };
    let mut lines = 0;
    while let Some(b) = reader.next_batch(97).unwrap() {
        lines += b.len();
        assert!(bytes().read <= bytes().planned);
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    splitter.join().unwrap();
    let residuals = std::mem::take(&mut *residuals.lock().unwrap());
    assert!(!residuals.is_empty(), "the splitter never split");
    assert!(
        bytes().read < bytes().planned,
        "the residuals are not read yet"
    );
    for r in residuals {
        let mut reader = r.open().unwrap();
        while let Some(b) = reader.next_batch(1000).unwrap() {
            lines += b.len();
        }
    }
    assert_eq!(lines, 200_000);
    assert_eq!(bytes().read, text.len() as u64, "{:?}", bytes());
    assert_eq!(bytes().left(), 0);
}
