//! Flax NNX's layer library over ndarray.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
mod forward;
pub mod functional;

pub use forward::Forward;
