//! Variables, metadata and hooks, with Flax's semantics as the oracle
//! (cases after google/flax tests/nnx/variable_test.py, written our own way).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ndarray::{arr1, Array1, Array2};
use nnx_core::prelude::*;
use nnx_core::{MetaValue, Metadata, VariableMetadata};

fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

#[test]
fn display_matches_flax() {
    // Flax 0.12: repr(nnx.Param(jnp.zeros(3)))
    let p = Param::new(Array1::<f32>::zeros(3));
    assert_eq!(
        p.to_string(),
        "Param( # 3 (12 B)\n  value=Array([0., 0., 0.], dtype=float32)\n)"
    );
    // Flax 0.12: nnx.Param(jnp.zeros((2,3)), axis_names=('a','b'), foo=1, bar='x')
    let mut p = Param::new(Array2::<f32>::zeros((2, 3)));
    p.update_metadata([
        ("axis_names", MetaValue::from(("a", "b"))),
        ("foo", MetaValue::from(1)),
        ("bar", MetaValue::from("x")),
    ]);
    assert_eq!(
        p.to_string(),
        "Param( # 6 (24 B)\n  value=Array([[0., 0., 0.],\n         [0., 0., 0.]], dtype=float32),\n  axis_names=('a', 'b'),\n  foo=1,\n  bar='x'\n)"
    );
    // Flax 0.12: nnx.Variable(jnp.array(1, dtype=jnp.int32))
    assert_eq!(
        Variable::new(1i32).to_string(),
        "Variable( # 1 (4 B)\n  value=Array(1, dtype=int32)\n)"
    );
}

#[test]
fn kinds_and_subtypes() {
    nnx_core::variable_type!(LoRAParam: nnx_core::Param);
    let v = LoRAParam::new(1.0f32);
    assert_eq!(v.kind(), LoRAParam);
    assert!(v.kind().is_subtype_of(nnx_core::Param));
    assert!(v.kind().is_subtype_of(nnx_core::Variable));
    assert!(!nnx_core::Param.is_subtype_of(LoRAParam));
    assert!(nnx_core::Perturbation.is_subtype_of(nnx_core::Intermediate));
    // A type filter matches subtypes, as isinstance does.
    let v = vec![
        Variable::with_kind(LoRAParam, 1.0f32),
        Variable::with_kind(nnx_core::BatchStat, 2.0f32),
    ];
    assert_eq!(v.state_of(nnx_core::Param).len(), 1);
    assert_eq!(v.state_of(LoRAParam).len(), 1);
    assert_eq!(v.state_of(nnx_core::Variable).len(), 2);
}

#[test]
fn metadata_api() {
    let mut p = Param::new(0.0f32);
    assert!(p.get_metadata().is_empty());
    p.set_metadata("a", 1);
    p.set_metadata("b", "two");
    assert_eq!(p.get_metadata().keys().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(p.get_metadata_entry("a").unwrap(), &MetaValue::Int(1));
    let err = p.get_metadata_entry("missing").unwrap_err();
    assert_eq!(err.to_string(), "Param has no metadata entry 'missing'");
    assert_eq!(
        p.get_metadata_or("missing", MetaValue::None),
        MetaValue::None
    );
    assert!(p.has_metadata("b"));
    // set_metadata(name, value) keeps the position of an existing name.
    p.set_metadata("a", 3.5);
    assert_eq!(p.get_metadata().keys().collect::<Vec<_>>(), ["a", "b"]);
    // update several at once
    p.update_metadata([("c", MetaValue::Bool(true)), ("d", MetaValue::None)]);
    assert_eq!(p.get_metadata().len(), 4);
    // replace the whole map
    p.replace_metadata(Metadata::from([("only", vec![1, 2])]));
    assert_eq!(p.get_metadata().to_string(), "{'only': [1, 2]}");
    assert_eq!(
        p.del_metadata("only").unwrap(),
        MetaValue::List(vec![1.into(), 2.into()])
    );
    assert!(p.del_metadata("only").is_err());
    // get_metadata() is a copy
    let mut copy = p.get_metadata();
    copy.insert("x", 1);
    assert!(!p.has_metadata("x"));
}

#[test]
fn create_hooks_fire_once_at_construction_in_order() {
    let calls = counter();
    let c = calls.clone();
    let p = Param::from_metadata(
        VariableMetadata::new(1.0f32)
            .on_create_value(move |_, v| {
                c.fetch_add(1, Ordering::SeqCst);
                v + 1.0
            })
            .on_create_value(|_, v| v * 10.0),
    );
    assert_eq!(*p.value(), 20.0); // (1 + 1) * 10: applied in order
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // not on clone, state, split/merge, update
    let q = p.clone();
    let (g, s) = vec![q].split(..).unwrap();
    let mut back = g.merge(s.clone()).unwrap();
    back.update(s).unwrap();
    let _ = back[0].get_value();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn get_hooks_fire_on_get_value_only() {
    let calls = counter();
    let c = calls.clone();
    let p = Param::from_metadata(VariableMetadata::new(2.0f32).on_get_value(move |_, v| {
        c.fetch_add(1, Ordering::SeqCst);
        v * 3.0
    }));
    assert_eq!(*p.value(), 2.0); // raw
    assert_eq!(*p, 2.0); // Deref is raw
    let _ = p.to_string();
    let v = vec![p];
    let state = v.state();
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let leaf = state.leaf(&[Key::from(0usize)]).unwrap();
    assert_eq!(leaf.value.as_any().downcast_ref::<f32>(), Some(&2.0));
    assert_eq!(v[0].get_value(), 6.0);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn set_hooks_fire_on_set_value_only() {
    let calls = counter();
    let c = calls.clone();
    let mut p = Param::from_metadata(VariableMetadata::new(0.0f32).on_set_value(move |_, v| {
        c.fetch_add(1, Ordering::SeqCst);
        v.max(0.0)
    }));
    p.set_value(-5.0);
    assert_eq!(*p.value(), 0.0);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    p.set_raw_value(-5.0);
    *p.value_mut() = -6.0;
    *p = -7.0;
    assert_eq!(*p.value(), -7.0);
    let mut v = vec![p];
    let s = vec![Param::new(-8.0f32)].state();
    v.update(s).unwrap();
    assert_eq!(*v[0].value(), -8.0);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
fn hooks_survive_split_and_merge() {
    let p = Param::from_metadata(VariableMetadata::new(1.0f32).on_get_value(|_, v| v + 100.0));
    let (g, s) = vec![p].split(..).unwrap();
    let back = g.merge(s).unwrap();
    assert_eq!(back[0].get_value(), 101.0);
}

#[test]
fn axis_hooks_fire_on_add_and_remove_axis() {
    let mut p = Param::from_metadata(
        VariableMetadata::new(Array1::<f32>::zeros(2))
            .with("sharding", ("model",))
            .on_add_axis(|var, index, name| {
                let MetaValue::Tuple(mut axes) =
                    var.get_metadata_or("sharding", MetaValue::Tuple(Vec::new()))
                else {
                    return;
                };
                axes.insert(index.min(axes.len()), MetaValue::from(name));
                var.set_metadata("sharding", MetaValue::Tuple(axes));
            })
            .on_remove_axis(|var, index, _| {
                if let MetaValue::Tuple(mut axes) =
                    var.get_metadata_or("sharding", MetaValue::Tuple(Vec::new()))
                {
                    if index < axes.len() {
                        axes.remove(index);
                    }
                    var.set_metadata("sharding", MetaValue::Tuple(axes));
                }
            }),
    );
    p.add_axis(0, Some("batch"));
    assert_eq!(
        p.get_metadata_entry("sharding").unwrap().to_string(),
        "('batch', 'model')"
    );
    p.remove_axis(0, Some("batch"));
    assert_eq!(
        p.get_metadata_entry("sharding").unwrap().to_string(),
        "('model',)"
    );
}

#[test]
fn custom_behaviour_through_the_trait() {
    nnx_core::variable_type!(Positive, behavior = custom);
    impl VariableBehavior for Positive<f32> {
        fn on_create_value(_: &Metadata, v: f32) -> f32 {
            v.abs()
        }
        fn on_get_value(&self, v: f32) -> f32 {
            v * 2.0
        }
        fn on_set_value(&self, v: f32) -> f32 {
            v.abs()
        }
    }
    let mut p = Positive::new(-3.0f32);
    assert_eq!(*p.value(), 3.0);
    assert_eq!(p.get_value(), 6.0);
    p.set_value(-1.0);
    assert_eq!(*p.value(), 1.0);
}

#[test]
fn deref_for_arithmetic() {
    let p = Param::new(arr1(&[1.0f32, 2.0]));
    let y = &*p + 1.0;
    assert_eq!(y, arr1(&[2.0, 3.0]));
    assert_eq!(p.sum(), 3.0);
}

#[test]
fn state_shares_values_and_writes_copy_on_write() {
    let mut v = vec![Param::new(arr1(&[1.0f32, 2.0]))];
    let state = v.state();
    let leaf = state.leaf(&[Key::from(0usize)]).unwrap();
    let shared_ptr = leaf
        .value
        .as_any()
        .downcast_ref::<Array1<f32>>()
        .unwrap()
        .as_ptr();
    assert_eq!(shared_ptr, v[0].value().as_ptr()); // no copy
    v[0].value_mut()[0] = 5.0; // copy on write: the state keeps its snapshot
    let old = state.leaf(&[Key::from(0usize)]).unwrap();
    assert_eq!(
        old.value.as_any().downcast_ref::<Array1<f32>>().unwrap()[0],
        1.0
    );
    assert_eq!(v[0][0], 5.0);
}
