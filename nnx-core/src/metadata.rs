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

use crate::repr::python_float_repr;

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

/// A Python literal value, the value type of Variable metadata maps.
///
/// `Display` is Python's `repr`: `None`, `True`, `3`, `0.1`, `'text'`,
/// `(1,)`, `[1, 2]`.
///
/// ```
/// use nnx_core::MetaValue;
/// assert_eq!(MetaValue::from((1, "a")).to_string(), "(1, 'a')");
/// assert_eq!(MetaValue::from(vec![1.5, 2.0]).to_string(), "[1.5, 2.0]");
/// assert_eq!(MetaValue::from(None::<i64>).to_string(), "None");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// Python `None`.
    ///
    /// ```
    /// assert_eq!(nnx_core::MetaValue::None.to_string(), "None");
    /// ```
    None,
    /// A Python `bool`.
    ///
    /// ```
    /// assert_eq!(nnx_core::MetaValue::Bool(true).to_string(), "True");
    /// ```
    Bool(bool),
    /// A Python `int`.
    ///
    /// ```
    /// assert_eq!(nnx_core::MetaValue::Int(-3).to_string(), "-3");
    /// ```
    Int(i64),
    /// A Python `float`, printed with [`python_float_repr`](crate::repr::python_float_repr).
    ///
    /// ```
    /// assert_eq!(nnx_core::MetaValue::Float(1e-5).to_string(), "1e-05");
    /// ```
    Float(f64),
    /// A Python `str`, printed quoted and escaped as `repr(str)` does.
    ///
    /// Python's `str.isprintable()` is approximated without Unicode tables:
    /// ASCII, Latin-1 and common control/format/space/private-use characters
    /// are exact; unassigned code points are printed literally (CPython escapes them).
    ///
    /// ```
    /// use nnx_core::MetaValue;
    /// assert_eq!(MetaValue::Str("it's".into()).to_string(), "\"it's\"");
    /// ```
    Str(String),
    /// A Python `tuple`.
    ///
    /// ```
    /// use nnx_core::MetaValue;
    /// assert_eq!(MetaValue::Tuple(vec![MetaValue::Int(1)]).to_string(), "(1,)");
    /// ```
    Tuple(Vec<MetaValue>),
    /// A Python `list`.
    ///
    /// ```
    /// use nnx_core::MetaValue;
    /// assert_eq!(MetaValue::List(vec![]).to_string(), "[]");
    /// ```
    List(Vec<MetaValue>),
}

/// Approximates Python's `str.isprintable()` for non-ASCII characters without
/// Unicode tables: control/format/separator/private-use characters commonly
/// met are escaped, everything else is printed literally.
fn is_printable_non_ascii(c: char) -> bool {
    let u = u32::from(c);
    !matches!(u,
        0x80..=0xA0 | 0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x1680 | 0x180E
        | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x2064 | 0x2066..=0x206F
        | 0x3000 | 0xD800..=0xF8FF | 0xFEFF | 0xFFF9..=0xFFFB | 0xFFFE | 0xFFFF
        | 0xE0000..=0xE0FFF | 0xF0000..=0x10FFFF)
}

/// Writes `s` as Python's `repr(str)`: single quotes unless the text holds a
/// single quote and no double quote.
fn write_py_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7F => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_ascii() || is_printable_non_ascii(c) => out.push(c),
            c => {
                let u = c as u32;
                if u <= 0xFF {
                    out.push_str(&format!("\\x{u:02x}"));
                } else if u <= 0xFFFF {
                    out.push_str(&format!("\\u{u:04x}"));
                } else {
                    out.push_str(&format!("\\U{u:08x}"));
                }
            }
        }
    }
    out.push(quote);
    f.write_str(&out)
}

fn write_seq(f: &mut fmt::Formatter<'_>, items: &[MetaValue]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl fmt::Display for MetaValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaValue::None => f.write_str("None"),
            MetaValue::Bool(true) => f.write_str("True"),
            MetaValue::Bool(false) => f.write_str("False"),
            MetaValue::Int(i) => write!(f, "{i}"),
            MetaValue::Float(x) => f.write_str(&python_float_repr(*x)),
            MetaValue::Str(s) => write_py_str(f, s),
            MetaValue::Tuple(items) => {
                f.write_str("(")?;
                write_seq(f, items)?;
                // A one-element tuple needs its trailing comma.
                if items.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
            MetaValue::List(items) => {
                f.write_str("[")?;
                write_seq(f, items)?;
                f.write_str("]")
            }
        }
    }
}

impl From<&str> for MetaValue {
    fn from(s: &str) -> Self {
        MetaValue::Str(s.to_string())
    }
}

impl From<String> for MetaValue {
    fn from(s: String) -> Self {
        MetaValue::Str(s)
    }
}

impl From<bool> for MetaValue {
    fn from(b: bool) -> Self {
        MetaValue::Bool(b)
    }
}

impl From<i64> for MetaValue {
    fn from(i: i64) -> Self {
        MetaValue::Int(i)
    }
}

impl From<i32> for MetaValue {
    fn from(i: i32) -> Self {
        MetaValue::Int(i64::from(i))
    }
}

impl From<usize> for MetaValue {
    /// Values above `i64::MAX` saturate (Python ints are unbounded, ours are not).
    fn from(u: usize) -> Self {
        MetaValue::Int(i64::try_from(u).unwrap_or(i64::MAX))
    }
}

impl From<f64> for MetaValue {
    fn from(x: f64) -> Self {
        MetaValue::Float(x)
    }
}

impl From<f32> for MetaValue {
    /// Widened to `f64`, as a Python float holding a float32 value would be.
    fn from(x: f32) -> Self {
        MetaValue::Float(f64::from(x))
    }
}

impl<T: Into<MetaValue>> From<Option<T>> for MetaValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(MetaValue::None, Into::into)
    }
}

impl<T: Into<MetaValue>> From<Vec<T>> for MetaValue {
    fn from(v: Vec<T>) -> Self {
        MetaValue::List(v.into_iter().map(Into::into).collect())
    }
}

impl<A: Into<MetaValue>> From<(A,)> for MetaValue {
    fn from((a,): (A,)) -> Self {
        MetaValue::Tuple(vec![a.into()])
    }
}

impl<A: Into<MetaValue>, B: Into<MetaValue>> From<(A, B)> for MetaValue {
    fn from((a, b): (A, B)) -> Self {
        MetaValue::Tuple(vec![a.into(), b.into()])
    }
}

impl<A: Into<MetaValue>, B: Into<MetaValue>, C: Into<MetaValue>> From<(A, B, C)> for MetaValue {
    fn from((a, b, c): (A, B, C)) -> Self {
        MetaValue::Tuple(vec![a.into(), b.into(), c.into()])
    }
}
