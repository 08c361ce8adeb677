//! The one error type of nnx.

use std::fmt;

/// A path inside a module graph, printed as `a/b/0` (empty for the root).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ErrorPath(pub String);

impl fmt::Display for ErrorPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            f.write_str("<root>")
        } else {
            f.write_str(&self.0)
        }
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
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
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
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
