//! nnx: Flax NNX for Rust.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use nnx_core::*;
