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
