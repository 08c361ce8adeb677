//! Recording calls for [`tabulate_with`](crate::tabulate_with) (Flax's
//! `nnx.tabulate(model, x)`): while a tabulate runs on this thread, each module
//! that calls [`call`] leaves its address and the descriptions of its input and
//! output ([`Describe`]) here. Every library layer does; a module of your own
//! does with one line in its `forward`.
//!
//! When no tabulate runs, recording is one thread-local flag check: the
//! descriptions are only computed once the flag says someone listens.
//!
//! ```
//! use nnx_core::prelude::*;
//! #[derive(Module)]
//! struct Double { scale: Param<f32> }
//! impl Double {
//!     fn forward(&self, x: &ndarray::Array1<f32>) -> ndarray::Array1<f32> {
//!         let y = x * *self.scale;
//!         nnx_core::record::call(self, x, &y);
//!         y
//!     }
//! }
//! let d = Double { scale: Param::new(2.0) };
//! let x = ndarray::Array1::<f32>::ones(3);
//! assert_eq!(d.forward(&x)[0], 2.0); // no tabulate running: nothing recorded
//! let table = nnx_core::tabulate_with(&d, &x, |m, x| Ok(m.forward(x)))?;
//! assert!(table.contains("│ float32[3] │ float32[3] │"), "{table}");
//! # Ok::<(), nnx_core::Error>(())
//! ```

use std::cell::{Cell, RefCell};

use ndarray::{ArrayBase, Data, Dimension};

use crate::graph::NodeAddress;
use crate::value::{DType, Element};

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static CALLS: RefCell<Vec<Call>> = const { RefCell::new(Vec::new()) };
}

/// One recorded call, in the order the calls returned.
pub(crate) struct Call {
    pub(crate) at: NodeAddress,
    /// `None` for `forward`/`apply` (Flax's `__call__`), else the method's name.
    pub(crate) method: Option<&'static str>,
    pub(crate) inputs: String,
    pub(crate) outputs: String,
}

/// How a value shows in the `inputs`/`outputs` columns of
/// [`tabulate_with`](crate::tabulate_with), as Flax shows it: an array (a
/// `Tensor`, an ndarray, a scalar) as its dtype and shape (`float32[2,3]`,
/// `float32[]`), `None` as `None`, a tuple or slice as a YAML list with one
/// `- ` line per element.
///
/// ```
/// use nnx_core::record::Describe;
/// let x = ndarray::Array2::<f32>::zeros((2, 3));
/// assert_eq!(x.describe(), "float32[2,3]");
/// assert_eq!((x.clone(), None::<f32>).describe(), "- float32[2,3]\n- None");
/// assert_eq!(((x.clone(), x.clone()), 1.5f32).describe(), "- - float32[2,3]\n  - float32[2,3]\n- float32[]");
/// ```
pub trait Describe {
    /// The column text for `self`.
    ///
    /// ```
    /// use nnx_core::record::Describe;
    /// assert_eq!(ndarray::Array1::<i32>::zeros(4).describe(), "int32[4]");
    /// ```
    fn describe(&self) -> String;
}

impl<A: Element, S: Data<Elem = A>, D: Dimension> Describe for ArrayBase<S, D> {
    fn describe(&self) -> String {
        array_spec(A::DTYPE, self.shape())
    }
}

macro_rules! describe_scalars {
    ($($t:ty),*) => {$(
        impl Describe for $t {
            fn describe(&self) -> String {
                array_spec(<$t as Element>::DTYPE, &[])
            }
        }
    )*};
}
describe_scalars!(f32, f64, i32, i64, u8, u32, bool);

impl<T: Describe + ?Sized> Describe for &T {
    fn describe(&self) -> String {
        (**self).describe()
    }
}

impl<T: Describe> Describe for Vec<T> {
    fn describe(&self) -> String {
        self.as_slice().describe()
    }
}

impl<T: Describe> Describe for Option<T> {
    fn describe(&self) -> String {
        self.as_ref()
            .map_or_else(|| "None".to_string(), T::describe)
    }
}

impl<T: Describe> Describe for [T] {
    fn describe(&self) -> String {
        yaml_list(self.iter().map(T::describe))
    }
}

macro_rules! describe_tuples {
    ($(($($t:ident $i:tt),+))*) => {$(
        impl<$($t: Describe),+> Describe for ($($t,)+) {
            fn describe(&self) -> String {
                yaml_list([$(self.$i.describe()),+])
            }
        }
    )*};
}
describe_tuples! {
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
}

/// `float32[2,3]`: how Flax shows an array.
///
/// ```
/// use nnx_core::value::DType;
/// assert_eq!(nnx_core::record::array_spec(DType::F32, &[2, 3]), "float32[2,3]");
/// assert_eq!(nnx_core::record::array_spec(DType::I32, &[]), "int32[]");
/// ```
pub fn array_spec(dtype: DType, shape: &[usize]) -> String {
    let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
    format!("{dtype}[{}]", dims.join(","))
}

/// Items as a YAML block list: `- ` before each item's first line, two spaces
/// before its others (so lists nest as PyYAML writes them).
fn yaml_list(items: impl IntoIterator<Item = String>) -> String {
    let mut out = Vec::new();
    for item in items {
        for (i, line) in item.lines().enumerate() {
            out.push(format!("{}{line}", if i == 0 { "- " } else { "  " }));
        }
    }
    out.join("\n")
}

/// Records that `module` was called (its `forward`/`apply`, Flax's
/// `__call__`) with `input` and returned `output`, for a running
/// [`tabulate_with`](crate::tabulate_with); does nothing otherwise (one
/// thread-local flag check).
///
/// Every library layer records its calls. A module of your own with its own
/// `forward` records with this one line; without it, its row in the table
/// shows its Variables but empty `inputs` and `outputs` columns.
///
/// ```
/// use nnx_core::prelude::*;
/// use ndarray::Array1;
/// #[derive(Module)]
/// struct Scale { s: Param<f32> }
/// impl Scale {
///     fn forward(&mut self, x: &Array1<f32>) -> nnx_core::Result<Array1<f32>> {
///         let y = x * *self.s;
///         nnx_core::record::call(self, x, &y);
///         Ok(y)
///     }
/// }
/// let table = nnx_core::tabulate_with(&Scale { s: Param::new(2.0) }, &Array1::<f32>::ones(3), |m, x| {
///     let mut m2 = Scale { s: Param::new(3.0) }; // not part of the model: no row
///     m2.forward(x)?;
///     m.forward(x)
/// })?;
/// assert!(table.contains("│      │ Scale │ float32[3] │ float32[3] │ s: float32[] │"), "{table}");
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[inline]
pub fn call<M, I, O>(module: &M, input: &I, output: &O)
where
    M: ?Sized,
    I: Describe + ?Sized,
    O: Describe + ?Sized,
{
    if ACTIVE.with(Cell::get) {
        push(NodeAddress::of(module), None, input, output);
    }
}

/// [`call`] for a method other than `forward`/`apply` (Flax's
/// `Embed.attend`): its row's path ends in `method`, as in Flax
/// (`embed/attend`).
///
/// ```
/// use nnx_core::prelude::*;
/// #[derive(Module)]
/// struct Table { w: Param<ndarray::Array1<f32>> }
/// impl Table {
///     fn total(&self, x: &ndarray::Array1<f32>) -> f32 {
///         let y = (x * &*self.w).sum();
///         nnx_core::record::method(self, "total", x, &y);
///         y
///     }
/// }
/// let t = Table { w: Param::new(ndarray::Array1::ones(2)) };
/// let x = ndarray::Array1::<f32>::ones(2);
/// let table = nnx_core::tabulate_with(&t, &x, |m, x| Ok(m.total(x)))?;
/// assert!(table.contains("│ total │ Table │ float32[2] │ float32[] │"), "{table}");
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[inline]
pub fn method<M, I, O>(module: &M, method: &'static str, input: &I, output: &O)
where
    M: ?Sized,
    I: Describe + ?Sized,
    O: Describe + ?Sized,
{
    if ACTIVE.with(Cell::get) {
        push(NodeAddress::of(module), Some(method), input, output);
    }
}

#[cold]
#[inline(never)]
fn push<I: Describe + ?Sized, O: Describe + ?Sized>(
    at: NodeAddress,
    method: Option<&'static str>,
    input: &I,
    output: &O,
) {
    let call = Call {
        at,
        method,
        inputs: input.describe(),
        outputs: output.describe(),
    };
    CALLS.with(|c| c.borrow_mut().push(call));
}

/// Records the calls of this thread until [`Recording::finish`]; a tabulate
/// running inside another one records apart from it, and the outer one
/// resumes afterwards (also when the call panics).
pub(crate) struct Recording {
    outer: Option<(bool, Vec<Call>)>,
}

impl Recording {
    pub(crate) fn start() -> Recording {
        let calls = CALLS.with(|c| c.take());
        Recording {
            outer: Some((ACTIVE.with(|a| a.replace(true)), calls)),
        }
    }

    /// The calls recorded since [`start`](Recording::start).
    pub(crate) fn finish(mut self) -> Vec<Call> {
        self.restore()
    }

    fn restore(&mut self) -> Vec<Call> {
        match self.outer.take() {
            Some((active, calls)) => {
                ACTIVE.with(|a| a.set(active));
                CALLS.with(|c| c.replace(calls))
            }
            None => Vec::new(),
        }
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        self.restore();
    }
}
