//! The module graph: traversal, GraphDef, merge, and the graph operations.
//!
//! ```
//! use nnx_core::prelude::*;
//! let model = vec![Param::new(1.0f32), Param::new(2.0f32)];
//! let (graphdef, state) = model.split(..).unwrap();
//! let back: Vec<Param<f32>> = graphdef.merge(state).unwrap();
//! assert_eq!(*back[1], 2.0);
//! ```

mod builder;
pub(crate) mod field;
pub(crate) mod fit;
mod graphdef;
pub mod key;
mod leaves;
mod module;
mod shared;
pub(crate) mod statics;
pub(crate) mod std_impls;
mod tracker;
mod walker;
mod walkers;

pub use builder::{Builder, IntoStates};
pub use field::Field;
pub use graphdef::GraphDef;
pub use key::{path_string, Key, Path};
pub use module::{merge, state, Module};
pub use shared::Shared;
pub use statics::{DynStatic, StaticFloat, StaticHyperparameter};
pub use walker::{Action, NodeHeader, Place, Walker, WalkerMut};
pub use walkers::GraphItem;

/// The key the root of a graph walk is entered under.
pub(crate) use tracker::ROOT;
