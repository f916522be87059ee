//! Text files: read lines from files or globs, write lines to sharded files.
//!
//! Reading splits files into byte ranges; a line belongs to the range its first
//! byte lies in, so splits read every line exactly once, and `\n` and `\r\n`
//! endings are both removed. Writing names shards the way Beam does,
//! `PREFIX-SSSSS-of-NNNNN[SUFFIX]`, and publishes atomically: shards are written
//! under a temporary directory and renamed into place only after all of them were
//! written, so a failed run leaves no partial output.
//!
//! ```
//! # use runner_direct as _;
//! use beam_core::{Create, Pipeline, PipelineOptions};
//! use io_connectors::TextIO;
//! let dir = std::env::temp_dir().join(format!("textio-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let prefix = dir.join("out").display().to_string();
//!
//! let p = Pipeline::new(PipelineOptions::default());
//! let lines = p.apply("Lines", Create::of(vec!["b".to_string(), "a".to_string()])).unwrap();
//! lines.apply("Write", TextIO::write(&prefix).with_num_shards(1)).unwrap();
//! p.run().unwrap();
//! let written = std::fs::read_to_string(format!("{prefix}-00000-of-00001")).unwrap();
//! assert_eq!(written, "a\nb\n");
//!
//! let p = Pipeline::new(PipelineOptions::default());
//! let read = p.apply("Read", TextIO::read(&format!("{prefix}-*"))).unwrap();
//! beam_core::testing::PAssert::that(&read).contains_in_any_order(vec!["a".into(), "b".into()]).unwrap();
//! p.run().unwrap();
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use beam_core::side_input::IterableView;
use beam_core::PCollectionView;
use beam_core::{
    BeamError, BoundedSource, DoFn, GroupByKey, Impulse, PBegin, PCollection, PTransform, ParDo,
    ProcessContext, Read, Result, SourceReader, UserError, UserResult, View, WindowFn, WindowInto,
    WindowedValue,
};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Entry points: [`TextIO::read`] and [`TextIO::write`].
pub struct TextIO;

impl TextIO {
    /// Reads the lines of the file `pattern`, or of every file matching it if it is a glob.
    pub fn read(pattern: &str) -> ReadText {
        ReadText {
            pattern: pattern.to_string(),
        }
    }
    /// Writes lines to shard files named after `prefix`.
    pub fn write(prefix: &str) -> WriteText {
        WriteText {
            prefix: prefix.to_string(),
            suffix: String::new(),
            num_shards: 0,
        }
    }
}

/// Expands a file name or glob to the matching files, with their sizes.
///
/// A missing file or a glob matching nothing is an error naming the pattern.
pub fn expand_pattern(pattern: &str) -> Result<Vec<(PathBuf, u64)>> {
    let is_glob = pattern.contains(['*', '?', '[']);
    let paths: Vec<PathBuf> = if is_glob {
        let entries = glob::glob(pattern).map_err(|e| {
            BeamError::io(
                pattern,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
            )
        })?;
        let mut v = Vec::new();
        for e in entries {
            let path = e.map_err(|e| {
                BeamError::io(e.path().display().to_string(), std::io::Error::from(e))
            })?;
            if path.is_file() {
                v.push(path);
            }
        }
        v.sort();
        if v.is_empty() {
            return Err(BeamError::io(
                pattern,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no files match the pattern"),
            ));
        }
        v
    } else {
        vec![PathBuf::from(pattern)]
    };
    paths
        .into_iter()
        .map(|p| {
            let meta =
                std::fs::metadata(&p).map_err(|e| BeamError::io(p.display().to_string(), e))?;
            if !meta.is_file() {
                return Err(BeamError::io(
                    p.display().to_string(),
                    std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
                ));
            }
            Ok((p, meta.len()))
        })
        .collect()
}

/// Reads lines of text files; see [`TextIO::read`].
pub struct ReadText {
    pattern: String,
}

impl PTransform<PBegin> for ReadText {
    type Output = PCollection<String>;
    fn expand(self, input: &PBegin) -> Result<PCollection<String>> {
        let files = expand_pattern(&self.pattern)?;
        let ranges = files
            .into_iter()
            .map(|(path, len)| FileRange {
                path: Arc::new(path),
                start: 0,
                end: len,
            })
            .collect();
        input
            .pipeline()
            .apply("Read", Read::from(TextSource { ranges }))
    }
}

/// A byte range of one file.
#[derive(Clone, Debug)]
struct FileRange {
    path: Arc<PathBuf>,
    start: u64,
    end: u64,
}

/// A splittable source of the lines of byte ranges of text files.
#[derive(Clone, Debug)]
pub struct TextSource {
    ranges: Vec<FileRange>,
}

impl TextSource {
    /// A source reading every line of the files matching `pattern`.
    pub fn from_pattern(pattern: &str) -> Result<Self> {
        Ok(TextSource {
            ranges: expand_pattern(pattern)?
                .into_iter()
                .map(|(path, len)| FileRange {
                    path: Arc::new(path),
                    start: 0,
                    end: len,
                })
                .collect(),
        })
    }
}

impl BoundedSource for TextSource {
    type Output = String;

    fn estimated_size_bytes(&self) -> Result<u64> {
        Ok(self.ranges.iter().map(|r| r.end - r.start).sum())
    }

    fn split(&self, desired: u64) -> Result<Vec<Self>> {
        let desired = desired.max(1);
        let mut out = Vec::new();
        for r in &self.ranges {
            let mut start = r.start;
            while start < r.end {
                let end = (start + desired).min(r.end);
                out.push(TextSource {
                    ranges: vec![FileRange {
                        path: r.path.clone(),
                        start,
                        end,
                    }],
                });
                start = end;
            }
        }
        Ok(out)
    }

    fn reader(&self) -> Result<Box<dyn SourceReader<String>>> {
        Ok(Box::new(TextReader {
            ranges: self.ranges.clone().into_iter().rev().collect(),
            current: None,
        }))
    }

    fn describe(&self) -> String {
        match self.ranges.as_slice() {
            [one] => format!("{}[{}..{})", one.path.display(), one.start, one.end),
            many => format!("{} file ranges", many.len()),
        }
    }
}

struct OpenRange {
    reader: BufReader<File>,
    path: Arc<PathBuf>,
    pos: u64,
    end: u64,
    buf: Vec<u8>,
}

struct TextReader {
    ranges: Vec<FileRange>,
    current: Option<OpenRange>,
}

fn io_err(path: &Path, e: std::io::Error) -> BeamError {
    BeamError::io(path.display().to_string(), e)
}

impl TextReader {
    fn open(r: FileRange) -> Result<OpenRange> {
        let file = File::open(r.path.as_ref()).map_err(|e| io_err(&r.path, e))?;
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut pos = r.start;
        if r.start > 0 {
            // The line containing byte `start - 1` belongs to the previous range.
            reader
                .seek(SeekFrom::Start(r.start - 1))
                .map_err(|e| io_err(&r.path, e))?;
            let mut skipped = Vec::new();
            let n = reader
                .read_until(b'\n', &mut skipped)
                .map_err(|e| io_err(&r.path, e))?;
            pos = r.start - 1 + n as u64;
        }
        Ok(OpenRange {
            reader,
            path: r.path,
            pos,
            end: r.end,
            buf: Vec::new(),
        })
    }
}

impl SourceReader<String> for TextReader {
    fn read_batch(&mut self, out: &mut Vec<WindowedValue<String>>, max: usize) -> Result<bool> {
        while out.len() < max {
            let cur = match &mut self.current {
                Some(c) => c,
                None => match self.ranges.pop() {
                    Some(r) => self.current.insert(Self::open(r)?),
                    None => return Ok(false),
                },
            };
            if cur.pos >= cur.end {
                self.current = None;
                continue;
            }
            cur.buf.clear();
            let n = cur
                .reader
                .read_until(b'\n', &mut cur.buf)
                .map_err(|e| io_err(&cur.path, e))?;
            if n == 0 {
                self.current = None;
                continue;
            }
            let line_start = cur.pos;
            cur.pos += n as u64;
            let mut line: &[u8] = &cur.buf;
            if let Some(rest) = line.strip_suffix(b"\n") {
                line = rest.strip_suffix(b"\r").unwrap_or(rest);
            }
            let text = std::str::from_utf8(line).map_err(|e| {
                io_err(
                    &cur.path,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("invalid UTF-8 in the line starting at byte {line_start}: {e}"),
                    ),
                )
            })?;
            out.push(WindowedValue::in_global_window(text.to_string()));
        }
        Ok(!self.ranges.is_empty() || self.current.is_some())
    }
}

/// Writes lines to sharded files; see [`TextIO::write`].
pub struct WriteText {
    prefix: String,
    suffix: String,
    num_shards: usize,
}

impl WriteText {
    /// Writes exactly `n` shards (some may be empty). Without it, the number of
    /// shards is the pipeline's `--parallelism`, or the number of cores.
    pub fn with_num_shards(mut self, n: usize) -> Self {
        self.num_shards = n;
        self
    }
    /// Appends `suffix` (for example `.txt`) to every shard name.
    pub fn with_suffix(mut self, suffix: &str) -> Self {
        self.suffix = suffix.to_string();
        self
    }
}

/// The name of shard `index` of `count`: `PREFIX-SSSSS-of-NNNNN[SUFFIX]`.
pub fn shard_name(prefix: &str, index: usize, count: usize, suffix: &str) -> String {
    format!("{prefix}-{index:05}-of-{count:05}{suffix}")
}

fn stable_hash(s: &str) -> u64 {
    // FNV-1a: stable across processes, runs and platforms, so a line always lands in the same shard.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[derive(Clone)]
struct AssignShard(u64);

impl DoFn for AssignShard {
    type In = String;
    type Out = (u64, String);
    fn process(
        &mut self,
        line: &String,
        ctx: &mut ProcessContext<'_, (u64, String)>,
    ) -> UserResult {
        ctx.output((stable_hash(line) % self.0, line.clone()));
        Ok(())
    }
}

#[derive(Clone)]
struct WriteShard {
    temp_dir: Arc<PathBuf>,
}

impl DoFn for WriteShard {
    type In = (u64, Vec<String>);
    type Out = u64;
    fn process(
        &mut self,
        shard: &(u64, Vec<String>),
        ctx: &mut ProcessContext<'_, u64>,
    ) -> UserResult {
        std::fs::create_dir_all(self.temp_dir.as_ref())
            .map_err(|e| UserError::msg(format!("{}: {e}", self.temp_dir.display())))?;
        let path = self.temp_dir.join(format!("shard-{}", shard.0));
        let mut lines: Vec<&String> = shard.1.iter().collect();
        lines.sort_unstable();
        let write = || -> std::io::Result<()> {
            let mut w = BufWriter::with_capacity(256 * 1024, File::create(&path)?);
            for l in lines {
                w.write_all(l.as_bytes())?;
                w.write_all(b"\n")?;
            }
            w.into_inner().map_err(|e| e.into_error())?.sync_all()
        };
        write().map_err(|e| UserError::msg(format!("{}: {e}", path.display())))?;
        ctx.output(shard.0);
        Ok(())
    }
}

#[derive(Clone)]
struct Finalize {
    written: PCollectionView<IterableView<u64>>,
    temp_dir: Arc<PathBuf>,
    prefix: String,
    suffix: String,
    num_shards: u64,
}

impl DoFn for Finalize {
    type In = ();
    type Out = String;
    fn process(&mut self, _: &(), ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let written: std::collections::HashSet<u64> =
            ctx.side_input(&self.written)?.iter().copied().collect();
        let fail = |p: &Path, e: std::io::Error| UserError::msg(format!("{}: {e}", p.display()));
        std::fs::create_dir_all(self.temp_dir.as_ref()).map_err(|e| fail(&self.temp_dir, e))?;
        for i in 0..self.num_shards {
            let temp = self.temp_dir.join(format!("shard-{i}"));
            if !written.contains(&i) {
                File::create(&temp).map_err(|e| fail(&temp, e))?;
            }
        }
        for i in 0..self.num_shards {
            let temp = self.temp_dir.join(format!("shard-{i}"));
            let dest = PathBuf::from(shard_name(
                &self.prefix,
                i as usize,
                self.num_shards as usize,
                &self.suffix,
            ));
            std::fs::rename(&temp, &dest).map_err(|e| fail(&dest, e))?;
            ctx.output(dest.display().to_string());
        }
        std::fs::remove_dir_all(self.temp_dir.as_ref()).map_err(|e| fail(&self.temp_dir, e))?;
        Ok(())
    }
}

impl PTransform<PCollection<String>> for WriteText {
    /// The names of the files written.
    type Output = PCollection<String>;
    fn expand(self, input: &PCollection<String>) -> Result<PCollection<String>> {
        let p = input.pipeline().clone();
        let num_shards = match self.num_shards {
            0 => p
                .options()
                .parallelism
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            n => n,
        } as u64;
        let prefix_path = Path::new(&self.prefix);
        let dir = match prefix_path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            return Err(BeamError::io(
                dir.display().to_string(),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "output directory does not exist",
                ),
            ));
        }
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let temp_dir = Arc::new(dir.join(format!(".temp-beam-{}-{unique}", std::process::id())));
        let written = input
            .apply("WindowIntoGlobal", WindowInto::new(WindowFn::Global))?
            .apply("AssignShard", ParDo::of(AssignShard(num_shards)))?
            .apply("GroupByShard", GroupByKey::new())?
            .apply(
                "WriteTempShards",
                ParDo::of(WriteShard {
                    temp_dir: temp_dir.clone(),
                }),
            )?;
        let view = written.apply("WrittenShards", View::as_iterable())?;
        p.apply("Impulse", Impulse)?.apply(
            "Finalize",
            ParDo::of(Finalize {
                written: view.clone(),
                temp_dir,
                prefix: self.prefix,
                suffix: self.suffix,
                num_shards,
            })
            .with_side_input(&view),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(source: &TextSource) -> Vec<String> {
        let mut r = source.reader().unwrap();
        let mut out = Vec::new();
        loop {
            let max = out.len() + 3;
            if !r.read_batch(&mut out, max).unwrap() {
                break;
            }
        }
        out.into_iter().map(|wv| wv.value).collect()
    }

    #[test]
    fn splits_read_every_line_once_for_lf_and_crlf() {
        let dir = std::env::temp_dir().join(format!("textio-split-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (name, sep) in [("lf.txt", "\n"), ("crlf.txt", "\r\n")] {
            let lines: Vec<String> = (0..200)
                .map(|i| "x".repeat(i % 7) + &i.to_string())
                .collect();
            let path = dir.join(name);
            std::fs::write(&path, lines.join(sep) + sep).unwrap();
            let source = TextSource::from_pattern(path.to_str().unwrap()).unwrap();
            assert_eq!(read_all(&source), lines);
            for desired in [1, 2, 5, 13, 64, 1000, 100_000] {
                let mut got: Vec<String> = source
                    .split(desired)
                    .unwrap()
                    .iter()
                    .flat_map(read_all)
                    .collect();
                got.sort();
                let mut want = lines.clone();
                want.sort();
                assert_eq!(got, want, "{name} split at {desired} bytes");
            }
        }
        // No trailing newline, and empty lines.
        let path = dir.join("odd.txt");
        std::fs::write(&path, "a\n\nb\r\n\r\nc").unwrap();
        let source = TextSource::from_pattern(path.to_str().unwrap()).unwrap();
        for desired in [1, 2, 3, 100] {
            let got: Vec<String> = source
                .split(desired)
                .unwrap()
                .iter()
                .flat_map(read_all)
                .collect();
            assert_eq!(got, vec!["a", "", "b", "", "c"], "split at {desired}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_files_and_empty_globs_name_the_path() {
        let err = expand_pattern("/definitely/not/here.txt")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/definitely/not/here.txt"), "{err}");
        let err = expand_pattern("/definitely/not/*.txt")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/definitely/not/*.txt") && err.contains("no files match"),
            "{err}"
        );
    }

    #[test]
    fn invalid_utf8_names_the_file_and_offset() {
        let path = std::env::temp_dir().join(format!("textio-utf8-{}.txt", std::process::id()));
        std::fs::write(&path, b"ok\nbad \xff here\n").unwrap();
        let source = TextSource::from_pattern(path.to_str().unwrap()).unwrap();
        let mut r = source.reader().unwrap();
        let mut out = Vec::new();
        let err = r.read_batch(&mut out, 10).unwrap_err().to_string();
        assert!(
            err.contains(path.to_str().unwrap()) && err.contains("byte 3"),
            "{err}"
        );
        std::fs::remove_file(&path).unwrap();
    }
}
