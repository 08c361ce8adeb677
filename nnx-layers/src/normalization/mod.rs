//! Normalization layers (Flax's `nnx.nn.normalization`), one file each. The
//! math is [`Tensor`]'s `compute_stats` / `normalize` / `group_norm` (with
//! their gradients); this file holds what the five layers share.

mod batch_norm;
mod group_norm;
mod instance_norm;
mod layer_norm;
mod rms_norm;

pub use batch_norm::{BatchNorm, BatchNormArgs, BatchNormConfig};
pub use group_norm::{GroupNorm, GroupNormConfig};
pub use instance_norm::{InstanceNorm, InstanceNormConfig};
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use rms_norm::{RMSNorm, RMSNormConfig};

use ndarray::{ArrayD, IxDyn};
use nnx_core::init::{ones, zeros, ParamInit};
use nnx_core::repr::fmt_tuple_usize;
use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};
use nnx_tensor::Tensor;

use crate::param::opt_tensor_param;
use crate::support::{check_epsilon, check_shape};

type OptParam = Option<Param<Tensor>>;

/// The options every normalization layer takes (RMSNorm without the bias
/// ones), with Flax's defaults but `epsilon`, which differs by layer.
#[derive(Debug, Clone)]
struct NormBase {
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    bias_init: ParamInit<f32>,
    scale_init: ParamInit<f32>,
    use_fast_variance: bool,
}

impl NormBase {
    fn new(epsilon: f32) -> Self {
        NormBase {
            epsilon,
            use_bias: true,
            use_scale: true,
            bias_init: zeros().into(),
            scale_init: ones().into(),
            use_fast_variance: true,
        }
    }

    /// Checks `epsilon`, then draws the scale then the bias of `n` features
    /// (each only if used) from the `params` stream, in Flax's order.
    fn params(&self, layer: &str, rngs: &mut Rngs, n: usize) -> Result<(OptParam, OptParam)> {
        check_epsilon(&format!("{layer} epsilon"), self.epsilon)?;
        let scale = opt_tensor_param(rngs, self.use_scale.then_some(&self.scale_init), &[n])?;
        let bias = opt_tensor_param(rngs, self.use_bias.then_some(&self.bias_init), &[n])?;
        Ok((scale, bias))
    }
}

/// What every normalization layer's forward reads from the layer: one home
/// for checking it and for the normalization itself.
struct Norm<'a> {
    layer: &'static str,
    scale: Option<&'a Param<Tensor>>,
    bias: Option<&'a Param<Tensor>>,
    num_features: usize,
    epsilon: f32,
    use_fast_variance: bool,
}

impl Norm<'_> {
    /// The scale and bias (when present) still have `num_features` entries and
    /// `epsilon` is still a usable value (all are public and can be reassigned).
    fn check(&self) -> Result<()> {
        let n = self.num_features;
        for (path, p) in [("scale", self.scale), ("bias", self.bias)] {
            if let Some(p) = p {
                check_shape(path, p.shape(), &[n])?;
            }
        }
        check_epsilon(&format!("{} epsilon", self.layer), self.epsilon)
    }

    /// `x` normalized with `mean` and `var`, scaled and shifted along `feature_axes`.
    fn normalize(
        &self,
        x: &Tensor,
        (mean, var): (&Tensor, &Tensor),
        reduction_axes: &[isize],
        feature_axes: &[isize],
    ) -> Result<Tensor> {
        x.normalize(
            mean,
            var,
            self.scale.map(|p| &**p),
            self.bias.map(|p| &**p),
            reduction_axes,
            feature_axes,
            self.epsilon,
        )
    }

    /// `x` normalized with its own statistics over `reduction_axes`, taken
    /// where `mask` is true (LayerNorm, RMSNorm without `use_mean`, InstanceNorm).
    fn with_batch_stats(
        &self,
        x: &Tensor,
        reduction_axes: &[isize],
        feature_axes: &[isize],
        use_mean: bool,
        mask: Option<&ArrayD<bool>>,
    ) -> Result<Tensor> {
        self.check()?;
        self.check_mask(mask, x)?;
        let (mean, var) =
            x.compute_stats_masked(reduction_axes, use_mean, self.use_fast_variance, mask)?;
        self.normalize(x, (&mean, &var), reduction_axes, feature_axes)
    }

    /// A call-time mask broadcasts to `x`'s shape (Flax's `jnp.mean(where=mask)`).
    fn check_mask(&self, mask: Option<&ArrayD<bool>>, x: &Tensor) -> Result<()> {
        match mask {
            Some(m) if m.broadcast(IxDyn(x.shape())).is_none() => Err(Error::invalid_argument(
                format!("{} mask", self.layer),
                format!(
                    "a shape broadcastable to the input's {}",
                    fmt_tuple_usize(x.shape())
                ),
                fmt_tuple_usize(m.shape()),
            )),
            _ => Ok(()),
        }
    }
}

/// The call-time arguments of the normalization layers without state
/// ([`LayerNorm`], [`RMSNorm`], [`GroupNorm`], [`InstanceNorm`]): Flax's
/// `__call__(x, *, mask=None)`. `None` by default.
///
/// ```
/// use nnx_layers::{LayerNorm, NormArgs};
/// use nnx_tensor::Tensor;
/// let ln = LayerNorm::new(3, &mut nnx_core::rngs::Rngs::new(0))?;
/// let x = Tensor::from(ndarray::array![[1.0f32, 3.0, 100.0]]);
/// // Statistics of the first two features only; all three are normalized.
/// let mask = ndarray::array![true, true, false].into_dyn();
/// let y = ln.apply_with(&x, NormArgs { mask: Some(&mask) })?;
/// assert!((y.to_array()[[0, 0]] + 1.0).abs() < 1e-5);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NormArgs<'a> {
    /// `true` where an element counts in the statistics (broadcastable to the
    /// input); every element is normalized.
    pub mask: Option<&'a ArrayD<bool>>,
}

/// `fn norm(&self) -> Norm` of a normalization layer, from its fields
/// (`no_bias`: RMSNorm, which has none).
macro_rules! norm_of {
    ($layer:ident, $name:literal) => {
        norm_of!(@impl $layer, $name, |l| l.bias.as_ref());
    };
    ($layer:ident, $name:literal, no_bias) => {
        norm_of!(@impl $layer, $name, |_| None);
    };
    (@impl $layer:ident, $name:literal, $bias:expr) => {
        impl $layer {
            fn norm(&self) -> super::Norm<'_> {
                super::Norm {
                    layer: $name,
                    scale: self.scale.as_ref(),
                    bias: {
                        let bias: fn(&$layer) -> Option<&Param<Tensor>> = $bias;
                        bias(self)
                    },
                    num_features: self.num_features,
                    epsilon: self.epsilon,
                    use_fast_variance: self.use_fast_variance,
                }
            }
        }
    };
}
use norm_of;

/// The inherent `forward`, `forward_with` and `apply` of a normalization layer
/// with nothing to update (each is its `apply_with`, from `&mut self` or with
/// the default arguments) and, for those built from `num_features` alone, `new`.
macro_rules! forward_is_apply {
    ($($layer:ident = $new:literal $(, new: $flax:literal)?;)*) => {$(
        impl $layer {
            $(
                #[doc = concat!("A ", stringify!($layer), " with Flax's defaults (`", $flax, "`).")]
                ///
                /// ```
                #[doc = concat!("let layer = nnx_layers::", stringify!($layer), "::new(3, &mut nnx_core::rngs::Rngs::new(0))?;")]
                /// assert_eq!((layer.num_features, layer.epsilon), (3, 1e-6));
                /// # Ok::<(), nnx_core::Error>(())
                /// ```
                pub fn new(num_features: usize, rngs: &mut Rngs) -> Result<$layer> {
                    Self::config(num_features).build(rngs)
                }
            )?

            /// Normalizes `x` (Flax's `__call__`); the layer has no state to
            /// update, so this is [`apply`](Self::apply).
            ///
            /// ```
            #[doc = concat!("let mut layer = ", $new, ";")]
            /// let x = nnx_tensor::Tensor::from(ndarray::array![[1.0f32, 2.0, 4.0, 8.0]]);
            /// assert_eq!(layer.forward(&x)?, layer.apply(&x)?);
            /// # Ok::<(), nnx_core::Error>(())
            /// ```
            pub fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
                self.apply(x)
            }

            /// Normalizes `x` with call-time arguments (Flax's
            /// `__call__(x, mask=...)`); the layer has no state to update, so
            /// this is [`apply_with`](Self::apply_with).
            ///
            /// ```
            /// use nnx_layers::NormArgs;
            #[doc = concat!("let mut layer = ", $new, ";")]
            /// let x = nnx_tensor::Tensor::from(ndarray::array![[[1.0f32, 2.0, 4.0, 8.0], [3.0, 1.0, 2.0, 5.0]]]);
            /// let mask = ndarray::array![[[true, true, false, true], [true, true, true, true]]].into_dyn();
            /// let args = NormArgs { mask: Some(&mask) };
            /// assert_eq!(layer.forward_with(&x, args)?, layer.apply_with(&x, args)?);
            /// # Ok::<(), nnx_core::Error>(())
            /// ```
            pub fn forward_with(&mut self, x: &Tensor, args: NormArgs<'_>) -> Result<Tensor> {
                self.apply_with(x, args)
            }

            /// Normalizes `x` from a shared reference: [`apply_with`](Self::apply_with)
            /// with the default arguments (no mask).
            ///
            /// ```
            #[doc = concat!("let layer = ", $new, ";")]
            /// let x = nnx_tensor::Tensor::from(ndarray::array![[1.0f32, 2.0, 4.0, 8.0]]);
            /// assert_eq!(layer.apply(&x)?, layer.apply_with(&x, Default::default())?);
            /// assert!(layer.apply(&nnx_tensor::Tensor::ones(&[1, 3])).is_err()); // 4 features
            /// # Ok::<(), nnx_core::Error>(())
            /// ```
            pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
                self.apply_with(x, NormArgs::default())
            }
        }
    )*};
}

forward_is_apply! {
    LayerNorm = "nnx_layers::LayerNorm::new(4, &mut nnx_core::rngs::Rngs::new(0))?", new: "nnx.LayerNorm(num_features, rngs=rngs)";
    RMSNorm = "nnx_layers::RMSNorm::new(4, &mut nnx_core::rngs::Rngs::new(0))?", new: "nnx.RMSNorm(num_features, rngs=rngs)";
    InstanceNorm = "nnx_layers::InstanceNorm::new(4, &mut nnx_core::rngs::Rngs::new(0))?", new: "nnx.InstanceNorm(num_features, rngs=rngs)";
    GroupNorm = "nnx_layers::GroupNorm::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?";
}
