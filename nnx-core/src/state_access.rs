//! Reading and writing a State by path, as Flax's `state['l1']['kernel']` does:
//! `state["l1/kernel"]`, [`State::get_path`], the typed [`State::get`],
//! [`State::set`] and [`State::sub_path`].
//!
//! A path string is keys joined by `/` (`"layers/0/kernel"`). A key of digits
//! only is an integer key (a `Vec` index); write a string key made of digits in
//! single quotes (`"table/'0'"`). The empty string is the root.
//!
//! ```
//! use ndarray::Array2;
//! use nnx_core::prelude::*;
//! let mut layers = vec![Param::new(Array2::<f32>::zeros((2, 3)))];
//! let mut state = layers.state();
//! assert_eq!(state["0"].kind, nnx_core::Param);                // panics when missing, like a map
//! assert_eq!(state.get::<Array2<f32>>("0")?.dim(), (2, 3));  // typed, fallible
//! state.set("0", Array2::<f32>::ones((2, 3)))?;               // same type and shape
//! layers.update(state)?;
//! assert_eq!(*layers[0], Array2::<f32>::ones((2, 3)));
//! # Ok::<(), nnx_core::Error>(())
//! ```

use std::ops::Index;

use crate::error::{Error, ErrorPath, Result};
use crate::key::{path_string, Key, Path};
use crate::state::{check_same_value_type, State, Tree};
use crate::value::{downcast_value, Value};
use crate::variable::VariableState;

/// Parses a path string: keys joined by `/`, digits-only keys as integer keys,
/// `'...'` for a string key written in quotes (`'0'`), `""` for the root.
///
/// ```
/// use nnx_core::{parse_path, Key};
/// assert_eq!(parse_path("layers/0/kernel"), vec![Key::from("layers"), Key::from(0usize), Key::from("kernel")]);
/// assert_eq!(parse_path("table/'0'"), vec![Key::from("table"), Key::from("0")]);
/// assert!(parse_path("").is_empty());
/// ```
pub fn parse_path(path: &str) -> Path {
    if path.is_empty() {
        return Vec::new();
    }
    path.split('/').map(parse_key).collect()
}

fn parse_key(segment: &str) -> Key {
    let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    if digits {
        if let Ok(i) = segment.parse::<usize>() {
            return Key::Int(i);
        }
    }
    match segment
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
    {
        Some(inner) => Key::from(inner.to_string()),
        None => Key::from(segment.to_string()),
    }
}

/// Up to eight keys of a map, as an error shows them.
fn some_keys(m: &std::collections::BTreeMap<Key, Tree<VariableState>>) -> String {
    let mut keys: Vec<String> = m.keys().take(8).map(ToString::to_string).collect();
    if m.len() > 8 {
        keys.push(format!("... ({} keys)", m.len()));
    }
    if keys.is_empty() {
        "nothing".into()
    } else {
        keys.join(", ")
    }
}

/// The node at `path`, or an error naming the path and what is there instead.
fn node<'a>(tree: &'a Tree<VariableState>, path: &[Key]) -> Result<&'a Tree<VariableState>> {
    let mut cur = tree;
    for (depth, key) in path.iter().enumerate() {
        let here = ErrorPath(path_string(&path[..depth]));
        cur = match cur {
            Tree::Map(m) => m.get(key).ok_or_else(|| Error::MissingPath {
                path: path_string(path).into(),
                expected: format!("Variable (the keys at {here} are {})", some_keys(m)),
            })?,
            Tree::Leaf(l) => {
                return Err(Error::MissingPath {
                    path: path_string(path).into(),
                    expected: format!(
                        "Variable (at {here} there is a {} leaf, not a sub-State)",
                        l.kind.name()
                    ),
                })
            }
        };
    }
    Ok(cur)
}

impl State {
    /// The Variable at a path string (`"l1/kernel"`, see [`parse_path`]); a
    /// missing path or a sub-State there is an error naming the path and what the
    /// State holds instead.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = vec![Param::new(1.0f32)].state();
    /// assert_eq!(s.get_path("0")?.kind, nnx_core::Param);
    /// assert_eq!(
    ///     s.get_path("1").unwrap_err().to_string(),
    ///     "missing Variable at 1: expected a Variable (the keys at <root> are 0), found nothing in the given states"
    /// );
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn get_path(&self, path: &str) -> Result<&VariableState> {
        match node(self.tree(), &parse_path(path))? {
            Tree::Leaf(l) => Ok(l),
            Tree::Map(m) => Err(Error::TypeMismatch {
                path: path.into(),
                expected: "a Variable".into(),
                found: format!("a sub-State with keys {}", some_keys(m)),
            }),
        }
    }

    /// The value at a path string, typed: `state.get::<Array2<f32>>("l1/kernel")?`.
    /// A missing path or another value type is an error naming the path, the
    /// expected and the found type.
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use nnx_core::prelude::*;
    /// let s = vec![Param::new(Array1::<f32>::zeros(3))].state();
    /// assert_eq!(s.get::<Array1<f32>>("0")?.len(), 3);
    /// let err = s.get::<Array2<f32>>("0").unwrap_err();
    /// assert!(err.to_string().starts_with("type mismatch at 0: expected Array2<f32>"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn get<T: Value>(&self, path: &str) -> Result<&T> {
        downcast_value(path, &*self.get_path(path)?.value)
    }

    /// Replaces the value at a path string in place, keeping the Variable type and
    /// metadata (Flax: `state['l1']['kernel'].value = x`). The new value must have
    /// the old one's Rust type and shape; otherwise nothing changes and the error
    /// names the path.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut s = vec![Param::new(1.0f32)].state();
    /// s.set("0", 5.0f32)?;
    /// assert_eq!(s.get::<f32>("0")?, &5.0);
    /// assert!(s.set("0", 5.0f64).is_err()); // another type
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn set<T: Value>(&mut self, path: &str, value: T) -> Result<()> {
        let keys = parse_path(path);
        let old = self.get_path(path)?;
        check_same_value_type(&keys, &*old.value, &value)?;
        let new = old.with_value(std::sync::Arc::new(value));
        self.tree_mut().insert(&keys, new);
        Ok(())
    }

    /// The sub-State at a path string (Flax's `state['l1']`); values are shared.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = vec![vec![Param::new(1.0f32)], vec![Param::new(2.0f32)]].state();
    /// let second = s.sub_path("1")?;
    /// assert_eq!(second.get::<f32>("0")?, &2.0);
    /// assert!(s.sub_path("2").is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn sub_path(&self, path: &str) -> Result<State> {
        node(self.tree(), &parse_path(path)).map(|t| State::from_tree(t.clone()))
    }
}

/// `state["l1/kernel"]`: the Variable at a path string, as [`State::get_path`].
///
/// # Panics
///
/// When there is no Variable at the path, as indexing a missing key of a std map
/// panics; [`State::get_path`] returns the same message as an `Err`.
///
/// ```
/// use nnx_core::prelude::*;
/// let s = vec![vec![Param::new(1.0f32)]].state();
/// assert_eq!(s["0/0"].value.as_any().downcast_ref::<f32>(), Some(&1.0));
/// ```
impl Index<&str> for State {
    type Output = VariableState;
    fn index(&self, path: &str) -> &VariableState {
        match self.get_path(path) {
            Ok(leaf) => leaf,
            Err(e) => panic!("{e}"),
        }
    }
}
