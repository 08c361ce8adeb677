//! Flax NNX's layer library over ndarray.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod activation;
mod attention;
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
mod lora;
mod mask;
mod normalization;
mod param;
mod prelu;
mod recurrent;
mod sequential;
mod spectral_norm;
mod support;
mod weight_norm;

pub use activation::*;
pub use attention::{AttentionArgs, MultiHeadAttention, MultiHeadAttentionConfig};
pub use conv::{Conv, ConvConfig};
pub use conv_transpose::{ConvTranspose, ConvTransposeConfig};
pub use dropout::{Dropout, DropoutArgs, DropoutConfig};
pub use einsum::{Einsum, EinsumConfig};
pub use embed::{Embed, EmbedConfig};
pub use forward::Forward;
pub use layer::{Activation, Layer};
pub use linear::{Linear, LinearConfig};
pub use linear_general::{LinearGeneral, LinearGeneralConfig};
pub use lora::{LoRA, LoRAConfig, LoRALinear, LoRALinearConfig, LoRAParam};
pub use mask::KernelMask;
pub use normalization::{
    BatchNorm, BatchNormArgs, BatchNormConfig, GroupNorm, GroupNormConfig, InstanceNorm,
    InstanceNormConfig, LayerNorm, LayerNormConfig, NormArgs, RMSNorm, RMSNormConfig,
};
pub use prelu::{PReLU, PReLUConfig};
pub use recurrent::{
    flip_sequences, ActivationFn, BiCarry, Bidirectional, Carry, CellConfig, GRUCell, LSTMCell,
    MergeFn, OptimizedLSTMCell, RNNCellBase, RNNConfig, RNNOptions, SimpleCell, RNN,
};
pub use sequential::Sequential;
pub use spectral_norm::{SpectralNorm, SpectralNormConfig};
pub use weight_norm::{WeightNorm, WeightNormConfig};

/// Attention masks (Flax's `nnx.make_attention_mask`, `nnx.make_causal_mask`,
/// `nnx.combine_masks`), also reachable as `nnx::nn::make_causal_mask`.
pub use nnx_tensor::{combine_masks, make_attention_mask, make_causal_mask};

/// Convolution and pooling padding (Flax's `padding=` argument).
pub use functional::Padding;

forward::forward_via_inherent!(
    BatchNorm,
    Conv,
    ConvTranspose,
    Dropout,
    Einsum,
    Embed,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    Linear,
    LinearGeneral,
    MultiHeadAttention,
    PReLU,
    RMSNorm,
);
