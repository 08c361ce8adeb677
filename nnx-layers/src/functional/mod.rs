//! Convolution and pooling under Flax's function names, and the shape checks
//! the layers share. The math itself (with its gradient rules) is
//! [`Tensor`](nnx_tensor::Tensor)'s, in `nnx-tensor`: activations, normalization,
//! einsum and attention are Tensor methods and functions there. Every function
//! that can be handed a wrong shape returns [`nnx_core::Result`]; shapes in
//! errors are printed as Python tuples.
//!
//! ```
//! use nnx_layers::functional::{max_pool, Padding};
//! use nnx_tensor::Tensor;
//! let x = Tensor::from_shape_vec(&[1, 4, 1], vec![1.0, 3.0, 2.0, 0.0])?;
//! let y = max_pool(&x, &[2], &[2], &Padding::Valid)?;
//! assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![3.0, 2.0]);
//! # Ok::<(), nnx_core::Error>(())
//! ```

mod conv;
pub use conv::*;

pub(crate) use nnx_core::repr::fmt_tuple_usize;
use nnx_core::{Error, ErrorPath, Result};

/// The floating-point element types the functional API is generic over:
/// `f32` and `f64`, and no others (the trait is sealed; it names the bound,
/// users never implement it).
///
/// ```
/// use nnx_layers::functional::{dot_last_axis, Real};
/// fn row_sums<T: Real>(x: &ndarray::Array2<T>) -> ndarray::ArrayD<T> {
///     dot_last_axis(x, &ndarray::Array2::ones((x.ncols(), 1))).unwrap()
/// }
/// assert_eq!(row_sums(&ndarray::array![[-1.0f64, 2.0]]), ndarray::array![[1.0]].into_dyn());
/// ```
pub trait Real: sealed::Sealed + ndarray::NdFloat + Default {
    /// Converts (rounding) an `f64` literal to this type.
    fn from_f64(v: f64) -> Self;
    /// Widens to `f64` (named apart from `num_traits::ToPrimitive::to_f64`, which returns an `Option`).
    fn widen(self) -> f64;
    /// The most negative finite value, `jnp.finfo(dtype).min`, used for masking.
    fn finfo_min() -> Self;
}

mod sealed {
    /// Only this crate implements [`Real`](super::Real).
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Real for f32 {
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn widen(self) -> f64 {
        f64::from(self)
    }
    fn finfo_min() -> Self {
        f32::MIN
    }
}

impl Real for f64 {
    fn from_f64(v: f64) -> Self {
        v
    }
    fn widen(self) -> f64 {
        self
    }
    fn finfo_min() -> Self {
        f64::MIN
    }
}

/// A [`Error::ShapeMismatch`] naming the argument.
pub(crate) fn shape_err(arg: &str, expected: impl Into<String>, found: &[usize]) -> Error {
    Error::ShapeMismatch {
        path: ErrorPath(arg.to_string()),
        expected: expected.into(),
        found: fmt_tuple_usize(found),
    }
}

/// Resolves a possibly negative axis against `ndim`, like numpy.
pub(crate) fn canon_axis(what: &str, axis: isize, ndim: usize) -> Result<usize> {
    let n = ndim as isize;
    let a = if axis < 0 { axis + n } else { axis };
    if a < 0 || a >= n {
        return Err(Error::invalid_argument(
            what,
            format!("an axis in [-{ndim}, {ndim})"),
            axis.to_string(),
        ));
    }
    Ok(a as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_resolve_like_numpy() {
        assert_eq!(canon_axis("f", -1, 3).ok(), Some(2));
        assert!(canon_axis("f", 3, 3).is_err());
        assert!(canon_axis("f", -4, 3).is_err());
    }
}
