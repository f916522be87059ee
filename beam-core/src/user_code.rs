//! Running user code: panics become errors naming the step, without the default
//! panic message on stderr.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    static LOCATION: Cell<Option<String>> = const { Cell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                let loc = info
                    .location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
                LOCATION.with(|c| c.set(loc));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into `Err(message at file:line)`.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    DEPTH.with(|d| d.set(d.get() + 1));
    let r = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    r.map_err(|payload| {
        let msg = crate::error::panic_message(payload.as_ref());
        match LOCATION.with(Cell::take) {
            Some(loc) => format!("{msg} (at {loc})"),
            None => msg,
        }
    })
}

/// Runs runner-support work that calls user code (a CombineFn's add, merge or
/// extract); a panic fails the step with `UserPanic` naming `step` and, when
/// `element` can tell, which input was being handled.
pub fn guard<R>(
    step: &str,
    element: impl FnOnce() -> Option<String>,
    f: impl FnOnce() -> crate::Result<R>,
) -> crate::Result<R> {
    match catch(f) {
        Ok(r) => r,
        Err(message) => Err(crate::BeamError::UserPanic {
            step: step.to_string(),
            element: element(),
            message,
        }),
    }
}
