//! The statistics and normalization math shared by Flax's BatchNorm,
//! LayerNorm, RMSNorm, GroupNorm and InstanceNorm (`_compute_stats`,
//! `_normalize` in `flax/nnx/nn/normalization.py`).

use ndarray::{ArrayBase, ArrayD, ArrayViewD, Data, Dimension, IxDyn};
use nnx_core::{Error, Result};

use super::{canon_axes, fmt_tuple_usize, shape_err, Real};

/// Mean and variance of `x` over `reduction_axes`, with those axes removed
/// from both results.
///
/// * `use_mean = false` gives RMSNorm's statistics: `var = mean(x^2)` and a
///   zero mean.
/// * `use_fast_variance = true` computes `max(mean(x^2) - mean^2, 0)` in one
///   pass (Flax's default); `false` the two-pass `mean((x - mean)^2)`.
///
/// Sums are accumulated in `f64`, so results can differ from XLA's `f32`
/// reductions by a few ulps.
///
/// ```
/// use ndarray::array;
/// let (m, v) = nnx_layers::functional::compute_stats(&array![[1.0f32, 3.0]], &[-1], true, false)?;
/// assert_eq!(m, array![2.0].into_dyn());
/// assert_eq!(v, array![1.0].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn compute_stats<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    reduction_axes: &[isize],
    use_mean: bool,
    use_fast_variance: bool,
) -> Result<(ArrayD<T>, ArrayD<T>)> {
    let x = x.view().into_dyn();
    let axes = canon_axes("compute_stats reduction_axes", reduction_axes, x.ndim())?;
    // Move reduced axes last so each statistic is one contiguous row.
    let kept: Vec<usize> = (0..x.ndim()).filter(|a| !axes.contains(a)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes.iter()).copied().collect();
    let out_shape: Vec<usize> = kept.iter().map(|&a| x.shape()[a]).collect();
    let rows: usize = out_shape.iter().product();
    let n: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let in_shape = x.shape().to_vec();
    let xt = x.permuted_axes(IxDyn(&perm));
    let xt = xt.as_standard_layout();
    let flat = xt.as_slice().unwrap_or(&[]);
    let mut mean = Vec::with_capacity(rows);
    let mut var = Vec::with_capacity(rows);
    let nf = n as f64;
    for r in 0..rows {
        let row = &flat[r * n..(r + 1) * n];
        let sq: f64 = row.iter().map(|v| v.widen() * v.widen()).sum::<f64>() / nf;
        if !use_mean {
            mean.push(T::zero());
            var.push(T::from_f64(sq));
            continue;
        }
        let mu: f64 = row.iter().map(|v| v.widen()).sum::<f64>() / nf;
        let v = if use_fast_variance {
            (sq - mu * mu).max(0.0)
        } else {
            row.iter().map(|v| (v.widen() - mu).powi(2)).sum::<f64>() / nf
        };
        mean.push(T::from_f64(mu));
        var.push(T::from_f64(v));
    }
    let mean = ArrayD::from_shape_vec(out_shape.clone(), mean)
        .map_err(|_| shape_err("compute_stats x", "a non-empty array", &in_shape))?;
    let var = ArrayD::from_shape_vec(out_shape, var)
        .map_err(|_| shape_err("compute_stats x", "a non-empty array", &in_shape))?;
    Ok((mean, var))
}

fn reshape_to<T: Real>(arg: &str, a: &ArrayViewD<'_, T>, shape: &[usize]) -> Result<ArrayD<T>> {
    let want: usize = shape.iter().product();
    if a.len() != want {
        return Err(shape_err(
            arg,
            format!("{want} elements, reshapable to {}", fmt_tuple_usize(shape)),
            a.shape(),
        ));
    }
    let owned = a.as_standard_layout().into_owned();
    owned
        .into_shape_with_order(shape.to_vec())
        .map_err(|_| shape_err(arg, fmt_tuple_usize(shape), a.shape()))
}

/// `(x - mean) * rsqrt(var + epsilon) * scale + bias`, as Flax's `_normalize`.
///
/// `mean` and `var` hold one value per non-reduced position (any shape with
/// that many elements, e.g. [`compute_stats`]' output or BatchNorm's running
/// statistics of shape `(features,)`); `scale` and `bias` one value per
/// position of `feature_axes`.
///
/// ```
/// use ndarray::array;
/// use nnx_layers::functional::{compute_stats, normalize};
/// let x = array![[1.0f32, 3.0], [2.0, 6.0]];
/// // LayerNorm over the last axis with scale 2 and bias 1.
/// let (m, v) = compute_stats(&x, &[-1], true, true)?;
/// let scale = array![2.0f32, 2.0].into_dyn();
/// let bias = array![1.0f32, 1.0].into_dyn();
/// let y = normalize(&x, &m, &v, Some(&scale), Some(&bias), &[-1], &[-1], 0.0)?;
/// assert_eq!(y, array![[-1.0, 3.0], [-1.0, 3.0]].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[allow(clippy::too_many_arguments)]
pub fn normalize<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    mean: &ArrayD<T>,
    var: &ArrayD<T>,
    scale: Option<&ArrayD<T>>,
    bias: Option<&ArrayD<T>>,
    reduction_axes: &[isize],
    feature_axes: &[isize],
    epsilon: T,
) -> Result<ArrayD<T>> {
    let x = x.view().into_dyn();
    let red = canon_axes("normalize reduction_axes", reduction_axes, x.ndim())?;
    let feat = canon_axes("normalize feature_axes", feature_axes, x.ndim())?;
    let mut stats_shape = x.shape().to_vec();
    for &a in &red {
        stats_shape[a] = 1;
    }
    let mut feature_shape = vec![1; x.ndim()];
    for &a in &feat {
        feature_shape[a] = x.shape()[a];
    }
    let mean = reshape_to("normalize mean", &mean.view(), &stats_shape)?;
    let var = reshape_to("normalize var", &var.view(), &stats_shape)?;
    let mut mul = var.mapv(|v| T::one() / (v + epsilon).sqrt());
    if let Some(s) = scale {
        let s = reshape_to("normalize scale", &s.view(), &feature_shape)?;
        let shape = super::broadcast_shapes(mul.shape(), s.shape()).ok_or_else(|| {
            shape_err(
                "normalize scale",
                fmt_tuple_usize(&feature_shape),
                s.shape(),
            )
        })?;
        let m = mul.broadcast(shape).ok_or_else(|| {
            shape_err(
                "normalize scale",
                fmt_tuple_usize(&feature_shape),
                s.shape(),
            )
        })?;
        mul = &m * &s;
    }
    let mut y = (&x - &mean) * &mul;
    if let Some(b) = bias {
        let b = reshape_to("normalize bias", &b.view(), &feature_shape)?;
        y += &b;
    }
    Ok(y)
}

/// GroupNorm as `flax.nnx.GroupNorm` computes it by default: `x` is
/// `(batch, spatial..., features)`, features are split into `num_groups`
/// contiguous groups, and statistics are taken over the spatial axes and
/// the features of each group; `scale`/`bias` have shape `(features,)`.
///
/// ```
/// use ndarray::array;
/// let x = array![[1.0f32, 3.0, 10.0, 20.0]];
/// let y = nnx_layers::functional::group_norm(&x, 2, None, None, 0.0, false)?;
/// assert_eq!(y, array![[-1.0, 1.0, -1.0, 1.0]].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn group_norm<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    num_groups: usize,
    scale: Option<&ArrayD<T>>,
    bias: Option<&ArrayD<T>>,
    epsilon: T,
    use_fast_variance: bool,
) -> Result<ArrayD<T>> {
    let x = x.view().into_dyn();
    if x.ndim() < 2 {
        return Err(shape_err(
            "group_norm x",
            "(batch, ..., features)",
            x.shape(),
        ));
    }
    let c = x.shape()[x.ndim() - 1];
    if num_groups == 0 || !c.is_multiple_of(num_groups) {
        return Err(Error::invalid_argument(
            "group_norm num_groups",
            format!("a divisor of the {c} features"),
            num_groups.to_string(),
        ));
    }
    let gs = c / num_groups;
    let mut gshape = x.shape().to_vec();
    gshape.pop();
    gshape.push(num_groups);
    gshape.push(gs);
    let xg = reshape_to("group_norm x", &x, &gshape)?;
    let nd = gshape.len() as isize;
    // Spatial axes of the grouped view, then the within-group axis.
    let mut red: Vec<isize> = (1..nd - 2).collect();
    red.push(nd - 1);
    let (mean, var) = compute_stats(&xg, &red, true, use_fast_variance)?;
    // (batch, groups) -> (batch, features): each group's statistic repeated.
    let rep = |s: &ArrayD<T>| -> ArrayD<T> {
        let b = s.shape()[0];
        ArrayD::from_shape_fn(IxDyn(&[b, c]), |ix| s[[ix[0], ix[1] / gs]])
    };
    let spatial: Vec<isize> = (1..x.ndim() as isize - 1).collect();
    normalize(
        &x,
        &rep(&mean),
        &rep(&var),
        scale,
        bias,
        &spatial,
        &[-1],
        epsilon,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn rms_stats_have_zero_mean() -> Result<()> {
        let (m, v) = compute_stats(&array![[3.0f64, 4.0]], &[1], false, true)?;
        assert_eq!(m, array![0.0].into_dyn());
        assert_eq!(v, array![12.5].into_dyn());
        Ok(())
    }

    #[test]
    fn fast_variance_is_clipped_at_zero() -> Result<()> {
        let (_, v) = compute_stats(&array![[0.1f32, 0.1, 0.1]], &[1], true, true)?;
        assert!(v[[0]] >= 0.0);
        Ok(())
    }

    #[test]
    fn errors_name_the_argument() {
        let x = array![[1.0f32, 2.0], [3.0, 4.0]];
        assert!(compute_stats(&x, &[2], true, true).is_err());
        let m = array![0.0f32, 0.0, 0.0].into_dyn();
        let err = normalize(&x, &m, &m, None, None, &[1], &[1], 1e-5)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("shape mismatch at normalize mean: expected 2 elements, reshapable to (2, 1), found (3,)")
        );
        let ok = array![0.0f32, 1.0].into_dyn();
        assert!(normalize(&x, &ok, &ok, Some(&m), None, &[1], &[1], 1e-5).is_err());
        assert!(normalize(&x, &ok, &ok, None, Some(&m), &[1], &[1], 1e-5).is_err());
        assert!(group_norm(&x, 3, None, None, 1e-5, true).is_err());
        assert!(group_norm(&x, 0, None, None, 1e-5, true).is_err());
        assert!(group_norm(&array![1.0f32], 1, None, None, 1e-5, true).is_err());
    }
}
