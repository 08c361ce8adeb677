//! Looking at a model: [`display`] renders it as Flax's `print(model)` /
//! `nnx.display(model)` does, [`tabulate`] as `nnx.tabulate` does.
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
//! `tabulate` is the static part of `nnx.tabulate`: one row per submodule with
//! its Variables (`name: float32[2,3]`) and their count and bytes per Variable
//! type, the totals at the bottom. Flax's `inputs`/`outputs` columns need a
//! call hook on every submodule, which nnx does not have; they are left out.
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

use crate::graph::{DynStatic, NodeHeader, Walker};
use crate::key::{path_string, Key};
use crate::kind::Kind;
use crate::repr;
use crate::value::{python_repr, ArrayRef, DType, Value};
use crate::variable::AnyVariable;
use crate::variable::VariableState;
use crate::Module;

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
/// counts and bytes per Variable type, and the totals at the bottom: the static
/// part of Flax's `nnx.tabulate`. Flax's `inputs`/`outputs` columns need a call
/// hook on every submodule, which nnx does not have; they are left out.
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
    let mut rows = Vec::new();
    collect_rows(&root, &mut Vec::new(), &mut rows);
    render_table(&root, &rows)
}

/// Counts and bytes per Variable type, in the order the types first appear.
type Stats = Vec<(Kind, usize, usize)>;

/// One recorded item of the module graph.
struct Node {
    key: Key,
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
            item: Item::Module {
                type_name: header.type_name,
                shape: container_of(header.type_name),
                children: Vec::new(),
            },
            stats: Stats::new(),
        }));
        true
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
            item: Item::Variable(state),
            stats: Stats::new(),
        });
    }
    fn static_value(&mut self, key: &Key, value: &dyn DynStatic) {
        let item = Item::Static(static_repr(value));
        self.push(Node {
            key: key.clone(),
            item,
            stats: Stats::new(),
        });
    }
    fn none(&mut self, key: &Key) {
        self.push(Node {
            key: key.clone(),
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
    path: String,
    node: &'a Node,
    variables: Vec<(String, &'a VariableState)>,
}

fn collect_rows<'a>(node: &'a Node, path: &mut Vec<Key>, rows: &mut Vec<Row<'a>>) {
    let Item::Module {
        shape: Container::Struct,
        ..
    } = node.item
    else {
        return;
    };
    let index = rows.len();
    rows.push(Row {
        path: path_string(path),
        node,
        variables: Vec::new(),
    });
    let mut direct = Vec::new();
    collect_under(node, path, &mut Vec::new(), &mut direct, rows);
    direct.sort_by(|a, b| a.0.cmp(&b.0));
    rows[index].variables = direct;
}

/// Walks the children of `node`: Variables go to `direct` under their path
/// relative to the row (`rel`), struct nodes start rows of their own.
fn collect_under<'a>(
    node: &'a Node,
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
            } => collect_rows(child, path, rows),
            Item::Module { .. } => collect_under(child, path, rel, direct, rows),
            Item::Static(_) | Item::None | Item::Seen(_) => {}
        }
        rel.pop();
        path.pop();
    }
}

/// `float32[2,3]`, or the Python form of values that are not one array.
fn spec(value: &dyn Value) -> String {
    match value.array_ref() {
        Some(a) => {
            let dims: Vec<String> = a.shape().iter().map(ToString::to_string).collect();
            format!("{}[{}]", a.dtype(), dims.join(","))
        }
        None => python_repr(&*abstracted(value)),
    }
}

fn render_table(root: &Node, rows: &[Row<'_>]) -> String {
    let mut kinds: Vec<Kind> = root.stats.iter().map(|s| s.0).collect();
    kinds.sort_by_key(|k| k.name());
    let mut header = vec!["path".to_string(), "type".to_string()];
    header.extend(kinds.iter().map(|k| k.name().to_string()));

    let body: Vec<Vec<Vec<String>>> = rows
        .iter()
        .map(|row| {
            let type_name = match &row.node.item {
                Item::Module { type_name, .. } => type_name.to_string(),
                _ => String::new(),
            };
            let mut cells = vec![vec![row.path.clone()], vec![type_name]];
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
    let mut footer = vec![Vec::new(), vec!["Total".to_string()]];
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
    // "Total" right-aligned before the first Variable type's column, as in Flax.
    footer[1] = vec![format!("{:>w$}", "Total", w = widths[1] - 2)];

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
