//! Convolution and pooling as functions, as JAX and Flax spell them. The
//! kernels and their gradient rules are nnx-tensor's ([`Tensor::conv_general`],
//! [`Tensor::max_pool`], ...); these are the same calls under Flax's names.

use nnx_core::Result;
use nnx_tensor::Tensor;
pub use nnx_tensor::{per_axis, ConvOptions, ConvTransposeOptions, Padding};

/// Convolution as `flax.nnx.Conv` computes it before adding its bias
/// (`jax.lax.conv_general_dilated`, channels last): [`Tensor::conv_general`].
///
/// ```
/// use nnx_layers::functional::{conv_general, ConvOptions, Padding};
/// use nnx_tensor::Tensor;
/// let x = Tensor::from_shape_vec(&[1, 4, 1], vec![1.0, 2.0, 3.0, 4.0])?;
/// let o = ConvOptions { padding: Padding::Valid, ..Default::default() };
/// let y = conv_general(&x, &Tensor::ones(&[3, 1, 1]), &o)?;
/// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![6.0, 9.0]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn conv_general(x: &Tensor, kernel: &Tensor, opts: &ConvOptions) -> Result<Tensor> {
    x.conv_general(kernel, opts)
}

/// Transposed convolution as `flax.nnx.ConvTranspose` computes it before its
/// bias (`jax.lax.conv_transpose`): [`Tensor::conv_transpose`].
///
/// ```
/// use nnx_layers::functional::{conv_transpose, ConvTransposeOptions, Padding};
/// use nnx_tensor::Tensor;
/// let x = Tensor::from_shape_vec(&[1, 2, 1], vec![1.0, 2.0])?;
/// let o = ConvTransposeOptions { strides: vec![2], padding: Padding::Valid, ..Default::default() };
/// let y = conv_transpose(&x, &Tensor::ones(&[2, 1, 1]), &o)?;
/// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![1.0, 1.0, 2.0, 2.0]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn conv_transpose(x: &Tensor, kernel: &Tensor, opts: &ConvTransposeOptions) -> Result<Tensor> {
    x.conv_transpose(kernel, opts)
}

/// `flax.nnx.avg_pool(x, window_shape, strides, padding, count_include_pad)`:
/// [`Tensor::avg_pool`].
///
/// ```
/// use nnx_layers::functional::{avg_pool, Padding};
/// let x = nnx_tensor::Tensor::from_shape_vec(&[1, 3, 1], vec![1.0, 2.0, 3.0])?;
/// let y = avg_pool(&x, &[2], &[2], &Padding::Same, false)?;
/// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![1.5, 3.0]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn avg_pool(
    x: &Tensor,
    window_shape: &[usize],
    strides: &[usize],
    padding: &Padding,
    count_include_pad: bool,
) -> Result<Tensor> {
    x.avg_pool(window_shape, strides, padding, count_include_pad)
}

/// `flax.nnx.max_pool(x, window_shape, strides, padding)`: [`Tensor::max_pool`].
///
/// ```
/// use nnx_layers::functional::{max_pool, Padding};
/// let x = nnx_tensor::Tensor::from_shape_vec(&[1, 4, 1], vec![1.0, 5.0, 3.0, 2.0])?;
/// let y = max_pool(&x, &[2], &[2], &Padding::Valid)?;
/// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![5.0, 3.0]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn max_pool(
    x: &Tensor,
    window_shape: &[usize],
    strides: &[usize],
    padding: &Padding,
) -> Result<Tensor> {
    x.max_pool(window_shape, strides, padding)
}

/// `flax.nnx.min_pool(x, window_shape, strides, padding)`: [`Tensor::min_pool`].
///
/// ```
/// use nnx_layers::functional::{min_pool, Padding};
/// let x = nnx_tensor::Tensor::from_shape_vec(&[1, 4, 1], vec![1.0, 5.0, 3.0, 2.0])?;
/// let y = min_pool(&x, &[2], &[2], &Padding::Valid)?;
/// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![1.0, 2.0]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn min_pool(
    x: &Tensor,
    window_shape: &[usize],
    strides: &[usize],
    padding: &Padding,
) -> Result<Tensor> {
    x.min_pool(window_shape, strides, padding)
}
