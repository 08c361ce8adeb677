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

/// `(mean, var)` of each row of `n` values (`x`'s reduced axes last), in `f64`.
/// Without `use_mean` the mean is 0 and `var = mean(x²)` (RMSNorm); with
/// `use_fast_variance`, `var = max(mean(x²) - mean², 0)` in one pass, else the
/// two-pass `mean((x - mean)²)`. Returns also whether each variance was clipped
/// at 0 (its gradient is then 0, as through `jnp.maximum`).
fn row_stats<E: Element>(row: &[E], use_mean: bool, fast: bool) -> (E, E, bool) {
    let nf = row.len() as f64;
    // Both sums in one pass, each accumulated in order from -0.0 as `Sum` does.
    let (sum, sum_sq) = row.iter().fold((-0.0f64, -0.0f64), |(s, q), &v| {
        let v = wide(v);
        (s + v, q + v * v)
    });
    let sq = sum_sq / nf;
    if !use_mean {
        return (lit::<E>(0.0), lit::<E>(sq), false);
    }
    let mu = sum / nf;
    let (var, clipped) = if fast {
        let raw = sq - mu * mu;
        (raw.max(0.0), raw < 0.0)
    } else {
        let v = row.iter().map(|&v| (wide(v) - mu).powi(2)).sum::<f64>() / nf;
        (v, false)
    };
    (lit::<E>(mu), lit::<E>(var), clipped)
}

/// `a` viewed (or copied, when not contiguous) under `shape` of the same size.
fn as_shape<'a, E: Element>(a: &'a ArrayD<E>, shape: &IxDyn) -> ndarray::CowArray<'a, E, IxDyn> {
    match a.to_shape(shape.clone()) {
        Ok(v) => v,
        // Sizes are checked by the callers; this branch is never taken.
        Err(_) => a.view().into(),
    }
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
        let axes = norm_axes("compute_stats", axes, self.shape())?;
        let shape = self.shape().to_vec();
        // Reduced axes last, so that each statistic is one contiguous row.
        let kept: Vec<usize> = (0..shape.len()).filter(|a| !axes.contains(a)).collect();
        let perm: Vec<usize> = kept.iter().chain(&axes).copied().collect();
        let out_shape: Vec<usize> = kept.iter().map(|&a| shape[a]).collect();
        let rows: usize = out_shape.iter().product();
        let n: usize = axes.iter().map(|&a| shape[a]).product();
        let xt = self.data.view().permuted_axes(IxDyn(&perm));
        let xt = xt.as_standard_layout();
        let flat = xt.as_slice().unwrap_or(&[]);
        let mut mean = Vec::with_capacity(rows);
        let mut var = Vec::with_capacity(rows);
        let mut clipped = Vec::with_capacity(rows);
        if n == 0 {
            // The mean of nothing is NaN, as jnp.mean's.
            mean.resize(rows, if use_mean { E::nan() } else { lit::<E>(0.0) });
            var.resize(rows, E::nan());
            clipped.resize(rows, false);
        } else {
            for row in flat.chunks_exact(n) {
                let (m, v, c) = row_stats(row, use_mean, use_fast_variance);
                mean.push(m);
                var.push(v);
                clipped.push(c);
            }
        }
        let build = |v: Vec<E>| {
            ArrayD::from_shape_vec(IxDyn(&out_shape), v)
                .map_err(|_| shape_error("compute_stats", "a consistent shape", &[&shape]))
        };
        let (mean, var) = (Arc::new(build(mean)?), build(var)?);
        let clipped = ArrayD::from_shape_vec(IxDyn(&out_shape), clipped)
            .map_err(|_| shape_error("compute_stats", "a consistent shape", &[&shape]))?;
        let kept_dims = kept_shape(&shape, &axes);
        let nf = lit::<E>(n as f64);

        let mean_t = if use_mean {
            let (shape, axes) = (shape.clone(), axes.clone());
            record(
                "compute_stats mean",
                Arc::clone(&mean),
                [self],
                move |g, _| [Some(unreduce(g, &shape, &axes) / nf)],
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
            let g = Zip::from(g).and(&clipped).map_collect(|&g, &c| {
                if c {
                    E::zero()
                } else {
                    lit::<E>(2.0) * g / nf
                }
            });
            let g = unreduce(&g, &shape, &axes);
            let mean = as_shape(&mean, &kept_dims);
            [Some(
                Zip::from(&g)
                    .and(&*x)
                    .and_broadcast(&mean)
                    .map_collect(|&g, &x, &m| g * (x - m)),
            )]
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
    /// one value per feature.
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
        let size = c / num_groups;
        let mut grouped = shape[..nd - 1].to_vec();
        grouped.extend([num_groups, size]);
        // The spatial axes of the grouped view, then the within-group axis.
        let mut red: Vec<isize> = (1..nd as isize - 1).collect();
        red.push(nd as isize);
        let (mean, var) = self
            .reshape(&grouped)?
            .compute_stats(&red, true, use_fast_variance)?;
        let spatial: Vec<isize> = (1..nd as isize - 1).collect();
        self.normalize(
            &repeat_last(&mean, size),
            &repeat_last(&var, size),
            scale,
            bias,
            &spatial,
            &[-1],
            epsilon,
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
