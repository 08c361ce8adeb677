//! Stateless math of Flax NNX's layers, computing what `flax.nnx` / `jax.nn`
//! compute, over [`ndarray`]. Activations and normalization are
//! [`Tensor`](nnx_tensor::Tensor) ops of `nnx-tensor` (with their gradients).
//!
//! Layers (Linear, Conv, MultiHeadAttention, ...) are thin wrappers around
//! these functions. Every function that can be handed a wrong shape returns
//! [`nnx_core::Result`]; shapes in errors are printed as Python tuples.
//!
//! ```
//! use ndarray::array;
//! use nnx_layers::functional::dot_last_axis;
//!
//! let x = array![[1.0f32, 2.0]];
//! let y = dot_last_axis(&x, &array![[1.0f32], [1.0]])?;
//! assert_eq!(y, array![[3.0]].into_dyn());
//! # Ok::<(), nnx_core::Error>(())
//! ```

mod activation;
mod attention;
mod conv;
mod linalg;

pub(crate) use activation::softmax_lanes_in_place;
pub use attention::*;
pub use conv::*;
pub use linalg::*;

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

/// The numpy broadcast of two shapes, or `None` if they do not broadcast.
pub(crate) fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
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

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes(&[2, 1, 3], &[4, 1]), Some(vec![2, 4, 3]));
        assert_eq!(broadcast_shapes(&[2], &[3]), None);
    }
}
