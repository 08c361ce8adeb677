//! Raw random bits, generated as in JAX's partitionable Threefry mode.
//!
//! Element `i` of the flattened (row-major) output hashes the 64-bit counter
//! `i`; the two output words are combined according to the bit width.

use ndarray::ArrayD;

use super::key::Key;
use super::threefry::hash_index;
use super::{array_from_vec, vec_for};
use crate::Result;

/// Fills a vector with one value per flat index, from the two hash words.
fn generate<T>(key: Key, shape: &[usize], f: impl Fn([u32; 2]) -> T) -> Result<ArrayD<T>> {
    let (n, mut v) = vec_for::<T>(shape)?;
    let k = key.data();
    v.extend((0..n as u64).map(|i| f(hash_index(k, i))));
    array_from_vec(shape, v)
}

/// Uniform random 32-bit words, like `jax.random.bits(key, shape, jnp.uint32)`.
///
/// ```
/// use nnx_core::random::{bits_u32, key};
/// let b = bits_u32(key(0), &[3])?;
/// assert_eq!(b.as_slice().unwrap(), &[4_070_199_207, 4_202_968_722, 1_427_181_096]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn bits_u32(key: Key, shape: &[usize]) -> Result<ArrayD<u32>> {
    generate(key, shape, |[a, b]| a ^ b)
}

/// Uniform random 64-bit words, like `jax.random.bits(key, shape, jnp.uint64)`
/// (first hash word high, second low).
///
/// ```
/// use nnx_core::random::{bits_u64, key};
/// let b = bits_u64(key(0), &[2, 2])?;
/// assert_eq!(b.shape(), &[2, 2]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn bits_u64(key: Key, shape: &[usize]) -> Result<ArrayD<u64>> {
    generate(key, shape, |[a, b]| (u64::from(a) << 32) | u64::from(b))
}

/// Uniform random 16-bit words: the low half of the 32-bit value, like
/// `jax.random.bits(key, shape, jnp.uint16)`.
///
/// ```
/// use nnx_core::random::{bits_u16, bits_u32, key};
/// let k = key(1);
/// assert_eq!(bits_u16(k, &[4])?, bits_u32(k, &[4])?.mapv(|x| x as u16));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn bits_u16(key: Key, shape: &[usize]) -> Result<ArrayD<u16>> {
    generate(key, shape, |[a, b]| (a ^ b) as u16)
}

/// Uniform random bytes: the low byte of the 32-bit value, like
/// `jax.random.bits(key, shape, jnp.uint8)`.
///
/// ```
/// use nnx_core::random::{bits_u8, key};
/// assert_eq!(bits_u8(key(0), &[])?.ndim(), 0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn bits_u8(key: Key, shape: &[usize]) -> Result<ArrayD<u8>> {
    generate(key, shape, |[a, b]| (a ^ b) as u8)
}
