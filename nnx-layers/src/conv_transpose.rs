//! `ConvTranspose`: transposed N-D convolution (Flax's `nnx.ConvTranspose`).

use nnx_core::rngs::Rngs;
use nnx_core::{Param, Result};
use nnx_tensor::{Element, Tensor};

use crate::conv_base::{conv_setters, forward_masked, ConvBase};
use crate::forward::Recorded;
use crate::functional::{ConvTransposeOptions, Padding};
use crate::mask::KernelMask;
use crate::support::{check_config, setters};

/// A transposed convolution, as `jax.lax.conv_transpose` computes it, with
/// Flax's `CIRCULAR` output folding (Flax's `nnx.ConvTranspose`). The kernel is
/// `(*kernel_size, in_features, out_features)`, or `(*kernel_size,
/// out_features, in_features)` with `transpose_kernel`.
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::ConvTranspose;
/// use nnx_tensor::Tensor;
/// let mut up = ConvTranspose::config(2, 3, &[3]).strides(&[2]).build(&mut Rngs::new(0))?;
/// let y = up.forward(&Tensor::ones(&[4, 5, 2]))?;
/// assert_eq!(y.shape(), &[4, 10, 3]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct ConvTranspose<E: Element = f32> {
    /// The kernel (see the type's documentation for its layout).
    pub kernel: Param<Tensor<E>>,
    /// `(out_features,)`, or `None` when `use_bias` is false.
    pub bias: Option<Param<Tensor<E>>>,
    /// Input channels.
    pub in_features: usize,
    /// Output channels.
    pub out_features: usize,
    /// Window size per spatial axis.
    #[nnx(static)]
    pub kernel_size: Vec<usize>,
    /// Stride (input dilation) per spatial axis.
    #[nnx(static)]
    pub strides: Vec<usize>,
    /// The padding: `Same`, `Valid`, `Circular` or `Explicit`.
    #[nnx(static)]
    pub padding: Padding,
    /// Kernel dilation per spatial axis.
    #[nnx(static)]
    pub kernel_dilation: Vec<usize>,
    /// Whether the layer adds a bias.
    pub use_bias: bool,
    /// A mask multiplied into the kernel on every forward.
    #[nnx(static)]
    pub mask: Option<KernelMask>,
    /// Flip the kernel spatially and swap its feature axes.
    pub transpose_kernel: bool,
}

/// Options of [`ConvTranspose`], with Flax's defaults; from [`ConvTranspose::config`].
///
/// ```
/// use nnx_core::rngs::Rngs;
/// let t = nnx_layers::ConvTranspose::config(2, 3, &[3, 3])
///     .transpose_kernel(true)
///     .build(&mut Rngs::new(0))?;
/// assert_eq!(t.kernel.shape(), &[3, 3, 3, 2]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConvTransposeConfig<E: Element = f32> {
    base: ConvBase<E>,
    transpose_kernel: bool,
}

conv_setters!(ConvTransposeConfig = "nnx_layers::ConvTranspose::config(1, 2, &[3])");

setters!(ConvTransposeConfig<E> = "nnx_layers::ConvTranspose::config(1, 2, &[3])" { transpose_kernel: bool });

impl<E: Element> ConvTransposeConfig<E> {
    /// The options of a layer of element type `E` (`f64`: Flax's
    /// `param_dtype=dtype=jnp.float64`), starting from Flax's defaults;
    /// `ConvTranspose::config` is this for `f32`.
    ///
    /// ```
    /// let cfg = nnx_layers::ConvTransposeConfig::<f64>::new(2, 4, &[3]);
    /// assert!(format!("{cfg:?}").starts_with("ConvTransposeConfig"));
    /// ```
    pub fn new(
        in_features: usize,
        out_features: usize,
        kernel_size: &[usize],
    ) -> ConvTransposeConfig<E> {
        ConvTransposeConfig {
            base: ConvBase::new(in_features, out_features, kernel_size),
            transpose_kernel: false,
        }
    }

    /// Creates the layer (kernel key, then bias key, from the `params` stream).
    ///
    /// # Errors
    /// On an empty `kernel_size` or one with a 0, zero features, per-axis
    /// options of the wrong length or with a 0, an unsupported padding
    /// (`Reflect`, `Causal`) or a mask of the wrong shape.
    ///
    /// ```
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel.shape(), &[3, 1, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<ConvTranspose<E>> {
        let b = self.base;
        let (strides, kernel_dilation) = b.check("ConvTranspose")?;
        check_config(
            !matches!(b.padding, Padding::Reflect | Padding::Causal),
            "ConvTranspose padding",
            "Same, Valid, Circular or Explicit",
            format!("{:?}", b.padding),
        )?;
        let shape = kernel_shape(
            &b.kernel_size,
            b.in_features,
            b.out_features,
            self.transpose_kernel,
        );
        let (kernel, bias) = b.params(rngs, &shape)?;
        Ok(ConvTranspose {
            kernel,
            bias,
            in_features: b.in_features,
            out_features: b.out_features,
            kernel_size: b.kernel_size,
            strides,
            padding: b.padding,
            kernel_dilation,
            use_bias: b.init.use_bias,
            mask: b.mask,
            transpose_kernel: self.transpose_kernel,
        })
    }
}

/// `(*kernel_size, in, out)`, or `(*kernel_size, out, in)` with `transpose_kernel`.
fn kernel_shape(kernel_size: &[usize], fin: usize, fout: usize, transpose: bool) -> Vec<usize> {
    let mut shape = kernel_size.to_vec();
    if transpose {
        shape.extend([fout, fin]);
    } else {
        shape.extend([fin, fout]);
    }
    shape
}

impl ConvTranspose {
    /// A transposed convolution with Flax's defaults (stride 1, `Same`, bias).
    ///
    /// ```
    /// let c = nnx_layers::ConvTranspose::new(1, 2, &[3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!((c.in_features, c.out_features), (1, 2));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(
        in_features: usize,
        out_features: usize,
        kernel_size: &[usize],
        rngs: &mut Rngs,
    ) -> Result<ConvTranspose> {
        ConvTranspose::config(in_features, out_features, kernel_size).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel_size, vec![3]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(
        in_features: usize,
        out_features: usize,
        kernel_size: &[usize],
    ) -> ConvTransposeConfig {
        ConvTransposeConfig::new(in_features, out_features, kernel_size)
    }
}

impl<E: Element> ConvTranspose<E> {
    /// Applies the transposed convolution (Flax's `__call__`); differentiable
    /// in `x`, the kernel and the bias. There is no state to update: this is
    /// [`apply`](ConvTranspose::apply).
    ///
    /// # Errors
    /// As [`apply`](ConvTranspose::apply).
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let mut c = nnx_layers::ConvTranspose::new(1, 2, &[3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.forward(&Tensor::ones(&[1, 4, 1]))?.shape(), &[1, 4, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply(x)
    }

    /// Applies the transposed convolution from a shared reference.
    ///
    /// # Errors
    /// When `x` is not `(batch..., spatial..., in_features)`, the kernel, mask
    /// or bias no longer has the shape the options imply, `Circular` padding
    /// meets a zero-length spatial axis, or the output does not fit in memory.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let c = nnx_layers::ConvTranspose::new(1, 2, &[3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.apply(&Tensor::ones(&[1, 4, 1]))?.shape(), &[1, 4, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let shape = kernel_shape(
            &self.kernel_size,
            self.in_features,
            self.out_features,
            self.transpose_kernel,
        );
        let opts = ConvTransposeOptions {
            strides: self.strides.clone(),
            padding: self.padding.clone(),
            kernel_dilation: self.kernel_dilation.clone(),
            transpose_kernel: self.transpose_kernel,
        };
        forward_masked(
            &self.kernel,
            &shape,
            &self.mask,
            &self.bias,
            self.out_features,
            |k, bias| {
                let y = x.conv_transpose(k, &opts)?;
                match bias {
                    Some(b) => y + b,
                    None => Ok(y),
                }
            },
        )
        .recorded(self, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates() -> Result<()> {
        let mut r = Rngs::new(0);
        assert!(ConvTranspose::config(2, 2, &[3])
            .padding(Padding::Causal)
            .build(&mut r)
            .is_err());
        let t = ConvTranspose::new(2, 2, &[3], &mut r)?;
        assert!(t.apply(&Tensor::ones(&[1, 4, 3])).is_err());
        Ok(())
    }
}
