//! Normalization layers (Flax's `nnx.nn.normalization`), one file each. The
//! math is [`crate::functional`]'s `compute_stats` / `normalize` /
//! `group_norm`; this file holds what the five layers share.

mod batch_norm;
mod group_norm;
mod instance_norm;
mod layer_norm;
mod rms_norm;

pub use batch_norm::{BatchNorm, BatchNormConfig};
pub use group_norm::{GroupNorm, GroupNormConfig};
pub use instance_norm::{InstanceNorm, InstanceNormConfig};
pub use layer_norm::{LayerNorm, LayerNormConfig};
pub use rms_norm::{RMSNorm, RMSNormConfig};

use ndarray::{Array1, ArrayBase, Data, Dimension, Ix1};
use nnx_core::init::{ones, zeros, ParamInit};
use nnx_core::rngs::Rngs;
use nnx_core::{Param, Result};
use nnx_tensor::Tensor;

use crate::param::opt_param;
use crate::support::{check_epsilon, check_opt, dyn_value};

type OptParam = Option<Param<Array1<f32>>>;

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
        let scale = opt_param::<Ix1>(rngs, self.use_scale.then_some(&self.scale_init), &[n])?;
        let bias = opt_param::<Ix1>(rngs, self.use_bias.then_some(&self.bias_init), &[n])?;
        Ok((scale, bias))
    }
}

fn opt_tensor(p: &OptParam) -> Option<Tensor> {
    p.as_ref().map(|p| Tensor::new(dyn_value(p)))
}

fn to_tensor<S: Data<Elem = f32>, D: Dimension>(x: &ArrayBase<S, D>) -> Tensor {
    Tensor::new(x.view().into_dyn().to_owned())
}

/// `x` normalized with its own statistics over `reduction_axes`, then scaled
/// and shifted along `feature_axes` (LayerNorm, RMSNorm, InstanceNorm).
#[allow(clippy::too_many_arguments)]
fn normalize_batch(
    x: &Tensor,
    scale: &OptParam,
    bias: &OptParam,
    reduction_axes: &[isize],
    feature_axes: &[isize],
    use_mean: bool,
    use_fast_variance: bool,
    epsilon: f32,
) -> Result<Tensor> {
    let (mean, var) = x.compute_stats(reduction_axes, use_mean, use_fast_variance)?;
    x.normalize(
        &mean,
        &var,
        opt_tensor(scale).as_ref(),
        opt_tensor(bias).as_ref(),
        reduction_axes,
        feature_axes,
        epsilon,
    )
}

/// What every normalization forward checks before using its Variables: the
/// scale and bias (when present) still have `num_features` entries and
/// `epsilon` is still a usable value (both are public and can be reassigned).
fn check_affine(
    layer: &str,
    scale: &OptParam,
    bias: &OptParam,
    num_features: usize,
    epsilon: f32,
) -> Result<()> {
    check_opt("scale", scale, &[num_features])?;
    check_opt("bias", bias, &[num_features])?;
    check_epsilon(&format!("{layer} epsilon"), epsilon)
}
