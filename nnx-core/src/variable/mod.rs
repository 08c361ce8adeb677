//! The Variable: a value with a type, metadata and hooks, and [`VariableMetadata`],
//! Flax's way of attaching behaviour to one Variable instance.
//!
//! Hooks fire exactly where Flax fires them: create hooks once, at construction; get
//! hooks on [`get_value`](VariableType::get_value) only; set hooks on
//! [`set_value`](VariableType::set_value) only; axis hooks on
//! [`add_axis`](VariableType::add_axis) / [`remove_axis`](VariableType::remove_axis).
//! Raw access, graph operations and state updates never fire hooks. (Hooks and the
//! Variable refer to each other, so they share this file.)
//!
//! ```
//! use nnx_core::prelude::*;
//! let mut v = Variable::new(1.0f32);
//! v.set_value(3.0);
//! assert_eq!(*v, 3.0);
//! let p = Param::from_metadata(nnx_core::VariableMetadata::new(1.0f32).on_get_value(|_, v| v + 1.0));
//! assert_eq!((*p.value(), p.get_value()), (1.0, 2.0));
//! ```

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::kind::{Kind, KindInfo};
use crate::metadata::{MetaValue, Metadata};
use crate::value::Value;

mod erased;

pub use erased::{AnyVariable, VariableInfo, VariableState};

static VARIABLE_INFO: KindInfo = KindInfo::new("Variable", None, None);

/// The kind of the base [`Variable`](struct@Variable) type, and a filter matching every Variable.
///
/// ```
/// use nnx_core::prelude::*;
/// assert!(nnx_core::Param.is_subtype_of(nnx_core::Variable));
/// assert_eq!(Param::new(1.0f32).state_of(nnx_core::Variable).len(), 1);
/// ```
#[allow(non_upper_case_globals)]
pub const Variable: Kind = Kind::from_static(&VARIABLE_INFO);

/// The base Variable: a value of type `T`, its kind, ordered metadata and hooks.
///
/// Typed Variables (`Param<T>`, `BatchStat<T>`, your own types from
/// [`variable_type!`](crate::variable_type)) wrap one. The value is held in an `Arc`:
/// taking a [`State`](crate::State) shares it, and the first write afterwards copies
/// it (copy on write), so graph operations never copy array data.
///
/// ```
/// use nnx_core::prelude::*;
/// let v = Variable::new(ndarray::arr1(&[0.0f32, 0.0, 0.0]));
/// assert_eq!(v.kind(), nnx_core::Variable);
/// assert_eq!(
///     v.to_string(),
///     "Variable( # 3 (12 B)\n  value=Array([0., 0., 0.], dtype=float32)\n)"
/// );
/// ```
pub struct Variable<T> {
    kind: Kind,
    value: Arc<T>,
    metadata: Metadata,
    hooks: Option<Arc<Hooks<T>>>,
    /// Set once the Variable is tied to another place ([`VariableType::tie`]).
    tie: Option<Tie>,
}

/// The identity that the places of one tied Variable share: graph walks
/// deduplicate by it, as they do `Shared` handles.
#[derive(Clone)]
struct Tie(Arc<()>);

impl<T> Variable<T> {
    /// The identity of the tie this Variable is part of, if any.
    pub(crate) fn tie_id(&self) -> Option<usize> {
        self.tie.as_ref().map(|t| Arc::as_ptr(&t.0) as usize)
    }

    /// Starts a new tie (merge: the first place of a tied Variable).
    pub(crate) fn start_tie(&mut self) {
        self.tie = Some(Tie(Arc::new(())));
    }
}

impl<T> Clone for Variable<T> {
    fn clone(&self) -> Self {
        Variable {
            kind: self.kind,
            value: Arc::clone(&self.value),
            metadata: self.metadata.clone(),
            hooks: self.hooks.clone(),
            tie: self.tie.clone(),
        }
    }
}

impl<T: Value + Clone> Variable<T> {
    /// A base `Variable` holding `value` (create hooks: none).
    ///
    /// ```
    /// let v = nnx_core::Variable::new(1.0f32);
    /// assert_eq!(*v, 1.0);
    /// ```
    pub fn new(value: T) -> Self {
        create(VariableMetadata::new(value))
    }

    /// A base `Variable` from a raw value with hooks and metadata.
    ///
    /// ```
    /// let v = nnx_core::Variable::from_metadata(
    ///     nnx_core::VariableMetadata::new(1.0f32).on_create_value(|_, x| x * 2.0),
    /// );
    /// assert_eq!(*v, 2.0);
    /// ```
    pub fn from_metadata(meta: VariableMetadata<T>) -> Self {
        create(meta)
    }

    /// A Variable of a kind known only at run time (e.g. from the
    /// [registry](crate::registry)).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let v = nnx_core::Variable::with_kind(nnx_core::Param, 1.0f32);
    /// assert_eq!(v.kind(), nnx_core::Param);
    /// ```
    pub fn with_kind(kind: Kind, value: T) -> Self {
        let mut v = Self::new(value);
        v.kind = kind;
        v
    }
}

/// Builds a typed Variable from a plain value (used by `variable_type!`).
#[doc(hidden)]
pub fn create_typed<V: VariableBehavior>(value: V::Value) -> V {
    create(VariableMetadata::new(value))
}

/// Builds a typed Variable from a [`VariableMetadata`] (used by `variable_type!`).
#[doc(hidden)]
pub fn create_typed_from_metadata<V: VariableBehavior>(meta: VariableMetadata<V::Value>) -> V {
    create(meta)
}

/// Builds a typed Variable, firing create hooks (the instance's hooks in order,
/// then the type's [`VariableBehavior::on_create_value`]).
fn create<V: VariableBehavior>(meta: VariableMetadata<V::Value>) -> V {
    let VariableMetadata {
        raw_value,
        hooks,
        metadata,
    } = meta;
    let mut var = Variable {
        kind: V::KIND,
        value: Arc::new(raw_value),
        metadata,
        hooks: (!hooks.is_empty()).then(|| Arc::new(hooks)),
        tie: None,
    };
    if let Some(hooks) = var.hooks.clone() {
        for hook in &hooks.create {
            // A hook sees the Variable as it stands, so the value it transforms is a copy.
            let v = hook(&var, (*var.value).clone());
            var.value = Arc::new(v);
        }
    }
    var.value = match Arc::try_unwrap(var.value) {
        Ok(v) => Arc::new(V::on_create_value(&var.metadata, v)),
        Err(shared) => Arc::new(V::on_create_value(&var.metadata, (*shared).clone())),
    };
    V::from_variable(var)
}

/// Behaviour a Variable type can override: Flax's recommended alternative to
/// per-instance hooks (a subclass overriding `get_value`/`set_value`/`create_value`).
///
/// [`variable_type!`](crate::variable_type) implements it with the defaults (identity)
/// unless the type is declared with `behavior = custom`:
///
/// ```
/// use nnx_core::prelude::*;
/// nnx_core::variable_type!(pub Clamped: nnx_core::Param, behavior = custom);
///
/// impl VariableBehavior for Clamped<f32> {
///     fn on_get_value(&self, value: f32) -> f32 {
///         value.clamp(0.0, 1.0)
///     }
/// }
///
/// let mut c = Clamped::new(3.0f32);
/// assert_eq!(c.get_value(), 1.0);
/// assert_eq!(*c.value(), 3.0); // raw access bypasses behaviour
/// c.set_value(-2.0);
/// assert_eq!(c.get_value(), 0.0);
/// ```
pub trait VariableBehavior: VariableType {
    /// Transforms the value at construction, after the instance's create hooks.
    /// It sees the metadata the Variable is created with.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// nnx_core::variable_type!(pub Positive, behavior = custom);
    /// impl VariableBehavior for Positive<f32> {
    ///     fn on_create_value(_: &nnx_core::Metadata, v: f32) -> f32 { v.abs() }
    /// }
    /// assert_eq!(*Positive::new(-2.0f32), 2.0);
    /// ```
    fn on_create_value(metadata: &Metadata, value: Self::Value) -> Self::Value {
        let _ = metadata;
        value
    }
    /// Transforms the value read by `get_value`, after the instance's get hooks.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// nnx_core::variable_type!(pub Doubled, behavior = custom);
    /// impl VariableBehavior for Doubled<f32> {
    ///     fn on_get_value(&self, v: f32) -> f32 { v * 2.0 }
    /// }
    /// let d = Doubled::new(1.5f32);
    /// assert_eq!((d.get_value(), *d.value()), (3.0, 1.5));
    /// ```
    fn on_get_value(&self, value: Self::Value) -> Self::Value {
        value
    }
    /// Transforms the value given to `set_value`, before the instance's set hooks.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// nnx_core::variable_type!(pub Rounded, behavior = custom);
    /// impl VariableBehavior for Rounded<f32> {
    ///     fn on_set_value(&self, v: f32) -> f32 { v.round() }
    /// }
    /// let mut r = Rounded::new(0.0f32);
    /// r.set_value(2.7);
    /// assert_eq!(*r.value(), 3.0);
    /// ```
    fn on_set_value(&self, value: Self::Value) -> Self::Value {
        value
    }
}

/// The interface every Variable type shares: typed access to the value, metadata,
/// hooks and the kind. Implemented by [`Variable`](struct@Variable) and by every type that
/// [`variable_type!`](crate::variable_type) declares.
///
/// ```
/// use nnx_core::prelude::*;
/// let mut p = Param::new(1.0f32);
/// p.set_metadata("axis_names", ("in",));
/// assert!(p.has_metadata("axis_names"));
/// assert!(p.get_metadata_entry("missing").is_err());
/// assert_eq!(p.get_metadata_or("missing", 3).to_string(), "3");
/// p.del_metadata("axis_names").unwrap();
/// assert!(p.get_metadata().is_empty());
/// ```
pub trait VariableType: Sized + Send + Sync + 'static {
    /// The value type.
    type Value: Value + Clone;
    /// The kind of this type.
    const KIND: Kind;

    /// Wraps a base Variable (its kind must be `Self::KIND`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let p = Param::from_variable(nnx_core::Variable::with_kind(nnx_core::Param, 1.0f32));
    /// assert_eq!(*p, 1.0);
    /// ```
    fn from_variable(var: Variable<Self::Value>) -> Self;
    /// The base Variable.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let p = Param::new(1.0f32);
    /// assert_eq!(p.as_variable().kind(), nnx_core::Param);
    /// ```
    fn as_variable(&self) -> &Variable<Self::Value>;
    /// The base Variable, mutably.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::new(1.0f32);
    /// *p.as_variable_mut().value_mut() = 2.0;
    /// assert_eq!(*p, 2.0);
    /// ```
    fn as_variable_mut(&mut self) -> &mut Variable<Self::Value>;
    /// Unwraps the base Variable.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let v: Variable<f32> = Param::new(1.0f32).into_variable();
    /// assert_eq!((v.kind(), *v), (nnx_core::Param, 1.0));
    /// ```
    fn into_variable(self) -> Variable<Self::Value>;

    /// Ties this Variable to another place and returns the handle to store
    /// there (Flax: `decoder.kernel = encoder.kernel`). Graph operations treat the
    /// places as one Variable: `state`/`split` list it once, at its first path in
    /// sorted order, so checkpoints keep one copy; `merge` restores the tie;
    /// `update` (and so checkpoint loading, optimizers and `value_and_grad`) writes
    /// every place, and gradients through several uses add up. A tied Variable
    /// cannot be popped from one place only. Writing one place directly (`*p =`,
    /// `set_value`) changes that place alone: write a tied Variable with `update`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use ndarray::Array2;
    /// #[derive(Module)]
    /// struct Tied { decoder: Param<Array2<f32>>, encoder: Param<Array2<f32>> }
    /// let mut encoder = Param::new(Array2::<f32>::zeros((2, 2)));
    /// let decoder = encoder.tie();
    /// let mut m = Tied { decoder, encoder };
    /// assert_eq!(m.state().len(), 1); // at 'decoder', the first path
    /// let (g, s) = m.split(..)?;
    /// let mut m: Tied = g.merge(s)?;
    /// assert!(m.decoder.is_tied_to(&m.encoder));
    /// let mut s = m.state();
    /// s.set("decoder", Array2::<f32>::ones((2, 2)))?;
    /// m.update(s)?; // both places
    /// assert_eq!(*m.encoder, Array2::<f32>::ones((2, 2)));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn tie(&mut self) -> Self {
        let var = self.as_variable_mut();
        if var.tie.is_none() {
            var.start_tie();
        }
        Self::from_variable(var.clone())
    }

    /// Whether `self` and `other` are places of one tied Variable.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut a = Param::new(1.0f32);
    /// let b = a.tie();
    /// assert!(a.is_tied_to(&b));
    /// assert!(!a.is_tied_to(&Param::new(1.0f32)));
    /// ```
    fn is_tied_to(&self, other: &Self) -> bool {
        let id = self.as_variable().tie_id();
        id.is_some() && id == other.as_variable().tie_id()
    }

    /// The Variable's type at run time (Flax's `variable.type`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// assert_eq!(BatchStat::new(0u8).kind(), nnx_core::BatchStat);
    /// ```
    fn kind(&self) -> Kind {
        self.as_variable().kind
    }

    /// The raw value: no hooks fire.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// assert_eq!(*Param::new(1.0f32).value(), 1.0);
    /// ```
    fn value(&self) -> &Self::Value {
        &self.as_variable().value
    }

    /// The raw value, mutably: no hooks fire. Copies the data first only if a
    /// [`State`](crate::State) still shares it.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::new(1.0f32);
    /// let state = p.state(); // shares the value
    /// *p.value_mut() = 2.0; // copies it first
    /// assert_eq!(*p, 2.0);
    /// assert_eq!(state.into_flat()[0].1.value.as_any().downcast_ref::<f32>(), Some(&1.0));
    /// ```
    fn value_mut(&mut self) -> &mut Self::Value {
        Arc::make_mut(&mut self.as_variable_mut().value)
    }

    /// Replaces the raw value: no hooks fire.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::from_metadata(nnx_core::VariableMetadata::new(0.0f32).on_set_value(|_, v| v * 10.0));
    /// p.set_raw_value(2.0); // the set hook does not fire
    /// assert_eq!(*p, 2.0);
    /// ```
    fn set_raw_value(&mut self, value: Self::Value) {
        self.as_variable_mut().value = Arc::new(value);
    }

    /// The value through the get hooks and the type's behaviour (a copy).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let p = Param::from_metadata(nnx_core::VariableMetadata::new(2.0f32).on_get_value(|_, v| v + 1.0));
    /// assert_eq!(p.get_value(), 3.0);
    /// ```
    fn get_value(&self) -> Self::Value
    where
        Self: VariableBehavior,
    {
        let var = self.as_variable();
        let mut v = (*var.value).clone();
        if let Some(hooks) = &var.hooks {
            for hook in &hooks.get {
                v = hook(var, v);
            }
        }
        self.on_get_value(v)
    }

    /// Sets the value through the type's behaviour and the set hooks.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::from_metadata(nnx_core::VariableMetadata::new(0.0f32).on_set_value(|_, v| v * 10.0));
    /// p.set_value(2.0);
    /// assert_eq!(*p, 20.0);
    /// ```
    fn set_value(&mut self, value: Self::Value)
    where
        Self: VariableBehavior,
    {
        let mut v = self.on_set_value(value);
        let var = self.as_variable();
        if let Some(hooks) = &var.hooks {
            for hook in &hooks.set {
                v = hook(var, v);
            }
        }
        self.as_variable_mut().value = Arc::new(v);
    }

    /// A copy of all metadata (Flax's `get_metadata()`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::new(1.0f32);
    /// p.set_metadata("a", 1);
    /// assert_eq!(p.get_metadata().keys().collect::<Vec<_>>(), vec!["a"]);
    /// ```
    fn get_metadata(&self) -> Metadata {
        self.as_variable().metadata.clone()
    }

    /// One metadata entry; a missing name is an error (Flax raises `KeyError`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::new(1.0f32);
    /// p.set_metadata("a", 1);
    /// assert_eq!(p.get_metadata_entry("a").unwrap().to_string(), "1");
    /// assert!(p.get_metadata_entry("b").is_err());
    /// ```
    fn get_metadata_entry(&self, name: &str) -> Result<&MetaValue> {
        self.as_variable()
            .metadata
            .get(name)
            .ok_or_else(|| Error::MissingMetadata {
                name: name.to_string(),
                kind: self.kind().name().to_string(),
            })
    }

    /// One metadata entry, or `default` when missing.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let p = Param::new(1.0f32);
    /// assert_eq!(p.get_metadata_or("a", "none").to_string(), "'none'");
    /// ```
    fn get_metadata_or(&self, name: &str, default: impl Into<MetaValue>) -> MetaValue {
        self.as_variable()
            .metadata
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.into())
    }

    /// Sets one entry (Flax's `set_metadata(name, value)`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::new(1.0f32);
    /// p.set_metadata("sharding", ("x", "y"));
    /// assert_eq!(p.get_metadata_entry("sharding").unwrap().to_string(), "('x', 'y')");
    /// ```
    fn set_metadata(&mut self, name: impl Into<String>, value: impl Into<MetaValue>) {
        self.as_variable_mut().metadata.insert(name, value);
    }

    /// Replaces all metadata (Flax's `set_metadata(dict)`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::new(1.0f32);
    /// p.set_metadata("old", 1);
    /// let mut m = nnx_core::Metadata::new();
    /// m.insert("new", 2);
    /// p.replace_metadata(m);
    /// assert!(!p.has_metadata("old") && p.has_metadata("new"));
    /// ```
    fn replace_metadata(&mut self, metadata: Metadata) {
        self.as_variable_mut().metadata = metadata;
    }

    /// Sets several entries at once (Flax's `set_metadata(**kwargs)`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::new(1.0f32);
    /// p.update_metadata([("a", 1), ("b", 2)]);
    /// assert_eq!(p.get_metadata().len(), 2);
    /// ```
    fn update_metadata<K, V>(&mut self, entries: impl IntoIterator<Item = (K, V)>)
    where
        K: Into<String>,
        V: Into<MetaValue>,
    {
        for (k, v) in entries {
            self.as_variable_mut().metadata.insert(k, v);
        }
    }

    /// Whether an entry exists.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::new(1.0f32);
    /// assert!(!p.has_metadata("a"));
    /// p.set_metadata("a", 1);
    /// assert!(p.has_metadata("a"));
    /// ```
    fn has_metadata(&self, name: &str) -> bool {
        self.as_variable().metadata.contains(name)
    }

    /// Deletes an entry; a missing name is an error.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut p = Param::new(1.0f32);
    /// p.set_metadata("a", 1);
    /// assert_eq!(p.del_metadata("a").unwrap().to_string(), "1");
    /// assert!(p.del_metadata("a").is_err());
    /// ```
    fn del_metadata(&mut self, name: &str) -> Result<MetaValue> {
        let kind = self.kind();
        self.as_variable_mut()
            .metadata
            .remove(name)
            .ok_or_else(|| Error::MissingMetadata {
                name: name.to_string(),
                kind: kind.name().to_string(),
            })
    }

    /// Tells the add-axis hooks that an axis was inserted (what `nnx.vmap` and
    /// `nnx.scan` do with `spmd_axis_name`); the value itself is not reshaped.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let meta = nnx_core::VariableMetadata::new(1.0f32)
    ///     .on_add_axis(|v, i, name| v.set_metadata("added", format!("{i}:{}", name.unwrap_or(""))));
    /// let mut p = Param::from_metadata(meta);
    /// p.add_axis(0, Some("batch"));
    /// assert_eq!(p.get_metadata_entry("added").unwrap().to_string(), "'0:batch'");
    /// ```
    fn add_axis(&mut self, axis_index: usize, axis_name: Option<&str>) {
        let hooks = self.as_variable().hooks.clone();
        if let Some(hooks) = hooks {
            for hook in &hooks.add_axis {
                hook(self.as_variable_mut(), axis_index, axis_name);
            }
        }
    }

    /// Tells the remove-axis hooks that an axis was removed.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let meta = nnx_core::VariableMetadata::new(1.0f32)
    ///     .on_remove_axis(|v, i, _| v.set_metadata("removed", i as i64));
    /// let mut p = Param::from_metadata(meta);
    /// p.remove_axis(1, None);
    /// assert_eq!(p.get_metadata_entry("removed").unwrap().to_string(), "1");
    /// ```
    fn remove_axis(&mut self, axis_index: usize, axis_name: Option<&str>) {
        let hooks = self.as_variable().hooks.clone();
        if let Some(hooks) = hooks {
            for hook in &hooks.remove_axis {
                hook(self.as_variable_mut(), axis_index, axis_name);
            }
        }
    }

    /// The hooks of this instance.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// assert!(Param::new(1.0f32).hooks().is_none());
    /// let p = Param::from_metadata(nnx_core::VariableMetadata::new(1.0f32).on_get_value(|_, v| v));
    /// assert_eq!(p.hooks().unwrap().get.len(), 1);
    /// ```
    fn hooks(&self) -> Option<&Hooks<Self::Value>> {
        self.as_variable().hooks.as_deref()
    }
}

impl<T: Value + Clone> VariableType for Variable<T> {
    type Value = T;
    const KIND: Kind = Variable;

    fn from_variable(var: Variable<T>) -> Self {
        var
    }
    fn as_variable(&self) -> &Variable<T> {
        self
    }
    fn as_variable_mut(&mut self) -> &mut Variable<T> {
        self
    }
    fn into_variable(self) -> Variable<T> {
        self
    }
}

impl<T: Value + Clone> VariableBehavior for Variable<T> {}

impl<T> std::ops::Deref for Variable<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Clone> std::ops::DerefMut for Variable<T> {
    fn deref_mut(&mut self) -> &mut T {
        Arc::make_mut(&mut self.value)
    }
}

impl<T: Value> fmt::Display for Variable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::display::fmt_variable(f, self.kind, &*self.value, &self.metadata, 0)
    }
}

impl<T: Value> fmt::Debug for Variable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A hook that transforms a value (create, get and set hooks): `(variable, value) -> value`.
///
/// ```
/// use nnx_core::ValueHook;
/// let double: ValueHook<f32> = std::sync::Arc::new(|_, v| v * 2.0);
/// let mut meta = nnx_core::VariableMetadata::new(1.0f32);
/// meta.hooks.create.push(double);
/// assert_eq!(*nnx_core::Variable::from_metadata(meta), 2.0);
/// ```
pub type ValueHook<T> = Arc<dyn Fn(&Variable<T>, T) -> T + Send + Sync>;

/// A hook told that an axis was added or removed: `(variable, axis_index, axis_name)`.
/// It may change the Variable's metadata (e.g. sharding names), as in Flax.
///
/// ```
/// use nnx_core::{prelude::*, AxisHook};
/// let note: AxisHook<f32> = std::sync::Arc::new(|v, i, _| v.set_metadata("axis", i as i64));
/// let mut meta = nnx_core::VariableMetadata::new(1.0f32);
/// meta.hooks.add_axis.push(note);
/// let mut v = nnx_core::Variable::from_metadata(meta);
/// v.add_axis(2, None);
/// assert_eq!(v.get_metadata_entry("axis").unwrap().to_string(), "2");
/// ```
pub type AxisHook<T> = Arc<dyn Fn(&mut Variable<T>, usize, Option<&str>) + Send + Sync>;

/// The hooks of one Variable, each list applied in order.
///
/// ```
/// use nnx_core::prelude::*;
/// let p = Param::from_metadata(nnx_core::VariableMetadata::new(1.0f32).on_set_value(|_, v| v));
/// let hooks = p.hooks().unwrap();
/// assert_eq!((hooks.set.len(), hooks.get.len()), (1, 0));
/// ```
pub struct Hooks<T> {
    /// Applied to the value at construction.
    pub create: Vec<ValueHook<T>>,
    /// Applied to the value by `get_value`.
    pub get: Vec<ValueHook<T>>,
    /// Applied to the new value by `set_value`.
    pub set: Vec<ValueHook<T>>,
    /// Called by `add_axis`.
    pub add_axis: Vec<AxisHook<T>>,
    /// Called by `remove_axis`.
    pub remove_axis: Vec<AxisHook<T>>,
}

impl<T> Hooks<T> {
    /// Whether no hook is set.
    ///
    /// ```
    /// assert!(nnx_core::Hooks::<f32>::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.create.is_empty()
            && self.get.is_empty()
            && self.set.is_empty()
            && self.add_axis.is_empty()
            && self.remove_axis.is_empty()
    }
}

impl<T> Default for Hooks<T> {
    fn default() -> Self {
        Hooks {
            create: Vec::new(),
            get: Vec::new(),
            set: Vec::new(),
            add_axis: Vec::new(),
            remove_axis: Vec::new(),
        }
    }
}

impl<T> Clone for Hooks<T> {
    fn clone(&self) -> Self {
        Hooks {
            create: self.create.clone(),
            get: self.get.clone(),
            set: self.set.clone(),
            add_axis: self.add_axis.clone(),
            remove_axis: self.remove_axis.clone(),
        }
    }
}

impl<T> fmt::Debug for Hooks<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("create", &self.create.len())
            .field("get", &self.get.len())
            .field("set", &self.set.len())
            .field("add_axis", &self.add_axis.len())
            .field("remove_axis", &self.remove_axis.len())
            .finish()
    }
}

/// A raw value with hooks and metadata, accepted by every Variable type's
/// `from_metadata` constructor (Flax's `VariableMetadata`).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::VariableMetadata;
/// let meta = VariableMetadata::new(2.0f32)
///     .on_get_value(|_, v| v * 10.0)
///     .with("sharding", ("x",));
/// let p = Param::from_metadata(meta);
/// assert_eq!(*p.value(), 2.0);        // raw access: no hook
/// assert_eq!(p.get_value(), 20.0);    // get_value: hooks fire
/// assert_eq!(p.get_metadata_entry("sharding").unwrap().to_string(), "('x',)");
/// ```
pub struct VariableMetadata<T> {
    /// The value before create hooks.
    pub raw_value: T,
    /// The hooks.
    pub hooks: Hooks<T>,
    /// The metadata entries.
    pub metadata: Metadata,
}

impl<T> VariableMetadata<T> {
    /// A raw value with no hooks or metadata.
    ///
    /// ```
    /// let m = nnx_core::VariableMetadata::new(1u8);
    /// assert!(m.metadata.is_empty());
    /// ```
    pub fn new(raw_value: T) -> Self {
        VariableMetadata {
            raw_value,
            hooks: Hooks::default(),
            metadata: Metadata::new(),
        }
    }

    /// Adds a metadata entry.
    ///
    /// ```
    /// let m = nnx_core::VariableMetadata::new(1u8).with("a", 1);
    /// assert!(m.metadata.contains("a"));
    /// ```
    pub fn with(mut self, name: impl Into<String>, value: impl Into<MetaValue>) -> Self {
        self.metadata.insert(name, value);
        self
    }

    /// Appends a create hook.
    ///
    /// ```
    /// let m = nnx_core::VariableMetadata::new(1.0f32).on_create_value(|_, v| v + 1.0);
    /// assert_eq!(m.hooks.create.len(), 1);
    /// ```
    pub fn on_create_value(
        mut self,
        hook: impl Fn(&Variable<T>, T) -> T + Send + Sync + 'static,
    ) -> Self {
        self.hooks.create.push(Arc::new(hook));
        self
    }

    /// Appends a get hook.
    ///
    /// ```
    /// let m = nnx_core::VariableMetadata::new(1.0f32).on_get_value(|_, v| v);
    /// assert_eq!(m.hooks.get.len(), 1);
    /// ```
    pub fn on_get_value(
        mut self,
        hook: impl Fn(&Variable<T>, T) -> T + Send + Sync + 'static,
    ) -> Self {
        self.hooks.get.push(Arc::new(hook));
        self
    }

    /// Appends a set hook.
    ///
    /// ```
    /// let m = nnx_core::VariableMetadata::new(1.0f32).on_set_value(|_, v| v);
    /// assert_eq!(m.hooks.set.len(), 1);
    /// ```
    pub fn on_set_value(
        mut self,
        hook: impl Fn(&Variable<T>, T) -> T + Send + Sync + 'static,
    ) -> Self {
        self.hooks.set.push(Arc::new(hook));
        self
    }

    /// Appends an add-axis hook.
    ///
    /// ```
    /// let m = nnx_core::VariableMetadata::new(1.0f32).on_add_axis(|_, _, _| {});
    /// assert_eq!(m.hooks.add_axis.len(), 1);
    /// ```
    pub fn on_add_axis(
        mut self,
        hook: impl Fn(&mut Variable<T>, usize, Option<&str>) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.add_axis.push(Arc::new(hook));
        self
    }

    /// Appends a remove-axis hook.
    ///
    /// ```
    /// let m = nnx_core::VariableMetadata::new(1.0f32).on_remove_axis(|_, _, _| {});
    /// assert_eq!(m.hooks.remove_axis.len(), 1);
    /// ```
    pub fn on_remove_axis(
        mut self,
        hook: impl Fn(&mut Variable<T>, usize, Option<&str>) + Send + Sync + 'static,
    ) -> Self {
        self.hooks.remove_axis.push(Arc::new(hook));
        self
    }
}

impl<T: fmt::Debug> fmt::Debug for VariableMetadata<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VariableMetadata")
            .field("raw_value", &self.raw_value)
            .field("hooks", &self.hooks)
            .field("metadata", &self.metadata)
            .finish()
    }
}
