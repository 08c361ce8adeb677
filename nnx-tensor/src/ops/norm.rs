//! Normalization: the statistics and the normalization step shared by Flax's
//! BatchNorm, LayerNorm, RMSNorm, GroupNorm and InstanceNorm (`_compute_stats`
//! and `_normalize` in `flax/nnx/nn/normalization.py`), and `jax.nn.standardize`.
//!
//! Each is one fused kernel with its rule rather than a composition of `-`,
//! `*`, `sqrt`, `sum`...: the forward makes one pass over `x` instead of five
//! (five arrays of `x`'s size), and the statistics are accumulated in `f64`.

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, Dimension, IxDyn, Zip};
use nnx_core::{Error, Result};

use super::{kept_shape, norm_axes, record, shape_error, sum_to_shape, unreduce};
use crate::element::{lit, sqrt, wide, Element};
use crate::Tensor;

/// `(mean, var, clipped, count)` of the values of a row (`x`'s reduced axes
/// last) that `keep` selects (all of them without a mask), in `f64`.
/// Without `use_mean` the mean is 0 and `var = mean(x²)` (RMSNorm); with
/// `use_fast_variance`, `var = max(mean(x²) - mean², 0)` in one pass, else the
/// two-pass `mean((x - mean)²)`. `clipped`: the variance was clipped at 0 (its
/// gradient is then 0, as through `jnp.maximum`). No selected value gives NaN
/// statistics (a zero mean without `use_mean`), as `jnp.mean(where=...)`.
fn row_stats<E: Element>(
    row: &[E],
    keep: Option<&[bool]>,
    use_mean: bool,
    fast: bool,
) -> (E, E, bool, usize) {
    // One monomorphized loop per case, so the unmasked rows pay no mask test.
    match keep {
        None => moments(|| row.iter().map(|&v| wide(v)), row.len(), use_mean, fast),
        Some(k) => moments(
            || row.iter().zip(k).filter(|(_, &k)| k).map(|(&v, _)| wide(v)),
            k.iter().filter(|&&b| b).count(),
            use_mean,
            fast,
        ),
    }
}

/// [`row_stats`] of the `n` values `values()` yields.
fn moments<E: Element, I: Iterator<Item = f64>>(
    values: impl Fn() -> I,
    n: usize,
    use_mean: bool,
    fast: bool,
) -> (E, E, bool, usize) {
    if n == 0 {
        return (
            if use_mean { E::nan() } else { lit::<E>(0.0) },
            E::nan(),
            false,
            0,
        );
    }
    let nf = n as f64;
    // Both sums in one pass, each accumulated in order from -0.0 as `Sum` does.
    let (sum, sum_sq) = values().fold((-0.0f64, -0.0f64), |(s, q), v| (s + v, q + v * v));
    let sq = sum_sq / nf;
    if !use_mean {
        return (lit::<E>(0.0), lit::<E>(sq), false, n);
    }
    let mu = sum / nf;
    let (var, clipped) = if fast {
        let raw = sq - mu * mu;
        (raw.max(0.0), raw < 0.0)
    } else {
        (values().map(|v| (v - mu).powi(2)).sum::<f64>() / nf, false)
    };
    (lit::<E>(mu), lit::<E>(var), clipped, n)
}

/// `a` viewed (or copied, when not contiguous) under `shape` of the same size.
fn as_shape<'a, E: Element>(a: &'a ArrayD<E>, shape: &IxDyn) -> ndarray::CowArray<'a, E, IxDyn> {
    match a.to_shape(shape.clone()) {
        Ok(v) => v,
        // Sizes are checked by the callers; this branch is never taken.
        Err(_) => a.view().into(),
    }
}

/// `mask` broadcast to `shape` (an owned copy, read by the rules too).
fn broadcast_mask(what: &str, mask: &ArrayD<bool>, shape: &[usize]) -> Result<ArrayD<bool>> {
    mask.broadcast(IxDyn(shape))
        .map(|m| m.to_owned())
        .ok_or_else(|| {
            Error::invalid_argument(
                what,
                format!(
                    "a shape broadcastable to the input's {}",
                    nnx_core::repr::fmt_tuple_usize(shape)
                ),
                nnx_core::repr::fmt_tuple_usize(mask.shape()),
            )
        })
}

/// `a` (of `from`'s size) reshaped to the shape of a cotangent's input.
fn reshaped_to<E: Element>(a: ArrayD<E>, shape: &[usize]) -> Option<ArrayD<E>> {
    let a = a.as_standard_layout().into_owned();
    a.into_shape_with_order(IxDyn(shape)).ok()
}

impl<E: Element> Tensor<E> {
    /// Mean and variance of `self` over `axes`, with those axes removed from
    /// both (Flax's `_compute_stats`, which every normalization layer uses).
    ///
    /// * `use_mean = false` gives RMSNorm's statistics: `var = mean(x²)` and a
    ///   zero mean (a constant).
    /// * `use_fast_variance = true` computes `max(mean(x²) - mean², 0)` in one
    ///   pass (Flax's default); `false` the two-pass `mean((x - mean)²)`.
    ///
    /// Both results are differentiable with respect to `self` (gradients flow
    /// through the batch statistics, as in Flax). Sums are accumulated in `f64`,
    /// so results can differ from XLA's `f32` reductions by a few ulps.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let x = Tensor::from(ndarray::arr2(&[[1.0f32, 3.0], [2.0, 2.0]]));
    /// let (mean, var) = x.compute_stats(&[-1], true, true)?;
    /// assert_eq!(mean.to_array(), ndarray::arr1(&[2.0f32, 2.0]).into_dyn());
    /// assert_eq!(var.to_array(), ndarray::arr1(&[1.0f32, 0.0]).into_dyn());
    /// assert!(x.compute_stats(&[2], true, true).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn compute_stats(
        &self,
        axes: &[isize],
        use_mean: bool,
        use_fast_variance: bool,
    ) -> Result<(Tensor<E>, Tensor<E>)> {
        self.compute_stats_masked(axes, use_mean, use_fast_variance, None)
    }

    /// [`compute_stats`](Tensor::compute_stats) over the elements where `mask`
    /// is `true` (Flax's `_compute_stats(..., mask=mask)`, i.e.
    /// `jnp.mean(..., where=mask)`); `None` is `compute_stats`. `mask`
    /// broadcasts to `self`'s shape. A statistic with no selected element is
    /// NaN (its mean 0 without `use_mean`); masked-out elements get a zero
    /// gradient.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let x = Tensor::from(ndarray::arr2(&[[1.0f32, 3.0, 100.0], [2.0, 4.0, 6.0]]));
    /// let mask = ndarray::arr1(&[true, true, false]).into_dyn(); // broadcast over rows
    /// let (mean, var) = x.compute_stats_masked(&[-1], true, true, Some(&mask))?;
    /// assert_eq!(mean.to_array(), ndarray::arr1(&[2.0f32, 3.0]).into_dyn());
    /// assert_eq!(var.to_array(), ndarray::arr1(&[1.0f32, 1.0]).into_dyn());
    /// let wrong = ndarray::arr1(&[true, false]).into_dyn();
    /// assert!(x.compute_stats_masked(&[-1], true, true, Some(&wrong)).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// Axes outside `self` or repeated, a mask that does not broadcast to
    /// `self`'s shape.
    pub fn compute_stats_masked(
        &self,
        axes: &[isize],
        use_mean: bool,
        use_fast_variance: bool,
        mask: Option<&ArrayD<bool>>,
    ) -> Result<(Tensor<E>, Tensor<E>)> {
        let axes = norm_axes("compute_stats", axes, self.shape())?;
        let shape = self.shape().to_vec();
        let mask = match mask {
            None => None,
            Some(m) => Some(Arc::new(broadcast_mask("compute_stats mask", m, &shape)?)),
        };
        // Reduced axes last, so that each statistic is one contiguous row.
        let kept: Vec<usize> = (0..shape.len()).filter(|a| !axes.contains(a)).collect();
        let perm: Vec<usize> = kept.iter().chain(&axes).copied().collect();
        let out_shape: Vec<usize> = kept.iter().map(|&a| shape[a]).collect();
        let rows: usize = out_shape.iter().product();
        let n: usize = axes.iter().map(|&a| shape[a]).product();
        let xt = self.data.view().permuted_axes(IxDyn(&perm));
        let xt = xt.as_standard_layout();
        let flat = xt.as_slice().unwrap_or(&[]);
        let mt = mask.as_ref().map(|m| {
            m.view()
                .permuted_axes(IxDyn(&perm))
                .as_standard_layout()
                .into_owned()
        });
        let mflat = mt.as_ref().and_then(|m| m.as_slice());
        let mut mean = Vec::with_capacity(rows);
        let mut var = Vec::with_capacity(rows);
        let mut clipped = Vec::with_capacity(rows);
        let mut counts = Vec::with_capacity(rows);
        for r in 0..rows {
            let row = flat.get(r * n..(r + 1) * n).unwrap_or(&[]);
            let keep = mflat.and_then(|k| k.get(r * n..(r + 1) * n));
            let (m, v, c, count) = row_stats(row, keep, use_mean, use_fast_variance);
            mean.push(m);
            var.push(v);
            clipped.push(c);
            counts.push(lit::<E>(count as f64));
        }
        let build = |v: Vec<E>| {
            ArrayD::from_shape_vec(IxDyn(&out_shape), v)
                .map_err(|_| shape_error("compute_stats", "a consistent shape", &[&shape]))
        };
        let (mean, var, counts) = (
            Arc::new(build(mean)?),
            build(var)?,
            Arc::new(build(counts)?),
        );
        let clipped = ArrayD::from_shape_vec(IxDyn(&out_shape), clipped)
            .map_err(|_| shape_error("compute_stats", "a consistent shape", &[&shape]))?;
        let kept_dims = kept_shape(&shape, &axes);
        // Masked-out elements get no gradient (selected rather than multiplied,
        // so that an empty row's infinite 1/count does not make NaN).
        let masked = |g: ArrayD<E>, mask: &Option<Arc<ArrayD<bool>>>| match mask {
            Some(k) => Zip::from(&g)
                .and(&**k)
                .map_collect(|&g, &k| if k { g } else { lit::<E>(0.0) }),
            None => g,
        };

        let mean_t = if use_mean {
            let (shape, axes) = (shape.clone(), axes.clone());
            let (counts, mask) = (Arc::clone(&counts), mask.clone());
            record(
                "compute_stats mean",
                Arc::clone(&mean),
                [self],
                move |g, _| {
                    let g = Zip::from(g).and(&*counts).map_collect(|&g, &n| g / n);
                    [Some(masked(unreduce(&g, &shape, &axes), &mask))]
                },
            )
        } else {
            Tensor {
                data: Arc::clone(&mean),
                node: None,
            }
        };
        let x = Arc::clone(&self.data);
        let var_t = record("compute_stats var", var.into(), [self], move |g, _| {
            // d var / dx = 2 (x - mean) / n (mean = 0 without use_mean), and 0
            // where the fast variance was clipped.
            let g = Zip::from(g)
                .and(&clipped)
                .and(&*counts)
                .map_collect(|&g, &c, &n| if c { E::zero() } else { lit::<E>(2.0) * g / n });
            let g = unreduce(&g, &shape, &axes);
            let mean = as_shape(&mean, &kept_dims);
            let g = Zip::from(&g)
                .and(&*x)
                .and_broadcast(&mean)
                .map_collect(|&g, &x, &m| g * (x - m));
            [Some(masked(g, &mask))]
        });
        Ok((mean_t, var_t))
    }

    /// `(x - mean) * rsqrt(var + epsilon) * scale + bias` (Flax's `_normalize`).
    ///
    /// `mean` and `var` hold one value per position of the axes not in
    /// `reduction_axes` (any shape with that many elements, e.g.
    /// [`compute_stats`](Tensor::compute_stats)' output or BatchNorm's running
    /// statistics of shape `(features,)`); `scale` and `bias` one value per
    /// position of `feature_axes`. Differentiable with respect to all five.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let x = Tensor::from(ndarray::arr2(&[[1.0f32, 3.0], [2.0, 6.0]]));
    /// // LayerNorm over the last axis with scale 2 and bias 1.
    /// let (m, v) = x.compute_stats(&[-1], true, true)?;
    /// let (scale, bias) = (Tensor::from(ndarray::arr1(&[2.0f32, 2.0])), Tensor::ones(&[2]));
    /// let y = x.normalize(&m, &v, Some(&scale), Some(&bias), &[-1], &[-1], 0.0)?;
    /// assert_eq!(y.to_array(), ndarray::arr2(&[[-1.0f32, 3.0], [-1.0, 3.0]]).into_dyn());
    /// assert!(x.normalize(&Tensor::zeros(&[3]), &v, None, None, &[-1], &[-1], 0.0).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    #[allow(clippy::too_many_arguments)] // Flax's `_normalize` signature
    pub fn normalize(
        &self,
        mean: &Tensor<E>,
        var: &Tensor<E>,
        scale: Option<&Tensor<E>>,
        bias: Option<&Tensor<E>>,
        reduction_axes: &[isize],
        feature_axes: &[isize],
        epsilon: E,
    ) -> Result<Tensor<E>> {
        let red = norm_axes("normalize reduction_axes", reduction_axes, self.shape())?;
        let feat = norm_axes("normalize feature_axes", feature_axes, self.shape())?;
        let shape = self.shape();
        let stats_shape = kept_shape(shape, &red);
        let feature_shape = IxDyn(
            &(0..shape.len())
                .map(|a| if feat.contains(&a) { shape[a] } else { 1 })
                .collect::<Vec<_>>(),
        );
        let fits = |what: &str, t: &Tensor<E>, want: &IxDyn| {
            if t.len() == want.size() {
                Ok(())
            } else {
                Err(shape_error(
                    &format!("normalize {what}"),
                    format!(
                        "{} elements, reshapable to {}",
                        want.size(),
                        nnx_core::repr::fmt_tuple_usize(want.slice())
                    ),
                    &[t.shape(), shape],
                ))
            }
        };
        fits("mean", mean, &stats_shape)?;
        fits("var", var, &stats_shape)?;
        let none = Tensor::from(E::zero());
        if let Some(s) = scale {
            fits("scale", s, &feature_shape)?;
        }
        if let Some(b) = bias {
            fits("bias", b, &feature_shape)?;
        }
        let m = as_shape(&mean.data, &stats_shape).into_owned();
        let v = as_shape(&var.data, &stats_shape).into_owned();
        let r = v.mapv(|v| E::one() / sqrt(v + epsilon));
        let s = scale.map(|s| as_shape(&s.data, &feature_shape).into_owned());
        // `rsqrt(var + eps) * scale`, as Flax folds the scale into the multiplier.
        let mul = match &s {
            Some(s) => {
                let both = super::broadcast_shapes("normalize", r.shape(), s.shape())?;
                let mut mul = ArrayD::zeros(IxDyn(&both));
                Zip::from(&mut mul)
                    .and_broadcast(&r)
                    .and_broadcast(s)
                    .for_each(|o, &r, &s| *o = r * s);
                mul
            }
            None => r.clone(),
        };
        let y = match bias {
            Some(b) => Zip::from(&*self.data)
                .and_broadcast(&m)
                .and_broadcast(&mul)
                .and_broadcast(&as_shape(&b.data, &feature_shape))
                .map_collect(|&x, &m, &k, &b| (x - m) * k + b),
            None => Zip::from(&*self.data)
                .and_broadcast(&m)
                .and_broadcast(&mul)
                .map_collect(|&x, &m, &k| (x - m) * k),
        };
        let x = Arc::clone(&self.data);
        let shapes = [
            mean.shape().to_vec(),
            var.shape().to_vec(),
            scale.map_or(vec![], |t| t.shape().to_vec()),
            bias.map_or(vec![], |t| t.shape().to_vec()),
        ];
        let inputs = [
            self,
            mean,
            var,
            scale.unwrap_or(&none),
            bias.unwrap_or(&none),
        ];
        Ok(record(
            "normalize",
            y.into(),
            inputs,
            move |g, [nx, nm, nv, ns, nb]| {
                let [mean_shape, var_shape, scale_shape, bias_shape] = shapes;
                // g * rsqrt(var + eps) * scale: the cotangent of x - mean.
                let gm = (nx || nm || nv)
                    .then(|| Zip::from(g).and_broadcast(&mul).map_collect(|&g, &k| g * k));
                let centered = |f: &dyn Fn(E, E) -> E, by: &ArrayD<E>| {
                    Zip::from(by)
                        .and(&*x)
                        .and_broadcast(&m)
                        .map_collect(|&b, &x, &m| f(b, x - m))
                };
                let dvar = match (&gm, nv) {
                    (Some(gm), true) => {
                        let t = sum_to_shape(centered(&|gm, d| gm * d, gm), stats_shape.slice());
                        let t = Zip::from(&t)
                            .and(&v)
                            .map_collect(|&t, &v| lit::<E>(-0.5) * t / (v + epsilon));
                        reshaped_to(t, &var_shape)
                    }
                    _ => None,
                };
                let dscale = ns
                    .then(|| {
                        let t = Zip::from(g)
                            .and(&*x)
                            .and_broadcast(&m)
                            .and_broadcast(&r)
                            .map_collect(|&g, &x, &m, &r| g * (x - m) * r);
                        reshaped_to(sum_to_shape(t, feature_shape.slice()), &scale_shape)
                    })
                    .flatten();
                let dbias = nb
                    .then(|| {
                        reshaped_to(sum_to_shape(g.clone(), feature_shape.slice()), &bias_shape)
                    })
                    .flatten();
                let dmean = match (&gm, nm) {
                    (Some(gm), true) => reshaped_to(
                        sum_to_shape(gm.clone(), stats_shape.slice()).mapv(|t| -t),
                        &mean_shape,
                    ),
                    _ => None,
                };
                [gm.filter(|_| nx), dmean, dvar, dscale, dbias]
            },
        ))
    }

    /// GroupNorm as `flax.nnx.GroupNorm` computes it by default: `self` is
    /// `(batch, spatial..., features)`, the features are split into
    /// `num_groups` contiguous groups, and statistics are taken over the
    /// spatial axes and the features of each group; `scale` and `bias` have
    /// one value per feature. [`group_norm_with`](Tensor::group_norm_with)
    /// takes other reduction axes and a mask.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let x = Tensor::from(ndarray::arr2(&[[1.0f32, 3.0, 10.0, 20.0]]));
    /// let y = x.group_norm(2, None, None, 0.0, false)?;
    /// assert_eq!(y.to_array(), ndarray::arr2(&[[-1.0f32, 1.0, -1.0, 1.0]]).into_dyn());
    /// assert!(x.group_norm(3, None, None, 0.0, false).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn group_norm(
        &self,
        num_groups: usize,
        scale: Option<&Tensor<E>>,
        bias: Option<&Tensor<E>>,
        epsilon: E,
        use_fast_variance: bool,
    ) -> Result<Tensor<E>> {
        let opts = GroupNormOptions {
            epsilon,
            use_fast_variance,
            ..Default::default()
        };
        self.group_norm_with(num_groups, scale, bias, &opts)
    }

    /// [`group_norm`](Tensor::group_norm) with Flax's `reduction_axes` and
    /// `mask` ([`GroupNormOptions`]).
    ///
    /// `reduction_axes` (default: every axis but the first) must include the
    /// last (feature) axis: each group's statistics are taken over the other
    /// reduction axes and the group's features, separately for every position
    /// of the axes left out. `mask` (broadcastable to `self`) selects the
    /// elements the statistics are taken over; every element is normalized.
    ///
    /// ```
    /// use nnx_tensor::{GroupNormOptions, Tensor};
    /// // (batch 1, 2 positions, 2 features), one group: statistics per position.
    /// let x = Tensor::from(ndarray::arr3(&[[[1.0f32, 3.0], [10.0, 30.0]]]));
    /// let exact = GroupNormOptions { epsilon: 0.0, ..Default::default() };
    /// let per_position = GroupNormOptions { reduction_axes: Some(&[-1]), ..exact };
    /// let y = x.group_norm_with(1, None, None, &per_position)?;
    /// assert_eq!(y.to_array(), ndarray::arr3(&[[[-1.0f32, 1.0], [-1.0, 1.0]]]).into_dyn());
    /// // Statistics of the first position only, applied to both.
    /// let mask = ndarray::arr3(&[[[true], [false]]]).into_dyn();
    /// let masked = GroupNormOptions { mask: Some(&mask), ..exact };
    /// let y = x.group_norm_with(1, None, None, &masked)?;
    /// assert_eq!(y.to_array(), ndarray::arr3(&[[[-1.0f32, 1.0], [8.0, 28.0]]]).into_dyn());
    /// // The feature axis must be reduced.
    /// let no_features = GroupNormOptions { reduction_axes: Some(&[1]), ..exact };
    /// assert!(x.group_norm_with(1, None, None, &no_features).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// An input of rank below 2, `num_groups` not dividing the features,
    /// reduction axes outside the input, repeated or without the last axis,
    /// a mask that does not broadcast to the input, a scale or bias of the
    /// wrong size.
    pub fn group_norm_with(
        &self,
        num_groups: usize,
        scale: Option<&Tensor<E>>,
        bias: Option<&Tensor<E>>,
        opts: &GroupNormOptions<'_, E>,
    ) -> Result<Tensor<E>> {
        let shape = self.shape();
        let nd = shape.len();
        let Some(&c) = shape.last().filter(|_| nd >= 2) else {
            return Err(shape_error(
                "group_norm",
                "an input of shape (batch, ..., features)",
                &[shape],
            ));
        };
        if num_groups == 0 || !c.is_multiple_of(num_groups) {
            return Err(Error::invalid_argument(
                "group_norm num_groups",
                format!("a divisor of the {c} features"),
                num_groups.to_string(),
            ));
        }
        let red = match opts.reduction_axes {
            Some(axes) => norm_axes("group_norm reduction_axes", axes, shape)?,
            None => (1..nd).collect(),
        };
        // Sorted, so the feature axis is the last one when present.
        let Some((&last, lead)) = red.split_last().filter(|(&l, _)| l == nd - 1) else {
            return Err(Error::invalid_argument(
                "group_norm reduction_axes",
                format!("axes including the feature axis {} (or -1)", nd - 1),
                format!("{:?}", opts.reduction_axes.unwrap_or(&[])),
            ));
        };
        let size = c / num_groups;
        let mut grouped = shape[..last].to_vec();
        grouped.extend([num_groups, size]);
        let mask =
            match opts.mask {
                Some(m) => {
                    let m = broadcast_mask("group_norm mask", m, shape)?;
                    Some(m.into_shape_with_order(IxDyn(&grouped)).map_err(|_| {
                        shape_error("group_norm mask", "the input's size", &[shape])
                    })?)
                }
                None => None,
            };
        // The other reduction axes of the grouped view, then the within-group axis.
        let lead: Vec<isize> = lead.iter().map(|&a| a as isize).collect();
        let mut red_grouped = lead.clone();
        red_grouped.push(nd as isize);
        let (mean, var) = self.reshape(&grouped)?.compute_stats_masked(
            &red_grouped,
            true,
            opts.use_fast_variance,
            mask.as_ref(),
        )?;
        self.normalize(
            &repeat_last(&mean, size),
            &repeat_last(&var, size),
            scale,
            bias,
            &lead,
            &[-1],
            opts.epsilon,
        )
    }

    /// `x` standardized to zero mean and unit variance over `axes`
    /// (`jax.nn.standardize` with its default "fast" variance):
    /// `(x - mean) / sqrt(max(mean(x²) - mean², 0) + epsilon)`; JAX's defaults
    /// are `axes = [-1]`, `epsilon = 1e-5`.
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr1(&[1.0f32, 3.0]));
    /// let y = x.standardize(&[-1], 0.0)?;
    /// assert_eq!(y.to_array(), ndarray::arr1(&[-1.0f32, 1.0]).into_dyn());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn standardize(&self, axes: &[isize], epsilon: E) -> Result<Tensor<E>> {
        let (mean, var) = self.compute_stats(axes, true, true)?;
        self.normalize(&mean, &var, None, None, axes, &[], epsilon)
    }
}

/// Each element of `t`'s last axis repeated `times` times in place
/// (`jnp.repeat(t, times, axis=-1)`); the rule sums each run back.
fn repeat_last<E: Element>(t: &Tensor<E>, times: usize) -> Tensor<E> {
    let shape = t.shape().to_vec();
    let mut out_shape = shape.clone();
    if let Some(last) = out_shape.last_mut() {
        *last *= times;
    }
    let src: ArrayViewD<'_, E> = t.data.view();
    let out = ArrayD::from_shape_fn(IxDyn(&out_shape), |mut ix| {
        let last = ix.ndim() - 1;
        ix[last] /= times;
        src[ix]
    });
    record("repeat", out.into(), [t], move |g, _| {
        let mut runs = shape.clone();
        runs.push(times);
        let summed = as_shape(g, &IxDyn(&runs)).sum_axis(ndarray::Axis(shape.len()));
        [Some(summed)]
    })
}

/// The options of [`Tensor::group_norm_with`] (Flax's `nnx.GroupNorm`
/// arguments beyond the groups, scale and bias), Flax's defaults by
/// [`Default`]: every axis but the first reduced, no mask, `epsilon = 1e-6`,
/// fast variance.
///
/// ```
/// let opts: nnx_tensor::GroupNormOptions = Default::default(); // f32
/// assert!(opts.reduction_axes.is_none() && opts.mask.is_none());
/// assert_eq!((opts.epsilon, opts.use_fast_variance), (1e-6, true));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct GroupNormOptions<'a, E: Element = f32> {
    /// Axes of the statistics, including the last; `None`: all but the first.
    pub reduction_axes: Option<&'a [isize]>,
    /// `true` where an element counts in the statistics (broadcastable to the input).
    pub mask: Option<&'a ArrayD<bool>>,
    /// Added to the variance.
    pub epsilon: E,
    /// One-pass variance (Flax's default) or two-pass.
    pub use_fast_variance: bool,
}

impl<E: Element> Default for GroupNormOptions<'_, E> {
    fn default() -> Self {
        GroupNormOptions {
            reduction_axes: None,
            mask: None,
            epsilon: lit::<E>(1e-6),
            use_fast_variance: true,
        }
    }
}
