//! Contraction helpers for layers that accept any number of batch axes.

use ndarray::{Array2, ArrayBase, ArrayD, ArrayView1, Data, Dimension, Ix2};
use nnx_core::Result;

use super::{fmt_tuple_usize, shape_err, Real};

/// `x[..., in] @ w[in, out]` for any number of leading batch axes, done as
/// one GEMM on a 2-D view (what `flax.nnx.Linear` computes before its bias).
///
/// ```
/// use ndarray::{array, Array3};
/// let x = Array3::<f32>::ones((2, 3, 4));
/// let w = array![[1.0f32], [2.0], [3.0], [4.0]];
/// let y = nnx_layers::functional::dot_last_axis(&x, &w)?;
/// assert_eq!(y.shape(), &[2, 3, 1]);
/// assert_eq!(y[[1, 2, 0]], 10.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn dot_last_axis<T: Real, S: Data<Elem = T>, S2: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    w: &ArrayBase<S2, Ix2>,
) -> Result<ArrayD<T>> {
    let x = x.view().into_dyn();
    let (k, n) = w.dim();
    if x.ndim() == 0 || x.shape()[x.ndim() - 1] != k {
        return Err(shape_err("x", format!("(..., {k})"), x.shape()));
    }
    let rows = x.len() / k.max(1);
    let xs = x.as_standard_layout();
    let x2 = xs
        .view()
        .into_shape_with_order((rows, k))
        .map_err(|_| shape_err("x", format!("(..., {k})"), x.shape()))?;
    let y = match (rows, w.as_slice()) {
        (1, Some(ws)) => vec_mat(x2.row(0), ws, n),
        _ => x2.dot(w),
    };
    let mut out_shape = x.shape().to_vec();
    if let Some(last) = out_shape.last_mut() {
        *last = n;
    }
    y.into_shape_with_order(out_shape.clone())
        .map_err(|_| shape_err("output", fmt_tuple_usize(&out_shape), &[rows, n]))
}

/// `x @ w` for one row `x` and a row-major `w` of `n` columns, as a `(1, n)` array.
///
/// A GEMM (matrixmultiply) packs all of `w` for a single row of output, which costs
/// more than the product itself; summing `x[i] * w[i, :]` reads each row of `w` once,
/// contiguously, and vectorizes.
fn vec_mat<T: Real>(x: ArrayView1<'_, T>, w: &[T], n: usize) -> Array2<T> {
    let mut y = vec![T::zero(); n];
    for (&xi, row) in x.iter().zip(w.chunks_exact(n.max(1))) {
        for (yj, &wij) in y.iter_mut().zip(row) {
            *yj += xi * wij;
        }
    }
    ndarray::Array1::from(y).insert_axis(ndarray::Axis(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn works_without_batch_and_rejects_mismatch() -> Result<()> {
        let w = array![[1.0f64, 0.0], [0.0, 1.0], [1.0, 1.0]];
        let y = dot_last_axis(&array![1.0f64, 2.0, 3.0], &w)?;
        assert_eq!(y, array![4.0, 5.0].into_dyn());
        // One row (the vector path) and several rows (GEMM) agree.
        let x = array![[1.0f64, 2.0, 3.0], [1.0, 2.0, 3.0]];
        let y2 = dot_last_axis(&x, &w)?;
        assert_eq!(y2.index_axis(ndarray::Axis(0), 1), y);
        let err = dot_last_axis(&array![[1.0f64, 2.0]], &w)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("shape mismatch at x: expected (..., 3), found (1, 2)")
        );
        Ok(())
    }
}
