//! Flax NNX's layer library over ndarray.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
pub mod activation;
mod contract;
mod conv;
mod conv_transpose;
mod einsum;
mod embed;
mod forward;
pub mod functional;
mod graph;
mod linear;
mod linear_general;
mod mask;
mod param;
mod prelu;
mod sequential;

pub use activation::*;
pub use conv::{Conv, ConvConfig};
pub use conv_transpose::{ConvTranspose, ConvTransposeConfig};
pub use einsum::{Einsum, EinsumConfig};
pub use embed::{Embed, EmbedConfig};
pub use forward::Forward;
pub use linear::{Linear, LinearConfig};
pub use linear_general::{LinearGeneral, LinearGeneralConfig};
pub use mask::KernelMask;
pub use prelu::{PReLU, PReLUConfig};
pub use sequential::Sequential;
