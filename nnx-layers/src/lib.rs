//! Flax NNX's layer library over ndarray.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
mod attention;
mod dropout;
mod forward;
pub mod functional;
mod normalization;
mod support;

pub use attention::{MultiHeadAttention, MultiHeadAttentionConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use forward::Forward;
pub use normalization::{
    BatchNorm, BatchNormConfig, GroupNorm, GroupNormConfig, InstanceNorm, InstanceNormConfig,
    LayerNorm, LayerNormConfig, RMSNorm, RMSNormConfig,
};
