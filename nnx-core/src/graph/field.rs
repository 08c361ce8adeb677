//! The [`Field`] trait: how each field type takes part in graph traversal.

use crate::error::Result;
use crate::graph::builder::Builder;
use crate::graph::walker::{Action, Place, Walker, WalkerMut};
use crate::key::Key;

/// A type that can be a field of a `#[derive(Module)]` struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a graph node nor a static hyperparameter",
    label = "this field's type is not a Variable, a Module, a container of those, or a primitive",
    note = "mark the field `#[nnx(static)]` if it is a hyperparameter (Clone + Debug + PartialEq + Hash), or `#[nnx(skip)]` to leave it out of the graph"
)]
///
/// `#[derive(Module)]` writes these for structs and enums; the [module
/// docs](crate::graph) show a hand-written one for a struct.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::{Action, Builder, Field, Place, Walker, WalkerMut};
///
/// /// A newtype is its inner field: same key, no node of its own.
/// struct Meters(Param<f32>);
/// impl Field for Meters {
///     fn walk_field(&self, key: &Key, w: &mut dyn Walker) { self.0.walk_field(key, w) }
///     fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, place: Place) -> Action {
///         self.0.walk_field_mut(key, w, place)
///     }
///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
///         Param::build_field(key, b).map(Meters)
///     }
/// }
/// impl Module for Meters {}
///
/// #[derive(Module)]
/// struct Run { distance: Meters }
/// let run = Run { distance: Meters(Param::new(5.0)) };
/// assert_eq!(run.state().flat_state().paths(), vec![vec![Key::from("distance")]]);
/// ```
pub trait Field: Sized + Send + Sync + 'static {
    /// Walks the field under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, Walker};
    /// use nnx_core::AnyVariable;
    /// struct Count(usize);
    /// impl Walker for Count {
    ///     fn variable(&mut self, _: &Key, _: &dyn AnyVariable) { self.0 += 1 }
    /// }
    /// // `state()` is a walk too: both reach the same Variables.
    /// let m = vec![Param::new(1.0f32), Param::new(2.0)];
    /// let mut c = Count(0);
    /// m.walk_field(&Key::from(0usize), &mut c);
    /// assert_eq!(c.0, m.state().len());
    /// ```
    fn walk_field(&self, key: &Key, w: &mut dyn Walker);
    /// Walks the field mutably under `key`, which sits at `place`. Returns
    /// [`Action::Remove`] when the walker asked to remove the Variable that this
    /// field is (an owner whose slot is removable then empties it).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// // `update` is a mutable walk: it reaches the Variable inside the `Option`.
    /// let mut m = Some(Param::new(1.0f32));
    /// m.update(Some(Param::new(3.0f32)).state())?;
    /// assert_eq!(m.map(|p| *p), Some(3.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, place: Place) -> Action;
    /// Rebuilds the field from a GraphDef and States.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// // `GraphDef::merge` calls `build_field` on the root type.
    /// let (g, s) = vec![Param::new(1.0f32), Param::new(2.0)].split(..)?;
    /// let back: Vec<Param<f32>> = g.merge(s)?;
    /// assert_eq!(*back[1], 2.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self>;
}
