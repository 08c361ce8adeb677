//! What only generated code calls (`#[derive(Module)]` and `variable_type!`).
//! Not API: it may change in any release.

pub use crate::__variable_graph_impls as variable_graph_impls;
pub use crate::graph::std_impls::StaticWalk;
pub use crate::variable::{create_typed, create_typed_from_metadata};

use crate::graph::{Action, Place, Walker, WalkerMut};
use crate::key::Key;
use crate::sow::Sown;
use crate::variable::{Variable, VariableType};

/// The type of a `#[nnx(sow)]` field.
#[diagnostic::on_unimplemented(
    message = "a `#[nnx(sow)]` field must have type `Sown`, not `{Self}`",
    label = "not a `Sown` store"
)]
pub trait SowField {
    /// The store.
    fn store(&mut self) -> &mut Sown;
}

impl SowField for Sown {
    fn store(&mut self) -> &mut Sown {
        self
    }
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

/// Walks a typed Variable (used by `variable_type!`); a tied one only at its
/// first place, as a `Shared` handle is walked.
pub fn walk_variable<V: VariableType>(var: &V, key: &Key, w: &mut dyn Walker) {
    let var = var.as_variable();
    match var.tie_id() {
        None => w.variable(key, var),
        Some(id) => {
            if w.shared(key, id) {
                w.variable(key, var)
            }
        }
    }
}

/// Walks a typed Variable mutably (used by `variable_type!`): a tied one is
/// visited at its first place (fixed: it cannot be removed from one place only)
/// and shown as [`WalkerMut::tied`] at the others.
pub fn walk_variable_mut<V: VariableType>(
    var: &mut V,
    key: &Key,
    w: &mut dyn WalkerMut,
    place: Place,
) -> Action {
    let var = var.as_variable_mut();
    let Some(id) = var.tie_id() else {
        return w.variable(key, var, place);
    };
    if w.shared(key, id) {
        w.variable(key, var, Place::Fixed);
    } else {
        w.tied(key, id, var);
    }
    Action::Keep
}

crate::__variable_graph_impls!(Variable);
