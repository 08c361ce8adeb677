//! Constant and plain-distribution initializers.

use std::sync::Arc;

use super::Init;
use crate::random::{self, Float, Key};

/// All zeros, like `jax.nn.initializers.zeros`.
///
/// ```
/// let z = nnx_core::init::zeros::<f32>().init(nnx_core::random::key(0), &[2, 2])?;
/// assert_eq!(z.sum(), 0.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn zeros<A: Float>() -> Init<A> {
    constant(A::ZERO)
}

/// All ones, like `jax.nn.initializers.ones`.
///
/// ```
/// let o = nnx_core::init::ones::<f64>().init(nnx_core::random::key(0), &[3])?;
/// assert_eq!(o.sum(), 3.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn ones<A: Float>() -> Init<A> {
    constant(A::ONE)
}

/// Every element `value`, like `jax.nn.initializers.constant(value)`.
///
/// ```
/// let c = nnx_core::init::constant(0.5f32).init(nnx_core::random::key(0), &[])?;
/// assert_eq!(c.sum(), 0.5);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn constant<A: Clone + Send + Sync + 'static>(value: A) -> Init<A> {
    Arc::new(move |_key: Key, shape: &[usize]| {
        let (n, mut v) = random::vec_for::<A>(shape)?;
        v.resize(n, value.clone());
        random::array_from_vec(shape, v)
    })
}

/// Normal with standard deviation `stddev`, like
/// `jax.nn.initializers.normal(stddev)` (JAX's default is `1e-2`).
///
/// ```
/// let w = nnx_core::init::normal::<f32>(1e-2).init(nnx_core::random::key(0), &[4])?;
/// assert!(w.iter().all(|x| x.abs() < 0.1));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn normal<A: Float>(stddev: f64) -> Init<A> {
    let s = A::from_f64(stddev);
    Arc::new(move |key: Key, shape: &[usize]| Ok(random::normal::<A>(key, shape)?.mapv(|x| x * s)))
}

/// Uniform in `[0, scale)`, like `jax.nn.initializers.uniform(scale)`
/// (JAX's default is `1e-2`).
///
/// ```
/// let w = nnx_core::init::uniform::<f32>(2.0).init(nnx_core::random::key(0), &[4])?;
/// assert!(w.iter().all(|&x| (0.0..2.0).contains(&x)));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn uniform<A: Float>(scale: f64) -> Init<A> {
    let s = A::from_f64(scale);
    Arc::new(move |key: Key, shape: &[usize]| {
        Ok(random::uniform::<A>(key, shape, A::ZERO, A::ONE)?.mapv(|x| x * s))
    })
}

/// Normal truncated to `(lower, upper)` standard deviations, times `stddev`,
/// like `jax.nn.initializers.truncated_normal(stddev, lower=, upper=)`
/// (JAX's defaults are `1e-2, -2.0, 2.0`).
///
/// ```
/// let w = nnx_core::init::truncated_normal::<f32>(1.0, -2.0, 2.0)
///     .init(nnx_core::random::key(0), &[8])?;
/// assert!(w.iter().all(|x| x.abs() < 2.0));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn truncated_normal<A: Float>(stddev: f64, lower: f64, upper: f64) -> Init<A> {
    let s = A::from_f64(stddev);
    let (lo, hi) = (A::from_f64(lower), A::from_f64(upper));
    Arc::new(move |key: Key, shape: &[usize]| {
        Ok(random::truncated_normal::<A>(key, lo, hi, shape)?.mapv(|x| x * s))
    })
}
