//! Core of nnx: Variables and their types, metadata and hooks, State, filters,
//! graph operations, the PRNG, `Rngs` and initializers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod init;
pub mod random;
pub mod repr;

pub use error::{Error, Result};
