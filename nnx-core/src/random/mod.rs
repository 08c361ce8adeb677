//! JAX's PRNG: Threefry-2x32 keys and samplers, bit-compatible with
//! `jax.random` in its default partitionable mode
//! (`jax_threefry_partitionable=True`).
//!
//! Same key, same numbers: [`bits_u32`], [`uniform`], [`bernoulli`],
//! [`randint`], [`permutation`] and f32 [`normal`] reproduce JAX exactly (f32
//! erf⁻¹ is evaluated as XLA does); f64 [`normal`] and [`truncated_normal`]
//! agree to a few ulp (XLA approximates erf⁻¹ and erf its own way).
//!
//! ```
//! use nnx_core::random::{fold_in, key, normal};
//! let k = fold_in(key(0), 0);
//! let z = normal::<f32>(k, &[2, 3])?;
//! assert_eq!(z.shape(), &[2, 3]);
//! # Ok::<(), nnx_core::Error>(())
//! ```

mod bits;
mod distributions;
mod float;
mod key;
mod special;
mod threefry;

pub use bits::{bits_u16, bits_u32, bits_u64, bits_u8};
pub use distributions::{
    bernoulli, categorical, gumbel, normal, permutation, randint, truncated_normal, uniform, Int,
};
pub use float::Float;
pub use key::{fold_in, key, key_x64, split, split2, PrngKey};
pub use threefry::threefry2x32;

use ndarray::{ArrayD, IxDyn};

use crate::{Error, Result};

/// Formats a shape as a Python tuple, for error messages.
pub(crate) fn fmt_shape(shape: &[usize]) -> String {
    match shape {
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// The number of elements of `shape`, or an error if it overflows `usize` or
/// that many `T` overflow what one allocation can hold (`isize::MAX` bytes).
pub(crate) fn num_elements<T>(shape: &[usize]) -> Result<usize> {
    let too_big = || {
        Error::invalid_argument(
            "random",
            format!(
                "a shape of at most {} bytes of {}",
                isize::MAX,
                std::any::type_name::<T>()
            ),
            fmt_shape(shape),
        )
    };
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_big)?;
    match n.checked_mul(std::mem::size_of::<T>()) {
        Some(bytes) if isize::try_from(bytes).is_ok() => Ok(n),
        _ => Err(too_big()),
    }
}

/// An empty vector with room for the elements of `shape`, and their number; an
/// error instead of a panic or an abort when the size overflows or the memory
/// cannot be reserved.
pub(crate) fn vec_for<T>(shape: &[usize]) -> Result<(usize, Vec<T>)> {
    let n = num_elements::<T>(shape)?;
    Ok((n, reserve(shape, n)?))
}

/// An empty vector with room for `count` items holding the elements of
/// `shape` (elements, or fixed-size blocks of them); an error when the memory
/// cannot be reserved.
pub(crate) fn reserve<U>(shape: &[usize], count: usize) -> Result<Vec<U>> {
    let mut v = Vec::new();
    v.try_reserve_exact(count).map_err(|_| {
        Error::invalid_argument(
            "random",
            format!("memory for {count} items of {}", std::any::type_name::<U>()),
            format!("shape {} could not be allocated", fmt_shape(shape)),
        )
    })?;
    Ok(v)
}

/// Wraps a flat row-major vector as an array of `shape`.
pub(crate) fn array_from_vec<T>(shape: &[usize], v: Vec<T>) -> Result<ArrayD<T>> {
    let n = v.len();
    ArrayD::from_shape_vec(IxDyn(shape), v)
        .map_err(|_| Error::invalid_argument("random", format!("{n} elements"), fmt_shape(shape)))
}

/// Resolves a possibly negative axis against `ndim`.
pub(crate) fn normalize_axis(axis: isize, ndim: usize) -> Option<usize> {
    let n = isize::try_from(ndim).ok()?;
    let a = if axis < 0 { axis + n } else { axis };
    (0..n).contains(&a).then_some(a as usize)
}
