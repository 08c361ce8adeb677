//! `GroupNorm` (Flax's `nnx.GroupNorm`).

use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};
use nnx_tensor::Tensor;

use super::{norm_of, NormBase};
use crate::forward::Recorded;
use crate::support::{check_config, init_setters, setters};

/// Group normalization (Flax's `nnx.GroupNorm`): `x` is `(batch, spatial...,
/// features)`; features are split into `num_groups` contiguous groups of
/// `group_size`, with statistics over the spatial axes and each group.
///
/// ```
/// let g = nnx_layers::GroupNorm::config(4).num_groups(Some(2))
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// let y = g.apply(&nnx_tensor::Tensor::from(ndarray::array![[1.0f32, 3.0, 10.0, 20.0]]))?;
/// assert!((y.to_array()[[0, 0]] + 1.0).abs() < 1e-4);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct GroupNorm {
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Tensor>>,
    /// Learned bias (`None` when `use_bias` is false).
    pub bias: Option<Param<Tensor>>,
    /// Number of features (channels, the last axis).
    pub num_features: usize,
    /// Number of groups.
    pub num_groups: usize,
    /// Features per group.
    pub group_size: usize,
    /// Added to the variance.
    pub epsilon: f32,
    /// Whether there is a bias.
    pub use_bias: bool,
    /// Whether there is a scale.
    pub use_scale: bool,
    /// One-pass variance (Flax's default) or two-pass.
    pub use_fast_variance: bool,
}

/// Options of [`GroupNorm`], with Flax's defaults (`num_groups=Some(32)`,
/// `group_size=None`, `epsilon=1e-6`). Exactly one of `num_groups` and
/// `group_size` must be set. (Flax's `reduction_axes` override is not offered:
/// the default, every non-batch axis, is what GroupNorm means.)
///
/// ```
/// let g = nnx_layers::GroupNorm::config(6).num_groups(None).group_size(Some(3))
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert_eq!((g.num_groups, g.group_size), (2, 3));
/// assert!(nnx_layers::GroupNorm::config(6).group_size(Some(3))
///     .build(&mut nnx_core::rngs::Rngs::new(0)).is_err()); // both set
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GroupNormConfig {
    num_features: usize,
    base: NormBase,
    num_groups: Option<usize>,
    group_size: Option<usize>,
}

setters!(GroupNormConfig = "nnx_layers::GroupNorm::config(4)" {
    num_groups: Option<usize>,
    group_size: Option<usize>,
});

setters!(GroupNormConfig.base = "nnx_layers::GroupNorm::config(4)" {
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    use_fast_variance: bool,
});

init_setters!(GroupNormConfig.base = "nnx_layers::GroupNorm::config(4).num_groups(Some(2))" {
    scale_init ("ones()") => "layer.scale.unwrap().to_array()",
    bias_init ("zeros()") => "layer.bias.unwrap().to_array()",
});

impl GroupNormConfig {
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let n = nnx_layers::GroupNorm::config(4).num_groups(Some(2)).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.num_features, 4);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<GroupNorm> {
        let n = self.num_features;
        let (num_groups, group_size) = match (self.num_groups, self.group_size) {
            (Some(g), None) if g > 0 && n.is_multiple_of(g) => (g, n / g),
            (None, Some(s)) if s > 0 && n.is_multiple_of(s) => (n / s, s),
            (g, s) => {
                return Err(Error::invalid_argument(
                    "GroupNorm num_groups / group_size",
                    format!("exactly one of them, dividing num_features={n}"),
                    format!("num_groups={g:?}, group_size={s:?}"),
                ))
            }
        };
        let (scale, bias) = self.base.params("GroupNorm", rngs, n)?;
        Ok(GroupNorm {
            scale,
            bias,
            num_features: n,
            num_groups,
            group_size,
            epsilon: self.base.epsilon,
            use_bias: self.base.use_bias,
            use_scale: self.base.use_scale,
            use_fast_variance: self.base.use_fast_variance,
        })
    }
}

impl GroupNorm {
    /// Options with Flax's defaults.
    ///
    /// ```
    /// assert!(nnx_layers::GroupNorm::config(64).build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(num_features: usize) -> GroupNormConfig {
        GroupNormConfig {
            num_features,
            base: NormBase::new(1e-6),
            num_groups: Some(32),
            group_size: None,
        }
    }

    /// A GroupNorm with `num_groups` groups and Flax's other defaults.
    ///
    /// ```
    /// let g = nnx_layers::GroupNorm::new(8, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(g.group_size, 2);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(num_features: usize, num_groups: usize, rngs: &mut Rngs) -> Result<GroupNorm> {
        Self::config(num_features)
            .num_groups(Some(num_groups))
            .build(rngs)
    }

    /// Normalizes `x` of shape `(batch, spatial..., num_features)`, from a
    /// shared reference.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let g = nnx_layers::GroupNorm::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let y = g.apply(&Tensor::from(ndarray::array![[1.0f32, 3.0, 10.0, 20.0]]))?;
    /// assert!((y.to_array()[[0, 0]] + 1.0).abs() < 1e-4);
    /// assert!(g.apply(&Tensor::ones(&[1, 3])).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let norm = self.norm();
        norm.check()?;
        let (g, n) = (self.num_groups, self.num_features);
        check_config(
            g > 0 && g.checked_mul(self.group_size) == Some(n),
            "GroupNorm num_groups * group_size",
            &format!("num_features={n}"),
            format!("num_groups={g}, group_size={}", self.group_size),
        )?;
        if x.ndim() < 2 || x.shape().last() != Some(&n) {
            return Err(Error::invalid_argument(
                "GroupNorm input",
                format!("(batch, ..., {n})"),
                nnx_core::repr::fmt_tuple_usize(x.shape()),
            ));
        }
        x.group_norm(
            g,
            norm.scale.map(|p| &**p),
            norm.bias.map(|p| &**p),
            self.epsilon,
            self.use_fast_variance,
        )
        .recorded(self, x)
    }
}

norm_of!(GroupNorm, "GroupNorm");
