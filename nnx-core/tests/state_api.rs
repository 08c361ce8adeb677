//! Issue 12 items 2 and 5: tree-map over States that can update the model, and
//! State access by path, typed, in place; sown and popped values read back typed.

use ndarray::{arr1, arr2, Array1, Array2};
use nnx_core::prelude::*;
use nnx_core::Error;

#[derive(Module)]
struct Mlp {
    l1: Dense,
    l2: Dense,
    #[nnx(sow)]
    sown: Sown,
}

#[derive(Module)]
struct Dense {
    kernel: Param<Array2<f32>>,
    bias: Param<Array1<f32>>,
    count: BatchStat<u32>,
}

fn dense(k: Array2<f32>, b: Array1<f32>) -> Dense {
    Dense {
        kernel: Param::new(k),
        bias: Param::new(b),
        count: BatchStat::new(0),
    }
}

fn mlp() -> Mlp {
    Mlp {
        l1: dense(arr2(&[[1.0, 2.0], [3.0, 4.0]]), arr1(&[0.5, -0.5])),
        l2: dense(arr2(&[[1.0], [-1.0]]), arr1(&[2.0])),
        sown: Sown::default(),
    }
}

#[test]
fn map_arrays_keeps_value_types_so_update_accepts_it() {
    let mut m = mlp();
    let doubled = m.state_of(Param).map_arrays(|a| a * 2.0).unwrap();
    // Each leaf kept its Rust type, Variable type and metadata.
    assert_eq!(
        doubled.get::<Array2<f32>>("l1/kernel").unwrap(),
        &arr2(&[[2.0, 4.0], [6.0, 8.0]])
    );
    assert_eq!(
        doubled.get::<Array1<f32>>("l2/bias").unwrap(),
        &arr1(&[4.0])
    );
    assert_eq!(doubled["l1/bias"].kind, nnx_core::Param);
    m.update(doubled).unwrap();
    assert_eq!(*m.l2.kernel, arr2(&[[2.0], [-2.0]]));
    assert_eq!(*m.l1.bias, arr1(&[1.0, -1.0]));
}

#[test]
fn map_arrays_rejects_non_float_leaves_and_rank_changes_by_path() {
    let m = mlp();
    // The u32 counters are not float32 arrays: both reported, nothing returned.
    let err = m.state().map_arrays(|a| a * 2.0).unwrap_err();
    let Error::Many(errors) = &err else {
        panic!("expected two errors, got {err}")
    };
    let paths: Vec<String> = errors
        .iter()
        .map(|e| match e {
            Error::DTypeMismatch { path, .. } => path.to_string(),
            other => panic!("unexpected {other}"),
        })
        .collect();
    assert_eq!(paths, ["l1/count", "l2/count"]);
    // A result of another rank cannot be an Array2 again.
    let err = m
        .state_of(Param)
        .map_arrays(|a| a.iter().copied().collect::<Array1<f32>>().into_dyn());
    let text = err.unwrap_err().to_string();
    assert!(
        text.contains("shape mismatch at l1/kernel: expected a result that fits"),
        "{text}"
    );
    assert!(text.contains("(rank 2), found float32(4,)"), "{text}");
}

#[test]
fn zip_map_params_and_grads_then_update() {
    let mut m = mlp();
    let params = m.state_of(Param);
    let grads = params.map_arrays(|a| a.mapv(|_| 1.0)).unwrap();
    let stepped = params.zip_map(&grads, |p, g| p - &(g * 0.5)).unwrap();
    m.update(stepped).unwrap();
    assert_eq!(*m.l1.kernel, arr2(&[[0.5, 1.5], [2.5, 3.5]]));
    assert_eq!(*m.l2.bias, arr1(&[1.5]));
}

#[test]
fn zip_map_names_every_structural_difference() {
    let m = mlp();
    let params = m.state_of(Param);
    let mut other = mlp();
    *other.l2.kernel = Array2::zeros((3, 1));
    let other_state = other.state(); // also has the BatchStat counters
    let err = params
        .zip_map(&other_state, |p, g| p + g)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("shape mismatch at l2/kernel: expected (2, 1), found (3, 1)"),
        "{err}"
    );
    assert!(err.contains("unexpected Variable at l1/count"), "{err}");
    assert!(err.contains("unexpected Variable at l2/count"), "{err}");
    // A path missing from the second State, and another Variable type.
    let only_l1 = params.sub_path("l1").unwrap();
    let err = only_l1
        .zip_map(&m.state_of(BatchStat), |p, g| p + g)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing Variable at bias"), "{err}");
    let as_stats = State::from_flat(params.clone().into_flat().into_iter().map(|(p, mut l)| {
        l.kind = nnx_core::BatchStat;
        (p, l)
    }))
    .unwrap();
    let err = params
        .zip_map(&as_stats, |p, g| p + g)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Variable type mismatch at l1/bias: expected Param, found BatchStat"),
        "{err}"
    );
}

#[test]
fn access_by_path_typed_and_in_place() {
    let mut m = mlp();
    let mut state = m.state();
    assert_eq!(state["l1/kernel"].value.shape_of(), Some(vec![2, 2]));
    assert_eq!(state.get::<u32>("l2/count").unwrap(), &0);
    state.set("l1/bias", arr1(&[9.0f32, 9.0])).unwrap();
    m.update(state.clone()).unwrap();
    assert_eq!(*m.l1.bias, arr1(&[9.0, 9.0]));

    // Every failure names the path, the expected and the found thing, and changes nothing.
    let before = state.clone();
    let e = state.get::<Array1<f32>>("l1/kernel").unwrap_err();
    assert!(
        matches!(&e, Error::TypeMismatch { path, .. } if path.to_string() == "l1/kernel"),
        "{e}"
    );
    let e = state.get_path("l1/kernl").unwrap_err().to_string();
    assert_eq!(
        e,
        "missing Variable at l1/kernl: expected a Variable (the keys at l1 are 'bias', 'count', \
         'kernel'), found nothing in the given states"
    );
    let e = state.get_path("l1/kernel/x").unwrap_err().to_string();
    assert!(
        e.contains("at l1/kernel there is a Param leaf, not a sub-State"),
        "{e}"
    );
    let e = state.get_path("l1").unwrap_err().to_string();
    assert!(
        e.contains("expected a Variable, found a sub-State with keys 'bias'"),
        "{e}"
    );
    let e = state.set("l1/bias", arr1(&[1.0f32])).unwrap_err();
    assert!(matches!(e, Error::ShapeMismatch { .. }), "{e}");
    let e = state.set("l1/bias", arr1(&[1.0f64, 2.0])).unwrap_err();
    assert!(matches!(e, Error::TypeMismatch { .. }), "{e}");
    assert_eq!(state, before);
}

#[test]
#[should_panic(expected = "missing Variable at l3/kernel")]
fn index_panics_like_a_map_with_the_error_message() {
    let _ = &mlp().state()["l3/kernel"];
}

#[test]
fn sown_and_popped_values_read_back_typed() {
    let mut m = mlp();
    m.sow(Intermediate, "h", arr1(&[1.0f32, 2.0])).unwrap();
    assert_eq!(
        m.sown.value::<Vec<Array1<f32>>>("h").unwrap(),
        &vec![arr1(&[1.0, 2.0])]
    );
    let e = m.sown.value::<Vec<Array2<f32>>>("h").unwrap_err();
    assert!(
        matches!(&e, Error::TypeMismatch { path, .. } if path.to_string() == "h"),
        "{e}"
    );
    let popped = m.pop(Intermediate).unwrap();
    assert_eq!(
        popped.get::<Vec<Array1<f32>>>("h").unwrap(),
        &vec![arr1(&[1.0, 2.0])]
    );
    assert!(m.sown.value::<Vec<Array1<f32>>>("h").is_err());
}

#[test]
fn integer_and_quoted_string_keys() {
    use std::collections::BTreeMap;
    #[derive(Module)]
    struct Both {
        list: Vec<Param<f32>>,
        table: BTreeMap<String, Param<f32>>,
    }
    let table = BTreeMap::from([("0".to_string(), Param::new(1.0))]);
    let s = Both {
        list: vec![Param::new(2.0f32)],
        table,
    }
    .state();
    assert_eq!(s.get::<f32>("list/0").unwrap(), &2.0); // index 0 of the Vec
    assert_eq!(s.get::<f32>("table/'0'").unwrap(), &1.0); // string key "0" of the map
    assert!(s.get::<f32>("table/0").is_err());
}
