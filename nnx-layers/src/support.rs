//! Plumbing shared by the layers: config setters and rank-erased views of
//! parameters.

use ndarray::{Array, ArrayD, Dimension};
use nnx_core::{Param, VariableType};

/// Chainable config setters, one per Flax argument. `$ctor` is an expression
/// building a `$cfg`, used in each setter's doc example.
macro_rules! setters {
    ($cfg:ident = $ctor:literal { $($name:ident : $t:ty),* $(,)? }) => {
        impl $cfg {
            $(
                #[doc = concat!("Sets `", stringify!($name), "` (Flax's argument of that name).")]
                #[doc = ""]
                #[doc = "```"]
                #[doc = concat!("let value: ", stringify!($t), " = Default::default();")]
                #[doc = concat!("let cfg: nnx_layers::", stringify!($cfg), " = ", $ctor, ".", stringify!($name), "(value.clone());")]
                #[doc = concat!("assert!(format!(\"{cfg:?}\").contains(&format!(\"", stringify!($name), ": {value:?}\")));")]
                #[doc = "```"]
                pub fn $name(mut self, $name: $t) -> Self {
                    self.$name = $name;
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

/// A copy of a fixed-rank parameter as `ArrayD`, as the functional API takes.
pub(crate) fn dyn_value<D: Dimension + 'static>(p: &Param<Array<f32, D>>) -> ArrayD<f32> {
    p.value().clone().into_dyn()
}
