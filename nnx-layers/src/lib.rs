//! Flax NNX's layer library over ndarray.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
pub mod activation;
mod forward;
pub mod functional;
mod contract;
mod conv;
mod conv_transpose;
mod einsum;
mod embed;
mod graph;
mod linear;
mod linear_general;
mod mask;
mod param;
mod prelu;
mod sequential;

pub use forward::Forward;
pub use conv::{Conv, ConvConfig};
pub use conv_transpose::{ConvTranspose, ConvTransposeConfig};
pub use embed::{Embed, EmbedConfig};
pub use einsum::{Einsum, EinsumConfig};
pub use linear::{Linear, LinearConfig};
pub use linear_general::{LinearGeneral, LinearGeneralConfig};
pub use prelu::{PReLU, PReLUConfig};
pub use mask::KernelMask;
pub use sequential::Sequential;
pub use activation::*;
