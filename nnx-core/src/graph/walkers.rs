//! The walkers behind the graph operations.

use std::any::Any;
use std::collections::{btree_map, BTreeMap, HashMap, HashSet};

use crate::error::{Error, Result};
use crate::filter::{first_match, Filter};
use crate::graph::fit::{convert_leaf, VariableDecl};
use crate::graph::graphdef::{entries_buffer, Entry};
use crate::graph::leaves::{Cursor, Taken};
use crate::graph::statics::{DynStatic, StaticValue};
use crate::graph::tracker::PathTracker;
use crate::graph::walker::{Action, NodeHeader, Place, Walker, WalkerMut};
use crate::key::{path_string, Key, Path};
use crate::state::{State, Tree};
use crate::variable::AnyVariable;
use crate::variable::VariableState;

/// Collects the GraphDef entries and/or the Variable states of a graph in one pass.
/// Variables are partitioned by `filters` (first match wins); with no filters all
/// go to part 0.
///
/// States are built as trees while walking (one map per part for each node on the
/// current path), so no Variable needs a path of its own.
pub(crate) struct Collector<'f> {
    pub(crate) tracker: PathTracker,
    pub(crate) entries: Option<Vec<Entry>>,
    shared_ids: HashMap<usize, usize>,
    filters: Vec<&'f dyn Filter>,
    collect_states: bool,
    parts: usize,
    /// `parts` child lists per node that adds a path component, outermost first;
    /// the first `parts` hold the root's children. A node's lists become maps
    /// when it is left.
    maps: Vec<Children>,
    /// Emptied child lists, kept for their allocations.
    spare: Vec<Children>,
    /// A Variable walked as the root: its part and leaf (at the empty path).
    root_leaf: Option<(usize, VariableState)>,
    pub(crate) unmatched: Vec<Path>,
}

impl<'f> Collector<'f> {
    pub(crate) fn new(graphdef: bool, states: bool, mut filters: Vec<&'f dyn Filter>) -> Self {
        let parts = filters.len().max(1);
        // A lone `..` takes everything, as no filter does, and spares building
        // each Variable's path to match it.
        if matches!(filters.as_slice(), [f] if f.is_ellipsis()) {
            filters.clear();
        }
        Collector {
            tracker: PathTracker::default(),
            entries: graphdef.then(entries_buffer),
            shared_ids: HashMap::new(),
            filters,
            collect_states: states,
            parts,
            maps: (0..parts).map(|_| Vec::new()).collect(),
            spare: Vec::new(),
            root_leaf: None,
            unmatched: Vec::new(),
        }
    }

    /// Records an entry, built only when a GraphDef is being collected.
    #[inline]
    fn record(&mut self, entry: impl FnOnce() -> Entry) {
        if let Some(entries) = &mut self.entries {
            entries.push(entry());
        }
    }

    /// `Err` with every node the walk refused (too deep, or a locked Shared).
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.tracker.finish()
    }

    /// One State per part.
    pub(crate) fn into_states(self) -> Vec<State> {
        let root_leaf = self.root_leaf;
        self.maps
            .into_iter()
            .take(self.parts)
            .enumerate()
            .map(|(i, mut m)| match &root_leaf {
                Some((part, leaf)) if *part == i => State::from_tree(Tree::Leaf(leaf.clone())),
                _ => State::from_tree(Tree::Map(into_map(&mut m))),
            })
            .collect()
    }
}

impl Walker for Collector<'_> {
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        if !self.tracker.admit(key) {
            return false;
        }
        self.record(|| Entry::Enter {
            key: key.clone(),
            header,
        });
        if self.tracker.enter(key, header.transparent) && self.collect_states {
            for _ in 0..self.parts {
                let children = self.spare.pop().unwrap_or_default();
                self.maps.push(children);
            }
        }
        true
    }

    fn locked(&mut self, key: &Key) {
        self.tracker.locked(key);
    }

    fn leave(&mut self) {
        self.record(|| Entry::Leave);
        let Some(key) = self.tracker.leave() else {
            return;
        };
        if !self.collect_states {
            return;
        }
        // Attach the node's maps to its parent's, leaving out empty ones as a State
        // built from paths would.
        let top = self.maps.len() - self.parts;
        for i in 0..self.parts {
            let mut children = std::mem::take(&mut self.maps[top + i]);
            if !children.is_empty() {
                let m = into_map(&mut children);
                self.maps[top - self.parts + i].push((key.clone(), Tree::Map(m)));
            }
            self.spare.push(children);
        }
        self.maps.truncate(top);
    }

    fn shared(&mut self, key: &Key, id: usize) -> bool {
        if let Some(&index) = self.shared_ids.get(&id) {
            self.record(|| Entry::SharedRef {
                key: key.clone(),
                index,
            });
            return false;
        }
        let index = self.shared_ids.len();
        self.shared_ids.insert(id, index);
        self.record(|| Entry::SharedFirst { index });
        true
    }

    fn variable(&mut self, key: &Key, var: &dyn AnyVariable) {
        self.record(|| Entry::Variable {
            key: key.clone(),
            decl: VariableDecl::of(var.kind(), var.value_dyn()),
        });
        if !self.collect_states {
            return;
        }
        let slot = if self.filters.is_empty() {
            Some(0)
        } else {
            let filters = &self.filters;
            self.tracker
                .with_child(key, |path| first_match(filters, path, var))
        };
        let Some(i) = slot else {
            self.unmatched.push(self.tracker.child(key));
            return;
        };
        if self.tracker.at_root() {
            self.root_leaf = Some((i, var.to_state()));
        } else {
            let top = self.maps.len() - self.parts;
            self.maps[top + i].push((key.clone(), Tree::Leaf(var.to_state())));
        }
    }

    fn static_value(&mut self, key: &Key, value: &dyn DynStatic) {
        self.record(|| Entry::Static {
            key: key.clone(),
            value: StaticValue::of(value),
        });
    }

    fn none(&mut self, key: &Key) {
        self.record(|| Entry::None { key: key.clone() });
    }
}

/// A node's children, in walk order.
type Children = Vec<(Key, Tree<VariableState>)>;

/// A node's children as a map, emptying `children` (its allocation is kept). A
/// long list of increasing keys (a `Vec` of layers) is built in bulk, without a
/// search per key; others are inserted one by one, and children at the same key
/// (a transparent node's and its module's) are merged.
fn into_map(children: &mut Children) -> BTreeMap<Key, Tree<VariableState>> {
    const BULK: usize = 8;
    if children.len() > BULK && children.windows(2).all(|w| w[0].0 < w[1].0) {
        return children.drain(..).collect();
    }
    let mut m = BTreeMap::new();
    for (k, t) in children.drain(..) {
        match m.entry(k) {
            btree_map::Entry::Vacant(v) => {
                v.insert(t);
            }
            btree_map::Entry::Occupied(mut o) => o.get_mut().merge_from(t),
        }
    }
    m
}

/// Applies state leaves to the Variables at their paths (checked beforehand).
/// With `convert_only` it changes nothing: it gives every leaf its Variable's
/// Rust type (a loaded `ArrayD` the field's `Array2`) and keeps the leaves, so
/// that a conversion failure is found before anything is written.
pub(crate) struct Updater {
    leaves: Cursor<Taken>,
    shared_seen: HashSet<usize>,
    /// The shared object `shared` was last told about: a tied Variable is
    /// visited right after it.
    last_shared: Option<usize>,
    /// The leaves written to the first place of tied Variables, by tie.
    ties: HashMap<usize, VariableState>,
    convert_only: bool,
    pub(crate) converted: Vec<(Path, VariableState)>,
    pub(crate) errors: Vec<Error>,
}

impl Updater {
    pub(crate) fn new(leaves: Tree<VariableState>, convert_only: bool) -> Self {
        Updater {
            leaves: Cursor::new(leaves.into()),
            shared_seen: HashSet::new(),
            last_shared: None,
            ties: HashMap::new(),
            convert_only,
            converted: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl Updater {
    /// `Err` with every node the walk refused (too deep, or a locked Shared).
    pub(crate) fn finish(&mut self) -> Result<()> {
        self.leaves.tracker().finish()
    }
}

impl WalkerMut for Updater {
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        if !self.leaves.tracker().admit(key) {
            return false;
        }
        self.last_shared = None;
        self.leaves.enter(key, header.transparent);
        true
    }
    fn locked(&mut self, key: &Key) {
        self.leaves.tracker().locked(key);
    }
    fn leave(&mut self) {
        self.leaves.leave();
    }
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        self.last_shared = Some(id);
        self.shared_seen.insert(id)
    }
    fn tied(&mut self, key: &Key, id: usize, var: &mut dyn AnyVariable) {
        if let Some(leaf) = self.ties.get(&id) {
            // The first place took this leaf, so it fits here too.
            if let Err(e) = var.update_from(leaf, &path_string(&self.leaves.path(key))) {
                self.errors.push(e);
            }
        }
    }
    fn variable(&mut self, key: &Key, var: &mut dyn AnyVariable, _: Place) -> Action {
        let tie = self.last_shared.take();
        let Some(Taken::Leaf(leaf)) = self.leaves.leaf(key) else {
            return Action::Keep;
        };
        if let (Some(id), false) = (tie, self.convert_only) {
            self.ties.insert(id, leaf.clone());
        }
        if self.convert_only {
            let path = self.leaves.path(key);
            let own = var.value_dyn();
            if leaf.value.type_name() == own.type_name() {
                self.converted.push((path, leaf));
                return Action::Keep;
            }
            let at = || path_string(&path);
            match convert_leaf(leaf, own.type_name(), at, |v| own.from_array_owned(v)) {
                Ok(leaf) => self.converted.push((path, leaf)),
                Err(e) => self.errors.push(e),
            }
        // The check matched kinds and value types, so this does not fail; the
        // path is only rendered (by a second, equally failing call) if it does.
        } else if var.update_from(&leaf, "").is_err() {
            let path = path_string(&self.leaves.path(key));
            if let Err(e) = var.update_from(&leaf, &path) {
                self.errors.push(e);
            }
        }
        Action::Keep
    }
}

/// Removes the Variables matching filters from removable slots. In a dry run it only
/// records matches that cannot be removed.
pub(crate) struct Popper<'f> {
    pub(crate) tracker: PathTracker,
    seen: HashSet<usize>,
    filters: Vec<&'f dyn Filter>,
    dry_run: bool,
    pub(crate) parts: Vec<Vec<(Path, VariableState)>>,
    pub(crate) fixed: Vec<String>,
}

impl<'f> Popper<'f> {
    pub(crate) fn new(filters: Vec<&'f dyn Filter>, dry_run: bool) -> Self {
        let n = filters.len();
        Popper {
            tracker: PathTracker::default(),
            seen: Default::default(),
            filters,
            dry_run,
            parts: (0..n).map(|_| Vec::new()).collect(),
            fixed: Vec::new(),
        }
    }
}

impl WalkerMut for Popper<'_> {
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        if !self.tracker.admit(key) {
            return false;
        }
        self.tracker.enter(key, header.transparent);
        true
    }
    fn locked(&mut self, key: &Key) {
        self.tracker.locked(key);
    }
    fn leave(&mut self) {
        self.tracker.leave();
    }
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        self.seen.insert(id)
    }
    fn variable(&mut self, key: &Key, var: &mut dyn AnyVariable, place: Place) -> Action {
        // Matched against a borrowed path: only a match needs a path of its own.
        let filters = &self.filters;
        let Some(i) = self
            .tracker
            .with_child(key, |path| first_match(filters, path, &*var))
        else {
            return Action::Keep;
        };
        if place == Place::Fixed {
            self.fixed.push(path_string(&self.tracker.child(key)));
            return Action::Keep;
        }
        if self.dry_run {
            return Action::Keep;
        }
        self.parts[i].push((self.tracker.child(key), var.to_state()));
        Action::Remove
    }
}

/// Writes a value into a static field it fits.
pub(crate) type Setter<'a> = &'a mut dyn FnMut(&mut dyn Any);

/// Finds the static fields named `name` (in its dry run) or sets them: the dry
/// run counts those that `fits` and lists the paths of the others, so that a
/// setter that would fail anywhere changes nothing.
pub(crate) struct AttributeSetter<'a> {
    name: &'a str,
    fits: &'a dyn Fn(&dyn Any) -> bool,
    /// `None`: the dry run.
    set: Option<Setter<'a>>,
    pub(crate) tracker: PathTracker,
    seen: HashSet<usize>,
    pub(crate) count: usize,
    pub(crate) wrong_type: Vec<String>,
}

impl<'a> AttributeSetter<'a> {
    pub(crate) fn new(
        name: &'a str,
        fits: &'a dyn Fn(&dyn Any) -> bool,
        set: Option<Setter<'a>>,
    ) -> Self {
        AttributeSetter {
            name,
            fits,
            set,
            tracker: PathTracker::default(),
            seen: HashSet::new(),
            count: 0,
            wrong_type: Vec::new(),
        }
    }
}

impl WalkerMut for AttributeSetter<'_> {
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        if !self.tracker.admit(key) {
            return false;
        }
        self.tracker.enter(key, header.transparent);
        true
    }
    fn locked(&mut self, key: &Key) {
        self.tracker.locked(key);
    }
    fn leave(&mut self) {
        self.tracker.leave();
    }
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        self.seen.insert(id)
    }
    fn static_value(&mut self, key: &Key, value: &mut dyn Any) {
        if key.as_str() != Some(self.name) {
            return;
        }
        if !(self.fits)(value) {
            self.wrong_type.push(path_string(&self.tracker.child(key)));
            return;
        }
        self.count += 1;
        if let Some(set) = &mut self.set {
            set(value);
        }
    }
}

/// What [`iter_graph`](crate::Module::iter_graph) yields for each path.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::GraphItem;
/// let items = vec![Param::new(1.0f32)].iter_graph().unwrap();
/// assert!(matches!(items[0].1, GraphItem::Variable(_)));
/// assert!(matches!(items[1].1, GraphItem::Node(_)));
/// ```
#[derive(Debug, Clone)]
pub enum GraphItem {
    /// A node (module or container), by type name.
    Node(&'static str),
    /// A Variable.
    Variable(VariableState),
}

/// Records nodes and Variables in post-order, and the paths of shared objects.
#[derive(Default)]
pub(crate) struct Lister {
    pub(crate) tracker: PathTracker,
    stack: Vec<(Path, &'static str, bool)>,
    shared_paths: HashMap<usize, Vec<Path>>,
    shared_order: Vec<usize>,
    pub(crate) items: Vec<(Path, GraphItem)>,
}

impl Lister {
    /// Paths of each object reachable at more than one place, first path first.
    pub(crate) fn duplicates(&self) -> Vec<Vec<Path>> {
        self.shared_order
            .iter()
            .filter_map(|id| self.shared_paths.get(id))
            .filter(|paths| paths.len() > 1)
            .cloned()
            .collect()
    }
}

impl Walker for Lister {
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        if !self.tracker.admit(key) {
            return false;
        }
        let path = self.tracker.child(key);
        self.tracker.enter(key, header.transparent);
        self.stack
            .push((path, header.type_name, header.transparent));
        true
    }
    fn locked(&mut self, key: &Key) {
        self.tracker.locked(key);
    }
    fn leave(&mut self) {
        self.tracker.leave();
        if let Some((path, name, transparent)) = self.stack.pop() {
            if !transparent {
                self.items.push((path, GraphItem::Node(name)));
            }
        }
    }
    fn shared(&mut self, key: &Key, id: usize) -> bool {
        let path = self.tracker.child(key);
        let paths = self.shared_paths.entry(id).or_default();
        let first = paths.is_empty();
        paths.push(path);
        if first {
            self.shared_order.push(id);
        }
        first
    }
    fn variable(&mut self, key: &Key, var: &dyn AnyVariable) {
        let path = self.tracker.child(key);
        self.items.push((path, GraphItem::Variable(var.to_state())));
    }
}
