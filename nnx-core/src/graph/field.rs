//! How each field type takes part in graph traversal.
//!
//! `#[derive(Module)]` calls [`Field`] on every field; the field's type decides
//! whether it is a Variable, a child node, a container of those, or a static
//! hyperparameter. No type is inspected at run time.
//!
//! A hand-written implementation walks its fields under their keys, between
//! `enter` and `leave`, and builds them back in the same order:
//!
//! ```
//! use nnx_core::prelude::*;
//! use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
//!
//! struct Affine { w: Param<f32>, b: Param<f32>, features: usize }
//!
//! impl Field for Affine {
//!     fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
//!         w.enter(key, NodeHeader::node("Affine"));
//!         self.w.walk_field(&Key::from("w"), w);
//!         self.b.walk_field(&Key::from("b"), w);
//!         self.features.walk_field(&Key::from("features"), w); // a static
//!         w.leave();
//!     }
//!     fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
//!         w.enter(key, NodeHeader::node("Affine"));
//!         self.w.walk_field_mut(&Key::from("w"), w, Place::Fixed);
//!         self.b.walk_field_mut(&Key::from("b"), w, Place::Fixed);
//!         self.features.walk_field_mut(&Key::from("features"), w, Place::Fixed);
//!         w.leave();
//!         Action::Keep
//!     }
//!     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
//!         b.enter(key)?;
//!         let w = Field::build_field(&Key::from("w"), b)?;
//!         let bias = Field::build_field(&Key::from("b"), b)?;
//!         let features = Field::build_field(&Key::from("features"), b)?;
//!         b.leave()?;
//!         Ok(Affine { w, b: bias, features })
//!     }
//! }
//! impl Module for Affine {}
//!
//! let m = Affine { w: Param::new(2.0), b: Param::new(1.0), features: 4 };
//! assert_eq!(m.state().flat_state().paths(), vec![vec![Key::from("b")], vec![Key::from("w")]]);
//! let (g, s) = m.split(..)?;
//! let back: Affine = g.merge(s)?;
//! assert_eq!((*back.w, *back.b, back.features), (2.0, 1.0, 4));
//! # Ok::<(), nnx_core::Error>(())
//! ```

use crate::error::Result;
use crate::graph::builder::Builder;
use crate::graph::key::Key;
use crate::graph::walker::{Action, Place, Walker, WalkerMut};
use crate::variable::{Variable, VariableType};

/// A type that can be a field of a `#[derive(Module)]` struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a graph node nor a static hyperparameter",
    label = "this field's type is not a Variable, a Module, a container of those, or a primitive",
    note = "mark the field `#[nnx(static)]` if it is a hyperparameter (Clone + Debug + PartialEq + Hash), or `#[nnx(skip)]` to leave it out of the graph"
)]
///
/// `#[derive(Module)]` writes these for structs and enums; the [module
/// docs](self) show a hand-written one for a struct.
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

/// The graph impls of a Variable type (used by `variable_type!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __variable_graph_impls {
    ($name:ident) => {
        #[automatically_derived]
        impl<T: $crate::value::Value + ::core::clone::Clone> $crate::graph::Field for $name<T> {
            fn walk_field(&self, key: &$crate::Key, w: &mut dyn $crate::graph::Walker) {
                $crate::__private::walk_variable(self, key, w)
            }
            fn walk_field_mut(
                &mut self,
                key: &$crate::Key,
                w: &mut dyn $crate::graph::WalkerMut,
                place: $crate::graph::Place,
            ) -> $crate::graph::Action {
                $crate::__private::walk_variable_mut(self, key, w, place)
            }
            fn build_field(
                key: &$crate::Key,
                b: &mut $crate::graph::Builder<'_>,
            ) -> $crate::Result<Self> {
                b.variable::<Self>(key)
            }
        }

        #[automatically_derived]
        impl<T: $crate::value::Value + ::core::clone::Clone> $crate::Module for $name<T> {}
    };
}

/// Walks a typed Variable (used by `variable_type!`).
pub fn walk_variable<V: VariableType>(var: &V, key: &Key, w: &mut dyn Walker) {
    w.variable(key, var.as_variable())
}

/// Walks a typed Variable mutably (used by `variable_type!`).
pub fn walk_variable_mut<V: VariableType>(
    var: &mut V,
    key: &Key,
    w: &mut dyn WalkerMut,
    place: Place,
) -> Action {
    w.variable(key, var.as_variable_mut(), place)
}

crate::__variable_graph_impls!(Variable);
