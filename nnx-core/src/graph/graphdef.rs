//! GraphDef: the static structure of a module graph, flat and hashable.

use std::cell::Cell;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use crate::graph::fit::VariableDecl;
use crate::graph::statics::StaticValue;
use crate::graph::walker::NodeHeader;
use crate::key::Key;

/// One record of a GraphDef, in traversal order.
#[derive(Clone, Debug)]
pub(crate) enum Entry {
    Enter {
        key: Key,
        header: NodeHeader,
    },
    Leave,
    Variable {
        key: Key,
        decl: VariableDecl,
    },
    Static {
        key: Key,
        value: StaticValue,
    },
    None {
        key: Key,
    },
    /// The next entries describe a shared object, numbered `index`.
    SharedFirst {
        index: usize,
    },
    /// A second occurrence of shared object `index`.
    SharedRef {
        key: Key,
        index: usize,
    },
}

impl Entry {
    /// The key an entry is stored under, for entries that have one.
    pub(crate) fn key(&self) -> Option<&Key> {
        match self {
            Entry::Enter { key, .. }
            | Entry::Variable { key, .. }
            | Entry::Static { key, .. }
            | Entry::None { key }
            | Entry::SharedRef { key, .. } => Some(key),
            Entry::Leave | Entry::SharedFirst { .. } => None,
        }
    }
}

impl Entry {
    /// What the entry records, in the words errors use.
    pub(crate) fn describe(&self) -> String {
        match self {
            Entry::Enter { header, .. } => format!("a node of type {}", header.type_name),
            Entry::Leave => "the end of a node".to_string(),
            Entry::Variable { decl, .. } => format!("a {} Variable", decl.kind.name()),
            Entry::Static { value, .. } => format!("the static value {value:?}"),
            Entry::None { .. } => "an empty Option".to_string(),
            Entry::SharedFirst { .. } | Entry::SharedRef { .. } => "a shared object".to_string(),
        }
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        use Entry::*;
        match (self, other) {
            (Enter { key: a, header: h }, Enter { key: b, header: g }) => a == b && h == g,
            (Leave, Leave) => true,
            (Variable { key: a, decl: d }, Variable { key: b, decl: e }) => a == b && d == e,
            (Static { key: a, value: v }, Static { key: b, value: w }) => {
                a == b && v.get().dyn_eq(w.get())
            }
            (None { key: a }, None { key: b }) => a == b,
            (SharedFirst { index: i }, SharedFirst { index: j }) => i == j,
            (SharedRef { key: a, index: i }, SharedRef { key: b, index: j }) => a == b && i == j,
            _ => false,
        }
    }
}

impl Eq for Entry {}

impl Hash for Entry {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        match self {
            Entry::Enter { key, header } => {
                key.hash(state);
                header.hash(state);
            }
            Entry::Leave => {}
            Entry::Variable { key, decl } => {
                key.hash(state);
                decl.hash(state);
            }
            Entry::Static { key, value } => {
                key.hash(state);
                value.get().dyn_hash(state);
            }
            Entry::None { key } => key.hash(state),
            Entry::SharedFirst { index } => index.hash(state),
            Entry::SharedRef { key, index } => {
                key.hash(state);
                index.hash(state);
            }
        }
    }
}

/// The structure of a module of type `M`: node types, static fields, Variable types
/// with their shapes and dtypes, and shared references. It holds no array data,
/// is cheap to clone (an `Arc`), and is `Eq + Hash` so it can key a cache.
///
/// ```
/// use nnx_core::prelude::*;
/// let v = vec![Param::new(1.0f32), Param::new(2.0f32)];
/// let (graphdef, state) = v.split(..).unwrap();
/// assert_eq!(graphdef, vec![Param::new(5.0f32), Param::new(6.0f32)].graphdef());
/// let back: Vec<Param<f32>> = graphdef.merge(state).unwrap();
/// assert_eq!(*back[1], 2.0);
/// ```
pub struct GraphDef<M> {
    // A `Vec` behind the `Arc` (not `Arc<[Entry]>`, which would copy every entry
    // once more when the GraphDef is made).
    pub(crate) entries: Arc<Vec<Entry>>,
    _module: PhantomData<fn() -> M>,
}

thread_local! {
    /// How many entries the last GraphDef made on this thread has. Graph
    /// operations repeat on the same model, so a buffer of that capacity is
    /// filled without regrowing (copying every entry) on the way.
    static LAST_LEN: Cell<usize> = const { Cell::new(0) };
}

/// An empty buffer for a walk's GraphDef entries.
pub(crate) fn entries_buffer() -> Vec<Entry> {
    Vec::with_capacity(LAST_LEN.get())
}

impl<M> GraphDef<M> {
    pub(crate) fn new(mut entries: Vec<Entry>) -> Self {
        LAST_LEN.set(entries.len());
        // Shrinking gives memory back in place, without copying.
        entries.shrink_to_fit();
        GraphDef {
            entries: Arc::new(entries),
            _module: PhantomData,
        }
    }

    /// Number of Variables the graph holds.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let g = vec![Param::new(1.0f32), Param::new(2.0f32)].graphdef();
    /// assert_eq!(g.num_variables(), 2);
    /// ```
    pub fn num_variables(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e, Entry::Variable { .. }))
            .count()
    }
}

impl<M> Clone for GraphDef<M> {
    fn clone(&self) -> Self {
        GraphDef {
            entries: Arc::clone(&self.entries),
            _module: PhantomData,
        }
    }
}

impl<M> PartialEq for GraphDef<M> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<M> Eq for GraphDef<M> {}

impl<M> Hash for GraphDef<M> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.entries.hash(state)
    }
}

impl<M> fmt::Debug for GraphDef<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.iter()).finish()
    }
}
