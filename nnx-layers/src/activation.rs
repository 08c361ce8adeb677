//! Activation functions under Flax's names (`nnx.relu(x)` is
//! `nnx::nn::relu(&x)`), each the [`Tensor`] method of the same name: the
//! kernels and their gradient rules live in `nnx-tensor`. Pooling is
//! re-exported here too, as Flax re-exports `jax.nn` and its pooling functions.
//!
//! ```
//! use nnx_layers::activation::{gelu, relu};
//! use nnx_tensor::Tensor;
//! let x = Tensor::from(ndarray::array![-1.0f32, 2.0]);
//! assert_eq!(relu(&x).to_array(), ndarray::array![0.0f32, 2.0].into_dyn());
//! assert_eq!(gelu(&Tensor::zeros(&[1]), true).to_array(), ndarray::array![0.0f32].into_dyn());
//! ```

use ndarray::{ArrayBase, Data, Dimension};
use nnx_core::Result;
use nnx_tensor::Tensor;

pub use crate::functional::{avg_pool, max_pool, min_pool};

/// Free functions delegating to the `Tensor` method named after them, each
/// with its doc line and an example input and output.
macro_rules! activations {
    ($(
        $(#[$doc:meta])*
        $name:ident => $method:ident($($arg:ident: $ty:ty),*) -> [$($ret:tt)+],
        example($($call:expr),*) == $want:expr;
    )*) => {$(
        $(#[$doc])*
        ///
        /// ```
        /// use nnx_tensor::Tensor;
        #[doc = concat!("let x = Tensor::from(ndarray::array![-1.0f32, 0.0, 2.0]);")]
        #[doc = concat!("let y = nnx_layers::activation::", stringify!($name), "(&x", $(", ", stringify!($call),)* ");")]
        #[doc = concat!("let want = ndarray::array!", stringify!($want), ";")]
        #[doc = concat!("assert!(y", activations!(@unwrap $($ret)+), ".array().iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-6));")]
        /// ```
        pub fn $name(x: &Tensor $(, $arg: $ty)*) -> $($ret)+ {
            x.$method($($arg),*)
        }
    )*};
    (@unwrap Tensor) => { "" };
    (@unwrap Result<Tensor>) => { ".unwrap()" };
}

activations! {
    /// `max(x, 0)` (`nnx.relu`).
    relu => relu() -> [Tensor], example() == [0.0f32, 0.0, 2.0];
    /// `min(max(x, 0), 6)` (`nnx.relu6`).
    relu6 => relu6() -> [Tensor], example() == [0.0f32, 0.0, 2.0];
    /// The logistic sigmoid (`nnx.sigmoid`).
    sigmoid => sigmoid() -> [Tensor], example() == [0.268_941_43f32, 0.5, 0.880_797];
    /// `x * sigmoid(x)` (`nnx.silu`).
    silu => silu() -> [Tensor], example() == [-0.268_941_43f32, 0.0, 1.761_594_1];
    /// Alias of [`silu`] (`nnx.swish`).
    swish => silu() -> [Tensor], example() == [-0.268_941_43f32, 0.0, 1.761_594_1];
    /// `log(sigmoid(x))` (`nnx.log_sigmoid`).
    log_sigmoid => log_sigmoid() -> [Tensor], example() == [-1.313_261_7f32, -0.693_147_2, -0.126_928];
    /// Hyperbolic tangent (`nnx.tanh`).
    tanh => tanh() -> [Tensor], example() == [-0.761_594_2f32, 0.0, 0.964_027_6];
    /// `log(1 + e^x)` (`nnx.softplus`).
    softplus => softplus() -> [Tensor], example() == [0.313_261_7f32, 0.693_147_2, 2.126_928];
    /// `x / (|x| + 1)` (`nnx.soft_sign`).
    soft_sign => soft_sign() -> [Tensor], example() == [-0.5f32, 0.0, 0.666_666_7];
    /// The scaled ELU (`nnx.selu`).
    selu => selu() -> [Tensor], example() == [-1.111_330_7f32, 0.0, 2.101_402];
    /// `relu6(x + 3) / 6` (`nnx.hard_sigmoid`).
    hard_sigmoid => hard_sigmoid() -> [Tensor], example() == [0.333_333_34f32, 0.5, 0.833_333_4];
    /// `x * hard_sigmoid(x)` (`nnx.hard_silu`).
    hard_silu => hard_silu() -> [Tensor], example() == [-0.333_333_34f32, 0.0, 1.666_666_7];
    /// Alias of [`hard_silu`] (`nnx.hard_swish`).
    hard_swish => hard_silu() -> [Tensor], example() == [-0.333_333_34f32, 0.0, 1.666_666_7];
    /// `x` clipped to `[-1, 1]` (`nnx.hard_tanh`).
    hard_tanh => hard_tanh() -> [Tensor], example() == [-1.0f32, 0.0, 1.0];
    /// GELU (`nnx.gelu`); `approximate = true` (Flax's default) is the tanh form.
    gelu => gelu(approximate: bool) -> [Tensor], example(false) == [-0.158_655_27f32, 0.0, 1.954_499_7];
    /// ELU (`nnx.elu`; Flax's default `alpha` is 1).
    elu => elu(alpha: f32) -> [Tensor], example(1.0) == [-0.632_120_56f32, 0.0, 2.0];
    /// CELU (`nnx.celu`; Flax's default `alpha` is 1).
    celu => celu(alpha: f32) -> [Tensor], example(1.0) == [-0.632_120_56f32, 0.0, 2.0];
    /// Leaky ReLU (`nnx.leaky_relu`; Flax's default slope is 0.01).
    leaky_relu => leaky_relu(negative_slope: f32) -> [Tensor], example(0.5) == [-0.5f32, 0.0, 2.0];
    /// Softmax along `axis` (`nnx.softmax`; Flax's default axis is -1).
    softmax => softmax(axis: isize) -> [Result<Tensor>], example(0) == [0.042_010_065f32, 0.114_195_19, 0.843_794_7];
    /// Log-softmax along `axis` (`nnx.log_softmax`; Flax's default axis is -1).
    log_softmax => log_softmax(axis: isize) -> [Result<Tensor>], example(0) == [-3.169_846f32, -2.169_846, -0.169_846_04];
    /// Standardization over `axes` (`nnx.standardize`; defaults `[-1]`, `1e-5`).
    standardize => standardize(axes: &[isize], epsilon: f32) -> [Result<Tensor>], example(&[-1], 0.0) == [-1.069_045_1f32, -0.267_261_27, 1.336_306_2];
}

/// The gated linear unit (`nnx.glu`; Flax's default axis is -1): `x` split in
/// halves `a, b` along `axis`, `a * sigmoid(b)`.
///
/// ```
/// use nnx_tensor::Tensor;
/// let y = nnx_layers::activation::glu(&Tensor::from(ndarray::array![[2.0f32, 0.0]]), -1)?;
/// assert_eq!(y.to_array(), ndarray::array![[1.0f32]].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn glu(x: &Tensor, axis: isize) -> Result<Tensor> {
    x.glu(axis)
}

/// The one-hot encoding of integer `indices` (`nnx.one_hot`; Flax's default
/// axis is -1); out-of-range indices give all-zero rows.
///
/// ```
/// let y = nnx_layers::activation::one_hot(&ndarray::array![1i64, 3], 3, -1)?;
/// assert_eq!(y.to_array(), ndarray::array![[0.0f32, 1.0, 0.0], [0.0, 0.0, 0.0]].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn one_hot<A, S, D>(
    indices: &ArrayBase<S, D>,
    num_classes: usize,
    axis: isize,
) -> Result<Tensor>
where
    A: Copy + TryInto<i64>,
    S: Data<Elem = A>,
    D: Dimension,
{
    Tensor::one_hot(indices, num_classes, axis)
}
