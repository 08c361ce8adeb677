//! State: a nested, sorted mapping from paths to Variable states.
//!
//! ```
//! use nnx_core::prelude::*;
//! let state = vec![Param::new(ndarray::Array1::<f32>::zeros(3))].state();
//! assert_eq!(state.map(shape).to_string(), "State({\n  0: Param(\n    value=(3,)\n  )\n})");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::error::{Error, ErrorPath, Result};
use crate::key::{path_string, Key, Path, MAX_DEPTH};
use crate::value::{short_type_name, value_type_mismatch, Value};
use crate::variable::VariableState;

/// A nested mapping with sorted keys: the shape of [`State`] and of pure dicts.
///
/// ```
/// use nnx_core::{Key, Tree};
/// let t: Tree<u8> = Tree::from_flat(vec![(vec![Key::from("a")], 1)]);
/// assert!(matches!(&t, Tree::Map(m) if matches!(m[&Key::from("a")], Tree::Leaf(1))));
/// ```
#[derive(Clone, Debug)]
pub enum Tree<L> {
    /// A leaf.
    Leaf(L),
    /// A sorted mapping (integer keys first).
    Map(BTreeMap<Key, Tree<L>>),
}

impl<L> Default for Tree<L> {
    fn default() -> Self {
        Tree::Map(BTreeMap::new())
    }
}

impl<L> Tree<L> {
    /// The subtree at `path`.
    ///
    /// ```
    /// use nnx_core::{Key, Tree};
    /// let t: Tree<u8> = Tree::from_flat(vec![(vec![Key::from("a")], 1)]);
    /// assert!(matches!(t.get(&[Key::from("a")]), Some(Tree::Leaf(1))));
    /// ```
    pub fn get(&self, path: &[Key]) -> Option<&Tree<L>> {
        let mut cur = self;
        for k in path {
            match cur {
                Tree::Map(m) => cur = m.get(k)?,
                Tree::Leaf(_) => return None,
            }
        }
        Some(cur)
    }

    /// Builds a tree from `(path, leaf)` pairs; a later pair replaces an earlier one
    /// at the same path, and also a leaf its path runs through or a subtree its
    /// path ends on. [`Tree::try_from_flat`] rejects pairs that would lose
    /// leaves that way.
    ///
    /// ```
    /// use nnx_core::{Key, Tree};
    /// let t: Tree<u8> = Tree::from_flat(vec![(vec![Key::from("a"), Key::from(0usize)], 1)]);
    /// assert_eq!(t.into_flat().len(), 1);
    /// ```
    pub fn from_flat(items: impl IntoIterator<Item = (Path, L)>) -> Self {
        let mut root = Tree::default();
        for (path, leaf) in items {
            root.insert(&path, leaf);
        }
        root
    }

    /// Whether `other` has a leaf where `self` has a map or the reverse, so that
    /// merging the two would lose leaves.
    pub(crate) fn conflicts_with(&self, other: &Tree<L>) -> bool {
        match (self, other) {
            (Tree::Map(a), Tree::Map(b)) => b
                .iter()
                .any(|(k, t)| a.get(k).is_some_and(|s| s.conflicts_with(t))),
            (Tree::Leaf(_), Tree::Leaf(_)) => false,
            _ => true,
        }
    }

    /// Adds the leaves of `other`, which win at equal paths, as inserting them one
    /// by one would.
    pub(crate) fn merge_from(&mut self, other: Tree<L>) {
        match (self, other) {
            (Tree::Map(a), Tree::Map(b)) => {
                for (k, t) in b {
                    match a.entry(k) {
                        std::collections::btree_map::Entry::Vacant(v) => {
                            v.insert(t);
                        }
                        std::collections::btree_map::Entry::Occupied(mut o) => {
                            o.get_mut().merge_from(t)
                        }
                    }
                }
            }
            (slot, other) => *slot = other,
        }
    }

    /// [`from_flat`](Tree::from_flat) for pairs sorted by path: each map is
    /// built in bulk from its keys in order, without a search per key, and the
    /// paths' keys are moved, not cloned. Pairs at equal paths, or with a leaf
    /// above another, go through `from_flat`, which settles them.
    pub(crate) fn from_sorted(items: Vec<(Path, L)>) -> Self {
        let irregular = items.first().is_some_and(|(p, _)| p.is_empty())
            || items
                .windows(2)
                .any(|w| w[0].0 >= w[1].0 || w[1].0.starts_with(&w[0].0));
        if irregular {
            return Tree::from_flat(items);
        }
        // The keys of the open maps, and each one's children so far (the root's first).
        let mut open: Vec<Key> = Vec::new();
        let mut children: Vec<Vec<(Key, Tree<L>)>> = vec![Vec::new()];
        fn close<L>(open: &mut Vec<Key>, children: &mut Vec<Vec<(Key, Tree<L>)>>) {
            if let (Some(key), Some(map)) = (open.pop(), children.pop()) {
                if let Some(parent) = children.last_mut() {
                    parent.push((key, Tree::Map(map.into_iter().collect())));
                }
            }
        }
        for (path, leaf) in items {
            let shared = open.iter().zip(&path).take_while(|(a, b)| a == b).count();
            while open.len() > shared {
                close(&mut open, &mut children);
            }
            let mut keys = path.into_iter().skip(shared);
            let Some(mut last) = keys.next() else {
                continue;
            };
            for k in keys {
                open.push(std::mem::replace(&mut last, k));
                children.push(Vec::new());
            }
            if let Some(top) = children.last_mut() {
                top.push((last, Tree::Leaf(leaf)));
            }
        }
        while !open.is_empty() {
            close(&mut open, &mut children);
        }
        Tree::Map(children.pop().unwrap_or_default().into_iter().collect())
    }

    /// Builds a tree from `(path, leaf)` pairs, rejecting pairs that a tree cannot
    /// hold together: a leaf at `a` and another at `a/b` is an error naming both
    /// paths. A later pair still replaces an earlier one at the same path.
    ///
    /// ```
    /// use nnx_core::{Key, Tree};
    /// let ok = Tree::try_from_flat(vec![(vec![Key::from("a")], 1u8), (vec![Key::from("b")], 2)]);
    /// assert_eq!(ok.unwrap().into_flat().len(), 2);
    /// let err = Tree::try_from_flat(vec![
    ///     (vec![Key::from("a")], 1u8),
    ///     (vec![Key::from("a"), Key::from("b")], 2),
    /// ])
    /// .unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "unexpected Variable at a/b: expected no Variable there, found a Variable below \
    ///      the Variable at a (a leaf cannot also hold a subtree)"
    /// );
    /// ```
    pub fn try_from_flat(items: impl IntoIterator<Item = (Path, L)>) -> Result<Self> {
        let mut items: Vec<(Path, L)> = items.into_iter().collect();
        // Deeper paths can come from no module and would nest deep enough to
        // overflow the stack when the tree is walked or dropped.
        if let Some((path, _)) = items.iter().find(|(p, _)| p.len() > MAX_DEPTH) {
            return Err(Error::TooDeep {
                path: path_string(&path[..=MAX_DEPTH]).into(),
                limit: MAX_DEPTH,
            });
        }
        // Stable: pairs at equal paths keep their order, so the last one wins below.
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(Path, L)> = Vec::with_capacity(items.len());
        for (path, leaf) in items {
            if unique.last().is_some_and(|(p, _)| *p == path) {
                unique.pop();
            }
            unique.push((path, leaf));
        }
        // Sorted, every extension of a path follows it directly, so comparing
        // neighbours finds every leaf that sits below another.
        if let Some(w) = unique.windows(2).find(|w| w[1].0.starts_with(&w[0].0)) {
            return Err(Error::UnexpectedPath {
                path: path_string(&w[1].0).into(),
                found: format!(
                    "Variable below the Variable at {} (a leaf cannot also hold a subtree)",
                    ErrorPath(path_string(&w[0].0))
                ),
            });
        }
        Ok(Tree::from_flat(unique))
    }

    /// Sets the leaf at `path`, creating maps on the way.
    ///
    /// ```
    /// use nnx_core::{Key, Tree};
    /// let mut t: Tree<u8> = Tree::default();
    /// t.insert(&[Key::from("a"), Key::from("b")], 1);
    /// assert!(matches!(t.get(&[Key::from("a"), Key::from("b")]), Some(Tree::Leaf(1))));
    /// ```
    pub fn insert(&mut self, path: &[Key], leaf: L) {
        let Some((last, init)) = path.split_last() else {
            *self = Tree::Leaf(leaf);
            return;
        };
        let mut cur = self;
        for k in init {
            if !matches!(cur, Tree::Map(_)) {
                *cur = Tree::default();
            }
            let Tree::Map(m) = cur else { return };
            cur = m.entry(k.clone()).or_default();
        }
        if !matches!(cur, Tree::Map(_)) {
            *cur = Tree::default();
        }
        if let Tree::Map(m) = cur {
            m.insert(last.clone(), Tree::Leaf(leaf));
        }
    }

    /// The `(path, leaf)` pairs, sorted by path.
    ///
    /// ```
    /// use nnx_core::{Key, Tree};
    /// let t: Tree<u8> = Tree::from_flat(vec![(vec![Key::from("b")], 2), (vec![Key::from("a")], 1)]);
    /// assert_eq!(t.into_flat(), vec![(vec![Key::from("a")], 1), (vec![Key::from("b")], 2)]);
    /// ```
    pub fn into_flat(self) -> Vec<(Path, L)> {
        let mut out = Vec::new();
        let mut path = Vec::new();
        self.into_flat_at(&mut path, &mut out);
        out
    }

    fn into_flat_at(self, path: &mut Path, out: &mut Vec<(Path, L)>) {
        match self {
            Tree::Leaf(l) => out.push((path.clone(), l)),
            Tree::Map(m) => {
                for (k, child) in m {
                    path.push(k);
                    child.into_flat_at(path, out);
                    path.pop();
                }
            }
        }
    }

    /// Visits the leaves with their paths, in sorted order.
    ///
    /// ```
    /// use nnx_core::{Key, Tree};
    /// let t: Tree<u8> = Tree::from_flat(vec![(vec![Key::from("b")], 2), (vec![Key::from("a")], 1)]);
    /// let mut seen = Vec::new();
    /// t.for_each_leaf(&mut |path, leaf| seen.push((path.to_vec(), *leaf)));
    /// assert_eq!(seen, vec![(vec![Key::from("a")], 1), (vec![Key::from("b")], 2)]);
    /// ```
    pub fn for_each_leaf(&self, f: &mut dyn FnMut(&[Key], &L)) {
        fn go<L>(t: &Tree<L>, path: &mut Path, f: &mut dyn FnMut(&[Key], &L)) {
            match t {
                Tree::Leaf(l) => f(path, l),
                Tree::Map(m) => {
                    for (k, child) in m {
                        path.push(k.clone());
                        go(child, path, f);
                        path.pop();
                    }
                }
            }
        }
        go(self, &mut Vec::new(), f)
    }

    /// A tree of the same shape with every leaf mapped.
    ///
    /// ```
    /// use nnx_core::{Key, Tree};
    /// let t: Tree<u8> = Tree::from_flat(vec![(vec![Key::from("a")], 1)]);
    /// let doubled = t.map_leaves(&mut |_, leaf| u32::from(*leaf) * 2);
    /// assert_eq!(doubled.into_flat(), vec![(vec![Key::from("a")], 2u32)]);
    /// ```
    pub fn map_leaves<M>(&self, f: &mut dyn FnMut(&[Key], &L) -> M) -> Tree<M> {
        fn go<L, M>(t: &Tree<L>, path: &mut Path, f: &mut dyn FnMut(&[Key], &L) -> M) -> Tree<M> {
            match t {
                Tree::Leaf(l) => Tree::Leaf(f(path, l)),
                Tree::Map(m) => Tree::Map(
                    m.iter()
                        .map(|(k, child)| {
                            path.push(k.clone());
                            let c = go(child, path, f);
                            path.pop();
                            (k.clone(), c)
                        })
                        .collect(),
                ),
            }
        }
        go(self, &mut Vec::new(), f)
    }
}

/// A flat, path-sorted list of `(path, leaf)` (Flax's `FlatState`).
///
/// ```
/// use nnx_core::{FlatState, Key, VariableState, Param};
/// let flat = FlatState::new(vec![(vec![Key::from("w")], VariableState::new(Param, 1.0f32))]);
/// assert_eq!(flat.paths(), vec![vec![Key::from("w")]]);
/// assert_eq!(flat.to_nested_state().unwrap().flat_state().len(), 1);
/// ```
#[derive(Clone, Debug, Default)]
pub struct FlatState(Vec<(Path, VariableState)>);

impl FlatState {
    /// Sorts the pairs by path.
    ///
    /// ```
    /// use nnx_core::{FlatState, Key, VariableState, Param};
    /// let flat = FlatState::new(vec![
    ///     (vec![Key::from("b")], VariableState::new(Param, 2.0f32)),
    ///     (vec![Key::from("a")], VariableState::new(Param, 1.0f32)),
    /// ]);
    /// assert_eq!(flat.paths(), vec![vec![Key::from("a")], vec![Key::from("b")]]);
    /// ```
    pub fn new(mut items: Vec<(Path, VariableState)>) -> Self {
        items.sort_by(|a, b| a.0.cmp(&b.0));
        FlatState(items)
    }

    /// The number of leaves.
    ///
    /// ```
    /// use nnx_core::{FlatState, Key, VariableState, Param};
    /// let flat = FlatState::new(vec![(vec![Key::from("w")], VariableState::new(Param, 1.0f32))]);
    /// assert_eq!(flat.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no leaves.
    ///
    /// ```
    /// assert!(nnx_core::FlatState::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The paths, in order.
    ///
    /// ```
    /// use nnx_core::{FlatState, Key, VariableState, Param};
    /// let flat = FlatState::new(vec![(vec![Key::from("w")], VariableState::new(Param, 1.0f32))]);
    /// assert_eq!(flat.paths(), vec![vec![Key::from("w")]]);
    /// ```
    pub fn paths(&self) -> Vec<Path> {
        self.0.iter().map(|(p, _)| p.clone()).collect()
    }

    /// The leaves, in path order.
    ///
    /// ```
    /// use nnx_core::{FlatState, Key, VariableState, Param};
    /// let flat = FlatState::new(vec![(vec![Key::from("w")], VariableState::new(Param, 1.0f32))]);
    /// assert_eq!(flat.leaves()[0].kind, Param);
    /// ```
    pub fn leaves(&self) -> Vec<&VariableState> {
        self.0.iter().map(|(_, l)| l).collect()
    }

    /// Iterates `(path, leaf)`.
    ///
    /// ```
    /// use nnx_core::{FlatState, Key, VariableState, Param};
    /// let flat = FlatState::new(vec![(vec![Key::from("w")], VariableState::new(Param, 1.0f32))]);
    /// let (path, leaf) = flat.iter().next().unwrap();
    /// assert_eq!((path, leaf.kind), (&vec![Key::from("w")], Param));
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &(Path, VariableState)> {
        self.0.iter()
    }

    /// The nested State; as [`State::from_flat`], a leaf below another leaf's path
    /// is an error naming both.
    ///
    /// ```
    /// use nnx_core::{FlatState, Key, VariableState, Param};
    /// let flat = FlatState::new(vec![(vec![Key::from("a"), Key::from("w")], VariableState::new(Param, 1.0f32))]);
    /// let state = flat.to_nested_state()?;
    /// assert!(state.leaf(&[Key::from("a"), Key::from("w")]).is_some());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn to_nested_state(&self) -> Result<State> {
        State::from_flat(self.0.iter().cloned())
    }

    /// The pairs.
    ///
    /// ```
    /// use nnx_core::{FlatState, Key, VariableState, Param};
    /// let flat = FlatState::new(vec![(vec![Key::from("w")], VariableState::new(Param, 1.0f32))]);
    /// let pairs = flat.into_inner();
    /// assert_eq!(pairs[0].0, vec![Key::from("w")]);
    /// ```
    pub fn into_inner(self) -> Vec<(Path, VariableState)> {
        self.0
    }
}

impl IntoIterator for FlatState {
    type Item = (Path, VariableState);
    type IntoIter = std::vec::IntoIter<(Path, VariableState)>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// A pure nested dict of values: a State without Variable types or metadata.
///
/// ```
/// use nnx_core::prelude::*;
/// let pure: nnx_core::PureDict = Param::new(1.0f32).state().to_pure_dict();
/// assert!(matches!(pure, nnx_core::Tree::Leaf(_)));
/// ```
pub type PureDict = Tree<Arc<dyn Value>>;

/// The state of a module graph: a nested, sorted mapping from path to
/// [`VariableState`]. It prints exactly as Flax prints a `State`.
///
/// ```
/// use nnx_core::prelude::*;
/// let state = State::from_flat(vec![
///     (vec![Key::from("bias")], VariableState::new(Param, ndarray::Array1::<f32>::zeros(3))),
///     (vec![Key::from("kernel")], VariableState::new(Param, ndarray::Array2::<f32>::zeros((2, 3)))),
/// ]).unwrap();
/// assert_eq!(
///     state.map(shape).to_string(),
///     "State({\n  'bias': Param(\n    value=(3,)\n  ),\n  'kernel': Param(\n    value=(2, 3)\n  )\n})"
/// );
/// ```
#[derive(Clone, Default)]
pub struct State(Tree<VariableState>);

impl State {
    /// An empty State.
    ///
    /// ```
    /// assert!(nnx_core::State::new().is_empty());
    /// ```
    pub fn new() -> Self {
        State::default()
    }

    /// Builds a State from `(path, leaf)` pairs; a later pair wins at the same path.
    /// A leaf at a path below another leaf's (`a` and `a/b`) is an error naming
    /// both paths: a State cannot hold both, and keeping one would lose the other.
    ///
    /// ```
    /// use nnx_core::{Key, Param, State, VariableState};
    /// let s = State::from_flat(vec![
    ///     (vec![Key::from("w")], VariableState::new(Param, 1.0f32)),
    ///     (vec![Key::from("w")], VariableState::new(Param, 2.0f32)),
    /// ])?;
    /// assert_eq!(s.len(), 1);
    /// assert_eq!(s.leaf(&[Key::from("w")]).unwrap().value.as_any().downcast_ref::<f32>(), Some(&2.0));
    ///
    /// let lossy = State::from_flat(vec![
    ///     (vec![Key::from("a")], VariableState::new(Param, 1.0f32)),
    ///     (vec![Key::from("a"), Key::from("b")], VariableState::new(Param, 2.0f32)),
    /// ]);
    /// assert!(lossy.unwrap_err().to_string().contains("at a/b"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn from_flat(items: impl IntoIterator<Item = (Path, VariableState)>) -> Result<Self> {
        Tree::try_from_flat(items).map(State)
    }

    /// A State from pairs taken from one valid State (no leaf below another).
    pub(crate) fn from_subset(items: impl IntoIterator<Item = (Path, VariableState)>) -> Self {
        let mut items: Vec<(Path, VariableState)> = items.into_iter().collect();
        items.sort_by(|a, b| a.0.cmp(&b.0));
        State(Tree::from_sorted(items))
    }

    /// A State holding `tree`.
    pub(crate) fn from_tree(tree: Tree<VariableState>) -> Self {
        State(tree)
    }

    /// The nested tree, to change in place.
    pub(crate) fn tree_mut(&mut self) -> &mut Tree<VariableState> {
        &mut self.0
    }

    /// The nested tree, consuming the State.
    pub(crate) fn into_tree(self) -> Tree<VariableState> {
        self.0
    }

    /// The nested tree.
    ///
    /// ```
    /// use nnx_core::{Key, Param, State, VariableState, Tree};
    /// let s = State::from_flat(vec![(vec![Key::from("w")], VariableState::new(Param, 1.0f32))]).unwrap();
    /// assert!(matches!(s.tree(), Tree::Map(m) if m.len() == 1));
    /// ```
    pub fn tree(&self) -> &Tree<VariableState> {
        &self.0
    }

    /// The leaves as a [`FlatState`] (values shared, not copied).
    ///
    /// ```
    /// use nnx_core::{Key, Param, State, VariableState};
    /// let s = State::from_flat(vec![(vec![Key::from("a"), Key::from("w")], VariableState::new(Param, 1.0f32))]).unwrap();
    /// assert_eq!(s.flat_state().paths(), vec![vec![Key::from("a"), Key::from("w")]]);
    /// ```
    pub fn flat_state(&self) -> FlatState {
        FlatState(self.0.clone().into_flat())
    }

    /// The `(path, leaf)` pairs, consuming the State.
    ///
    /// ```
    /// use nnx_core::{Key, Param, State, VariableState};
    /// let s = State::from_flat(vec![(vec![Key::from("w")], VariableState::new(Param, 1.0f32))]).unwrap();
    /// assert_eq!(s.into_flat()[0].0, vec![Key::from("w")]);
    /// ```
    pub fn into_flat(self) -> Vec<(Path, VariableState)> {
        self.0.into_flat()
    }

    /// The number of leaves.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// assert_eq!(vec![Param::new(1.0f32), Param::new(2.0)].state().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        let mut n = 0;
        self.0.for_each_leaf(&mut |_, _| n += 1);
        n
    }

    /// Whether there are no leaves.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// assert!(State::new().is_empty());
    /// assert!(!Param::new(1.0f32).state().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leaf at `path`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = vec![Param::new(1.0f32)].state();
    /// assert_eq!(s.leaf(&[Key::from(0usize)]).unwrap().kind, nnx_core::Param);
    /// assert!(s.leaf(&[]).is_none()); // the root is a map, not a leaf
    /// ```
    pub fn leaf(&self, path: &[Key]) -> Option<&VariableState> {
        match self.0.get(path)? {
            Tree::Leaf(l) => Some(l),
            Tree::Map(_) => None,
        }
    }

    /// The sub-State at `path` (`state["linear"]` in Flax).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = vec![vec![Param::new(1.0f32)]].state();
    /// let inner = s.sub(&[Key::from(0usize)]).unwrap();
    /// assert!(inner.leaf(&[Key::from(0usize)]).is_some());
    /// ```
    pub fn sub(&self, path: &[Key]) -> Option<State> {
        self.0.get(path).cloned().map(State)
    }

    /// Maps every value's array leaves through `f`, keeping types and metadata:
    /// `state.map(shape)` is Flax's `jax.tree.map(jnp.shape, state)`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = Param::new(ndarray::Array2::<f32>::zeros((2, 3))).state();
    /// assert_eq!(s.map(shape).to_string(), "State(Param(\n  value=(2, 3)\n))");
    /// ```
    pub fn map<R: Value>(&self, f: impl Fn(&dyn Value) -> R) -> State {
        let leaf_fn = |v: &dyn Value| -> Arc<dyn Value> { Arc::new(f(v)) };
        State(
            self.0
                .map_leaves(&mut |_, l| l.with_value(l.value.map_leaves(&leaf_fn))),
        )
    }

    /// Merges States; a later State's leaf wins at the same path (Flax's
    /// `State.merge` / `nnx.merge_state`). A leaf in one State at a path below a
    /// leaf of another (`a` and `a/b`) is an error naming both paths.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let a = vec![Param::new(1.0f32)].state();
    /// let b = vec![Param::new(2.0f32)].state();
    /// let merged = State::merge([a.clone(), b])?;
    /// assert_eq!(merged, vec![Param::new(2.0f32)].state());
    ///
    /// let nested = vec![vec![Param::new(3.0f32)]].state(); // a leaf at 0/0, below 0
    /// assert!(State::merge([a, nested]).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn merge(states: impl IntoIterator<Item = State>) -> Result<State> {
        State::from_flat(states.into_iter().flat_map(State::into_flat))
    }

    /// The leaves of `self` whose paths are not in `other` (Flax's `diff`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let a = vec![Param::new(1.0f32), Param::new(2.0)].state();
    /// let b = vec![Param::new(1.0f32)].state();
    /// assert_eq!(a.diff(&b).flat_state().paths(), vec![vec![Key::from(1usize)]]);
    /// ```
    pub fn diff(&self, other: &State) -> State {
        State::from_subset(
            self.flat_state()
                .into_iter()
                .filter(|(p, _)| other.leaf(p).is_none()),
        )
    }

    /// The values alone, as a nested dict (Flax's `to_pure_dict`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let pure = vec![Param::new(1.0f32)].state().to_pure_dict();
    /// let flat = pure.into_flat();
    /// assert_eq!(flat[0].1.as_any().downcast_ref::<f32>(), Some(&1.0));
    /// ```
    pub fn to_pure_dict(&self) -> PureDict {
        self.0.map_leaves(&mut |_, l| l.value.clone())
    }

    /// Replaces values from a pure dict. Every path of `pure` must exist in the
    /// State, with the same value type and shape.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut s = vec![Param::new(1.0f32)].state();
    /// let pure = vec![Param::new(5.0f32)].state().to_pure_dict();
    /// s.replace_by_pure_dict(&pure).unwrap();
    /// assert_eq!(s, vec![Param::new(5.0f32)].state());
    /// ```
    pub fn replace_by_pure_dict(&mut self, pure: &PureDict) -> Result<()> {
        let mut errors = Vec::new();
        pure.for_each_leaf(&mut |path, value| {
            let Some(Tree::Leaf(old)) = self.0.get(path) else {
                errors.push(Error::UnexpectedPath {
                    path: path_string(path).into(),
                    found: format!("value of type {}", short_type_name(value.type_name())),
                });
                return;
            };
            if let Err(e) = check_same_value_type(path, &*old.value, &**value) {
                errors.push(e);
            }
        });
        if !errors.is_empty() {
            return Err(Error::many(errors));
        }
        pure.for_each_leaf(&mut |path, value| {
            if let Some(old) = self.leaf(path) {
                let new = old.with_value(value.clone());
                self.0.insert(path, new);
            }
        });
        Ok(())
    }

    /// A copy whose values are copied too (no sharing with `self`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = Param::new(1.0f32).state();
    /// let copy = s.deep_clone();
    /// assert_eq!(copy, s);
    /// assert!(!std::sync::Arc::ptr_eq(&copy.into_flat()[0].1.value, &s.into_flat()[0].1.value));
    /// ```
    pub fn deep_clone(&self) -> State {
        State(
            self.0
                .map_leaves(&mut |_, l| l.with_value(l.value.clone_value())),
        )
    }
}

/// Checks that `new` can replace `old`: same Rust type and shape.
pub(crate) fn check_same_value_type(path: &[Key], old: &dyn Value, new: &dyn Value) -> Result<()> {
    if old.as_any().type_id() != new.as_any().type_id() {
        return Err(value_type_mismatch(
            path_string(path),
            old.type_name(),
            old.dtype(),
            new,
        ));
    }
    if old.shape_of() != new.shape_of() {
        return Err(Error::ShapeMismatch {
            path: path_string(path).into(),
            expected: crate::repr::fmt_tuple_usize(&old.shape_of().unwrap_or_default()),
            found: crate::repr::fmt_tuple_usize(&new.shape_of().unwrap_or_default()),
        });
    }
    Ok(())
}

impl PartialEq for State {
    fn eq(&self, other: &Self) -> bool {
        let a = self.flat_state();
        let b = other.flat_state();
        a.len() == b.len()
            && a.iter()
                .zip(b.iter())
                .all(|((pa, la), (pb, lb))| pa == pb && la.same_as(lb))
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("State(")?;
        fmt_tree(f, &self.0, 0)?;
        f.write_str(")")
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn fmt_tree(f: &mut fmt::Formatter<'_>, t: &Tree<VariableState>, indent: usize) -> fmt::Result {
    match t {
        Tree::Leaf(l) => crate::display::fmt_variable(f, l.kind, &*l.value, &l.metadata, indent),
        Tree::Map(m) if m.is_empty() => f.write_str("{}"),
        Tree::Map(m) => {
            f.write_str("{\n")?;
            let pad = " ".repeat(indent + 2);
            for (i, (k, child)) in m.iter().enumerate() {
                write!(f, "{pad}{k}: ")?;
                fmt_tree(f, child, indent + 2)?;
                if i + 1 < m.len() {
                    f.write_str(",")?;
                }
                f.write_str("\n")?;
            }
            write!(f, "{}}}", " ".repeat(indent))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(keys: &[&'static str]) -> Path {
        keys.iter().map(|k| Key::from(*k)).collect()
    }

    /// The leaves of a tree with their paths, in order.
    fn flat(tree: Tree<u8>) -> Vec<(Path, u8)> {
        tree.into_flat()
    }

    #[test]
    fn a_sorted_build_is_the_flat_build() {
        let regular = vec![
            (p(&["a", "x"]), 1),
            (p(&["a", "y", "z"]), 2),
            (p(&["b"]), 3),
            (p(&["c", "d", "e"]), 4),
            (p(&["c", "f"]), 5),
        ];
        // Equal paths (the last wins) and a leaf above another (the deeper one wins).
        let irregular = vec![
            (p(&["a"]), 1),
            (p(&["a"]), 2),
            (p(&["b"]), 3),
            (p(&["b", "c"]), 4),
        ];
        for items in [regular, irregular, Vec::new(), vec![(Path::new(), 7)]] {
            let sorted = flat(Tree::from_sorted(items.clone()));
            assert_eq!(sorted, flat(Tree::from_flat(items)));
        }
        let nested = flat(Tree::from_sorted(vec![(p(&["a", "x"]), 1), (p(&["b"]), 3)]));
        assert_eq!(nested, vec![(p(&["a", "x"]), 1), (p(&["b"]), 3)]);
    }
}
