//! Checkpoint round trips, strict/lenient module loading and hostile input.

use std::collections::BTreeMap;

use ndarray::{arr1, arr2, Array1, Array2, ArrayD, IxDyn};
use nnx_core::checkpoint::{self, LoadOptions};
use nnx_core::prelude::*;
use nnx_core::{Error, Intermediate, MetaValue, Metadata, RngCount, RngKey, RngState};

fn k(s: &'static str) -> Key {
    Key::from(s)
}

fn leaf(kind: nnx_core::Kind, v: impl Value) -> VariableState {
    VariableState::new(kind, v)
}

/// Values that come back as the same Rust type: `ArrayD` and scalars.
fn every_dtype_state() -> State {
    let d = |s: &[usize]| IxDyn(s);
    State::from_flat(vec![
        (
            vec![k("f32")],
            leaf(
                Param,
                ArrayD::from_shape_vec(
                    d(&[2, 3]),
                    vec![1.5f32, -0.0, f32::NAN, f32::INFINITY, 5.0, 6.0],
                )
                .unwrap(),
            ),
        ),
        (
            vec![k("f64")],
            leaf(
                Param,
                ArrayD::from_shape_vec(d(&[3]), vec![0.1f64, -1e300, 2.0]).unwrap(),
            ),
        ),
        (
            vec![k("i32")],
            leaf(
                BatchStat,
                ArrayD::from_shape_vec(d(&[1, 2]), vec![i32::MIN, i32::MAX]).unwrap(),
            ),
        ),
        (
            vec![k("i64")],
            leaf(
                Cache,
                ArrayD::from_shape_vec(d(&[2]), vec![i64::MIN, 7]).unwrap(),
            ),
        ),
        (
            vec![k("u8")],
            leaf(
                Intermediate,
                ArrayD::from_shape_vec(d(&[2, 1, 2]), vec![0u8, 1, 254, 255]).unwrap(),
            ),
        ),
        (
            vec![k("u32")],
            leaf(
                RngKey,
                ArrayD::from_shape_vec(d(&[2]), vec![0u32, u32::MAX]).unwrap(),
            ),
        ),
        (
            vec![k("bool")],
            leaf(
                nnx_core::Perturbation,
                ArrayD::from_shape_vec(d(&[3]), vec![true, false, true]).unwrap(),
            ),
        ),
        (
            vec![k("empty")],
            leaf(Param, ArrayD::<f32>::zeros(d(&[0, 4]))),
        ),
        (
            vec![k("zero_d")],
            leaf(Param, ArrayD::from_elem(d(&[]), 3i64)),
        ),
        (vec![k("s"), k("f32")], leaf(RngCount, 2.5f32)),
        (vec![k("s"), k("f64")], leaf(RngState, -2.5f64)),
        (vec![k("s"), k("i32")], leaf(nnx_core::Variable, -3i32)),
        (vec![k("s"), k("i64")], leaf(Param, 1i64 << 40)),
        (vec![k("s"), k("u8")], leaf(Param, 9u8)),
        (vec![k("s"), k("u32")], leaf(RngCount, 42u32)),
        (vec![k("s"), k("bool")], leaf(Param, true)),
    ])
    .unwrap()
}

fn all_meta() -> Metadata {
    let mut m = Metadata::new();
    m.insert("z_first", MetaValue::None);
    m.insert("flag", true);
    m.insert("int", -7i64);
    m.insert("float", 1e-5);
    m.insert("whole", 2.0);
    m.insert("nan", f64::NAN);
    m.insert("inf", f64::NEG_INFINITY);
    m.insert("str", "it's \"quoted\" ✓");
    m.insert("axis_names", ("in", "out"));
    m.insert(
        "list",
        MetaValue::List(vec![1.into(), MetaValue::Tuple(vec![]), vec![0.5].into()]),
    );
    m
}

/// NaN != NaN, so compare bit patterns of the data, and everything else exactly.
fn assert_same(a: &State, b: &State) {
    let (fa, fb) = (a.flat_state(), b.flat_state());
    assert_eq!(fa.paths(), fb.paths());
    for ((_, x), (p, y)) in fa.iter().zip(fb.iter()) {
        assert_eq!(x.kind, y.kind, "{p:?}");
        assert_eq!(
            format!("{:?}", x.metadata),
            format!("{:?}", y.metadata),
            "{p:?}"
        );
        assert_eq!(x.value.type_name(), y.value.type_name(), "{p:?}");
        assert_eq!(x.value.shape_of(), y.value.shape_of(), "{p:?}");
        assert_eq!(
            nnx_core::value::python_repr(&*x.value),
            nnx_core::value::python_repr(&*y.value),
            "{p:?}"
        );
    }
}

#[test]
fn every_dtype_and_variable_type_round_trips() {
    let state = every_dtype_state();
    let bytes = checkpoint::save_state_to_bytes(&state).unwrap();
    let back = checkpoint::load_state_from_bytes(&bytes).unwrap();
    assert_same(&state, &back);
    // Without NaN the State equality holds exactly.
    let no_nan = State::from_flat(
        state
            .into_flat()
            .into_iter()
            .filter(|(p, _)| p != &[k("f32")]),
    )
    .unwrap();
    assert_eq!(
        checkpoint::load_state_from_bytes(&checkpoint::save_state_to_bytes(&no_nan).unwrap())
            .unwrap(),
        no_nan
    );
}

#[test]
fn metadata_of_every_kind_round_trips_in_order() {
    let mut l = leaf(Param, 1.0f32);
    l.metadata = all_meta();
    let state = State::from_flat(vec![(vec![k("w")], l)]).unwrap();
    let back = checkpoint::load_state_from_bytes(&checkpoint::save_state_to_bytes(&state).unwrap())
        .unwrap();
    assert_same(&state, &back);
    let m = &back.leaf(&[k("w")]).unwrap().metadata;
    assert_eq!(
        m.keys().collect::<Vec<_>>(),
        all_meta().keys().collect::<Vec<_>>()
    );
    assert!(matches!(m.get("whole"), Some(MetaValue::Float(x)) if *x == 2.0));
    assert!(matches!(m.get("nan"), Some(MetaValue::Float(x)) if x.is_nan()));
}

#[test]
fn paths_with_int_keys_digits_and_dots_round_trip() {
    let state = State::from_flat(vec![
        (
            vec![k("encoder"), k("layers"), Key::from(0usize), k("kernel")],
            leaf(Param, arr2(&[[1.0f32]]).into_dyn()),
        ),
        (vec![k("m"), k("0")], leaf(Param, 1u8)),
        (vec![k("dotted.name")], leaf(Param, 2u8)),
    ])
    .unwrap();
    let bytes = checkpoint::save_state_to_bytes(&state).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = st.names();
    names.sort();
    assert_eq!(names, ["dotted.name", "encoder.layers.0.kernel", "m.0"]);
    assert_eq!(checkpoint::load_state_from_bytes(&bytes).unwrap(), state);
}

#[test]
fn file_round_trip() {
    let state = every_dtype_state();
    let file =
        std::env::temp_dir().join(format!("nnx-test-file-{}.safetensors", std::process::id()));
    checkpoint::save_state(&state, &file).unwrap();
    assert_eq!(
        std::fs::read(&file).unwrap(),
        checkpoint::save_state_to_bytes(&state).unwrap()
    );
    assert_same(&state, &checkpoint::load_state(&file).unwrap());
    std::fs::remove_file(&file).unwrap();
    assert!(matches!(
        checkpoint::load_state(&file),
        Err(Error::Io { .. })
    ));
}

/// Over 16 MiB of tensor data: the loader reads the two halves on two threads
/// (with a handle each); every value still lands at its own path.
#[test]
fn large_checkpoints_round_trip_through_two_reading_threads() {
    let big = |seed: f32| {
        Array2::from_shape_fn((1024, 1024), |(i, j)| seed + (i * 1024 + j) as f32).into_dyn()
    };
    let state = State::from_flat(vec![
        (vec![k("a"), k("kernel")], leaf(Param, big(0.5))),
        (vec![k("b"), k("kernel")], leaf(Param, big(-3.0))),
        (vec![k("c"), k("kernel")], leaf(Param, big(7.0))),
        (
            vec![k("c"), k("mask")],
            leaf(BatchStat, arr1(&[true, false, true]).into_dyn()),
        ),
        (vec![k("d"), k("kernel")], leaf(Param, big(1e6))),
        (vec![k("steps")], leaf(BatchStat, 3i64)),
    ])
    .unwrap();
    let file =
        std::env::temp_dir().join(format!("nnx-test-large-{}.safetensors", std::process::id()));
    checkpoint::save_state(&state, &file).unwrap();
    assert_eq!(checkpoint::load_state(&file).unwrap(), state);
    std::fs::remove_file(&file).unwrap();
    let bytes = checkpoint::save_state_to_bytes(&state).unwrap();
    assert_eq!(checkpoint::load_state_from_bytes(&bytes).unwrap(), state);
}

#[test]
fn non_array_values_and_name_clashes_are_errors() {
    let state = State::from_flat(vec![
        (vec![k("sown")], leaf(Intermediate, vec![1.0f32, 2.0])),
        (vec![k("a.b")], leaf(Param, 1.0f32)),
        (vec![k("a"), k("b")], leaf(Param, 1.0f32)),
    ])
    .unwrap();
    let err = checkpoint::save_state_to_bytes(&state)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checkpoint error at sown: expected a single array or scalar"),
        "{err}"
    );
    assert!(err.contains("checkpoint error at a.b"), "{err}");
}

#[test]
fn foreign_files_without_entries_load_as_variables() {
    let data: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
    let view =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &data).unwrap();
    let bytes = safetensors::serialize([("1.w", view)], None).unwrap();
    let state = checkpoint::load_state_from_bytes(&bytes).unwrap();
    let l = state.leaf(&[Key::from(1usize), k("w")]).unwrap();
    assert_eq!(l.kind, nnx_core::Variable);
    assert_eq!(
        l.value
            .as_any()
            .downcast_ref::<ArrayD<f32>>()
            .unwrap()
            .as_slice()
            .unwrap(),
        [1.0, 2.0]
    );
    // Into a module, the module's Variable type is taken.
    let mut m = BTreeMap::new();
    m.insert("w".to_string(), Param::new(arr1(&[0.0f32, 0.0])));
    let mut model2 = vec![BTreeMap::new(), m];
    let report =
        checkpoint::load_into_from_bytes_with(&mut model2, &bytes, LoadOptions::default()).unwrap();
    assert_eq!(report.loaded, ["1.w"]);
    assert_eq!(model2[1]["w"][1], 2.0);
}

#[test]
fn unknown_variable_type_needs_a_resolver() {
    static MINE: nnx_core::KindInfo =
        nnx_core::KindInfo::new("Mine", Some(nnx_core::Param.info()), None);
    let mine = nnx_core::Kind::from_static(&MINE);
    let state = State::from_flat(vec![(vec![k("w")], leaf(mine, 1.0f32))]).unwrap();
    let bytes = checkpoint::save_state_to_bytes(&state).unwrap();
    let err = checkpoint::load_state_from_bytes(&bytes)
        .unwrap_err()
        .to_string();
    assert_eq!(err, "checkpoint error at w: expected a known Variable type (pass a resolver for your own), found type \"Mine\"");
    let r = |n: &str| {
        if n == "Mine" {
            Some(mine)
        } else {
            checkpoint::builtin_kind(n)
        }
    };
    assert_eq!(
        checkpoint::load_state_from_bytes_with(&bytes, &r).unwrap(),
        state
    );
    for name in [
        "Variable",
        "Param",
        "BatchStat",
        "Cache",
        "Intermediate",
        "Perturbation",
        "RngState",
        "RngKey",
        "RngCount",
    ] {
        assert_eq!(checkpoint::builtin_kind(name).map(|k| k.name()), Some(name));
    }
}

// ---- modules ----

fn stats(v: f32) -> Vec<BTreeMap<String, BatchStat<Array1<f32>>>> {
    let mut m = BTreeMap::new();
    m.insert("mean".to_string(), BatchStat::new(Array1::from_elem(3, v)));
    m.insert(
        "var".to_string(),
        BatchStat::new(Array1::from_elem(3, v + 1.0)),
    );
    vec![m]
}

#[test]
fn container_modules_round_trip_into_typed_fields() {
    let mut m = BTreeMap::new();
    m.insert("b".to_string(), Param::new(arr1(&[1.0f64, 2.0])));
    let trained = vec![
        Param::new(Array2::from_elem((2, 3), 4.0f32)),
        Param::new(Array2::from_elem((1, 1), 5.0f32)),
    ];
    let bytes = checkpoint::save_state_to_bytes(&trained.state()).unwrap();
    let mut fresh = vec![
        Param::new(Array2::<f32>::zeros((2, 3))),
        Param::new(Array2::<f32>::zeros((1, 1))),
    ];
    let report =
        checkpoint::load_into_from_bytes_with(&mut fresh, &bytes, LoadOptions::default()).unwrap();
    assert_eq!(report.loaded, ["0", "1"]);
    assert!(report.is_complete());
    assert_eq!(fresh.state(), trained.state());

    let mut bm = BTreeMap::new();
    bm.insert("b".to_string(), Param::new(arr1(&[0.0f64, 0.0])));
    let mut opt = Some(Param::new(0i64));
    let mut nested = stats(0.0);
    for (bytes, model) in [
        (
            checkpoint::save_state_to_bytes(&m.state()).unwrap(),
            &mut bm as &mut dyn FnMutModule,
        ),
        (
            checkpoint::save_state_to_bytes(&Some(Param::new(9i64)).state()).unwrap(),
            &mut opt,
        ),
        (
            checkpoint::save_state_to_bytes(&stats(2.0).state()).unwrap(),
            &mut nested,
        ),
    ] {
        model.load(&bytes);
    }
    assert_eq!(bm["b"][1], 2.0);
    assert_eq!(*opt.unwrap(), 9);
    assert_eq!(nested.state(), stats(2.0).state());
}

/// Object-safe helper so one loop can load into different container types.
trait FnMutModule {
    fn load(&mut self, bytes: &[u8]);
}
impl<M: Module> FnMutModule for M {
    fn load(&mut self, bytes: &[u8]) {
        checkpoint::load_into_from_bytes_with(self, bytes, LoadOptions::default()).unwrap();
    }
}

#[test]
fn strict_errors_name_path_and_both_sides() {
    // Build a model state as BTreeMap<String, Vec<...>> containers: a single
    // module type holding Param<Array2<f32>> under several paths.
    let mut model: BTreeMap<String, Vec<Param<Array2<f32>>>> = BTreeMap::new();
    model.insert(
        "a".into(),
        vec![
            Param::new(Array2::zeros((2, 2))),
            Param::new(Array2::zeros((2, 2))),
        ],
    );
    model.insert("b".into(), vec![Param::new(Array2::zeros((1, 3)))]);
    let before = model.state();
    let mut flat = before.clone().into_flat();
    // a.0: wrong Variable type; a.1: missing; b.0: wrong shape and dtype; extra: unexpected.
    flat[0].1 = leaf(BatchStat, ArrayD::<f32>::zeros(IxDyn(&[2, 2])));
    flat.remove(1);
    flat[1].1 = leaf(Param, ArrayD::<f64>::zeros(IxDyn(&[3, 1])));
    flat.push((vec![k("extra")], leaf(Cache, 1u32)));
    let bytes = checkpoint::save_state_to_bytes(&State::from_flat(flat).unwrap()).unwrap();

    let err = checkpoint::load_into_from_bytes_with(&mut model, &bytes, LoadOptions::default())
        .unwrap_err();
    let Error::Many(errors) = &err else {
        panic!("{err}")
    };
    let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        msgs,
        [
            "Variable type mismatch at a.0: expected Param, found BatchStat",
            "missing Variable at a.1: expected a Param (float32 (2, 2)), found nothing in the given states",
            "dtype mismatch at b.0: expected float32, found float64",
            "shape mismatch at b.0: expected (1, 3), found (3, 1)",
            "unexpected Variable at extra: expected no Variable there, found a Cache (uint32 ())",
        ]
    );
    // Strict: nothing changed.
    assert_eq!(model.state(), before);

    // Lenient: nothing here fits; every problem is reported.
    let report =
        checkpoint::load_into_from_bytes_with(&mut model, &bytes, LoadOptions { strict: false })
            .unwrap();
    assert_eq!(report.missing, ["a.1"]);
    assert_eq!(report.unexpected, ["extra"]);
    assert!(report.loaded.is_empty());
    assert_eq!(report.problems.len(), 5);
}

#[test]
fn lenient_loads_what_fits() {
    let mut model = vec![
        Param::new(Array2::<f32>::zeros((2, 2))),
        Param::new(Array2::<f32>::zeros((2, 2))),
        Param::new(Array2::<f32>::zeros((2, 2))),
    ];
    let src = vec![
        Param::new(Array2::from_elem((2, 2), 1.0f32)),
        Param::new(Array2::from_elem((3, 2), 2.0f32)),
    ];
    let bytes = checkpoint::save_state_to_bytes(&src.state()).unwrap();
    let report =
        checkpoint::load_into_from_bytes_with(&mut model, &bytes, LoadOptions { strict: false })
            .unwrap();
    assert_eq!(report.loaded, ["0"]);
    assert_eq!(report.missing, ["2"]);
    assert!(report.unexpected.is_empty());
    assert_eq!(report.problems.len(), 2);
    assert_eq!(
        report.problems[0].to_string(),
        "shape mismatch at 1: expected (2, 2), found (3, 2)"
    );
    assert_eq!(model[0][[1, 1]], 1.0);
    assert_eq!(model[1][[1, 1]], 0.0);
}

#[test]
fn rank_mismatch_against_a_typed_field_is_a_shape_error() {
    let mut model = vec![Param::new(Array2::<f32>::zeros((2, 2)))];
    let src = State::from_flat(vec![(
        vec![Key::from(0usize)],
        leaf(Param, ArrayD::<f32>::zeros(IxDyn(&[4]))),
    )])
    .unwrap();
    let bytes = checkpoint::save_state_to_bytes(&src).unwrap();
    let err = checkpoint::load_into_from_bytes_with(&mut model, &bytes, LoadOptions::default())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "shape mismatch at 0: expected (2, 2), found (4,)"
    );
}

#[test]
fn module_files_round_trip() {
    let file = std::env::temp_dir().join(format!(
        "nnx-test-module-{}.safetensors",
        std::process::id()
    ));
    checkpoint::save(&stats(5.0), &file).unwrap();
    let mut fresh = stats(0.0);
    let report = checkpoint::load_into(&mut fresh, &file).unwrap();
    assert_eq!(report.loaded, ["0.mean", "0.var"]);
    assert_eq!(fresh.state(), stats(5.0).state());
    std::fs::remove_file(&file).unwrap();
}

// ---- hostile input ----

fn small_valid() -> Vec<u8> {
    let mut l = leaf(Param, arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn());
    l.metadata.insert("t", ("a", 1));
    checkpoint::save_state_to_bytes(
        &State::from_flat(vec![
            (vec![k("w")], l),
            (
                vec![k("b")],
                leaf(BatchStat, ArrayD::from_elem(IxDyn(&[3]), true)),
            ),
            (vec![k("n")], leaf(RngCount, 3u32)),
        ])
        .unwrap(),
    )
    .unwrap()
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = small_valid();
    assert!(checkpoint::load_state_from_bytes(&bytes).is_ok());
    for n in 0..bytes.len() {
        assert!(
            checkpoint::load_state_from_bytes(&bytes[..n]).is_err(),
            "prefix {n}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(checkpoint::load_state_from_bytes(&longer).is_err());
    // The file reader checks sizes itself (it never holds the whole file).
    let file =
        std::env::temp_dir().join(format!("nnx-test-trunc-{}.safetensors", std::process::id()));
    for n in (0..bytes.len()).step_by(5).chain([bytes.len() - 1]) {
        std::fs::write(&file, &bytes[..n]).unwrap();
        assert!(checkpoint::load_state(&file).is_err(), "file prefix {n}");
    }
    std::fs::write(&file, &longer).unwrap();
    assert!(checkpoint::load_state(&file).is_err());
    std::fs::write(&file, &bytes).unwrap();
    assert!(checkpoint::load_state(&file).is_ok());
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn random_byte_flips_never_panic() {
    let bytes = small_valid();
    // xorshift: deterministic, no dependency.
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut errs = 0;
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..(next() % 4 + 1) {
            let i = (next() % b.len() as u64) as usize;
            b[i] ^= 1 << (next() % 8);
        }
        if checkpoint::load_state_from_bytes(&b).is_err() {
            errs += 1;
        }
        let mut model = vec![Param::new(0.0f32)];
        let _ =
            checkpoint::load_into_from_bytes_with(&mut model, &b, LoadOptions { strict: false });
    }
    assert!(errs > 0);
}

fn with_header(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A file with one U8 tensor `w` (shape `[data.len()]`, or `[]` for one byte)
/// and the given text as the `nnx` entries.
fn with_entries(entries: &str, data: &[u8]) -> Vec<u8> {
    let shape: Vec<usize> = if data.len() == 1 {
        vec![]
    } else {
        vec![data.len()]
    };
    let header = serde_json::json!({
        "__metadata__": { "nnx": entries },
        "w": { "dtype": "U8", "shape": shape, "data_offsets": [0, data.len()] },
    });
    with_header(&header.to_string(), data)
}

#[test]
fn malicious_headers_are_errors() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (u64::MAX.to_le_bytes().to_vec(), "at most"),
        (((64u64 << 20) + 1).to_le_bytes().to_vec(), "at most"),
        (
            with_header(
                r#"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#,
                &[],
            ),
            "header",
        ),
        (
            with_header(
                r#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
            "header",
        ),
        (
            with_header(
                r#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
            "dtype F16",
        ),
        (
            with_header(
                r#"{"w":{"dtype":"XX","shape":[2],"data_offsets":[0,4]}}"#,
                &[0; 4],
            ),
            "header",
        ),
        (
            with_header(
                r#"{"w":{"dtype":"BOOL","shape":[2],"data_offsets":[0,2]}}"#,
                &[1, 7],
            ),
            "bool bytes",
        ),
        (with_entries("not json", &[1]), "per-tensor entries"),
        (with_entries(r#"{"w": 3}"#, &[1]), "JSON entry"),
        (
            with_entries(r#"{"w": {"type": "Param", "path": ["v"]}}"#, &[1]),
            "joins to the tensor's name",
        ),
        (
            with_entries(
                r#"{"w": {"type": "Param", "path": ["w"], "metadata": {"x": {"bad": 1}}}}"#,
                &[1],
            ),
            "metadata 'x'",
        ),
        (
            with_entries(
                r#"{"w": {"type": "Param", "path": ["w"], "scalar": true}}"#,
                &[1, 2],
            ),
            "0-d tensor",
        ),
        (
            with_entries(
                r#"{"w": {"type": "Param", "path": ["w"]}, "v": {"type": "Param", "path": ["v"]}}"#,
                &[1],
            ),
            "without a tensor",
        ),
        (
            with_entries(
                r#"{"w": {"type": "Param", "path": ["w"], "extra": 1}}"#,
                &[1],
            ),
            "unknown field",
        ),
        (
            with_header(
                r#"{"a":{"dtype":"U8","shape":[],"data_offsets":[0,1]},"a.b":{"dtype":"U8","shape":[],"data_offsets":[1,2]}}"#,
                &[1, 2],
            ),
            "prefix",
        ),
        (
            with_header(
                r#"{"w":{"dtype":"U8","shape":[0,18446744073709551615,18446744073709551615],"data_offsets":[0,0]}}"#,
                &[],
            ),
            "shape",
        ),
    ];
    for (bytes, needle) in cases {
        let err = checkpoint::load_state_from_bytes(&bytes)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

/// The fuzz seeds (`fuzz/corpus/load_state/`) are small valid checkpoints made
/// here; `NNX_WRITE_FUZZ_SEEDS=1 cargo test -p nnx-core --test checkpoint fuzz_seeds`
/// rewrites them. Otherwise the test checks that each still loads.
#[test]
fn fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/load_state");
    let mut meta_leaf = leaf(Param, arr1(&[1.0f32, -2.0]).into_dyn());
    meta_leaf.metadata = all_meta();
    let seeds = [
        ("small", small_valid()),
        (
            "metadata",
            checkpoint::save_state_to_bytes(
                &State::from_flat(vec![(vec![k("w")], meta_leaf)]).unwrap(),
            )
            .unwrap(),
        ),
        (
            "dtypes",
            checkpoint::save_state_to_bytes(&every_dtype_state()).unwrap(),
        ),
        (
            "empty",
            checkpoint::save_state_to_bytes(&State::new()).unwrap(),
        ),
    ];
    if std::env::var_os("NNX_WRITE_FUZZ_SEEDS").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in &seeds {
            std::fs::write(dir.join(format!("{name}.safetensors")), bytes).unwrap();
        }
    }
    for (name, _) in &seeds {
        let file = dir.join(format!("{name}.safetensors"));
        if file.exists() {
            assert!(checkpoint::load_state(&file).is_ok(), "{name}");
        }
    }
}

#[cfg(feature = "serde")]
#[test]
fn serde_json_round_trip() {
    let mut l = leaf(Param, arr1(&[1.0f32, 2.0]).into_dyn());
    l.metadata = all_meta();
    let mut flat = every_dtype_state().into_flat();
    flat.push((vec![k("meta"), Key::from(3usize), k("type")], l));
    let state = State::from_flat(flat).unwrap();
    let json = serde_json::to_string_pretty(&state).unwrap();
    let back: State = serde_json::from_str(&json).unwrap();
    assert_same(&state, &back);
    assert!(json.contains(r#""dtype": "float32""#), "{json}");
    for bad in [
        r#"{"w": {"type": "Nope", "value": {"dtype": "int32", "shape": [], "data": [1]}}}"#,
        r#"{"w": {"type": "Param", "value": {"dtype": "int32", "shape": [2], "data": [1]}}}"#,
        r#"{"w": {"type": "Param", "value": {"dtype": "uint8", "shape": [1], "data": [300]}}}"#,
        r#"{"w": {"type": "Param", "value": {"dtype": "bfloat16", "shape": [], "data": [1]}}}"#,
    ] {
        assert!(serde_json::from_str::<State>(bad).is_err(), "{bad}");
    }
    let sown = State::from_flat(vec![(vec![k("s")], leaf(Intermediate, vec![1.0f32]))]).unwrap();
    assert!(serde_json::to_string(&sown).is_err());
}

#[test]
fn rng_streams_round_trip_through_a_checkpoint() {
    use nnx_core::rngs::Rngs;
    let mut rngs = Rngs::new(3).with("dropout", 7);
    rngs.next_key("dropout").unwrap();
    let bytes = nnx_core::checkpoint::save_state_to_bytes(&rngs.state()).unwrap();
    let mut fresh = Rngs::new(0).with("dropout", 0);
    nnx_core::checkpoint::load_into_from_bytes_with(
        &mut fresh,
        &bytes,
        nnx_core::checkpoint::LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(fresh.state(), rngs.state());
    assert_eq!(
        fresh.next_key("dropout").unwrap(),
        rngs.next_key("dropout").unwrap()
    );
}

#[derive(Module)]
struct Restorable {
    kernel: Param<Array2<f32>>,
    bias: Param<Array1<f32>>,
    rngs: Rngs,
}

fn restorable(fill: f32, seed: i64) -> Restorable {
    Restorable {
        kernel: Param::new(Array2::from_elem((2, 3), fill)),
        bias: Param::new(Array1::from_elem(3, fill)),
        rngs: Rngs::new(seed),
    }
}

#[test]
fn a_loaded_state_updates_and_merges_into_declared_types() {
    let trained = restorable(7.0, 3);
    let bytes = checkpoint::save_state_to_bytes(&trained.state()).unwrap();
    let loaded = checkpoint::load_state_from_bytes(&bytes).unwrap();
    // Loaded values are dynamic-rank arrays and raw key data.
    let kernel = loaded.leaf(&[k("kernel")]).unwrap();
    assert!(kernel.value.as_any().is::<ArrayD<f32>>());

    // update: each value takes the field's declared type.
    let mut model = restorable(0.0, 0);
    model.update(loaded.clone()).unwrap();
    assert_eq!(model.kernel[[1, 2]], 7.0);
    assert_eq!(model.bias[2], 7.0);
    assert_eq!(model.state(), trained.state());

    // merge: the same, from the GraphDef's declared types.
    let graphdef = restorable(0.0, 0).graphdef();
    let merged: Restorable = graphdef.merge(loaded.clone()).unwrap();
    assert_eq!(merged.state(), trained.state());

    // A real mismatch still fails, atomically, and says what would fit.
    let mut small = Restorable {
        kernel: Param::new(Array2::zeros((3, 3))),
        ..restorable(0.0, 0)
    };
    let before = small.state();
    let err = small.update(loaded.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "shape mismatch at kernel: expected (3, 3), found (2, 3)"
    );
    assert_eq!(small.state(), before);
    let err = small.graphdef().merge(loaded).err().unwrap();
    assert_eq!(
        err.to_string(),
        "shape mismatch at kernel: expected (3, 3), found (2, 3)"
    );
}

#[test]
fn a_value_without_the_slots_data_names_what_would_fit() {
    let mut model = vec![Param::new(Array2::<f32>::zeros((2, 2)))];
    let wrong = State::from_flat(vec![(
        vec![Key::from(0usize)],
        leaf(Param, nnx_core::value::Shape(vec![2, 2])),
    )])
    .unwrap();
    let err = model.update(wrong.clone()).unwrap_err().to_string();
    assert!(
        err.starts_with("type mismatch at 0: expected Array2<f32>"),
        "{err}"
    );
    assert!(err.contains("(or any array of float32 (2, 2))"), "{err}");
    let err = model.graphdef().merge(wrong).err().unwrap().to_string();
    assert!(err.contains("(or any array of float32 (2, 2))"), "{err}");
    // An f64 array of the right shape: the dtype is what is wrong.
    let f64s = State::from_flat(vec![(
        vec![Key::from(0usize)],
        leaf(Param, ArrayD::<f64>::zeros(IxDyn(&[2, 2]))),
    )])
    .unwrap();
    assert_eq!(
        model.update(f64s).unwrap_err().to_string(),
        "dtype mismatch at 0: expected float32, found float64"
    );
}

#[test]
fn states_that_overlap_are_refused_by_name() {
    let mut model = vec![Param::new(1.0f32)];
    let a = State::from_flat(vec![(vec![Key::from(0usize)], leaf(Param, 2.0f32))]).unwrap();
    let b = State::from_flat(vec![(
        vec![Key::from(0usize), Key::from("x")],
        leaf(Param, 3.0f32),
    )])
    .unwrap();
    let err = model.update((a, b)).unwrap_err().to_string();
    assert!(
        err.contains("a leaf at 0 in one State and one at 0/x in another"),
        "{err}"
    );
    assert_eq!(*model[0], 1.0);
}
