//! Raw random bits, generated as in JAX's partitionable Threefry mode.
//!
//! Element `i` of the flattened (row-major) output hashes the 64-bit counter
//! `i`; the two output words are combined according to the bit width.

use std::sync::OnceLock;

use ndarray::ArrayD;

use super::key::PrngKey;
use super::threefry::{hash_index, threefry_lanes};
use super::{array_from_vec, vec_for};
use crate::Result;

/// Counters hashed per batch: one AVX-512 register of 32-bit words (two AVX2 ones).
const LANES: usize = 16;

/// Elements per thread below which one thread does all the work: starting a
/// thread costs about as much as hashing this many counters.
const PER_THREAD: usize = 1 << 16;

/// The number of threads that share `n` elements.
fn threads_for(n: usize) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    (n / PER_THREAD).clamp(1, cores)
}

/// Appends `f(hash words of i)` for every flat index `i` in `start..end`.
#[inline(always)]
fn fill<T: Copy + Default>(
    out: &mut Vec<T>,
    key: [u32; 2],
    start: u64,
    end: u64,
    f: &impl Fn([u32; 2]) -> T,
) {
    let mut i = start;
    while end - i >= LANES as u64 {
        let (mut hi, mut lo) = ([0u32; LANES], [0u32; LANES]);
        for j in 0..LANES {
            let c = i + j as u64;
            hi[j] = (c >> 32) as u32;
            lo[j] = c as u32;
        }
        let [a, b] = threefry_lanes(key, [hi, lo]);
        let mut vals = [T::default(); LANES];
        for j in 0..LANES {
            vals[j] = f([a[j], b[j]]);
        }
        out.extend_from_slice(&vals);
        i += LANES as u64;
    }
    out.extend((i..end).map(|c| f(hash_index(key, c))));
}

/// [`fill`] as an operation pulp compiles for each instruction set (a struct
/// rather than a closure: pulp inlines it into the feature-enabled function).
struct Fill<'a, T, F> {
    out: &'a mut Vec<T>,
    key: [u32; 2],
    range: (u64, u64),
    f: &'a F,
}

impl<T: Copy + Default, F: Fn([u32; 2]) -> T> pulp::WithSimd for Fill<'_, T, F> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        fill(self.out, self.key, self.range.0, self.range.1, self.f);
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
    let (n, mut v) = vec_for::<T>(shape)?;
    let k = key.data();
    let run = |out: &mut Vec<T>, start: usize, end: usize| {
        pulp::Arch::new().dispatch(Fill {
            out,
            key: k,
            range: (start as u64, end as u64),
            f: &f,
        })
    };
    let threads = threads_for(n);
    if threads == 1 {
        run(&mut v, 0, n);
    } else {
        let per = n.div_ceil(threads).next_multiple_of(LANES);
        std::thread::scope(|s| {
            let run = &run;
            let rest: Vec<_> = (1..threads)
                .map(|t| {
                    let (start, end) = ((t * per).min(n), ((t + 1) * per).min(n));
                    s.spawn(move || {
                        let mut part = Vec::with_capacity(end - start);
                        run(&mut part, start, end);
                        part
                    })
                })
                .collect();
            run(&mut v, 0, per.min(n));
            for h in rest {
                match h.join() {
                    Ok(mut part) => v.append(&mut part),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
    }
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

    /// The batched, vectorized and threaded paths give each index exactly
    /// the hash of its own counter, across thread boundaries and a ragged end.
    #[test]
    fn batches_and_threads_match_one_counter_at_a_time() {
        let k = PrngKey::from_data([7, 11]);
        let n = 3 * PER_THREAD + 7;
        let got = bits_u32(k, &[n]).unwrap();
        assert!(got
            .iter()
            .enumerate()
            .all(|(i, &b)| b == word_u32(hash_index(k.data(), i as u64))));
    }

    /// Counters whose high word changes inside a batch.
    #[test]
    fn batches_cross_the_high_word() {
        let k = [3, 5];
        let start = (1u64 << 32) - 5;
        let mut out = Vec::new();
        fill(&mut out, k, start, start + 2 * LANES as u64 + 3, &word_u64);
        let want: Vec<u64> = (start..start + 2 * LANES as u64 + 3)
            .map(|c| word_u64(hash_index(k, c)))
            .collect();
        assert_eq!(out, want);
    }
}
