//! Procedural macros of nnx: `#[derive(Module)]`.
#![forbid(unsafe_code)]
