//! `RMSNorm` (Flax's `nnx.RMSNorm`).

use nnx_core::rngs::Rngs;
use nnx_core::{Param, Result};
use nnx_tensor::Tensor;

use super::{norm_of, NormArgs, NormBase};
use crate::forward::Recorded;
use crate::support::{init_setters, setters, vec_setters};

/// Root-mean-square normalization (Flax's `nnx.RMSNorm`): `x / sqrt(mean(x^2) +
/// epsilon) * scale`, no bias.
///
/// ```
/// let mut n = nnx_layers::RMSNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?;
/// let y = n.forward(&nnx_tensor::Tensor::from(ndarray::array![[3.0f32, 4.0]]))?;
/// assert!((y.to_array()[[0, 1]] - 4.0 / 12.5f32.sqrt()).abs() < 1e-5);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct RMSNorm {
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Tensor>>,
    /// Number of features.
    pub num_features: usize,
    /// Added to the mean square.
    pub epsilon: f32,
    /// Whether there is a scale.
    pub use_scale: bool,
    /// Axes the statistic is taken over.
    #[nnx(static)]
    pub reduction_axes: Vec<isize>,
    /// Axes the scale runs along.
    #[nnx(static)]
    pub feature_axes: Vec<isize>,
    /// Kept for parity with Flax (the mean square has one formula).
    pub use_fast_variance: bool,
}

/// Options of [`RMSNorm`], with Flax's defaults (`epsilon=1e-6`, last axis).
///
/// ```
/// let n = nnx_layers::RMSNorm::config(4).use_scale(false).build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert!(n.scale.is_none());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RMSNormConfig {
    num_features: usize,
    base: NormBase,
    reduction_axes: Vec<isize>,
    feature_axes: Vec<isize>,
}

setters!(RMSNormConfig.base = "nnx_layers::RMSNorm::config(3)" {
    epsilon: f32,
    use_scale: bool,
    use_fast_variance: bool,
});

vec_setters!(RMSNormConfig = "nnx_layers::RMSNorm::config(3)" {
    reduction_axes: isize,
    feature_axes: isize,
});

init_setters!(RMSNormConfig.base = "nnx_layers::RMSNorm::config(3)" {
    scale_init ("ones()") => "layer.scale.unwrap().to_array()",
});

impl RMSNormConfig {
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let n = nnx_layers::RMSNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.num_features, 3);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<RMSNorm> {
        let (scale, _) = self.base.params("RMSNorm", rngs, self.num_features)?;
        Ok(RMSNorm {
            scale,
            num_features: self.num_features,
            epsilon: self.base.epsilon,
            use_scale: self.base.use_scale,
            reduction_axes: self.reduction_axes,
            feature_axes: self.feature_axes,
            use_fast_variance: self.base.use_fast_variance,
        })
    }
}

impl RMSNorm {
    /// Options with Flax's defaults.
    ///
    /// ```
    /// assert!(nnx_layers::RMSNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(num_features: usize) -> RMSNormConfig {
        RMSNormConfig {
            num_features,
            base: NormBase {
                use_bias: false,
                ..NormBase::new(1e-6)
            },
            reduction_axes: vec![-1],
            feature_axes: vec![-1],
        }
    }

    /// Normalizes `x` by its root mean square over `reduction_axes` from a
    /// shared reference, with Flax's call-time `mask` (the mean square is taken
    /// where it is true).
    ///
    /// ```
    /// use nnx_layers::NormArgs;
    /// use nnx_tensor::Tensor;
    /// let n = nnx_layers::RMSNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = Tensor::from(ndarray::array![[3.0f32, 4.0]]);
    /// let y = n.apply_with(&x, NormArgs::default())?; // rms 12.5^0.5
    /// assert!((y.to_array()[[0, 1]] - 4.0 / 12.5f32.sqrt()).abs() < 1e-5);
    /// let first = ndarray::array![true, false].into_dyn();
    /// let y = n.apply_with(&x, NormArgs { mask: Some(&first) })?; // rms 3
    /// assert!((y.to_array()[[0, 1]] - 4.0 / 3.0).abs() < 1e-5);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`LayerNorm::apply_with`](crate::LayerNorm::apply_with).
    pub fn apply_with(&self, x: &Tensor, args: NormArgs<'_>) -> Result<Tensor> {
        self.norm()
            .with_batch_stats(
                x,
                &self.reduction_axes,
                &self.feature_axes,
                false,
                args.mask,
            )
            .recorded(self, x)
    }
}

norm_of!(RMSNorm, "RMSNorm", no_bias);
