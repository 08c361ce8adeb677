//! The element types a [`Tensor`](crate::Tensor) can hold: `f32` and `f64`.

use std::any::Any;
use std::fmt;
use std::iter::Sum;

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{ArrayD, NdFloat};
use nnx_core::random::Float;
use nnx_core::value::DType;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// The element type of a [`Tensor`](crate::Tensor): `f32` (the default) or `f64`
/// (Flax's `param_dtype=jnp.float64, dtype=jnp.float64` under `jax_enable_x64`).
///
/// Sealed: every kernel and gradient rule is written once, generically, and
/// compiled for these two types; the matrix product goes to faer's GEMM of the
/// type. Its dtype and array views come from nnx-core's
/// [`value::Element`](nnx_core::value::Element). Mixed precision (`param_dtype` different from `dtype`, bf16, f16) is
/// not supported.
///
/// ```
/// use nnx_core::value::Value;
/// use nnx_tensor::Tensor;
/// assert_eq!(Tensor::<f64>::full(&[1], 0.0).dtype().unwrap().name(), "float64");
/// let t: Tensor<f64> = Tensor::full(&[2], 0.5);
/// assert_eq!(t.to_string(), "Array([0.5, 0.5], dtype=float64)");
/// ```
pub trait Element:
    sealed::Sealed
    + NdFloat
    + Float
    + nnx_core::value::Element
    + Default
    + Sum
    + for<'a> Sum<&'a Self>
    + fmt::Debug
{
    /// `out = a @ b` (or `out += a @ b` with `Accum::Add`) by faer's GEMM.
    #[doc(hidden)]
    fn faer_gemm(
        out: MatMut<'_, Self>,
        accum: Accum,
        a: MatRef<'_, Self>,
        b: MatRef<'_, Self>,
        par: Par,
    );

    /// `xs` as `f32`s when `Self` is `f32` (the f32-only SIMD kernels'
    /// way in from generic code), else `None`.
    #[doc(hidden)]
    fn as_f32(xs: &[Self]) -> Option<&[f32]>;

    /// [`as_f32`](Self::as_f32) for a kernel that writes in place.
    #[doc(hidden)]
    fn as_f32_mut(xs: &mut [Self]) -> Option<&mut [f32]>;

    /// `v` as `Self`s when `Self` is `f32`, else `None` (the way back out).
    #[doc(hidden)]
    fn from_f32(v: Vec<f32>) -> Option<Vec<Self>>;
}

macro_rules! element {
    ($t:ty, $as_f32:expr, $as_f32_mut:expr, $from_f32:expr) => {
        impl Element for $t {
            fn faer_gemm(
                out: MatMut<'_, Self>,
                accum: Accum,
                a: MatRef<'_, Self>,
                b: MatRef<'_, Self>,
                par: Par,
            ) {
                faer::linalg::matmul::matmul(out, accum, a, b, 1.0, par);
            }
            fn as_f32(xs: &[Self]) -> Option<&[f32]> {
                let f: fn(&[Self]) -> Option<&[f32]> = $as_f32;
                f(xs)
            }
            fn as_f32_mut(xs: &mut [Self]) -> Option<&mut [f32]> {
                let f: fn(&mut [Self]) -> Option<&mut [f32]> = $as_f32_mut;
                f(xs)
            }
            fn from_f32(v: Vec<f32>) -> Option<Vec<Self>> {
                let f: fn(Vec<f32>) -> Option<Vec<Self>> = $from_f32;
                f(v)
            }
        }
    };
}

element!(f32, |xs| Some(xs), |xs| Some(xs), Some);
element!(f64, |_| None, |_| None, |_| None);

/// `x` rounded to `E` (a constant of a kernel or gradient rule).
#[inline(always)]
pub(crate) fn lit<E: Element>(x: f64) -> E {
    <E as Float>::from_f64(x)
}

/// A cotangent on the tape, of either element type: nodes of both types share
/// one tape, and each rule sees its own type (checked once per node).
pub(crate) enum Cotangent {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
}

impl Cotangent {
    /// Wraps an array of a generic element type (a type-id comparison, no copy).
    pub(crate) fn new<E: Element>(a: ArrayD<E>) -> Cotangent {
        let mut slot = Some(a);
        let any = &mut slot as &mut dyn Any;
        if let Some(a) = any
            .downcast_mut::<Option<ArrayD<f32>>>()
            .and_then(Option::take)
        {
            return Cotangent::F32(a);
        }
        match any
            .downcast_mut::<Option<ArrayD<f64>>>()
            .and_then(Option::take)
        {
            Some(a) => Cotangent::F64(a),
            // Element is sealed to f32 and f64.
            None => Cotangent::F32(ArrayD::zeros(ndarray::IxDyn(&[0]))),
        }
    }

    /// The array when it has element type `E`.
    pub(crate) fn get<E: Element>(&self) -> Option<&ArrayD<E>> {
        match self {
            Cotangent::F32(a) => (a as &dyn Any).downcast_ref(),
            Cotangent::F64(a) => (a as &dyn Any).downcast_ref(),
        }
    }

    /// The array when it has element type `E`, by value.
    pub(crate) fn take<E: Element>(self) -> Option<ArrayD<E>> {
        fn cast<A: 'static, E: Element>(a: ArrayD<A>) -> Option<ArrayD<E>> {
            let mut slot = Some(a);
            (&mut slot as &mut dyn Any)
                .downcast_mut::<Option<ArrayD<E>>>()
                .and_then(Option::take)
        }
        match self {
            Cotangent::F32(a) => cast(a),
            Cotangent::F64(a) => cast(a),
        }
    }

    pub(crate) fn shape(&self) -> &[usize] {
        match self {
            Cotangent::F32(a) => a.shape(),
            Cotangent::F64(a) => a.shape(),
        }
    }

    pub(crate) fn dtype(&self) -> DType {
        match self {
            Cotangent::F32(_) => DType::F32,
            Cotangent::F64(_) => DType::F64,
        }
    }

    /// `self += other`; `false` when the element types differ.
    pub(crate) fn accumulate(&mut self, other: &Cotangent) -> bool {
        match (self, other) {
            (Cotangent::F32(a), Cotangent::F32(b)) => *a += b,
            (Cotangent::F64(a), Cotangent::F64(b)) => *a += b,
            _ => return false,
        }
        true
    }
}

/// `x` widened to `f64` (for rules computed in double precision).
#[inline(always)]
pub(crate) fn wide<E: Element>(x: E) -> f64 {
    <E as Float>::to_f64(x)
}

/// Square root (a free function: `Element` inherits `sqrt` from two traits).
#[inline(always)]
pub(crate) fn sqrt<E: Element>(x: E) -> E {
    <E as Float>::sqrt(x)
}

/// Natural logarithm (a free function, as [`sqrt`]).
#[inline(always)]
pub(crate) fn ln<E: Element>(x: E) -> E {
    <E as Float>::ln(x)
}
