//! State, filters and the graph operations over the built-in containers
//! (cases after google/flax tests/nnx/state_test.py, filters_test.py,
//! partitioning_test.py, written our own way).

use std::collections::BTreeMap;

use ndarray::{Array1, Array2};
use nnx_core::filter::{All, Any, Everything, Not, Nothing, PathContains};
use nnx_core::prelude::*;
use nnx_core::{Error, FlatState, Metadata};

type Layer = BTreeMap<String, Param<Array2<f32>>>;

fn layer(din: usize, dout: usize) -> Layer {
    BTreeMap::from([
        ("kernel".to_string(), Param::new(Array2::zeros((din, dout)))),
        ("bias".to_string(), Param::new(Array2::zeros((1, dout)))),
    ])
}

/// A small heterogeneous graph: {'a': [Param, BatchStat], 'b': [Cache]}.
fn mixed() -> BTreeMap<String, Vec<Variable<Array1<f32>>>> {
    BTreeMap::from([
        (
            "a".to_string(),
            vec![
                Variable::with_kind(nnx_core::Param, Array1::zeros(2)),
                Variable::with_kind(nnx_core::BatchStat, Array1::ones(2)),
            ],
        ),
        (
            "b".to_string(),
            vec![Variable::with_kind(nnx_core::Cache, Array1::zeros(3))],
        ),
    ])
}

#[test]
fn state_prints_like_flax_with_int_and_str_keys() {
    let model = vec![layer(1, 1)];
    let s = model.state().map(shape);
    assert_eq!(
        s.to_string(),
        "State({\n  0: {\n    'bias': Param(\n      value=(1, 1)\n    ),\n    'kernel': Param(\n      value=(1, 1)\n    )\n  }\n})"
    );
    assert_eq!(State::new().to_string(), "State({})");
}

#[test]
fn keys_sort_integers_before_strings() {
    let mut m: BTreeMap<String, Vec<Param<f32>>> = BTreeMap::new();
    m.insert("z".into(), vec![Param::new(0.0)]);
    m.insert("a".into(), vec![Param::new(0.0), Param::new(1.0)]);
    let paths = m.state().flat_state().paths();
    let names: Vec<String> = paths
        .iter()
        .map(|p| nnx_core::graph::path_string(p))
        .collect();
    assert_eq!(names, ["a/0", "a/1", "z/0"]);
    assert!(Key::from(3usize) < Key::from("0"));
}

#[test]
fn flat_state_and_nested_round_trip() {
    let s = mixed().state();
    let flat = s.flat_state();
    assert_eq!(flat.len(), 3);
    assert_eq!(flat.to_nested_state().unwrap(), s);
    assert_eq!(State::from_flat(s.clone().into_flat()).unwrap(), s);
}

#[test]
fn filters_select_by_type_tag_path_and_combinators() {
    let mut m = mixed();
    m.get_mut("b").unwrap()[0].set_metadata("tag", "dropout");
    assert_eq!(m.state_of(nnx_core::Param).len(), 1);
    assert_eq!(m.state_of("dropout").len(), 1);
    assert_eq!(m.state_of(PathContains::new("a")).len(), 2);
    assert_eq!(m.state_of(PathContains::new(1usize)).len(), 1);
    assert_eq!(m.state_of(PathContains::substring("b")).len(), 1);
    assert_eq!(m.state_of(Not(nnx_core::Param)).len(), 2);
    assert_eq!(m.state_of(Any((nnx_core::Param, nnx_core::Cache))).len(), 2);
    assert_eq!(m.state_of([nnx_core::Param, nnx_core::Cache]).len(), 2);
    assert_eq!(
        m.state_of(All((nnx_core::Param, PathContains::new("a"))))
            .len(),
        1
    );
    assert_eq!(m.state_of(Everything).len(), 3);
    assert_eq!(m.state_of(Nothing).len(), 0);
    assert_eq!(m.state_of(..).len(), 3);
    let closure = |path: &[Key], _: &dyn nnx_core::filter::VariableInfo| path.len() == 2;
    assert_eq!(m.state_of(closure).len(), 3);
}

#[test]
fn split_partitions_first_match_wins_and_is_exhaustive() {
    let m = mixed();
    let (g, params, rest) = m.clone().split((nnx_core::Param, ..)).unwrap();
    assert_eq!(params.len(), 1);
    assert_eq!(rest.len(), 2);
    let back = g.merge((params.clone(), rest.clone())).unwrap();
    assert_eq!(back.state(), m.state());
    // first match wins: Param matched by the first filter only
    let (_, a, b) = m
        .clone()
        .split((nnx_core::Variable, nnx_core::Param))
        .unwrap();
    assert_eq!((a.len(), b.len()), (3, 0));
    // non-exhaustive
    let err = m
        .clone()
        .split((nnx_core::Param, nnx_core::Cache))
        .unwrap_err();
    assert!(
        matches!(&err, Error::NonExhaustiveFilters { paths } if paths == &["a/1"]),
        "{err}"
    );
    // `..` not last
    let err = m.clone().split((.., nnx_core::Param)).unwrap_err();
    assert_eq!(err, Error::EllipsisNotLast { index: 0, count: 2 });
    // State::split follows the same rules
    let (p, r) = m.state().split((nnx_core::Param, ..)).unwrap();
    assert_eq!((p.len(), r.len()), (1, 2));
    assert!(m.state().split(nnx_core::Param).is_err());
}

#[test]
fn merge_is_strict() {
    let m = mixed();
    let (g, state) = m.clone().split(..).unwrap();
    // missing path
    let without_b = state.filter(PathContains::new("a"));
    let err = g.merge(without_b).unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing Variable at b/0: expected a Cache, found nothing in the given states"
    );
    // unexpected path
    let mut flat = state.clone().into_flat();
    flat.push((
        vec![Key::from("c")],
        VariableState::new(nnx_core::Param, 1.0f32),
    ));
    let err = g.merge(State::from_flat(flat).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unexpected Variable at c: expected no Variable there, found a Param"
    );
    // wrong Variable type
    let mut flat = state.clone().into_flat();
    flat[0].1.kind = nnx_core::Intermediate;
    let err = g.merge(State::from_flat(flat).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Variable type mismatch at a/0: expected Param, found Intermediate"
    );
    // wrong shape
    let mut flat = state.clone().into_flat();
    flat[0].1 = VariableState::new(nnx_core::Param, Array1::<f32>::zeros(5));
    let err = g.merge(State::from_flat(flat).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "shape mismatch at a/0: expected (2,), found (5,)"
    );
    // wrong dtype
    let mut flat = state.clone().into_flat();
    flat[0].1 = VariableState::new(nnx_core::Param, Array1::<f64>::zeros(2));
    let err = g.merge(State::from_flat(flat).unwrap()).unwrap_err();
    assert!(
        err.to_string().starts_with(
            "type mismatch at a/0: expected ndarray::ArrayBase<ndarray::data_repr::OwnedRepr<f32>"
        ),
        "{err}"
    );
    // every problem at once
    let mut flat = state.into_flat();
    flat.remove(0);
    flat.push((
        vec![Key::from("zz")],
        VariableState::new(nnx_core::Param, 1.0f32),
    ));
    let err = g.merge(State::from_flat(flat).unwrap()).unwrap_err();
    assert!(matches!(&err, Error::Many(v) if v.len() == 2), "{err}");
}

#[test]
fn merge_state_later_wins_and_diff() {
    let a = vec![Param::new(1.0f32), Param::new(2.0f32)].state();
    let b = vec![Param::new(9.0f32)].state();
    let merged = State::merge([a.clone(), b.clone()]).unwrap();
    let v = merged.leaf(&[Key::from(0usize)]).unwrap();
    assert_eq!(v.value.as_any().downcast_ref::<f32>(), Some(&9.0));
    assert_eq!(merged.len(), 2);
    let d = a.diff(&b);
    assert_eq!(d.flat_state().paths(), vec![vec![Key::from(1usize)]]);
}

/// Issue 11 item 6: a leaf at `a` and one at `a/b` cannot both live in a State;
/// building or merging such States is an error naming both paths, never a silent
/// loss of one leaf.
#[test]
fn leaf_below_leaf_is_an_error_not_a_loss() {
    let k = |s: &'static str| Key::from(s);
    let at_a = (vec![k("a")], VariableState::new(nnx_core::Param, 1.0f32));
    let at_ab = (
        vec![k("a"), k("b")],
        VariableState::new(nnx_core::Param, 2.0f32),
    );
    let message = "unexpected Variable at a/b: expected no Variable there, found a Variable \
                   below the Variable at a (a leaf cannot also hold a subtree)";
    for order in [
        vec![at_a.clone(), at_ab.clone()],
        vec![at_ab.clone(), at_a.clone()],
    ] {
        let err = State::from_flat(order.clone()).unwrap_err();
        assert_eq!(err.to_string(), message);
        let err = FlatState::new(order).to_nested_state().unwrap_err();
        assert_eq!(err.to_string(), message);
    }
    let a = State::from_flat([at_a]).unwrap();
    let ab = State::from_flat([at_ab]).unwrap();
    assert_eq!(
        State::merge([a.clone(), ab.clone()])
            .unwrap_err()
            .to_string(),
        message
    );
    assert_eq!(State::merge([ab, a]).unwrap_err().to_string(), message);
    // The root leaf (a bare Variable's state) is below nothing but above everything.
    let root = Param::new(0.0f32).state();
    let err = State::merge([root, vec![Param::new(1.0f32)].state()]).unwrap_err();
    assert!(
        err.to_string().contains("below the Variable at <root>"),
        "{err}"
    );
}

#[test]
fn pure_dict_round_trip_and_replace() {
    let m = vec![Param::new(1.0f32), Param::new(2.0f32)];
    let mut s = m.state();
    let mut pure = s.to_pure_dict();
    pure.insert(&[Key::from(1usize)], std::sync::Arc::new(7.0f32));
    s.replace_by_pure_dict(&pure).unwrap();
    assert_eq!(
        s.leaf(&[Key::from(1usize)])
            .unwrap()
            .value
            .as_any()
            .downcast_ref::<f32>(),
        Some(&7.0)
    );
    // types and metadata survive
    assert_eq!(s.leaf(&[Key::from(1usize)]).unwrap().kind, nnx_core::Param);
    // unknown path and wrong type are errors
    let mut bad = s.to_pure_dict();
    bad.insert(&[Key::from("x")], std::sync::Arc::new(1.0f32));
    assert!(s.replace_by_pure_dict(&bad).is_err());
    let mut bad = s.to_pure_dict();
    bad.insert(&[Key::from(0usize)], std::sync::Arc::new(1.0f64));
    assert!(s.replace_by_pure_dict(&bad).is_err());
}

#[test]
fn update_is_strict_and_atomic() {
    let mut m = mixed();
    let mut replacement = mixed();
    replacement.get_mut("a").unwrap()[0] =
        Variable::with_kind(nnx_core::Param, Array1::from_elem(2, 4.0));
    // partial update is fine
    m.update(replacement.state_of(nnx_core::Param)).unwrap();
    assert_eq!(m["a"][0][0], 4.0);
    // an unknown path changes nothing
    let mut flat = replacement.state().into_flat();
    flat.push((
        vec![Key::from("q")],
        VariableState::new(nnx_core::Param, 1.0f32),
    ));
    flat[0].1 = VariableState::new(nnx_core::Param, Array1::from_elem(2, 8.0f32));
    assert!(m.update(State::from_flat(flat).unwrap()).is_err());
    assert_eq!(m["a"][0][0], 4.0);
    // wrong shape
    let bad = State::from_flat(vec![(
        vec![Key::from("a"), Key::from(0usize)],
        VariableState::new(nnx_core::Param, Array1::<f32>::zeros(3)),
    )])
    .unwrap();
    assert_eq!(
        m.update(bad).unwrap_err().to_string(),
        "shape mismatch at a/0: expected (2,), found (3,)"
    );
}

#[test]
fn pop_removes_optional_variables_and_refuses_fixed_ones() {
    // `Vec::pop` shadows the method on a Vec root: call it through the trait.
    let mut caches: Vec<Option<Cache<u32>>> = vec![Some(Cache::new(1u32)), None];
    let popped = Module::pop(&mut caches, nnx_core::Cache).unwrap();
    assert_eq!(popped.len(), 1);
    assert!(caches[0].is_none());
    let mut fixed = vec![Param::new(0.0f32)];
    let err = Module::pop(&mut fixed, nnx_core::Param).unwrap_err();
    assert!(err.to_string().contains("fixed fields [\"0\"]"), "{err}");
    assert_eq!(fixed.state().len(), 1);
}

#[test]
fn graph_ops_of_a_bare_variable() {
    let p = Param::new(Array1::<f32>::ones(3));
    let s = p.state();
    assert_eq!(s.len(), 1);
    assert!(s.leaf(&[]).is_some());
    let (g, s) = p.split(..).unwrap();
    let back: Param<Array1<f32>> = g.merge(s).unwrap();
    assert_eq!(back.sum(), 3.0);
}

#[test]
fn graphdef_is_hashable_and_cheap_to_compare() {
    use std::collections::HashSet;
    let a = mixed().graphdef();
    let b = mixed().graphdef();
    let mut set = HashSet::new();
    set.insert(a.clone());
    assert!(set.contains(&b));
    assert_eq!(a.num_variables(), 3);
    let c = vec![Param::new(1.0f32)].graphdef();
    assert_ne!(format!("{c:?}"), format!("{a:?}"));
}

#[test]
fn clone_deep_copies_values() {
    let m = vec![Param::new(Array1::<f32>::ones(2))];
    let c = m.clone_deep().unwrap();
    assert_ne!(c[0].value().as_ptr(), m[0].value().as_ptr());
    assert_eq!(c.state(), m.state());
}

#[test]
fn metadata_is_compared_in_state_equality() {
    let mut a = vec![Param::new(1.0f32)];
    let b = a.clone();
    assert_eq!(a.state(), b.state());
    a[0].replace_metadata(Metadata::from([("k", 1)]));
    assert_ne!(a.state(), b.state());
}
