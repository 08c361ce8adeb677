//! The one rule for "does this leaf fit this Variable slot", which merge, update
//! and checkpoint loading all ask, each turning a misfit into its own error.
//!
//! A leaf fits when its Variable type is the slot's and its value is either of the
//! slot's Rust type with the slot's shape, or of another Rust type holding the
//! data the slot stores (same dtype and shape: an `ArrayD<f32>` of shape `(2, 3)`
//! for an `Array2<f32>`, raw `uint32` key data for a key). Such a leaf takes the
//! slot's type when it is applied ([`Fit::Convert`]).

use std::sync::Arc;

use crate::error::Error;
use crate::kind::Kind;
use crate::repr::fmt_tuple_usize;
use crate::value::{short_type_name, DType, Value};
use crate::variable::VariableState;

/// A Variable slot, as a GraphDef records it or as a live Variable holds it.
pub(crate) enum Slot<'a> {
    /// A GraphDef's Variable entry.
    Declared(&'a VariableDecl),
    /// A live Variable: its type and value.
    Live { kind: Kind, value: &'a dyn Value },
}

/// What a GraphDef records of a Variable: everything its slot accepts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct VariableDecl {
    pub(crate) kind: Kind,
    /// The value's Rust type.
    pub(crate) value_type: &'static str,
    pub(crate) dtype: Option<DType>,
    layout: Layout,
}

/// Axes a declared shape holds without allocating (a conv kernel has four).
const INLINE_AXES: usize = 4;

/// A declared value's shape, and the layout of its stored data where that differs
/// (a key: shape `()`, data `uint32 (2,)`). One field, so that a GraphDef entry
/// stays small: `split` and `graphdef` spend much of their time moving entries.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Layout {
    /// A value without a shape.
    None,
    /// A shape of up to [`INLINE_AXES`] axes, the unused ones zero: declaring
    /// the usual Variables allocates nothing.
    Small {
        ndim: u8,
        dims: [usize; INLINE_AXES],
    },
    Shape(Vec<usize>),
    /// Rare (keys), so boxed: the shape (if any), then the data's dtype and shape.
    Raw(Box<(Option<Vec<usize>>, DType, Vec<usize>)>),
}

impl VariableDecl {
    /// The declaration of a live value's slot.
    pub(crate) fn of(kind: Kind, value: &dyn Value) -> Self {
        let (dtype, shape) = (value.dtype(), value.shape_of());
        // An array or scalar stores data of its own dtype and shape; only a value
        // without a dtype (a key) can hold data of another layout.
        let raw = match dtype {
            Some(_) => None,
            None => value.array_ref(),
        };
        let layout = match (raw, shape) {
            (Some(r), shape) => Layout::Raw(Box::new((shape, r.dtype(), r.shape().to_vec()))),
            (None, Some(s)) if s.len() <= INLINE_AXES => {
                let mut dims = [0; INLINE_AXES];
                dims[..s.len()].copy_from_slice(&s);
                Layout::Small {
                    ndim: s.len() as u8,
                    dims,
                }
            }
            (None, Some(s)) => Layout::Shape(s),
            (None, None) => Layout::None,
        };
        VariableDecl {
            kind,
            value_type: value.type_name(),
            dtype,
            layout,
        }
    }

    /// The declared value's shape.
    pub(crate) fn shape(&self) -> Option<&[usize]> {
        match &self.layout {
            Layout::None => None,
            Layout::Small { ndim, dims } => dims.get(..usize::from(*ndim)),
            Layout::Shape(s) => Some(s),
            Layout::Raw(r) => r.0.as_deref(),
        }
    }

    fn data(&self) -> Option<(DType, &[usize])> {
        match &self.layout {
            Layout::Raw(r) => Some((r.1, &r.2)),
            _ => Some((self.dtype?, self.shape()?)),
        }
    }
}

/// How a leaf fits its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fit {
    /// Its value has the slot's Rust type.
    Same,
    /// Its value holds the slot's data in another Rust type: convert it.
    Convert,
}

/// The ways a leaf does not fit its slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Misfit {
    kind: bool,
    /// Another Rust type that holds no data of the slot's kind.
    value_type: bool,
    dtype: bool,
    shape: bool,
}

impl Slot<'_> {
    fn kind(&self) -> Kind {
        match self {
            Slot::Declared(d) => d.kind,
            Slot::Live { kind, .. } => *kind,
        }
    }

    fn value_type(&self) -> &'static str {
        match self {
            Slot::Declared(d) => d.value_type,
            Slot::Live { value, .. } => value.type_name(),
        }
    }

    /// For a value of the slot's Rust type: whether it has the slot's shape.
    fn same_shape(&self, value: &dyn Value) -> bool {
        match self {
            Slot::Declared(d) => value.has_shape(d.shape()),
            Slot::Live { value: v, .. } => crate::value::same_shape(*v, value),
        }
    }

    /// For a value of another Rust type: whether its data has the slot's dtype and
    /// shape, `None` when either holds no array data.
    fn data_misfit(&self, value: &dyn Value) -> Option<(bool, bool)> {
        let found = value.array_ref()?;
        match self {
            Slot::Declared(d) => {
                let (dtype, shape) = d.data()?;
                Some((found.dtype() != dtype, found.shape() != shape))
            }
            Slot::Live { value: v, .. } => {
                let own = v.array_ref()?;
                Some((found.dtype() != own.dtype(), found.shape() != own.shape()))
            }
        }
    }

    /// `float32 (2, 3)`, or the Rust type for values without array data.
    fn describe_data(&self) -> String {
        match self {
            Slot::Declared(d) => match d.data() {
                Some((dtype, shape)) => format!("{dtype} {}", fmt_tuple_usize(shape)),
                None => d.value_type.to_string(),
            },
            Slot::Live { value, .. } => describe(*value),
        }
    }
}

/// `float32 (2, 3)`: a value's stored data as errors describe it, or its Rust
/// type when it holds no array data.
pub(crate) fn describe(value: &dyn Value) -> String {
    match value.array_ref() {
        Some(r) => format!("{} {}", r.dtype(), fmt_tuple_usize(r.shape())),
        None => short_type_name(value.type_name()),
    }
}

/// A leaf that fits by conversion ([`Fit::Convert`]) with its value given the
/// slot's Rust type `expected` by `convert`, which moves the value (an unshared
/// loaded array changes type without a copy). An error names `path` if it cannot.
pub(crate) fn convert_leaf(
    leaf: VariableState,
    expected: &str,
    path: impl FnOnce() -> String,
    convert: impl FnOnce(Arc<dyn Value>) -> Option<Arc<dyn Value>>,
) -> Result<VariableState, Error> {
    let VariableState {
        kind,
        value,
        metadata,
        hooks,
    } = leaf;
    let found = format!(
        "{} ({})",
        short_type_name(value.type_name()),
        describe(&*value)
    );
    match convert(value) {
        Some(value) => Ok(VariableState {
            kind,
            value,
            metadata,
            hooks,
        }),
        None => Err(Error::TypeMismatch {
            path: path().into(),
            expected: short_type_name(expected),
            found,
        }),
    }
}

/// Whether a leaf of Variable type `kind` (`None`: untyped, as a tensor from
/// another tool, which takes the slot's type) holding `value` fits `slot`.
pub(crate) fn fit(slot: &Slot<'_>, kind: Option<Kind>, value: &dyn Value) -> Result<Fit, Misfit> {
    let mut misfit = Misfit {
        kind: kind.is_some_and(|k| k != slot.kind()),
        ..Misfit::default()
    };
    // Type names come from one `type_name` call per type: equal addresses spare
    // comparing the bytes.
    let (found, declared) = (value.type_name(), slot.value_type());
    let fit = if std::ptr::eq(found, declared) || found == declared {
        misfit.shape = !slot.same_shape(value);
        Fit::Same
    } else {
        match slot.data_misfit(value) {
            Some((dtype, shape)) => (misfit.dtype, misfit.shape) = (dtype, shape),
            None => misfit.value_type = true,
        }
        Fit::Convert
    };
    if misfit == Misfit::default() {
        Ok(fit)
    } else {
        Err(misfit)
    }
}

impl Misfit {
    /// The errors for a leaf at `path` that did not fit `slot`, in the order
    /// Variable type, value type, dtype, shape.
    pub(crate) fn errors(
        self,
        slot: &Slot<'_>,
        kind: Option<Kind>,
        value: &dyn Value,
        path: &str,
    ) -> Vec<Error> {
        let mut errors = Vec::new();
        if let (true, Some(found)) = (self.kind, kind) {
            errors.push(Error::KindMismatch {
                path: path.into(),
                expected: slot.kind().name().to_string(),
                found: found.name().to_string(),
            });
        }
        if self.value_type {
            errors.push(Error::TypeMismatch {
                path: path.into(),
                expected: format!(
                    "{} (or any array of {})",
                    short_type_name(slot.value_type()),
                    slot.describe_data()
                ),
                found: format!(
                    "{} ({})",
                    short_type_name(value.type_name()),
                    describe(value)
                ),
            });
        }
        if self.dtype {
            if let (Some((expected, _)), Some(found)) = (slot_data(slot), value.array_ref()) {
                errors.push(Error::DTypeMismatch {
                    path: path.into(),
                    expected: expected.name().to_string(),
                    found: found.dtype().name().to_string(),
                });
            }
        }
        if self.shape {
            // A value of the slot's type is compared by its shape, another by its data.
            let (expected, found) = if value.type_name() == slot.value_type() {
                let expected = match slot {
                    Slot::Declared(d) => d.shape().map(<[usize]>::to_vec),
                    Slot::Live { value, .. } => value.shape_of(),
                };
                (expected, value.shape_of())
            } else {
                let found = value.array_ref().map(|r| r.shape().to_vec());
                (slot_data(slot).map(|(_, s)| s), found)
            };
            errors.push(Error::ShapeMismatch {
                path: path.into(),
                expected: shape_repr(expected.as_deref()),
                found: shape_repr(found.as_deref()),
            });
        }
        errors
    }
}

/// A slot's stored dtype and shape, owned (only errors ask).
fn slot_data(slot: &Slot<'_>) -> Option<(DType, Vec<usize>)> {
    match slot {
        Slot::Declared(d) => d.data().map(|(d, s)| (d, s.to_vec())),
        Slot::Live { value, .. } => value.array_ref().map(|r| (r.dtype(), r.shape().to_vec())),
    }
}

fn shape_repr(shape: Option<&[usize]>) -> String {
    match shape {
        Some(s) => fmt_tuple_usize(s),
        None => "no shape".to_string(),
    }
}
