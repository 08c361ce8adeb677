//! Elementwise functions of one tensor.

use std::sync::Arc;

use ndarray::Zip;

use super::record;
use crate::Tensor;

/// `f` applied elementwise, with the derivative `df(x, y)` of `y = f(x)`: the
/// rule is `g * df(x, y)`, keeping the input and output buffers (no copies).
pub(crate) fn elementwise<F, D>(op: &'static str, x: &Tensor, f: F, df: D) -> Tensor
where
    F: Fn(f32) -> f32,
    D: Fn(f32, f32) -> f32 + 'static,
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

/// The complementary error function to about 1e-7 relative (the Chebyshev fit
/// of Numerical Recipes' `erfcc`), in `f64`. nnx-layers' activation kernels
/// carry the same function until they move into this crate.
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

/// The standard normal CDF and density at `x`.
fn normal_cdf_pdf(x: f64) -> (f64, f64) {
    let cdf = 0.5 * erfc(-x * std::f64::consts::FRAC_1_SQRT_2);
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (cdf, pdf)
}

/// `sigmoid(x)` without overflow for large `|x|`.
fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `log(1 + e^x)` as `max(x, 0) + log1p(e^-|x|)`, which never overflows.
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

impl Tensor {
    /// `e^x` elementwise.
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::scalar(0.0).exp();
    /// assert_eq!(t.item().unwrap(), 1.0);
    /// ```
    pub fn exp(&self) -> Tensor {
        elementwise("exp", self, f32::exp, |_, y| y)
    }

    /// Natural logarithm elementwise (`-inf` at 0, NaN below, as in JAX).
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::scalar(1.0).log();
    /// assert_eq!(t.item().unwrap(), 0.0);
    /// ```
    pub fn log(&self) -> Tensor {
        elementwise("log", self, f32::ln, |x, _| 1.0 / x)
    }

    /// Square root elementwise.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(9.0).sqrt().item().unwrap(), 3.0);
    /// ```
    pub fn sqrt(&self) -> Tensor {
        elementwise("sqrt", self, f32::sqrt, |_, y| 0.5 / y)
    }

    /// `x²` elementwise.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(-3.0).square().item().unwrap(), 9.0);
    /// ```
    pub fn square(&self) -> Tensor {
        elementwise("square", self, |x| x * x, |x, _| 2.0 * x)
    }

    /// `|x|` elementwise; its gradient at 0 is 1, as JAX's.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(-3.0).abs().item().unwrap(), 3.0);
    /// ```
    pub fn abs(&self) -> Tensor {
        elementwise(
            "abs",
            self,
            f32::abs,
            |x, _| if x >= 0.0 { 1.0 } else { -1.0 },
        )
    }

    /// `tanh` elementwise.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(0.0).tanh().item().unwrap(), 0.0);
    /// ```
    pub fn tanh(&self) -> Tensor {
        elementwise("tanh", self, f32::tanh, |_, y| 1.0 - y * y)
    }

    /// The logistic function `1 / (1 + e^-x)` (`jax.nn.sigmoid`).
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(0.0).sigmoid().item().unwrap(), 0.5);
    /// ```
    pub fn sigmoid(&self) -> Tensor {
        elementwise("sigmoid", self, sigmoid, |_, y| y * (1.0 - y))
    }

    /// `log(1 + e^x)`, computed without overflow (`jax.nn.softplus`); its
    /// derivative is `sigmoid(x)`.
    ///
    /// ```
    /// let y = nnx_tensor::Tensor::from(ndarray::arr1(&[0.0f32, 100.0])).softplus();
    /// assert_eq!(y.to_array(), ndarray::arr1(&[2f32.ln(), 100.0]).into_dyn());
    /// ```
    pub fn softplus(&self) -> Tensor {
        elementwise("softplus", self, softplus, |x, _| sigmoid(x))
    }

    /// `log(sigmoid(x)) = -softplus(-x)` (`jax.nn.log_sigmoid`), stable for
    /// large `|x|`, as sigmoid binary cross-entropy needs.
    ///
    /// ```
    /// let y = nnx_tensor::Tensor::from(ndarray::arr1(&[0.0f32, -100.0])).log_sigmoid();
    /// assert_eq!(y.to_array(), ndarray::arr1(&[-(2f32.ln()), -100.0]).into_dyn());
    /// ```
    pub fn log_sigmoid(&self) -> Tensor {
        elementwise("log_sigmoid", self, |x| -softplus(-x), |x, _| sigmoid(-x))
    }

    /// `max(x, 0)`; its gradient at 0 is 0, as `jax.nn.relu`'s.
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::from(ndarray::arr1(&[-1.0f32, 2.0])).relu();
    /// assert_eq!(t.to_array(), ndarray::arr1(&[0.0f32, 2.0]).into_dyn());
    /// ```
    pub fn relu(&self) -> Tensor {
        elementwise(
            "relu",
            self,
            |x| x.max(0.0),
            |x, _| if x > 0.0 { 1.0 } else { 0.0 },
        )
    }

    /// `x * sigmoid(x)` (`jax.nn.silu`, also called swish).
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(0.0).silu().item().unwrap(), 0.0);
    /// ```
    pub fn silu(&self) -> Tensor {
        elementwise(
            "silu",
            self,
            |x| x * sigmoid(x),
            |x, _| {
                let s = sigmoid(x);
                s * (1.0 + x * (1.0 - s))
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
    pub fn gelu(&self, approximate: bool) -> Tensor {
        if approximate {
            let tanh_form = |x: f64| {
                let t = (SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x)).tanh();
                (0.5 * x * (1.0 + t), t)
            };
            elementwise(
                "gelu",
                self,
                move |x| tanh_form(f64::from(x)).0 as f32,
                move |x, _| {
                    let x = f64::from(x);
                    let (_, t) = tanh_form(x);
                    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
                    (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du) as f32
                },
            )
        } else {
            elementwise(
                "gelu",
                self,
                |x| {
                    let x = f64::from(x);
                    (x * normal_cdf_pdf(x).0) as f32
                },
                |x, _| {
                    let x = f64::from(x);
                    let (cdf, pdf) = normal_cdf_pdf(x);
                    (cdf + x * pdf) as f32
                },
            )
        }
    }
}
