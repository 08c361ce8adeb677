//! The walkers behind the graph operations.

use std::any::Any;
use std::collections::HashMap;

use crate::error::Error;
use crate::filter::{first_match, Filter};
use crate::graph::field::{NodeHeader, StaticField, Walker, WalkerMut};
use crate::graph::graphdef::Entry;
use crate::graph::key::{path_string, Key, Path};
use crate::graph::tracker::PathTracker;
use crate::state::VariableState;
use crate::variable::AnyVariable;

/// Collects the GraphDef entries and/or the Variable states of a graph in one pass.
/// Variables are partitioned by `filters` (first match wins); with no filters all
/// go to part 0.
pub(crate) struct Collector<'f> {
    tracker: PathTracker,
    pub(crate) entries: Option<Vec<Entry>>,
    shared_ids: HashMap<usize, usize>,
    filters: Vec<&'f dyn Filter>,
    collect_states: bool,
    pub(crate) parts: Vec<Vec<(Path, VariableState)>>,
    pub(crate) unmatched: Vec<Path>,
}

impl<'f> Collector<'f> {
    pub(crate) fn new(graphdef: bool, states: bool, filters: Vec<&'f dyn Filter>) -> Self {
        let n = filters.len().max(1);
        Collector {
            tracker: PathTracker::default(),
            entries: graphdef.then(Vec::new),
            shared_ids: HashMap::new(),
            filters,
            collect_states: states,
            parts: (0..n).map(|_| Vec::new()).collect(),
            unmatched: Vec::new(),
        }
    }

    fn record(&mut self, entry: Entry) {
        if let Some(entries) = &mut self.entries {
            entries.push(entry);
        }
    }
}

impl Walker for Collector<'_> {
    fn enter(&mut self, key: &Key, header: NodeHeader) {
        self.record(Entry::Enter {
            key: key.clone(),
            header,
        });
        self.tracker.enter(key, header.transparent);
    }

    fn leave(&mut self) {
        self.record(Entry::Leave);
        self.tracker.leave();
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
        let value = var.value_dyn();
        self.record(Entry::Variable {
            key: key.clone(),
            kind: var.kind(),
            dtype: value.dtype(),
            shape: value.shape_of(),
            value_type: value.type_name(),
        });
        if !self.collect_states {
            return;
        }
        let path = self.tracker.child(key);
        let slot = if self.filters.is_empty() {
            Some(0)
        } else {
            first_match(&self.filters, &path, var)
        };
        match slot {
            Some(i) => self.parts[i].push((path, var.to_state())),
            None => self.unmatched.push(path),
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

/// Applies state leaves to the Variables at their paths (validated beforehand).
pub(crate) struct Updater {
    tracker: PathTracker,
    seen: std::collections::HashSet<usize>,
    pub(crate) leaves: HashMap<Path, VariableState>,
    pub(crate) errors: Vec<Error>,
}

impl Updater {
    pub(crate) fn new(leaves: HashMap<Path, VariableState>) -> Self {
        Updater {
            tracker: PathTracker::default(),
            seen: Default::default(),
            leaves,
            errors: Vec::new(),
        }
    }
}

impl WalkerMut for Updater {
    fn enter(&mut self, key: &Key, header: NodeHeader) {
        self.tracker.enter(key, header.transparent);
    }
    fn leave(&mut self) {
        self.tracker.leave();
    }
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        self.seen.insert(id)
    }
    fn variable(&mut self, key: &Key, var: &mut dyn AnyVariable, _removable: bool) -> bool {
        let path = self.tracker.child(key);
        if let Some(leaf) = self.leaves.remove(&path) {
            if let Err(e) = var.update_from(&leaf, &path_string(&path)) {
                self.errors.push(e);
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
