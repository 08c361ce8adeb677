//! Elementwise functions of one tensor.

use std::sync::Arc;

use ndarray::{ArrayBase, ArrayD, Axis, Data, Dimension, IxDyn, Zip};
use nnx_core::Result;

use super::{norm_axis, record, shape_error, sum_to_shape};
use crate::element::{lit, ln, sqrt, wide, Element};
use crate::Tensor;

/// `f` applied elementwise, with the derivative `df(x, y)` of `y = f(x)`: the
/// rule is `g * df(x, y)`, keeping the input and output buffers (no copies).
pub(crate) fn elementwise<E: Element, F, D>(
    op: &'static str,
    x: &Tensor<E>,
    f: F,
    df: D,
) -> Tensor<E>
where
    F: Fn(E) -> E,
    D: Fn(E, E) -> E + 'static,
{
    let out = Arc::new(x.data.mapv(f));
    let (xs, ys) = (Arc::clone(&x.data), Arc::clone(&out));
    record(op, out, [x], move |g, _| {
        [Some(
            Zip::from(g)
                .and(&*xs)
                .and(&*ys)
                .map_collect(|&g, &x, &y| g * df(x, y)),
        )]
    })
}

/// `sqrt(2 / pi)`, the constant of the tanh approximation of gelu.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of gelu.
const GELU_CUBIC: f64 = 0.044_715;
/// `jax.nn.selu`'s scale and alpha.
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;

/// The complementary error function to about 1.2e-7 relative everywhere (the
/// Chebyshev fit of Numerical Recipes' `erfcc`), in `f64`. Used directly rather
/// than `1 - erf` so that exact gelu keeps its relative accuracy for large
/// negative inputs.
fn erfc(x: f64) -> f64 {
    const C: [f64; 10] = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ];
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = C.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let r = t * (poly - z * z).exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// The standard normal CDF and density at `x`, the CDF to the precision of `E`
/// (the f32 series above, or nnx-core's double-precision `erf`).
fn normal_cdf_pdf<E: Element>(x: f64) -> (f64, f64) {
    let z = x * std::f64::consts::FRAC_1_SQRT_2;
    let cdf = if E::DTYPE == nnx_core::value::DType::F64 {
        0.5 * (1.0 + <f64 as nnx_core::random::Float>::erf(z))
    } else {
        0.5 * erfc(-z)
    };
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (cdf, pdf)
}

/// `sigmoid(x)` without overflow for large `|x|`.
fn sigmoid<E: Element>(x: E) -> E {
    if x >= lit::<E>(0.0) {
        lit::<E>(1.0) / (lit::<E>(1.0) + (-x).exp())
    } else {
        let e = x.exp();
        e / (lit::<E>(1.0) + e)
    }
}

/// `log(1 + e^x)` as `max(x, 0) + log1p(e^-|x|)`, which never overflows.
fn softplus<E: Element>(x: E) -> E {
    x.max(lit::<E>(0.0)) + (-x.abs()).exp().ln_1p()
}

/// `relu6(x + 3) / 6` and its derivative (0 outside `(-3, 3)`, as JAX's relu6
/// rule at its kinks).
fn hard_sigmoid<E: Element>(x: E) -> (E, E) {
    let u = x + lit::<E>(3.0);
    let d = if u > lit::<E>(0.0) && u < lit::<E>(6.0) {
        lit::<E>(1.0) / lit::<E>(6.0)
    } else {
        lit::<E>(0.0)
    };
    (u.clamp(lit::<E>(0.0), lit::<E>(6.0)) / lit::<E>(6.0), d)
}

/// `x` if `x > 0`, else `alpha * (e^x - 1)`.
fn elu<E: Element>(x: E, alpha: E) -> E {
    if x > lit::<E>(0.0) {
        x
    } else {
        alpha * x.exp_m1()
    }
}

/// The derivative of [`elu`]: at 0 it is `alpha`, as JAX's.
fn elu_grad<E: Element>(x: E, alpha: E) -> E {
    if x > lit::<E>(0.0) {
        lit::<E>(1.0)
    } else {
        alpha * x.exp()
    }
}

impl<E: Element> Tensor<E> {
    /// `e^x` elementwise.
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::scalar(0.0).exp();
    /// assert_eq!(t.item().unwrap(), 1.0);
    /// ```
    pub fn exp(&self) -> Tensor<E> {
        elementwise("exp", self, E::exp, |_, y| y)
    }

    /// Natural logarithm elementwise (`-inf` at 0, NaN below, as in JAX).
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::scalar(1.0).log();
    /// assert_eq!(t.item().unwrap(), 0.0);
    /// ```
    pub fn log(&self) -> Tensor<E> {
        elementwise("log", self, ln, |x, _| lit::<E>(1.0) / x)
    }

    /// Square root elementwise.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(9.0).sqrt().item().unwrap(), 3.0);
    /// ```
    pub fn sqrt(&self) -> Tensor<E> {
        elementwise("sqrt", self, sqrt, |_, y| lit::<E>(0.5) / y)
    }

    /// `x²` elementwise.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(-3.0).square().item().unwrap(), 9.0);
    /// ```
    pub fn square(&self) -> Tensor<E> {
        elementwise("square", self, |x| x * x, |x, _| lit::<E>(2.0) * x)
    }

    /// `|x|` elementwise; its gradient at 0 is 1, as JAX's.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(-3.0).abs().item().unwrap(), 3.0);
    /// ```
    pub fn abs(&self) -> Tensor<E> {
        elementwise("abs", self, E::abs, |x, _| {
            if x >= lit::<E>(0.0) {
                lit::<E>(1.0)
            } else {
                lit::<E>(-1.0)
            }
        })
    }

    /// `tanh` elementwise.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(0.0).tanh().item().unwrap(), 0.0);
    /// ```
    pub fn tanh(&self) -> Tensor<E> {
        elementwise("tanh", self, E::tanh, |_, y| lit::<E>(1.0) - y * y)
    }

    /// The logistic function `1 / (1 + e^-x)` (`jax.nn.sigmoid`).
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(0.0).sigmoid().item().unwrap(), 0.5);
    /// ```
    pub fn sigmoid(&self) -> Tensor<E> {
        elementwise("sigmoid", self, sigmoid, |_, y| y * (lit::<E>(1.0) - y))
    }

    /// `log(1 + e^x)`, computed without overflow (`jax.nn.softplus`); its
    /// derivative is `sigmoid(x)`.
    ///
    /// ```
    /// let y = nnx_tensor::Tensor::from(ndarray::arr1(&[0.0f32, 100.0])).softplus();
    /// assert_eq!(y.to_array(), ndarray::arr1(&[2f32.ln(), 100.0]).into_dyn());
    /// ```
    pub fn softplus(&self) -> Tensor<E> {
        elementwise("softplus", self, softplus, |x, _| sigmoid(x))
    }

    /// `log(sigmoid(x)) = -softplus(-x)` (`jax.nn.log_sigmoid`), stable for
    /// large `|x|`, as sigmoid binary cross-entropy needs.
    ///
    /// ```
    /// let y = nnx_tensor::Tensor::from(ndarray::arr1(&[0.0f32, -100.0])).log_sigmoid();
    /// assert_eq!(y.to_array(), ndarray::arr1(&[-(2f32.ln()), -100.0]).into_dyn());
    /// ```
    pub fn log_sigmoid(&self) -> Tensor<E> {
        elementwise("log_sigmoid", self, |x| -softplus(-x), |x, _| sigmoid(-x))
    }

    /// `max(x, 0)`; its gradient at 0 is 0, as `jax.nn.relu`'s.
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::from(ndarray::arr1(&[-1.0f32, 2.0])).relu();
    /// assert_eq!(t.to_array(), ndarray::arr1(&[0.0f32, 2.0]).into_dyn());
    /// ```
    pub fn relu(&self) -> Tensor<E> {
        elementwise(
            "relu",
            self,
            |x| x.max(lit::<E>(0.0)),
            |x, _| {
                if x > lit::<E>(0.0) {
                    lit::<E>(1.0)
                } else {
                    lit::<E>(0.0)
                }
            },
        )
    }

    /// `x * sigmoid(x)` (`jax.nn.silu`, also called swish).
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(0.0).silu().item().unwrap(), 0.0);
    /// ```
    pub fn silu(&self) -> Tensor<E> {
        elementwise(
            "silu",
            self,
            |x| x * sigmoid(x),
            |x, _| {
                let s = sigmoid(x);
                s * (lit::<E>(1.0) + x * (lit::<E>(1.0) - s))
            },
        )
    }

    /// The Gaussian error linear unit (`jax.nn.gelu`): with `approximate` the tanh
    /// form `x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x³)))` (Flax's default), else
    /// the exact `x Φ(x)`.
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::scalar(1.0);
    /// assert!((x.gelu(false).item().unwrap() - 0.841_344_7).abs() < 1e-6);
    /// assert!((x.gelu(true).item().unwrap() - 0.841_192).abs() < 1e-6);
    /// ```
    pub fn gelu(&self, approximate: bool) -> Tensor<E> {
        if approximate {
            // The value in E, as JAX computes it for inputs of that dtype.
            let (c, k) = (lit::<E>(SQRT_2_OVER_PI), lit::<E>(GELU_CUBIC));
            elementwise(
                "gelu",
                self,
                move |x| x * (lit::<E>(0.5) * (lit::<E>(1.0) + (c * (x + k * x * x * x)).tanh())),
                move |x, _| {
                    let x = wide(x);
                    let t = (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh();
                    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
                    lit::<E>(0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)
                },
            )
        } else {
            elementwise(
                "gelu",
                self,
                |x| {
                    let x = wide(x);
                    lit::<E>(x * normal_cdf_pdf::<E>(x).0)
                },
                |x, _| {
                    let x = wide(x);
                    let (cdf, pdf) = normal_cdf_pdf::<E>(x);
                    lit::<E>(cdf + x * pdf)
                },
            )
        }
    }

    /// `min(max(x, 0), 6)` (`jax.nn.relu6`); its gradient is 0 at 0 and at 6, as JAX's.
    ///
    /// ```
    /// let y = nnx_tensor::Tensor::from(ndarray::arr1(&[-1.0f32, 7.0])).relu6();
    /// assert_eq!(y.to_array(), ndarray::arr1(&[0.0f32, 6.0]).into_dyn());
    /// ```
    pub fn relu6(&self) -> Tensor<E> {
        elementwise(
            "relu6",
            self,
            |x| x.clamp(E::zero(), lit::<E>(6.0)),
            |x, _| {
                if x > lit::<E>(0.0) && x < lit::<E>(6.0) {
                    lit::<E>(1.0)
                } else {
                    lit::<E>(0.0)
                }
            },
        )
    }

    /// `x` if `x > 0`, else `alpha * (e^x - 1)` (`jax.nn.elu`, default `alpha = 1`).
    ///
    /// ```
    /// let y = nnx_tensor::Tensor::from(ndarray::arr1(&[1.0f32, 0.0])).elu(1.0);
    /// assert_eq!(y.to_array(), ndarray::arr1(&[1.0f32, 0.0]).into_dyn());
    /// ```
    pub fn elu(&self, alpha: E) -> Tensor<E> {
        elementwise(
            "elu",
            self,
            move |x| elu(x, alpha),
            move |x, _| elu_grad(x, alpha),
        )
    }

    /// `max(x, 0) + alpha * (e^(min(x, 0) / alpha) - 1)` (`jax.nn.celu`, default
    /// `alpha = 1`).
    ///
    /// ```
    /// let y = nnx_tensor::Tensor::from(ndarray::arr1(&[2.0f32, 0.0])).celu(1.0);
    /// assert_eq!(y.to_array(), ndarray::arr1(&[2.0f32, 0.0]).into_dyn());
    /// ```
    pub fn celu(&self, alpha: E) -> Tensor<E> {
        elementwise(
            "celu",
            self,
            move |x| x.max(lit::<E>(0.0)) + alpha * (x.min(lit::<E>(0.0)) / alpha).exp_m1(),
            // At 0, JAX's max and min each pass half: 1/2 + 1/2 · e^0 = 1.
            move |x, _| {
                if x >= lit::<E>(0.0) {
                    lit::<E>(1.0)
                } else {
                    (x / alpha).exp()
                }
            },
        )
    }

    /// The scaled ELU of `jax.nn.selu`: `1.0507… * elu(x, 1.6732…)`.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(0.0).selu().item().unwrap(), 0.0);
    /// ```
    pub fn selu(&self) -> Tensor<E> {
        elementwise(
            "selu",
            self,
            |x| lit::<E>(SELU_SCALE) * elu(x, lit::<E>(SELU_ALPHA)),
            |x, _| lit::<E>(SELU_SCALE) * elu_grad(x, lit::<E>(SELU_ALPHA)),
        )
    }

    /// `x` if `x >= 0`, else `negative_slope * x` (`jax.nn.leaky_relu`, default
    /// slope `0.01`); its gradient at 0 is 1, as JAX's.
    ///
    /// ```
    /// let y = nnx_tensor::Tensor::from(ndarray::arr1(&[-2.0f32, 3.0])).leaky_relu(0.5);
    /// assert_eq!(y.to_array(), ndarray::arr1(&[-1.0f32, 3.0]).into_dyn());
    /// ```
    pub fn leaky_relu(&self, negative_slope: E) -> Tensor<E> {
        elementwise(
            "leaky_relu",
            self,
            move |x| {
                if x >= lit::<E>(0.0) {
                    x
                } else {
                    negative_slope * x
                }
            },
            move |x, _| {
                if x >= lit::<E>(0.0) {
                    lit::<E>(1.0)
                } else {
                    negative_slope
                }
            },
        )
    }

    /// [`leaky_relu`](Tensor::leaky_relu) with a differentiable slope (Flax's
    /// `PReLU`: `where(x >= 0, x, negative_slope * x)`); `negative_slope` (a
    /// scalar in Flax) broadcasts to `self`'s shape.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let y = Tensor::from(ndarray::arr1(&[-2.0f32, 3.0])).prelu(&Tensor::scalar(0.5))?;
    /// assert_eq!(y.to_array(), ndarray::arr1(&[-1.0f32, 3.0]).into_dyn());
    /// assert!(Tensor::ones(&[2]).prelu(&Tensor::ones(&[3])).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn prelu(&self, negative_slope: &Tensor<E>) -> Result<Tensor<E>> {
        let slope = negative_slope
            .data
            .broadcast(self.data.raw_dim())
            .ok_or_else(|| {
                shape_error(
                    "prelu",
                    "a negative_slope that broadcasts to the input",
                    &[self.shape(), negative_slope.shape()],
                )
            })?;
        let leaky = |x: E, s: E| if x >= lit::<E>(0.0) { x } else { s * x };
        // Flax's slope is a scalar: a plain map is 4x faster than a broadcast zip.
        let out = match negative_slope.data.as_slice() {
            Some(&[s]) => self.data.mapv(|x| leaky(x, s)),
            _ => Zip::from(&*self.data)
                .and(&slope)
                .map_collect(|&x, &s| leaky(x, s)),
        };
        let (x, s) = (Arc::clone(&self.data), Arc::clone(&negative_slope.data));
        let slope_shape = negative_slope.shape().to_vec();
        Ok(record(
            "prelu",
            out.into(),
            [self, negative_slope],
            move |g, [nx, ns]| {
                let dx = nx.then(|| {
                    Zip::from(g)
                        .and(&*x)
                        .and_broadcast(&*s)
                        .map_collect(|&g, &x, &s| if x >= lit::<E>(0.0) { g } else { g * s })
                });
                let ds = ns.then(|| {
                    let t = Zip::from(g).and(&*x).map_collect(|&g, &x| {
                        if x >= lit::<E>(0.0) {
                            lit::<E>(0.0)
                        } else {
                            g * x
                        }
                    });
                    sum_to_shape(t, &slope_shape)
                });
                [dx, ds]
            },
        ))
    }

    /// `x` clipped to `[-1, 1]` (`jax.nn.hard_tanh`); its gradient is 1 on the
    /// closed interval, as JAX's.
    ///
    /// ```
    /// let y = nnx_tensor::Tensor::from(ndarray::arr1(&[-2.0f32, 0.5])).hard_tanh();
    /// assert_eq!(y.to_array(), ndarray::arr1(&[-1.0f32, 0.5]).into_dyn());
    /// ```
    pub fn hard_tanh(&self) -> Tensor<E> {
        elementwise(
            "hard_tanh",
            self,
            |x| x.clamp(-E::one(), E::one()),
            |x, _| {
                if (-E::one()..=E::one()).contains(&x) {
                    lit::<E>(1.0)
                } else {
                    lit::<E>(0.0)
                }
            },
        )
    }

    /// `relu6(x + 3) / 6` (`jax.nn.hard_sigmoid`).
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(0.0).hard_sigmoid().item().unwrap(), 0.5);
    /// ```
    pub fn hard_sigmoid(&self) -> Tensor<E> {
        elementwise(
            "hard_sigmoid",
            self,
            |x| hard_sigmoid(x).0,
            |x, _| hard_sigmoid(x).1,
        )
    }

    /// `x * hard_sigmoid(x)` (`jax.nn.hard_silu`, also called hard swish).
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(3.0).hard_silu().item().unwrap(), 3.0);
    /// ```
    pub fn hard_silu(&self) -> Tensor<E> {
        elementwise(
            "hard_silu",
            self,
            |x| x * hard_sigmoid(x).0,
            |x, _| {
                let (h, d) = hard_sigmoid(x);
                h + x * d
            },
        )
    }

    /// `x / (|x| + 1)` (`jax.nn.soft_sign`).
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(1.0).soft_sign().item().unwrap(), 0.5);
    /// ```
    pub fn soft_sign(&self) -> Tensor<E> {
        elementwise(
            "soft_sign",
            self,
            |x| x / (x.abs() + lit::<E>(1.0)),
            |x, _| {
                let d = x.abs() + lit::<E>(1.0);
                lit::<E>(1.0) / (d * d)
            },
        )
    }

    /// The gated linear unit (`jax.nn.glu`): `self` split in two halves `a, b`
    /// along `axis` (of even size), `a * sigmoid(b)`.
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr2(&[[2.0f32, 0.0]]));
    /// assert_eq!(x.glu(-1)?.to_array(), ndarray::arr2(&[[1.0f32]]).into_dyn());
    /// assert!(nnx_tensor::Tensor::ones(&[3]).glu(0).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn glu(&self, axis: isize) -> Result<Tensor<E>> {
        let ax = Axis(norm_axis("glu", axis, self.shape())?);
        let n = self.data.len_of(ax);
        if !n.is_multiple_of(2) {
            return Err(shape_error(
                "glu",
                format!("an even size along axis {axis}"),
                &[self.shape()],
            ));
        }
        let (a, b) = self.data.view().split_at(ax, n / 2);
        let out = Zip::from(&a).and(&b).map_collect(|&a, &b| a * sigmoid(b));
        let x = Arc::clone(&self.data);
        Ok(record("glu", out.into(), [self], move |g, _| {
            let (a, b) = x.view().split_at(ax, n / 2);
            let mut dx = ArrayD::zeros(x.raw_dim());
            let (mut da, mut db) = dx.view_mut().split_at(ax, n / 2);
            Zip::from(&mut da)
                .and(&mut db)
                .and(g)
                .and(&a)
                .and(&b)
                .for_each(|da, db, &g, &a, &b| {
                    let s = sigmoid(b);
                    *da = g * s;
                    *db = g * a * s * (lit::<E>(1.0) - s);
                });
            [Some(dx)]
        }))
    }
}

impl Tensor {
    /// The one-hot encoding of integer `indices` into `num_classes` classes, the
    /// class axis inserted at `axis` of the result (`-1`: last), as
    /// `jax.nn.one_hot`: out-of-range indices (negative ones too) give all-zero
    /// rows. A constant (indices have no gradient). An `f32` tensor (the
    /// constructors naming no element type build `f32`); convert the array for
    /// `f64`.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let y = Tensor::one_hot(&ndarray::arr1(&[0i64, 2, 5]), 3, -1)?;
    /// assert_eq!(
    ///     y.to_array(),
    ///     ndarray::arr2(&[[1.0f32, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]).into_dyn()
    /// );
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn one_hot<A, S, D>(
        indices: &ArrayBase<S, D>,
        num_classes: usize,
        axis: isize,
    ) -> Result<Tensor>
    where
        A: Copy + TryInto<i64>,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let mut shape = indices.shape().to_vec();
        shape.push(num_classes);
        let ax = norm_axis("one_hot", axis, &shape)?;
        // Built with the class axis last, then moved to `ax`.
        let mut out = ArrayD::<f32>::zeros(IxDyn(&shape));
        for (mut row, &i) in out.rows_mut().into_iter().zip(indices.iter()) {
            let class = i.try_into().ok().and_then(|c| usize::try_from(c).ok());
            if let Some(v) = class.and_then(|c| row.get_mut(c)) {
                *v = 1.0;
            }
        }
        let mut perm: Vec<usize> = (0..shape.len() - 1).collect();
        perm.insert(ax, shape.len() - 1);
        let out = out.permuted_axes(IxDyn(&perm));
        Ok(Tensor::from_array(out.as_standard_layout().into_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::erfc;

    #[test]
    fn erfc_is_accurate() {
        // erfc(1), erfc(-2) and erfc(3), to 1.2e-7 relative.
        assert!((erfc(1.0) / 0.157_299_207_050_285_13 - 1.0).abs() < 1.2e-7);
        assert!((erfc(-2.0) / 1.995_322_265_018_952_7 - 1.0).abs() < 1.2e-7);
        assert!((erfc(3.0) / 2.209_049_699_858_544e-5 - 1.0).abs() < 1.2e-7);
    }
}
