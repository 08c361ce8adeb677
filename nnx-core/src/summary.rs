//! Looking at a model: [`display`] renders it as Flax's `print(model)` /
//! `nnx.display(model)` does, [`tabulate`] and [`tabulate_with`] as
//! `nnx.tabulate` does.
//!
//! `display` shows the tree of submodules, each with a comment summing its
//! Variables by type (`# Param: 9 (36 B)`), each Variable with its type, shape and
//! dtype (`Array(shape=(2, 3), dtype=dtype('float32'))`; values of at most one
//! element are shown in full, as Flax shows them), and the static fields
//! (hyperparameters). Fields are shown in path order (sorted, as in a
//! [`State`](crate::State)); `Vec`s and arrays as
//! `Vec([...])`, maps as `BTreeMap({...})`; an object reached again through a
//! [`Shared`](crate::Shared) handle is shown once, then as `Type(...)`, as Flax
//! does. Flax's rich-text colours are left out.
//!
//! `tabulate(&model)` is `nnx.tabulate` without inputs: one row per submodule,
//! in path order, with its Variables (`name: float32[2,3]`) and their count
//! and bytes per Variable type, the totals at the bottom.
//!
//! `tabulate_with(&model, &x, |m, x| m.forward(x))` is `nnx.tabulate(model, x)`:
//! it runs the call on a copy of the model and adds Flax's `inputs` and
//! `outputs` columns, rows in call order. Python can wrap every module's
//! methods while tabulate runs; Rust cannot, so modules tell: every library
//! layer's `forward`/`apply` calls [`record::call`](crate::record::call),
//! which pushes the layer's address and its input and output shapes to a
//! thread-local list while a tabulate runs on the thread, and costs one flag
//! check otherwise.
//! `tabulate_with` maps addresses to paths by walking the copy first (derived
//! modules tell the walk where they live: [`Walker::enter_at`]). A module of
//! your own records its calls with the same one line; see [`tabulate_with`] for
//! what its row shows without it.
//!
//! ```
//! use ndarray::{Array1, Array2};
//! use nnx_core::prelude::*;
//! #[derive(Module)]
//! struct Linear {
//!     kernel: Param<Array2<f32>>,
//!     bias: Param<Array1<f32>>,
//!     in_features: usize,
//! }
//! let l = Linear { kernel: Param::new(Array2::zeros((2, 3))), bias: Param::new(Array1::zeros(1)), in_features: 2 };
//! assert_eq!(
//!     nnx_core::display(&l),
//!     "Linear( # Param: 7 (28 B)
//!   bias=Param( # 1 (4 B)
//!     value=Array([0.], dtype=float32)
//!   ),
//!   in_features=2,
//!   kernel=Param( # 6 (24 B)
//!     value=Array(shape=(2, 3), dtype=dtype('float32'))
//!   )
//! )"
//! );
//! ```

use std::collections::HashMap;
use std::fmt::{self, Write};
use std::sync::Arc;

use crate::graph::{DynStatic, NodeAddress, NodeHeader, Walker};
use crate::key::{path_string, Key};
use crate::kind::Kind;
use crate::repr;
use crate::value::{python_repr, ArrayRef, DType, Value};
use crate::variable::AnyVariable;
use crate::variable::VariableState;
use crate::{Module, Result};

use crate::record::{array_spec, Call, Describe, Recording};

/// Renders `model` as Flax's `print(model)` / `nnx.display(model)` does: the tree
/// of submodules, each with a comment summing its Variables by type
/// (`# Param: 9 (36 B)`), each Variable with its type, shape and dtype
/// (`Array(shape=(2, 3), dtype=dtype('float32'))`; values of at most one element
/// are shown in full, as Flax shows them), and the static fields. Fields are shown
/// in path order (sorted, as in a [`State`](crate::State)); `Vec`s and arrays as
/// `Vec([...])`, maps as `BTreeMap({...})`; an object reached again through a
/// [`Shared`](crate::Shared) handle is shown once, then as `Type(...)`, as Flax
/// does. Flax's rich-text colours are left out.
///
/// ```
/// use nnx_core::prelude::*;
/// #[derive(Module)]
/// struct Pair { a: Vec<Param<f32>>, b: Option<BatchStat<f32>> }
/// let p = Pair { a: vec![Param::new(1.0)], b: None };
/// assert_eq!(
///     nnx_core::display(&p),
///     "Pair( # Param: 1 (4 B)\n  a=Vec([\n    Param( # 1 (4 B)\n      value=Array(1., dtype=float32)\n    )\n  ]),\n  b=None\n)"
/// );
/// ```
pub fn display<M: Module>(model: &M) -> String {
    let root = record(model);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = write_node(&mut out, &root, 0);
    out
}

/// A table of `model`'s submodules with their Variables (`name: float32[2,3]`),
/// counts and bytes per Variable type, and the totals at the bottom: Flax's
/// `nnx.tabulate` without inputs. Rows are in path order, one per submodule
/// (RNG streams included); [`tabulate_with`] adds what each submodule is called
/// with and returns.
///
/// ```
/// use ndarray::{Array1, Array2};
/// use nnx_core::prelude::*;
/// #[derive(Module)]
/// struct Dense { kernel: Param<Array2<f32>>, bias: Param<Array1<f32>> }
/// #[derive(Module)]
/// struct Net { l1: Dense, count: BatchStat<u32> }
/// let net = Net {
///     l1: Dense { kernel: Param::new(Array2::zeros((2, 3))), bias: Param::new(Array1::zeros(3)) },
///     count: BatchStat::new(0),
/// };
/// assert_eq!(nnx_core::tabulate(&net), "                       Net Summary
/// ┏━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┓
/// ┃ path ┃ type  ┃ BatchStat       ┃ Param                ┃
/// ┡━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━┩
/// │      │ Net   │ count: uint32[] │ 9 (36 B)             │
/// │      │       │                 │                      │
/// │      │       │ 1 (4 B)         │                      │
/// ├──────┼───────┼─────────────────┼──────────────────────┤
/// │ l1   │ Dense │                 │ bias: float32[3]     │
/// │      │       │                 │ kernel: float32[2,3] │
/// │      │       │                 │                      │
/// │      │       │                 │ 9 (36 B)             │
/// ├──────┼───────┼─────────────────┼──────────────────────┤
/// │      │ Total │ 1 (4 B)         │ 9 (36 B)             │
/// └──────┴───────┴─────────────────┴──────────────────────┘
///                Total Parameters: 10 (40 B)");
/// ```
pub fn tabulate<M: Module>(model: &M) -> String {
    let root = record(model);
    let rows = collect_rows(&root);
    let lines: Vec<Line<'_>> = (0..rows.len()).map(|i| (i, None)).collect();
    render_table(&root, &rows, &lines, false)
}

/// Counts and bytes per Variable type, in the order the types first appear.
type Stats = Vec<(Kind, usize, usize)>;

/// One recorded item of the module graph.
struct Node {
    key: Key,
    /// Which object a derived node is (to find the node a call was recorded by).
    at: Option<NodeAddress>,
    item: Item,
    /// The Variables of the subtree, by Variable type (shared ones counted once).
    stats: Stats,
}

enum Item {
    /// A struct or enum node (`Struct`), a `Vec`/array (`List`) or a map (`Dict`).
    Module {
        type_name: &'static str,
        shape: Container,
        children: Vec<Node>,
    },
    Variable(VariableState),
    Static(String),
    None,
    /// An object shown earlier, reached again through a shared handle.
    Seen(String),
}

#[derive(Clone, Copy, PartialEq)]
enum Container {
    Struct,
    List,
    Dict,
}

fn container_of(type_name: &str) -> Container {
    match type_name {
        "Vec" | "Array" => Container::List,
        "BTreeMap" => Container::Dict,
        _ => Container::Struct,
    }
}

/// Records the graph with a [`Walker`].
#[derive(Default)]
struct Recorder {
    /// Open nodes; `None` for transparent ones, whose children go to their parent
    /// (or become the root).
    stack: Vec<Option<Node>>,
    root: Option<Node>,
    /// The shared object whose first visit starts at the next event.
    pending_shared: Option<usize>,
    /// The address of the node [`Walker::enter_at`] is entering.
    pending_at: Option<NodeAddress>,
    seen: HashMap<usize, String>,
}

impl Recorder {
    fn push(&mut self, node: Node) {
        match self.stack.iter_mut().rev().find_map(Option::as_mut) {
            Some(Node {
                item: Item::Module { children, .. },
                ..
            }) => children.push(node),
            _ => self.root = Some(node),
        }
    }

    fn first_visit(&mut self, type_name: String) {
        if let Some(id) = self.pending_shared.take() {
            self.seen.insert(id, type_name);
        }
    }
}

impl Recorder {
    /// Shows what stands under `key` by a note (`<locked>`) instead of its value.
    fn note(&mut self, key: &Key, text: &str) {
        self.push(Node {
            key: key.clone(),
            at: None,
            item: Item::Static(text.to_string()),
            stats: Stats::new(),
        });
    }
}

/// A Shared whose guard is alive shows as `<locked>` (as `Mutex`'s `Debug` does),
/// and nodes deeper than [`MAX_DEPTH`](crate::MAX_DEPTH) as `...`: printing never
/// blocks or overflows the stack.
impl Walker for Recorder {
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        if self.stack.len() >= crate::MAX_DEPTH {
            self.note(key, "...");
            return false;
        }
        self.first_visit(header.type_name.to_string());
        // Only a transparent enum variant can be the root here (a `Sown` is no
        // Module): its value then stands as the root.
        if header.transparent {
            self.stack.push(None);
            return true;
        }
        self.stack.push(Some(Node {
            key: key.clone(),
            at: self.pending_at.take(),
            item: Item::Module {
                type_name: header.type_name,
                shape: container_of(header.type_name),
                children: Vec::new(),
            },
            stats: Stats::new(),
        }));
        true
    }
    fn enter_at(&mut self, key: &Key, header: NodeHeader, at: NodeAddress) -> bool {
        self.pending_at = Some(at);
        let walk = self.enter(key, header);
        self.pending_at = None;
        walk
    }
    fn locked(&mut self, key: &Key) {
        self.note(key, "<locked>");
    }
    fn leave(&mut self) {
        if let Some(Some(node)) = self.stack.pop() {
            self.push(node);
        }
    }
    fn shared(&mut self, key: &Key, id: usize) -> bool {
        if let Some(type_name) = self.seen.get(&id) {
            let item = Item::Seen(type_name.clone());
            self.push(Node {
                key: key.clone(),
                at: None,
                item,
                stats: Stats::new(),
            });
            return false;
        }
        self.pending_shared = Some(id);
        true
    }
    fn variable(&mut self, key: &Key, var: &dyn AnyVariable) {
        let state = var.to_state();
        self.first_visit(state.kind.name().to_string());
        self.push(Node {
            key: key.clone(),
            at: None,
            item: Item::Variable(state),
            stats: Stats::new(),
        });
    }
    fn static_value(&mut self, key: &Key, value: &dyn DynStatic) {
        let item = Item::Static(static_repr(value));
        self.push(Node {
            key: key.clone(),
            at: None,
            item,
            stats: Stats::new(),
        });
    }
    fn none(&mut self, key: &Key) {
        self.push(Node {
            key: key.clone(),
            at: None,
            item: Item::None,
            stats: Stats::new(),
        });
    }
}

/// The recorded graph of `model`, with its statistics.
fn record<M: Module>(model: &M) -> Node {
    let mut r = Recorder::default();
    model.walk_field(&crate::graph::ROOT, &mut r);
    let mut root = r.root.unwrap_or(Node {
        key: crate::graph::ROOT,
        at: None,
        item: Item::None,
        stats: Stats::new(),
    });
    compute_stats(&mut root);
    root
}

/// The Variable type statistics group under: Flax sums every `RngState`
/// subtype (`RngKey`, `RngCount`) as `RngState`.
fn group(kind: Kind) -> Kind {
    if kind.is_subtype_of(crate::RngState) {
        crate::RngState
    } else {
        kind
    }
}

fn add(stats: &mut Stats, kind: Kind, count: usize, bytes: usize) {
    match stats.iter_mut().find(|(k, _, _)| *k == kind) {
        Some((_, n, b)) => {
            *n += count;
            *b += bytes;
        }
        None => stats.push((kind, count, bytes)),
    }
}

fn compute_stats(node: &mut Node) {
    match &mut node.item {
        Item::Variable(v) => {
            if let Some((n, b)) = v.value.size_bytes() {
                add(&mut node.stats, group(v.kind), n, b);
            }
        }
        Item::Module { children, .. } => {
            for child in children.iter_mut() {
                compute_stats(child);
                for &(k, n, b) in &child.stats {
                    add(&mut node.stats, k, n, b);
                }
            }
        }
        Item::Static(_) | Item::None | Item::Seen(_) => {}
    }
}

/// `9 (36 B)`.
fn size(count: usize, bytes: usize) -> String {
    repr::fmt_size_comment(count, bytes)
        .trim_start_matches("# ")
        .to_string()
}

/// A static field as Python would print it: strings quoted, booleans capitalised.
fn static_repr(value: &dyn DynStatic) -> String {
    let any = value.as_any();
    if let Some(s) = any.downcast_ref::<String>() {
        crate::MetaValue::from(s.as_str()).to_string()
    } else if let Some(s) = any.downcast_ref::<&'static str>() {
        crate::MetaValue::from(*s).to_string()
    } else if let Some(b) = any.downcast_ref::<bool>() {
        if *b { "True" } else { "False" }.to_string()
    } else {
        format!("{value:?}")
    }
}

/// An array shown by shape and dtype only, as Flax shows arrays of more than one
/// element when it prints a module.
#[derive(Debug, Clone, PartialEq)]
struct ArraySpec {
    shape: Vec<usize>,
    dtype: DType,
}

impl Value for ArraySpec {
    fn dtype(&self) -> Option<DType> {
        Some(self.dtype)
    }
    fn shape_of(&self) -> Option<Vec<usize>> {
        Some(self.shape.clone())
    }
    fn fmt_python(&self, f: &mut dyn Write) -> fmt::Result {
        write!(
            f,
            "Array(shape={}, dtype=dtype('{}'))",
            repr::fmt_tuple_usize(&self.shape),
            self.dtype
        )
    }
    fn size_bytes(&self) -> Option<(usize, usize)> {
        let n = self.shape.iter().product::<usize>();
        Some((n, n * self.dtype.size()))
    }
    fn map_leaves(&self, f: &dyn Fn(&dyn Value) -> Arc<dyn Value>) -> Arc<dyn Value> {
        f(self)
    }
    fn array_ref(&self) -> Option<ArrayRef<'_>> {
        None
    }
}

/// `value` with every array leaf of more than one element replaced by its
/// shape and dtype.
fn abstracted(value: &dyn Value) -> Arc<dyn Value> {
    value.map_leaves(&|leaf| match (leaf.array_ref(), leaf.size_bytes()) {
        (Some(a), Some((n, _))) if n > 1 => Arc::new(ArraySpec {
            shape: a.shape().to_vec(),
            dtype: a.dtype(),
        }),
        _ => leaf.clone_value(),
    })
}

fn stats_comment(stats: &Stats) -> String {
    if stats.is_empty() {
        return String::new();
    }
    let mut parts: Vec<String> = stats
        .iter()
        .map(|(k, n, b)| format!("{}: {}", k.name(), size(*n, *b)))
        .collect();
    if stats.len() > 1 {
        let (n, b) = stats.iter().fold((0, 0), |(n, b), s| (n + s.1, b + s.2));
        parts.push(format!("Total: {}", size(n, b)));
    }
    format!(" # {}", parts.join(", "))
}

fn write_node(out: &mut String, node: &Node, indent: usize) -> fmt::Result {
    match &node.item {
        Item::Variable(v) => {
            crate::display::fmt_variable(out, v.kind, &*abstracted(&*v.value), &v.metadata, indent)
        }
        Item::Static(s) => out.write_str(s),
        Item::None => out.write_str("None"),
        Item::Seen(type_name) => write!(out, "{type_name}(...)"),
        Item::Module {
            type_name,
            shape,
            children,
        } => {
            let (open, close, comment) = match shape {
                Container::Struct => ("(", ")", stats_comment(&node.stats)),
                Container::List => ("([", "])", String::new()),
                Container::Dict => ("({", "})", String::new()),
            };
            write!(out, "{type_name}{open}{comment}")?;
            if children.is_empty() {
                return out.write_str(close);
            }
            let pad = " ".repeat(indent + 2);
            for (i, child) in children.iter().enumerate() {
                out.write_str(if i == 0 { "\n" } else { ",\n" })?;
                out.write_str(&pad)?;
                match (shape, &child.key) {
                    (Container::Dict, k) => write!(out, "{k}: ")?,
                    (Container::Struct, Key::Str(name)) => write!(out, "{name}=")?,
                    _ => {}
                }
                write_node(out, child, indent + 2)?;
            }
            write!(out, "\n{}{close}", " ".repeat(indent))
        }
    }
}

/// One table row: a struct node, with the Variables it holds directly (through
/// containers, not through other struct nodes).
struct Row<'a> {
    path: Vec<Key>,
    node: &'a Node,
    /// The row of the nearest struct node above (`None` for the root).
    parent: Option<usize>,
    variables: Vec<(String, &'a VariableState)>,
}

/// The struct nodes under `node` (itself included), in path order.
fn collect_rows<'a>(node: &'a Node) -> Vec<Row<'a>> {
    let mut rows = Vec::new();
    add_row(node, &mut Vec::new(), None, &mut rows);
    rows
}

fn add_row<'a>(
    node: &'a Node,
    path: &mut Vec<Key>,
    parent: Option<usize>,
    rows: &mut Vec<Row<'a>>,
) {
    let Item::Module {
        shape: Container::Struct,
        ..
    } = node.item
    else {
        return;
    };
    let index = rows.len();
    rows.push(Row {
        path: path.clone(),
        node,
        parent,
        variables: Vec::new(),
    });
    let mut direct = Vec::new();
    collect_under(node, index, path, &mut Vec::new(), &mut direct, rows);
    direct.sort_by(|a, b| a.0.cmp(&b.0));
    rows[index].variables = direct;
}

/// Walks the children of `node`: Variables go to `direct` under their path
/// relative to the row (`rel`), struct nodes start rows of their own.
fn collect_under<'a>(
    node: &'a Node,
    row: usize,
    path: &mut Vec<Key>,
    rel: &mut Vec<Key>,
    direct: &mut Vec<(String, &'a VariableState)>,
    rows: &mut Vec<Row<'a>>,
) {
    let Item::Module { children, .. } = &node.item else {
        return;
    };
    for child in children {
        path.push(child.key.clone());
        rel.push(child.key.clone());
        match &child.item {
            Item::Variable(v) => direct.push((path_string(rel), v)),
            Item::Module {
                shape: Container::Struct,
                ..
            } => add_row(child, path, Some(row), rows),
            Item::Module { .. } => collect_under(child, row, path, rel, direct, rows),
            Item::Static(_) | Item::None | Item::Seen(_) => {}
        }
        rel.pop();
        path.pop();
    }
}

/// A table of the submodules `model` calls, with what each was called with and
/// what it returned: Flax's `nnx.tabulate(model, *inputs)`. `call` runs on a
/// copy of `model` ([`clone_deep`](Module::clone_deep), as Flax's tabulate
/// clones), so BatchNorm statistics and RNG streams of `model` do not move;
/// `input` is passed to `call` and shown in the root row, whose output is what
/// `call` returns.
///
/// Columns, as in Flax: `path`, `type`, `inputs`, `outputs` (`float32[2,3]`, a
/// YAML list for tuples: see [`Describe`](crate::record::Describe)), then one
/// column per Variable type with the Variables a module holds directly and the
/// count and bytes of its subtree; totals at the bottom.
///
/// Rows follow the calls, as Flax's do: a module comes where it was first
/// called, before the modules it calls, with one row per distinct input
/// (a module called twice with the same input shapes shows once; a method
/// other than `forward` is shown as `path/method`, Flax's `embed/attend`).
///
/// Which calls nnx sees: every library layer records its calls
/// ([`record::call`](crate::record::call)); activations and pooling are
/// functions in Flax and show no row. A module of your own is seen when its
/// `forward` calls `record::call` (one line); otherwise its row shows empty
/// `inputs` and `outputs` and stands before the first module it called. Flax
/// leaves out modules that were never called; nnx leaves out a module not seen
/// being called when it, or a module under it, is of a type that recorded
/// calls elsewhere in the run (it would have recorded too). Any other module
/// that holds Variables (other than RNG state) shows with empty `inputs` and
/// `outputs`: nnx cannot tell whether it was called. RNG streams have no rows,
/// as in Flax. Calls are recorded on the calling thread: a module that `call`
/// hands to another thread is not seen.
///
/// # Errors
/// The error of `call`, or of copying `model` (a [`Shared`](crate::Shared)
/// that is locked).
///
/// ```
/// use nnx_core::prelude::*;
/// use ndarray::{Array1, Array2};
/// #[derive(Module)]
/// struct Dense { w: Param<Array2<f32>> }
/// impl Dense {
///     fn forward(&mut self, x: &Array2<f32>) -> nnx_core::Result<Array2<f32>> {
///         let y = x.dot(&*self.w);
///         nnx_core::record::call(self, x, &y);
///         Ok(y)
///     }
/// }
/// #[derive(Module)]
/// struct Net { l1: Dense, l2: Dense }
/// impl Net {
///     // No `record::call` here: the root row shows what `tabulate_with` saw.
///     fn forward(&mut self, x: &Array2<f32>) -> nnx_core::Result<(Array2<f32>, Array1<f32>)> {
///         let h = self.l2.forward(x)?; // l2 first: its row comes first
///         let y = self.l1.forward(&h)?;
///         Ok((y.clone(), y.sum_axis(ndarray::Axis(1))))
///     }
/// }
/// let net = Net { l1: Dense { w: Param::new(Array2::ones((3, 1))) }, l2: Dense { w: Param::new(Array2::ones((2, 3))) } };
/// let table = nnx_core::tabulate_with(&net, &Array2::ones((4, 2)), |m, x| m.forward(x))?;
/// assert_eq!(table, "                           Net Summary
/// ┏━━━━━━┳━━━━━━━┳━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
/// ┃ path ┃ type  ┃ inputs       ┃ outputs        ┃ Param           ┃
/// ┡━━━━━━╇━━━━━━━╇━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
/// │      │ Net   │ float32[4,2] │ - float32[4,1] │ 9 (36 B)        │
/// │      │       │              │ - float32[4]   │                 │
/// ├──────┼───────┼──────────────┼────────────────┼─────────────────┤
/// │ l2   │ Dense │ float32[4,2] │ float32[4,3]   │ w: float32[2,3] │
/// │      │       │              │                │                 │
/// │      │       │              │                │ 6 (24 B)        │
/// ├──────┼───────┼──────────────┼────────────────┼─────────────────┤
/// │ l1   │ Dense │ float32[4,3] │ float32[4,1]   │ w: float32[3,1] │
/// │      │       │              │                │                 │
/// │      │       │              │                │ 3 (12 B)        │
/// ├──────┼───────┼──────────────┼────────────────┼─────────────────┤
/// │      │       │              │          Total │ 9 (36 B)        │
/// └──────┴───────┴──────────────┴────────────────┴─────────────────┘
///                     Total Parameters: 9 (36 B)");
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn tabulate_with<M, I, O, F>(model: &M, input: &I, call: F) -> Result<String>
where
    M: Module,
    I: Describe + ?Sized,
    O: Describe,
    F: FnOnce(&mut M, &I) -> Result<O>,
{
    let mut model = model.clone_deep()?;
    let root = record(&model);
    let recording = Recording::start();
    let output = call(&mut model, input);
    let calls = recording.finish();
    let root_call = Call {
        at: NodeAddress::of(&model),
        method: None,
        inputs: input.describe(),
        outputs: output?.describe(),
    };
    let rows = collect_rows(&root);
    let lines = lines_in_call_order(&rows, &root_call, &calls);
    Ok(render_table(&root, &rows, &lines, true))
}

/// A line of the table: a row, and the call it shows (`None`: no call seen).
type Line<'a> = (usize, Option<&'a Call>);

/// The rows to show and their calls, in call order (see [`tabulate_with`]).
/// `calls` come in the order they returned (callees before their callers):
/// each row goes before its subrows, which go in the order of the first call
/// under each.
fn lines_in_call_order<'a>(
    rows: &[Row<'_>],
    root_call: &'a Call,
    calls: &'a [Call],
) -> Vec<Line<'a>> {
    let index: HashMap<NodeAddress, usize> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.node.at.map(|at| (at, i)))
        .collect();
    let mut own: Vec<Vec<&Call>> = vec![Vec::new(); rows.len()];
    let mut first: Vec<Option<usize>> = vec![None; rows.len()];
    let mut recorded_types = std::collections::HashSet::new();
    let found = calls
        .iter()
        .filter_map(|c| index.get(&c.at).map(|&i| (i, c)));
    for (seq, (row, call)) in found.enumerate() {
        recorded_types.insert(call.at.type_name());
        // Flax keeps the first call of each module with each input.
        if own[row]
            .iter()
            .any(|c| c.method == call.method && c.inputs == call.inputs)
        {
            continue;
        }
        own[row].push(call);
        first[row].get_or_insert(seq);
    }
    // The root's call as `tabulate_with` saw it, unless the root recorded its
    // own (a layer describes its inputs best: Flax's `mask=` of attention).
    if let Some(root) = own.first_mut().filter(|o| o.is_empty()) {
        root.push(root_call);
    }
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); rows.len()];
    // Rows are in pre-order: a row's subrows come after it.
    for i in (1..rows.len()).rev() {
        if let Some(p) = rows[i].parent {
            children[p].push(i);
            if let Some(f) = first[i] {
                first[p] = Some(first[p].map_or(f, |g| g.min(f)));
            }
        }
    }
    for c in &mut children {
        c.reverse();
        c.sort_by_key(|&i| first[i].unwrap_or(usize::MAX));
    }
    // A module, or one under it, of a type that recorded calls elsewhere: it
    // would have recorded too, had it been called.
    let mut records = vec![false; rows.len()];
    for i in (0..rows.len()).rev() {
        let row = &rows[i];
        records[i] |= row
            .node
            .at
            .is_some_and(|at| recorded_types.contains(at.type_name()));
        if let Some(p) = row.parent {
            records[p] |= records[i];
        }
    }
    let shown = |i: usize| {
        let holds = rows[i].node.stats.iter().any(|s| s.0 != crate::RngState);
        i == 0 || first[i].is_some() || (!records[i] && holds)
    };
    let mut lines = Vec::new();
    let mut stack = vec![0];
    while let Some(i) = stack.pop() {
        if !rows.is_empty() && shown(i) {
            match own[i].as_slice() {
                [] => lines.push((i, None)),
                calls => lines.extend(calls.iter().map(|&c| (i, Some(c)))),
            }
        }
        stack.extend(children.get(i).into_iter().flatten().rev());
    }
    lines
}

/// `float32[2,3]`, or the Python form of values that are not one array.
fn spec(value: &dyn Value) -> String {
    match value.array_ref() {
        Some(a) => array_spec(a.dtype(), a.shape()),
        None => python_repr(&*abstracted(value)),
    }
}

/// Renders `lines` of `rows` as Flax's rich table, with the `inputs` and
/// `outputs` columns when `with_calls`.
fn render_table(root: &Node, rows: &[Row<'_>], lines: &[Line<'_>], with_calls: bool) -> String {
    let mut kinds: Vec<Kind> = root.stats.iter().map(|s| s.0).collect();
    kinds.sort_by_key(|k| k.name());
    let mut header = vec!["path".to_string(), "type".to_string()];
    if with_calls {
        header.extend(["inputs".to_string(), "outputs".to_string()]);
    }
    // "Total" stands right-aligned in the column before the first Variable type's, as in Flax.
    let total_col = header.len() - 1;
    header.extend(kinds.iter().map(|k| k.name().to_string()));

    let body: Vec<Vec<Vec<String>>> = lines
        .iter()
        .filter_map(|&(i, call)| rows.get(i).map(|row| (row, call)))
        .map(|(row, call)| {
            let type_name = match &row.node.item {
                Item::Module { type_name, .. } => type_name.to_string(),
                _ => String::new(),
            };
            let mut path = row.path.clone();
            if let Some(method) = call.and_then(|c| c.method) {
                path.push(Key::from(method));
            }
            let mut cells = vec![vec![path_string(&path)], vec![type_name]];
            if with_calls {
                let text = |s: Option<&String>| {
                    s.map(|s| s.lines().map(String::from).collect())
                        .unwrap_or_default()
                };
                cells.push(text(call.map(|c| &c.inputs)));
                cells.push(text(call.map(|c| &c.outputs)));
            }
            for &kind in &kinds {
                let mut lines: Vec<String> = row
                    .variables
                    .iter()
                    .filter(|(_, v)| group(v.kind) == kind)
                    .map(|(name, v)| format!("{name}: {}", spec(&*v.value)))
                    .collect();
                if let Some((_, n, b)) = row.node.stats.iter().find(|s| s.0 == kind) {
                    if !lines.is_empty() {
                        lines.push(String::new());
                    }
                    lines.push(size(*n, *b));
                }
                cells.push(lines);
            }
            cells
        })
        .collect();
    let mut footer = vec![Vec::new(); total_col];
    footer.push(vec!["Total".to_string()]);
    for &kind in &kinds {
        let (_, n, b) = root
            .stats
            .iter()
            .find(|s| s.0 == kind)
            .copied()
            .unwrap_or((kind, 0, 0));
        footer.push(vec![size(n, b)]);
    }

    let width = |col: usize| {
        let cells = body.iter().map(|r| &r[col]).chain([&footer[col]]);
        let longest = cells.flatten().map(|l| l.chars().count());
        longest
            .chain([header[col].chars().count()])
            .max()
            .unwrap_or(0)
            + 2
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    footer[total_col] = vec![format!("{:>w$}", "Total", w = widths[total_col] - 2)];

    let rule = |l: &str, m: &str, r: &str, fill: &str| {
        let parts: Vec<String> = widths.iter().map(|w| fill.repeat(*w)).collect();
        format!("{l}{}{r}\n", parts.join(m))
    };
    let line = |cells: &[Vec<String>], sep: &str, out: &mut String| {
        let height = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
        for i in 0..height {
            out.push_str(sep);
            for (cell, w) in cells.iter().zip(&widths) {
                let text = cell.get(i).map_or("", String::as_str);
                let pad = w.saturating_sub(text.chars().count() + 1);
                let _ = write!(out, " {text}{}{sep}", " ".repeat(pad));
            }
            out.push('\n');
        }
    };

    let total_width: usize = widths.iter().sum::<usize>() + widths.len() + 1;
    let root_type = match &root.item {
        Item::Module { type_name, .. } => type_name.to_string(),
        Item::Variable(v) => v.kind.name().to_string(),
        _ => String::new(),
    };
    let mut out = format!("{:^total_width$}", format!("{root_type} Summary"))
        .trim_end()
        .to_string();
    out.push('\n');
    out.push_str(&rule("┏", "┳", "┓", "━"));
    line(
        &header.iter().map(|h| vec![h.clone()]).collect::<Vec<_>>(),
        "┃",
        &mut out,
    );
    out.push_str(&rule("┡", "╇", "┩", "━"));
    for (i, cells) in body.iter().enumerate() {
        if i > 0 {
            out.push_str(&rule("├", "┼", "┤", "─"));
        }
        line(cells, "│", &mut out);
    }
    out.push_str(&rule("├", "┼", "┤", "─"));
    line(&footer, "│", &mut out);
    out.push_str(&rule("└", "┴", "┘", "─"));
    let (n, b) = root
        .stats
        .iter()
        .fold((0, 0), |(n, b), s| (n + s.1, b + s.2));
    let total = format!("Total Parameters: {}", size(n, b));
    out.push_str(format!("{total:^total_width$}").trim_end());
    out
}
