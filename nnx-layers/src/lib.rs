//! Flax NNX's layer library over ndarray.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
mod forward;
pub mod functional;
mod contract;
mod einsum;
mod graph;
mod linear;
mod linear_general;
mod param;

pub use forward::Forward;
pub use einsum::{Einsum, EinsumConfig};
pub use linear::{Linear, LinearConfig};
pub use linear_general::{LinearGeneral, LinearGeneralConfig};
