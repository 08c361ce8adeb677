//! PRNG keys: seeding, splitting and folding in data.

use super::threefry::hash_index;

/// A Threefry-2x32 PRNG key: two 32-bit words, like JAX's `key_data(key)`.
///
/// Keys are immutable values; derive new keys with [`split`] or [`fold_in`].
///
/// ```
/// use nnx_core::random::{key, PrngKey};
/// let k = key(42);
/// assert_eq!(k, PrngKey::from_data([0, 42]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PrngKey([u32; 2]);

impl PrngKey {
    /// Wraps raw key data (what `jax.random.key_data` returns).
    ///
    /// ```
    /// let k = nnx_core::random::PrngKey::from_data([1, 2]);
    /// assert_eq!(k.data(), [1, 2]);
    /// ```
    pub const fn from_data(data: [u32; 2]) -> Self {
        PrngKey(data)
    }

    /// The key data, borrowed (how checkpoints read it without a copy).
    pub(crate) fn data_slice(&self) -> &[u32] {
        &self.0
    }

    /// The raw key data.
    ///
    /// ```
    /// assert_eq!(nnx_core::random::key(7).data(), [0, 7]);
    /// ```
    pub const fn data(self) -> [u32; 2] {
        self.0
    }
}

/// A key from an integer seed, as `jax.random.key(seed)` computes it with JAX's
/// default configuration (`jax_enable_x64=False`).
///
/// In that mode JAX first narrows the seed to a 32-bit integer, so only its
/// low 32 bits matter: `key(-1)` is `[0, 0xffffffff]` and `key(2**32 + 5)`
/// equals `key(5)`. Use [`key_x64`] to match JAX with `jax_enable_x64=True`.
///
/// ```
/// use nnx_core::random::key;
/// assert_eq!(key(0).data(), [0, 0]);
/// assert_eq!(key(-1).data(), [0, 0xffff_ffff]);
/// assert_eq!(key((1 << 32) + 5), key(5));
/// ```
pub fn key(seed: i64) -> PrngKey {
    PrngKey([0, seed as u32])
}

/// A key from an integer seed, as `jax.random.key(seed)` computes it with
/// `jax_enable_x64=True`: the 64-bit seed bit-cast to (high word, low word).
///
/// ```
/// use nnx_core::random::key_x64;
/// assert_eq!(key_x64(1 << 40).data(), [256, 0]);
/// assert_eq!(key_x64(-1).data(), [0xffff_ffff, 0xffff_ffff]);
/// ```
pub fn key_x64(seed: i64) -> PrngKey {
    let s = seed as u64;
    PrngKey([(s >> 32) as u32, s as u32])
}

/// Derives a new key from `key` and 32-bit `data`, like `jax.random.fold_in`.
///
/// ```
/// use nnx_core::random::{fold_in, key};
/// assert_eq!(fold_in(key(0), 0).data(), [1_797_259_609, 2_579_123_966]);
/// ```
pub fn fold_in(key: PrngKey, data: u32) -> PrngKey {
    PrngKey(hash_index(key.0, u64::from(data)))
}

/// Splits `key` into `n` new keys, like `jax.random.split(key, n)` in JAX's
/// partitionable mode (the default): key `i` hashes the counter `i`.
///
/// `n = 0` gives an empty vector, as in JAX.
///
/// ```
/// use nnx_core::random::{key, split};
/// let keys = split(key(0), 3);
/// assert_eq!(keys[1].data(), [928_981_903, 3_453_687_069]);
/// ```
pub fn split(key: PrngKey, n: usize) -> Vec<PrngKey> {
    (0..n as u64)
        .map(|i| PrngKey(hash_index(key.0, i)))
        .collect()
}

/// Splits `key` into two keys, like `k1, k2 = jax.random.split(key)`.
///
/// ```
/// use nnx_core::random::{key, split, split2};
/// let (a, b) = split2(key(0));
/// assert_eq!(vec![a, b], split(key(0), 2));
/// ```
pub fn split2(key: PrngKey) -> (PrngKey, PrngKey) {
    (PrngKey(hash_index(key.0, 0)), PrngKey(hash_index(key.0, 1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_in_equals_split_counter() {
        let k = key(3);
        let keys = split(k, 5);
        assert_eq!(fold_in(k, 4), keys[4]);
    }

    #[test]
    fn seeds() {
        assert_eq!(key(i64::MIN).data(), [0, 0]);
        assert_eq!(key_x64(i64::MIN).data(), [0x8000_0000, 0]);
        assert_eq!(key(1 << 31).data(), [0, 0x8000_0000]);
    }
}
