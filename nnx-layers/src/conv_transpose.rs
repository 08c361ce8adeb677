//! `ConvTranspose`: transposed N-D convolution (Flax's `nnx.ConvTranspose`).

use ndarray::{Array1, ArrayBase, ArrayD, Data, Dimension, Ix1};
use nnx_core::init::{lecun_normal, zeros, ParamInit};
use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};

use crate::conv::{check_mask, per_axis};
use crate::functional::{conv_transpose, ConvTransposeOptions, Padding};
use crate::mask::KernelMask;
use crate::param::param;

/// A transposed convolution, as `jax.lax.conv_transpose` computes it, with
/// Flax's `CIRCULAR` output folding (Flax's `nnx.ConvTranspose`). The kernel is
/// `(*kernel_size, in_features, out_features)`, or `(*kernel_size,
/// out_features, in_features)` with `transpose_kernel`.
///
/// ```
/// use ndarray::Array3;
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::ConvTranspose;
/// let up = ConvTranspose::config(2, 3, &[3]).strides(&[2]).build(&mut Rngs::new(0))?;
/// let y = up.forward(&Array3::<f32>::ones((4, 5, 2)))?;
/// assert_eq!(y.shape(), &[4, 10, 3]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module)]
pub struct ConvTranspose {
    /// The kernel (see the type's documentation for its layout).
    pub kernel: Param<ArrayD<f32>>,
    /// `(out_features,)`, or `None` when `use_bias` is false.
    pub bias: Option<Param<Array1<f32>>>,
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
pub struct ConvTransposeConfig {
    in_features: usize,
    out_features: usize,
    kernel_size: Vec<usize>,
    strides: Vec<usize>,
    padding: Padding,
    kernel_dilation: Vec<usize>,
    use_bias: bool,
    mask: Option<KernelMask>,
    transpose_kernel: bool,
    kernel_init: ParamInit<f32>,
    bias_init: ParamInit<f32>,
}

impl ConvTransposeConfig {
    /// Strides (default 1).
    ///
    /// ```
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).strides(&[2]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.forward(&ndarray::Array3::<f32>::ones((1, 4, 1)))?.shape(), &[1, 8, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn strides(mut self, strides: &[usize]) -> Self {
        self.strides = strides.to_vec();
        self
    }

    /// The padding (default `Same`).
    ///
    /// ```
    /// use nnx_layers::functional::Padding;
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).padding(Padding::Valid).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.forward(&ndarray::Array3::<f32>::ones((1, 4, 1)))?.shape(), &[1, 6, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Kernel dilation (default 1).
    ///
    /// ```
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).kernel_dilation(&[2]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel_dilation, vec![2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn kernel_dilation(mut self, d: &[usize]) -> Self {
        self.kernel_dilation = d.to_vec();
        self
    }

    /// Whether to add a bias (default `true`).
    ///
    /// ```
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).use_bias(false).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(c.bias.is_none());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }

    /// A mask of the kernel's shape (default none).
    ///
    /// ```
    /// let mask = ndarray::Array3::<f32>::zeros((3, 1, 2)).into_dyn();
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).mask(mask).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(c.mask.is_some());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn mask(mut self, mask: ArrayD<f32>) -> Self {
        self.mask = Some(KernelMask(mask));
        self
    }

    /// Whether to flip and transpose the kernel (default `false`).
    ///
    /// ```
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).transpose_kernel(true).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(c.transpose_kernel);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn transpose_kernel(mut self, t: bool) -> Self {
        self.transpose_kernel = t;
        self
    }

    /// The kernel initializer (default `lecun_normal()`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).kernel_init(init::zeros()).build(&mut Rngs::new(0))?;
    /// assert_eq!(c.kernel.sum(), 0.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn kernel_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.kernel_init = init.into();
        self
    }

    /// The bias initializer (default `zeros()`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).bias_init(init::ones()).build(&mut Rngs::new(0))?;
    /// assert_eq!(c.bias.unwrap().sum(), 2.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.bias_init = init.into();
        self
    }

    /// Creates the layer (kernel key, then bias key, from the `params` stream).
    ///
    /// # Errors
    /// On an empty `kernel_size`, per-axis options of the wrong length, an
    /// unsupported padding (`Reflect`, `Causal`) or a mask of the wrong shape.
    ///
    /// ```
    /// let c = nnx_layers::ConvTranspose::config(1, 2, &[3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel.shape(), &[3, 1, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<ConvTranspose> {
        let n = self.kernel_size.len();
        if n == 0 {
            return Err(Error::invalid_argument(
                "ConvTranspose kernel_size",
                "at least one spatial axis",
                "[]",
            ));
        }
        if matches!(self.padding, Padding::Reflect | Padding::Causal) {
            return Err(Error::invalid_argument(
                "ConvTranspose padding",
                "Same, Valid, Circular or Explicit",
                format!("{:?}", self.padding),
            ));
        }
        let strides = per_axis("ConvTranspose strides", &self.strides, n)?;
        let kernel_dilation = per_axis("ConvTranspose kernel_dilation", &self.kernel_dilation, n)?;
        let mut shape = self.kernel_size.clone();
        if self.transpose_kernel {
            shape.extend([self.out_features, self.in_features]);
        } else {
            shape.extend([self.in_features, self.out_features]);
        }
        check_mask(&self.mask, &shape)?;
        let kernel = Param::from_metadata(self.kernel_init.init(rngs.next_key("params")?, &shape)?);
        let bias = if self.use_bias {
            Some(param::<Ix1>(
                &self.bias_init,
                rngs.next_key("params")?,
                &[self.out_features],
            )?)
        } else {
            None
        };
        Ok(ConvTranspose {
            kernel,
            bias,
            in_features: self.in_features,
            out_features: self.out_features,
            kernel_size: self.kernel_size,
            strides,
            padding: self.padding,
            kernel_dilation,
            use_bias: self.use_bias,
            mask: self.mask,
            transpose_kernel: self.transpose_kernel,
        })
    }
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
        ConvTransposeConfig {
            in_features,
            out_features,
            kernel_size: kernel_size.to_vec(),
            strides: vec![1],
            padding: Padding::Same,
            kernel_dilation: vec![1],
            use_bias: true,
            mask: None,
            transpose_kernel: false,
            kernel_init: lecun_normal().into(),
            bias_init: zeros().into(),
        }
    }

    /// Applies the transposed convolution.
    ///
    /// # Errors
    /// When `x` is not `(batch..., spatial..., in_features)` or the mask no
    /// longer fits the kernel.
    ///
    /// ```
    /// let c = nnx_layers::ConvTranspose::new(1, 2, &[3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.forward(&ndarray::Array3::<f32>::ones((1, 4, 1)))?.shape(), &[1, 4, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        check_mask(&self.mask, self.kernel.shape())?;
        let opts = ConvTransposeOptions {
            strides: self.strides.clone(),
            padding: self.padding.clone(),
            kernel_dilation: self.kernel_dilation.clone(),
            transpose_kernel: self.transpose_kernel,
        };
        let mut y = match &self.mask {
            Some(m) => conv_transpose(x, &(&*self.kernel * &m.0), &opts)?,
            None => conv_transpose(x, &*self.kernel, &opts)?,
        };
        if let Some(b) = &self.bias {
            y += &**b;
        }
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn validates() -> Result<()> {
        let mut r = Rngs::new(0);
        assert!(ConvTranspose::config(2, 2, &[3])
            .padding(Padding::Causal)
            .build(&mut r)
            .is_err());
        let t = ConvTranspose::new(2, 2, &[3], &mut r)?;
        assert!(t.forward(&Array3::<f32>::ones((1, 4, 3))).is_err());
        Ok(())
    }
}
