//! Flax NNX's layer library over ndarray.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod activation;
mod attention;
mod contract;
mod conv;
mod conv_base;
mod conv_transpose;
mod dropout;
mod einsum;
mod embed;
mod forward;
pub mod functional;
mod layer;
mod linear;
mod linear_general;
mod mask;
mod normalization;
mod param;
mod prelu;
mod sequential;
mod support;

pub use activation::*;
pub use attention::{MultiHeadAttention, MultiHeadAttentionConfig};
pub use conv::{Conv, ConvConfig};
pub use conv_transpose::{ConvTranspose, ConvTransposeConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use einsum::{Einsum, EinsumConfig};
pub use embed::{Embed, EmbedConfig};
pub use forward::Forward;
pub use layer::{Activation, Layer};
pub use linear::{Linear, LinearConfig};
pub use linear_general::{LinearGeneral, LinearGeneralConfig};
pub use mask::KernelMask;
pub use normalization::{
    BatchNorm, BatchNormConfig, GroupNorm, GroupNormConfig, InstanceNorm, InstanceNormConfig,
    LayerNorm, LayerNormConfig, RMSNorm, RMSNormConfig,
};
pub use prelu::{PReLU, PReLUConfig};
pub use sequential::Sequential;

forward::forward_via_ndarray!(
    shared: Conv,
    ConvTranspose,
    Einsum,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    Linear,
    LinearGeneral,
    PReLU,
    RMSNorm,
);
forward::forward_via_ndarray!(mutable: BatchNorm, Dropout);
