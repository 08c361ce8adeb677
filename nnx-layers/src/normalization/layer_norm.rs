//! `LayerNorm` (Flax's `nnx.LayerNorm`).

use nnx_core::rngs::Rngs;
use nnx_core::{Param, Result};
use nnx_tensor::Tensor;

use super::{norm_of, NormArgs, NormBase};
use crate::forward::Recorded;
use crate::support::{init_setters, setters, vec_setters};

/// Layer normalization (Flax's `nnx.LayerNorm`): statistics over
/// `reduction_axes` (default the last), scale and bias over `feature_axes`.
///
/// ```
/// use nnx_core::prelude::*;
/// let ln = nnx_layers::LayerNorm::new(4, &mut nnx_core::rngs::Rngs::new(0))?;
/// let y = ln.apply(&nnx_tensor::Tensor::from(ndarray::array![[1.0f32, 2.0, 3.0, 4.0]]))?;
/// assert!(y.sum().item()?.abs() < 1e-5);
/// assert_eq!(ln.state().len(), 2); // scale, bias
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct LayerNorm {
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Tensor>>,
    /// Learned bias (`None` when `use_bias` is false).
    pub bias: Option<Param<Tensor>>,
    /// Number of features (size of the scale and bias).
    pub num_features: usize,
    /// Added to the variance.
    pub epsilon: f32,
    /// Whether there is a bias.
    pub use_bias: bool,
    /// Whether there is a scale.
    pub use_scale: bool,
    /// Axes the statistics are taken over.
    #[nnx(static)]
    pub reduction_axes: Vec<isize>,
    /// Axes the scale and bias run along.
    #[nnx(static)]
    pub feature_axes: Vec<isize>,
    /// One-pass variance (Flax's default) or two-pass.
    pub use_fast_variance: bool,
}

/// Options of [`LayerNorm`], with Flax's defaults (`epsilon=1e-6`, last axis).
///
/// ```
/// let ln = nnx_layers::LayerNorm::config(4).use_bias(false).reduction_axes(&[-2, -1])
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert!(ln.bias.is_none());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LayerNormConfig {
    num_features: usize,
    base: NormBase,
    reduction_axes: Vec<isize>,
    feature_axes: Vec<isize>,
}

setters!(LayerNormConfig.base = "nnx_layers::LayerNorm::config(3)" {
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    use_fast_variance: bool,
});

vec_setters!(LayerNormConfig = "nnx_layers::LayerNorm::config(3)" {
    reduction_axes: isize,
    feature_axes: isize,
});

init_setters!(LayerNormConfig.base = "nnx_layers::LayerNorm::config(3)" {
    scale_init ("ones()") => "layer.scale.unwrap().to_array()",
    bias_init ("zeros()") => "layer.bias.unwrap().to_array()",
});

impl LayerNormConfig {
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let ln = nnx_layers::LayerNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(ln.scale.unwrap().sum().item()?, 3.0); // ones by default
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<LayerNorm> {
        let (scale, bias) = self.base.params("LayerNorm", rngs, self.num_features)?;
        Ok(LayerNorm {
            scale,
            bias,
            num_features: self.num_features,
            epsilon: self.base.epsilon,
            use_bias: self.base.use_bias,
            use_scale: self.base.use_scale,
            reduction_axes: self.reduction_axes,
            feature_axes: self.feature_axes,
            use_fast_variance: self.base.use_fast_variance,
        })
    }
}

impl LayerNorm {
    /// Options with Flax's defaults.
    ///
    /// ```
    /// let c = nnx_layers::LayerNorm::config(3).epsilon(1e-5);
    /// assert!(c.build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(num_features: usize) -> LayerNormConfig {
        LayerNormConfig {
            num_features,
            base: NormBase::new(1e-6),
            reduction_axes: vec![-1],
            feature_axes: vec![-1],
        }
    }

    /// Normalizes `x` over `reduction_axes` from a shared reference, with
    /// Flax's call-time `mask` (`ln(x, mask=mask)`: the statistics are taken
    /// where it is true; every element is normalized).
    ///
    /// ```
    /// use nnx_layers::NormArgs;
    /// use nnx_tensor::Tensor;
    /// let ln = nnx_layers::LayerNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let y = ln.apply_with(&Tensor::from(ndarray::array![[1.0f32, 3.0]]), NormArgs::default())?;
    /// assert!((y.to_array()[[0, 0]] + 1.0).abs() < 1e-5);
    /// let bad = ndarray::array![true, false, true].into_dyn();
    /// let err = ln.apply_with(&Tensor::ones(&[1, 2]), NormArgs { mask: Some(&bad) }).unwrap_err();
    /// assert!(err.to_string().contains("(1, 2)") && err.to_string().contains("(3,)"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// An input without the `reduction_axes` / `feature_axes` or whose features
    /// do not fit the scale and bias, a mask that does not broadcast to `x`.
    pub fn apply_with(&self, x: &Tensor, args: NormArgs<'_>) -> Result<Tensor> {
        self.norm()
            .with_batch_stats(x, &self.reduction_axes, &self.feature_axes, true, args.mask)
            .recorded(self, x)
    }
}

norm_of!(LayerNorm, "LayerNorm");
