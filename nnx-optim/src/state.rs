//! The state of a gradient transformation and its Flax layout.
//!
//! optax keeps a transformation's state as a pytree of NamedTuples (`count`,
//! `mu`, `nu`, ...) holding one array per parameter; Flax's `nnx.Optimizer` turns
//! it into Variables: `OptArray` for plain arrays such as counts, `OptVariable`
//! for the per-parameter arrays (at the parameter's own path). [`TransformState`]
//! is that tree, and [`TransformState::to_flat`] lays it out as Flax does.

use nnx_core::path_string;
use nnx_core::{Error, Key, Path, Result, State, VariableState};

use crate::float::FloatTensor;

nnx_core::variable_type!(
    /// Flax's `nnx.OptState`: the optimizer's step counter, and the parent of
    /// [`OptArray`](struct@OptArray) and [`OptVariable`](struct@OptVariable).
    ///
    /// ```
    /// use nnx_optim::{OptArray, OptState};
    /// assert_eq!(OptArray.parent(), Some(OptState));
    /// ```
    pub OptState
);
nnx_core::variable_type!(
    /// Flax's `nnx.OptArray`: an optimizer-state array that does not mirror a
    /// parameter (optax's `count`).
    ///
    /// ```
    /// assert_eq!(nnx_optim::OptArray.name(), "OptArray");
    /// ```
    pub OptArray: OptState
);
nnx_core::variable_type!(
    /// Flax's `nnx.OptVariable`: an optimizer-state array mirroring a parameter
    /// (optax's `mu`, `nu`, `trace`, ...), stored at the parameter's path.
    ///
    /// ```
    /// assert_eq!(nnx_optim::OptVariable.name(), "OptVariable");
    /// ```
    pub OptVariable: OptState
);

/// The state of a [`GradientTransformation`](crate::optax::GradientTransformation):
/// optax's state pytree, with the parameters' arrays in parameter order.
///
/// ```
/// use nnx_core::{Key, State};
/// use nnx_optim::TransformState;
/// // optax's ScaleByScheduleState(count=0) inside a chain at index 2:
/// let s = TransformState::Node(vec![(Key::from(2usize),
///     TransformState::Node(vec![(Key::from("count"), TransformState::Count(0))]))]);
/// let flat = s.to_flat(&[]);
/// assert_eq!(nnx_core::path_string(&flat[0].0), "2/count");
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum TransformState {
    /// optax's `EmptyState` (and `MaskedNode`): no leaves.
    Empty,
    /// An `int32` counter (an [`OptArray`](struct@OptArray) in Flax's layout).
    Count(i32),
    /// One array per parameter, in parameter order and in the parameter's
    /// dtype (an [`OptVariable`](struct@OptVariable) each, at the parameter's path).
    PerParam(Vec<FloatTensor>),
    /// A NamedTuple's fields (string keys) or a tuple's items (integer keys).
    Node(Vec<(Key, TransformState)>),
    /// A state over some of the parameters only (optax's `masked`): the indices
    /// of those parameters and the state over them.
    Subset(Vec<usize>, Box<TransformState>),
}

impl TransformState {
    /// The field `name` of a `Node`, or an error naming the transformation.
    ///
    /// ```
    /// use nnx_core::Key;
    /// use nnx_optim::TransformState;
    /// let s = TransformState::Node(vec![(Key::from("count"), TransformState::Count(3))]);
    /// assert_eq!(s.field("count", "adam").unwrap(), &TransformState::Count(3));
    /// assert!(s.field("mu", "adam").is_err());
    /// ```
    pub fn field(&self, name: &str, owner: &str) -> Result<&TransformState> {
        if let TransformState::Node(items) = self {
            if let Some((_, s)) = items
                .iter()
                .find(|(k, _)| *k == Key::from(name.to_string()))
            {
                return Ok(s);
            }
        }
        Err(self.mismatch(owner, &format!("a state with a field '{name}'")))
    }

    /// The counter of a `Count`.
    ///
    /// ```
    /// assert_eq!(nnx_optim::TransformState::Count(4).count("sgd").unwrap(), 4);
    /// assert!(nnx_optim::TransformState::Empty.count("sgd").is_err());
    /// ```
    pub fn count(&self, owner: &str) -> Result<i32> {
        match self {
            TransformState::Count(c) => Ok(*c),
            _ => Err(self.mismatch(owner, "a count")),
        }
    }

    /// The arrays of a `PerParam` holding `n` of them.
    ///
    /// ```
    /// use nnx_optim::TransformState;
    /// let s = TransformState::PerParam(vec![nnx_tensor::Tensor::zeros(&[2]).into()]);
    /// assert_eq!(s.per_param(1, "trace").unwrap().len(), 1);
    /// assert!(s.per_param(2, "trace").is_err());
    /// ```
    pub fn per_param(&self, n: usize, owner: &str) -> Result<&[FloatTensor]> {
        match self {
            TransformState::PerParam(v) if v.len() == n => Ok(v),
            _ => Err(self.mismatch(owner, &format!("{n} per-parameter arrays"))),
        }
    }

    fn mismatch(&self, owner: &str, expected: &str) -> Error {
        Error::invalid_argument(
            format!("the update of {owner}"),
            format!("its own state ({expected})"),
            format!("{:.80}", format!("{self:?}")),
        )
    }

    /// The state's leaves as Flax's `nnx.state(optimizer)['opt_state']` holds
    /// them: counts as `OptArray` int32 scalars, per-parameter arrays as
    /// `OptVariable`s at the parameters' paths (`paths`, in parameter order).
    ///
    /// ```
    /// use nnx_core::{path_string, Key};
    /// use nnx_optim::TransformState;
    /// let s = TransformState::Node(vec![(Key::from("trace"),
    ///     TransformState::PerParam(vec![nnx_tensor::Tensor::zeros(&[2]).into()]))]);
    /// let flat = s.to_flat(&[vec![Key::from("w")]]);
    /// assert_eq!(path_string(&flat[0].0), "trace/w");
    /// assert_eq!(flat[0].1.kind, nnx_optim::OptVariable);
    /// ```
    pub fn to_flat(&self, paths: &[Path]) -> Vec<(Path, VariableState)> {
        let mut out = Vec::new();
        let refs: Vec<&Path> = paths.iter().collect();
        self.flatten(&mut Vec::new(), &refs, &mut out);
        out
    }

    fn flatten(&self, prefix: &mut Path, paths: &[&Path], out: &mut Vec<(Path, VariableState)>) {
        match self {
            TransformState::Empty => {}
            TransformState::Count(c) => {
                out.push((prefix.clone(), VariableState::new(OptArray, *c)))
            }
            TransformState::PerParam(v) => {
                for (t, p) in v.iter().zip(paths) {
                    let mut path = prefix.clone();
                    path.extend(p.iter().cloned());
                    out.push((path, t.variable(OptVariable)));
                }
            }
            TransformState::Node(items) => {
                for (k, s) in items {
                    prefix.push(k.clone());
                    s.flatten(prefix, paths, out);
                    prefix.pop();
                }
            }
            TransformState::Subset(idx, inner) => {
                let sub: Vec<&Path> = idx.iter().filter_map(|&i| paths.get(i).copied()).collect();
                inner.flatten(prefix, &sub, out);
            }
        }
    }

    /// This state with every leaf replaced by `src`'s leaf at the same path
    /// (`prefix` + the leaf's Flax path), each checked for its Variable type,
    /// dtype and shape; every mismatch is reported and nothing is half-built.
    ///
    /// ```
    /// use nnx_core::{Key, State};
    /// use nnx_optim::TransformState;
    /// let s = TransformState::Node(vec![(Key::from("count"), TransformState::Count(0))]);
    /// let saved = TransformState::Node(vec![(Key::from("count"), TransformState::Count(7))]);
    /// let src = State::from_flat(saved.to_flat(&[])).unwrap();
    /// assert_eq!(s.restore(&[], &[], &src).unwrap(), saved);
    /// assert!(s.restore(&[], &[], &State::new()).is_err());
    /// ```
    pub fn restore(&self, prefix: &[Key], paths: &[Path], src: &State) -> Result<TransformState> {
        let mut errors = Vec::new();
        let refs: Vec<&Path> = paths.iter().collect();
        let out = self.restore_into(&mut prefix.to_vec(), &refs, src, &mut errors);
        match errors.len() {
            0 => Ok(out),
            1 => Err(errors.remove(0)),
            _ => Err(Error::Many(errors)),
        }
    }

    fn restore_into(
        &self,
        prefix: &mut Path,
        paths: &[&Path],
        src: &State,
        errors: &mut Vec<Error>,
    ) -> TransformState {
        match self {
            TransformState::Empty => TransformState::Empty,
            TransformState::Count(c) => match fetch(prefix, src, OptArray, &[]) {
                Ok(leaf) => match leaf.value.as_any().downcast_ref::<i32>() {
                    Some(v) => TransformState::Count(*v),
                    None => {
                        errors.push(Error::TypeMismatch {
                            path: path_string(prefix).into(),
                            expected: "an int32 scalar (an optax count)".into(),
                            found: leaf.value.type_name().into(),
                        });
                        TransformState::Count(*c)
                    }
                },
                Err(e) => {
                    errors.push(e);
                    TransformState::Count(*c)
                }
            },
            TransformState::PerParam(v) => TransformState::PerParam(
                v.iter()
                    .zip(paths)
                    .map(|(t, p)| {
                        let mut path = prefix.clone();
                        path.extend(p.iter().cloned());
                        match fetch(&path, src, OptVariable, t.shape())
                            .and_then(|l| float_of(&path, l, t.dtype()))
                        {
                            Ok(t) => t,
                            Err(e) => {
                                errors.push(e);
                                t.clone()
                            }
                        }
                    })
                    .collect(),
            ),
            TransformState::Node(items) => TransformState::Node(
                items
                    .iter()
                    .map(|(k, s)| {
                        prefix.push(k.clone());
                        let r = s.restore_into(prefix, paths, src, errors);
                        prefix.pop();
                        (k.clone(), r)
                    })
                    .collect(),
            ),
            TransformState::Subset(idx, inner) => {
                let sub: Vec<&Path> = idx.iter().filter_map(|&i| paths.get(i).copied()).collect();
                TransformState::Subset(
                    idx.clone(),
                    Box::new(inner.restore_into(prefix, &sub, src, errors)),
                )
            }
        }
    }
}

/// `src`'s leaf at `path`, checked to be a `kind` (or subtype) of `shape`.
fn fetch<'a>(
    path: &[Key],
    src: &'a State,
    kind: nnx_core::Kind,
    shape: &[usize],
) -> Result<&'a VariableState> {
    let leaf = src.leaf(path).ok_or_else(|| Error::MissingPath {
        path: path_string(path).into(),
        expected: kind.name().to_string(),
    })?;
    if !leaf.kind.is_subtype_of(kind) {
        return Err(Error::KindMismatch {
            path: path_string(path).into(),
            expected: kind.name().to_string(),
            found: leaf.kind.name().to_string(),
        });
    }
    let found = leaf.value.shape_of().unwrap_or_default();
    if found != shape {
        return Err(Error::ShapeMismatch {
            path: path_string(path).into(),
            expected: nnx_core::repr::fmt_tuple_usize(shape),
            found: nnx_core::repr::fmt_tuple_usize(&found),
        });
    }
    Ok(leaf)
}

/// The leaf's value as a float array of `dtype` (sharing a Tensor's buffer,
/// converting other float arrays once).
pub(crate) fn float_of(
    path: &[Key],
    leaf: &VariableState,
    dtype: nnx_core::value::DType,
) -> Result<FloatTensor> {
    match FloatTensor::of_value(&*leaf.value) {
        Some(t) if t.dtype() == dtype => Ok(t),
        _ => Err(Error::DTypeMismatch {
            path: path_string(path).into(),
            expected: format!("a {} array", dtype.name()),
            found: leaf
                .value
                .dtype()
                .map_or(leaf.value.type_name(), |d| d.name())
                .into(),
        }),
    }
}

/// Resolves Variable type names in checkpoints: the optimizer's types
/// (`OptState`, `OptArray`, `OptVariable`) and nnx's built-in ones. Pass it to
/// `checkpoint::load_state_with` to load a saved `optimizer.state()`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_optim::{optax, Optimizer};
/// let model = vec![Param::new(nnx_tensor::Tensor::zeros(&[2]))];
/// let mut opt = Optimizer::new(&model, optax::adam(1e-3), Param).unwrap();
/// let bytes = nnx_core::checkpoint::save_state_to_bytes(&opt.state()).unwrap();
/// let saved = nnx_core::checkpoint::load_state_from_bytes_with(&bytes, &nnx_optim::resolve_kind).unwrap();
/// opt.load_state(&saved).unwrap();
/// assert_eq!(nnx_optim::resolve_kind("Param"), Some(nnx_core::Param));
/// ```
pub fn resolve_kind(name: &str) -> Option<nnx_core::Kind> {
    match name {
        "OptState" => Some(OptState),
        "OptArray" => Some(OptArray),
        "OptVariable" => Some(OptVariable),
        _ => nnx_core::checkpoint::builtin_kind(name),
    }
}
