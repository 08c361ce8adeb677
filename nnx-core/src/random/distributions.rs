//! Samplers built on the raw bits, each following JAX's construction so that
//! the same key gives the same numbers.

use ndarray::{ArrayD, ArrayViewD, Axis};

use super::bits::{bits_u32, bits_u64, generate, generate_batches, LANES};
use super::float::Float;
use super::key::{split2, PrngKey};
use super::threefry::hash_index;
use super::{array_from_vec, fmt_shape};
use crate::{Error, Result};

/// Uniform floats in `[minval, maxval)`, like `jax.random.uniform`.
///
/// Bit-exact with JAX: random mantissa bits form a float in `[1, 2)`, which is
/// shifted and scaled, then clamped below at `minval`. As in JAX,
/// `minval >= maxval` is not an error (every element is then `minval`).
///
/// ```
/// use nnx_core::random::{key, uniform};
/// let u = uniform::<f32>(key(0), &[2, 3], -1.0, 1.0)?;
/// assert!(u.iter().all(|&x| (-1.0..1.0).contains(&x)));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn uniform<F: Float>(key: PrngKey, shape: &[usize], minval: F, maxval: F) -> Result<ArrayD<F>> {
    let span = maxval - minval;
    generate(
        key,
        shape,
        #[inline(always)]
        |w| uniform_from_words(w, span, minval),
    )
}

/// One element of [`uniform`] with `span = maxval - minval`, from its hash words.
#[inline(always)]
fn uniform_from_words<F: Float>(words: [u32; 2], span: F, minval: F) -> F {
    // XLA CPU contracts this into a fused multiply-add.
    let v = F::unit_from_words(words).mul_add(span, minval);
    // lax.max(minval, v): NaN-propagating, minval wins ties.
    if v < minval {
        minval
    } else {
        v
    }
}

/// Standard normal samples, like `jax.random.normal`.
///
/// Computed as `sqrt(2)·erf⁻¹(u)` with `u` uniform in `(-1, 1)`, as JAX does;
/// the uniform draw is bit-exact, and so is the result: nnx evaluates erf⁻¹ as
/// XLA's CPU backend does in both f32 and f64 (its `log1p`, its fused
/// multiply-adds).
///
/// ```
/// use nnx_core::random::{key, normal};
/// let z = normal::<f64>(key(1), &[1000])?;
/// let mean = z.sum() / 1000.0;
/// assert!(mean.abs() < 0.1);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn normal<F: Float>(key: PrngKey, shape: &[usize]) -> Result<ArrayD<F>> {
    let lo = (-F::ONE).next_after(true);
    let span = F::ONE - lo;
    let sqrt2 = F::from_f64(std::f64::consts::SQRT_2);
    generate_batches(
        key,
        shape,
        #[inline(always)]
        |[a, b]: [[u32; LANES]; 2]| {
            let mut u = [F::ZERO; LANES];
            for j in 0..LANES {
                u[j] = uniform_from_words([a[j], b[j]], span, lo);
            }
            // A batch at a time: erf⁻¹ branches per batch, not per element.
            F::erf_inv_lanes(u).map(|x| x * sqrt2)
        },
    )
}

/// Normal samples truncated to the open interval `(lower, upper)`, like
/// `jax.random.truncated_normal(key, lower, upper, shape)`.
///
/// Errors unless `lower < upper` (JAX would return meaningless values).
///
/// ```
/// use nnx_core::random::{key, truncated_normal};
/// let z = truncated_normal::<f32>(key(0), -2.0, 2.0, &[100])?;
/// assert!(z.iter().all(|&x| -2.0 < x && x < 2.0));
/// assert!(truncated_normal::<f32>(key(0), 1.0, 1.0, &[1]).is_err());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn truncated_normal<F: Float>(
    key: PrngKey,
    lower: F,
    upper: F,
    shape: &[usize],
) -> Result<ArrayD<F>> {
    if lower.partial_cmp(&upper) != Some(std::cmp::Ordering::Less) {
        return Err(Error::invalid_argument(
            "truncated_normal",
            "lower < upper",
            format!("lower={lower:?}, upper={upper:?}"),
        ));
    }
    let sqrt2 = F::from_f64(std::f64::consts::SQRT_2);
    let a = (lower / sqrt2).erf();
    let b = (upper / sqrt2).erf();
    // Clamp into the open interval: rounding may land on the bounds.
    let lo = lower.next_after(true);
    let hi = upper.next_after(false);
    let span = b - a;
    generate(
        key,
        shape,
        #[inline(always)]
        |w| {
            let x = sqrt2 * uniform_from_words(w, span, a).erf_inv();
            if x < lo {
                lo
            } else if x > hi {
                hi
            } else {
                x
            }
        },
    )
}

/// Bernoulli samples with mean `p`, like `jax.random.bernoulli(key, p, shape)`
/// (`uniform < p`, computed in the float type of `p`).
///
/// As in JAX, `p` outside `[0, 1]` is not an error: it saturates.
///
/// ```
/// use nnx_core::random::{bernoulli, key};
/// let b = bernoulli(key(0), 0.5f32, &[3])?;
/// assert_eq!(b.len(), 3);
/// assert!(bernoulli(key(0), 1.0f32, &[5])?.iter().all(|&x| x));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn bernoulli<F: Float>(key: PrngKey, p: F, shape: &[usize]) -> Result<ArrayD<bool>> {
    generate(
        key,
        shape,
        #[inline(always)]
        |w| F::unit_from_words(w) < p,
    )
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for i32 {}
    impl Sealed for i64 {}
}

/// An integer element type of [`randint`]: `i32` or `i64`.
///
/// ```
/// use nnx_core::random::{key, randint, Int};
/// fn draw<I: Int>(lo: I, hi: I) -> nnx_core::Result<ndarray::ArrayD<I>> {
///     randint(key(0), &[2], lo, hi)
/// }
/// assert_eq!(draw(0i64, 1)?.sum(), 0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub trait Int: sealed::Sealed + Copy + PartialOrd + std::fmt::Debug + 'static {
    /// Samples as `jax.random.randint` does for this integer width.
    #[doc(hidden)]
    fn sample(key: PrngKey, shape: &[usize], minval: Self, maxval: Self) -> Result<ArrayD<Self>>;
}

macro_rules! impl_int {
    ($int:ty, $uint:ty, $bits:ident, $half:expr) => {
        impl Int for $int {
            fn sample(
                key: PrngKey,
                shape: &[usize],
                minval: Self,
                maxval: Self,
            ) -> Result<ArrayD<Self>> {
                let (k1, k2) = split2(key);
                let higher = $bits(k1, shape)?;
                let lower = $bits(k2, shape)?;
                let span = maxval.wrapping_sub(minval) as $uint;
                // (hi·2ⁿ + lo) mod span, with 2ⁿ mod span built from two halves
                // so nothing overflows; wrapping ops mirror XLA's.
                let half: $uint = $half;
                let mut multiplier = half % span;
                multiplier = multiplier.wrapping_mul(multiplier) % span;
                let out: Vec<$int> = higher
                    .iter()
                    .zip(lower.iter())
                    .map(|(&h, &l)| {
                        let off = ((h as $uint % span)
                            .wrapping_mul(multiplier)
                            .wrapping_add(l as $uint % span))
                            % span;
                        minval.wrapping_add(off as $int)
                    })
                    .collect();
                array_from_vec(shape, out)
            }
        }
    };
}
impl_int!(i32, u32, bits_u32, 1 << 16);
impl_int!(i64, u64, bits_u64, 1 << 32);

/// Uniform integers in `[minval, maxval)`, like
/// `jax.random.randint(key, shape, minval, maxval, dtype)` with `dtype` int32
/// or int64 (the latter needs `jax_enable_x64` in JAX). Bit-exact, including
/// JAX's slight modulo bias.
///
/// Errors when `minval >= maxval` (JAX silently returns `minval`).
///
/// ```
/// use nnx_core::random::{key, randint};
/// let r = randint(key(0), &[10], 3i32, 7)?;
/// assert!(r.iter().all(|&x| (3..7).contains(&x)));
/// assert!(randint(key(0), &[1], 5i32, 5).is_err());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn randint<I: Int>(key: PrngKey, shape: &[usize], minval: I, maxval: I) -> Result<ArrayD<I>> {
    if minval >= maxval {
        return Err(Error::invalid_argument(
            "randint",
            "minval < maxval",
            format!("minval={minval:?}, maxval={maxval:?}"),
        ));
    }
    I::sample(key, shape, minval, maxval)
}

/// A random permutation of `0..n`, like `jax.random.permutation(key, n)`.
///
/// JAX sorts by random 32-bit keys, repeating with fresh keys for large `n`
/// (`ceil(3·ln n / ln(2³²-1))` rounds); this does the same with a stable sort.
///
/// ```
/// use nnx_core::random::{key, permutation};
/// let mut p = permutation(key(0), 5);
/// p.sort();
/// assert_eq!(p, vec![0, 1, 2, 3, 4]);
/// ```
pub fn permutation(key: PrngKey, n: usize) -> Vec<usize> {
    let mut x: Vec<usize> = (0..n).collect();
    let rounds = (3.0 * (n.max(1) as f64).ln() / f64::from(u32::MAX).ln()).ceil() as usize;
    let mut key = key;
    for _ in 0..rounds {
        let (next, sub) = split2(key);
        key = next;
        let sub = sub.data();
        let mut pairs: Vec<(u32, usize)> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let [a, b] = hash_index(sub, i as u64);
                (a ^ b, v)
            })
            .collect();
        pairs.sort_by_key(|p| p.0);
        x = pairs.into_iter().map(|p| p.1).collect();
    }
    x
}

/// Standard Gumbel samples, like `jax.random.gumbel` (mode `"low"`):
/// `-ln(-ln(u))` with `u` uniform in `[tiny, 1)`.
///
/// ```
/// use nnx_core::random::{gumbel, key};
/// assert_eq!(gumbel::<f32>(key(0), &[2, 2])?.shape(), &[2, 2]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn gumbel<F: Float>(key: PrngKey, shape: &[usize]) -> Result<ArrayD<F>> {
    let span = F::ONE - F::TINY;
    generate(
        key,
        shape,
        #[inline(always)]
        |w| -(-uniform_from_words(w, span, F::TINY).ln()).ln(),
    )
}

/// Samples category indices from unnormalized log-probabilities along `axis`
/// (negative counts from the end), like `jax.random.categorical(key, logits,
/// axis)`: the argmax of `logits + gumbel`. The result has the shape of
/// `logits` without `axis`.
///
/// ```
/// use ndarray::{arr2, ArrayD};
/// use nnx_core::random::{categorical, key};
/// let logits: ArrayD<f32> = arr2(&[[0.0, -1e9, -1e9], [-1e9, -1e9, 0.0]]).into_dyn();
/// let c = categorical(key(0), logits.view(), -1)?;
/// assert_eq!(c.as_slice().unwrap(), &[0, 2]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn categorical<F: Float>(
    key: PrngKey,
    logits: ArrayViewD<'_, F>,
    axis: isize,
) -> Result<ArrayD<usize>> {
    let ndim = logits.ndim();
    let ax = super::normalize_axis(axis, ndim).ok_or_else(|| {
        Error::invalid_argument(
            "categorical",
            format!("an axis in [-{ndim}, {ndim})"),
            format!(
                "axis={axis} for logits of shape {}",
                fmt_shape(logits.shape())
            ),
        )
    })?;
    if logits.shape()[ax] == 0 {
        return Err(Error::invalid_argument(
            "categorical",
            "at least one category",
            format!("logits of shape {}", fmt_shape(logits.shape())),
        ));
    }
    let g = gumbel::<F>(key, logits.shape())? + &logits;
    Ok(g.map_axis(Axis(ax), |lane| {
        let is_nan = |x: F| x.partial_cmp(&x).is_none();
        let mut best = 0;
        for (i, &v) in lane.iter().enumerate() {
            // Like argmax: the first maximum wins, and the first NaN beats all.
            if is_nan(lane[best]) {
                break;
            }
            if is_nan(v) || v > lane[best] {
                best = i;
            }
        }
        best
    }))
}
