//! Core of nnx: Variables and their types, metadata and hooks, State, filters,
//! graph operations, the PRNG, `Rngs` and initializers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod builtin;
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
pub use rngs::{RngStream, Rngs};
pub use state::{FlatState, State, VariableState};
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
}
