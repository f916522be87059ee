//! Sharded file sinks that publish atomically.
//!
//! [`WriteFiles`] spreads elements over shards by a stable hash of their encoding
//! and hands each shard's elements, in a deterministic order, to a
//! [`ShardFormat`]. Shards are named the way Beam names them,
//! `PREFIX-SSSSS-of-NNNNN[SUFFIX]`, and a suffix ending in `.gz` or `.zst`
//! compresses text formats.
//!
//! - By default the input is written as one file set, in the global window:
//!   every shard is written under a temporary directory and the whole set is
//!   renamed into place only after all shards were written, so a failed run
//!   leaves no partial output.
//! - [`WriteFiles::with_windowed_writes`] writes one file set per window and
//!   pane, `PREFIX-START-END-pane-I[-last]-SSSSS-of-NNNNN[SUFFIX]` (window bounds
//!   in RFC 3339, UTC). Bounded input publishes all of them atomically at the
//!   end, as above. Unbounded input (which needs windowed writes) writes each
//!   file, as its pane fires, to a hidden staging directory, and publishes it
//!   under its final name with [`Publish`](beam_core::Publish): at once, or,
//!   on the timely runner with checkpoints, once the checkpoint covering the
//!   pane is complete, which makes the sink exactly-once across crashes and
//!   restores (see [`staged`]). Only shards that received elements are written.

mod bundles;
pub mod publish;
pub mod staged;

use crate::files::Compression;
use beam_core::side_input::IterableView;
use beam_core::WindowInto;
use beam_core::{
    BeamError, DoFn, Element, GroupByKey, Impulse, PCollection, PCollectionView, PTransform, ParDo,
    ProcessContext, Result, Timestamp, UserError, UserResult, View, Window, WindowFn,
};
use beam_core::{Map, Publish};
use bundles::{FinalizeBundles, WriteBundles};
use staged::StagedFile;
use std::cmp::Ordering;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How one shard file is written.
pub trait ShardFormat<T>: Clone + Send + Sync + 'static {
    /// Writes `records`, in order, to `out` (already compressed per the suffix
    /// where the format is a text format).
    fn write_shard(&self, out: &mut (dyn Write + Send), records: &[&T]) -> UserResult;
    /// Whether a `.gz`/`.zst` suffix should compress the file (true for text
    /// formats; formats with their own compression, like Parquet, say false).
    fn compress_by_suffix(&self) -> bool {
        true
    }
}

type OrderFn<T> = Arc<dyn Fn(&T, &T) -> Ordering + Send + Sync>;

/// The most shards one file set may have.
pub const MAX_SHARDS: u64 = 100_000;

/// The name of a sink's temporary directory (beside its output) starts with this.
const TEMP_DIR_PREFIX: &str = ".temp-beam-";

/// Writes a PCollection to sharded files; see the [module docs](self).
pub struct WriteFiles<T, F> {
    prefix: String,
    suffix: String,
    num_shards: usize,
    runner_sharding: bool,
    unsharded: bool,
    windowed: bool,
    format: F,
    order: Option<OrderFn<T>>,
}

impl<T: Element, F: ShardFormat<T>> WriteFiles<T, F> {
    /// Writes to files named after `prefix` in `format`.
    pub fn new(prefix: &str, format: F) -> Self {
        WriteFiles {
            prefix: prefix.to_string(),
            suffix: String::new(),
            num_shards: 0,
            runner_sharding: false,
            unsharded: false,
            windowed: false,
            format,
            order: None,
        }
    }
    /// Writes exactly `n` shards (some may be empty). Without it, the number of
    /// shards is the pipeline's `--parallelism`, or the number of cores.
    pub fn with_num_shards(mut self, n: usize) -> Self {
        self.num_shards = n;
        self
    }
    /// Writes one file named `PREFIX[SUFFIX]`, without a shard number (Beam's
    /// `withoutSharding()`, Beam Python's `shard_name_template=""`); with
    /// windowed writes, one such file per window and pane. One worker writes
    /// it.
    ///
    /// ```no_run
    /// # use runner_direct as _;
    /// use beam_core::{Create, Pipeline, PipelineOptions};
    /// use io_connectors::TextIO;
    /// let p = Pipeline::new(PipelineOptions::default());
    /// p.apply("Lines", Create::of(vec!["a".to_string(), "b".to_string()]))?
    ///     .apply("Write", TextIO::write("out/lines").with_suffix(".txt").without_sharding())?;
    /// p.run()?; // writes out/lines.txt
    /// # Ok::<(), beam_core::BeamError>(())
    /// ```
    pub fn without_sharding(mut self) -> Self {
        self.unsharded = true;
        self.num_shards = 1;
        self
    }
    /// Writes each bundle the runner hands the sink (up to 100 000 records per
    /// file) as it comes, with no shuffle: the fastest way to write bounded data,
    /// as Beam's WriteFiles does without a fixed shard count. The number of files
    /// and which records share a file depend on the runner's bundling (their
    /// contents do not); the set is still published atomically. Global-window
    /// bounded input only (windowed input is written per window and pane).
    pub fn with_runner_determined_sharding(mut self) -> Self {
        self.runner_sharding = true;
        self
    }
    /// Writes one file set per window and pane (required for unbounded input).
    pub fn with_windowed_writes(mut self) -> Self {
        self.windowed = true;
        self
    }
    /// Appends `suffix` (for example `.csv` or `.jsonl.gz`) to every file name.
    pub fn with_suffix(mut self, suffix: &str) -> Self {
        self.suffix = suffix.to_string();
        self
    }
    pub(crate) fn map_format(mut self, f: impl FnOnce(F) -> F) -> Self {
        self.format = f(self.format);
        self
    }
    /// Orders each shard's records by `cmp` (default: by their encoding, which is
    /// deterministic but otherwise arbitrary).
    pub fn with_order_by(
        mut self,
        cmp: impl Fn(&T, &T) -> Ordering + Send + Sync + 'static,
    ) -> Self {
        self.order = Some(Arc::new(cmp));
        self
    }
}

/// The name of shard `index` of `count`: `PREFIX-SSSSS-of-NNNNN[SUFFIX]`.
pub fn shard_name(prefix: &str, index: usize, count: usize, suffix: &str) -> String {
    format!("{prefix}-{index:05}-of-{count:05}{suffix}")
}

/// FNV-1a of bytes: stable across processes, runs and platforms.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A shard of a file set: the set's prefix (`None` for the sink's own prefix,
/// else a window and pane's) and the shard index.
type ShardKey = (Option<String>, u64);

#[derive(Clone)]
struct AssignShard<T> {
    shards: u64,
    /// Key by window and pane (`with_windowed_writes`), else by shard alone.
    prefix: Option<Arc<str>>,
    /// The file-set prefix of the last window and pane seen (elements of a bundle
    /// mostly share one), so it is not formatted again for every element.
    last_set: Option<(Window, i64, bool, String)>,
    buf: Vec<u8>,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: Element> DoFn for AssignShard<T> {
    type In = T;
    type Out = (ShardKey, (u64, T));
    fn process(&mut self, v: &T, ctx: &mut ProcessContext<'_, (ShardKey, (u64, T))>) -> UserResult {
        self.buf.clear();
        beam_core::coder::encode(v, &mut self.buf).map_err(UserError::msg)?;
        let hash = stable_hash(&self.buf);
        let set = match &self.prefix {
            None => None,
            Some(base) => {
                let (window, pane) = (*ctx.window(), *ctx.pane());
                let cached = self
                    .last_set
                    .as_ref()
                    .filter(|(w, i, l, _)| *w == window && *i == pane.index && *l == pane.is_last);
                Some(match cached {
                    Some((.., set)) => set.clone(),
                    None => {
                        let set = window_pane_prefix(base, &window, pane.index, pane.is_last);
                        self.last_set = Some((window, pane.index, pane.is_last, set.clone()));
                        set
                    }
                })
            }
        };
        ctx.output(((set, hash % self.shards), (hash, v.clone())));
        Ok(())
    }
}

struct Shared<T, F> {
    format: F,
    order: Option<OrderFn<T>>,
    prefix: String,
    suffix: String,
    num_shards: u64,
    /// One file per set, named without a shard number.
    unsharded: bool,
}

impl<T, F> Shared<T, F> {
    /// The name of shard `index` of the set `set_prefix`.
    fn file_name(&self, set_prefix: &str, index: u64) -> String {
        if self.unsharded {
            format!("{set_prefix}{}", self.suffix)
        } else {
            shard_name(
                set_prefix,
                index as usize,
                self.num_shards as usize,
                &self.suffix,
            )
        }
    }
}

/// A shard's records in the configured order, or else by the stable hash of
/// their encoding (ties, which are rare, by the encoding itself): deterministic
/// whatever order the grouping delivered them in.
fn sorted<'a, T: Element>(records: &'a [(u64, T)], order: &Option<OrderFn<T>>) -> Vec<&'a T> {
    match order {
        Some(cmp) => {
            let mut refs: Vec<&T> = records.iter().map(|(_, r)| r).collect();
            refs.sort_by(|a, b| cmp(a, b));
            refs
        }
        None => {
            let mut refs: Vec<&(u64, T)> = records.iter().collect();
            refs.sort_by(|a, b| {
                a.0.cmp(&b.0).then_with(|| {
                    let (mut x, mut y) = (Vec::new(), Vec::new());
                    let _ = beam_core::coder::encode(&a.1, &mut x);
                    let _ = beam_core::coder::encode(&b.1, &mut y);
                    x.cmp(&y)
                })
            });
            refs.into_iter().map(|(_, r)| r).collect()
        }
    }
}

fn io_fail(path: &Path, e: impl std::fmt::Display) -> UserError {
    UserError::msg(format!("{}: {e}", path.display()))
}

/// Writes `records` to `path` through the format, compressing by the final name's
/// extension if the format allows, and syncs the file.
fn write_file<T, F: ShardFormat<T>>(
    format: &F,
    path: &Path,
    final_name: &Path,
    records: &[&T],
) -> UserResult {
    let file = File::create(path).map_err(|e| io_fail(path, e))?;
    let mut buffered = BufWriter::with_capacity(256 * 1024, file);
    let compression = if format.compress_by_suffix() {
        Compression::of_path(final_name)
    } else {
        Compression::Uncompressed
    };
    match compression {
        Compression::Uncompressed => format.write_shard(&mut buffered, records)?,
        Compression::Gzip => {
            let mut enc =
                flate2::write::GzEncoder::new(&mut buffered, flate2::Compression::default());
            format.write_shard(&mut enc, records)?;
            enc.finish().map_err(|e| io_fail(path, e))?;
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(&mut buffered, 3)
                .map_err(|e| io_fail(path, e))?;
            format.write_shard(&mut enc, records)?;
            enc.finish().map_err(|e| io_fail(path, e))?;
        }
    }
    let file = buffered
        .into_inner()
        .map_err(|e| io_fail(path, e.into_error()))?;
    file.sync_all().map_err(|e| io_fail(path, e))
}

struct WriteShard<T, F> {
    shared: Arc<Shared<T, F>>,
    temp_dir: Arc<PathBuf>,
}

impl<T, F> Clone for WriteShard<T, F> {
    fn clone(&self) -> Self {
        WriteShard {
            shared: self.shared.clone(),
            temp_dir: self.temp_dir.clone(),
        }
    }
}

/// The temporary name of a shard of a file set.
fn temp_name(set: &str, shard: u64) -> String {
    format!("{:016x}-{shard}", stable_hash(set.as_bytes()))
}

impl<T: Element, F: ShardFormat<T>> DoFn for WriteShard<T, F> {
    type In = (ShardKey, Vec<(u64, T)>);
    type Out = ShardKey;
    fn process(
        &mut self,
        shard: &(ShardKey, Vec<(u64, T)>),
        ctx: &mut ProcessContext<'_, ShardKey>,
    ) -> UserResult {
        let s = &self.shared;
        let ((set, index), records) = shard;
        let set_prefix = set.as_deref().unwrap_or(&s.prefix);
        std::fs::create_dir_all(self.temp_dir.as_ref()).map_err(|e| io_fail(&self.temp_dir, e))?;
        let path = self.temp_dir.join(temp_name(set_prefix, *index));
        let final_name = s.file_name(set_prefix, *index);
        write_file(
            &s.format,
            &path,
            Path::new(&final_name),
            &sorted(records, &s.order),
        )?;
        ctx.output(shard.0.clone());
        Ok(())
    }
}

struct Finalize<T, F> {
    shared: Arc<Shared<T, F>>,
    written: PCollectionView<IterableView<ShardKey>>,
    temp_dir: Arc<PathBuf>,
    /// Whether the sink's own file set is written even when empty.
    always_base_set: bool,
}

impl<T, F> Clone for Finalize<T, F> {
    fn clone(&self) -> Self {
        Finalize {
            shared: self.shared.clone(),
            written: self.written.clone(),
            temp_dir: self.temp_dir.clone(),
            always_base_set: self.always_base_set,
        }
    }
}

impl<T: Element, F: ShardFormat<T>> DoFn for Finalize<T, F> {
    type In = ();
    type Out = String;
    fn process(&mut self, _: &(), ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let s = &self.shared;
        let mut sets: std::collections::BTreeMap<Option<String>, std::collections::HashSet<u64>> =
            Default::default();
        for (set, shard) in ctx.side_input(&self.written)?.iter() {
            sets.entry(set.clone()).or_default().insert(*shard);
        }
        if self.always_base_set {
            sets.entry(None).or_default();
        }
        std::fs::create_dir_all(self.temp_dir.as_ref()).map_err(|e| io_fail(&self.temp_dir, e))?;
        let n = s.num_shards;
        // Empty shards first, so every set is complete before any is renamed.
        for (set, written) in &sets {
            let set_prefix = set.as_deref().unwrap_or(&s.prefix);
            for i in (0..n).filter(|i| !written.contains(i)) {
                let temp = self.temp_dir.join(temp_name(set_prefix, i));
                let final_name = s.file_name(set_prefix, i);
                write_file(&s.format, &temp, Path::new(&final_name), &[])?;
            }
        }
        let mut moves = Vec::new();
        for set in sets.keys() {
            let set_prefix = set.as_deref().unwrap_or(&s.prefix);
            for i in 0..n {
                let temp = self.temp_dir.join(temp_name(set_prefix, i));
                let dest = PathBuf::from(s.file_name(set_prefix, i));
                moves.push((temp, dest));
            }
        }
        let publication = publish::Publication {
            prefix: s.prefix.clone(),
            suffix: s.suffix.clone(),
            sets: sets
                .keys()
                .map(|set| set.clone().unwrap_or_else(|| s.prefix.clone()))
                .collect(),
            temp_dir: self.temp_dir.as_ref().clone(),
            moves,
        };
        publication.commit()?;
        for (_, dest) in &publication.moves {
            ctx.output(dest.display().to_string());
        }
        Ok(())
    }
}

/// RFC 3339 (UTC, microseconds) for timestamps from 1970 to 9999, else the raw microseconds.
fn window_bound(t: Timestamp) -> String {
    let micros = t.as_micros();
    if (0..253_402_300_800_000_000).contains(&micros) {
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_micros(micros as u64);
        humantime::format_rfc3339_micros(time).to_string()
    } else {
        micros.to_string()
    }
}

/// The file name prefix of a window and pane: `PREFIX-START-END-pane-I[-last]`
/// (`PREFIX-global-pane-I[-last]` in the global window).
pub fn window_pane_prefix(prefix: &str, window: &Window, pane_index: i64, is_last: bool) -> String {
    let w = match window {
        Window::Global => "global".to_string(),
        Window::Interval(iw) => format!("{}-{}", window_bound(iw.start), window_bound(iw.end)),
    };
    let last = if is_last { "-last" } else { "" };
    format!("{prefix}-{w}-pane-{pane_index}{last}")
}

struct WriteWindowedShard<T, F> {
    shared: Arc<Shared<T, F>>,
    staging: Arc<PathBuf>,
}

impl<T, F> Clone for WriteWindowedShard<T, F> {
    fn clone(&self) -> Self {
        WriteWindowedShard {
            shared: self.shared.clone(),
            staging: self.staging.clone(),
        }
    }
}

impl<T: Element, F: ShardFormat<T>> DoFn for WriteWindowedShard<T, F> {
    type In = (ShardKey, Vec<(u64, T)>);
    type Out = StagedFile;
    fn process(
        &mut self,
        shard: &(ShardKey, Vec<(u64, T)>),
        ctx: &mut ProcessContext<'_, StagedFile>,
    ) -> UserResult {
        let s = &self.shared;
        let ((set, index), records) = shard;
        let set_prefix = set.as_deref().unwrap_or(&s.prefix);
        let dest = PathBuf::from(s.file_name(set_prefix, *index));
        let file_name = dest
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        std::fs::create_dir_all(self.staging.as_ref()).map_err(|e| io_fail(&self.staging, e))?;
        let staged = self.staging.join(file_name);
        write_file(&s.format, &staged, &dest, &sorted(records, &s.order))?;
        ctx.output(StagedFile {
            staged: staged.display().to_string(),
            dest: dest.display().to_string(),
        });
        Ok(())
    }
}

impl<T: Element, F: ShardFormat<T>> PTransform<PCollection<T>> for WriteFiles<T, F> {
    /// The names of the files written.
    type Output = PCollection<String>;
    fn expand(self, input: &PCollection<T>) -> Result<PCollection<String>> {
        let p = input.pipeline().clone();
        let num_shards = match self.num_shards {
            0 => p
                .options()
                .parallelism
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            n => n,
        } as u64;
        if self.unsharded && (self.runner_sharding || self.num_shards != 1) {
            return Err(BeamError::construction(
                p.current_scope(),
                "without_sharding() writes one file: it cannot be combined with with_num_shards or with_runner_determined_sharding",
            ));
        }
        if num_shards > MAX_SHARDS {
            return Err(BeamError::construction(
                p.current_scope(),
                format!("{num_shards} shards asked for; a file set has at most {MAX_SHARDS}"),
            ));
        }
        if self.prefix.is_empty() || self.prefix.ends_with('/') || self.prefix.ends_with("/.") {
            return Err(BeamError::construction(
                p.current_scope(),
                format!(
                    "the output prefix {:?} names a directory, not files: add a file name prefix, such as {:?}",
                    self.prefix,
                    format!("{}part", self.prefix.trim_end_matches('.'))
                ),
            ));
        }
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
        let shared = Arc::new(Shared {
            format: self.format,
            order: self.order,
            prefix: self.prefix,
            suffix: self.suffix,
            num_shards,
            unsharded: self.unsharded,
        });
        if !input.is_bounded() && !self.windowed {
            return Err(BeamError::construction(
                p.current_scope(),
                "an unbounded PCollection is written one file set per window and pane: use with_windowed_writes()",
            ));
        }
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let temp_dir =
            Arc::new(dir.join(format!("{TEMP_DIR_PREFIX}{}-{unique}", std::process::id())));
        if input.is_bounded() {
            // Finish what an interrupted run on this prefix left, and clear the
            // temporary directories of processes that no longer run.
            publish::recover(&shared.prefix)?;
            beam_core::temp_paths::remove_abandoned(&dir, TEMP_DIR_PREFIX);
            p.hold_temp_path(beam_core::TempPath::register(&temp_dir)?);
        }
        let assign = |windowed: bool| {
            ParDo::of(AssignShard::<T> {
                shards: num_shards,
                prefix: windowed.then(|| Arc::from(shared.prefix.as_str())),
                last_set: None,
                buf: Vec::new(),
                _t: std::marker::PhantomData,
            })
        };
        if !input.is_bounded() {
            // Unbounded: each pane's shards are staged as the pane fires, and
            // published when the runner says they will not be made again.
            let staging = Arc::new(staged::staging_dir(&shared.prefix));
            return input
                .apply("AssignShard", assign(true))?
                .apply("GroupByShard", GroupByKey::new())?
                .apply(
                    "WriteWindowedShards",
                    ParDo::of(WriteWindowedShard {
                        shared,
                        staging: staging.clone(),
                    }),
                )?
                .apply(
                    "PublishShards",
                    Publish::with(staged::FilePublisher {
                        staging: staging.as_ref().clone(),
                    }),
                )?
                .apply("FileNames", Map::new(|f: &StagedFile| f.dest.clone()));
        }
        let keyed = if self.windowed {
            input
                .apply("AssignShard", assign(true))?
                .apply("IntoGlobalWindow", WindowInto::new(WindowFn::Global))?
        } else {
            let global = input.apply("IntoGlobalWindow", WindowInto::new(WindowFn::Global))?;
            if self.runner_sharding {
                let written = global.apply(
                    "WriteBundles",
                    ParDo::of(WriteBundles {
                        shared: shared.clone(),
                        temp_dir: temp_dir.clone(),
                        buffer: Vec::new(),
                    }),
                )?;
                let view = written.apply("WrittenFiles", View::as_iterable())?;
                return p.apply("Impulse", Impulse)?.apply(
                    "Finalize",
                    ParDo::of(FinalizeBundles {
                        shared,
                        written: view.clone(),
                        temp_dir,
                    })
                    .with_side_input(&view),
                );
            }
            global.apply("AssignShard", assign(false))?
        };
        let written = keyed.apply("GroupByShard", GroupByKey::new())?.apply(
            "WriteTempShards",
            ParDo::of(WriteShard {
                shared: shared.clone(),
                temp_dir: temp_dir.clone(),
            }),
        )?;
        let view = written.apply("WrittenShards", View::as_iterable())?;
        p.apply("Impulse", Impulse)?.apply(
            "Finalize",
            ParDo::of(Finalize {
                shared,
                written: view.clone(),
                temp_dir,
                always_base_set: !self.windowed,
            })
            .with_side_input(&view),
        )
    }
}
