//! Flax NNX's layer library over ndarray.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
mod forward;
pub mod functional;
mod graph;
mod linear;
mod param;

pub use forward::Forward;
pub use linear::{Linear, LinearConfig};
