//! `#[derive(Module)]` at run time: paths, options, enums, generics, sharing, sow.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use ndarray::{Array1, Array2};
use nnx::path_string;
use nnx::prelude::*;
use nnx::{BatchStat, Intermediate, Param};

#[derive(Module)]
struct Linear {
    kernel: Param<Array2<f32>>,
    bias: Param<Array1<f32>>,
}

impl Linear {
    fn new(din: usize, dout: usize, fill: f32) -> Self {
        Linear {
            kernel: Param::new(Array2::from_elem((din, dout), fill)),
            bias: Param::new(Array1::zeros(dout)),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Hash, Default)]
enum Activation {
    #[default]
    Relu,
    Gelu,
}

#[derive(Module)]
struct Model {
    zeta: Linear,
    alpha: Linear,
    layers: Vec<Linear>,
    #[nnx(rename = "bn_stats")]
    stats: BatchStat<Array1<f32>>,
    din: usize,
    #[nnx(static)]
    act: Activation,
    #[nnx(skip)]
    cache: Vec<u8>,
    deterministic: bool,
}

fn model() -> Model {
    Model {
        zeta: Linear::new(2, 3, 1.0),
        alpha: Linear::new(3, 2, 2.0),
        layers: vec![Linear::new(2, 2, 3.0)],
        stats: BatchStat::new(Array1::<f32>::ones(2)),
        din: 2,
        act: Activation::Gelu,
        cache: vec![1, 2, 3],
        deterministic: false,
    }
}

fn paths(state: &State) -> Vec<String> {
    state
        .flat_state()
        .paths()
        .iter()
        .map(|p| path_string(p))
        .collect()
}

fn hash<T: Hash>(x: &T) -> u64 {
    let mut h = DefaultHasher::new();
    x.hash(&mut h);
    h.finish()
}

#[test]
fn paths_are_sorted_renamed_and_skip_is_left_out() {
    let m = model();
    assert_eq!(
        paths(&m.state()),
        [
            "alpha/bias",
            "alpha/kernel",
            "bn_stats",
            "layers/0/bias",
            "layers/0/kernel",
            "zeta/bias",
            "zeta/kernel"
        ]
    );
    assert_eq!(paths(&m.state_of(BatchStat)), ["bn_stats"]);
}

#[derive(Module)]
struct Pair(Linear, Param<f32>);

#[derive(Module)]
struct Mixed {
    b: Param<f32>,
    #[nnx(rename = "a")]
    z: Param<f32>,
    pair: Pair,
}

#[test]
fn tuple_fields_use_integer_keys_before_strings() {
    let m = Mixed {
        b: Param::new(1.0),
        z: Param::new(2.0),
        pair: Pair(Linear::new(1, 1, 0.0), Param::new(3.0)),
    };
    assert_eq!(
        paths(&m.state()),
        ["a", "b", "pair/0/bias", "pair/0/kernel", "pair/1"]
    );
    let mut map = BTreeMap::new();
    map.insert(
        "x".to_string(),
        Pair(Linear::new(1, 1, 0.0), Param::new(1.0)),
    );
    assert_eq!(paths(&map.state()), ["x/0/bias", "x/0/kernel", "x/1"]);
}

#[test]
fn split_merge_round_trip_restores_statics_and_defaults_skip() {
    let (graphdef, params, rest) = model().split((Param, ..)).unwrap();
    assert_eq!(params.len(), 6);
    assert_eq!(rest.len(), 1);
    let back: Model = graphdef.merge((params, rest)).unwrap();
    assert_eq!(back.act, Activation::Gelu);
    assert_eq!(back.din, 2);
    assert!(!back.deterministic);
    assert!(
        back.cache.is_empty(),
        "skip fields are rebuilt with Default"
    );
    assert_eq!(*back.alpha.kernel, Array2::from_elem((3, 2), 2.0));
    assert_eq!(*back.layers[0].kernel, Array2::from_elem((2, 2), 3.0));
    assert_eq!(back.graphdef(), graphdef);
}

#[test]
fn graphdef_changes_with_static_values() {
    let a = model();
    let mut b = model();
    assert_eq!(a.graphdef(), b.graphdef());
    assert_eq!(hash(&a.graphdef()), hash(&b.graphdef()));
    b.act = Activation::Relu;
    assert_ne!(a.graphdef(), b.graphdef());
    assert_ne!(hash(&a.graphdef()), hash(&b.graphdef()));
    let mut c = model();
    c.din = 5;
    assert_ne!(a.graphdef(), c.graphdef());
    let mut d = model();
    d.cache.push(9);
    assert_eq!(
        a.graphdef(),
        d.graphdef(),
        "skip fields are not in the GraphDef"
    );
}

#[test]
fn update_reaches_derived_fields() {
    let mut m = model();
    let doubled = m.state().map(|v| {
        v.as_any()
            .downcast_ref::<Array2<f32>>()
            .map(|a| a * 2.0)
            .unwrap_or_else(|| Array2::zeros((0, 0)))
    });
    let kernels = doubled.filter(Param);
    let only_kernels = State::from_flat(
        kernels
            .into_flat()
            .into_iter()
            .filter(|(p, _)| p.last() == Some(&Key::from("kernel"))),
    )
    .unwrap();
    m.update(only_kernels).unwrap();
    assert_eq!(*m.zeta.kernel, Array2::from_elem((2, 3), 2.0));
    assert_eq!(*m.zeta.bias, Array1::<f32>::zeros(3));
}

#[derive(Module)]
enum Head {
    Dense(Linear),
    Pair { right: Param<f32>, left: Param<f32> },
    Identity,
}

#[derive(Module)]
struct WithHeads {
    heads: Vec<Head>,
}

#[test]
fn enums_round_trip() {
    let m = WithHeads {
        heads: vec![
            Head::Identity,
            Head::Pair {
                right: Param::new(1.0),
                left: Param::new(2.0),
            },
            Head::Dense(Linear::new(1, 2, 5.0)),
        ],
    };
    assert_eq!(
        paths(&m.state()),
        [
            "heads/1/left",
            "heads/1/right",
            "heads/2/0/bias",
            "heads/2/0/kernel"
        ]
    );
    let (g, s) = m.split(..).unwrap();
    let back = g.merge(s).unwrap();
    assert!(matches!(back.heads[0], Head::Identity));
    match &back.heads[1] {
        Head::Pair { right, left } => assert_eq!((**right, **left), (1.0, 2.0)),
        _ => panic!("expected Head::Pair"),
    }
    match &back.heads[2] {
        Head::Dense(l) => assert_eq!(*l.kernel, Array2::from_elem((1, 2), 5.0)),
        _ => panic!("expected Head::Dense"),
    }
    // The variant is part of the structure.
    let a = Head::Identity.graphdef();
    let b = Head::Dense(Linear::new(1, 1, 0.0)).graphdef();
    assert_ne!(hash(&a), hash(&b));
    assert!(format!("{:?}", b).contains("Head::Dense"));
}

#[derive(Module)]
enum Other {
    Identity,
}

/// Walks as an `Other` but rebuilds as a `Head`, as a stale GraphDef would.
struct Stale;

impl nnx::graph::Field for Stale {
    fn walk_field(&self, key: &Key, w: &mut dyn nnx::graph::Walker) {
        Other::Identity.walk_field(key, w)
    }
    fn walk_field_mut(
        &mut self,
        _: &Key,
        _: &mut dyn nnx::graph::WalkerMut,
        _: nnx::graph::Place,
    ) -> nnx::graph::Action {
        nnx::graph::Action::Keep
    }
    fn build_field(key: &Key, b: &mut nnx::graph::Builder<'_>) -> nnx::Result<Self> {
        Head::build_field(key, b).map(|_| Stale)
    }
}
impl Module for Stale {}

#[test]
fn unknown_variant_is_an_error() {
    let (g, s) = Stale.split(..).unwrap();
    let msg = g.merge(s).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        msg.contains("Head::Dense, Head::Pair, Head::Identity"),
        "{msg}"
    );
    assert!(msg.contains("Other::Identity"), "{msg}");
}

/// Flax's paths for mixed layers: transparent variants add no level.
#[derive(Module)]
#[nnx(transparent)]
enum MixedLayer {
    Dense(Linear),
    Scale(Param<f32>),
}

/// One transparent variant next to ordinary ones.
#[derive(Module)]
enum OneTransparent {
    #[nnx(transparent)]
    Dense(Linear),
    Plain(Linear),
}

#[test]
fn transparent_variants_add_no_level() {
    let m = vec![
        MixedLayer::Dense(Linear::new(1, 2, 5.0)),
        MixedLayer::Scale(Param::new(3.0)),
    ];
    assert_eq!(paths(&m.state()), ["0/bias", "0/kernel", "1"]);
    let (g, s) = m.split(..).unwrap();
    let back: Vec<MixedLayer> = g.merge(s).unwrap();
    assert!(
        matches!(&back[0], MixedLayer::Dense(l) if *l.kernel == Array2::from_elem((1, 2), 5.0))
    );
    assert!(matches!(&back[1], MixedLayer::Scale(p) if **p == 3.0));
    // The GraphDef still records the variant.
    let a = MixedLayer::Dense(Linear::new(1, 1, 0.0)).graphdef();
    assert!(format!("{a:?}").contains("MixedLayer::Dense"));

    let m = vec![
        OneTransparent::Dense(Linear::new(1, 1, 1.0)),
        OneTransparent::Plain(Linear::new(1, 1, 2.0)),
    ];
    assert_eq!(
        paths(&m.state()),
        ["0/bias", "0/kernel", "1/0/bias", "1/0/kernel"]
    );
    let (g, s) = m.split(..).unwrap();
    let back: Vec<OneTransparent> = g.merge(s).unwrap();
    assert!(
        matches!(&back[0], OneTransparent::Dense(l) if *l.kernel == Array2::from_elem((1, 1), 1.0))
    );
    assert!(
        matches!(&back[1], OneTransparent::Plain(l) if *l.kernel == Array2::from_elem((1, 1), 2.0))
    );
}

#[test]
fn transparent_variant_as_the_root() {
    let m = MixedLayer::Dense(Linear::new(1, 2, 5.0));
    assert_eq!(paths(&m.state()), ["bias", "kernel"]);
    let (g, s) = m.split(..).unwrap();
    assert!(matches!(g.merge(s).unwrap(), MixedLayer::Dense(_)));
    // A later update finds the same paths.
    let mut m = MixedLayer::Dense(Linear::new(1, 2, 0.0));
    m.update(MixedLayer::Dense(Linear::new(1, 2, 4.0)).state())
        .unwrap();
    assert!(matches!(&m, MixedLayer::Dense(l) if *l.kernel == Array2::from_elem((1, 2), 4.0)));
}

#[derive(Module)]
struct Generic<L, S: Clone>
where
    S: std::fmt::Debug,
{
    layer: L,
    extra: Option<L>,
    #[nnx(static)]
    setting: S,
    #[nnx(skip)]
    marker: std::marker::PhantomData<fn() -> S>,
}

#[test]
fn generic_modules() {
    let g = Generic {
        layer: Linear::new(1, 1, 1.0),
        extra: None,
        setting: (3u8, "x".to_string()),
        marker: std::marker::PhantomData,
    };
    assert_eq!(paths(&g.state()), ["layer/bias", "layer/kernel"]);
    let (gd, s) = g.split(..).unwrap();
    let back = gd.merge(s).unwrap();
    assert!(back.extra.is_none());
    assert_eq!(back.setting, (3, "x".to_string()));
    let nested = Generic {
        layer: vec![Param::new(1.0f32)],
        extra: Some(vec![Param::new(2.0f32)]),
        setting: 0.5f64.to_bits(),
        marker: std::marker::PhantomData,
    };
    assert_eq!(paths(&nested.state()), ["extra/0", "layer/0"]);
}

#[derive(Module)]
struct Tied {
    encoder: Shared<Linear>,
    decoder: Shared<Linear>,
    boxed: Box<Param<f32>>,
    fixed: [Param<f32>; 2],
}

#[test]
fn tied_weights_via_shared() {
    let shared = Shared::new(Linear::new(2, 2, 1.0));
    let m = Tied {
        encoder: shared.clone(),
        decoder: shared,
        boxed: Box::new(Param::new(1.0)),
        fixed: [Param::new(2.0), Param::new(3.0)],
    };
    assert_eq!(
        paths(&m.state()),
        [
            "boxed",
            "decoder/bias",
            "decoder/kernel",
            "fixed/0",
            "fixed/1"
        ]
    );
    let dups: Vec<Vec<String>> = m
        .find_duplicates()
        .unwrap()
        .iter()
        .map(|group| group.iter().map(|p| path_string(p)).collect())
        .collect();
    assert_eq!(dups, [["decoder", "encoder"]]);
    let (g, s) = m.split(..).unwrap();
    let back = g.merge(s).unwrap();
    assert!(back.encoder.ptr_eq(&back.decoder));
    *back.encoder.write().bias = Array1::ones(2);
    assert_eq!(*back.decoder.read().bias, Array1::<f32>::ones(2));
    assert_eq!(*back.fixed[1], 3.0);
}

#[derive(Module)]
struct Sowing {
    linear: Linear,
    #[nnx(sow)]
    sown: Sown,
}

impl Sowing {
    fn forward(&mut self, x: f32) -> nnx::Result<()> {
        self.sow(Intermediate, "activations", x)
    }
}

#[derive(Module)]
struct Outer {
    inner: Sowing,
    #[nnx(sow)]
    store: Sown,
}

#[test]
fn sow_stores_at_the_module_path_and_pop_clears() {
    let mut m = Outer {
        inner: Sowing {
            linear: Linear::new(1, 1, 0.0),
            sown: Sown::default(),
        },
        store: Sown::default(),
    };
    m.inner.forward(1.0).unwrap();
    m.inner.forward(2.0).unwrap();
    m.sow(Intermediate, "top", 0.5f32).unwrap();
    let err = m.inner.sow(Intermediate, "linear", 0.0f32).unwrap_err();
    assert!(err.to_string().contains("linear"), "{err}");
    assert_eq!(
        paths(&m.state()),
        [
            "inner/activations",
            "inner/linear/bias",
            "inner/linear/kernel",
            "top"
        ]
    );
    let leaf = m.state();
    let leaf = leaf
        .leaf(&[Key::from("inner"), Key::from("activations")])
        .map(|l| nnx::value::python_repr(&*l.value));
    assert_eq!(
        leaf.as_deref(),
        Some("(Array(1., dtype=float32), Array(2., dtype=float32))")
    );
    // The store survives split/merge.
    let (g, s) = m.split(..).unwrap();
    let mut m: Outer = g.merge(s).unwrap();
    assert!(!m.inner.sown.is_empty());
    let popped = m.pop(Intermediate).unwrap();
    assert_eq!(paths(&popped), ["inner/activations", "top"]);
    assert!(m.inner.sown.is_empty() && m.store.is_empty());
    assert_eq!(
        paths(&m.state()),
        ["inner/linear/bias", "inner/linear/kernel"]
    );
}

#[derive(Module)]
struct Dropout {
    #[nnx(static)]
    deterministic: bool,
    rate: f32,
}

#[derive(Module)]
struct Norm {
    use_running_average: bool,
    mean: BatchStat<Array1<f32>>,
}

#[derive(Module)]
struct Block(Dropout, Norm);

#[derive(Module)]
struct Net {
    blocks: Vec<Block>,
    head: Dropout,
}

#[test]
fn set_attributes_train_eval_over_nested_graph() {
    let block = || {
        Block(
            Dropout {
                deterministic: false,
                rate: 0.1,
            },
            Norm {
                use_running_average: false,
                mean: BatchStat::new(Array1::zeros(1)),
            },
        )
    };
    let mut net = Net {
        blocks: vec![block(), block()],
        head: Dropout {
            deterministic: false,
            rate: 0.5,
        },
    };
    net.eval().unwrap();
    assert!(net.head.deterministic && net.blocks[1].0.deterministic);
    assert!(net.blocks.iter().all(|b| b.1.use_running_average));
    net.train().unwrap();
    assert!(!net.head.deterministic && !net.blocks[0].1.use_running_average);
    assert_eq!(net.set_attributes("rate", 0.0f32).unwrap(), 3);
    assert_eq!(net.blocks[1].0.rate, 0.0);
    assert!(net.set_attributes("rate", 1u8).is_err());
    assert!(net.set_attributes("missing", 1u8).is_err());
}
