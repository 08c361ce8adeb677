//! Merge: rebuilding a typed module from its GraphDef and States.

use std::any::Any;
use std::collections::{HashMap, HashSet};

use crate::error::{Error, Result};
use crate::graph::field::{DynStatic, Field, NodeHeader};
use crate::graph::graphdef::Entry;
use crate::graph::key::{path_string, Key, Path};
use crate::graph::shared::Shared;
use crate::graph::tracker::{PathTracker, ROOT};
use crate::state::{collect_errors, State, Tree, VariableState};
use crate::variable::{Variable, VariableType};

/// The States given to merge: one `State`, a tuple of them, or a `Vec`.
pub trait IntoStates {
    /// The States, in order (a later State wins at the same path).
    fn into_states(self) -> Vec<State>;
}

impl IntoStates for State {
    fn into_states(self) -> Vec<State> {
        vec![self]
    }
}

impl IntoStates for Vec<State> {
    fn into_states(self) -> Vec<State> {
        self
    }
}

macro_rules! tuple_states {
    ($($s:ident),+) => {
        impl IntoStates for ($(tuple_states!(@ty $s),)+) {
            #[allow(non_snake_case)]
            fn into_states(self) -> Vec<State> {
                let ($($s,)+) = self;
                vec![$($s),+]
            }
        }
    };
    (@ty $s:ident) => { State };
}
tuple_states!(A);
tuple_states!(A, B);
tuple_states!(A, B, C);
tuple_states!(A, B, C, D);
tuple_states!(A, B, C, D, E);
tuple_states!(A, B, C, D, E, F);

/// Reads a GraphDef's entries back into typed fields; generated code calls it.
pub struct Builder<'a> {
    entries: &'a [Entry],
    pos: usize,
    tracker: PathTracker,
    /// The leaves still to take: the subtree of each node on the current path that
    /// adds a path component, the whole tree first.
    stack: Vec<Tree<VariableState>>,
    shared: Vec<Option<Box<dyn Any + Send + Sync>>>,
}

pub(crate) fn build<M: Field>(entries: &[Entry], states: Vec<State>) -> Result<M> {
    let leaves = join_checked(entries, states, true)?;
    let shared_count = entries
        .iter()
        .filter(|e| matches!(e, Entry::SharedFirst { .. }))
        .count();
    let mut b = Builder {
        entries,
        pos: 0,
        tracker: PathTracker::default(),
        stack: vec![leaves],
        shared: (0..shared_count).map(|_| None).collect(),
    };
    M::build_field(&ROOT, &mut b)
}

/// Joins States into one tree (a later State wins at the same path) and checks it
/// against the graph's Variable entries as [`check_leaves`] does.
///
/// The check walks the entries and the tree together, allocating nothing; only
/// when it fails are paths built, to report every problem with [`check_leaves`].
pub(crate) fn join_checked(
    entries: &[Entry],
    states: Vec<State>,
    require_all: bool,
) -> Result<Tree<VariableState>> {
    join_checked_with(
        states,
        |t| fits(entries, t, require_all),
        || entries.to_vec(),
        require_all,
    )
}

/// [`join_checked`] with the fast check `fits` given, and the entries built only
/// when it fails (so `update` need not build a GraphDef).
pub(crate) fn join_checked_with(
    states: Vec<State>,
    fits: impl FnOnce(&Tree<VariableState>) -> bool,
    entries: impl FnOnce() -> Vec<Entry>,
    require_all: bool,
) -> Result<Tree<VariableState>> {
    let trees: Vec<Tree<VariableState>> = states.into_iter().map(State::into_tree).collect();
    // A leaf in one State where another has a subtree cannot be joined as a tree;
    // checking the flat leaves reports it.
    let conflict = (1..trees.len()).any(|i| trees[..i].iter().any(|t| t.conflicts_with(&trees[i])));
    if conflict {
        let leaves: HashMap<Path, VariableState> =
            trees.into_iter().flat_map(Tree::into_flat).collect();
        check_leaves(&entries(), &leaves, require_all)?;
        return Ok(Tree::from_flat(leaves));
    }
    let mut trees = trees.into_iter();
    let mut joined = trees.next().unwrap_or_default();
    for t in trees {
        joined.merge_from(t);
    }
    if !fits(&joined) {
        let leaves: HashMap<Path, VariableState> = joined.clone().into_flat().into_iter().collect();
        check_leaves(&entries(), &leaves, require_all)?;
    }
    Ok(joined)
}

/// Whether `leaves` passes [`check_leaves`], decided without building paths.
fn fits(entries: &[Entry], leaves: &Tree<VariableState>, require_all: bool) -> bool {
    let mut tracker = PathTracker::default();
    // The subtree of each node on the current path that adds a path component.
    let mut stack: Vec<Option<&Tree<VariableState>>> = vec![Some(leaves)];
    let mut matched = 0;
    for entry in entries {
        match entry {
            Entry::Enter { key, header } => {
                if tracker.enter(key, header.transparent) {
                    let sub = stack.last().copied().flatten().and_then(|t| t.child(key));
                    stack.push(sub);
                }
            }
            Entry::Leave => {
                if tracker.leave().is_some() {
                    stack.pop();
                }
            }
            Entry::Variable {
                key,
                kind,
                shape,
                value_type,
                ..
            } => {
                let top = stack.last().copied().flatten();
                let leaf = if tracker.at_root() {
                    top
                } else {
                    top.and_then(|t| t.child(key))
                };
                match leaf {
                    Some(Tree::Leaf(l)) => {
                        if l.kind != *kind
                            || l.value.type_name() != *value_type
                            || !l.value.has_shape(shape.as_deref())
                        {
                            return false;
                        }
                        matched += 1;
                    }
                    Some(Tree::Map(_)) => return false,
                    None if require_all => return false,
                    None => {}
                }
            }
            Entry::Static { .. }
            | Entry::None { .. }
            | Entry::SharedFirst { .. }
            | Entry::SharedRef { .. } => {}
        }
    }
    // Every leaf sat at a Variable's path: none is left over.
    matched == leaves.count_leaves()
}

/// Checks the leaves against the graph's Variable entries, collecting every problem:
/// a leaf must sit at a Variable path with the same Variable type, value type and
/// shape; with `require_all` (merge) every Variable path must have a leaf.
pub(crate) fn check_leaves(
    entries: &[Entry],
    leaves: &HashMap<Path, VariableState>,
    require_all: bool,
) -> Result<()> {
    let mut tracker = PathTracker::default();
    let mut seen = HashSet::new();
    let mut errors = Vec::new();
    for entry in entries {
        match entry {
            Entry::Enter { key, header } => {
                tracker.enter(key, header.transparent);
            }
            Entry::Leave => {
                tracker.leave();
            }
            Entry::Variable {
                key,
                kind,
                shape,
                value_type,
                ..
            } => {
                let path = tracker.child(key);
                let at = || path_string(&path).into();
                match leaves.get(&path) {
                    None if require_all => errors.push(Error::MissingPath {
                        path: at(),
                        expected: kind.name().to_string(),
                    }),
                    None => {}
                    Some(leaf) if leaf.kind != *kind => errors.push(Error::KindMismatch {
                        path: at(),
                        expected: kind.name().to_string(),
                        found: leaf.kind.name().to_string(),
                    }),
                    Some(leaf) if leaf.value.type_name() != *value_type => {
                        errors.push(Error::TypeMismatch {
                            path: at(),
                            expected: value_type.to_string(),
                            found: leaf.value.type_name().to_string(),
                        })
                    }
                    Some(leaf) if leaf.value.shape_of() != *shape => {
                        errors.push(Error::ShapeMismatch {
                            path: at(),
                            expected: shape_repr(shape),
                            found: shape_repr(&leaf.value.shape_of()),
                        })
                    }
                    Some(_) => {}
                }
                seen.insert(path);
            }
            Entry::Static { .. }
            | Entry::None { .. }
            | Entry::SharedFirst { .. }
            | Entry::SharedRef { .. } => {}
        }
    }
    let mut extra: Vec<&Path> = leaves.keys().filter(|p| !seen.contains(*p)).collect();
    extra.sort();
    for path in extra {
        errors.push(Error::UnexpectedPath {
            path: path_string(path).into(),
            found: leaves[path].kind.name().to_string(),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(collect_errors(errors))
    }
}

fn shape_repr(shape: &Option<Vec<usize>>) -> String {
    match shape {
        Some(s) => crate::repr::fmt_tuple_usize(s),
        None => "no shape".to_string(),
    }
}

impl<'a> Builder<'a> {
    fn mismatch(&self, key: &Key, expected: &str) -> Error {
        let found = match self.entries.get(self.pos) {
            Some(e) => format!("{e:?}"),
            None => "the end of the GraphDef".to_string(),
        };
        Error::TypeMismatch {
            path: self.path_string_with(key).into(),
            expected: format!("{expected} in the GraphDef"),
            found,
        }
    }

    fn next(&mut self) -> Option<&'a Entry> {
        let e = self.entries.get(self.pos);
        self.pos += 1;
        e
    }

    /// The path of `key` in the current node, as errors print it.
    pub fn path_string_with(&self, key: &Key) -> String {
        path_string(&self.tracker.child(key))
    }

    /// Enters the node stored under `key`, returning its header (enums read their
    /// variant from `type_name`).
    pub fn enter(&mut self, key: &Key) -> Result<NodeHeader> {
        match self.entries.get(self.pos) {
            Some(Entry::Enter { header, .. }) => {
                self.pos += 1;
                if self.tracker.enter(key, header.transparent) {
                    let sub = match self.stack.last_mut() {
                        Some(Tree::Map(m)) => {
                            m.get_mut(key).map(std::mem::take).unwrap_or_default()
                        }
                        _ => Tree::default(),
                    };
                    self.stack.push(sub);
                }
                Ok(*header)
            }
            _ => Err(self.mismatch(key, "a node")),
        }
    }

    /// Leaves the current node.
    pub fn leave(&mut self) -> Result<()> {
        match self.entries.get(self.pos) {
            Some(Entry::Leave) => {
                self.pos += 1;
                if self.tracker.leave().is_some() {
                    self.stack.pop();
                }
                Ok(())
            }
            _ => Err(self.mismatch(&ROOT, "the end of a node")),
        }
    }

    /// The key of the next child of the current node, `None` at its end.
    pub fn next_child_key(&self) -> Option<Key> {
        match self.entries.get(self.pos)? {
            Entry::Leave => None,
            Entry::SharedFirst { .. } => self.entries.get(self.pos + 1)?.key().cloned(),
            e => e.key().cloned(),
        }
    }

    /// Consumes an empty-`Option` record under `key`, if that is what comes next.
    pub fn take_none(&mut self, key: &Key) -> bool {
        match self.entries.get(self.pos) {
            Some(Entry::None { key: k }) if k == key => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// The state leaf of the Variable stored under `key`.
    pub fn take_leaf(&mut self, key: &Key) -> Result<VariableState> {
        match self.entries.get(self.pos) {
            Some(Entry::Variable { kind, .. }) => {
                self.pos += 1;
                let leaf = match self.stack.last_mut() {
                    Some(t) if self.tracker.at_root() => Some(std::mem::take(t)),
                    Some(Tree::Map(m)) => m.get_mut(key).map(std::mem::take),
                    _ => None,
                };
                match leaf {
                    Some(Tree::Leaf(l)) => Ok(l),
                    _ => Err(Error::MissingPath {
                        path: self.path_string_with(key).into(),
                        expected: kind.name().to_string(),
                    }),
                }
            }
            _ => Err(self.mismatch(key, "a Variable")),
        }
    }

    /// Rebuilds the typed Variable stored under `key`.
    pub fn variable<V: VariableType>(&mut self, key: &Key) -> Result<V> {
        let leaf = self.take_leaf(key)?;
        Variable::<V::Value>::from_state(leaf, || self.path_string_with(key)).map(V::from_variable)
    }

    /// Reads the static value stored under `key`.
    pub fn static_value<S: DynStatic + Clone>(&mut self, key: &Key) -> Result<S> {
        match self.entries.get(self.pos) {
            Some(Entry::Static { value, .. }) => match value.as_any().downcast_ref::<S>() {
                Some(v) => {
                    self.pos += 1;
                    Ok(v.clone())
                }
                None => Err(self.mismatch(key, std::any::type_name::<S>())),
            },
            _ => Err(self.mismatch(key, "a static value")),
        }
    }

    /// Rebuilds a shared object: built at its first occurrence, the same handle at
    /// every later one.
    pub fn shared<T: Field>(&mut self, key: &Key) -> Result<Shared<T>> {
        match self.next() {
            Some(Entry::SharedFirst { index }) => {
                let index = *index;
                let handle = Shared::new(T::build_field(key, self)?);
                if let Some(slot) = self.shared.get_mut(index) {
                    *slot = Some(Box::new(handle.clone()));
                }
                Ok(handle)
            }
            Some(Entry::SharedRef { index, .. }) => {
                let found = self
                    .shared
                    .get(*index)
                    .and_then(|s| s.as_ref())
                    .and_then(|s| s.downcast_ref::<Shared<T>>())
                    .cloned();
                found.ok_or_else(|| {
                    self.pos -= 1;
                    self.mismatch(key, "an earlier shared object of the same type")
                })
            }
            _ => {
                self.pos -= 1;
                Err(self.mismatch(key, "a shared object"))
            }
        }
    }
}
