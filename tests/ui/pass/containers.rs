use std::collections::BTreeMap;

use nnx::prelude::*;

#[derive(Module)]
struct Leaf {
    w: Param<f32>,
}

#[derive(Module)]
struct Containers {
    maybe: Option<Leaf>,
    none: Option<Leaf>,
    list: Vec<Leaf>,
    array: [Leaf; 2],
    map: BTreeMap<String, Leaf>,
    boxed: Box<Leaf>,
    shared: Shared<Leaf>,
    tied: Shared<Leaf>,
    nested: Vec<Option<Box<Leaf>>>,
}

fn leaf(x: f32) -> Leaf {
    Leaf { w: Param::new(x) }
}

fn main() {
    let shared = Shared::new(leaf(7.0));
    let mut map = BTreeMap::new();
    map.insert("k".to_string(), leaf(5.0));
    let m = Containers {
        maybe: Some(leaf(1.0)),
        none: None,
        list: vec![leaf(2.0)],
        array: [leaf(3.0), leaf(4.0)],
        map,
        boxed: Box::new(leaf(6.0)),
        shared: shared.clone(),
        tied: shared,
        nested: vec![None, Some(Box::new(leaf(8.0)))],
    };
    assert_eq!(m.state().len(), 8);
    let (g, s) = m.split(..).unwrap();
    let back = g.merge(s).unwrap();
    assert!(back.none.is_none());
    assert!(back.shared.ptr_eq(&back.tied));
    assert_eq!(*back.map["k"].w, 5.0);
    assert_eq!(back.graphdef(), g);
}
