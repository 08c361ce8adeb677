//! The walkers behind the graph operations.

use std::any::Any;
use std::collections::{btree_map, BTreeMap, HashMap};

use crate::error::Error;
use crate::filter::{first_match, Filter};
use crate::graph::field::{NodeHeader, StaticField, Walker, WalkerMut};
use crate::graph::graphdef::Entry;
use crate::graph::tracker::PathTracker;
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
    tracker: PathTracker,
    pub(crate) entries: Option<Vec<Entry>>,
    shared_ids: HashMap<usize, usize>,
    filters: Vec<&'f dyn Filter>,
    collect_states: bool,
    parts: usize,
    /// `parts` maps per node that adds a path component, outermost first; the
    /// first `parts` hold the root's children.
    maps: Vec<BTreeMap<Key, Tree<VariableState>>>,
    /// A Variable walked as the root: its part and leaf (at the empty path).
    root_leaf: Option<(usize, VariableState)>,
    pub(crate) unmatched: Vec<Path>,
}

impl<'f> Collector<'f> {
    pub(crate) fn new(graphdef: bool, states: bool, filters: Vec<&'f dyn Filter>) -> Self {
        let parts = filters.len().max(1);
        Collector {
            tracker: PathTracker::default(),
            entries: graphdef.then(Vec::new),
            shared_ids: HashMap::new(),
            filters,
            collect_states: states,
            parts,
            maps: (0..parts).map(|_| BTreeMap::new()).collect(),
            root_leaf: None,
            unmatched: Vec::new(),
        }
    }

    fn record(&mut self, entry: Entry) {
        if let Some(entries) = &mut self.entries {
            entries.push(entry);
        }
    }

    /// One State per part.
    pub(crate) fn into_states(self) -> Vec<State> {
        let root_leaf = self.root_leaf;
        self.maps
            .into_iter()
            .take(self.parts)
            .enumerate()
            .map(|(i, m)| match &root_leaf {
                Some((part, leaf)) if *part == i => State::from_tree(Tree::Leaf(leaf.clone())),
                _ => State::from_tree(Tree::Map(m)),
            })
            .collect()
    }
}

impl Walker for Collector<'_> {
    fn enter(&mut self, key: &Key, header: NodeHeader) {
        self.record(Entry::Enter {
            key: key.clone(),
            header,
        });
        if self.tracker.enter(key, header.transparent) && self.collect_states {
            self.maps.extend((0..self.parts).map(|_| BTreeMap::new()));
        }
    }

    fn leave(&mut self) {
        self.record(Entry::Leave);
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
            let m = std::mem::take(&mut self.maps[top + i]);
            if m.is_empty() {
                continue;
            }
            match self.maps[top - self.parts + i].entry(key.clone()) {
                btree_map::Entry::Vacant(v) => {
                    v.insert(Tree::Map(m));
                }
                btree_map::Entry::Occupied(mut o) => o.get_mut().merge_from(Tree::Map(m)),
            }
        }
        self.maps.truncate(top);
    }

    fn shared(&mut self, key: &Key, id: usize) -> bool {
        if let Some(&index) = self.shared_ids.get(&id) {
            self.record(Entry::SharedRef {
                key: key.clone(),
                index,
            });
            return false;
        }
        let index = self.shared_ids.len();
        self.shared_ids.insert(id, index);
        self.record(Entry::SharedFirst { index });
        true
    }

    fn variable(&mut self, key: &Key, var: &dyn AnyVariable) {
        if self.entries.is_some() {
            let value = var.value_dyn();
            self.record(Entry::Variable {
                key: key.clone(),
                kind: var.kind(),
                dtype: value.dtype(),
                shape: value.shape_of(),
                value_type: value.type_name(),
            });
        }
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
            self.maps[top + i].insert(key.clone(), Tree::Leaf(var.to_state()));
        }
    }

    fn static_value(&mut self, key: &Key, value: &dyn StaticField) {
        if self.entries.is_some() {
            self.record(Entry::Static {
                key: key.clone(),
                value: value.to_dyn(),
            });
        }
    }

    fn none(&mut self, key: &Key) {
        self.record(Entry::None { key: key.clone() });
    }
}

/// Checks state leaves against the Variables of a live graph as `check_leaves`
/// checks them against a GraphDef (`update` semantics: leaves may be a subset),
/// walking the graph and the tree together without building paths.
pub(crate) struct LeafChecker<'t> {
    tracker: PathTracker,
    seen: std::collections::HashSet<usize>,
    /// The subtree of each node on the current path that adds a path component.
    stack: Vec<Option<&'t Tree<VariableState>>>,
    matched: usize,
    ok: bool,
}

impl<'t> LeafChecker<'t> {
    pub(crate) fn new(leaves: &'t Tree<VariableState>) -> Self {
        LeafChecker {
            tracker: PathTracker::default(),
            seen: Default::default(),
            stack: vec![Some(leaves)],
            matched: 0,
            ok: true,
        }
    }

    /// Whether every leaf sat at a Variable's path with its kind, value type and shape.
    pub(crate) fn fits(&self, leaves: &Tree<VariableState>) -> bool {
        self.ok && self.matched == leaves.count_leaves()
    }
}

impl Walker for LeafChecker<'_> {
    fn enter(&mut self, key: &Key, header: NodeHeader) {
        if self.tracker.enter(key, header.transparent) {
            let sub = self
                .stack
                .last()
                .copied()
                .flatten()
                .and_then(|t| t.child(key));
            self.stack.push(sub);
        }
    }
    fn leave(&mut self) {
        if self.tracker.leave().is_some() {
            self.stack.pop();
        }
    }
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        self.seen.insert(id)
    }
    fn variable(&mut self, key: &Key, var: &dyn AnyVariable) {
        let top = self.stack.last().copied().flatten();
        let leaf = if self.tracker.at_root() {
            top
        } else {
            top.and_then(|t| t.child(key))
        };
        match leaf {
            Some(Tree::Leaf(l)) => {
                let value = var.value_dyn();
                if l.kind != var.kind()
                    || l.value.type_name() != value.type_name()
                    || !crate::value::same_shape(&*l.value, value)
                {
                    self.ok = false;
                }
                self.matched += 1;
            }
            Some(Tree::Map(_)) => self.ok = false,
            None => {}
        }
    }
    fn static_value(&mut self, _key: &Key, _value: &dyn StaticField) {}
    fn none(&mut self, _key: &Key) {}
}

/// Applies state leaves to the Variables at their paths (validated beforehand).
pub(crate) struct Updater {
    tracker: PathTracker,
    seen: std::collections::HashSet<usize>,
    /// The leaves still to apply, as in the merge builder: the subtree of each node
    /// on the current path that adds a path component.
    stack: Vec<Tree<VariableState>>,
    pub(crate) errors: Vec<Error>,
}

impl Updater {
    pub(crate) fn new(leaves: Tree<VariableState>) -> Self {
        Updater {
            tracker: PathTracker::default(),
            seen: Default::default(),
            stack: vec![leaves],
            errors: Vec::new(),
        }
    }
}

impl WalkerMut for Updater {
    fn enter(&mut self, key: &Key, header: NodeHeader) {
        if self.tracker.enter(key, header.transparent) {
            let sub = match self.stack.last_mut() {
                Some(Tree::Map(m)) => m.get_mut(key).map(std::mem::take).unwrap_or_default(),
                _ => Tree::default(),
            };
            self.stack.push(sub);
        }
    }
    fn leave(&mut self) {
        if self.tracker.leave().is_some() {
            self.stack.pop();
        }
    }
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        self.seen.insert(id)
    }
    fn variable(&mut self, key: &Key, var: &mut dyn AnyVariable, _removable: bool) -> bool {
        let leaf = match self.stack.last_mut() {
            Some(t) if self.tracker.at_root() => Some(std::mem::take(t)),
            Some(Tree::Map(m)) => m.get_mut(key).map(std::mem::take),
            _ => None,
        };
        if let Some(Tree::Leaf(leaf)) = leaf {
            // Validation matched kinds and value types, so this does not fail; the
            // path is only rendered (by a second, equally failing call) if it does.
            if var.update_from(&leaf, "").is_err() {
                let path = path_string(&self.tracker.child(key));
                if let Err(e) = var.update_from(&leaf, &path) {
                    self.errors.push(e);
                }
            }
        }
        false
    }
    fn static_value(&mut self, _key: &Key, _value: &mut dyn Any) {}
}

/// Removes the Variables matching filters from removable slots. In a dry run it only
/// records matches that cannot be removed.
pub(crate) struct Popper<'f> {
    tracker: PathTracker,
    seen: std::collections::HashSet<usize>,
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
    fn enter(&mut self, key: &Key, header: NodeHeader) {
        self.tracker.enter(key, header.transparent);
    }
    fn leave(&mut self) {
        self.tracker.leave();
    }
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        self.seen.insert(id)
    }
    fn variable(&mut self, key: &Key, var: &mut dyn AnyVariable, removable: bool) -> bool {
        let path = self.tracker.child(key);
        let Some(i) = first_match(&self.filters, &path, var) else {
            return false;
        };
        if !removable {
            self.fixed.push(path_string(&path));
            return false;
        }
        if self.dry_run {
            return false;
        }
        self.parts[i].push((path, var.to_state()));
        true
    }
    fn static_value(&mut self, _key: &Key, _value: &mut dyn Any) {}
}

/// Sets a named static field on every node that has it.
pub(crate) struct AttributeSetter<'a> {
    pub(crate) name: &'a str,
    pub(crate) set: &'a mut dyn FnMut(&mut dyn Any) -> bool,
    seen: std::collections::HashSet<usize>,
    pub(crate) count: usize,
    pub(crate) wrong_type: Vec<String>,
}

impl<'a> AttributeSetter<'a> {
    pub(crate) fn new(name: &'a str, set: &'a mut dyn FnMut(&mut dyn Any) -> bool) -> Self {
        AttributeSetter {
            name,
            set,
            seen: Default::default(),
            count: 0,
            wrong_type: Vec::new(),
        }
    }
}

impl WalkerMut for AttributeSetter<'_> {
    fn enter(&mut self, _key: &Key, _header: NodeHeader) {}
    fn leave(&mut self) {}
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        self.seen.insert(id)
    }
    fn variable(&mut self, _key: &Key, _var: &mut dyn AnyVariable, _removable: bool) -> bool {
        false
    }
    fn static_value(&mut self, key: &Key, value: &mut dyn Any) {
        if key.as_str() == Some(self.name) {
            if (self.set)(value) {
                self.count += 1;
            } else {
                self.wrong_type.push(format!("{value:?}"));
            }
        }
    }
}

/// What [`iter_graph`](crate::Module::iter_graph) yields for each path.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::GraphItem;
/// let items = vec![Param::new(1.0f32)].iter_graph();
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
    tracker: PathTracker,
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
    fn enter(&mut self, key: &Key, header: NodeHeader) {
        let path = self.tracker.child(key);
        self.tracker.enter(key, header.transparent);
        self.stack
            .push((path, header.type_name, header.transparent));
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
    fn static_value(&mut self, _key: &Key, _value: &dyn StaticField) {}
    fn none(&mut self, _key: &Key) {}
}
