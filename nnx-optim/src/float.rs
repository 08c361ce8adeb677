//! Arrays of either float dtype: optimizers update float32 and float64
//! parameters (in one model too), each leaf's state and arithmetic in its
//! parameter's dtype, as optax keeps them.

use ndarray::{ArrayD, ArrayViewD};
use nnx_core::random::Float as RFloat;
use nnx_core::value::{ArrayRef, DType};
use nnx_core::{Error, Key, Result};
use nnx_tensor::{Element, Tensor};

use crate::schedule::Schedule;

/// A float32 or float64 tensor: one parameter's update, or one per-parameter
/// array of an optimizer's state (optax's `mu`, `nu`, `trace`, ...), in the
/// parameter's dtype.
///
/// ```
/// use nnx_optim::FloatTensor;
/// use nnx_tensor::Tensor;
/// let a = FloatTensor::from(Tensor::ones(&[2]));
/// let b = FloatTensor::from(Tensor::full(&[3], 0.5f64));
/// assert_eq!((a.shape(), b.dtype().name()), (&[2][..], "float64"));
/// assert_eq!(b.as_f64().unwrap().array()[[0]], 0.5);
/// assert!(b.as_f32().is_none());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum FloatTensor {
    /// A float32 tensor.
    F32(Tensor<f32>),
    /// A float64 tensor.
    F64(Tensor<f64>),
}

impl Default for FloatTensor {
    fn default() -> Self {
        FloatTensor::F32(Tensor::zeros(&[0]))
    }
}

impl From<Tensor<f32>> for FloatTensor {
    fn from(t: Tensor<f32>) -> Self {
        FloatTensor::F32(t)
    }
}

impl From<Tensor<f64>> for FloatTensor {
    fn from(t: Tensor<f64>) -> Self {
        FloatTensor::F64(t)
    }
}

impl FloatTensor {
    /// The shape.
    ///
    /// ```
    /// let t = nnx_optim::FloatTensor::from(nnx_tensor::Tensor::zeros(&[2, 3]));
    /// assert_eq!(t.shape(), &[2, 3]);
    /// ```
    pub fn shape(&self) -> &[usize] {
        match self {
            FloatTensor::F32(t) => t.shape(),
            FloatTensor::F64(t) => t.shape(),
        }
    }

    /// The dtype (`F32` or `F64`).
    ///
    /// ```
    /// let t = nnx_optim::FloatTensor::from(nnx_tensor::Tensor::zeros(&[1]));
    /// assert_eq!(t.dtype(), nnx_core::value::DType::F32);
    /// ```
    pub fn dtype(&self) -> DType {
        match self {
            FloatTensor::F32(_) => DType::F32,
            FloatTensor::F64(_) => DType::F64,
        }
    }

    /// The float32 tensor, if it is one.
    ///
    /// ```
    /// let t = nnx_optim::FloatTensor::from(nnx_tensor::Tensor::ones(&[1]));
    /// assert_eq!(t.as_f32().unwrap().array()[[0]], 1.0);
    /// ```
    pub fn as_f32(&self) -> Option<&Tensor<f32>> {
        f32::tensor(self)
    }

    /// The float64 tensor, if it is one.
    ///
    /// ```
    /// let t = nnx_optim::FloatTensor::from(nnx_tensor::Tensor::full(&[1], 2.0f64));
    /// assert_eq!(t.as_f64().unwrap().array()[[0]], 2.0);
    /// ```
    pub fn as_f64(&self) -> Option<&Tensor<f64>> {
        f64::tensor(self)
    }

    /// The tensor as a Variable value (shares the buffer).
    pub(crate) fn to_value(&self) -> std::sync::Arc<dyn nnx_core::value::Value> {
        match self {
            FloatTensor::F32(t) => std::sync::Arc::new(t.clone()),
            FloatTensor::F64(t) => std::sync::Arc::new(t.clone()),
        }
    }

    /// A view of the data.
    pub(crate) fn array_ref(&self) -> ArrayRef<'_> {
        match self {
            FloatTensor::F32(t) => ArrayRef::F32(t.view()),
            FloatTensor::F64(t) => ArrayRef::F64(t.view()),
        }
    }

    /// A Variable state of type `kind` holding this tensor (shares the buffer).
    pub(crate) fn variable(&self, kind: nnx_core::Kind) -> nnx_core::VariableState {
        match self {
            FloatTensor::F32(t) => nnx_core::VariableState::new(kind, t.clone()),
            FloatTensor::F64(t) => nnx_core::VariableState::new(kind, t.clone()),
        }
    }

    /// A float array of a Variable (a Tensor's buffer is shared, any other
    /// float array copied once); `None` for other values.
    pub(crate) fn of_value(value: &dyn nnx_core::value::Value) -> Option<FloatTensor> {
        let any = value.as_any();
        if let Some(t) = any.downcast_ref::<Tensor<f32>>() {
            return Some(FloatTensor::F32(t.stop_gradient()));
        }
        if let Some(t) = any.downcast_ref::<Tensor<f64>>() {
            return Some(FloatTensor::F64(t.stop_gradient()));
        }
        match value.array_ref()? {
            ArrayRef::F32(v) => Some(FloatTensor::F32(Tensor::from_array(v.to_owned()))),
            ArrayRef::F64(v) => Some(FloatTensor::F64(Tensor::from_array(v.to_owned()))),
            _ => None,
        }
    }
}

/// The element types optimizers compute in (f32 and f64): the way from
/// generic arithmetic to the dtype-tagged arrays and schedules.
pub(crate) trait OptFloat: Element {
    fn tensor(t: &FloatTensor) -> Option<&Tensor<Self>>;
    fn wrap(t: Tensor<Self>) -> FloatTensor;
    /// The schedule's value at `count` in this dtype.
    fn schedule(s: &Schedule, count: i32) -> Self;
}

impl OptFloat for f32 {
    fn tensor(t: &FloatTensor) -> Option<&Tensor<f32>> {
        match t {
            FloatTensor::F32(t) => Some(t),
            FloatTensor::F64(_) => None,
        }
    }
    fn wrap(t: Tensor<f32>) -> FloatTensor {
        FloatTensor::F32(t)
    }
    fn schedule(s: &Schedule, count: i32) -> f32 {
        s.eval(count)
    }
}

impl OptFloat for f64 {
    fn tensor(t: &FloatTensor) -> Option<&Tensor<f64>> {
        match t {
            FloatTensor::F64(t) => Some(t),
            FloatTensor::F32(_) => None,
        }
    }
    fn wrap(t: Tensor<f64>) -> FloatTensor {
        FloatTensor::F64(t)
    }
    fn schedule(s: &Schedule, count: i32) -> f64 {
        s.eval_f64(count)
    }
}

/// `x` in `E`, as JAX's weak typing rounds a Python float hyperparameter.
#[inline(always)]
pub(crate) fn lit<E: Element>(x: f64) -> E {
    <E as RFloat>::from_f64(x)
}

/// `x.sqrt()` (named, as two of `Element`'s supertraits have a `sqrt`).
#[inline(always)]
pub(crate) fn sqrt<E: Element>(x: E) -> E {
    <E as RFloat>::sqrt(x)
}

/// `n` in `E` (an int32 count converted as JAX converts it).
#[inline(always)]
pub(crate) fn from_i32<E: Element>(n: i32) -> E {
    <E as RFloat>::from_f64(f64::from(n))
}

/// The state array `t` of the parameter at `path` as an `E` tensor; an error
/// naming the path when its dtype is not the parameter's.
pub(crate) fn typed<'t, E: OptFloat>(
    t: &'t FloatTensor,
    path: &[Key],
    owner: &str,
) -> Result<&'t Tensor<E>> {
    E::tensor(t).ok_or_else(|| dtype_error::<E>(path, owner, t.dtype()))
}

pub(crate) fn dtype_error<E: Element>(path: &[Key], owner: &str, found: DType) -> Error {
    Error::DTypeMismatch {
        path: nnx_core::path_string(path).into(),
        expected: format!(
            "{} state in {owner} (the parameter's dtype)",
            E::DTYPE.name()
        ),
        found: found.name().into(),
    }
}

/// A parameter's value as an `E` view, if that is its dtype.
pub(crate) fn view_of<'a, E: Element>(value: &ArrayRef<'a>) -> Option<ArrayViewD<'a, E>> {
    <E as nnx_core::value::Element>::from_array_ref(value.clone())
}

/// Wraps owned arrays as tensors (moves, no copies).
pub(crate) fn wrap<E: OptFloat>(a: ArrayD<E>) -> FloatTensor {
    E::wrap(Tensor::from_array(a))
}

/// Runs `$body` with `$g` bound to the tensor inside the [`FloatTensor`]
/// `$u` and the type `$E` to its element type: generic arithmetic written
/// once, compiled for f32 and f64.
macro_rules! per_dtype {
    ($u:expr, $g:ident, $E:ident, $body:expr) => {
        match $u {
            $crate::float::FloatTensor::F32($g) => {
                type $E = f32;
                $body
            }
            $crate::float::FloatTensor::F64($g) => {
                type $E = f64;
                $body
            }
        }
    };
}
pub(crate) use per_dtype;
