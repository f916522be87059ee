//! Runner-determined sharding: each bundle written to its own file as it comes,
//! the set renamed into place at the end.

use super::{io_fail, shard_name, write_file, ShardFormat, Shared};
use beam_core::side_input::IterableView;
use beam_core::{
    DoFn, Element, FinishBundleContext, PCollectionView, ProcessContext, Timestamp, UserResult,
    Window,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Records per file when writing runner-determined shards.
const RECORDS_PER_BUNDLE_FILE: usize = 100_000;

static BUNDLE_FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub(super) struct WriteBundles<T, F> {
    pub(super) shared: Arc<Shared<T, F>>,
    pub(super) temp_dir: Arc<PathBuf>,
    pub(super) buffer: Vec<T>,
}

impl<T, F> Clone for WriteBundles<T, F> {
    fn clone(&self) -> Self {
        WriteBundles {
            shared: self.shared.clone(),
            temp_dir: self.temp_dir.clone(),
            buffer: Vec::new(),
        }
    }
}

impl<T: Element, F: ShardFormat<T>> WriteBundles<T, F> {
    /// Writes the buffered records to a new temporary file and returns its name.
    fn flush(&mut self) -> UserResult<Option<String>> {
        if self.buffer.is_empty() {
            return Ok(None);
        }
        std::fs::create_dir_all(self.temp_dir.as_ref()).map_err(|e| io_fail(&self.temp_dir, e))?;
        let n = BUNDLE_FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("bundle-{}-{n:012}", std::process::id());
        let path = self.temp_dir.join(&name);
        let s = &self.shared;
        let final_name = format!("{}{}", s.prefix, s.suffix);
        let refs: Vec<&T> = self.buffer.iter().collect();
        write_file(&s.format, &path, Path::new(&final_name), &refs)?;
        self.buffer.clear();
        Ok(Some(name))
    }
}

impl<T: Element, F: ShardFormat<T>> DoFn for WriteBundles<T, F> {
    type In = T;
    type Out = String;
    fn process(&mut self, v: &T, ctx: &mut ProcessContext<'_, String>) -> UserResult {
        self.buffer.push(v.clone());
        if self.buffer.len() >= RECORDS_PER_BUNDLE_FILE {
            if let Some(name) = self.flush()? {
                ctx.output(name);
            }
        }
        Ok(())
    }
    fn finish_bundle(&mut self, ctx: &mut FinishBundleContext<'_, String>) -> UserResult {
        if let Some(name) = self.flush()? {
            ctx.output(name, Timestamp::MIN, Window::Global);
        }
        Ok(())
    }
}

pub(super) struct FinalizeBundles<T, F> {
    pub(super) shared: Arc<Shared<T, F>>,
    pub(super) written: PCollectionView<IterableView<String>>,
    pub(super) temp_dir: Arc<PathBuf>,
}

impl<T, F> Clone for FinalizeBundles<T, F> {
    fn clone(&self) -> Self {
        FinalizeBundles {
            shared: self.shared.clone(),
            written: self.written.clone(),
            temp_dir: self.temp_dir.clone(),
        }
    }
}

impl<T: Element, F: ShardFormat<T>> DoFn for FinalizeBundles<T, F> {
    type In = ();
    type Out = String;
    fn process(&mut self, _: &(), ctx: &mut ProcessContext<'_, String>) -> UserResult {
        let s = &self.shared;
        let mut written: Vec<String> = ctx.side_input(&self.written)?.to_vec();
        written.sort();
        std::fs::create_dir_all(self.temp_dir.as_ref()).map_err(|e| io_fail(&self.temp_dir, e))?;
        if written.is_empty() {
            // No records: one empty file, so readers of the pattern find the output.
            let final_name = shard_name(&s.prefix, 0, 1, &s.suffix);
            write_file(
                &s.format,
                &self.temp_dir.join("empty"),
                Path::new(&final_name),
                &[],
            )?;
            written.push("empty".to_string());
        }
        let count = written.len();
        let moves = written
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let dest = PathBuf::from(shard_name(&s.prefix, i, count, &s.suffix));
                (self.temp_dir.join(name), dest)
            })
            .collect();
        let publication = super::publish::Publication {
            prefix: s.prefix.clone(),
            suffix: s.suffix.clone(),
            sets: vec![s.prefix.clone()],
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
