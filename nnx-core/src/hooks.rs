//! Value hooks and [`VariableMetadata`], Flax's way of attaching behaviour to one
//! Variable instance.
//!
//! Hooks fire exactly where Flax fires them: create hooks once, at construction; get
//! hooks on [`get_value`](crate::VariableType::get_value) only; set hooks on
//! [`set_value`](crate::VariableType::set_value) only; axis hooks on
//! [`add_axis`](crate::VariableType::add_axis) / [`remove_axis`](crate::VariableType::remove_axis).
//! Raw access, graph operations and state updates never fire hooks.
//!
//! ```
//! use nnx_core::prelude::*;
//! let p = Param::from_metadata(nnx_core::VariableMetadata::new(1.0f32).on_get_value(|_, v| v + 1.0));
//! assert_eq!((*p.value(), p.get_value()), (1.0, 2.0));
//! ```

use std::fmt;
use std::sync::Arc;

use crate::metadata::Metadata;
use crate::variable::Variable;

/// A hook that transforms a value (create, get and set hooks): `(variable, value) -> value`.
///
/// ```
/// use nnx_core::hooks::ValueHook;
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
/// use nnx_core::{hooks::AxisHook, prelude::*};
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
    /// assert!(nnx_core::hooks::Hooks::<f32>::default().is_empty());
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
    pub fn with(mut self, name: impl Into<String>, value: impl Into<crate::MetaValue>) -> Self {
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
