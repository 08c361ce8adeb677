//! A Variable seen without its value type: what filters, State and graph walkers
//! work with.
//!
//! ```
//! use nnx_core::{AnyVariable, Param, Variable, VariableInfo};
//! let v = Variable::with_kind(Param, 1.0f32);
//! let leaf = v.to_state();
//! assert_eq!((leaf.kind(), v.kind()), (Param, Param));
//! ```

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use super::{Hooks, Variable};
use crate::error::{Error, Result};
use crate::kind::Kind;
use crate::metadata::Metadata;
use crate::value::{downcast_arc, short_type_name, value_type_mismatch, Value};

/// What a filter may look at: the Variable's type and metadata.
///
/// ```
/// use nnx_core::VariableInfo;
/// let leaf = nnx_core::VariableState::new(nnx_core::Param, 1.0f32);
/// assert_eq!(leaf.kind(), nnx_core::Param);
/// assert!(leaf.metadata().is_empty());
/// ```
pub trait VariableInfo {
    /// The Variable type.
    ///
    /// ```
    /// use nnx_core::VariableInfo;
    /// assert_eq!(nnx_core::VariableState::new(nnx_core::Cache, 0u8).kind(), nnx_core::Cache);
    /// ```
    fn kind(&self) -> Kind;
    /// The metadata.
    ///
    /// ```
    /// use nnx_core::VariableInfo;
    /// assert!(nnx_core::VariableState::new(nnx_core::Cache, 0u8).metadata().is_empty());
    /// ```
    fn metadata(&self) -> &Metadata;
}

/// One Variable, type-erased: its kind, shared value and metadata (Flax's
/// `VariableState`). Cloning shares the value.
///
/// ```
/// use nnx_core::{VariableState, Param};
/// let leaf = VariableState::new(Param, ndarray::arr1(&[1.0f32, 2.0]));
/// assert_eq!(leaf.kind, Param);
/// assert_eq!(leaf.to_string(), "Param( # 2 (8 B)\n  value=Array([1., 2.], dtype=float32)\n)");
/// ```
#[derive(Clone)]
pub struct VariableState {
    /// The Variable type.
    pub kind: Kind,
    /// The value, shared with the Variable it came from.
    pub value: Arc<dyn Value>,
    /// The metadata.
    pub metadata: Metadata,
    /// The instance hooks (typed `Hooks<T>` behind `Any`), kept so that merge
    /// restores them as Flax keeps hooks in metadata.
    pub(crate) hooks: Option<Arc<dyn Any + Send + Sync>>,
}

impl VariableState {
    /// A leaf with no metadata.
    ///
    /// ```
    /// let leaf = nnx_core::VariableState::new(nnx_core::Cache, 0u32);
    /// assert!(leaf.metadata.is_empty());
    /// ```
    pub fn new(kind: Kind, value: impl Value) -> Self {
        VariableState {
            kind,
            value: Arc::new(value),
            metadata: Metadata::new(),
            hooks: None,
        }
    }

    /// The same Variable with another value (hooks and metadata kept).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let leaf = nnx_core::VariableState::new(nnx_core::Param, 1.0f32);
    /// let other = leaf.with_value(Arc::new(2.0f32));
    /// assert_eq!(other.value.as_any().downcast_ref::<f32>(), Some(&2.0));
    /// ```
    pub fn with_value(&self, value: Arc<dyn Value>) -> Self {
        VariableState {
            kind: self.kind,
            value,
            metadata: self.metadata.clone(),
            hooks: self.hooks.clone(),
        }
    }

    pub(crate) fn same_as(&self, other: &VariableState) -> bool {
        self.kind == other.kind
            && self.metadata == other.metadata
            && self.value.eq_value(&*other.value)
    }
}

impl VariableInfo for VariableState {
    fn kind(&self) -> Kind {
        self.kind
    }
    fn metadata(&self) -> &Metadata {
        &self.metadata
    }
}

impl fmt::Display for VariableState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::display::fmt_variable(f, self.kind, &*self.value, &self.metadata, 0)
    }
}

impl fmt::Debug for VariableState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl<T: Value + Clone> Variable<T> {
    /// Rebuilds a Variable from a state leaf, checking the value's Rust type.
    /// `path` names the Variable in errors; it is only built for one.
    pub(crate) fn from_state(state: VariableState, path: impl FnOnce() -> String) -> Result<Self> {
        let VariableState {
            kind,
            value,
            metadata,
            hooks,
        } = state;
        let found = value.type_name();
        let value = downcast_arc::<T>(value).map_err(|_| Error::TypeMismatch {
            path: path().into(),
            expected: short_type_name(std::any::type_name::<T>()),
            found: short_type_name(found),
        })?;
        let hooks = hooks.and_then(|h| h.downcast::<Hooks<T>>().ok());
        Ok(Variable {
            kind,
            value,
            metadata,
            hooks,
            tie: None,
        })
    }
}

/// A Variable seen without its value type: what graph walkers and filters get.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::AnyVariable;
/// let v = nnx_core::Variable::new(1.0f32);
/// let any: &dyn AnyVariable = &v;
/// assert_eq!(any.value_dyn().as_any().downcast_ref::<f32>(), Some(&1.0));
/// ```
pub trait AnyVariable: VariableInfo + Send + Sync {
    /// The value.
    ///
    /// ```
    /// use nnx_core::AnyVariable;
    /// let v = nnx_core::Variable::new(1u8);
    /// assert_eq!(v.value_dyn().as_any().downcast_ref::<u8>(), Some(&1));
    /// ```
    fn value_dyn(&self) -> &dyn Value;
    /// A state leaf sharing the value (no copy).
    ///
    /// ```
    /// use nnx_core::AnyVariable;
    /// let v = nnx_core::Variable::with_kind(nnx_core::Param, 1.0f32);
    /// assert_eq!(v.to_state().kind, nnx_core::Param);
    /// ```
    fn to_state(&self) -> VariableState;
    /// Replaces value and metadata from a state leaf (no hooks fire). The leaf's
    /// kind and value type must match; `path` names the Variable in errors.
    ///
    /// ```
    /// use nnx_core::{AnyVariable, Param, VariableState};
    /// let mut v = nnx_core::Variable::with_kind(Param, 1.0f32);
    /// v.update_from(&VariableState::new(Param, 2.0f32), "w").unwrap();
    /// assert_eq!(*v, 2.0);
    /// assert!(v.update_from(&VariableState::new(Param, 2u8), "w").is_err()); // wrong type
    /// ```
    fn update_from(&mut self, state: &VariableState, path: &str) -> Result<()>;
}

impl<T: Value + Clone> VariableInfo for Variable<T> {
    fn kind(&self) -> Kind {
        self.kind
    }
    fn metadata(&self) -> &Metadata {
        &self.metadata
    }
}

impl<T: Value + Clone> AnyVariable for Variable<T> {
    fn value_dyn(&self) -> &dyn Value {
        &*self.value
    }
    fn to_state(&self) -> VariableState {
        VariableState {
            kind: self.kind,
            value: self.value.clone(),
            metadata: self.metadata.clone(),
            hooks: self.hooks.clone().map(|h| h as Arc<dyn Any + Send + Sync>),
        }
    }
    fn update_from(&mut self, state: &VariableState, path: &str) -> Result<()> {
        if state.kind != self.kind {
            return Err(Error::KindMismatch {
                path: path.into(),
                expected: self.kind.name().to_string(),
                found: state.kind.name().to_string(),
            });
        }
        let value = downcast_arc::<T>(state.value.clone()).map_err(|v| {
            value_type_mismatch(path, self.value.type_name(), self.value.dtype(), &*v)
        })?;
        self.value = value;
        self.metadata = state.metadata.clone();
        Ok(())
    }
}
