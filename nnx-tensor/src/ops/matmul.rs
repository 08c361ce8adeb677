//! Matrix products over the last two axes with broadcast batch axes
//! (`jnp.matmul`).

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{
    Array2, ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, ArrayViewMutD, Axis, Ix2, IxDyn,
};
use nnx_core::Result;

use super::{broadcast_shapes, cores, record, shape_error, sum_to_shape, PARALLEL_MACS};
use crate::element::Element;
use crate::Tensor;

/// A row- or column-major matrix as faer's view of the same memory; `None` for
/// other layouts.
fn faer_view<'a, E: Element>(x: &ArrayView2<'a, E>) -> Option<MatRef<'a, E>> {
    let (rows, cols) = x.dim();
    let data = x.to_slice_memory_order()?;
    if x.is_standard_layout() {
        Some(MatRef::from_row_major_slice(data, rows, cols))
    } else if x.t().is_standard_layout() {
        Some(MatRef::from_column_major_slice(data, rows, cols))
    } else {
        None
    }
}

/// `out = a @ b`: every matrix product of
/// nnx goes through this kernel (faer's GEMM; measured 1.5-10x faster than
/// matrixmultiply on the shapes of dense, convolution and attention layers,
/// including one-row products, so no separate vector path is needed), except
/// the convolution kernel's cotangent, whose summation order is chosen to
/// follow Flax's training runs (see `conv.rs`).
pub(crate) fn gemm<E: Element>(
    a: ArrayView2<'_, E>,
    b: ArrayView2<'_, E>,
    mut out: ArrayViewMut2<'_, E>,
) {
    let (n, k) = a.dim();
    let m = b.ncols();
    let large = n * m * k >= PARALLEL_MACS;
    match (faer_view(&a), faer_view(&b)) {
        (Some(fa), Some(fb)) => match out.as_slice_mut() {
            Some(o) if large && n >= 2 && cores() > 1 => {
                // Two halves of the rows, each a sequential GEMM, by
                // `rayon::join`: one join instead of faer's spinning barriers
                // between blocks, and when the other core is busy the caller
                // runs both halves itself instead of waiting.
                let mid = n / 2;
                let (a0, a1) = fa.split_at_row(mid);
                let (o0, o1) = o.split_at_mut(mid * m);
                rayon::join(
                    || {
                        let o0 = MatMut::from_row_major_slice_mut(o0, mid, m);
                        E::faer_gemm(o0, Accum::Replace, a0, fb, Par::Seq);
                    },
                    || {
                        let o1 = MatMut::from_row_major_slice_mut(o1, n - mid, m);
                        E::faer_gemm(o1, Accum::Replace, a1, fb, Par::Seq);
                    },
                );
            }
            Some(o) => {
                // (A one-row product large enough for two cores: faer splits
                // its columns.)
                let par = if large { Par::rayon(0) } else { Par::Seq };
                let o = MatMut::from_row_major_slice_mut(o, n, m);
                E::faer_gemm(o, Accum::Replace, fa, fb, par);
            }
            // A block of a larger output (a group of convolution channels).
            None => {
                let mut row_major = Array2::zeros((n, m));
                gemm(a, b, row_major.view_mut());
                out.assign(&row_major);
            }
        },
        // Strided operands (slices of larger arrays) are copied once.
        _ => gemm(
            a.as_standard_layout().view(),
            b.as_standard_layout().view(),
            out,
        ),
    }
}

/// `a @ b` for `a: (..., n, k)` and `b: (..., k, m)`, shapes already checked.
pub(crate) fn matmul_nd<E: Element>(
    a: ArrayViewD<'_, E>,
    b: ArrayViewD<'_, E>,
    batch: &[usize],
) -> ArrayD<E> {
    let (n, k) = (a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]);
    let m = b.shape()[b.ndim() - 1];
    let mut out_shape = batch.to_vec();
    out_shape.extend([n, m]);
    // A matrix on the right (every dense layer): one GEMM over all rows of `a`.
    if b.ndim() == 2 {
        if let (Ok(a2), Ok(b2)) = (
            a.to_shape((a.len() / k.max(1), k)),
            b.view().into_dimensionality::<Ix2>(),
        ) {
            let mut out = Array2::zeros((a2.nrows(), m));
            gemm(a2.view(), b2, out.view_mut());
            if let Ok(out) = out.into_shape_with_order(IxDyn(&out_shape)) {
                return out;
            }
        }
    }
    let mut full_a = batch.to_vec();
    full_a.extend([n, k]);
    let mut full_b = batch.to_vec();
    full_b.extend([k, m]);
    let mut out = ArrayD::zeros(IxDyn(&out_shape));
    if let (Some(a), Some(b)) = (a.broadcast(IxDyn(&full_a)), b.broadcast(IxDyn(&full_b))) {
        let count: usize = batch.iter().product();
        // Small products (attention's per-head ones) each stay on one thread,
        // so with enough of them the batch itself is split across two: the
        // same products in the same order, so the same bits, on both cores.
        let first = batch.first().copied().unwrap_or(1);
        if first > 1
            && n * k * m < PARALLEL_MACS
            && count * n * k * m >= PARALLEL_MACS
            && cores() > 1
        {
            let mid = first / 2;
            let (a0, a1) = a.split_at(Axis(0), mid);
            let (b0, b1) = b.split_at(Axis(0), mid);
            let (o0, o1) = out.view_mut().split_at(Axis(0), mid);
            rayon::join(|| batched(a0, b0, o0), || batched(a1, b1, o1));
        } else {
            batched(a, b, out.view_mut());
        }
    }
    out
}

/// One GEMM per batch index, recursing over the leading axes.
fn batched<E: Element>(a: ArrayViewD<'_, E>, b: ArrayViewD<'_, E>, mut out: ArrayViewMutD<'_, E>) {
    if a.ndim() == 2 {
        let parts = (
            a.into_dimensionality::<Ix2>(),
            b.into_dimensionality::<Ix2>(),
            out.into_dimensionality::<Ix2>(),
        );
        if let (Ok(a), Ok(b), Ok(out)) = parts {
            gemm(a, b, out);
        }
        return;
    }
    for ((a, b), out) in a.outer_iter().zip(b.outer_iter()).zip(out.outer_iter_mut()) {
        batched(a, b, out);
    }
}

/// The number of rows of `shape` seen as a matrix over its last axis.
fn rows(shape: &[usize]) -> usize {
    shape[..shape.len().saturating_sub(1)].iter().product()
}

/// The last two axes exchanged, as a view.
fn t<E: Element>(x: &ArrayD<E>) -> ArrayViewD<'_, E> {
    let mut v = x.view();
    let n = v.ndim();
    v.swap_axes(n - 2, n - 1);
    v
}

/// `aᵀ g` summed over all leading axes, for a matrix `b` on the right.
fn weight_grad<E: Element>(a: &ArrayD<E>, g: &ArrayD<E>) -> Option<ArrayD<E>> {
    let (k, m) = (a.shape()[a.ndim() - 1], g.shape()[g.ndim() - 1]);
    let a2 = a.to_shape((rows(a.shape()), k)).ok()?;
    let g2 = g.to_shape((rows(g.shape()), m)).ok()?;
    let mut out = Array2::zeros((k, m));
    gemm(a2.t(), g2.view(), out.view_mut());
    Some(out.into_dyn())
}

impl<E: Element> Tensor<E> {
    /// The matrix product `self @ rhs` (`jnp.matmul`): contracts the last axis of
    /// `self` with the second-to-last of `rhs` (the only one of a 1-d `rhs`),
    /// broadcasting leading batch axes. A 1-d operand is a vector, as in NumPy.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let x = Tensor::ones(&[4, 2, 3]);
    /// let w = Tensor::ones(&[3, 5]);
    /// assert_eq!(x.matmul(&w).unwrap().shape(), &[4, 2, 5]);
    /// assert_eq!(Tensor::ones(&[3]).matmul(&w).unwrap().shape(), &[5]);
    /// // An empty contraction gives zeros, as in NumPy.
    /// assert_eq!(Tensor::ones(&[2, 0]).matmul(&Tensor::ones(&[0, 3])).unwrap(), Tensor::zeros(&[2, 3]));
    /// let err = w.matmul(&x).unwrap_err().to_string();
    /// assert_eq!(err, "invalid argument to matmul: expected a contraction axis of equal size, found shapes (3, 5) and (4, 2, 3)");
    /// ```
    pub fn matmul(&self, rhs: &Tensor<E>) -> Result<Tensor<E>> {
        let err = |what: &str| shape_error("matmul", what, &[self.shape(), rhs.shape()]);
        if self.ndim() == 0 || rhs.ndim() == 0 {
            return Err(err("operands with at least one axis"));
        }
        let k = self.shape()[self.ndim() - 1];
        let kr = rhs.shape()[rhs.ndim().saturating_sub(2)];
        if k != kr {
            return Err(err("a contraction axis of equal size"));
        }
        // Vectors are matrices with one row (left) or one column (right),
        // removed again afterwards.
        let a = if self.ndim() == 1 {
            self.reshape(&[1, k])?
        } else {
            self.clone()
        };
        let b = if rhs.ndim() == 1 {
            rhs.reshape(&[k, 1])?
        } else {
            rhs.clone()
        };
        let batch = broadcast_shapes(
            "matmul",
            &a.shape()[..a.ndim() - 2],
            &b.shape()[..b.ndim() - 2],
        )
        .map_err(|_| err("batch axes that broadcast together"))?;
        let out = record_matmul(&a, &b, batch);
        let mut shape = out.shape().to_vec();
        if rhs.ndim() == 1 {
            shape.pop();
        }
        if self.ndim() == 1 {
            shape.remove(shape.len() - 1 - usize::from(rhs.ndim() != 1));
        }
        if shape.as_slice() == out.shape() {
            Ok(out)
        } else {
            out.reshape(&shape)
        }
    }
}

fn record_matmul<E: Element>(a: &Tensor<E>, b: &Tensor<E>, batch: Vec<usize>) -> Tensor<E> {
    let out = matmul_nd(a.data.view(), b.data.view(), &batch);
    let (sa, sb) = (a.data.clone(), b.data.clone());
    record("matmul", out.into(), [a, b], move |g, [na, nb]| {
        let g_batch = &g.shape()[..g.ndim() - 2];
        let ga = na.then(|| sum_to_shape(matmul_nd(g.view(), t(&sb), g_batch), sa.shape()));
        let gb = nb.then(|| {
            let direct = if sb.ndim() == 2 {
                weight_grad(&sa, g)
            } else {
                None
            };
            direct.unwrap_or_else(|| sum_to_shape(matmul_nd(t(&sa), g.view(), g_batch), sb.shape()))
        });
        [ga, gb]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batched matmul with broadcasting, against loops of hand-written dot products.
    #[test]
    fn batch_broadcast_matches_loops() {
        let a = Tensor::from(ArrayD::from_shape_fn(IxDyn(&[2, 1, 3, 4]), |i| {
            (i[0] * 7 + i[2] * 3 + i[3]) as f32 * 0.1
        }));
        let b = Tensor::from(ArrayD::from_shape_fn(IxDyn(&[5, 4, 2]), |i| {
            (i[0] + 2 * i[1] + 5 * i[2]) as f32 * 0.05
        }));
        let c = a.matmul(&b).unwrap();
        assert_eq!(c.shape(), &[2, 5, 3, 2]);
        for p in 0..2 {
            for q in 0..5 {
                for n in 0..3 {
                    for m in 0..2 {
                        let want: f32 = (0..4)
                            .map(|k| a.view()[[p, 0, n, k]] * b.view()[[q, k, m]])
                            .sum();
                        assert!((c.view()[[p, q, n, m]] - want).abs() < 1e-5);
                    }
                }
            }
        }
    }

    /// One-row products (decode steps) on row-major and column-major right
    /// operands, against loops.
    #[test]
    fn one_row_products_match_loops() {
        let a = ArrayD::from_shape_fn(IxDyn(&[2, 1, 3]), |i| (i[0] * 3 + i[2]) as f32 * 0.5 - 1.0);
        let b = ArrayD::from_shape_fn(IxDyn(&[2, 3, 4]), |i| {
            (i[0] + 2 * i[1] + 3 * i[2]) as f32 * 0.25
        });
        // The same matrix stored column-major: a transposed view of its transpose.
        let bt = b
            .view()
            .permuted_axes(IxDyn(&[0, 2, 1]))
            .as_standard_layout()
            .into_owned();
        let mut column_major = bt.view();
        column_major.swap_axes(1, 2);
        assert_eq!(column_major.strides()[1], 1);
        for rhs in [b.view(), column_major] {
            let c = matmul_nd(a.view(), rhs, &[2]);
            for p in 0..2 {
                for m in 0..4 {
                    let want: f32 = (0..3).map(|k| a[[p, 0, k]] * b[[p, k, m]]).sum();
                    assert!((c[[p, 0, m]] - want).abs() < 1e-6);
                }
            }
        }
    }
}
