//! Activation functions and pooling for layer users, re-exported from
//! [`functional`](crate::functional) (Flax re-exports `jax.nn` the same way).
//!
//! ```
//! use ndarray::array;
//! use nnx_layers::activation::{gelu, relu};
//! assert_eq!(relu(&array![-1.0f32, 2.0]), array![0.0, 2.0]);
//! assert_eq!(gelu(&array![0.0f32], true), array![0.0]);
//! ```

pub use crate::functional::{
    avg_pool, celu, elu, gelu, glu, hard_sigmoid, hard_silu, hard_swish, hard_tanh, leaky_relu,
    log_sigmoid, log_softmax, max_pool, min_pool, one_hot, relu, relu6, selu, sigmoid, silu,
    soft_sign, softmax, softplus, standardize, swish, tanh,
};
