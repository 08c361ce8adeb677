//! Flax NNX's layer library over ndarray.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
pub mod functional;
