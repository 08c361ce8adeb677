//! Path bookkeeping shared by walkers and the builder.

use crate::graph::key::{Key, Path};

/// The key walkers are handed for the root, which has no path component.
pub(crate) const ROOT: Key = Key::Int(0);

/// Tracks the current path while entries are entered and left. The root node and
/// transparent nodes add no path component.
#[derive(Default)]
pub(crate) struct PathTracker {
    path: Path,
    pushed: Vec<bool>,
}

impl PathTracker {
    pub(crate) fn enter(&mut self, key: &Key, transparent: bool) {
        let push = !self.pushed.is_empty() && !transparent;
        if push {
            self.path.push(key.clone());
        }
        self.pushed.push(push);
    }

    pub(crate) fn leave(&mut self) {
        if self.pushed.pop() == Some(true) {
            self.path.pop();
        }
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
