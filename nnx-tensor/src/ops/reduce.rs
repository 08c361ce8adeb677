//! Reductions over axes and the normalized exponentials (softmax family).

use std::sync::Arc;

use ndarray::{ArrayD, Axis, Zip};
use nnx_core::Result;

use super::{norm_axes, norm_axis, record, unreduce};
use crate::element::{lit, ln, Element};
use crate::Tensor;

/// `f` folded over `axes` (ascending), optionally keeping them as size-1 axes.
fn fold_axes<E: Element>(
    x: &ArrayD<E>,
    axes: &[usize],
    keepdims: bool,
    f: impl Fn(ndarray::ArrayViewD<'_, E>, Axis) -> ArrayD<E>,
) -> ArrayD<E> {
    let mut out: Option<ArrayD<E>> = None;
    for &a in axes.iter().rev() {
        out = Some(match &out {
            None => f(x.view(), Axis(a)),
            Some(o) => f(o.view(), Axis(a)),
        });
    }
    let mut out = out.unwrap_or_else(|| x.clone());
    if keepdims {
        for &a in axes {
            out = out.insert_axis(Axis(a));
        }
    }
    out
}

fn sum_kernel<E: Element>(v: ndarray::ArrayViewD<'_, E>, a: Axis) -> ArrayD<E> {
    v.sum_axis(a)
}

/// `max` that propagates NaN, as `jnp.max` does.
fn nan_max<E: Element>(a: E, b: E) -> E {
    if a.is_nan() || b.is_nan() {
        E::nan()
    } else {
        a.max(b)
    }
}

fn max_kernel<E: Element>(v: ndarray::ArrayViewD<'_, E>, a: Axis) -> ArrayD<E> {
    v.fold_axis(a, E::neg_infinity(), |&m, &x| nan_max(m, x))
}

impl<E: Element> Tensor<E> {
    /// The sum over normalized `axes`.
    fn sum_over(&self, axes: Vec<usize>, keepdims: bool) -> Tensor<E> {
        let out = fold_axes(&self.data, &axes, keepdims, sum_kernel);
        let shape = self.shape().to_vec();
        record("sum", out.into(), [self], move |g, _| {
            [Some(unreduce(g, &shape, &axes))]
        })
    }

    /// The maximum over normalized `axes`.
    fn max_over(&self, axes: Vec<usize>, keepdims: bool) -> Tensor<E> {
        let out = Arc::new(fold_axes(&self.data, &axes, keepdims, max_kernel));
        let (x, y) = (Arc::clone(&self.data), Arc::clone(&out));
        record("max", out, [self], move |g, _| {
            let shape = x.shape().to_vec();
            let y = unreduce(&y, &shape, &axes);
            let hit = Zip::from(&*x)
                .and(&y)
                .map_collect(|&x, &y| if x == y { E::one() } else { E::zero() });
            let counts = unreduce(&fold_axes(&hit, &axes, false, sum_kernel), &shape, &axes);
            [Some(&(&hit * &unreduce(g, &shape, &axes)) / &counts)]
        })
    }

    /// The mean over normalized `axes`.
    fn mean_over(&self, axes: Vec<usize>, keepdims: bool) -> Tensor<E> {
        let count: usize = axes.iter().filter_map(|&a| self.shape().get(a)).product();
        self.sum_over(axes, keepdims) / lit::<E>(count as f64)
    }

    fn all_axes(&self) -> Vec<usize> {
        (0..self.ndim()).collect()
    }

    /// The sum over `axes` (negative counts from the end), keeping them as size-1
    /// axes with `keepdims` (`jnp.sum(x, axis, keepdims=)`).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::ones(&[2, 3]);
    /// assert_eq!(x.sum_axes(&[-1], true).unwrap().shape(), &[2, 1]);
    /// assert!(x.sum_axes(&[2], false).is_err());
    /// ```
    pub fn sum_axes(&self, axes: &[isize], keepdims: bool) -> Result<Tensor<E>> {
        Ok(self.sum_over(norm_axes("sum", axes, self.shape())?, keepdims))
    }

    /// The sum of all elements, a 0-d tensor.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::ones(&[2, 3]).sum().item().unwrap(), 6.0);
    /// ```
    pub fn sum(&self) -> Tensor<E> {
        self.sum_over(self.all_axes(), false)
    }

    /// The mean over `axes` (`jnp.mean(x, axis, keepdims=)`).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr2(&[[1.0f32, 3.0], [5.0, 7.0]]));
    /// assert_eq!(x.mean_axes(&[0], false).unwrap().to_array(), ndarray::arr1(&[3.0f32, 5.0]).into_dyn());
    /// ```
    pub fn mean_axes(&self, axes: &[isize], keepdims: bool) -> Result<Tensor<E>> {
        Ok(self.mean_over(norm_axes("mean", axes, self.shape())?, keepdims))
    }

    /// The mean of all elements, a 0-d tensor.
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr1(&[1.0f32, 2.0, 6.0]));
    /// assert_eq!(x.mean().item().unwrap(), 3.0);
    /// ```
    pub fn mean(&self) -> Tensor<E> {
        self.mean_over(self.all_axes(), false)
    }

    /// The maximum over `axes` (`jnp.max(x, axis, keepdims=)`). As in JAX, the
    /// gradient is shared equally among tied maxima.
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr2(&[[1.0f32, 3.0], [5.0, 2.0]]));
    /// assert_eq!(x.max_axes(&[1], false).unwrap().to_array(), ndarray::arr1(&[3.0f32, 5.0]).into_dyn());
    /// ```
    pub fn max_axes(&self, axes: &[isize], keepdims: bool) -> Result<Tensor<E>> {
        Ok(self.max_over(norm_axes("max", axes, self.shape())?, keepdims))
    }

    /// The maximum of all elements, a 0-d tensor (`-inf` for an empty tensor).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr1(&[1.0f32, 7.0, 6.0]));
    /// assert_eq!(x.max().item().unwrap(), 7.0);
    /// ```
    pub fn max(&self) -> Tensor<E> {
        self.max_over(self.all_axes(), false)
    }

    /// `log(sum(exp(x)))` over `axes`, computed stably by shifting by the maximum
    /// (`jax.nn.logsumexp`).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr1(&[1000.0f32, 1000.0]));
    /// let lse = x.logsumexp(&[0], false).unwrap().item().unwrap();
    /// assert!((lse - (1000.0 + 2f32.ln())).abs() < 1e-3);
    /// ```
    pub fn logsumexp(&self, axes: &[isize], keepdims: bool) -> Result<Tensor<E>> {
        let axes = norm_axes("logsumexp", axes, self.shape())?;
        let shape = self.shape().to_vec();
        let lse = lse_keepdims(&self.data, &axes);
        let out = if keepdims {
            lse.clone()
        } else {
            fold_axes(&lse, &axes, false, sum_kernel)
        };
        let x = Arc::clone(&self.data);
        Ok(record("logsumexp", out.into(), [self], move |g, _| {
            let g = unreduce(g, &shape, &axes);
            [Some(
                Zip::from(&g)
                    .and(&*x)
                    .and_broadcast(&lse)
                    .map_collect(|&g, &x, &l| g * (x - l).exp()),
            )]
        }))
    }

    /// `exp(x) / sum(exp(x))` along `axis`, computed stably (`jax.nn.softmax`).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr1(&[0.0f32, 0.0]));
    /// assert_eq!(x.softmax(-1).unwrap().to_array(), ndarray::arr1(&[0.5f32, 0.5]).into_dyn());
    /// ```
    pub fn softmax(&self, axis: isize) -> Result<Tensor<E>> {
        let axes = [norm_axis("softmax", axis, self.shape())?];
        let shifted = shift_by_max(&self.data, &axes);
        let e = shifted.mapv(E::exp);
        let total = fold_axes(&e, &axes, true, sum_kernel);
        let out = Arc::new(&e / &total);
        let s = Arc::clone(&out);
        Ok(record("softmax", out, [self], move |g, _| {
            let gs = &*s * g;
            let dot = fold_axes(&gs, &axes, true, sum_kernel);
            [Some(gs - &(&*s * &dot))]
        }))
    }

    /// `x - logsumexp(x)` along `axis` (`jax.nn.log_softmax`).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr1(&[0.0f32, 0.0]));
    /// let y = x.log_softmax(0).unwrap().to_array();
    /// assert!((y[[0]] + 2f32.ln()).abs() < 1e-7);
    /// ```
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor<E>> {
        let axes = [norm_axis("log_softmax", axis, self.shape())?];
        let shifted = shift_by_max(&self.data, &axes);
        let log_total = fold_axes(&shifted.mapv(E::exp), &axes, true, sum_kernel).mapv(ln);
        let out = Arc::new(&shifted - &log_total);
        let y = Arc::clone(&out);
        Ok(record("log_softmax", out, [self], move |g, _| {
            let total = fold_axes(g, &axes, true, sum_kernel);
            [Some(
                Zip::from(g)
                    .and(&*y)
                    .and_broadcast(&total)
                    .map_collect(|&g, &y, &t| g - y.exp() * t),
            )]
        }))
    }
}

/// `x` minus its maximum over `axes` (kept), the maximum taken as 0 where it is
/// not finite so that all `-inf` rows give NaN-free results, as JAX does.
fn shift_by_max<E: Element>(x: &ArrayD<E>, axes: &[usize]) -> ArrayD<E> {
    let m =
        fold_axes(x, axes, true, max_kernel)
            .mapv(|m| if m.is_finite() { m } else { lit::<E>(0.0) });
    x - &m
}

/// `logsumexp` over `axes` with the axes kept.
fn lse_keepdims<E: Element>(x: &ArrayD<E>, axes: &[usize]) -> ArrayD<E> {
    let m =
        fold_axes(x, axes, true, max_kernel)
            .mapv(|m| if m.is_finite() { m } else { lit::<E>(0.0) });
    let total = fold_axes(&(x - &m).mapv(E::exp), axes, true, sum_kernel);
    Zip::from(&total).and(&m).map_collect(|&t, &m| ln(t) + m)
}
