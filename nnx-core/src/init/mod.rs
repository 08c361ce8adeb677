//! Parameter initializers mirroring `jax.nn.initializers`, bit-compatible
//! with JAX wherever the underlying sampler is (see [`crate::random`]).
//!
//! ```
//! use nnx_core::{init, random};
//! let k = random::fold_in(random::key(0), 0);
//! let w = init::lecun_normal::<f32>().init(k, &[2, 3])?;
//! assert_eq!(w.shape(), &[2, 3]);
//! # Ok::<(), nnx_core::Error>(())
//! ```

mod basic;
mod fans;
mod metadata;
mod orthogonal;
mod variance_scaling;

use std::sync::Arc;

use ndarray::ArrayD;

use crate::random::PrngKey;
use crate::Result;

pub use basic::{constant, normal, ones, truncated_normal, uniform, zeros};
pub use fans::compute_fans;
pub use metadata::{with_metadata, ParamInit};
pub use orthogonal::{delta_orthogonal, orthogonal};
pub use variance_scaling::{
    glorot_normal, glorot_uniform, he_normal, he_uniform, lecun_normal, lecun_uniform,
    variance_scaling, Distribution, FanMode,
};

/// Creates an array of a given shape from a PRNG key, like a JAX initializer
/// `init(key, shape)`.
///
/// Implemented for every `Fn(PrngKey, &[usize]) -> Result<ArrayD<A>> + Send + Sync`,
/// so closures are initializers.
///
/// ```
/// use ndarray::ArrayD;
/// use nnx_core::init::{Init, Initializer};
/// use nnx_core::random::key;
/// let fives: Init<f32> = std::sync::Arc::new(|_k, shape: &[usize]| {
///     Ok(ArrayD::from_elem(shape, 5.0))
/// });
/// assert_eq!(fives.init(key(0), &[2])?.sum(), 10.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub trait Initializer<A>: Send + Sync {
    /// Samples an array of `shape` from `key`.
    fn init(&self, key: PrngKey, shape: &[usize]) -> Result<ArrayD<A>>;
}

impl<A, F> Initializer<A> for F
where
    F: Fn(PrngKey, &[usize]) -> Result<ArrayD<A>> + Send + Sync,
{
    fn init(&self, key: PrngKey, shape: &[usize]) -> Result<ArrayD<A>> {
        self(key, shape)
    }
}

/// A shared, cheaply clonable initializer, as the constructors here return.
///
/// ```
/// let ones: nnx_core::init::Init<f32> = nnx_core::init::ones();
/// let copy = ones.clone(); // shares the initializer
/// assert_eq!(copy.init(nnx_core::random::key(0), &[3])?.sum(), 3.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub type Init<A> = Arc<dyn Initializer<A>>;
