//! Batched matrix product: the one GEMM (per batch entry) behind
//! `LinearGeneral` and `Einsum`, after their operands are permuted and reshaped.

use ndarray::{linalg::general_mat_mul, Array3, ArrayD, ArrayView3, ArrayViewD, Axis, IxDyn};
use nnx_core::Result;

use crate::functional::shape_err;

/// `out[b] = x[b] @ k[b]` for `x: (B, M, K)`, `k: (B, K, N)`.
pub(crate) fn bmm(x: ArrayView3<'_, f32>, k: ArrayView3<'_, f32>) -> Array3<f32> {
    let (b, m, _) = x.dim();
    let n = k.dim().2;
    let mut out = Array3::<f32>::zeros((b, m, n));
    for i in 0..b {
        general_mat_mul(
            1.0,
            &x.index_axis(Axis(0), i),
            &k.index_axis(Axis(0), i),
            0.0,
            &mut out.index_axis_mut(Axis(0), i),
        );
    }
    out
}

/// `a` with its axes permuted by `perm`, in standard layout, viewed as
/// `(d0, d1, d2)` (a copy only when the permutation is not the identity).
pub(crate) fn as_3d(
    what: &str,
    a: ArrayViewD<'_, f32>,
    perm: &[usize],
    dims: (usize, usize, usize),
) -> Result<Array3<f32>> {
    let shape = a.shape().to_vec();
    let p = a.permuted_axes(IxDyn(perm));
    let owned: ArrayD<f32> = p.as_standard_layout().into_owned();
    owned.into_shape_with_order(dims).map_err(|_| {
        shape_err(
            what,
            format!("{} elements", dims.0 * dims.1 * dims.2),
            &shape,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    #[test]
    fn batched_product() -> Result<()> {
        let x = Array::from_shape_vec((2, 1, 2), vec![1.0f32, 2.0, 3.0, 4.0])
            .map_err(|_| nnx_core::Error::invalid_argument("t", "", ""))?;
        let k = Array3::<f32>::ones((2, 2, 3));
        let y = bmm(x.view(), k.view());
        assert_eq!(y.shape(), &[2, 1, 3]);
        assert_eq!(y[[1, 0, 2]], 7.0);
        let t = as_3d("x", x.view().into_dyn(), &[2, 1, 0], (2, 1, 2))?;
        assert_eq!(t[[0, 0, 1]], 3.0);
        Ok(())
    }
}
