//! `jax.tree.map` over States: array maps whose results keep each leaf's Variable
//! type, metadata and Rust value type, so that they can `update` the model.
//!
//! The closure sees every array as a dynamic-rank `f32` view and returns an
//! `ArrayD<f32>`; the result is written back into the leaf's own value type
//! (`Array2<f32>` stays `Array2<f32>`, an `f32` scalar stays `f32`).
//!
//! ```
//! use ndarray::Array2;
//! use nnx_core::prelude::*;
//! let mut w = vec![Param::new(Array2::<f32>::ones((2, 3)))];
//! let doubled = w.state_of(Param).map_arrays(|a| a * 2.0)?;
//! w.update(doubled)?;
//! assert_eq!(*w[0], Array2::<f32>::from_elem((2, 3), 2.0));
//! # Ok::<(), nnx_core::Error>(())
//! ```

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD};

use crate::error::{Error, Result};
use crate::key::{path_string, Key};
use crate::repr::fmt_tuple_usize;
use crate::state::{State, Tree};
use crate::value::ArrayRef;
use crate::variable::VariableState;

impl State {
    /// Maps every leaf's array through `f`, keeping its Variable type, metadata and
    /// value type: `jax.tree.map(lambda a: a * 2, state)` is
    /// `state.map_arrays(|a| a * 2.0)?`.
    ///
    /// Every leaf must hold one `f32` array or scalar (filter first, e.g.
    /// `state.filter(Param)`), and `f`'s result must fit the leaf's type (the same
    /// rank unless the leaf holds an `ArrayD`); otherwise the error names the path,
    /// and nothing is returned half-mapped.
    ///
    /// ```
    /// use ndarray::{arr1, Array1, Array2};
    /// use nnx_core::prelude::*;
    /// let s = State::from_flat(vec![
    ///     (vec![Key::from("b")], VariableState::new(Param, arr1(&[1.0f32, -2.0]))),
    ///     (vec![Key::from("scale")], VariableState::new(Param, 3.0f32)),
    /// ])?;
    /// let m = s.map_arrays(|a| a.mapv(f32::abs))?;
    /// assert_eq!(m.get::<Array1<f32>>("b")?, &arr1(&[1.0, 2.0]));
    /// assert_eq!(m.get::<f32>("scale")?, &3.0);
    ///
    /// let counts = State::from_flat(vec![(vec![Key::from("n")], VariableState::new(BatchStat, 1u32))])?;
    /// let err = counts.map_arrays(|a| a * 2.0).unwrap_err();
    /// assert!(err.to_string().starts_with("dtype mismatch at n: expected a float32 array"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn map_arrays(
        &self,
        mut f: impl FnMut(&ArrayViewD<'_, f32>) -> ArrayD<f32>,
    ) -> Result<State> {
        let mut errors = Vec::new();
        let tree = self.tree().map_leaves(&mut |path, leaf| {
            let mapped = f32_view(path, leaf).and_then(|a| write_back(path, leaf, f(&a)));
            mapped.unwrap_or_else(|e| {
                errors.push(e);
                leaf.clone()
            })
        });
        finish(tree, errors)
    }

    /// Maps pairs of arrays at equal paths of `self` and `other` through `f`
    /// (`jax.tree.map(f, params, grads)`); the result keeps `self`'s Variable
    /// types, metadata and value types.
    ///
    /// Both States must have the same paths, Variable types and shapes, each leaf
    /// one `f32` array or scalar; every difference is reported with its path.
    ///
    /// ```
    /// use ndarray::{arr1, Array1};
    /// use nnx_core::prelude::*;
    /// let params = vec![Param::new(arr1(&[1.0f32, 2.0]))].state();
    /// let grads = vec![Param::new(arr1(&[0.5f32, -1.0]))].state();
    /// let stepped = params.zip_map(&grads, |p, g| p - &(g * 0.1))?;
    /// assert_eq!(stepped.get::<Array1<f32>>("0")?, &arr1(&[0.95, 2.1]));
    ///
    /// let other = vec![Param::new(arr1(&[1.0f32])), Param::new(arr1(&[1.0f32]))].state();
    /// let err = params.zip_map(&other, |p, g| p + g).unwrap_err();
    /// assert!(err.to_string().contains("shape mismatch at 0: expected (2,), found (1,)"));
    /// assert!(err.to_string().contains("unexpected Variable at 1"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn zip_map(
        &self,
        other: &State,
        mut f: impl FnMut(&ArrayViewD<'_, f32>, &ArrayViewD<'_, f32>) -> ArrayD<f32>,
    ) -> Result<State> {
        let mut errors = Vec::new();
        let tree = self.tree().map_leaves(&mut |path, leaf| {
            let mapped =
                zip_leaf(path, leaf, other).and_then(|(a, b)| write_back(path, leaf, f(&a, &b)));
            mapped.unwrap_or_else(|e| {
                errors.push(e);
                leaf.clone()
            })
        });
        // Leaves only `other` has.
        other.tree().for_each_leaf(&mut |path, leaf| {
            if self.leaf(path).is_none() {
                errors.push(Error::UnexpectedPath {
                    path: path_string(path).into(),
                    found: format!("{} in the second State only", leaf.kind.name()),
                });
            }
        });
        finish(tree, errors)
    }
}

/// The mapped State, or every error found.
fn finish(tree: Tree<VariableState>, errors: Vec<Error>) -> Result<State> {
    if errors.is_empty() {
        Ok(State::from_tree(tree))
    } else {
        Err(Error::many(errors))
    }
}

/// The leaf's value as an `f32` view, or an error naming the path.
fn f32_view<'a>(path: &[Key], leaf: &'a VariableState) -> Result<ArrayViewD<'a, f32>> {
    match leaf.value.array_ref() {
        Some(ArrayRef::F32(view)) => Ok(view),
        other => Err(Error::DTypeMismatch {
            path: path_string(path).into(),
            expected: "a float32 array (map float32 leaves only: filter the State first, \
                       e.g. state.filter(Param))"
                .into(),
            found: match other {
                Some(a) => format!("a {} array ({})", a.dtype(), leaf.value.type_name()),
                None => format!("a value of type {}", leaf.value.type_name()),
            },
        }),
    }
}

/// The views of `leaf` and of `other`'s leaf at `path`, checked to be alike.
fn zip_leaf<'a>(
    path: &[Key],
    leaf: &'a VariableState,
    other: &'a State,
) -> Result<(ArrayViewD<'a, f32>, ArrayViewD<'a, f32>)> {
    let Some(theirs) = other.leaf(path) else {
        return Err(Error::MissingPath {
            path: path_string(path).into(),
            expected: format!("{} (the second State lacks this path)", leaf.kind.name()),
        });
    };
    if theirs.kind != leaf.kind {
        return Err(Error::KindMismatch {
            path: path_string(path).into(),
            expected: leaf.kind.name().to_string(),
            found: theirs.kind.name().to_string(),
        });
    }
    let (a, b) = (f32_view(path, leaf)?, f32_view(path, theirs)?);
    if a.shape() != b.shape() {
        return Err(Error::ShapeMismatch {
            path: path_string(path).into(),
            expected: fmt_tuple_usize(a.shape()),
            found: fmt_tuple_usize(b.shape()),
        });
    }
    Ok((a, b))
}

/// `leaf` holding `out` in the leaf's own value type.
fn write_back(path: &[Key], leaf: &VariableState, out: ArrayD<f32>) -> Result<VariableState> {
    let shape = fmt_tuple_usize(out.shape());
    match leaf.value.from_array_owned(Arc::new(out)) {
        Some(value) => Ok(leaf.with_value(value)),
        None => Err(Error::ShapeMismatch {
            path: path_string(path).into(),
            expected: format!(
                "a result that fits {} (rank {})",
                leaf.value.type_name(),
                leaf.value.shape_of().map_or(0, |s| s.len())
            ),
            found: format!("float32{shape}"),
        }),
    }
}
