//! `Conv`: N-D convolution in channels-last layout (Flax's `nnx.Conv`).

use nnx_core::rngs::Rngs;
use nnx_core::{Param, Result};
use nnx_tensor::{Element, Tensor};

use crate::conv_base::{conv_setters, forward_masked, ConvBase};
use crate::forward::Recorded;
use crate::functional::{per_axis, ConvOptions, Padding};
use crate::mask::KernelMask;
use crate::support::{check_config, setters, vec_setters};

/// A convolution over `kernel_size.len()` spatial axes: input
/// `(batch..., spatial..., in_features)` with any number of batch axes (none
/// included), kernel `(*kernel_size, in_features / feature_group_count,
/// out_features)`, output `(batch..., out_spatial..., out_features)`
/// (Flax's `nnx.Conv`). The forward pass is one im2col GEMM per feature group.
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::{functional::Padding, Conv};
/// use nnx_tensor::Tensor;
/// let mut conv = Conv::config(3, 8, &[3, 3])
///     .strides(&[2, 2])
///     .padding(Padding::Valid)
///     .build(&mut Rngs::new(0))?;
/// assert_eq!(conv.kernel.shape(), &[3, 3, 3, 8]);
/// let y = conv.forward(&Tensor::ones(&[2, 9, 9, 3]))?;
/// assert_eq!(y.shape(), &[2, 4, 4, 8]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct Conv<E: Element = f32> {
    /// `(*kernel_size, in_features / feature_group_count, out_features)`.
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
    /// Stride per spatial axis.
    #[nnx(static)]
    pub strides: Vec<usize>,
    /// The padding.
    #[nnx(static)]
    pub padding: Padding,
    /// Input dilation per spatial axis (needs explicit padding when > 1).
    #[nnx(static)]
    pub input_dilation: Vec<usize>,
    /// Kernel dilation per spatial axis.
    #[nnx(static)]
    pub kernel_dilation: Vec<usize>,
    /// Number of feature groups.
    pub feature_group_count: usize,
    /// Whether the layer adds a bias.
    pub use_bias: bool,
    /// A mask multiplied into the kernel on every forward.
    #[nnx(static)]
    pub mask: Option<KernelMask>,
}

/// Options of [`Conv`], with Flax's defaults; from [`Conv::config`].
///
/// Per-axis options (`strides`, `input_dilation`, `kernel_dilation`) take one
/// value per spatial axis, or a single value for all of them.
///
/// ```
/// use nnx_core::rngs::Rngs;
/// let conv = nnx_layers::Conv::config(4, 6, &[3])
///     .feature_group_count(2)
///     .use_bias(false)
///     .build(&mut Rngs::new(0))?;
/// assert_eq!(conv.kernel.shape(), &[3, 2, 6]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConvConfig<E: Element = f32> {
    base: ConvBase<E>,
    input_dilation: Vec<usize>,
    feature_group_count: usize,
}

conv_setters!(ConvConfig = "nnx_layers::Conv::config(1, 2, &[3])");

setters!(ConvConfig<E> = "nnx_layers::Conv::config(4, 2, &[3])" { feature_group_count: usize });

vec_setters!(ConvConfig<E> = "nnx_layers::Conv::config(4, 2, &[3])" { input_dilation: usize });

impl<E: Element> ConvConfig<E> {
    /// The options of a layer of element type `E` (`f64`: Flax's
    /// `param_dtype=dtype=jnp.float64`), starting from Flax's defaults;
    /// `Conv::config` is this for `f32`.
    ///
    /// ```
    /// let cfg = nnx_layers::ConvConfig::<f64>::new(2, 4, &[3]);
    /// assert!(format!("{cfg:?}").starts_with("ConvConfig"));
    /// ```
    pub fn new(in_features: usize, out_features: usize, kernel_size: &[usize]) -> ConvConfig<E> {
        ConvConfig {
            base: ConvBase::new(in_features, out_features, kernel_size),
            input_dilation: vec![1],
            feature_group_count: 1,
        }
    }

    /// Creates the layer (kernel key, then bias key, from the `params` stream).
    ///
    /// # Errors
    /// On an empty `kernel_size` or one with a 0, zero features, per-axis
    /// options of the wrong length or with a 0, a group count not dividing the
    /// features, or a mask of the wrong shape.
    ///
    /// ```
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel.shape(), &[3, 1, 2]);
    /// assert!(nnx_layers::Conv::config(1, 2, &[3]).strides(&[0])
    ///     .build(&mut nnx_core::rngs::Rngs::new(0)).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<Conv<E>> {
        let b = self.base;
        let (strides, kernel_dilation) = b.check("Conv")?;
        let n = b.kernel_size.len();
        let input_dilation = per_axis("Conv input_dilation", &self.input_dilation, n)?;
        let g = self.feature_group_count;
        let shape = kernel_shape(&b.kernel_size, b.in_features, b.out_features, g)?;
        let (kernel, bias) = b.params(rngs, &shape)?;
        Ok(Conv {
            kernel,
            bias,
            in_features: b.in_features,
            out_features: b.out_features,
            kernel_size: b.kernel_size,
            strides,
            padding: b.padding,
            input_dilation,
            kernel_dilation,
            feature_group_count: g,
            use_bias: b.init.use_bias,
            mask: b.mask,
        })
    }
}

/// `(*kernel_size, in_features / groups, out_features)`, the groups dividing both.
fn kernel_shape(kernel_size: &[usize], fin: usize, fout: usize, g: usize) -> Result<Vec<usize>> {
    check_config(
        g > 0 && fin.is_multiple_of(g) && fout.is_multiple_of(g),
        "Conv feature_group_count",
        &format!("a divisor of in_features {fin} and out_features {fout}"),
        g,
    )?;
    let mut shape = kernel_size.to_vec();
    shape.extend([fin / g, fout]);
    Ok(shape)
}

impl Conv {
    /// A convolution with Flax's defaults (stride 1, `Same` padding, bias).
    ///
    /// ```
    /// let c = nnx_layers::Conv::new(1, 2, &[3, 3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel.shape(), &[3, 3, 1, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(
        in_features: usize,
        out_features: usize,
        kernel_size: &[usize],
        rngs: &mut Rngs,
    ) -> Result<Conv> {
        Conv::config(in_features, out_features, kernel_size).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).strides(&[1]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel_size, vec![3]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(in_features: usize, out_features: usize, kernel_size: &[usize]) -> ConvConfig {
        ConvConfig::new(in_features, out_features, kernel_size)
    }
}

impl<E: Element> Conv<E> {
    /// Applies the convolution (Flax's `__call__`); differentiable in `x`,
    /// the kernel and the bias. A convolution has no state to update: this is
    /// [`apply`](Conv::apply).
    ///
    /// # Errors
    /// As [`apply`](Conv::apply).
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let mut c = nnx_layers::Conv::new(1, 2, &[3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// let y = c.forward(&Tensor::ones(&[4, 5, 1]))?; // (batch, width, features)
    /// assert_eq!(y.shape(), &[4, 5, 2]); // SAME padding keeps the width
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply(x)
    }

    /// Applies the convolution from a shared reference.
    ///
    /// # Errors
    /// When `x` is not `(batch..., spatial..., in_features)`, the kernel, mask or
    /// bias no longer has the shape the options imply, the padding does not suit
    /// the options, or the output size does not fit in memory.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let c = nnx_layers::Conv::new(1, 2, &[3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// let y = c.apply(&Tensor::ones(&[5, 1]))?; // no batch axis
    /// assert_eq!(y.shape(), &[5, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let shape = kernel_shape(
            &self.kernel_size,
            self.in_features,
            self.out_features,
            self.feature_group_count,
        )?;
        let opts = ConvOptions {
            strides: self.strides.clone(),
            padding: self.padding.clone(),
            input_dilation: self.input_dilation.clone(),
            kernel_dilation: self.kernel_dilation.clone(),
            feature_group_count: self.feature_group_count,
        };
        forward_masked(
            &self.kernel,
            &shape,
            &self.mask,
            &self.bias,
            self.out_features,
            |k, bias| match bias {
                Some(b) => x.conv_general_bias(k, b, &opts),
                None => x.conv_general(k, &opts),
            },
        )
        .recorded(self, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn validates_options() {
        let mut r = Rngs::new(0);
        assert!(Conv::new(2, 2, &[], &mut r).is_err());
        assert!(Conv::config(3, 4, &[3])
            .feature_group_count(2)
            .build(&mut r)
            .is_err());
        assert!(Conv::config(2, 2, &[3, 3])
            .strides(&[1, 1, 1])
            .build(&mut r)
            .is_err());
        assert!(Conv::config(2, 2, &[3])
            .mask(ArrayD::ones(IxDyn(&[3, 2, 3])))
            .build(&mut r)
            .is_err());
    }

    #[test]
    fn rejects_wrong_channels() -> Result<()> {
        let conv = Conv::new(2, 2, &[3], &mut Rngs::new(0))?;
        assert!(conv.apply(&Tensor::ones(&[1, 5, 3])).is_err());
        assert_eq!(conv.apply(&Tensor::ones(&[1, 5, 2]))?.shape(), &[1, 5, 2]);
        Ok(())
    }
}
