//! `Shared<T>`: one object used at several places of a graph (weight tying).

use std::fmt;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use crate::error::Result;
use crate::graph::builder::Builder;
use crate::graph::field::Field;
use crate::graph::graphdef::Entry;
use crate::graph::walker::{Action, Place, Walker, WalkerMut};
use crate::key::Key;

/// A thread-safe shared handle to a submodule or a Variable.
///
/// Cloning the handle shares the object. Graph traversal visits it once, at its first
/// path in sorted order; the GraphDef records the other places as references, and
/// merge restores one shared object.
///
/// Graph operations lock the object only for the moment they walk it, and never
/// wait for a lock: if a `read()`/`write()` guard on it is alive (in this thread or
/// another), they return [`Error::Locked`](crate::Error::Locked) naming its path
/// instead of blocking.
///
/// ```
/// use nnx_core::prelude::*;
/// let tied = Shared::new(Param::new(ndarray::Array1::<f32>::zeros(2)));
/// let layers = vec![tied.clone(), tied.clone()];
/// let state = layers.state();
/// assert_eq!(state.flat_state().len(), 1); // one Variable, at path 0
/// let (graphdef, state) = layers.split(..).unwrap();
/// let back = graphdef.merge(state).unwrap();
/// assert!(back[0].ptr_eq(&back[1]));
/// ```
pub struct Shared<T>(Arc<RwLock<T>>);

impl<T> Shared<T> {
    /// Wraps `value` in a new shared handle.
    ///
    /// ```
    /// let s = nnx_core::Shared::new(1u8);
    /// assert_eq!(*s.read(), 1);
    /// ```
    pub fn new(value: T) -> Self {
        Shared(Arc::new(RwLock::new(value)))
    }

    /// Read access. A lock poisoned by a panicking writer is still readable: the
    /// data has no invariants that a panic could break half-way.
    ///
    /// ```
    /// let s = nnx_core::Shared::new(vec![1]);
    /// assert_eq!(s.read().len(), 1);
    /// ```
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write access.
    ///
    /// ```
    /// let s = nnx_core::Shared::new(1u8);
    /// *s.write() = 2;
    /// assert_eq!(*s.read(), 2);
    /// ```
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether two handles point to the same object.
    ///
    /// ```
    /// let a = nnx_core::Shared::new(1u8);
    /// assert!(a.ptr_eq(&a.clone()));
    /// assert!(!a.ptr_eq(&nnx_core::Shared::new(1u8)));
    /// ```
    pub fn ptr_eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// The identity used to deduplicate during traversal.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as *const () as usize
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

/// Prints `Shared(<locked>)` while a writer holds the lock, as `Mutex` does.
impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.try_read() {
            Ok(value) => f.debug_tuple("Shared").field(&*value).finish(),
            Err(TryLockError::Poisoned(e)) => {
                f.debug_tuple("Shared").field(&*e.into_inner()).finish()
            }
            Err(TryLockError::WouldBlock) => f.write_str("Shared(<locked>)"),
        }
    }
}

impl<T: Field> Field for Shared<T> {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        if w.shared(key, self.id()) {
            match self.0.try_read() {
                Ok(value) => value.walk_field(key, w),
                Err(TryLockError::Poisoned(e)) => e.into_inner().walk_field(key, w),
                Err(TryLockError::WouldBlock) => w.locked(key),
            }
        }
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
        if w.shared(key, self.id()) {
            // A shared Variable cannot be removed from one place only.
            match self.0.try_write() {
                Ok(mut value) => value.walk_field_mut(key, w, Place::Fixed),
                Err(TryLockError::Poisoned(e)) => {
                    e.into_inner().walk_field_mut(key, w, Place::Fixed)
                }
                Err(TryLockError::WouldBlock) => {
                    w.locked(key);
                    Action::Keep
                }
            };
        }
        Action::Keep
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        b.shared(key)
    }
}

impl<T: Field> crate::Module for Shared<T> {}

impl Builder<'_> {
    /// Rebuilds a shared object: built at its first occurrence, the same handle at
    /// every later one.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
    ///
    /// /// Two slots that may hold the same Param.
    /// struct Tied { a: Shared<Param<f32>>, b: Shared<Param<f32>> }
    /// impl Field for Tied {
    ///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
    ///         b.enter(key)?;
    ///         let a = b.shared(&Key::from("a"))?;
    ///         let second = b.shared(&Key::from("b"))?;
    ///         b.leave()?;
    ///         Ok(Tied { a, b: second })
    ///     }
    /// #   fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
    /// #       w.enter(key, NodeHeader::node("Tied"));
    /// #       self.a.walk_field(&Key::from("a"), w);
    /// #       self.b.walk_field(&Key::from("b"), w);
    /// #       w.leave();
    /// #   }
    /// #   fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
    /// #       w.enter(key, NodeHeader::node("Tied"));
    /// #       self.a.walk_field_mut(&Key::from("a"), w, Place::Fixed);
    /// #       self.b.walk_field_mut(&Key::from("b"), w, Place::Fixed);
    /// #       w.leave();
    /// #       Action::Keep
    /// #   }
    /// }
    /// impl Module for Tied {}
    ///
    /// let p = Shared::new(Param::new(1.0));
    /// let (g, s) = Tied { a: p.clone(), b: p }.split(..)?;
    /// assert_eq!(s.len(), 1); // stored once
    /// let back: Tied = g.merge(s)?;
    /// assert!(back.a.ptr_eq(&back.b));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn shared<T: Field>(&mut self, key: &Key) -> Result<Shared<T>> {
        match self.peek() {
            Some(Entry::SharedFirst { index }) => {
                self.advance();
                let handle = Shared::new(T::build_field(key, self)?);
                if let Some(slot) = self.shared.get_mut(*index) {
                    *slot = Some(Box::new(handle.clone()));
                }
                Ok(handle)
            }
            Some(Entry::SharedRef { index, .. }) => {
                let slot = self.shared.get(*index);
                if let Some(None) = slot {
                    // Referred to from inside itself: still being built.
                    return Err(crate::Error::invalid_argument(
                        format!("merge at {}", self.path_string_with(key)),
                        "a graph without reference cycles",
                        "a shared object that contains itself",
                    ));
                }
                let found = slot
                    .and_then(|s| s.as_ref())
                    .and_then(|s| s.downcast_ref::<Shared<T>>())
                    .cloned();
                let handle = found.ok_or_else(|| {
                    self.mismatch(key, "an earlier shared object of the same type")
                })?;
                self.advance();
                Ok(handle)
            }
            _ => Err(self.mismatch(key, "a shared object")),
        }
    }
}
