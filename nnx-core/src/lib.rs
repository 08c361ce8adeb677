//! Core of nnx: Variables and their types, metadata and hooks, State, filters,
//! graph operations, the PRNG, `Rngs` and initializers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Lets `#[derive(Module)]` name this crate `::nnx_core` here and in doctests alike.
extern crate self as nnx_core;

// One public path per item: the names most programs use are re-exported here, at
// the root, from private modules; public modules hold families of specialised
// items (filters, the graph protocol, the PRNG, initializers, ...) that the root
// does not repeat. The prelude is the one second path.
#[doc(hidden)]
pub mod __private;
mod builtin;
pub mod checkpoint;
mod display;
mod error;
pub mod filter;
pub mod graph;
pub mod init;
mod key;
mod kind;
mod metadata;
pub mod random;
pub mod record;
pub mod registry;
pub mod repr;
pub mod rngs;
pub mod sow;
mod state;
mod state_access;
mod state_map;
mod summary;
pub mod value;
mod variable;
mod variable_type;

pub use builtin::{
    BatchStat, Cache, Intermediate, Param, Perturbation, RngCount, RngKey, RngState,
};
pub use error::{Error, ErrorPath, ErrorSource, Result};
pub use graph::graphdef::GraphDef;
pub use graph::module::{merge, state, Module};
pub use graph::shared::Shared;
pub use key::MAX_DEPTH;
pub use key::{path_string, Key, Path};
pub use kind::{Kind, KindInfo};
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
pub use state::{FlatState, PureDict, State, Tree};
pub use state_access::parse_path;
pub use summary::{display, tabulate, tabulate_with};
pub use variable::{
    AnyVariable, AxisHook, Hooks, ValueHook, Variable, VariableBehavior, VariableInfo,
    VariableMetadata, VariableState, VariableType,
};

/// The names most programs need: `use nnx_core::prelude::*;`.
pub mod prelude {
    pub use crate::builtin::{BatchStat, Cache, Intermediate, Param, Perturbation};
    pub use crate::filter::{Filter, Filters};
    pub use crate::key::Key;
    pub use crate::rngs::{RngStream, Rngs};
    pub use crate::sow::{Sow, Sown};
    pub use crate::state::State;
    pub use crate::value::{shape, Value};
    pub use crate::variable::{Variable, VariableBehavior, VariableState, VariableType};
    pub use crate::{GraphDef, Module, Shared};
}
