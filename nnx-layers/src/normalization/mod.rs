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

use ndarray::{Array1, ArrayD};
use nnx_core::{Param, Result};

use crate::support::{check_epsilon, check_opt, dyn_value};

type OptParam = Option<Param<Array1<f32>>>;

fn opt_dyn(p: &OptParam) -> Option<ArrayD<f32>> {
    p.as_ref().map(dyn_value)
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
