//! State leaves walked alongside a graph: joining the given States, checking
//! every leaf against its Variable slot, and handing leaves out by path.

use std::collections::{btree_map, BTreeMap, HashSet};

use crate::error::{Error, Result};
use crate::graph::fit::{fit, Fit, Slot, VariableDecl};
use crate::graph::tracker::PathTracker;
use crate::graph::walker::{Action, NodeHeader, Place, WalkerMut};
use crate::key::{path_string, Key, Path};
use crate::state::{State, Tree};
use crate::variable::AnyVariable;
use crate::variable::VariableState;

/// A tree of leaves as a walk hands them out: borrowed (checking) or taken out
/// of an owned tree (merge, update).
pub(crate) trait Subtree: Sized {
    /// The subtree under `key` of a map; nothing for a leaf or a missing key.
    fn child(&mut self, key: &Key) -> Self;
    /// The whole tree: the leaf of a Variable walked as the root.
    fn whole(&mut self) -> Self;
}

/// A borrowed subtree, with the entries of a map not yet handed out: walks
/// visit a node's children in sorted key order, so the child asked for is almost
/// always the next entry, found without a key search.
#[derive(Clone, Default)]
pub(crate) struct Borrowed<'t> {
    pub(crate) tree: Option<&'t Tree<VariableState>>,
    next: btree_map::Iter<'t, Key, Tree<VariableState>>,
}

impl<'t> Borrowed<'t> {
    pub(crate) fn new(tree: Option<&'t Tree<VariableState>>) -> Self {
        let next = match tree {
            Some(Tree::Map(m)) => m.iter(),
            _ => btree_map::Iter::default(),
        };
        Borrowed { tree, next }
    }
}

impl Subtree for Borrowed<'_> {
    fn child(&mut self, key: &Key) -> Self {
        let Some(Tree::Map(m)) = self.tree else {
            return Borrowed::default();
        };
        let mut next = self.next.clone();
        if let Some((k, t)) = next.next() {
            if k == key {
                self.next = next;
                return Borrowed::new(Some(t));
            }
        }
        Borrowed::new(m.get(key))
    }
    fn whole(&mut self) -> Self {
        self.clone()
    }
}

/// An owned subtree taken apart by a walk (merge, update): a map hands out its
/// entries in key order, the order walks visit them, so taking one costs no key
/// search and the map is consumed as dropping it would.
#[derive(Default)]
pub(crate) enum Taken {
    Leaf(VariableState),
    Map {
        entries: btree_map::IntoIter<Key, Tree<VariableState>>,
        /// Entries passed over on the way to a later key (a `sow` store's
        /// entries come after its module's fields).
        skipped: BTreeMap<Key, Tree<VariableState>>,
    },
    #[default]
    Nothing,
}

impl From<Tree<VariableState>> for Taken {
    fn from(tree: Tree<VariableState>) -> Self {
        match tree {
            Tree::Leaf(l) => Taken::Leaf(l),
            Tree::Map(m) => Taken::Map {
                entries: m.into_iter(),
                skipped: BTreeMap::new(),
            },
        }
    }
}

impl Subtree for Taken {
    fn child(&mut self, key: &Key) -> Self {
        let Taken::Map { entries, skipped } = self else {
            return Taken::Nothing;
        };
        if let Some(t) = skipped.remove(key) {
            return t.into();
        }
        for (k, t) in entries.by_ref() {
            if k == *key {
                return t.into();
            }
            let past = k > *key;
            skipped.insert(k, t);
            if past {
                break;
            }
        }
        Taken::Nothing
    }
    fn whole(&mut self) -> Self {
        std::mem::take(self)
    }
}

/// The current path and the subtree of each node on it that adds a path
/// component, the whole tree first.
pub(crate) struct Cursor<T> {
    tracker: PathTracker,
    stack: Vec<T>,
}

impl<T: Subtree> Cursor<T> {
    pub(crate) fn new(tree: T) -> Self {
        Cursor {
            tracker: PathTracker::default(),
            stack: vec![tree],
        }
    }

    /// Enters a node; returns the subtree it pushed (a node that adds a path
    /// component), if any.
    pub(crate) fn enter(&mut self, key: &Key, transparent: bool) -> Option<&T> {
        if self.tracker.enter(key, transparent) {
            if let Some(sub) = self.stack.last_mut().map(|t| t.child(key)) {
                self.stack.push(sub);
                return self.stack.last();
            }
        }
        None
    }

    /// Leaves a node; returns the subtree it had pushed, if any.
    pub(crate) fn leave(&mut self) -> Option<T> {
        self.tracker.leave()?;
        self.stack.pop()
    }

    /// The leaf (or what stands there) of the Variable under `key`: the whole
    /// tree for a Variable walked as the root.
    pub(crate) fn leaf(&mut self, key: &Key) -> Option<T> {
        let at_root = self.tracker.at_root();
        let top = self.stack.last_mut()?;
        Some(if at_root { top.whole() } else { top.child(key) })
    }

    /// The path of `key` in the current node.
    pub(crate) fn path(&self, key: &Key) -> Path {
        self.tracker.child(key)
    }

    /// The walk's path bookkeeping (depth limit, refused nodes).
    pub(crate) fn tracker(&mut self) -> &mut PathTracker {
        &mut self.tracker
    }
}

/// Joins States into one tree, a later State winning at the same path. A leaf in
/// one State where another has leaves below it is an error: one of them would be lost.
pub(crate) fn join(states: Vec<State>) -> Result<Tree<VariableState>> {
    let trees: Vec<Tree<VariableState>> = states.into_iter().map(State::into_tree).collect();
    if (1..trees.len()).any(|i| trees[..i].iter().any(|t| t.conflicts_with(&trees[i]))) {
        return Err(conflict(&trees));
    }
    let mut trees = trees.into_iter();
    let mut joined = trees.next().unwrap_or_default();
    for t in trees {
        joined.merge_from(t);
    }
    Ok(joined)
}

/// Names a leaf path of one tree that is a prefix of another's.
fn conflict(trees: &[Tree<VariableState>]) -> Error {
    let mut paths = Vec::new();
    for t in trees {
        t.for_each_leaf(&mut |p, _| paths.push(p.to_vec()));
    }
    let set: HashSet<&[Key]> = paths.iter().map(Vec::as_slice).collect();
    let pair = paths.iter().find_map(|p| {
        (0..p.len())
            .find(|&n| set.contains(&p[..n]))
            .map(|n| (&p[..n], p))
    });
    let found = match pair {
        Some((outer, inner)) => format!(
            "a leaf at {} in one State and one at {} in another",
            path_string(outer),
            path_string(inner)
        ),
        None => "leaves at overlapping paths".to_string(),
    };
    Error::invalid_argument(
        "the States given",
        "no leaf at a path where another State has leaves below it",
        found,
    )
}

/// Checks leaves against the Variable slots of a walk (a GraphDef's entries or a
/// live graph), collecting every misfit; paths are built only for errors.
pub(crate) struct LeafCheck<'t> {
    cursor: Cursor<Borrowed<'t>>,
    /// Merge: every slot needs a leaf. Update: leaves may be a subset.
    require_all: bool,
    shared_seen: HashSet<usize>,
    /// Per subtree on the cursor's stack, how many of its entries the walk
    /// reached; fewer than the subtree has means a leaf at no Variable's path.
    reached: Vec<usize>,
    /// A leaf the walk did not reach (found level by level, so no separate
    /// count of the tree's leaves is needed).
    unreached: bool,
    /// Leaves that fit by taking their slot's Rust type.
    pub(crate) converts: usize,
    errors: Vec<Error>,
    /// Every Variable path, when asked for (to name leaves at no Variable's path).
    paths: Option<HashSet<Path>>,
}

impl<'t> LeafCheck<'t> {
    fn new(tree: &'t Tree<VariableState>, require_all: bool, record_paths: bool) -> Self {
        LeafCheck {
            cursor: Cursor::new(Borrowed::new(Some(tree))),
            require_all,
            shared_seen: HashSet::new(),
            reached: vec![0],
            unreached: false,
            converts: 0,
            errors: Vec::new(),
            paths: record_paths.then(HashSet::new),
        }
    }

    fn slot(&mut self, key: &Key, slot: Slot<'_>) {
        if let Some(paths) = &mut self.paths {
            paths.insert(self.cursor.path(key));
        }
        match self.cursor.leaf(key).and_then(|b| b.tree) {
            Some(Tree::Leaf(leaf)) => {
                if let Some(n) = self.reached.last_mut() {
                    *n += 1;
                }
                match fit(&slot, Some(leaf.kind), &*leaf.value) {
                    Ok(Fit::Same) => {}
                    Ok(Fit::Convert) => self.converts += 1,
                    Err(misfit) => {
                        let path = path_string(&self.cursor.path(key));
                        let errors = misfit.errors(&slot, Some(leaf.kind), &*leaf.value, &path);
                        self.errors.extend(errors);
                    }
                }
            }
            // Leaves below a Variable's path are reported as unexpected.
            Some(Tree::Map(_)) | None if self.require_all => self.errors.push(Error::MissingPath {
                path: path_string(&self.cursor.path(key)).into(),
                expected: slot_kind_name(&slot).to_string(),
            }),
            Some(Tree::Map(_)) | None => {}
        }
    }

    /// Walks a GraphDef's entries.
    pub(crate) fn entries(&mut self, entries: &[crate::graph::graphdef::Entry]) {
        use crate::graph::graphdef::Entry;
        for entry in entries {
            match entry {
                Entry::Enter { key, header } => self.enter_node(key, header.transparent),
                Entry::Leave => self.leave_node(),
                Entry::Variable { key, decl } => self.slot(key, Slot::Declared(decl)),
                Entry::Static { .. }
                | Entry::None { .. }
                | Entry::SharedFirst { .. }
                | Entry::SharedRef { .. } => {}
            }
        }
    }
}

impl LeafCheck<'_> {
    fn enter_node(&mut self, key: &Key, transparent: bool) {
        match self.cursor.enter(key, transparent).map(|b| b.tree) {
            None => return,
            Some(Some(Tree::Map(_))) => {
                if let Some(n) = self.reached.last_mut() {
                    *n += 1;
                }
            }
            // A leaf where the graph has a node.
            Some(Some(Tree::Leaf(_))) => self.unreached = true,
            Some(None) => {}
        }
        self.reached.push(0);
    }

    fn leave_node(&mut self) {
        if let Some(sub) = self.cursor.leave() {
            let reached = self.reached.pop().unwrap_or_default();
            self.note_unreached(sub.tree, reached);
        }
    }

    fn note_unreached(&mut self, sub: Option<&Tree<VariableState>>, reached: usize) {
        if let Some(Tree::Map(m)) = sub {
            self.unreached |= m.len() != reached;
        }
    }

    /// Whether every leaf of `tree` (the whole tree walked) was reached.
    fn all_reached(&mut self, tree: &Tree<VariableState>) -> bool {
        let root = self.reached.first().copied().unwrap_or_default();
        match tree {
            Tree::Map(_) => self.note_unreached(Some(tree), root),
            Tree::Leaf(_) => self.unreached |= root == 0,
        }
        !self.unreached
    }
}

fn slot_kind_name(slot: &Slot<'_>) -> &'static str {
    match slot {
        Slot::Declared(VariableDecl { kind, .. }) | Slot::Live { kind, .. } => kind.name(),
    }
}

/// Update checks through a mutable walk, so that it meets every lock the
/// update itself would need: a failing update changes nothing.
impl WalkerMut for LeafCheck<'_> {
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        if !self.cursor.tracker().admit(key) {
            return false;
        }
        self.enter_node(key, header.transparent);
        true
    }
    fn leave(&mut self) {
        self.leave_node();
    }
    fn shared(&mut self, _key: &Key, id: usize) -> bool {
        self.shared_seen.insert(id)
    }
    fn locked(&mut self, key: &Key) {
        self.cursor.tracker().locked(key);
    }
    fn variable(&mut self, key: &Key, var: &mut dyn AnyVariable, _: Place) -> Action {
        let slot = Slot::Live {
            kind: var.kind(),
            value: var.value_dyn(),
        };
        self.slot(key, slot);
        Action::Keep
    }
}

/// Checks `tree` against the slots `walk` visits: `Ok` with the number of leaves
/// that take their slot's Rust type, or every problem in one error (misfits in
/// walk order, then leaves at no Variable's path, sorted).
pub(crate) fn check(
    tree: &Tree<VariableState>,
    require_all: bool,
    mut walk: impl FnMut(&mut LeafCheck<'_>),
) -> Result<usize> {
    let mut c = LeafCheck::new(tree, require_all, false);
    walk(&mut c);
    c.cursor.tracker().finish()?;
    let all_reached = c.all_reached(tree);
    if c.errors.is_empty() && all_reached {
        return Ok(c.converts);
    }
    let mut errors = c.errors;
    if !all_reached {
        // Rare: walk again recording the Variable paths to name the others.
        let mut again = LeafCheck::new(tree, require_all, true);
        walk(&mut again);
        let paths = again.paths.unwrap_or_default();
        let mut extra = Vec::new();
        tree.for_each_leaf(&mut |p, leaf| {
            if !paths.contains(p) {
                extra.push((p.to_vec(), leaf.kind));
            }
        });
        extra.sort_by(|a, b| a.0.cmp(&b.0));
        errors.extend(extra.into_iter().map(|(p, kind)| Error::UnexpectedPath {
            path: path_string(&p).into(),
            found: kind.name().to_string(),
        }));
    }
    if errors.is_empty() {
        return Ok(c.converts);
    }
    Err(Error::many(errors))
}
