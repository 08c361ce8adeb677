//! Orthogonal initializers (Householder QR with JAX's sign convention).

use std::sync::Arc;

use ndarray::{Array2, ArrayD, Axis, IxDyn};

use super::Init;
use crate::random::{self, fmt_shape, normalize_axis, Float, Key};
use crate::{Error, Result};

/// Thin QR of an `m x k` matrix (`m >= k`) by Householder reflections, in f64.
/// Returns `Q` with each column multiplied by the sign of `R`'s diagonal, the
/// unique factor with a non-negative diagonal that JAX's `orthogonal` uses.
fn signed_thin_q(a: &Array2<f64>) -> Array2<f64> {
    let (m, k) = a.dim();
    let mut r = a.clone();
    let mut vs: Vec<Vec<f64>> = Vec::with_capacity(k);
    let mut signs = vec![1.0; k];
    for j in 0..k {
        let x: Vec<f64> = (j..m).map(|i| r[[i, j]]).collect();
        let norm = x.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            vs.push(vec![0.0; m - j]);
            signs[j] = 0.0;
            continue;
        }
        // alpha = -sign(x0)·|x| avoids cancellation; R[j, j] = alpha.
        let alpha = if x[0] >= 0.0 { -norm } else { norm };
        signs[j] = alpha.signum();
        let mut v = x;
        v[0] -= alpha;
        let vnorm = v.iter().map(|t| t * t).sum::<f64>().sqrt();
        v.iter_mut().for_each(|t| *t /= vnorm);
        for c in j..k {
            let dot: f64 = (j..m).map(|i| v[i - j] * r[[i, c]]).sum();
            for i in j..m {
                r[[i, c]] -= 2.0 * v[i - j] * dot;
            }
        }
        vs.push(v);
    }
    let mut q = Array2::from_shape_fn((m, k), |(i, j)| if i == j { 1.0 } else { 0.0 });
    for j in (0..k).rev() {
        let v = &vs[j];
        for c in 0..k {
            let dot: f64 = (j..m).map(|i| v[i - j] * q[[i, c]]).sum();
            for i in j..m {
                q[[i, c]] -= 2.0 * v[i - j] * dot;
            }
        }
    }
    for (mut col, s) in q.axis_iter_mut(Axis(1)).zip(signs) {
        col.mapv_inplace(|x| x * s);
    }
    q
}

fn orthogonal_impl<A: Float>(
    scale: f64,
    column_axis: isize,
    key: Key,
    shape: &[usize],
) -> Result<ArrayD<A>> {
    if shape.len() < 2 {
        return Err(Error::invalid_argument(
            "orthogonal",
            "a shape of rank >= 2",
            fmt_shape(shape),
        ));
    }
    let col = normalize_axis(column_axis, shape.len()).ok_or_else(|| {
        Error::invalid_argument(
            "orthogonal",
            format!("column_axis within rank {}", shape.len()),
            format!("column_axis={column_axis}"),
        )
    })?;
    // The QR works on an f64 copy of the whole matrix.
    let total = random::num_elements::<f64>(shape)?;
    if total == 0 {
        return random::array_from_vec(shape, vec![A::ZERO; 0]);
    }
    let n_cols = shape[col];
    let n_rows = total / n_cols;
    let (big, small) = (n_rows.max(n_cols), n_rows.min(n_cols));
    let z = random::normal::<A>(key, &[big, small])?;
    let z64 = Array2::from_shape_fn((big, small), |(i, j)| z[[i, j]].to_f64());
    let q = signed_thin_q(&z64);
    // Rows index the non-column axes, columns the column axis.
    let q = if n_rows < n_cols {
        q.reversed_axes()
    } else {
        q
    };
    let s = A::from_f64(scale);
    // Logical (row-major) order, whatever q's memory layout after transposing.
    let vals: Vec<A> = q.iter().map(|&x| s * A::from_f64(x)).collect();
    let mut moved: Vec<usize> = shape
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != col)
        .map(|(_, &d)| d)
        .collect();
    moved.push(n_cols);
    let arr = random::array_from_vec(&moved, vals)?;
    // Move the last axis back to `col`.
    let mut perm: Vec<usize> = (0..shape.len() - 1).collect();
    perm.insert(col, shape.len() - 1);
    let out = arr.permuted_axes(IxDyn(&perm));
    Ok(out.as_standard_layout().into_owned())
}

/// A (semi-)orthogonal matrix reshaped to `shape`, times `scale`, like
/// `jax.nn.initializers.orthogonal(scale, column_axis)`: the product of all
/// other axes forms the rows, `column_axis` the columns. Needs rank >= 2.
///
/// ```
/// let q = nnx_core::init::orthogonal::<f64>(1.0, -1).init(nnx_core::random::key(0), &[3, 3])?;
/// let q = q.into_dimensionality::<ndarray::Ix2>().unwrap();
/// let eye = q.t().dot(&q);
/// for i in 0..3 { assert!((eye[[i, i]] - 1.0).abs() < 1e-12); }
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn orthogonal<A: Float>(scale: f64, column_axis: isize) -> Init<A> {
    Arc::new(move |key: Key, shape: &[usize]| orthogonal_impl::<A>(scale, column_axis, key, shape))
}

/// Delta-orthogonal initializer for 3-, 4- and 5-D convolution kernels, like
/// `jax.nn.initializers.delta_orthogonal(scale, column_axis)`: zeros except an
/// orthogonal `shape[-2] x shape[-1]` matrix at the spatial center. Needs
/// `shape[-2] <= shape[-1]`.
///
/// ```
/// let w = nnx_core::init::delta_orthogonal::<f32>(1.0, -1).init(nnx_core::random::key(0), &[3, 2, 4])?;
/// assert_eq!(w.index_axis(ndarray::Axis(0), 0).sum(), 0.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn delta_orthogonal<A: Float>(scale: f64, column_axis: isize) -> Init<A> {
    Arc::new(move |key: Key, shape: &[usize]| {
        let r = shape.len();
        if !(3..=5).contains(&r) {
            return Err(Error::invalid_argument(
                "delta_orthogonal",
                "a 3D, 4D or 5D shape",
                fmt_shape(shape),
            ));
        }
        if shape[r - 1] < shape[r - 2] {
            return Err(Error::invalid_argument(
                "delta_orthogonal",
                "shape[-2] (fan_in) <= shape[-1] (fan_out)",
                fmt_shape(shape),
            ));
        }
        let ortho = orthogonal_impl::<A>(scale, column_axis, key, &shape[r - 2..])?;
        let (n, mut zeros) = random::vec_for::<A>(shape)?;
        zeros.resize(n, A::ZERO);
        let mut w = random::array_from_vec(shape, zeros)?;
        if n == 0 {
            return Ok(w);
        }
        let mut center = w.view_mut();
        for &d in &shape[..r - 2] {
            center = center.index_axis_move(Axis(0), d.saturating_sub(1) / 2);
        }
        center.assign(&ortho);
        Ok(w)
    })
}
