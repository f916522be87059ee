//! Typed errors of pipeline construction and execution.
//!
//! [`BeamError`] is what the library returns. [`UserError`] is what user code
//! (a DoFn, a CombineFn, a closure given to Map) returns; a runner wraps it into
//! [`BeamError::UserCode`] with the full step name and the element that failed.

use std::fmt;

/// The result type of the library.
pub type Result<T, E = BeamError> = std::result::Result<T, E>;

/// The result type of user code.
pub type UserResult<T = ()> = std::result::Result<T, UserError>;

/// Everything that can go wrong building or running a pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BeamError {
    /// The pipeline graph is invalid; found while it was being built.
    #[error("invalid pipeline at step '{step}': {message}")]
    Construction {
        /// Full name of the step being applied.
        step: String,
        /// What is wrong.
        message: String,
    },
    /// Two transforms were applied with the same full name.
    #[error("duplicate step name '{name}': every application needs a unique name in its scope")]
    DuplicateName {
        /// The name used twice.
        name: String,
    },
    /// `--runner` named a runner that is not linked into this program.
    #[error("unknown runner '{name}'; {}", registered(available))]
    UnknownRunner {
        /// The requested name.
        name: String,
        /// Names of the registered runners.
        available: Vec<String>,
    },
    /// Bad pipeline options.
    #[error("invalid pipeline options: {0}")]
    Options(String),
    /// User code returned an error.
    #[error("step '{step}' failed{}: {message}", element_suffix(element))]
    UserCode {
        /// Full name of the failing step.
        step: String,
        /// Debug representation of the element being processed, if any.
        element: Option<String>,
        /// The user's error message (with its causes).
        message: String,
    },
    /// User code panicked.
    #[error("step '{step}' panicked{}: {message}", element_suffix(element))]
    UserPanic {
        /// Full name of the failing step.
        step: String,
        /// Debug representation of the element being processed, if any.
        element: Option<String>,
        /// The panic message.
        message: String,
    },
    /// A DoFn changed an element it was handed, which the model forbids.
    #[error("step '{step}' mutated its input element {element}; DoFn inputs must not be modified (use --no-checks to skip this check)")]
    IllegalMutation {
        /// Full name of the step.
        step: String,
        /// Debug representation of the element before processing.
        element: String,
    },
    /// An element did not survive encoding and decoding with its coder.
    #[error("coder failure in '{step}': {message}")]
    Coder {
        /// The PCollection or step whose element failed.
        step: String,
        /// What failed.
        message: String,
    },
    /// A side input could not be read.
    #[error("side input '{view}' read by step '{step}': {message}")]
    SideInput {
        /// Step reading the view.
        step: String,
        /// Name of the view's PCollection.
        view: String,
        /// What is wrong.
        message: String,
    },
    /// The runner cannot run a feature used by the pipeline; raised before any data moves.
    #[error("runner '{runner}' cannot run step '{step}': {feature}")]
    Unsupported {
        /// Runner name.
        runner: String,
        /// Step using the feature.
        step: String,
        /// What is not supported, and what to do instead.
        feature: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file or pattern.
        path: String,
        /// The underlying error.
        cause: std::io::Error,
    },
    /// An internal invariant of a runner was violated.
    #[error("runner error: {0}")]
    Runner(String),
}

fn registered(available: &[String]) -> String {
    if available.is_empty() {
        "no runner is linked into this program: reference a runner crate (for example `use runner_direct as _;`)".to_string()
    } else {
        format!("registered runners: {}", available.join(", "))
    }
}

fn element_suffix(element: &Option<String>) -> String {
    match element {
        Some(e) => format!(" on element {e}"),
        None => String::new(),
    }
}

impl BeamError {
    /// The full name of the step the error is about, when it names one (for
    /// a coder failure, the PCollection's name).
    pub fn step(&self) -> Option<&str> {
        use BeamError as E;
        match self {
            E::Construction { step, .. }
            | E::UserCode { step, .. }
            | E::UserPanic { step, .. }
            | E::IllegalMutation { step, .. }
            | E::Coder { step, .. }
            | E::SideInput { step, .. }
            | E::Unsupported { step, .. } => Some(step),
            _ => None,
        }
    }
    /// The element that was being processed, as the error shows it (already
    /// cut to a readable length), when known.
    pub fn element(&self) -> Option<&str> {
        match self {
            BeamError::UserCode { element, .. } | BeamError::UserPanic { element, .. } => {
                element.as_deref()
            }
            BeamError::IllegalMutation { element, .. } => Some(element),
            _ => None,
        }
    }
    /// A run that ended with `step` still waiting for the side inputs `views`
    /// (a stream that stopped below the end of time): what it buffered never ran.
    pub fn side_inputs_never_complete(step: &str, views: &[&str]) -> Self {
        BeamError::Runner(format!(
            "the pipeline ended while step '{step}' still had input waiting for its side inputs {views:?}: the side windows it reads never fired and their watermark never passed them (does a TestStream end with advance_watermark_to_infinity?)"
        ))
    }
    /// A construction error at `step`.
    pub fn construction(step: impl Into<String>, message: impl Into<String>) -> Self {
        BeamError::Construction {
            step: step.into(),
            message: message.into(),
        }
    }
    /// An I/O error on `path`.
    pub fn io(path: impl Into<String>, cause: std::io::Error) -> Self {
        BeamError::Io {
            path: path.into(),
            cause,
        }
    }
}

/// An error raised by user code: any `std::error::Error`, or a message.
///
/// ```
/// use beam_core::{UserError, UserResult};
/// fn parse(s: &str) -> UserResult<i64> {
///     let n: i64 = s.parse()?; // any std error converts
///     if n < 0 {
///         return Err(UserError::msg(format!("negative: {n}")));
///     }
///     Ok(n)
/// }
/// assert!(parse("x").is_err());
/// assert_eq!(parse("-1").unwrap_err().to_string(), "negative: -1");
/// ```
pub struct UserError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl UserError {
    /// An error with just a message.
    pub fn msg(message: impl Into<String>) -> Self {
        UserError(message.into().into())
    }
    /// The message followed by its chain of causes.
    pub fn full_message(&self) -> String {
        let mut s = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(c) = cause {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cause = c.source();
        }
        s
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for UserError {
    fn from(e: E) -> Self {
        UserError(Box::new(e))
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Turns a caught panic payload into its message.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}
