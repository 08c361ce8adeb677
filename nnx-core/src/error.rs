//! The one error type of nnx.
//!
//! ```
//! use nnx_core::prelude::*;
//! let (graphdef, _) = vec![Param::new(1.0f32)].split(..).unwrap();
//! let err = graphdef.merge(State::new()).unwrap_err();
//! assert!(matches!(err, nnx_core::Error::MissingPath { .. }));
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A path inside a module graph, printed as `a/b/0` (empty for the root).
///
/// ```
/// let p = nnx_core::ErrorPath::from("layers/0");
/// assert_eq!(p.0, "layers/0");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorPath(pub String);

impl From<&str> for ErrorPath {
    fn from(s: &str) -> Self {
        ErrorPath(s.to_string())
    }
}

impl From<String> for ErrorPath {
    fn from(s: String) -> Self {
        ErrorPath(s)
    }
}

impl fmt::Display for ErrorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("<root>")
        } else {
            f.write_str(&self.0)
        }
    }
}

/// An error from outside nnx (the operating system, the safetensors or JSON parser)
/// that an [`Error`] keeps as its [`source`](std::error::Error::source).
///
/// It is not an error itself: `source()` returns the error it holds, so a caller can
/// downcast to `std::io::Error` and the like. Cloning shares it; two are equal when
/// they print the same message.
///
/// ```
/// use std::error::Error as _;
/// let file = std::env::temp_dir().join("nnx-doc-no-such-dir/x.safetensors");
/// let err = nnx_core::checkpoint::load_state(&file).unwrap_err();
/// let io = err.source().and_then(|s| s.downcast_ref::<std::io::Error>()).unwrap();
/// assert_eq!(io.kind(), std::io::ErrorKind::NotFound);
/// ```
#[derive(Clone)]
pub struct ErrorSource(Arc<dyn std::error::Error + Send + Sync>);

impl ErrorSource {
    /// Keeps `error`.
    ///
    /// ```
    /// let s = nnx_core::ErrorSource::new(std::io::Error::other("disk full"));
    /// assert_eq!(s.to_string(), "disk full");
    /// ```
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ErrorSource(Arc::new(error))
    }
}

impl Deref for ErrorSource {
    type Target = dyn std::error::Error + Send + Sync + 'static;
    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

impl PartialEq for ErrorSource {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl fmt::Display for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The message, not the wrapped error's internal fields.
impl fmt::Debug for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ErrorSource({:?})", self.0.to_string())
    }
}

/// Every user mistake nnx cannot rule out at compile time.
///
/// Each variant names where the problem is, what was expected and what was found.
///
/// ```
/// let err = nnx_core::Error::invalid_argument("orthogonal", "a shape of rank >= 2", "(3,)");
/// assert_eq!(
///     err.to_string(),
///     "invalid argument to orthogonal: expected a shape of rank >= 2, found (3,)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A function argument outside what the function accepts.
    #[error("invalid argument to {what}: expected {expected}, found {found}")]
    InvalidArgument {
        /// The function or parameter.
        what: String,
        /// What it accepts.
        expected: String,
        /// What it was given.
        found: String,
    },
    /// An array of the wrong shape.
    #[error("shape mismatch at {path}: expected {expected}, found {found}")]
    ShapeMismatch {
        /// Where the array is (a Variable path or an argument name).
        path: ErrorPath,
        /// The expected shape, as a Python tuple.
        expected: String,
        /// The shape found, as a Python tuple.
        found: String,
    },
    /// A value of the wrong Rust type (and so dtype or rank) at a path.
    #[error("type mismatch at {path}: expected {expected}, found {found}")]
    TypeMismatch {
        /// Where.
        path: ErrorPath,
        /// The expected value type.
        expected: String,
        /// The value type found.
        found: String,
    },
    /// A Variable of the wrong type (kind) at a path.
    #[error("Variable type mismatch at {path}: expected {expected}, found {found}")]
    KindMismatch {
        /// Where.
        path: ErrorPath,
        /// The expected Variable type.
        expected: String,
        /// The Variable type found.
        found: String,
    },
    /// A path the graph needs is missing from the given State.
    #[error(
        "missing Variable at {path}: expected a {expected}, found nothing in the given states"
    )]
    MissingPath {
        /// Where.
        path: ErrorPath,
        /// The Variable type expected there.
        expected: String,
    },
    /// A State holds a path the graph does not have.
    #[error("unexpected Variable at {path}: expected no Variable there, found a {found}")]
    UnexpectedPath {
        /// Where.
        path: ErrorPath,
        /// The Variable type found.
        found: String,
    },
    /// A graph operation met a [`Shared`](crate::Shared) whose lock is held (by a
    /// `read()`/`write()` guard still alive, in this thread or another). Graph
    /// operations never wait for a lock: waiting on a guard the caller holds
    /// would block forever.
    #[error("Shared locked at {path}: expected no live read()/write() guard on it during a graph operation, found one held (drop the guard first)")]
    Locked {
        /// Where the Shared is.
        path: ErrorPath,
    },
    /// A graph nested deeper than [`MAX_DEPTH`](crate::MAX_DEPTH) nodes: walking
    /// it could overflow the stack.
    #[error("graph too deep at {path}: expected nodes nested at most {limit} levels, found one nested deeper")]
    TooDeep {
        /// The node that would be one level too deep.
        path: ErrorPath,
        /// The limit ([`MAX_DEPTH`](crate::MAX_DEPTH)).
        limit: usize,
    },
    /// Several problems at once (merge and load report every mismatch).
    #[error("{} problems:\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Many(Vec<Error>),
    /// A metadata name that is not set.
    #[error("{kind} has no metadata entry '{name}'")]
    MissingMetadata {
        /// The name asked for.
        name: String,
        /// The Variable type.
        kind: String,
    },
    /// Filters that leave some Variables unmatched where every one must match.
    #[error("non-exhaustive filters: expected every Variable to match a filter, found unmatched paths {}", .paths.join(", "))]
    NonExhaustiveFilters {
        /// The unmatched paths.
        paths: Vec<String>,
    },
    /// `..` given before other filters.
    #[error("`..` can only be the last filter, found it at index {index} of {count}")]
    EllipsisNotLast {
        /// Its position.
        index: usize,
        /// How many filters were given.
        count: usize,
    },
    /// A name or type the Variable type registry does not know, or already has.
    #[error("registry: expected {expected}, found {found}")]
    Registry {
        /// What the registry needed.
        expected: String,
        /// What it was given.
        found: String,
    },
    /// `sow` into a name that holds something else.
    #[error("cannot sow into '{name}': expected {expected}, found {found}")]
    Sow {
        /// The name sown into.
        name: String,
        /// What sowing needs there.
        expected: String,
        /// What is there.
        found: String,
    },
    /// An attribute that no module of the graph has, or has with another type.
    #[error("set_attributes: expected a field '{name}' of type {expected}, found {found}")]
    Attribute {
        /// The attribute name.
        name: String,
        /// The value's type.
        expected: String,
        /// What the graph has.
        found: String,
    },
    /// A value of the wrong element type where a value is replaced (update, sow,
    /// checkpoint loading).
    #[error("dtype mismatch at {path}: expected {expected}, found {found}")]
    DTypeMismatch {
        /// The tensor's path.
        path: ErrorPath,
        /// The dtype the module holds there.
        expected: String,
        /// The dtype in the checkpoint.
        found: String,
    },
    /// A checkpoint that cannot be read or written: a corrupt file, a value that is
    /// no single array, an unknown dtype or Variable type, bad metadata JSON.
    #[error("checkpoint error at {path}: expected {expected}, found {found}")]
    Checkpoint {
        /// The tensor's path, or the file part (`<header>`) that is wrong.
        path: ErrorPath,
        /// What a valid checkpoint has there.
        expected: String,
        /// What was found.
        found: String,
        /// The safetensors or JSON parser's error, when one said so.
        #[source]
        source: Option<ErrorSource>,
    },
    /// A file that could not be read or written.
    #[error("I/O error on {path}: expected to {expected}, found {source}")]
    Io {
        /// The file.
        path: ErrorPath,
        /// The operation (`read the file`).
        expected: String,
        /// The operating system's error (a `std::io::Error`).
        #[source]
        source: ErrorSource,
    },
    /// A random stream that does not exist (and there is no `default`).
    #[error("no random stream '{name}': expected one of [{}] or a 'default' stream", quoted(.available))]
    MissingStream {
        /// The stream asked for.
        name: String,
        /// The streams there are.
        available: Vec<String>,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    ///
    /// ```
    /// let e = nnx_core::Error::invalid_argument("rate", "a value in [0, 1)", "2");
    /// assert!(matches!(e, nnx_core::Error::InvalidArgument { .. }));
    /// ```
    pub fn invalid_argument(
        what: impl Into<String>,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> Self {
        Error::InvalidArgument {
            what: what.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    /// The one error of `errors`, or [`Error::Many`] for several: how merge, update and
    /// checkpoint loading report every mismatch at once.
    ///
    /// ```
    /// use nnx_core::Error;
    /// let one = Error::invalid_argument("a", "b", "c");
    /// assert_eq!(Error::many(vec![one.clone()]), one);
    /// assert!(matches!(Error::many(vec![one.clone(), one]), Error::Many(v) if v.len() == 2));
    /// ```
    pub fn many(mut errors: Vec<Error>) -> Self {
        if errors.len() == 1 {
            errors.remove(0)
        } else {
            Error::Many(errors)
        }
    }
}

/// Names as Python prints a list of strings' items: `'a', 'b'`.
fn quoted(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    quoted.join(", ")
}

/// `Result` with [`Error`].
///
/// ```
/// fn half(x: usize) -> nnx_core::Result<usize> {
///     if x % 2 == 0 { Ok(x / 2) } else { Err(nnx_core::Error::invalid_argument("x", "even", x.to_string())) }
/// }
/// assert_eq!(half(4).unwrap(), 2);
/// assert!(half(3).is_err());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;
