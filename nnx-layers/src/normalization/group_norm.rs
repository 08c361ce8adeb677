//! `GroupNorm` (Flax's `nnx.GroupNorm`).

use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};
use nnx_tensor::{GroupNormOptions, Tensor};

use super::{norm_of, NormArgs, NormBase};
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
    /// Axes of the statistics, including the last (feature) axis; `None`
    /// (Flax's default): every axis but the first.
    #[nnx(static)]
    pub reduction_axes: Option<Vec<isize>>,
}

/// Options of [`GroupNorm`], with Flax's defaults (`num_groups=Some(32)`,
/// `group_size=None`, `epsilon=1e-6`, `reduction_axes=None`). Exactly one of
/// `num_groups` and `group_size` must be set.
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
    reduction_axes: Option<Vec<isize>>,
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
    /// Sets the axes of the statistics (Flax's `reduction_axes`; they must
    /// include the last, feature, axis): each group is normalized over the
    /// other listed axes and its features, separately for every position of
    /// the axes left out. The default, every axis but the first, is Flax's.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// // (batch, time, features): statistics per time step rather than per sequence.
    /// let g = nnx_layers::GroupNorm::config(4).num_groups(Some(2)).reduction_axes(&[-1])
    ///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = Tensor::from(ndarray::array![[[1.0f32, 3.0, 5.0, 9.0], [10.0, 30.0, 0.0, 2.0]]]);
    /// let y = g.apply(&x)?.to_array();
    /// assert!((y[[0, 1, 0]] + 1.0).abs() < 1e-4 && (y[[0, 1, 3]] - 1.0).abs() < 1e-4);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn reduction_axes(mut self, axes: &[isize]) -> Self {
        self.reduction_axes = Some(axes.to_vec());
        self
    }

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
            reduction_axes: self.reduction_axes,
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
            reduction_axes: None,
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

    /// Normalizes `x` of shape `(batch, spatial..., num_features)` from a
    /// shared reference, with Flax's call-time `mask` (the statistics are
    /// taken where it is true; every element is normalized).
    ///
    /// ```
    /// use nnx_layers::NormArgs;
    /// use nnx_tensor::Tensor;
    /// let g = nnx_layers::GroupNorm::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = Tensor::from(ndarray::array![[[1.0f32, 3.0, 10.0, 20.0], [7.0, 7.0, 7.0, 7.0]]]);
    /// // Statistics of the first position only.
    /// let mask = ndarray::array![[[true], [false]]].into_dyn();
    /// let y = g.apply_with(&x, NormArgs { mask: Some(&mask) })?.to_array();
    /// assert!((y[[0, 0, 0]] + 1.0).abs() < 1e-4 && (y[[0, 0, 3]] - 1.0).abs() < 1e-4);
    /// assert!(g.apply_with(&Tensor::ones(&[1, 3]), NormArgs::default()).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// An input of rank below 2 or without `num_features` on the last axis,
    /// `reduction_axes` outside `x` or without its last axis, a mask that does
    /// not broadcast to `x`, a scale or bias of the wrong size.
    pub fn apply_with(&self, x: &Tensor, args: NormArgs<'_>) -> Result<Tensor> {
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
        norm.check_mask(args.mask, x)?;
        let opts = GroupNormOptions {
            reduction_axes: self.reduction_axes.as_deref(),
            mask: args.mask,
            epsilon: self.epsilon,
            use_fast_variance: self.use_fast_variance,
        };
        x.group_norm_with(g, norm.scale.map(|p| &**p), norm.bias.map(|p| &**p), &opts)
            .recorded(self, x)
    }
}

norm_of!(GroupNorm, "GroupNorm");
