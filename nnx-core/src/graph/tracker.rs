//! Path bookkeeping shared by walkers and the builder.

use crate::error::{Error, Result};
use crate::key::{path_string, Key, Path};

/// How deeply graph operations nest: a node nested deeper than this many nodes
/// (the root counts as one) is refused with [`Error::TooDeep`] naming its path,
/// instead of overflowing the stack. Walks recurse once per level, and this
/// bound keeps the deepest walk well inside a 2 MiB thread stack (a debug build's
/// test thread).
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

/// The key walkers are handed for the root, which has no path component.
pub(crate) const ROOT: Key = Key::Int(0);

/// Tracks the current path while entries are entered and left. The root node and
/// transparent nodes add no path component.
#[derive(Default)]
pub(crate) struct PathTracker {
    path: Path,
    pushed: Vec<bool>,
    /// How many transparent nodes were entered before the root: a transparent
    /// enum variant walked as the root hands the root position to its value.
    before_root: usize,
    /// Nodes refused while walking (too deep, or a locked Shared).
    errors: Vec<Error>,
}

impl PathTracker {
    /// Enters a node; returns whether it added `key` to the path.
    pub(crate) fn enter(&mut self, key: &Key, transparent: bool) -> bool {
        let root = self.pushed.len() == self.before_root;
        if root && transparent {
            self.before_root += 1;
        }
        let push = !root && !transparent;
        if push {
            self.path.push(key.clone());
        }
        self.pushed.push(push);
        push
    }

    /// Whether a node under `key` may be entered: one nested deeper than
    /// [`MAX_DEPTH`] is refused (recorded as an error).
    #[inline]
    pub(crate) fn admit(&mut self, key: &Key) -> bool {
        if self.pushed.len() < MAX_DEPTH {
            return true;
        }
        let e = self.too_deep_error(key);
        self.errors.push(e);
        false
    }

    /// The error for entering a node under `key`, if it would be nested deeper
    /// than [`MAX_DEPTH`].
    #[inline]
    pub(crate) fn too_deep(&self, key: &Key) -> Option<Error> {
        (self.pushed.len() >= MAX_DEPTH).then(|| self.too_deep_error(key))
    }

    // Out of line: walks check every node, and almost never fail.
    #[cold]
    #[inline(never)]
    fn too_deep_error(&self, key: &Key) -> Error {
        Error::TooDeep {
            path: path_string(&self.child(key)).into(),
            limit: MAX_DEPTH,
        }
    }

    /// Records a Shared under `key` that the walk could not lock.
    pub(crate) fn locked(&mut self, key: &Key) {
        let path = path_string(&self.child(key)).into();
        self.errors.push(Error::Locked { path });
    }

    /// `Err` with every node the walk refused, if it refused any.
    pub(crate) fn finish(&mut self) -> Result<()> {
        if self.errors.is_empty() {
            return Ok(());
        }
        Err(Error::many(std::mem::take(&mut self.errors)))
    }

    /// Leaves the current node; returns the key it had added to the path, if any.
    pub(crate) fn leave(&mut self) -> Option<Key> {
        if self.pushed.len() == self.before_root {
            self.before_root = self.before_root.saturating_sub(1);
        }
        if self.pushed.pop() == Some(true) {
            self.path.pop()
        } else {
            None
        }
    }

    /// Whether no node has been entered: a Variable walked as the root sits at the
    /// empty path.
    pub(crate) fn at_root(&self) -> bool {
        self.pushed.is_empty()
    }

    /// Calls `f` with the path of a leaf under `key`, without allocating one.
    pub(crate) fn with_child<R>(&mut self, key: &Key, f: impl FnOnce(&[Key]) -> R) -> R {
        if self.at_root() {
            return f(&[]);
        }
        self.path.push(key.clone());
        let r = f(&self.path);
        self.path.pop();
        r
    }

    /// The path of a leaf stored under `key` in the current node.
    pub(crate) fn child(&self, key: &Key) -> Path {
        if self.pushed.is_empty() {
            return Path::new();
        }
        let mut p = self.path.clone();
        p.push(key.clone());
        p
    }
}
