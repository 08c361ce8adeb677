//! `variance_scaling` and its named special cases.

use std::sync::Arc;

use super::fans::compute_fans;
use super::Init;
use crate::random::{self, Float, PrngKey};

/// Which fan sets the variance of [`variance_scaling`].
///
/// ```
/// use nnx_core::init::{variance_scaling, Distribution, FanMode};
/// let init = variance_scaling::<f32>(1.0, FanMode::FanOut, Distribution::Normal, &[-2], &[-1], &[]);
/// assert_eq!(init.init(nnx_core::random::key(0), &[4, 2])?.shape(), &[4, 2]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    /// `fan_in`.
    FanIn,
    /// `fan_out`.
    FanOut,
    /// `(fan_in + fan_out) / 2`.
    FanAvg,
}

/// The distribution [`variance_scaling`] samples from.
///
/// ```
/// use nnx_core::init::{variance_scaling, Distribution, FanMode};
/// let init = variance_scaling::<f32>(1.0, FanMode::FanIn, Distribution::Uniform, &[-2], &[-1], &[]);
/// let w = init.init(nnx_core::random::key(0), &[3, 2])?;
/// let limit = (3.0f32 / 3.0).sqrt(); // sqrt(3 * scale / fan_in)
/// assert!(w.iter().all(|x| x.abs() <= limit));
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Distribution {
    /// Normal truncated to two standard deviations, rescaled to keep the variance.
    TruncatedNormal,
    /// Normal.
    Normal,
    /// Uniform in `[-limit, limit)` with `limit = sqrt(3 · variance)`.
    Uniform,
}

/// Standard deviation of a standard normal truncated to `(-2, 2)`.
const TRUNC_STD: f64 = 0.879_625_661_034_239_8;

/// Samples with variance `scale / fan`, like
/// `jax.nn.initializers.variance_scaling(scale, mode, distribution, in_axis,
/// out_axis, batch_axis)`. JAX's defaults are `in_axis=[-2]`, `out_axis=[-1]`,
/// `batch_axis=[]`.
///
/// ```
/// use nnx_core::init::{variance_scaling, Distribution, FanMode};
/// let init = variance_scaling::<f32>(2.0, FanMode::FanIn, Distribution::Normal, &[-2], &[-1], &[]);
/// let w = init.init(nnx_core::random::key(0), &[64, 32])?;
/// assert_eq!(w.shape(), &[64, 32]);
/// assert!(init.init(nnx_core::random::key(0), &[3]).is_err());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn variance_scaling<A: Float>(
    scale: f64,
    mode: FanMode,
    distribution: Distribution,
    in_axis: &[isize],
    out_axis: &[isize],
    batch_axis: &[isize],
) -> Init<A> {
    let (in_axis, out_axis, batch_axis) =
        (in_axis.to_vec(), out_axis.to_vec(), batch_axis.to_vec());
    Arc::new(move |key: PrngKey, shape: &[usize]| {
        let (fan_in, fan_out) = compute_fans(shape, &in_axis, &out_axis, &batch_axis)?;
        let denominator = match mode {
            FanMode::FanIn => fan_in,
            FanMode::FanOut => fan_out,
            FanMode::FanAvg => (fan_in + fan_out) / 2.0,
        };
        // JAX rounds the variance to the dtype first, then works in the dtype.
        let variance = A::from_f64(scale / denominator);
        Ok(match distribution {
            Distribution::TruncatedNormal => {
                let std = variance.sqrt() / A::from_f64(TRUNC_STD);
                let two = A::from_f64(2.0);
                random::truncated_normal::<A>(key, -two, two, shape)?.mapv(|x| x * std)
            }
            Distribution::Normal => {
                let std = variance.sqrt();
                random::normal::<A>(key, shape)?.mapv(|x| x * std)
            }
            Distribution::Uniform => {
                let limit = (A::from_f64(3.0) * variance).sqrt();
                random::uniform::<A>(key, shape, -A::ONE, A::ONE)?.mapv(|x| x * limit)
            }
        })
    })
}

macro_rules! named {
    ($(#[$doc:meta])* $name:ident, $scale:expr, $mode:ident, $dist:ident) => {
        $(#[$doc])*
        pub fn $name<A: Float>() -> Init<A> {
            variance_scaling($scale, FanMode::$mode, Distribution::$dist, &[-2], &[-1], &[])
        }
    };
}

named!(
    /// LeCun normal: variance `1 / fan_in`, truncated normal. Flax's default
    /// kernel initializer.
    ///
    /// ```
    /// use nnx_core::{init, random};
    /// let w = init::lecun_normal::<f32>().init(random::fold_in(random::key(0), 0), &[2, 3])?;
    /// assert!((w[[0, 0]] - 0.7567299).abs() < 1e-6);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    lecun_normal, 1.0, FanIn, TruncatedNormal
);
named!(
    /// LeCun uniform: variance `1 / fan_in`, uniform.
    ///
    /// ```
    /// let w = nnx_core::init::lecun_uniform::<f32>().init(nnx_core::random::key(0), &[4, 4])?;
    /// assert!(w.iter().all(|x| x.abs() < 3f32.sqrt() / 2.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    lecun_uniform, 1.0, FanIn, Uniform
);
named!(
    /// Glorot (Xavier) normal: variance `2 / (fan_in + fan_out)`, truncated normal.
    ///
    /// ```
    /// let w = nnx_core::init::glorot_normal::<f64>().init(nnx_core::random::key(0), &[3, 5])?;
    /// assert_eq!(w.shape(), &[3, 5]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    glorot_normal, 1.0, FanAvg, TruncatedNormal
);
named!(
    /// Glorot (Xavier) uniform: variance `2 / (fan_in + fan_out)`, uniform.
    ///
    /// ```
    /// let w = nnx_core::init::glorot_uniform::<f32>().init(nnx_core::random::key(0), &[3, 3])?;
    /// assert!(w.iter().all(|x| x.abs() < 1.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    glorot_uniform, 1.0, FanAvg, Uniform
);
named!(
    /// He (Kaiming) normal: variance `2 / fan_in`, truncated normal.
    ///
    /// ```
    /// let w = nnx_core::init::he_normal::<f32>().init(nnx_core::random::key(0), &[3, 3, 8, 16])?;
    /// assert_eq!(w.len(), 3 * 3 * 8 * 16);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    he_normal, 2.0, FanIn, TruncatedNormal
);
named!(
    /// He (Kaiming) uniform: variance `2 / fan_in`, uniform.
    ///
    /// ```
    /// let w = nnx_core::init::he_uniform::<f32>().init(nnx_core::random::key(0), &[6, 2])?;
    /// assert!(w.iter().all(|x| x.abs() < 1.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    he_uniform, 2.0, FanIn, Uniform
);
