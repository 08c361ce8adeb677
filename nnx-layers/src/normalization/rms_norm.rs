//! `RMSNorm` (Flax's `nnx.RMSNorm`).

use nnx_core::rngs::Rngs;
use nnx_core::{Param, Result};
use nnx_tensor::{Element, Tensor};

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
pub struct RMSNorm<E: Element = f32> {
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Tensor<E>>>,
    /// Number of features.
    pub num_features: usize,
    /// Added to the mean square.
    pub epsilon: E,
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
pub struct RMSNormConfig<E: Element = f32> {
    num_features: usize,
    base: NormBase<E>,
    reduction_axes: Vec<isize>,
    feature_axes: Vec<isize>,
}

setters!(RMSNormConfig<E>.base = "nnx_layers::RMSNorm::config(3)" {
    epsilon: E,
    use_scale: bool,
    use_fast_variance: bool,
});

vec_setters!(RMSNormConfig<E> = "nnx_layers::RMSNorm::config(3)" {
    reduction_axes: isize,
    feature_axes: isize,
});

init_setters!(RMSNormConfig<E>.base = "nnx_layers::RMSNorm::config(3)" {
    scale_init ("ones()") => "layer.scale.unwrap().to_array()",
});

impl<E: Element> RMSNormConfig<E> {
    /// The options of a layer of element type `E` (`f64`: Flax's
    /// `param_dtype=dtype=jnp.float64`), starting from Flax's defaults;
    /// `RMSNorm::config` is this for `f32`.
    ///
    /// ```
    /// let cfg = nnx_layers::RMSNormConfig::<f64>::new(4);
    /// assert!(format!("{cfg:?}").starts_with("RMSNormConfig"));
    /// ```
    pub fn new(num_features: usize) -> RMSNormConfig<E> {
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

    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let n = nnx_layers::RMSNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.num_features, 3);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<RMSNorm<E>> {
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
        RMSNormConfig::new(num_features)
    }
}

impl<E: Element> RMSNorm<E> {
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
    pub fn apply_with(&self, x: &Tensor<E>, args: NormArgs<'_>) -> Result<Tensor<E>> {
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
