//! Path keys: field names, sequence indices and map keys.
//!
//! ```
//! use nnx_core::{path_string, Key};
//! assert_eq!(path_string(&[Key::from("layers"), Key::from(1usize)]), "layers/1");
//! ```

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// One step of a path. Integers sort before strings, as Flax sorts keys.
///
/// ```
/// use nnx_core::Key;
/// assert!(Key::from(10usize) < Key::from("a"));
/// assert_eq!(Key::from("kernel").to_string(), "'kernel'");
/// assert_eq!(Key::from(0usize).to_string(), "0");
/// ```
#[derive(Clone, Eq, PartialOrd, Ord)]
pub enum Key {
    /// A sequence index.
    Int(usize),
    /// A field name or map key.
    Str(Cow<'static, str>),
}

impl PartialEq for Key {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Key::Int(a), Key::Int(b)) => a == b,
            // A field name is the same literal in a GraphDef, a State and the
            // walk: equal addresses spare comparing the bytes.
            (Key::Str(a), Key::Str(b)) => std::ptr::eq(&**a, &**b) || a == b,
            _ => false,
        }
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Key::Int(i) => {
                state.write_u8(0);
                i.hash(state);
            }
            Key::Str(s) => {
                state.write_u8(1);
                s.hash(state);
            }
        }
    }
}

impl Key {
    /// The name, for string keys.
    ///
    /// ```
    /// assert_eq!(nnx_core::Key::from("a").as_str(), Some("a"));
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Key::Str(s) => Some(s),
            Key::Int(_) => None,
        }
    }
}

impl From<&'static str> for Key {
    fn from(s: &'static str) -> Self {
        Key::Str(Cow::Borrowed(s))
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key::Str(Cow::Owned(s))
    }
}

impl From<usize> for Key {
    fn from(i: usize) -> Self {
        Key::Int(i)
    }
}

/// Python's repr of the key, as State printing shows it.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Int(i) => write!(f, "{i}"),
            Key::Str(s) => write!(f, "{}", crate::MetaValue::from(&**s)),
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A path from the root of a graph.
///
/// ```
/// use nnx_core::{Key, Path};
/// let p: Path = vec![Key::from("layers"), Key::from(0usize)];
/// assert_eq!(nnx_core::path_string(&p), "layers/0");
/// ```
pub type Path = Vec<Key>;

/// Writes a path as `a/b/0`, the form errors use. A string key that would read as
/// an index or as more than one key (`"0"`, `""`, `"a/b"`) is quoted as Python
/// prints it, so two different paths never print the same.
///
/// ```
/// use nnx_core::{path_string, Key};
/// assert_eq!(path_string(&[Key::from("layers"), Key::from(0usize)]), "layers/0");
/// assert_eq!(path_string(&[Key::from("layers"), Key::from("0")]), "layers/'0'");
/// assert_eq!(path_string(&[Key::from("a/b")]), "'a/b'");
/// ```
pub fn path_string(path: &[Key]) -> String {
    let mut s = String::new();
    for (i, k) in path.iter().enumerate() {
        if i > 0 {
            s.push('/');
        }
        match k {
            Key::Int(n) => s.push_str(&n.to_string()),
            Key::Str(name) if reads_ambiguously(name) => s.push_str(&k.to_string()),
            Key::Str(name) => s.push_str(name),
        }
    }
    s
}

/// Whether a string key printed bare could be read as an index, as no key, as
/// several keys or as a quoted key.
fn reads_ambiguously(name: &str) -> bool {
    name.is_empty()
        || name.bytes().all(|b| b.is_ascii_digit())
        || name.contains('/')
        || name.starts_with(['\'', '"'])
}

/// How deeply graph operations nest: a node nested deeper than this many nodes
/// (the root counts as one) is refused with [`Error::TooDeep`](crate::Error::TooDeep)
/// naming its path, instead of overflowing the stack. Walks recurse once per level,
/// and this bound keeps the deepest walk well inside a 2 MiB thread stack (a debug
/// build's test thread). State paths longer than this are refused too
/// ([`State::from_flat`](crate::State::from_flat), checkpoint loading), so no tree
/// built from outside input can nest deep enough to overflow the stack.
///
/// ```
/// use nnx_core::prelude::*;
/// // A linked list of modules: each level one node deeper.
/// #[derive(Module)]
/// struct Node { w: Param<f32>, next: Option<Box<Node>> }
/// let mut chain = Node { w: Param::new(0.0), next: None };
/// for _ in 0..nnx_core::MAX_DEPTH {
///     chain = Node { w: Param::new(0.0), next: Some(Box::new(chain)) };
/// }
/// let err = chain.try_state().unwrap_err();
/// assert!(matches!(err, nnx_core::Error::TooDeep { limit: nnx_core::MAX_DEPTH, .. }));
/// ```
pub const MAX_DEPTH: usize = 256;
