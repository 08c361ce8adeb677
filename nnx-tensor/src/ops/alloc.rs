//! Allocation of arrays sized by user options: checked, so that a size the
//! machine cannot serve is an `Err` naming the option, not an abort.

use std::mem::size_of;

use ndarray::{ArrayD, IxDyn};
use nnx_core::repr::fmt_tuple_usize;
use nnx_core::{Error, Result};

/// Checks that an array of `shape` with elements of `elem_bytes` bytes can be
/// allocated at all: its element count and byte count must fit `isize`. Sizes
/// that come from user configs go through this before any allocation they
/// size. The product of the non-zero sizes must fit too (an empty axis does not
/// make the others harmless), so that any product of some of the sizes is safe
/// afterwards. Returns the element count.
///
/// ```
/// use nnx_tensor::check_alloc;
/// assert_eq!(check_alloc("x", &[2, 3], 4).unwrap(), 6);
/// assert_eq!(check_alloc("x", &[0, 3], 4).unwrap(), 0);
/// let err = check_alloc("conv output", &[1 << 40, 0, 1 << 40], 4).unwrap_err();
/// assert!(err.to_string().contains("conv output"));
/// ```
pub fn check_alloc(what: &str, shape: &[usize], elem_bytes: usize) -> Result<usize> {
    let fits = |n: &usize| {
        n.checked_mul(elem_bytes.max(1))
            .is_some_and(|bytes| bytes <= isize::MAX as usize)
    };
    let nonzero = shape
        .iter()
        .filter(|&&d| d > 0)
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(fits);
    match nonzero {
        Some(n) => Ok(if shape.contains(&0) { 0 } else { n }),
        _ => Err(Error::invalid_argument(
            what,
            format!("a shape of at most {} bytes", isize::MAX),
            format!(
                "{} ({elem_bytes} bytes per element)",
                fmt_tuple_usize(shape)
            ),
        )),
    }
}

/// A buffer for `shape`'s elements, reserved fallibly.
fn try_buffer<T>(what: &str, shape: &[usize]) -> Result<(Vec<T>, usize)> {
    let n = check_alloc(what, shape, size_of::<T>())?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| {
        Error::invalid_argument(what, "an array that fits in memory", fmt_tuple_usize(shape))
    })?;
    Ok((v, n))
}

/// `ArrayD::from_shape_fn` over a checked buffer.
pub(crate) fn try_from_shape_fn<T>(
    what: &str,
    shape: &[usize],
    f: impl FnMut(IxDyn) -> T,
) -> Result<ArrayD<T>> {
    let (mut v, _) = try_buffer(what, shape)?;
    v.extend(ndarray::indices(IxDyn(shape)).into_iter().map(f));
    from_vec(what, shape, v)
}

/// `ArrayD::zeros` over a checked buffer.
pub(crate) fn try_zeros<T: Clone + Default>(what: &str, shape: &[usize]) -> Result<ArrayD<T>> {
    let (mut v, n) = try_buffer(what, shape)?;
    v.resize(n, T::default());
    from_vec(what, shape, v)
}

/// Row-major `data` as an array of `shape` (of as many elements).
pub(crate) fn from_vec<T>(what: &str, shape: &[usize], data: Vec<T>) -> Result<ArrayD<T>> {
    let n = data.len();
    ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|_| {
        Error::invalid_argument(
            what,
            format!("{} elements", fmt_tuple_usize(shape)),
            format!("{n} elements"),
        )
    })
}
