//! Core of nnx: Variables and their types, metadata and hooks, State, filters,
//! graph operations, the PRNG, `Rngs` and initializers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Lets `#[derive(Module)]` name this crate `::nnx_core` here and in doctests alike.
extern crate self as nnx_core;

pub mod builtin;
pub mod checkpoint;
mod display;
pub mod error;
pub mod filter;
pub mod graph;
pub mod hooks;
pub mod init;
pub mod kind;
pub mod metadata;
pub mod random;
pub mod registry;
pub mod repr;
pub mod rngs;
pub mod sow;
pub mod state;
mod state_access;
mod state_map;
pub mod summary;
pub mod value;
pub mod variable;
mod variable_type;

pub use builtin::{
    BatchStat, Cache, Intermediate, Param, Perturbation, RngCount, RngKey, RngState,
};
pub use error::{Error, Result};
pub use graph::{merge, state, GraphDef, Key, Module, Path, Shared};
pub use hooks::VariableMetadata;
pub use kind::Kind;
pub use metadata::{MetaValue, Metadata};
/// `#[derive(Module)]`, also usable from crates that depend only on nnx-core (the
/// `nnx` facade documents the options).
///
/// ```
/// use nnx_core::prelude::*;
///
/// #[derive(Module)]
/// struct Scale {
///     factor: Param<f32>,
///     #[nnx(static)]
///     name: String,
/// }
///
/// let (g, s) = Scale { factor: Param::new(2.0), name: "s".into() }.split(..).unwrap();
/// let back: Scale = g.merge(s).unwrap();
/// assert_eq!((*back.factor, back.name.as_str()), (2.0, "s"));
/// ```
pub use nnx_derive::Module;
pub use rngs::{RngStream, Rngs};

#[cfg(test)]
mod derive_tests {
    use crate::prelude::*;

    /// The derive names this crate `::nnx_core` inside nnx-core too.
    #[derive(Module)]
    struct Inside(Param<f32>, #[nnx(skip)] u8);

    #[test]
    fn derive_inside_nnx_core() {
        let (g, s) = Inside(Param::new(1.0), 3).split(..).unwrap();
        let back = g.merge(s).unwrap();
        assert_eq!((*back.0, back.1), (1.0, 0));
    }
}
pub use state::{FlatState, State, VariableState};
pub use summary::{display, tabulate};
pub use value::{shape, DType, Shape};
pub use variable::{AnyVariable, Variable, VariableBehavior, VariableType};

/// The names most programs need: `use nnx_core::prelude::*;`.
pub mod prelude {
    pub use crate::builtin::{BatchStat, Cache, Intermediate, Param, Perturbation};
    pub use crate::filter::{Filter, Filters};
    pub use crate::graph::{GraphDef, Key, Module, Shared};
    pub use crate::rngs::{RngStream, Rngs};
    pub use crate::sow::{Sow, Sown};
    pub use crate::state::{State, VariableState};
    pub use crate::value::{shape, Value};
    pub use crate::variable::{Variable, VariableBehavior, VariableType};
    pub use nnx_derive::Module;
}
