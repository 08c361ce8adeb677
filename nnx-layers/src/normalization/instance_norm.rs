//! `InstanceNorm` (Flax's `nnx.InstanceNorm`).

use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};
use nnx_tensor::Tensor;

use super::{norm_of, NormArgs, NormBase};
use crate::forward::Recorded;
use crate::functional::canon_axis;
use crate::support::{init_setters, setters, vec_setters};

/// Instance normalization (Flax's `nnx.InstanceNorm`): statistics per example
/// and feature, over every axis but the batch axis (0) and `feature_axes`.
///
/// ```
/// let n = nnx_layers::InstanceNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?;
/// let y = n.apply(&nnx_tensor::Tensor::from(ndarray::array![[[1.0f32, 5.0], [3.0, 5.0]]]))?;
/// let y = y.to_array();
/// assert!((y[[0, 0, 0]] + 1.0).abs() < 1e-4 && y[[0, 0, 1]].abs() < 1e-4);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct InstanceNorm {
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Tensor>>,
    /// Learned bias (`None` when `use_bias` is false).
    pub bias: Option<Param<Tensor>>,
    /// Number of features.
    pub num_features: usize,
    /// Added to the variance.
    pub epsilon: f32,
    /// Whether there is a bias.
    pub use_bias: bool,
    /// Whether there is a scale.
    pub use_scale: bool,
    /// The feature (channel) axes; must not include axis 0.
    #[nnx(static)]
    pub feature_axes: Vec<isize>,
    /// One-pass variance (Flax's default) or two-pass.
    pub use_fast_variance: bool,
}

/// Options of [`InstanceNorm`], with Flax's defaults (`epsilon=1e-6`, features last).
///
/// ```
/// let n = nnx_layers::InstanceNorm::config(3).feature_axes(&[1])
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert_eq!(n.feature_axes, vec![1]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct InstanceNormConfig {
    num_features: usize,
    base: NormBase,
    feature_axes: Vec<isize>,
}

setters!(InstanceNormConfig.base = "nnx_layers::InstanceNorm::config(3)" {
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    use_fast_variance: bool,
});

vec_setters!(InstanceNormConfig = "nnx_layers::InstanceNorm::config(3)" {
    feature_axes: isize,
});

init_setters!(InstanceNormConfig.base = "nnx_layers::InstanceNorm::config(3)" {
    scale_init ("ones()") => "layer.scale.unwrap().to_array()",
    bias_init ("zeros()") => "layer.bias.unwrap().to_array()",
});

impl InstanceNormConfig {
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let n = nnx_layers::InstanceNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.num_features, 3);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<InstanceNorm> {
        let (scale, bias) = self.base.params("InstanceNorm", rngs, self.num_features)?;
        Ok(InstanceNorm {
            scale,
            bias,
            num_features: self.num_features,
            epsilon: self.base.epsilon,
            use_bias: self.base.use_bias,
            use_scale: self.base.use_scale,
            feature_axes: self.feature_axes,
            use_fast_variance: self.base.use_fast_variance,
        })
    }
}

impl InstanceNorm {
    /// Options with Flax's defaults.
    ///
    /// ```
    /// assert!(nnx_layers::InstanceNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(num_features: usize) -> InstanceNormConfig {
        InstanceNormConfig {
            num_features,
            base: NormBase::new(1e-6),
            feature_axes: vec![-1],
        }
    }

    /// Normalizes `x` (`(batch, ..., features)` by default) from a shared
    /// reference, with Flax's call-time `mask` (the statistics are taken where
    /// it is true).
    ///
    /// ```
    /// use nnx_layers::NormArgs;
    /// use nnx_tensor::Tensor;
    /// let n = nnx_layers::InstanceNorm::config(2).feature_axes(&[0])
    ///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(n.apply_with(&Tensor::ones(&[2, 2]), NormArgs::default()).is_err()); // the batch axis
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// Feature axes outside `x` or including the batch axis, features that do
    /// not fit the scale and bias, a mask that does not broadcast to `x`.
    pub fn apply_with(&self, x: &Tensor, args: NormArgs<'_>) -> Result<Tensor> {
        let nd = x.ndim();
        let mut feat = Vec::with_capacity(self.feature_axes.len());
        for &a in &self.feature_axes {
            feat.push(canon_axis("InstanceNorm feature_axes", a, nd)?);
        }
        if feat.contains(&0) {
            return Err(Error::invalid_argument(
                "InstanceNorm feature_axes",
                "axes other than the batch axis 0",
                format!("{:?}", self.feature_axes),
            ));
        }
        let reduction: Vec<isize> = (1..nd)
            .filter(|a| !feat.contains(a))
            .map(|a| a as isize)
            .collect();
        let feat: Vec<isize> = feat.into_iter().map(|a| a as isize).collect();
        self.norm()
            .with_batch_stats(x, &reduction, &feat, true, args.mask)
            .recorded(self, x)
    }
}

norm_of!(InstanceNorm, "InstanceNorm");
