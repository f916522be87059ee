//! Named places where a crash test can make the process die, through the
//! `fail` crate: `FAILPOINTS="checkpoint-published=2*off->return"` makes the
//! third checkpoint's process abort right after publishing it. Each point
//! aborts the process (as a kill would) when its action is `return`.
//!
//! - `checkpoint-parts-written`: every part of a checkpoint is written, its
//!   manifest is not;
//! - `checkpoint-published`: the checkpoint is published, and nothing that
//!   waits for it (a sink's publish) has run;
//! - `publish-partly`: a Publish step published some of the items a
//!   checkpoint covers, not all.

use std::sync::OnceLock;

/// Reads `FAILPOINTS` (`name=actions;name=actions`), once per process.
pub(crate) fn configure() {
    static CONFIGURED: OnceLock<()> = OnceLock::new();
    CONFIGURED.get_or_init(|| {
        let Ok(spec) = std::env::var("FAILPOINTS") else {
            return;
        };
        for point in spec.split(';').filter(|p| !p.trim().is_empty()) {
            match point.split_once('=') {
                Some((name, actions)) => {
                    if let Err(e) = fail::cfg(name.trim(), actions.trim()) {
                        eprintln!("FAILPOINTS: {point}: {e}");
                    }
                }
                None => eprintln!("FAILPOINTS: {point}: expected name=actions"),
            }
        }
    });
}

/// Aborts the process if the point `name` is set to return now.
pub(crate) fn hit(name: &str) {
    if fail::eval(name, |_| ()).is_some() {
        eprintln!("failpoint {name}: aborting the process");
        std::process::abort();
    }
}
