//! What only generated code calls (`#[derive(Module)]` and `variable_type!`).
//! Not API: it may change in any release.

pub use crate::__variable_graph_impls as variable_graph_impls;
pub use crate::graph::field::{walk_variable, walk_variable_mut};
pub use crate::graph::statics::StaticWalk;
pub use crate::variable::{create_typed, create_typed_from_metadata};

use crate::sow::Sown;

/// The type of a `#[nnx(sow)]` field.
#[diagnostic::on_unimplemented(
    message = "a `#[nnx(sow)]` field must have type `Sown`, not `{Self}`",
    label = "not a `Sown` store"
)]
pub trait SowStore {
    /// The store.
    fn store(&mut self) -> &mut Sown;
}

impl SowStore for Sown {
    fn store(&mut self) -> &mut Sown {
        self
    }
}
