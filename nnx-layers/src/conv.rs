//! `Conv`: N-D convolution in channels-last layout (Flax's `nnx.Conv`).

use ndarray::{Array1, ArrayBase, ArrayD, Data, Dimension, Ix1};
use nnx_core::init::{lecun_normal, zeros, ParamInit};
use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};

use crate::functional::{conv_general, shape_str, ConvOptions, Padding};
use crate::mask::KernelMask;
use crate::param::param;

/// A convolution over `kernel_size.len()` spatial axes: input
/// `(batch..., spatial..., in_features)` with any number of batch axes (none
/// included), kernel `(*kernel_size, in_features / feature_group_count,
/// out_features)`, output `(batch..., out_spatial..., out_features)`
/// (Flax's `nnx.Conv`). The forward pass is one im2col GEMM per feature group.
///
/// ```
/// use ndarray::Array4;
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::{functional::Padding, Conv};
/// let conv = Conv::config(3, 8, &[3, 3])
///     .strides(&[2, 2])
///     .padding(Padding::Valid)
///     .build(&mut Rngs::new(0))?;
/// assert_eq!(conv.kernel.shape(), &[3, 3, 3, 8]);
/// let y = conv.forward(&Array4::<f32>::ones((2, 9, 9, 3)))?;
/// assert_eq!(y.shape(), &[2, 4, 4, 8]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module)]
pub struct Conv {
    /// `(*kernel_size, in_features / feature_group_count, out_features)`.
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
pub struct ConvConfig {
    in_features: usize,
    out_features: usize,
    kernel_size: Vec<usize>,
    strides: Vec<usize>,
    padding: Padding,
    input_dilation: Vec<usize>,
    kernel_dilation: Vec<usize>,
    feature_group_count: usize,
    use_bias: bool,
    mask: Option<KernelMask>,
    kernel_init: ParamInit<f32>,
    bias_init: ParamInit<f32>,
}

/// One value per spatial axis, broadcasting a single value.
pub(crate) fn per_axis(what: &str, v: &[usize], n: usize) -> Result<Vec<usize>> {
    match v {
        [x] => Ok(vec![*x; n]),
        _ if v.len() == n && !v.contains(&0) => Ok(v.to_vec()),
        _ => Err(Error::invalid_argument(
            what,
            format!("1 or {n} positive values"),
            format!("{v:?}"),
        )),
    }
}

/// Checks a mask against the kernel's shape.
pub(crate) fn check_mask(mask: &Option<KernelMask>, kernel_shape: &[usize]) -> Result<()> {
    match mask {
        Some(m) if m.0.shape() != kernel_shape => Err(Error::invalid_argument(
            "mask",
            format!("the kernel's shape {}", shape_str(kernel_shape)),
            shape_str(m.0.shape()),
        )),
        _ => Ok(()),
    }
}

impl ConvConfig {
    /// Window strides (default 1).
    ///
    /// ```
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).strides(&[2]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.strides, vec![2]);
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
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).padding(Padding::Valid).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.forward(&ndarray::Array3::<f32>::ones((1, 5, 1)))?.shape(), &[1, 3, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }

    /// Input dilation (default 1).
    ///
    /// ```
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).input_dilation(&[2]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.input_dilation, vec![2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn input_dilation(mut self, d: &[usize]) -> Self {
        self.input_dilation = d.to_vec();
        self
    }

    /// Kernel dilation (default 1).
    ///
    /// ```
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).kernel_dilation(&[2]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel_dilation, vec![2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn kernel_dilation(mut self, d: &[usize]) -> Self {
        self.kernel_dilation = d.to_vec();
        self
    }

    /// Number of feature groups (default 1); must divide `in_features` and `out_features`.
    ///
    /// ```
    /// let c = nnx_layers::Conv::config(4, 2, &[3]).feature_group_count(2).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel.shape(), &[3, 2, 2]); // (kernel, in / groups, out)
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn feature_group_count(mut self, n: usize) -> Self {
        self.feature_group_count = n;
        self
    }

    /// Whether to add a bias (default `true`).
    ///
    /// ```
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).use_bias(false).build(&mut nnx_core::rngs::Rngs::new(0))?;
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
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).mask(mask).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(c.mask.is_some());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn mask(mut self, mask: ArrayD<f32>) -> Self {
        self.mask = Some(KernelMask(mask));
        self
    }

    /// The kernel initializer (default `lecun_normal()`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).kernel_init(init::zeros()).build(&mut Rngs::new(0))?;
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
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).bias_init(init::ones()).build(&mut Rngs::new(0))?;
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
    /// On an empty `kernel_size`, per-axis options of the wrong length, a group
    /// count not dividing the features, or a mask of the wrong shape.
    ///
    /// ```
    /// let c = nnx_layers::Conv::config(1, 2, &[3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(c.kernel.shape(), &[3, 1, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<Conv> {
        let n = self.kernel_size.len();
        if n == 0 {
            return Err(Error::invalid_argument(
                "Conv kernel_size",
                "at least one spatial axis",
                "[]",
            ));
        }
        let g = self.feature_group_count;
        if g == 0 || !self.in_features.is_multiple_of(g) || !self.out_features.is_multiple_of(g) {
            return Err(Error::invalid_argument(
                "Conv feature_group_count",
                format!(
                    "a divisor of in_features {} and out_features {}",
                    self.in_features, self.out_features
                ),
                g.to_string(),
            ));
        }
        let strides = per_axis("Conv strides", &self.strides, n)?;
        let input_dilation = per_axis("Conv input_dilation", &self.input_dilation, n)?;
        let kernel_dilation = per_axis("Conv kernel_dilation", &self.kernel_dilation, n)?;
        let mut shape = self.kernel_size.clone();
        shape.extend([self.in_features / g, self.out_features]);
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
        Ok(Conv {
            kernel,
            bias,
            in_features: self.in_features,
            out_features: self.out_features,
            kernel_size: self.kernel_size,
            strides,
            padding: self.padding,
            input_dilation,
            kernel_dilation,
            feature_group_count: g,
            use_bias: self.use_bias,
            mask: self.mask,
        })
    }
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
        ConvConfig {
            in_features,
            out_features,
            kernel_size: kernel_size.to_vec(),
            strides: vec![1],
            padding: Padding::Same,
            input_dilation: vec![1],
            kernel_dilation: vec![1],
            feature_group_count: 1,
            use_bias: true,
            mask: None,
            kernel_init: lecun_normal().into(),
            bias_init: zeros().into(),
        }
    }

    /// Applies the convolution.
    ///
    /// # Errors
    /// When `x` is not `(batch..., spatial..., in_features)`, the mask no longer
    /// fits the kernel, or the padding does not suit the options.
    ///
    /// ```
    /// let c = nnx_layers::Conv::new(1, 2, &[3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// let y = c.forward(&ndarray::Array3::<f32>::ones((4, 5, 1)))?; // (batch, width, features)
    /// assert_eq!(y.shape(), &[4, 5, 2]); // SAME padding keeps the width
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        check_mask(&self.mask, self.kernel.shape())?;
        let opts = ConvOptions {
            strides: self.strides.clone(),
            padding: self.padding.clone(),
            input_dilation: self.input_dilation.clone(),
            kernel_dilation: self.kernel_dilation.clone(),
            feature_group_count: self.feature_group_count,
        };
        let mut y = match &self.mask {
            Some(m) => conv_general(x, &(&*self.kernel * &m.0), &opts)?,
            None => conv_general(x, &*self.kernel, &opts)?,
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
    use ndarray::{Array3, IxDyn};

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
        assert!(conv.forward(&Array3::<f32>::ones((1, 5, 3))).is_err());
        assert_eq!(
            conv.forward(&Array3::<f32>::ones((1, 5, 2)))?.shape(),
            &[1, 5, 2]
        );
        Ok(())
    }
}
