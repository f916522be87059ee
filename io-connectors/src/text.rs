//! Text files: read lines from files or globs, write lines to sharded files.
//!
//! Reading splits uncompressed files into byte ranges; a line belongs to the range
//! its first byte lies in, so splits read every line exactly once, and `\n` and
//! `\r\n` endings are both removed. `.gz` and `.zst` files are decompressed and,
//! since a compressed stream cannot be entered mid-way, read whole by one reader
//! (they are not splittable). A line that is not valid UTF-8 fails the run naming
//! the file and line, or goes to the dead-letter output
//! ([`ReadFiles::with_dead_letter`]).
//!
//! Writing ([`WriteFiles`]) names shards the way Beam does,
//! `PREFIX-SSSSS-of-NNNNN[SUFFIX]`, compresses when the suffix ends in `.gz` or
//! `.zst`, and publishes atomically.
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

use crate::file_read::{FileFormat, FileSource, LineReader, ReadFiles};
use crate::files::FileRange;
use crate::records::{DeadLetter, RecordReader};
use crate::sink::{ShardFormat, WriteFiles};
use beam_core::{Result, UserResult};
use std::io::Write;

/// Entry points: [`TextIO::read`] and [`TextIO::write`].
pub struct TextIO;

impl TextIO {
    /// Reads the lines of the file `pattern`, or of every file matching it if it is a glob.
    pub fn read(pattern: &str) -> ReadFiles<TextLines> {
        ReadFiles::new(pattern, TextLines::default())
    }
    /// Writes lines to shard files named after `prefix`, each shard's lines sorted.
    pub fn write(prefix: &str) -> WriteFiles<String, TextLines> {
        WriteFiles::new(prefix, TextLines::default())
            .with_order_by(|a: &String, b: &String| a.cmp(b))
    }
}

/// The text-lines format: one `String` per line, of at most
/// [`max_record_bytes`](Self::max_record_bytes) bytes (64 MiB unless set; a
/// longer line is a malformed record, never held in memory).
#[derive(Clone, Copy, Debug)]
pub struct TextLines {
    max_record_bytes: u64,
}

impl Default for TextLines {
    fn default() -> Self {
        TextLines {
            max_record_bytes: crate::file_read::DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

impl TextLines {
    /// The longest line read.
    pub fn max_record_bytes(mut self, bytes: u64) -> Self {
        self.max_record_bytes = bytes.max(1);
        self
    }
}

impl ReadFiles<TextLines> {
    /// The longest line read (see [`TextLines::max_record_bytes`]).
    pub fn with_max_record_bytes(mut self, bytes: u64) -> Self {
        self.format = self.format.max_record_bytes(bytes);
        self
    }
}

/// A splittable source of the lines of text files.
pub type TextSource = FileSource<TextLines>;

impl TextSource {
    /// A source reading every line of the files matching `pattern`.
    pub fn from_pattern(pattern: &str) -> Result<Self> {
        FileSource::new(pattern, TextLines::default())
    }
}

struct TextReader(LineReader);

impl RecordReader<String> for TextReader {
    fn next_record(&mut self) -> Result<Option<std::result::Result<String, DeadLetter>>> {
        let Some((line, too_long)) = self.0.next_line_checked()? else {
            return Ok(None);
        };
        if let Some(length) = too_long {
            let raw = line.to_vec();
            return Ok(Some(Err(self.0.too_long_dead_letter(&raw, length))));
        }
        match std::str::from_utf8(line) {
            Ok(s) => Ok(Some(Ok(s.to_string()))),
            Err(e) => {
                let raw = line.to_vec();
                Ok(Some(Err(DeadLetter {
                    raw,
                    location: self.0.location(),
                    error: format!("invalid UTF-8: {e}"),
                })))
            }
        }
    }
}

impl FileFormat for TextLines {
    type Record = String;
    fn open_range(&self, range: &FileRange) -> Result<Box<dyn RecordReader<String>>> {
        Ok(Box::new(TextReader(
            LineReader::open(range)?.with_max_record_bytes(self.max_record_bytes),
        )))
    }
    fn name(&self) -> &'static str {
        "text"
    }
}

impl ShardFormat<String> for TextLines {
    fn write_shard(&self, out: &mut (dyn Write + Send), records: &[&String]) -> UserResult {
        for l in records {
            out.write_all(l.as_bytes())?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::files::expand_pattern;
    use crate::records::{RecordSource, Strict};
    use beam_core::BoundedSource;

    fn read_all(source: &TextSource) -> Vec<String> {
        let mut r = source.open().unwrap();
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().unwrap() {
            out.push(rec.unwrap());
        }
        out
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
    fn invalid_utf8_names_the_file_and_line_or_goes_to_the_dead_letter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("utf8.txt");
        std::fs::write(&path, b"ok\nbad \xff here\nfine\n").unwrap();
        let source = TextSource::from_pattern(path.to_str().unwrap()).unwrap();
        let mut r = Strict(source.clone()).reader().unwrap();
        let mut out = Vec::new();
        let err = r.read_batch(&mut out, 10).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{}:2", path.display())) && err.contains("invalid UTF-8"),
            "{err}"
        );
        // The same line from a split that starts mid-file still knows its number.
        for split in source.split(4).unwrap() {
            let mut r = split.open().unwrap();
            while let Some(rec) = r.next_record().unwrap() {
                if let Err(dead) = rec {
                    assert_eq!(dead.raw, b"bad \xff here");
                    assert_eq!(dead.location.line(), Some(2));
                }
            }
        }
    }

    #[test]
    fn compressed_files_are_read_whole_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let lines: Vec<String> = (0..5000).map(|i| format!("line {i}")).collect();
        let text = lines.join("\r\n") + "\r\n";
        let gz = dir.path().join("a.txt.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut enc, text.as_bytes()).unwrap();
        enc.finish().unwrap();
        let zst = dir.path().join("b.txt.zst");
        std::fs::write(&zst, zstd::encode_all(text.as_bytes(), 1).unwrap()).unwrap();
        for path in [gz, zst] {
            let source = TextSource::from_pattern(path.to_str().unwrap()).unwrap();
            let splits = source.split(100).unwrap();
            assert_eq!(splits.len(), 1, "{} must not be split", path.display());
            assert_eq!(read_all(&splits[0]), lines);
        }
    }

    #[test]
    fn lines_longer_than_the_limit_are_dead_letters_on_every_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.txt");
        let long = "x".repeat(300_000);
        let text = format!("a\n{long}\nb\r\n{long}\r\nc\n{}\nd", "y".repeat(1000));
        std::fs::write(&path, &text).unwrap();
        let format = TextLines::default().max_record_bytes(1000);
        let source = FileSource::new(path.to_str().unwrap(), format).unwrap();
        for desired in [1 << 20, 70_000, 777] {
            let (mut good, mut bad) = (Vec::new(), Vec::new());
            for split in source.split(desired).unwrap() {
                let mut r = split.open().unwrap();
                while let Some(rec) = r.next_record().unwrap() {
                    match rec {
                        Ok(line) => good.push(line),
                        Err(dead) => bad.push((dead.raw.len(), dead.location.line(), dead.error)),
                    }
                }
            }
            assert_eq!(good, ["a", "b", "c", &"y".repeat(1000), "d"], "{desired}");
            assert_eq!(bad.len(), 2, "{desired}");
            assert_eq!((bad[0].0, bad[0].1), (1000, Some(2)));
            assert_eq!((bad[1].0, bad[1].1), (1000, Some(4)));
            assert!(bad[0].2.contains("a line of 300000 bytes"), "{}", bad[0].2);
            assert!(bad[1].2.contains("a line of 300000 bytes"), "{}", bad[1].2);
        }
    }
}
