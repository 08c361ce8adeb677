//! Property tests: random module graphs (nested `Vec`, `Option<Box<_>>`,
//! `BTreeMap<String, _>`, enums, `Shared` nodes and tied Variables; built-in,
//! custom and subtyped Variable types of random dtypes, shapes and metadata)
//! must keep the invariants graph operations promise:
//!
//! - split → merge gives an equal module (State, printing, GraphDef, sharing);
//! - `update(state())` changes nothing;
//! - a merge, update, load, `set_attributes` or `eval` that fails leaves the
//!   module exactly as it was (State, GraphDef and printing compared);
//! - a checkpoint saved and loaded back (as a State, or into a module) is equal;
//! - flat ↔ nested State, pure dicts and JSON round-trip.
//!
//! CI runs 32 cases per property; `PROPTEST_CASES=5000 cargo test --test
//! properties --release` runs a long pass.

use std::collections::BTreeMap;
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use nnx::checkpoint::{self, LoadOptions};
use nnx::prelude::*;
use nnx::{Kind, MetaValue};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;

nnx::variable_type!(pub Custom);
nnx::variable_type!(pub LoRAParam: nnx::Param);

type Tied = Shared<Param<ArrayD<f32>>>;

/// One Variable of each flavour: array dtypes, Rust scalars, custom and
/// subtyped Variable types, and a Variable shared with other places.
#[derive(Module)]
enum Var {
    F32(Param<ArrayD<f32>>),
    F64(BatchStat<ArrayD<f64>>),
    I32(Custom<ArrayD<i32>>),
    U8(Cache<ArrayD<u8>>),
    Bool(LoRAParam<ArrayD<bool>>),
    Scalar(Param<f32>),
    Count(Intermediate<i64>),
    Id(Custom<u32>),
    Tied(Tied),
}

/// A node nesting every container the derive supports.
#[derive(Module)]
enum Node {
    Var(Var),
    List(Vec<Node>),
    Maybe(Option<Box<Node>>),
    Map(BTreeMap<String, Node>),
    Shared(Shared<Node>),
    Block {
        body: Box<Node>,
        deterministic: bool,
        use_running_average: bool,
        width: u32,
    },
    /// A `deterministic` field of another type: `eval()` must fail on it.
    Odd {
        body: Box<Node>,
        deterministic: u8,
    },
    Empty,
}

// ---------------------------------------------------------------------------
// Descriptions: plain data proptest can generate, shrink and print.

#[derive(Clone, Debug)]
enum VarDesc {
    F32(Vec<usize>, Vec<f32>),
    F64(Vec<usize>, Vec<f64>),
    I32(Vec<usize>, Vec<i32>),
    U8(Vec<usize>, Vec<u8>),
    Bool(Vec<usize>, Vec<bool>),
    Scalar(f32),
    Count(i64),
    Id(u32),
    /// An index into the tied Variables (modulo their number).
    Tied(usize),
}

/// Metadata entries in insertion order.
type MetaDesc = Vec<(String, MetaValue)>;

#[derive(Clone, Debug)]
struct LeafDesc {
    var: VarDesc,
    metadata: MetaDesc,
}

#[derive(Clone, Debug)]
enum NodeDesc {
    Var(LeafDesc),
    List(Vec<NodeDesc>),
    Maybe(Option<Box<NodeDesc>>),
    Map(BTreeMap<String, NodeDesc>),
    /// An index into the shared nodes (modulo their number).
    Shared(usize),
    Block {
        body: Box<NodeDesc>,
        deterministic: bool,
        use_running_average: bool,
        width: u32,
    },
    Odd {
        body: Box<NodeDesc>,
        deterministic: u8,
    },
    Empty,
}

#[derive(Clone, Debug)]
struct GraphDesc {
    root: NodeDesc,
    /// Nodes reachable through `Shared` handles (they hold no `Shared` node
    /// themselves, so the graph has no cycle).
    shared: Vec<NodeDesc>,
    /// Tied `Param`s: (shape, data, metadata).
    tied: Vec<(Vec<usize>, Vec<f32>, MetaDesc)>,
}

/// A shape of rank 0..=3 with axes of 0..=3, and data filling it.
fn array<T: std::fmt::Debug + Clone>(
    elem: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = (Vec<usize>, Vec<T>)> {
    vec(0usize..=3, 0..=3).prop_flat_map(move |shape| {
        let n = shape.iter().product::<usize>();
        (Just(shape), vec(elem.clone(), n))
    })
}

/// Finite floats only: State equality is value equality, and NaN ≠ NaN.
fn finite32() -> impl Strategy<Value = f32> + Clone {
    prop_oneof![
        any::<f32>().prop_filter("finite", |x| x.is_finite()),
        Just(-0.0f32),
        Just(0.5f32)
    ]
}

fn meta_value() -> impl Strategy<Value = MetaValue> {
    let leaf = prop_oneof![
        Just(MetaValue::None),
        any::<bool>().prop_map(MetaValue::Bool),
        any::<i64>().prop_map(MetaValue::Int),
        any::<f64>()
            .prop_filter("not NaN", |x| !x.is_nan())
            .prop_map(MetaValue::Float),
        Just(MetaValue::Float(f64::NEG_INFINITY)),
        Just(MetaValue::Float(1.0)),
        "[ -~]{0,6}".prop_map(MetaValue::Str),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..3).prop_map(MetaValue::List),
            vec(inner, 0..3).prop_map(MetaValue::Tuple),
        ]
    })
}

fn metadata() -> impl Strategy<Value = MetaDesc> {
    vec(("[a-z_]{1,8}", meta_value()), 0..3)
}

fn var_desc() -> impl Strategy<Value = VarDesc> {
    prop_oneof![
        array(finite32()).prop_map(|(s, d)| VarDesc::F32(s, d)),
        array(
            any::<f64>()
                .prop_filter("finite", |x| x.is_finite())
                .boxed()
        )
        .prop_map(|(s, d)| VarDesc::F64(s, d)),
        array(any::<i32>()).prop_map(|(s, d)| VarDesc::I32(s, d)),
        array(any::<u8>()).prop_map(|(s, d)| VarDesc::U8(s, d)),
        array(any::<bool>()).prop_map(|(s, d)| VarDesc::Bool(s, d)),
        finite32().prop_map(VarDesc::Scalar),
        any::<i64>().prop_map(VarDesc::Count),
        any::<u32>().prop_map(VarDesc::Id),
        any::<usize>().prop_map(VarDesc::Tied),
    ]
}

fn leaf_desc() -> impl Strategy<Value = LeafDesc> {
    (var_desc(), metadata()).prop_map(|(var, metadata)| LeafDesc { var, metadata })
}

/// Map keys: never all digits (JSON reads those back as indices) and never
/// dotted (checkpoint tensor names join keys with `.`).
fn map_key() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,3}"
}

fn node_desc(with_shared: bool) -> impl Strategy<Value = NodeDesc> {
    let leaf = if with_shared {
        prop_oneof![
            4 => leaf_desc().prop_map(NodeDesc::Var),
            1 => Just(NodeDesc::Empty),
            2 => any::<usize>().prop_map(NodeDesc::Shared),
        ]
        .boxed()
    } else {
        prop_oneof![
            4 => leaf_desc().prop_map(NodeDesc::Var),
            1 => Just(NodeDesc::Empty),
        ]
        .boxed()
    };
    leaf.prop_recursive(5, 64, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(NodeDesc::List),
            proptest::option::weighted(0.8, inner.clone().prop_map(Box::new))
                .prop_map(NodeDesc::Maybe),
            btree_map(map_key(), inner.clone(), 1..6).prop_map(NodeDesc::Map),
            (inner.clone(), any::<bool>(), any::<bool>(), any::<u32>()).prop_map(
                |(body, deterministic, use_running_average, width)| NodeDesc::Block {
                    body: Box::new(body),
                    deterministic,
                    use_running_average,
                    width,
                }
            ),
            (inner, any::<u8>()).prop_map(|(body, deterministic)| NodeDesc::Odd {
                body: Box::new(body),
                deterministic
            }),
        ]
    })
}

fn graph_desc() -> impl Strategy<Value = GraphDesc> {
    // Mostly a struct-like root with several children, so graphs are not tiny.
    let root = prop_oneof![
        1 => node_desc(true),
        4 => btree_map(map_key(), node_desc(true), 1..6).prop_map(NodeDesc::Map),
    ];
    (
        root,
        vec(node_desc(false), 0..3),
        vec((array(finite32()), metadata()), 0..3),
    )
        .prop_map(|(root, shared, tied)| GraphDesc {
            root,
            shared,
            tied: tied.into_iter().map(|((s, d), m)| (s, d, m)).collect(),
        })
}

// ---------------------------------------------------------------------------
// Building modules from descriptions.

fn arr<T: Clone>(shape: &[usize], data: &[T]) -> ArrayD<T> {
    ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).expect("the generator fills the shape")
}

fn with_meta<V: VariableType>(mut v: V, metadata: &[(String, MetaValue)]) -> V {
    for (k, m) in metadata {
        v.set_metadata(k.clone(), m.clone());
    }
    v
}

struct Pools {
    shared: Vec<Shared<Node>>,
    tied: Vec<Tied>,
}

fn pick<T: Clone>(pool: &[T], i: usize) -> Option<T> {
    (!pool.is_empty()).then(|| pool[i % pool.len()].clone())
}

fn build_var(d: &LeafDesc, pools: &Pools) -> Node {
    let m = &d.metadata;
    let var = match &d.var {
        VarDesc::F32(s, x) => Var::F32(with_meta(Param::new(arr(s, x)), m)),
        VarDesc::F64(s, x) => Var::F64(with_meta(BatchStat::new(arr(s, x)), m)),
        VarDesc::I32(s, x) => Var::I32(with_meta(Custom::new(arr(s, x)), m)),
        VarDesc::U8(s, x) => Var::U8(with_meta(Cache::new(arr(s, x)), m)),
        VarDesc::Bool(s, x) => Var::Bool(with_meta(LoRAParam::new(arr(s, x)), m)),
        VarDesc::Scalar(x) => Var::Scalar(with_meta(Param::new(*x), m)),
        VarDesc::Count(x) => Var::Count(with_meta(Intermediate::new(*x), m)),
        VarDesc::Id(x) => Var::Id(with_meta(Custom::new(*x), m)),
        VarDesc::Tied(i) => match pick(&pools.tied, *i) {
            Some(t) => Var::Tied(t),
            None => return Node::Empty,
        },
    };
    Node::Var(var)
}

fn build_node(d: &NodeDesc, pools: &Pools) -> Node {
    match d {
        NodeDesc::Var(l) => build_var(l, pools),
        NodeDesc::List(items) => Node::List(items.iter().map(|n| build_node(n, pools)).collect()),
        NodeDesc::Maybe(n) => Node::Maybe(n.as_ref().map(|n| Box::new(build_node(n, pools)))),
        NodeDesc::Map(m) => Node::Map(
            m.iter()
                .map(|(k, n)| (k.clone(), build_node(n, pools)))
                .collect(),
        ),
        NodeDesc::Shared(i) => pick(&pools.shared, *i).map_or(Node::Empty, Node::Shared),
        NodeDesc::Block {
            body,
            deterministic,
            use_running_average,
            width,
        } => Node::Block {
            body: Box::new(build_node(body, pools)),
            deterministic: *deterministic,
            use_running_average: *use_running_average,
            width: *width,
        },
        NodeDesc::Odd {
            body,
            deterministic,
        } => Node::Odd {
            body: Box::new(build_node(body, pools)),
            deterministic: *deterministic,
        },
        NodeDesc::Empty => Node::Empty,
    }
}

fn build(d: &GraphDesc) -> Node {
    let tied = d
        .tied
        .iter()
        .map(|(s, x, m)| Shared::new(with_meta(Param::new(arr(s, x)), m)))
        .collect();
    let mut pools = Pools {
        shared: Vec::new(),
        tied,
    };
    pools.shared = d
        .shared
        .iter()
        .map(|n| Shared::new(build_node(n, &pools)))
        .collect();
    build_node(&d.root, &pools)
}

/// Everything observable about a module: its State (values, types,
/// metadata), its printing, its GraphDef (structure and static fields) and
/// its sharing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    state: State,
    printed: String,
    graphdef: GraphDef<Node>,
    duplicates: Vec<Vec<nnx::Path>>,
}

fn snapshot(m: &Node) -> Snapshot {
    let state = m.state();
    Snapshot {
        printed: state.to_string(),
        state,
        graphdef: m.graphdef(),
        duplicates: m.find_duplicates().expect("a walkable graph"),
    }
}

// ---------------------------------------------------------------------------
// Broken inputs.

fn plus_one(v: &dyn nnx::value::Value) -> Option<Arc<dyn nnx::value::Value>> {
    let a = v.as_any();
    if let Some(x) = a.downcast_ref::<ArrayD<f32>>() {
        return Some(Arc::new(x.mapv(|e| e + 1.0)));
    }
    if let Some(x) = a.downcast_ref::<f32>() {
        return Some(Arc::new(x + 1.0));
    }
    if let Some(x) = a.downcast_ref::<i64>() {
        return Some(Arc::new(x.wrapping_add(1)));
    }
    None
}

/// `state` with its f32 and i64 values changed.
fn changed(state: &State) -> State {
    State::from_flat(state.clone().into_flat().into_iter().map(|(p, l)| {
        match plus_one(&*l.value) {
            Some(v) => (p, l.with_value(v)),
            None => (p, l),
        }
    }))
    .expect("a State's own paths never overlap")
}

/// A checkpoint's tensor name for a path.
fn dotted(path: &[nnx::Key]) -> String {
    let keys: Vec<String> = path
        .iter()
        .map(|k| k.as_str().map_or_else(|| k.to_string(), str::to_string))
        .collect();
    keys.join(".")
}

/// A way to break a State so that it no longer fits its module.
#[derive(Clone, Copy, Debug)]
enum Breakage {
    /// A leaf at a path the module does not have.
    ExtraPath,
    /// A leaf of the module removed (merge and strict loads need them all).
    Missing,
    /// A leaf with an unrelated Variable type.
    WrongKind,
    /// A leaf whose value has another dtype.
    WrongDType,
    /// An array leaf with one more axis.
    WrongShape,
}

fn breakage() -> impl Strategy<Value = Breakage> {
    prop_oneof![Just(Breakage::Missing), breakage_for_update()]
}

/// `update` takes a subset of the paths: a missing leaf breaks nothing there.
fn breakage_for_update() -> impl Strategy<Value = Breakage> {
    prop_oneof![
        Just(Breakage::ExtraPath),
        Just(Breakage::WrongKind),
        Just(Breakage::WrongDType),
        Just(Breakage::WrongShape),
    ]
}

/// `state` with every value that can change changed (so a half-applied
/// operation would show), then broken at the `at`-th leaf. `None` when the
/// breakage needs a leaf and there is none.
fn broken(state: &State, how: Breakage, at: usize) -> Option<State> {
    let mut flat = changed(state).into_flat();
    if let Breakage::ExtraPath = how {
        flat.push((
            vec![nnx::Key::from("no_such_field")],
            VariableState::new(nnx::Param, ArrayD::<f32>::zeros(IxDyn(&[1]))),
        ));
        return State::from_flat(flat).ok();
    }
    if flat.is_empty() {
        return None;
    }
    let i = at % flat.len();
    let leaf = &mut flat[i].1;
    match how {
        Breakage::ExtraPath => unreachable!("handled above"),
        Breakage::Missing => {
            flat.remove(i);
        }
        Breakage::WrongKind => {
            leaf.kind = if leaf.kind == Custom {
                nnx::BatchStat
            } else {
                Custom
            };
        }
        Breakage::WrongDType => {
            let shape = leaf.value.shape_of().unwrap_or_default();
            leaf.value = if leaf.value.dtype() == Some(nnx::value::DType::U32) {
                Arc::new(ArrayD::<i64>::zeros(IxDyn(&shape)))
            } else {
                Arc::new(ArrayD::<u32>::zeros(IxDyn(&shape)))
            };
        }
        Breakage::WrongShape => {
            // A scalar's shape is fixed by its type; only arrays can be reshaped.
            let mut shape = leaf.value.shape_of().unwrap_or_default();
            shape.push(1);
            let dtype = leaf.value.dtype();
            leaf.value = match dtype {
                Some(nnx::value::DType::F32) => Arc::new(ArrayD::<f32>::zeros(IxDyn(&shape))),
                Some(nnx::value::DType::F64) => Arc::new(ArrayD::<f64>::zeros(IxDyn(&shape))),
                Some(nnx::value::DType::I32) => Arc::new(ArrayD::<i32>::zeros(IxDyn(&shape))),
                Some(nnx::value::DType::U8) => Arc::new(ArrayD::<u8>::zeros(IxDyn(&shape))),
                Some(nnx::value::DType::Bool) => Arc::new(ArrayD::from_elem(IxDyn(&shape), false)),
                _ => Arc::new(ArrayD::<i64>::zeros(IxDyn(&shape))),
            };
        }
    }
    State::from_flat(flat).ok()
}

/// The Variable types of these tests, for loading checkpoints.
fn resolve(name: &str) -> Option<Kind> {
    match name {
        "Custom" => Some(Custom),
        "LoRAParam" => Some(LoRAParam),
        _ => checkpoint::builtin_kind(name),
    }
}

fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 32;
    }
    c
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn split_then_merge_gives_an_equal_module(d in graph_desc()) {
        let m = build(&d);
        let before = snapshot(&m);
        let (g, s) = m.split(..).unwrap();
        prop_assert_eq!(&g, &before.graphdef);
        prop_assert_eq!(&s, &before.state);
        let back: Node = g.merge(s).unwrap();
        prop_assert_eq!(snapshot(&back), before);
    }

    #[test]
    fn split_by_filters_then_merge_gives_an_equal_module(d in graph_desc()) {
        let m = build(&d);
        let before = snapshot(&m);
        let (g, params, stats, rest) = m.split((nnx::Param, nnx::BatchStat, ..)).unwrap();
        prop_assert_eq!(params.len() + stats.len() + rest.len(), before.state.len());
        prop_assert_eq!(&State::merge([params.clone(), stats.clone(), rest.clone()]).unwrap(), &before.state);
        let back: Node = g.merge((params, stats, rest)).unwrap();
        prop_assert_eq!(snapshot(&back), before);
    }

    #[test]
    fn update_with_own_state_changes_nothing(d in graph_desc()) {
        let mut m = build(&d);
        let before = snapshot(&m);
        m.update(m.state()).unwrap();
        prop_assert_eq!(snapshot(&m), before);
    }

    #[test]
    fn failing_update_changes_nothing(d in graph_desc(), how in breakage_for_update(), at in any::<usize>()) {
        let mut m = build(&d);
        let before = snapshot(&m);
        let Some(bad) = broken(&before.state, how, at) else { return Ok(()) };
        let err = m.update(bad).err();
        prop_assert!(err.is_some(), "update accepted a {:?} state", how);
        prop_assert_eq!(snapshot(&m), before);
    }

    #[test]
    fn failing_merge_is_an_error(d in graph_desc(), how in breakage(), at in any::<usize>()) {
        let m = build(&d);
        let state = m.state();
        let Some(bad) = broken(&state, how, at) else { return Ok(()) };
        let (g, _) = m.split(..).unwrap();
        prop_assert!(g.merge(bad).is_err(), "merge accepted a {:?} state", how);
    }

    #[test]
    fn failing_strict_load_changes_nothing(d in graph_desc(), how in breakage(), at in any::<usize>()) {
        let mut m = build(&d);
        let before = snapshot(&m);
        let Some(bad) = broken(&before.state, how, at) else { return Ok(()) };
        let bytes = checkpoint::save_state_to_bytes(&bad).unwrap();
        let err = checkpoint::load_into_from_bytes_with(&mut m, &bytes, LoadOptions::default()).err();
        prop_assert!(err.is_some(), "load accepted a {:?} checkpoint", how);
        prop_assert_eq!(snapshot(&m), before);
    }

    #[test]
    fn lenient_load_sets_what_fits(d in graph_desc(), how in breakage(), at in any::<usize>()) {
        let mut m = build(&d);
        let state = m.state();
        let Some(bad) = broken(&state, how, at) else { return Ok(()) };
        let bytes = checkpoint::save_state_to_bytes(&bad).unwrap();
        let report = checkpoint::load_into_from_bytes_with(&mut m, &bytes, LoadOptions { strict: false }).unwrap();
        prop_assert!(!report.is_complete());
        prop_assert!(report.loaded.len() + report.missing.len() <= state.len());
        // Each Variable holds the checkpoint's value if it was loaded, else its own.
        let after = m.state();
        prop_assert_eq!(after.flat_state().paths(), state.flat_state().paths());
        for (path, leaf) in after.flat_state().iter() {
            let old = state.leaf(path).unwrap();
            let new = bad.leaf(path).filter(|_| report.loaded.contains(&dotted(path)));
            let want = new.unwrap_or(old);
            prop_assert!(leaf.value.eq_value(&*want.value), "{}", dotted(path));
        }
    }

    #[test]
    fn failing_set_attributes_changes_nothing(d in graph_desc()) {
        let mut m = build(&d);
        let before = snapshot(&m);
        // Every `width` is a u32 and nothing is named `missing`: both fail.
        prop_assert!(m.set_attributes("width", 1u8).is_err());
        prop_assert!(m.set_attributes("missing", 1u32).is_err());
        prop_assert_eq!(snapshot(&m), before);
    }

    #[test]
    fn eval_and_train_change_flags_only_or_nothing(d in graph_desc()) {
        let mut m = build(&d);
        let before = snapshot(&m);
        match m.eval() {
            Ok(()) => {
                prop_assert_eq!(&m.state(), &before.state);
                m.train().unwrap();
                prop_assert_eq!(&m.state(), &before.state);
            }
            Err(_) => prop_assert_eq!(snapshot(&m), before),
        }
    }

    #[test]
    fn checkpoint_round_trips(d in graph_desc()) {
        let m = build(&d);
        let state = m.state();
        let bytes = checkpoint::save_state_to_bytes(&state).unwrap();
        let loaded = checkpoint::load_state_from_bytes_with(&bytes, &resolve).unwrap();
        prop_assert_eq!(&loaded, &state);
        prop_assert_eq!(loaded.to_string(), state.to_string());
        // Saving what was loaded gives the same bytes.
        prop_assert_eq!(checkpoint::save_state_to_bytes(&loaded).unwrap(), bytes.clone());
        // Into a module of the same structure holding other values.
        let mut fresh = build(&d);
        fresh.update(changed(&state)).unwrap();
        let report = checkpoint::load_into_from_bytes_with(&mut fresh, &bytes, LoadOptions::default()).unwrap();
        prop_assert_eq!(report.loaded.len(), state.len());
        prop_assert_eq!(snapshot(&fresh), snapshot(&m));
    }

    #[test]
    fn flat_and_nested_states_round_trip(d in graph_desc()) {
        let state = build(&d).state();
        let flat = state.flat_state();
        prop_assert_eq!(&flat.to_nested_state().unwrap(), &state);
        let paths = flat.paths();
        prop_assert!(paths.windows(2).all(|w| w[0] < w[1]), "flat paths sorted and distinct");
        prop_assert_eq!(&State::from_flat(state.clone().into_flat()).unwrap(), &state);
        let mut copy = state.deep_clone();
        copy.replace_by_pure_dict(&state.to_pure_dict()).unwrap();
        prop_assert_eq!(&copy, &state);
        let json = serde_json::to_string(&state).unwrap();
        let back: Result<State, _> = serde_json::from_str(&json);
        // JSON resolves built-in Variable types only.
        let custom = flat.iter().any(|(_, l)| l.kind == Custom || l.kind == LoRAParam);
        match back {
            Ok(back) => {
                prop_assert!(!custom);
                prop_assert_eq!(back, state);
            }
            Err(e) => prop_assert!(custom, "{}", e),
        }
    }
}
