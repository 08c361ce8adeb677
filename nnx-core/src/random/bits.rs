//! Raw random bits, generated as in JAX's partitionable Threefry mode.
//!
//! Element `i` of the flattened (row-major) output hashes the 64-bit counter
//! `i`; the two output words are combined according to the bit width.

use ndarray::ArrayD;
use rayon::prelude::*;

use super::key::PrngKey;
use super::threefry::threefry_lanes;
use super::{array_from_vec, num_elements, reserve};
use crate::Result;

/// Counters hashed per batch: one AVX-512 register of 32-bit words (two AVX2 ones).
pub(crate) const LANES: usize = 16;

/// Batches per work item of a parallel fill: items are few enough that
/// dispatching each to the vector code costs nothing measurable, and small
/// enough to stay in L1 before they are stored.
const BATCHES_PER_BLOCK: usize = 16;
const BLOCK: usize = BATCHES_PER_BLOCK * LANES;

/// Elements per thread below which one thread does all the work: waking a
/// thread costs about as much as hashing this many counters.
const PER_THREAD: usize = 1 << 16;

/// The two hash words of the [`LANES`] counters from `start` (high words
/// first): the 64-bit counters are built from 32-bit lanes, which is what the
/// vector units add.
#[inline(always)]
pub(crate) fn hash_batch(key: [u32; 2], start: u64) -> [[u32; LANES]; 2] {
    let (hi0, lo0) = ((start >> 32) as u32, start as u32);
    let (mut hi, mut lo) = ([0u32; LANES], [0u32; LANES]);
    for j in 0..LANES {
        lo[j] = lo0.wrapping_add(j as u32);
        // The low word wrapped: carry into the high word.
        hi[j] = hi0.wrapping_add(u32::from(lo[j] < lo0));
    }
    threefry_lanes(key, [hi, lo])
}

/// The values of the [`LANES`] elements from `start`, as a batch sampler
/// `f` makes them from their hash words.
#[inline(always)]
fn batch<T, F: Fn([[u32; LANES]; 2]) -> [T; LANES]>(
    key: [u32; 2],
    start: u64,
    f: &F,
) -> [T; LANES] {
    f(hash_batch(key, start))
}

/// All batches of a one-thread fill, as one operation pulp compiles for each
/// instruction set (a struct rather than a closure: pulp inlines it into the
/// feature-enabled function).
struct Batches<'a, T, F> {
    out: &'a mut Vec<[T; LANES]>,
    key: [u32; 2],
    count: usize,
    f: &'a F,
}

impl<T, F: Fn([[u32; LANES]; 2]) -> [T; LANES]> pulp::WithSimd for Batches<'_, T, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let (key, f) = (self.key, self.f);
        // A trusted-length iterator: written in place, never zero-filled first.
        self.out
            .extend((0..self.count).map(|b| batch(key, (b * LANES) as u64, f)));
    }
}

/// One block of a parallel fill ([`BATCHES_PER_BLOCK`] batches), compiled like
/// [`Batches`].
struct Block<'a, F> {
    key: [u32; 2],
    start: u64,
    f: &'a F,
}

impl<T: Copy + Default, F: Fn([[u32; LANES]; 2]) -> [T; LANES]> pulp::WithSimd for Block<'_, F> {
    type Output = [[T; LANES]; BATCHES_PER_BLOCK];

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> Self::Output {
        let mut out = [[T::default(); LANES]; BATCHES_PER_BLOCK];
        for (k, part) in out.iter_mut().enumerate() {
            *part = batch(self.key, self.start + (k * LANES) as u64, self.f);
        }
        out
    }
}

/// One value per flat index of `shape`, from the index's two hash words.
///
/// Batches of [`LANES`] counters run as vector code compiled for the best
/// instruction set the CPU has (chosen at run time), and large outputs are
/// split across the cores; the values do not depend on either.
pub(crate) fn generate<T: Copy + Default + Send>(
    key: PrngKey,
    shape: &[usize],
    f: impl Fn([u32; 2]) -> T + Sync,
) -> Result<ArrayD<T>> {
    generate_batches(
        key,
        shape,
        #[inline(always)]
        |[a, b]: [[u32; LANES]; 2]| {
            let mut out = [T::default(); LANES];
            for j in 0..LANES {
                out[j] = f([a[j], b[j]]);
            }
            out
        },
    )
}

/// [`generate`] with a sampler that makes a whole batch of [`LANES`] values
/// from their hash words at once (so that it can branch per batch).
///
/// The output is built in blocks written straight into the vector that
/// becomes the array (no zero fill, no copy between threads); the last block
/// is cut to the element count.
pub(crate) fn generate_batches<T: Copy + Default + Send>(
    key: PrngKey,
    shape: &[usize],
    f: impl Fn([[u32; LANES]; 2]) -> [T; LANES] + Sync,
) -> Result<ArrayD<T>> {
    let n = num_elements::<T>(shape)?;
    let key = key.data();
    let arch = pulp::Arch::new();
    let threads = (n / PER_THREAD).clamp(1, rayon::current_num_threads());
    let mut v = if threads == 1 {
        let count = n.div_ceil(LANES);
        let mut v = reserve::<[T; LANES]>(shape, count)?;
        arch.dispatch(Batches {
            out: &mut v,
            key,
            count,
            f: &f,
        });
        v.into_flattened()
    } else {
        let count = n.div_ceil(BLOCK);
        let mut v = reserve::<[[T; LANES]; BATCHES_PER_BLOCK]>(shape, count)?;
        // One contiguous run of blocks per thread.
        v.par_extend(
            (0..count)
                .into_par_iter()
                .with_min_len(count.div_ceil(threads))
                .map(|b| {
                    arch.dispatch(Block {
                        key,
                        start: (b * BLOCK) as u64,
                        f: &f,
                    })
                }),
        );
        v.into_flattened().into_flattened()
    };
    v.truncate(n);
    array_from_vec(shape, v)
}

/// The 32-bit value of one element: the two hash words xor-ed.
#[inline(always)]
pub(crate) fn word_u32([a, b]: [u32; 2]) -> u32 {
    a ^ b
}

/// The 64-bit value of one element: first hash word high, second low.
#[inline(always)]
pub(crate) fn word_u64([a, b]: [u32; 2]) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// Uniform random 32-bit words, like `jax.random.bits(key, shape, jnp.uint32)`.
///
/// ```
/// use nnx_core::random::{bits_u32, key};
/// let b = bits_u32(key(0), &[3])?;
/// assert_eq!(b.as_slice().unwrap(), &[4_070_199_207, 4_202_968_722, 1_427_181_096]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn bits_u32(key: PrngKey, shape: &[usize]) -> Result<ArrayD<u32>> {
    generate(key, shape, word_u32)
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
pub fn bits_u64(key: PrngKey, shape: &[usize]) -> Result<ArrayD<u64>> {
    generate(key, shape, word_u64)
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
pub fn bits_u16(key: PrngKey, shape: &[usize]) -> Result<ArrayD<u16>> {
    generate(
        key,
        shape,
        #[inline(always)]
        |w| word_u32(w) as u16,
    )
}

/// Uniform random bytes: the low byte of the 32-bit value, like
/// `jax.random.bits(key, shape, jnp.uint8)`.
///
/// ```
/// use nnx_core::random::{bits_u8, key};
/// assert_eq!(bits_u8(key(0), &[])?.ndim(), 0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn bits_u8(key: PrngKey, shape: &[usize]) -> Result<ArrayD<u8>> {
    generate(
        key,
        shape,
        #[inline(always)]
        |w| word_u32(w) as u8,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::threefry::hash_index;

    /// The batched, vectorized and threaded paths give each index exactly
    /// the hash of its own counter, across thread boundaries and a ragged end.
    #[test]
    fn batches_and_threads_match_one_counter_at_a_time() {
        let k = PrngKey::from_data([7, 11]);
        for n in [0, 1, LANES + 3, 3 * PER_THREAD + 7] {
            let got = bits_u32(k, &[n]).unwrap();
            assert_eq!(got.len(), n);
            assert!(got
                .iter()
                .enumerate()
                .all(|(i, &b)| b == word_u32(hash_index(k.data(), i as u64))));
        }
    }

    /// Counters whose high word changes inside a batch.
    #[test]
    fn batches_cross_the_high_word() {
        let k = [3, 5];
        let start = (1u64 << 32) - 5;
        let [a, b] = hash_batch(k, start);
        for j in 0..LANES {
            assert_eq!([a[j], b[j]], hash_index(k, start + j as u64));
        }
    }
}
