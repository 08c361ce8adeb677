//! Per-Variable metadata: an ordered map from names to Python-like values.
//!
//! ```
//! use nnx_core::prelude::*;
//! let mut p = Param::new(0.0f32);
//! p.set_metadata("axis_names", ("in", "out"));
//! assert_eq!(p.get_metadata().to_string(), "{'axis_names': ('in', 'out')}");
//! ```

use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

pub use crate::repr::MetaValue;

/// The metadata of one Variable, in insertion order (as a Python dict keeps it).
///
/// ```
/// use nnx_core::Metadata;
/// let mut m = Metadata::new();
/// m.insert("axis_names", ("in", "out"));
/// m.insert("tag", "dropout");
/// assert_eq!(m.get("tag").map(|v| v.to_string()), Some("'dropout'".to_string()));
/// assert_eq!(m.keys().collect::<Vec<_>>(), ["axis_names", "tag"]);
/// ```
/// Shared behind an `Arc` (cloning is a reference count; writing copies it if
/// shared); `None` when empty, so that equality needs no normalising.
#[derive(Clone, Default, PartialEq)]
pub struct Metadata(Option<Arc<IndexMap<String, MetaValue>>>);

impl Metadata {
    /// An empty map.
    ///
    /// ```
    /// assert!(nnx_core::Metadata::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Metadata(None)
    }

    fn map(&self) -> Option<&IndexMap<String, MetaValue>> {
        self.0.as_deref()
    }

    /// Sets `name` to `value`, keeping its position if it exists.
    ///
    /// ```
    /// let mut m = nnx_core::Metadata::new();
    /// m.insert("a", 1);
    /// assert!(m.contains("a"));
    /// ```
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<MetaValue>) {
        Arc::make_mut(self.0.get_or_insert_with(Default::default))
            .insert(name.into(), value.into());
    }

    /// The value of `name`.
    ///
    /// ```
    /// let mut m = nnx_core::Metadata::new();
    /// m.insert("a", true);
    /// assert_eq!(m.get("a"), Some(&nnx_core::MetaValue::Bool(true)));
    /// ```
    pub fn get(&self, name: &str) -> Option<&MetaValue> {
        self.map()?.get(name)
    }

    /// Whether `name` is set.
    ///
    /// ```
    /// assert!(!nnx_core::Metadata::new().contains("a"));
    /// ```
    pub fn contains(&self, name: &str) -> bool {
        self.map().is_some_and(|m| m.contains_key(name))
    }

    /// Removes `name`, keeping the order of the others.
    ///
    /// ```
    /// let mut m = nnx_core::Metadata::new();
    /// m.insert("a", 1);
    /// assert!(m.remove("a").is_some());
    /// ```
    pub fn remove(&mut self, name: &str) -> Option<MetaValue> {
        let map = Arc::make_mut(self.0.as_mut()?);
        let value = map.shift_remove(name);
        if map.is_empty() {
            self.0 = None;
        }
        value
    }

    /// The names, in order.
    ///
    /// ```
    /// assert_eq!(nnx_core::Metadata::new().keys().count(), 0);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map()
            .into_iter()
            .flat_map(|m| m.keys().map(String::as_str))
    }

    /// The entries, in order.
    ///
    /// ```
    /// assert_eq!(nnx_core::Metadata::new().iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = (&str, &MetaValue)> {
        self.map()
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)))
    }

    /// Number of entries.
    ///
    /// ```
    /// assert_eq!(nnx_core::Metadata::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.map().map_or(0, IndexMap::len)
    }

    /// Whether there are no entries.
    ///
    /// ```
    /// assert!(nnx_core::Metadata::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

impl<K: Into<String>, V: Into<MetaValue>> FromIterator<(K, V)> for Metadata {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let map: IndexMap<String, MetaValue> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Metadata((!map.is_empty()).then(|| Arc::new(map)))
    }
}

impl<K: Into<String>, V: Into<MetaValue>, const N: usize> From<[(K, V); N]> for Metadata {
    fn from(entries: [(K, V); N]) -> Self {
        entries.into_iter().collect()
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {v}", MetaValue::from(k))?;
        }
        f.write_str("}")
    }
}

impl fmt::Display for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
