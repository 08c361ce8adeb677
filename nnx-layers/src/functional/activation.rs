//! Activation functions, as `jax.nn` (re-exported by `flax.nnx`) computes them.

use ndarray::{Array, ArrayBase, ArrayD, Axis, Data, Dimension, Zip};
use nnx_core::Result;

use super::{canon_axis, shape_err, Real};

fn lit<T: Real>(v: f64) -> T {
    T::from_f64(v)
}

macro_rules! elementwise {
    ($(#[$doc:meta])* $name:ident, |$x:ident| $body:expr) => {
        $(#[$doc])*
        pub fn $name<T: Real, S: Data<Elem = T>, D: Dimension>(x: &ArrayBase<S, D>) -> Array<T, D> {
            x.mapv(|$x: T| $body)
        }
    };
}

/// Stable `log(1 + exp(x))`, as `jnp.logaddexp(x, 0)`.
fn softplus_scalar<T: Real>(x: T) -> T {
    x.max(T::zero()) + (-x.abs()).exp().ln_1p()
}

/// Stable logistic, as `lax.logistic`.
fn sigmoid_scalar<T: Real>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

fn relu6_scalar<T: Real>(x: T) -> T {
    x.max(T::zero()).min(lit(6.0))
}

fn hard_sigmoid_scalar<T: Real>(x: T) -> T {
    relu6_scalar(x + lit(3.0)) / lit(6.0)
}

fn elu_scalar<T: Real>(x: T, alpha: T) -> T {
    if x > T::zero() {
        x
    } else {
        alpha * x.exp_m1()
    }
}

/// Complementary error function with fractional error below 1.2e-7 everywhere
/// (the Chebyshev fit of Numerical Recipes' `erfcc`), evaluated in `f64`.
///
/// Used directly rather than `1 - erf` so that `gelu` keeps its relative
/// accuracy for large negative inputs.
fn erfc_f64(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

elementwise!(
    /// `max(x, 0)`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::relu(&array![-1.0f32, 2.0]), array![0.0, 2.0]);
    /// ```
    relu, |x| x.max(T::zero())
);

elementwise!(
    /// `min(max(x, 0), 6)`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::relu6(&array![-1.0f32, 7.0]), array![0.0, 6.0]);
    /// ```
    relu6, |x| relu6_scalar(x)
);

elementwise!(
    /// Logistic sigmoid `1 / (1 + exp(-x))`, stable for large `|x|`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::sigmoid(&array![0.0f32]), array![0.5]);
    /// ```
    sigmoid, |x| sigmoid_scalar(x)
);

elementwise!(
    /// SiLU / swish: `x * sigmoid(x)`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::silu(&array![0.0f32]), array![0.0]);
    /// ```
    silu, |x| x * sigmoid_scalar(x)
);

elementwise!(
    /// Alias of [`silu`], as `jax.nn.swish`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::swish(&array![0.0f32]), array![0.0]);
    /// ```
    swish, |x| x * sigmoid_scalar(x)
);

elementwise!(
    /// `log(sigmoid(x))`, computed as `-softplus(-x)`.
    ///
    /// ```
    /// use ndarray::array;
    /// let y = nnx_layers::functional::log_sigmoid(&array![0.0f32]);
    /// assert!((y[0] + std::f32::consts::LN_2).abs() < 1e-7);
    /// ```
    log_sigmoid, |x| -softplus_scalar(-x)
);

elementwise!(
    /// Hyperbolic tangent.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::tanh(&array![0.0f32]), array![0.0]);
    /// ```
    tanh, |x| x.tanh()
);

elementwise!(
    /// `log(1 + exp(x))`, computed as `logaddexp(x, 0)` so it never overflows.
    ///
    /// ```
    /// use ndarray::array;
    /// let y = nnx_layers::functional::softplus(&array![1000.0f32]);
    /// assert_eq!(y[0], 1000.0);
    /// ```
    softplus, |x| softplus_scalar(x)
);

elementwise!(
    /// `x / (|x| + 1)`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::soft_sign(&array![1.0f32]), array![0.5]);
    /// ```
    soft_sign, |x| x / (x.abs() + T::one())
);

elementwise!(
    /// Scaled ELU with the fixed constants of `jax.nn.selu`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::selu(&array![0.0f32]), array![0.0]);
    /// ```
    selu, |x| lit::<T>(1.050_700_987_355_480_5) * elu_scalar(x, lit(1.673_263_242_354_377_3))
);

elementwise!(
    /// `relu6(x + 3) / 6`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::hard_sigmoid(&array![0.0f32]), array![0.5]);
    /// ```
    hard_sigmoid, |x| hard_sigmoid_scalar(x)
);

elementwise!(
    /// `x * hard_sigmoid(x)`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::hard_silu(&array![3.0f32]), array![3.0]);
    /// ```
    hard_silu, |x| x * hard_sigmoid_scalar(x)
);

elementwise!(
    /// Alias of [`hard_silu`], as `jax.nn.hard_swish`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::hard_swish(&array![-3.0f32]), array![0.0]);
    /// ```
    hard_swish, |x| x * hard_sigmoid_scalar(x)
);

elementwise!(
    /// `x` clipped to `[-1, 1]`.
    ///
    /// ```
    /// use ndarray::array;
    /// assert_eq!(nnx_layers::functional::hard_tanh(&array![-2.0f32, 0.5]), array![-1.0, 0.5]);
    /// ```
    hard_tanh, |x| x.max(-T::one()).min(T::one())
);

/// GELU; `approximate = true` is the tanh form, which is `jax.nn.gelu`'s and
/// `flax.nnx.gelu`'s default; `false` is the exact `x/2 * erfc(-x/sqrt(2))`.
///
/// ```
/// use ndarray::array;
/// use nnx_layers::functional::gelu;
/// let x = array![1.0f32];
/// assert!((gelu(&x, false)[0] - 0.841_344_7).abs() < 1e-6);
/// assert!((gelu(&x, true)[0] - 0.841_192).abs() < 1e-6);
/// ```
pub fn gelu<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    approximate: bool,
) -> Array<T, D> {
    if approximate {
        let c: T = lit((2.0 / std::f64::consts::PI).sqrt());
        x.mapv(|x| {
            let cdf =
                lit::<T>(0.5) * (T::one() + (c * (x + lit::<T>(0.044715) * x * x * x)).tanh());
            x * cdf
        })
    } else {
        x.mapv(|x| {
            let v = x.widen();
            T::from_f64(0.5 * v * erfc_f64(-v * std::f64::consts::FRAC_1_SQRT_2))
        })
    }
}

/// ELU: `x` if `x > 0`, else `alpha * (exp(x) - 1)` (`jax.nn.elu`, default alpha 1).
///
/// ```
/// use ndarray::array;
/// let y = nnx_layers::functional::elu(&array![1.0f32, 0.0], 1.0);
/// assert_eq!(y, array![1.0, 0.0]);
/// ```
pub fn elu<T: Real, S: Data<Elem = T>, D: Dimension>(x: &ArrayBase<S, D>, alpha: T) -> Array<T, D> {
    x.mapv(|x| elu_scalar(x, alpha))
}

/// Leaky ReLU: `x` if `x >= 0`, else `negative_slope * x` (jax's default slope is 0.01).
///
/// ```
/// use ndarray::array;
/// let y = nnx_layers::functional::leaky_relu(&array![-2.0f32, 3.0], 0.5);
/// assert_eq!(y, array![-1.0, 3.0]);
/// ```
pub fn leaky_relu<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    negative_slope: T,
) -> Array<T, D> {
    x.mapv(|x| {
        if x >= T::zero() {
            x
        } else {
            negative_slope * x
        }
    })
}

/// CELU: `max(x, 0) + alpha * expm1(min(x, 0) / alpha)` (jax's default alpha is 1).
///
/// ```
/// use ndarray::array;
/// let y = nnx_layers::functional::celu(&array![2.0f32, 0.0], 1.0);
/// assert_eq!(y, array![2.0, 0.0]);
/// ```
pub fn celu<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    alpha: T,
) -> Array<T, D> {
    x.mapv(|x| x.max(T::zero()) + alpha * (x.min(T::zero()) / alpha).exp_m1())
}

/// Softmax along `axis` (negative counts from the end), subtracting the max
/// first so it never overflows.
///
/// ```
/// use ndarray::array;
/// let p = nnx_layers::functional::softmax(&array![[0.0f32, 0.0]], -1)?;
/// assert_eq!(p, array![[0.5, 0.5]].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn softmax<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    axis: isize,
) -> Result<ArrayD<T>> {
    let mut out = x.to_owned().into_dyn();
    let ax = canon_axis("softmax axis", axis, out.ndim())?;
    softmax_lanes_in_place(&mut out, ax);
    Ok(out)
}

/// In-place softmax of every lane along `ax` (already canonical).
pub(crate) fn softmax_lanes_in_place<T: Real>(out: &mut ArrayD<T>, ax: usize) {
    for mut lane in out.lanes_mut(Axis(ax)) {
        let m = lane.fold(T::neg_infinity(), |a, &b| a.max(b));
        // All -inf lane: jax yields NaN too (exp(-inf - -inf)); keep that.
        lane.mapv_inplace(|v| (v - m).exp());
        let s = lane.sum();
        lane.mapv_inplace(|v| v / s);
    }
}

/// Log-softmax along `axis`: `x - max - log(sum(exp(x - max)))`.
///
/// ```
/// use ndarray::array;
/// let y = nnx_layers::functional::log_softmax(&array![0.0f32, 0.0], 0)?;
/// assert!((y[0] + std::f32::consts::LN_2).abs() < 1e-7);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn log_softmax<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    axis: isize,
) -> Result<ArrayD<T>> {
    let mut out = x.to_owned().into_dyn();
    let ax = canon_axis("log_softmax axis", axis, out.ndim())?;
    for mut lane in out.lanes_mut(Axis(ax)) {
        let m = lane.fold(T::neg_infinity(), |a, &b| a.max(b));
        lane.mapv_inplace(|v| v - m);
        let lse = lane.fold(T::zero(), |a, &b| a + b.exp()).ln();
        lane.mapv_inplace(|v| v - lse);
    }
    Ok(out)
}

/// Gated linear unit: splits `x` in two halves `a, b` along `axis` and returns
/// `a * sigmoid(b)`; the axis must have even size.
///
/// ```
/// use ndarray::array;
/// let y = nnx_layers::functional::glu(&array![[2.0f32, 0.0]], -1)?;
/// assert_eq!(y, array![[1.0]].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn glu<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    axis: isize,
) -> Result<ArrayD<T>> {
    let x = x.view().into_dyn();
    let ax = canon_axis("glu axis", axis, x.ndim())?;
    let n = x.len_of(Axis(ax));
    if !n.is_multiple_of(2) {
        return Err(shape_err(
            "glu x",
            format!("an even size along axis {axis}"),
            x.shape(),
        ));
    }
    let (a, b) = x.split_at(Axis(ax), n / 2);
    Ok(Zip::from(&a)
        .and(&b)
        .map_collect(|&a, &b| a * sigmoid_scalar(b)))
}

/// Standardizes `x` to zero mean and unit variance over `axes`, as
/// `jax.nn.standardize` with its default `algorithm="fast"`:
/// `(x - mean) / sqrt(max(mean(x^2) - mean^2, 0) + epsilon)` (jax's default
/// epsilon is `1e-5`, axis `-1`).
///
/// ```
/// use ndarray::array;
/// let y = nnx_layers::functional::standardize(&array![1.0f32, 3.0], &[-1], 0.0)?;
/// assert_eq!(y, array![-1.0, 1.0].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn standardize<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    axes: &[isize],
    epsilon: T,
) -> Result<ArrayD<T>> {
    let x = x.view().into_dyn();
    let (mean, var) = super::compute_stats(&x, axes, true, true)?;
    let axes_c = super::canon_axes("standardize axes", axes, x.ndim())?;
    let mut kshape = x.shape().to_vec();
    for &a in &axes_c {
        kshape[a] = 1;
    }
    let mean = mean
        .into_shape_with_order(kshape.clone())
        .map_err(|_| shape_err("standardize mean", shape_str_owned(&kshape), x.shape()))?;
    let var = var
        .into_shape_with_order(kshape.clone())
        .map_err(|_| shape_err("standardize var", shape_str_owned(&kshape), x.shape()))?;
    let mul = var.mapv(|v| T::one() / (v + epsilon).sqrt());
    Ok((&x - &mean) * &mul)
}

fn shape_str_owned(s: &[usize]) -> String {
    super::fmt_tuple_usize(s)
}

/// One-hot encodes integer `indices` into `num_classes` classes, inserting the
/// class axis at `axis` of the output (`-1`: last). Out-of-range (including
/// negative) indices give all-zero rows, as in `jax.nn.one_hot`.
///
/// ```
/// use ndarray::array;
/// let y = nnx_layers::functional::one_hot::<f32, _, _>(&array![0i64, 2, 5], 3, -1)?;
/// assert_eq!(y, array![[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn one_hot<T: Real, S: Data<Elem = i64>, D: Dimension>(
    indices: &ArrayBase<S, D>,
    num_classes: usize,
    axis: isize,
) -> Result<ArrayD<T>> {
    let ndim = indices.ndim();
    let ax = canon_axis("one_hot axis", axis, ndim + 1)?;
    let mut shape = indices.shape().to_vec();
    shape.insert(ax, num_classes);
    let idx = indices.view().into_dyn();
    Ok(ArrayD::from_shape_fn(shape, |ix| {
        let ix = ix.slice();
        let class = ix[ax] as i64;
        let rest: Vec<usize> = ix
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != ax)
            .map(|(_, &v)| v)
            .collect();
        if idx[rest.as_slice()] == class {
            T::one()
        } else {
            T::zero()
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use nnx_core::Error;

    #[test]
    fn hand_values() {
        let x = array![-2.0f64, -0.5, 0.0, 0.5, 2.0];
        assert_eq!(relu(&x), array![0.0, 0.0, 0.0, 0.5, 2.0]);
        assert_eq!(hard_tanh(&x), array![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(leaky_relu(&x, 0.1), array![-0.2, -0.05, 0.0, 0.5, 2.0]);
        let s = sigmoid(&x);
        assert!((s[4] - 1.0 / (1.0 + (-2.0f64).exp())).abs() < 1e-15);
        assert!((s[0] + s[4] - 1.0).abs() < 1e-15);
        assert_eq!(hard_sigmoid(&array![-3.0f64, 3.0]), array![0.0, 1.0]);
    }

    #[test]
    fn erfc_is_accurate() {
        // erfc(1) and erfc(-2), to 1.2e-7 relative.
        assert!((erfc_f64(1.0) / 0.157_299_207_050_285_13 - 1.0).abs() < 1.2e-7);
        assert!((erfc_f64(-2.0) / 1.995_322_265_018_952_7 - 1.0).abs() < 1.2e-7);
        assert!((erfc_f64(3.0) / 2.209_049_699_858_544e-5 - 1.0).abs() < 1.2e-7);
    }

    #[test]
    fn softmax_is_stable() -> Result<()> {
        let p = softmax(&array![1000.0f32, 1000.0], 0)?;
        assert_eq!(p, array![0.5, 0.5].into_dyn());
        let l = log_softmax(&array![1000.0f32, 1000.0], 0)?;
        assert!((l[0] + std::f32::consts::LN_2).abs() < 1e-6);
        assert_eq!(softplus(&array![-1000.0f32])[0], 0.0);
        Ok(())
    }

    #[test]
    fn axis_errors() {
        let x = array![[1.0f32, 2.0, 3.0]];
        assert!(matches!(softmax(&x, 2), Err(Error::InvalidArgument { .. })));
        assert!(log_softmax(&x, -3).is_err());
        assert!(matches!(glu(&x, -1), Err(Error::ShapeMismatch { .. })));
        assert!(glu(&x, 5).is_err());
        assert!(standardize(&x, &[2], 1e-5).is_err());
        assert!(one_hot::<f32, _, _>(&array![1i64], 3, 2).is_err());
    }

    #[test]
    fn glu_error_message_names_shape() {
        let err = glu(&array![[1.0f32, 2.0, 3.0]], -1)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("shape mismatch at glu x: expected an even size along axis -1, found (1, 3)")
        );
    }

    #[test]
    fn one_hot_axis_zero() -> Result<()> {
        let y = one_hot::<f32, _, _>(&array![1i64, 0], 2, 0)?;
        assert_eq!(y, array![[0.0, 1.0], [1.0, 0.0]].into_dyn());
        Ok(())
    }
}
