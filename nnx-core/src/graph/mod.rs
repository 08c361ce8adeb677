//! The module graph: traversal, GraphDef, merge, and the graph operations.
//!
//! ```
//! use nnx_core::prelude::*;
//! let model = vec![Param::new(1.0f32), Param::new(2.0f32)];
//! let (graphdef, state) = model.split(..).unwrap();
//! let back: Vec<Param<f32>> = graphdef.merge(state).unwrap();
//! assert_eq!(*back[1], 2.0);
//! ```
//!
//! ## Fields
//!
//! `#[derive(Module)]` calls [`Field`] on every field; the field's type decides
//! whether it is a Variable, a child node, a container of those, or a static
//! hyperparameter. No type is inspected at run time.
//!
//! A hand-written implementation walks its fields under their keys, between
//! `enter` and `leave` (when `enter` returns `true`: a walk refuses nodes nested
//! deeper than [`MAX_DEPTH`](crate::MAX_DEPTH)), and builds them back in the same
//! order:
//!
//! ```
//! use nnx_core::prelude::*;
//! use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
//!
//! struct Affine { w: Param<f32>, b: Param<f32>, features: usize }
//!
//! impl Field for Affine {
//!     fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
//!         if w.enter(key, NodeHeader::node("Affine")) {
//!             self.w.walk_field(&Key::from("w"), w);
//!             self.b.walk_field(&Key::from("b"), w);
//!             self.features.walk_field(&Key::from("features"), w); // a static
//!             w.leave();
//!         }
//!     }
//!     fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
//!         if w.enter(key, NodeHeader::node("Affine")) {
//!             self.w.walk_field_mut(&Key::from("w"), w, Place::Fixed);
//!             self.b.walk_field_mut(&Key::from("b"), w, Place::Fixed);
//!             self.features.walk_field_mut(&Key::from("features"), w, Place::Fixed);
//!             w.leave();
//!         }
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

mod builder;
pub(crate) mod field;
pub(crate) mod fit;
pub(crate) mod graphdef;
mod leaves;
mod merge;
pub(crate) mod module;
pub(crate) mod shared;
pub(crate) mod statics;
pub(crate) mod std_impls;
pub(crate) mod tracker;
mod walker;
mod walkers;

pub use builder::Builder;
pub use field::Field;
pub use merge::IntoStates;
pub use statics::{DynStatic, StaticFloat, StaticHyperparameter};
pub use walker::{Action, NodeAddress, NodeHeader, Place, Walker, WalkerMut};
pub use walkers::GraphItem;

/// The key the root of a graph walk is entered under.
pub(crate) use tracker::ROOT;
