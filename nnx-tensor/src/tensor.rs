//! The [`Tensor`] type: an `Arc`'d `ArrayD<E>` (`E` is `f32` or `f64`) plus,
//! while a gradient is being taken, the id of the tape node that produced it.

use std::fmt;
use std::sync::Arc;

use ndarray::{Array, ArrayD, ArrayViewD, Dimension, IxDyn};
use nnx_core::value::{downcast_arc, ArrayRef, DType, Value};
use nnx_core::{repr, Error, Result};

use crate::element::Element;
use crate::tape::NodeId;

/// An n-d array of `f32` (the default) or `f64` with cheap clones, NumPy
/// broadcasting and gradient rules.
///
/// A `Tensor` shares its buffer (`Arc<ArrayD<E>>`), so cloning it and passing it
/// between Variables, States and ops never copies data. Inside
/// [`value_and_grad`](crate::value_and_grad) a tensor also remembers the tape node
/// that produced it; outside, it is a plain array and ops cost what ndarray costs.
///
/// ```
/// use nnx_tensor::Tensor;
/// let x = Tensor::from(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
/// let y = (&x * 2.0 + 1.0).sum();
/// assert_eq!(y.item().unwrap(), 24.0);
/// assert_eq!(x.to_string(), "Array([[1., 2.],\n       [3., 4.]], dtype=float32)");
/// ```
///
/// `Tensor` is `Tensor<f32>`; `Tensor<f64>` holds doubles (Flax's
/// `dtype=jnp.float64` under `jax_enable_x64`). Ops take and give tensors of one
/// element type, so mixing them is a compile error. The constructors below that
/// name no element (`zeros`, `ones`, `scalar`, `new`, `from_shape_vec`) build
/// `f32` tensors; [`Tensor::full`], [`Tensor::from_array`] and `From` build
/// either.
///
/// ```
/// use nnx_tensor::Tensor;
/// let x: Tensor<f64> = Tensor::from(ndarray::arr1(&[0.1f64, 0.2]));
/// let y = (&x + &x)?.sum();
/// assert_eq!(y.item()?, 0.6000000000000001);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Tensor<E: Element = f32> {
    pub(crate) data: Arc<ArrayD<E>>,
    pub(crate) node: Option<NodeId>,
}

impl Tensor {
    /// A constant tensor holding `array` (no copy).
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::new(ndarray::ArrayD::zeros(ndarray::IxDyn(&[2, 3])));
    /// assert_eq!(t.shape(), &[2, 3]);
    /// ```
    pub fn new(array: ArrayD<f32>) -> Tensor {
        Tensor {
            data: Arc::new(array),
            node: None,
        }
    }

    /// A 0-d tensor (`jnp.asarray(x)` of a Python float).
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::scalar(1.5).shape(), &[] as &[usize]);
    /// ```
    pub fn scalar(x: f32) -> Tensor {
        Tensor::new(ndarray::arr0(x).into_dyn())
    }

    /// A tensor of `shape` filled with zeros.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::zeros(&[2]).to_array(), ndarray::arr1(&[0.0f32, 0.0]).into_dyn());
    /// ```
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::new(ArrayD::zeros(IxDyn(shape)))
    }

    /// A tensor of `shape` filled with ones.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::ones(&[2, 2]).sum().item().unwrap(), 4.0);
    /// ```
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::new(ArrayD::ones(IxDyn(shape)))
    }

    /// A tensor of `shape` from row-major `data`; `Err` when the lengths differ.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let t = Tensor::from_shape_vec(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]).unwrap();
    /// assert_eq!(t.shape(), &[2, 2]);
    /// assert!(Tensor::from_shape_vec(&[3], vec![1.0]).is_err());
    /// ```
    pub fn from_shape_vec(shape: &[usize], data: Vec<f32>) -> Result<Tensor> {
        let n = data.len();
        ArrayD::from_shape_vec(IxDyn(shape), data)
            .map(Tensor::new)
            .map_err(|_| {
                Error::invalid_argument(
                    "Tensor::from_shape_vec",
                    format!(
                        "{} elements for shape {}",
                        shape.iter().product::<usize>(),
                        repr::fmt_tuple_usize(shape)
                    ),
                    format!("{n} elements"),
                )
            })
    }
}

impl<E: Element> Tensor<E> {
    /// A constant tensor holding `array` (no copy), of `array`'s element type.
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::from_array(ndarray::ArrayD::<f64>::zeros(ndarray::IxDyn(&[2])));
    /// assert_eq!(t.to_string(), "Array([0., 0.], dtype=float64)");
    /// ```
    pub fn from_array(array: ArrayD<E>) -> Tensor<E> {
        Tensor {
            data: Arc::new(array),
            node: None,
        }
    }

    /// A tensor of `shape` filled with `value` (`jnp.full`).
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::full(&[2, 2], 3.0f64);
    /// assert_eq!(t.sum().item().unwrap(), 12.0);
    /// ```
    pub fn full(shape: &[usize], value: E) -> Tensor<E> {
        Tensor::from_array(ArrayD::from_elem(IxDyn(shape), value))
    }

    /// The shape.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::zeros(&[4, 1]).shape(), &[4, 1]);
    /// ```
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The number of axes.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::zeros(&[4, 1]).ndim(), 2);
    /// ```
    pub fn ndim(&self) -> usize {
        self.data.ndim()
    }

    /// The number of elements.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::zeros(&[4, 3]).len(), 12);
    /// ```
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    ///
    /// ```
    /// assert!(nnx_tensor::Tensor::zeros(&[0, 3]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The data, borrowed.
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::ones(&[3]);
    /// assert_eq!(t.array().sum(), 3.0);
    /// ```
    pub fn array(&self) -> &ArrayD<E> {
        &self.data
    }

    /// The data, mutably, for in-place updates such as an optimizer step: the
    /// buffer is copied first only if another tensor shares it. The result is
    /// cut off from the tape (a constant), like [`stop_gradient`](Tensor::stop_gradient).
    ///
    /// ```
    /// let mut t = nnx_tensor::Tensor::ones(&[2]);
    /// let before = t.array().as_ptr();
    /// t.array_mut().mapv_inplace(|v| v * 3.0);
    /// assert_eq!(t.array().as_ptr(), before); // unshared: updated in place
    /// assert_eq!(t.sum().item().unwrap(), 6.0);
    /// ```
    pub fn array_mut(&mut self) -> &mut ArrayD<E> {
        self.node = None;
        Arc::make_mut(&mut self.data)
    }

    /// A view of the data.
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::ones(&[3]);
    /// assert_eq!(t.view()[[1]], 1.0);
    /// ```
    pub fn view(&self) -> ArrayViewD<'_, E> {
        self.data.view()
    }

    /// A copy of the data as an owned array.
    ///
    /// ```
    /// let a = nnx_tensor::Tensor::ones(&[2]).to_array();
    /// assert_eq!(a, ndarray::arr1(&[1.0f32, 1.0]).into_dyn());
    /// ```
    pub fn to_array(&self) -> ArrayD<E> {
        (*self.data).clone()
    }

    /// The data as an owned array: moved out when this tensor holds the only
    /// reference to its buffer, copied otherwise.
    ///
    /// ```
    /// let a = nnx_tensor::Tensor::zeros(&[2, 2]).into_array();
    /// assert_eq!(a.shape(), &[2, 2]);
    /// ```
    pub fn into_array(self) -> ArrayD<E> {
        Arc::try_unwrap(self.data).unwrap_or_else(|shared| (*shared).clone())
    }

    /// The single element of a tensor with one element (`x.item()`).
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// assert_eq!(Tensor::scalar(2.0).item().unwrap(), 2.0);
    /// assert!(Tensor::zeros(&[2]).item().is_err());
    /// ```
    pub fn item(&self) -> Result<E> {
        match self.data.len() {
            1 => self
                .data
                .iter()
                .next()
                .copied()
                .ok_or_else(|| self.not_one()),
            _ => Err(self.not_one()),
        }
    }

    fn not_one(&self) -> Error {
        Error::invalid_argument(
            "Tensor::item",
            "a tensor with one element",
            format!("shape {}", repr::fmt_tuple_usize(self.shape())),
        )
    }

    /// The same data cut off from the tape: gradients do not flow through the
    /// result (`jax.lax.stop_gradient`).
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::ones(&[2]);
    /// assert_eq!(t.stop_gradient(), t);
    /// ```
    pub fn stop_gradient(&self) -> Tensor<E> {
        Tensor {
            data: Arc::clone(&self.data),
            node: None,
        }
    }

    /// Whether `self` and `other` share one buffer (no copy was made between them).
    ///
    /// ```
    /// let t = nnx_tensor::Tensor::ones(&[2]);
    /// assert!(t.clone().shares_buffer(&t));
    /// assert!(!t.shares_buffer(&nnx_tensor::Tensor::ones(&[2])));
    /// ```
    pub fn shares_buffer(&self, other: &Tensor<E>) -> bool {
        Arc::ptr_eq(&self.data, &other.data)
    }
}

impl<E: Element, D: Dimension> From<Array<E, D>> for Tensor<E> {
    fn from(array: Array<E, D>) -> Tensor<E> {
        Tensor::from_array(array.into_dyn())
    }
}

impl<E: Element> From<E> for Tensor<E> {
    fn from(x: E) -> Tensor<E> {
        Tensor::from_array(ndarray::arr0(x).into_dyn())
    }
}

impl<E: Element> From<Tensor<E>> for ArrayD<E> {
    fn from(t: Tensor<E>) -> ArrayD<E> {
        t.into_array()
    }
}

/// Equal when the data is equal (the tape node is not compared).
impl<E: Element> PartialEq for Tensor<E> {
    fn eq(&self, other: &Tensor<E>) -> bool {
        Arc::ptr_eq(&self.data, &other.data) || self.data == other.data
    }
}

/// Prints as JAX prints an array: `Array([1., 2.], dtype=float32)`.
impl<E: Element> fmt::Display for Tensor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&repr::fmt_jax_array(self.data.view(), E::DTYPE.name()))
    }
}

impl<E: Element> fmt::Debug for Tensor<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A `Tensor` is a Variable value: `Param<Tensor>` prints like a JAX array and is
/// saved and loaded by checkpoints as an array of its element type (`F32` or
/// `F64` in safetensors).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_tensor::Tensor;
/// let p = Param::new(Tensor::ones(&[2]));
/// assert_eq!(
///     p.to_string(),
///     "Param( # 2 (8 B)\n  value=Array([1., 1.], dtype=float32)\n)"
/// );
/// ```
/// A Tensor shows as its dtype and shape (`float32[2,3]`) in
/// `nnx::tabulate_with`'s `inputs`/`outputs` columns.
///
/// ```
/// use nnx_core::record::Describe;
/// assert_eq!(nnx_tensor::Tensor::ones(&[2, 3]).describe(), "float32[2,3]");
/// assert_eq!(nnx_tensor::Tensor::full(&[2], 0.0f64).describe(), "float64[2]");
/// ```
impl<E: Element> nnx_core::record::Describe for Tensor<E> {
    fn describe(&self) -> String {
        self.array().describe()
    }
}

impl<E: Element> Value for Tensor<E> {
    fn dtype(&self) -> Option<DType> {
        Some(E::DTYPE)
    }
    fn shape_of(&self) -> Option<Vec<usize>> {
        Some(self.shape().to_vec())
    }
    fn has_shape(&self, shape: Option<&[usize]>) -> bool {
        shape == Some(self.shape())
    }
    fn fmt_python(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        f.write_str(&repr::fmt_jax_array(self.data.view(), E::DTYPE.name()))
    }
    fn size_bytes(&self) -> Option<(usize, usize)> {
        Some((self.len(), self.len() * E::DTYPE.size()))
    }
    fn map_leaves(&self, f: &dyn Fn(&dyn Value) -> Arc<dyn Value>) -> Arc<dyn Value> {
        f(self)
    }
    fn array_ref(&self) -> Option<ArrayRef<'_>> {
        Some(E::array_ref(self.data.view()))
    }
    fn type_name(&self) -> &'static str {
        "Tensor"
    }
    fn from_array_like(&self, data: ArrayRef<'_>) -> Option<Arc<dyn Value>> {
        let v = E::from_array_ref(data)?;
        Some(Arc::new(Tensor::from_array(v.to_owned())))
    }
    fn from_array_owned(&self, data: Arc<dyn Value>) -> Option<Arc<dyn Value>> {
        // What loading builds is an unshared ArrayD<E>: move it in, no copy.
        match downcast_arc::<ArrayD<E>>(data) {
            Ok(arc) => Some(Arc::new(Tensor {
                data: arc,
                node: None,
            })),
            Err(other) => match downcast_arc::<Tensor<E>>(other) {
                Ok(t) => Some(Arc::new(t.stop_gradient())),
                Err(other) => self.from_array_like(other.array_ref()?),
            },
        }
    }
}
