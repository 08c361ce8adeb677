//! Values a Variable can hold, seen through one object-safe trait.
//!
//! A [`State`](crate::State) holds values type-erased as `Arc<dyn Value>`; a typed
//! Variable holds `Arc<T>`. Moving a value between the two is a pointer copy.
//!
//! ```
//! use nnx_core::value::{python_repr, Value};
//! let a = ndarray::arr1(&[1.0f32, 2.0]);
//! assert_eq!(a.shape_of(), Some(vec![2]));
//! assert_eq!(python_repr(&a), "Array([1., 2.], dtype=float32)");
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use ndarray::{ArrayBase, ArrayViewD, Dimension, OwnedRepr};

use crate::error::{Error, ErrorPath};
use crate::repr;

/// Element types of arrays, named as JAX names them.
///
/// ```
/// use nnx_core::{value::DType, value::Element};
/// assert_eq!(f32::DTYPE, DType::F32);
/// assert_eq!(DType::I64.to_string(), "int64");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum DType {
    F32,
    F64,
    I32,
    I64,
    U8,
    U32,
    Bool,
}

impl DType {
    /// JAX's name of the dtype (`float32`).
    ///
    /// ```
    /// assert_eq!(nnx_core::value::DType::F32.name(), "float32");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::F64 => "float64",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U32 => "uint32",
            DType::Bool => "bool",
        }
    }

    /// Bytes per element.
    ///
    /// ```
    /// assert_eq!(nnx_core::value::DType::I64.size(), 8);
    /// ```
    pub fn size(self) -> usize {
        match self {
            DType::U8 | DType::Bool => 1,
            DType::F32 | DType::I32 | DType::U32 => 4,
            DType::F64 | DType::I64 => 8,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A borrowed view of an array leaf, by element type.
///
/// ```
/// use nnx_core::value::{ArrayRef, Element};
/// let a = ndarray::arr1(&[1u8, 2]).into_dyn();
/// assert!(matches!(u8::array_ref(a.view()), ArrayRef::U8(v) if v.len() == 2));
/// ```
#[derive(Debug, Clone)]
#[allow(missing_docs)]
pub enum ArrayRef<'a> {
    F32(ArrayViewD<'a, f32>),
    F64(ArrayViewD<'a, f64>),
    I32(ArrayViewD<'a, i32>),
    I64(ArrayViewD<'a, i64>),
    U8(ArrayViewD<'a, u8>),
    U32(ArrayViewD<'a, u32>),
    Bool(ArrayViewD<'a, bool>),
}

impl ArrayRef<'_> {
    /// The element type.
    ///
    /// ```
    /// use nnx_core::value::Value;
    /// let a = ndarray::arr1(&[1u8, 2]);
    /// assert_eq!(a.array_ref().unwrap().dtype(), nnx_core::value::DType::U8);
    /// ```
    pub fn dtype(&self) -> DType {
        match self {
            ArrayRef::F32(_) => DType::F32,
            ArrayRef::F64(_) => DType::F64,
            ArrayRef::I32(_) => DType::I32,
            ArrayRef::I64(_) => DType::I64,
            ArrayRef::U8(_) => DType::U8,
            ArrayRef::U32(_) => DType::U32,
            ArrayRef::Bool(_) => DType::Bool,
        }
    }

    /// The shape.
    ///
    /// ```
    /// use nnx_core::value::Value;
    /// let a = ndarray::Array2::<f32>::zeros((2, 3));
    /// assert_eq!(a.array_ref().unwrap().shape(), &[2, 3]);
    /// ```
    pub fn shape(&self) -> &[usize] {
        match self {
            ArrayRef::F32(a) => a.shape(),
            ArrayRef::F64(a) => a.shape(),
            ArrayRef::I32(a) => a.shape(),
            ArrayRef::I64(a) => a.shape(),
            ArrayRef::U8(a) => a.shape(),
            ArrayRef::U32(a) => a.shape(),
            ArrayRef::Bool(a) => a.shape(),
        }
    }
}

/// Array element types nnx Variables can hold.
///
/// ```
/// use nnx_core::{value::DType, value::Element};
/// fn dtype_of<E: Element>(_: &ndarray::ArrayD<E>) -> DType { E::DTYPE }
/// assert_eq!(dtype_of(&ndarray::ArrayD::<bool>::default(ndarray::IxDyn(&[1]))), DType::Bool);
/// ```
pub trait Element: repr::ReprElement + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The element's dtype.
    ///
    /// ```
    /// use nnx_core::{value::DType, value::Element};
    /// assert_eq!((i32::DTYPE, bool::DTYPE), (DType::I32, DType::Bool));
    /// ```
    const DTYPE: DType;
    /// Wraps a view of arrays of this element.
    ///
    /// ```
    /// use nnx_core::value::{ArrayRef, Element};
    /// let a = ndarray::arr1(&[1.0f64]).into_dyn();
    /// assert!(matches!(f64::array_ref(a.view()), ArrayRef::F64(_)));
    /// ```
    fn array_ref<'a>(view: ArrayViewD<'a, Self>) -> ArrayRef<'a>;
    /// The view inside `r`, when it holds this element type.
    ///
    /// ```
    /// use nnx_core::value::{ArrayRef, Element};
    /// let a = ndarray::arr1(&[1.0f32]).into_dyn();
    /// assert!(f32::from_array_ref(ArrayRef::F32(a.view())).is_some());
    /// assert!(i32::from_array_ref(ArrayRef::F32(a.view())).is_none());
    /// ```
    fn from_array_ref(r: ArrayRef<'_>) -> Option<ArrayViewD<'_, Self>>;
}

macro_rules! impl_element {
    ($($t:ty => $d:ident),* $(,)?) => {$(
        impl Element for $t {
            const DTYPE: DType = DType::$d;
            fn array_ref<'a>(view: ArrayViewD<'a, Self>) -> ArrayRef<'a> {
                ArrayRef::$d(view)
            }
            fn from_array_ref(r: ArrayRef<'_>) -> Option<ArrayViewD<'_, Self>> {
                match r {
                    ArrayRef::$d(v) => Some(v),
                    _ => None,
                }
            }
        }
    )*};
}
impl_element!(f32 => F32, f64 => F64, i32 => I32, i64 => I64, u8 => U8, u32 => U32, bool => Bool);

/// The type-erasure plumbing every [`Value`] gets for free from `Clone + PartialEq`.
///
/// ```
/// use nnx_core::value::{Value, ValueBase};
/// let v: &dyn Value = &1.0f32;
/// assert!(v.eq_value(&1.0f32));
/// assert_eq!(v.clone_value().as_any().downcast_ref::<f32>(), Some(&1.0));
/// ```
pub trait ValueBase: Any + Send + Sync {
    /// Value equality across type erasure (same type and equal).
    ///
    /// ```
    /// use nnx_core::value::ValueBase;
    /// assert!(1u8.eq_value(&1u8));
    /// assert!(!1u8.eq_value(&1u32)); // another type
    /// ```
    fn eq_value(&self, other: &dyn Value) -> bool;
    /// A copy (arrays copy their buffers).
    ///
    /// ```
    /// use nnx_core::value::ValueBase;
    /// let copy = ndarray::arr1(&[1.0f32]).clone_value();
    /// assert!(copy.eq_value(&ndarray::arr1(&[1.0f32])));
    /// ```
    fn clone_value(&self) -> Arc<dyn Value>;
    /// `self` as `Any`, to downcast.
    ///
    /// ```
    /// use nnx_core::value::ValueBase;
    /// assert_eq!(2i32.as_any().downcast_ref::<i32>(), Some(&2));
    /// ```
    fn as_any(&self) -> &dyn Any;
    /// `self` as `Arc<dyn Any>`, to downcast without copying.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nnx_core::value::{Value, ValueBase};
    /// let v: Arc<dyn Value> = Arc::new(3u8);
    /// assert_eq!(v.into_any_arc().downcast::<u8>().ok().as_deref(), Some(&3));
    /// ```
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}

impl<T: Value + Clone + PartialEq> ValueBase for T {
    fn eq_value(&self, other: &dyn Value) -> bool {
        other.as_any().downcast_ref::<T>() == Some(self)
    }
    fn clone_value(&self) -> Arc<dyn Value> {
        Arc::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn into_any_arc(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// Anything a Variable can hold: arrays, scalars, tuples and sequences of those, and
/// the [`Shape`] that `state.map(shape)` produces.
///
/// ```
/// use nnx_core::value::Value;
/// let a = ndarray::Array2::<f32>::zeros((2, 3));
/// assert_eq!(a.shape_of(), Some(vec![2, 3]));
/// assert_eq!(a.dtype(), Some(nnx_core::value::DType::F32));
/// ```
pub trait Value: ValueBase + fmt::Debug {
    /// The dtype, for arrays and scalars.
    fn dtype(&self) -> Option<DType>;
    /// The shape, for arrays and scalars (`[]`).
    fn shape_of(&self) -> Option<Vec<usize>>;
    /// Whether [`shape_of`](Value::shape_of) is `shape`; arrays and scalars answer
    /// without allocating (graph operations ask once per Variable).
    ///
    /// ```
    /// use nnx_core::value::Value;
    /// assert!(ndarray::Array2::<f32>::zeros((2, 3)).has_shape(Some(&[2, 3])));
    /// assert!(1.0f32.has_shape(Some(&[])));
    /// ```
    fn has_shape(&self, shape: Option<&[usize]>) -> bool {
        self.shape_of().as_deref() == shape
    }
    /// Writes the value as Python prints it (`Array([0., 0.], dtype=float32)`, `(3,)`).
    fn fmt_python(&self, f: &mut dyn fmt::Write) -> fmt::Result;
    /// Number of array elements and bytes held, over all array leaves.
    fn size_bytes(&self) -> Option<(usize, usize)>;
    /// Applies `f` to every array leaf, keeping tuples and sequences.
    fn map_leaves(&self, f: &dyn Fn(&dyn Value) -> Arc<dyn Value>) -> Arc<dyn Value>;
    /// A view of the data, when the value is one array or scalar.
    fn array_ref(&self) -> Option<ArrayRef<'_>>;
    /// The full Rust type name (`std::any::type_name`), which tells value types
    /// apart; messages print it as users write it, with [`short_type_name`].
    ///
    /// ```
    /// use nnx_core::value::{short_type_name, Value};
    /// assert_eq!(1.0f32.type_name(), "f32");
    /// let a = ndarray::Array2::<f32>::zeros((1, 1));
    /// assert_eq!(short_type_name(a.type_name()), "Array2<f32>");
    /// ```
    fn type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
    /// A value of the same Rust type as `self` (same element and dimension
    /// type) holding a copy of `data`, or `None` when `data` has another dtype or
    /// rank. `self` is only the template: its data is not read. Checkpoint
    /// loading uses it to turn a dynamic-rank `ArrayD<f32>` into a field's
    /// `Array2<f32>`.
    ///
    /// ```
    /// use nnx_core::value::{ArrayRef, Value};
    /// let template = ndarray::Array2::<f32>::zeros((1, 1));
    /// let data = ndarray::ArrayD::<f32>::ones(ndarray::IxDyn(&[2, 3]));
    /// let v = template.from_array_like(ArrayRef::F32(data.view())).unwrap();
    /// assert_eq!(v.as_any().downcast_ref::<ndarray::Array2<f32>>().unwrap().dim(), (2, 3));
    /// // Wrong rank or dtype: None.
    /// let flat = ndarray::ArrayD::<f32>::ones(ndarray::IxDyn(&[6]));
    /// assert!(template.from_array_like(ArrayRef::F32(flat.view())).is_none());
    /// assert!(1.0f64.from_array_like(ArrayRef::F32(data.view())).is_none());
    /// ```
    // `self` is the template whose Rust type is built, hence `from_` with `&self`.
    #[allow(clippy::wrong_self_convention)]
    fn from_array_like(&self, data: ArrayRef<'_>) -> Option<Arc<dyn Value>> {
        let _ = data;
        None
    }
    /// Like [`from_array_like`](Value::from_array_like) but taking a shared value;
    /// when `data` is an unshared `ArrayD` of the right element type the array
    /// is moved into the new value without copying its elements.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nnx_core::value::Value;
    /// let template = ndarray::Array1::<i32>::zeros(1);
    /// let data: Arc<dyn Value> = Arc::new(ndarray::ArrayD::<i32>::zeros(ndarray::IxDyn(&[4])));
    /// let v = template.from_array_owned(data).unwrap();
    /// assert_eq!(v.shape_of(), Some(vec![4]));
    /// ```
    #[allow(clippy::wrong_self_convention)]
    fn from_array_owned(&self, data: Arc<dyn Value>) -> Option<Arc<dyn Value>> {
        self.from_array_like(data.array_ref()?)
    }
    /// `data` as a value of this Rust type when it holds the same data in another
    /// one (an `ArrayD<f32>` of shape `(2, 3)` for an `Array2<f32>`, raw `uint32`
    /// key data for a key), else `None`. [`from_array_owned`](Value::from_array_owned)
    /// without a template: merge uses it to give a loaded value its slot's type.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use nnx_core::value::Value;
    /// let data: Arc<dyn Value> = Arc::new(ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 3])));
    /// assert_eq!(ndarray::Array2::<f32>::from_value(data.clone()).unwrap().dim(), (2, 3));
    /// assert!(ndarray::Array1::<f32>::from_value(data).is_none()); // another rank
    /// ```
    fn from_value(data: Arc<dyn Value>) -> Option<Arc<Self>>
    where
        Self: Sized,
    {
        downcast_arc(data).ok()
    }
}

/// Renders a value as Python would, to a `String`.
///
/// ```
/// use nnx_core::value::python_repr;
/// assert_eq!(python_repr(&nnx_core::value::Shape(vec![3])), "(3,)");
/// ```
pub fn python_repr(value: &dyn Value) -> String {
    let mut s = String::new();
    // Writing into a String cannot fail.
    let _ = value.fmt_python(&mut s);
    s
}

/// The error for a value `found` at `path` where a value of type `expected_type`
/// (a [`Value::type_name`]) and dtype `expected_dtype` belongs: a dtype mismatch when
/// both have a dtype and they differ (`expected float32, found float64`), else a type
/// mismatch naming both types as users write them (`expected Array2<f32>, found
/// ArrayD<f32>`). Every operation that replaces a value reports a wrong one through
/// it; the expected side is a type name and dtype so that a GraphDef entry, which
/// holds no value, can be checked too.
pub(crate) fn value_type_mismatch(
    path: impl Into<ErrorPath>,
    expected_type: &str,
    expected_dtype: Option<DType>,
    found: &dyn Value,
) -> Error {
    match (expected_dtype, found.dtype()) {
        (Some(e), Some(f)) if e != f => Error::DTypeMismatch {
            path: path.into(),
            expected: e.name().to_string(),
            found: f.name().to_string(),
        },
        _ => Error::TypeMismatch {
            path: path.into(),
            expected: short_type_name(expected_type),
            found: short_type_name(found.type_name()),
        },
    }
}

/// A type's name as users write it, from its `std::any::type_name`: paths are
/// dropped (`alloc::vec::Vec<f32>` is `Vec<f32>`) and owned ndarray arrays get
/// their aliases (`Array2<f32>`, `ArrayD<i64>`). Every error that names a value
/// type prints it this way.
///
/// ```
/// use nnx_core::value::short_type_name;
/// assert_eq!(short_type_name(std::any::type_name::<ndarray::Array2<f32>>()), "Array2<f32>");
/// assert_eq!(short_type_name(std::any::type_name::<ndarray::ArrayD<f64>>()), "ArrayD<f64>");
/// assert_eq!(short_type_name(std::any::type_name::<Vec<ndarray::Array1<i32>>>()), "Vec<Array1<i32>>");
/// assert_eq!(short_type_name(std::any::type_name::<nnx_core::random::PrngKey>()), "PrngKey");
/// assert_eq!(short_type_name("f32"), "f32");
/// ```
pub fn short_type_name(type_name: &str) -> String {
    let mut out = String::with_capacity(type_name.len());
    let mut segment = String::new();
    // Keep the last segment of each `a::b::C` path.
    for c in type_name.chars() {
        if c.is_alphanumeric() || c == '_' {
            segment.push(c);
        } else if c == ':' {
            segment.clear();
        } else {
            out.push_str(&segment);
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(&segment);
    array_aliases(out)
}

/// Rewrites `ArrayBase<OwnedRepr<E>, Dim<[usize; N]>>` as `ArrayN<E>` and
/// `ArrayBase<OwnedRepr<E>, Dim<IxDynImpl>>` as `ArrayD<E>`.
fn array_aliases(mut s: String) -> String {
    const HEAD: &str = "ArrayBase<OwnedRepr<";
    let mut from = 0;
    while let Some(found) = s[from..].find(HEAD) {
        let start = from + found;
        let elem_start = start + HEAD.len();
        let rewritten = closing(&s, elem_start).and_then(|elem_end| {
            let dim_start = elem_end + 1;
            let dim_inner = s[dim_start..].strip_prefix(", Dim<")?;
            let inner_start = s.len() - dim_inner.len();
            let inner_end = closing(&s, inner_start)?;
            (s[inner_end + 1..].starts_with('>')).then_some(())?;
            let elem = &s[elem_start..elem_end];
            let alias = match &s[inner_start..inner_end] {
                "IxDynImpl" => format!("ArrayD<{elem}>"),
                dims => {
                    let n = dims.strip_prefix("[usize; ")?.strip_suffix(']')?;
                    format!("Array{n}<{elem}>")
                }
            };
            Some((alias, inner_end + 2))
        });
        match rewritten {
            Some((alias, end)) => {
                s.replace_range(start..end, &alias);
                from = start;
            }
            None => from = elem_start,
        }
    }
    s
}

/// The index of the `>` closing the `<` just before `open`.
fn closing(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s[open..].char_indices() {
        match c {
            '<' => depth += 1,
            '>' if depth == 0 => return Some(open + i),
            '>' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Whether two values of the same Rust type have the same shape, without
/// allocating for arrays. Their data views are compared when both have one: for one
/// type the view's shape determines the logical shape (a key's view is always its
/// `(2,)` raw data while its shape is `()`), so comparing views is exact.
pub(crate) fn same_shape(a: &dyn Value, b: &dyn Value) -> bool {
    match (a.array_ref(), b.array_ref()) {
        (Some(x), Some(y)) => x.shape() == y.shape(),
        _ => a.shape_of() == b.shape_of(),
    }
}

/// Downcasts a shared type-erased value to `Arc<T>` without copying.
///
/// ```
/// use std::sync::Arc;
/// use nnx_core::value::{downcast_arc, Value};
/// let v: Arc<dyn Value> = Arc::new(1.0f32);
/// assert_eq!(*downcast_arc::<f32>(v).unwrap(), 1.0);
/// ```
pub fn downcast_arc<T: Value>(value: Arc<dyn Value>) -> Result<Arc<T>, Arc<dyn Value>> {
    if value.as_any().is::<T>() {
        match value.into_any_arc().downcast::<T>() {
            Ok(v) => Ok(v),
            // `is::<T>` was just checked, so this arm is unreachable in practice;
            // returning a placeholder error keeps the function panic-free.
            Err(_) => Err(Arc::new(Shape(Vec::new()))),
        }
    } else {
        Err(value)
    }
}

/// A copy of `data` as an `Array<A, D>`, if it has that dtype and rank.
fn array_from_ref<A: Element, D: Dimension>(data: ArrayRef<'_>) -> Option<ndarray::Array<A, D>> {
    Some(
        A::from_array_ref(data)?
            .into_dimensionality::<D>()
            .ok()?
            .to_owned(),
    )
}

impl<A: Element, D: Dimension + 'static> Value for ArrayBase<OwnedRepr<A>, D> {
    fn dtype(&self) -> Option<DType> {
        Some(A::DTYPE)
    }
    fn shape_of(&self) -> Option<Vec<usize>> {
        Some(self.shape().to_vec())
    }
    fn has_shape(&self, shape: Option<&[usize]>) -> bool {
        shape == Some(self.shape())
    }
    fn fmt_python(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        f.write_str(&repr::fmt_jax_array(self.view(), A::DTYPE.name()))
    }
    fn size_bytes(&self) -> Option<(usize, usize)> {
        Some((self.len(), self.len() * A::DTYPE.size()))
    }
    fn map_leaves(&self, f: &dyn Fn(&dyn Value) -> Arc<dyn Value>) -> Arc<dyn Value> {
        f(self)
    }
    fn array_ref(&self) -> Option<ArrayRef<'_>> {
        Some(A::array_ref(self.view().into_dyn()))
    }
    fn from_array_like(&self, data: ArrayRef<'_>) -> Option<Arc<dyn Value>> {
        Some(Arc::new(array_from_ref::<A, D>(data)?))
    }
    fn from_array_owned(&self, data: Arc<dyn Value>) -> Option<Arc<dyn Value>> {
        Self::from_value(data).map(|v| v as Arc<dyn Value>)
    }
    fn from_value(data: Arc<dyn Value>) -> Option<Arc<Self>> {
        let copy = |v: &dyn Value| array_from_ref::<A, D>(v.array_ref()?).map(Arc::new);
        // The same type is shared as is; an unshared ArrayD<A> (what loading
        // builds) moves into dimension D: a change of shape type, no element copy.
        let data = match downcast_arc::<Self>(data) {
            Ok(same) => return Some(same),
            Err(other) => other,
        };
        match downcast_arc::<ndarray::ArrayD<A>>(data) {
            Ok(arc) => match Arc::try_unwrap(arc) {
                Ok(owned) => Some(Arc::new(owned.into_dimensionality::<D>().ok()?)),
                Err(shared) => copy(&*shared),
            },
            Err(other) => copy(&*other),
        }
    }
}

macro_rules! impl_scalar_value {
    ($($t:ty),*) => {$(
        impl Value for $t {
            fn dtype(&self) -> Option<DType> {
                Some(<$t as Element>::DTYPE)
            }
            fn shape_of(&self) -> Option<Vec<usize>> {
                Some(Vec::new())
            }
            fn has_shape(&self, shape: Option<&[usize]>) -> bool {
                shape == Some(&[])
            }
            fn fmt_python(&self, f: &mut dyn fmt::Write) -> fmt::Result {
                let scalar = ndarray::arr0(*self);
                f.write_str(&repr::fmt_jax_array(scalar.view(), <$t as Element>::DTYPE.name()))
            }
            fn size_bytes(&self) -> Option<(usize, usize)> {
                Some((1, <$t as Element>::DTYPE.size()))
            }
            fn map_leaves(&self, f: &dyn Fn(&dyn Value) -> Arc<dyn Value>) -> Arc<dyn Value> {
                f(self)
            }
            fn array_ref(&self) -> Option<ArrayRef<'_>> {
                Some(<$t as Element>::array_ref(
                    ArrayViewD::from_shape(ndarray::IxDyn(&[]), std::slice::from_ref(self)).ok()?,
                ))
            }
            fn from_array_like(&self, data: ArrayRef<'_>) -> Option<Arc<dyn Value>> {
                let view = <$t as Element>::from_array_ref(data)?;
                if view.ndim() != 0 {
                    return None;
                }
                Some(Arc::new(*view.first()?))
            }
            fn from_value(data: Arc<dyn Value>) -> Option<Arc<Self>> {
                let template = <$t>::default();
                downcast_arc(template.from_array_owned(data)?).ok()
            }
        }
    )*};
}
impl_scalar_value!(f32, f64, i32, i64, u8, u32, bool);

/// Writes values as a Python tuple (`(x,)` for one element).
fn fmt_tuple<'a>(
    items: impl ExactSizeIterator<Item = &'a dyn Value>,
    f: &mut dyn fmt::Write,
) -> fmt::Result {
    let n = items.len();
    f.write_char('(')?;
    for (i, v) in items.enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        v.fmt_python(f)?;
    }
    if n == 1 {
        f.write_char(',')?;
    }
    f.write_char(')')
}

/// Element and byte counts summed over the array leaves, `None` if there are none.
fn sum_sizes<'a>(items: impl Iterator<Item = &'a dyn Value>) -> Option<(usize, usize)> {
    items
        .filter_map(|v| v.size_bytes())
        .reduce(|(an, ab), (n, b)| (an + n, ab + b))
}

/// A sequence prints as a Python tuple: `sow` keeps its values this way, as Flax does.
impl<V: Value + Clone + PartialEq> Value for Vec<V> {
    fn dtype(&self) -> Option<DType> {
        None
    }
    fn shape_of(&self) -> Option<Vec<usize>> {
        None
    }
    fn fmt_python(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        fmt_tuple(self.iter().map(|v| v as &dyn Value), f)
    }
    fn size_bytes(&self) -> Option<(usize, usize)> {
        sum_sizes(self.iter().map(|v| v as &dyn Value))
    }
    fn map_leaves(&self, f: &dyn Fn(&dyn Value) -> Arc<dyn Value>) -> Arc<dyn Value> {
        Arc::new(ValueTuple(self.iter().map(|v| v.map_leaves(f)).collect()))
    }
    fn array_ref(&self) -> Option<ArrayRef<'_>> {
        None
    }
}

/// A tuple of type-erased values, what mapping over a sequence produces.
///
/// ```
/// use std::sync::Arc;
/// use nnx_core::value::{python_repr, ValueTuple};
/// let t = ValueTuple(vec![Arc::new(nnx_core::value::Shape(vec![1, 3]))]);
/// assert_eq!(python_repr(&t), "((1, 3),)");
/// ```
#[derive(Debug, Clone)]
pub struct ValueTuple(pub Vec<Arc<dyn Value>>);

impl PartialEq for ValueTuple {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| a.eq_value(&**b))
    }
}

impl Value for ValueTuple {
    fn dtype(&self) -> Option<DType> {
        None
    }
    fn shape_of(&self) -> Option<Vec<usize>> {
        None
    }
    fn fmt_python(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        fmt_tuple(self.0.iter().map(|v| &**v), f)
    }
    fn size_bytes(&self) -> Option<(usize, usize)> {
        sum_sizes(self.0.iter().map(|v| &**v))
    }
    fn map_leaves(&self, f: &dyn Fn(&dyn Value) -> Arc<dyn Value>) -> Arc<dyn Value> {
        Arc::new(ValueTuple(self.0.iter().map(|v| v.map_leaves(f)).collect()))
    }
    fn array_ref(&self) -> Option<ArrayRef<'_>> {
        None
    }
}

/// The shape of an array, printed as a Python tuple: `()`, `(3,)`, `(2, 3)`.
///
/// ```
/// assert_eq!(nnx_core::value::Shape(vec![2, 3]).to_string(), "(2, 3)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Shape(pub Vec<usize>);

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&repr::fmt_tuple_usize(&self.0))
    }
}

impl Value for Shape {
    fn dtype(&self) -> Option<DType> {
        None
    }
    fn shape_of(&self) -> Option<Vec<usize>> {
        None
    }
    fn fmt_python(&self, f: &mut dyn fmt::Write) -> fmt::Result {
        f.write_str(&repr::fmt_tuple_usize(&self.0))
    }
    fn size_bytes(&self) -> Option<(usize, usize)> {
        None
    }
    fn map_leaves(&self, f: &dyn Fn(&dyn Value) -> Arc<dyn Value>) -> Arc<dyn Value> {
        f(self)
    }
    fn array_ref(&self) -> Option<ArrayRef<'_>> {
        None
    }
}

/// The shape of a value's array leaf: the function to pass to
/// [`State::map`](crate::State::map), as `jnp.shape` is passed to `jax.tree.map`.
///
/// ```
/// let a = ndarray::Array1::<f32>::zeros(3);
/// assert_eq!(nnx_core::value::shape(&a), nnx_core::value::Shape(vec![3]));
/// ```
pub fn shape(value: &dyn Value) -> Shape {
    Shape(value.shape_of().unwrap_or_default())
}

/// `value` as a `T`, or an error naming `path`, `T` and the value's type.
pub(crate) fn downcast_value<'a, T: Value>(
    path: &str,
    value: &'a dyn Value,
) -> crate::error::Result<&'a T> {
    value
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| Error::TypeMismatch {
            path: path.into(),
            expected: short_type_name(std::any::type_name::<T>()),
            found: short_type_name(value.type_name()),
        })
}
