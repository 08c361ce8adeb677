//! Unit tests mirroring Flax's `tests/nnx/rngs_test.py`, plus the graph
//! integration and the no-rewind guarantee.

use super::*;
use crate::key::path_string;
use crate::random::{fold_in, key, split};
use crate::variable::VariableType;
use crate::Module;
use crate::{Param, RngCount as RngCountKind, RngKey as RngKeyKind, RngState};

#[test]
fn call_uses_default() {
    let mut rngs = Rngs::new(0);
    assert_eq!(rngs.default_key().unwrap(), fold_in(key(0), 0));
    assert_eq!(rngs.get("default").unwrap().count(), 1);
}

#[test]
fn unknown_stream_falls_back_to_default() {
    let mut rngs = Rngs::new(0).with("params", 1);
    assert_eq!(rngs.next_key("dropout").unwrap(), fold_in(key(0), 0));
    assert_eq!(rngs.next_key("params").unwrap(), fold_in(key(1), 0));
    assert_eq!(rngs.next_key("anything").unwrap(), fold_in(key(0), 1));
}

#[test]
fn missing_default_is_an_error() {
    let mut rngs = Rngs::from_streams([("some_name", 0)]);
    let err = rngs.next_key("dropout").unwrap_err();
    assert_eq!(
        err,
        Error::MissingStream {
            name: "dropout".into(),
            available: vec!["some_name".into()],
        }
    );
    assert!(Rngs::default().default_key().is_err());
}

#[test]
fn counts_advance_and_base_key_stays() {
    let mut rngs = Rngs::default().with_key("params", key(0));
    assert_eq!(rngs.get("params").unwrap().count(), 0);
    let k1 = rngs.next_key("params").unwrap();
    assert_eq!(rngs.get("params").unwrap().count(), 1);
    assert_eq!(rngs.get("params").unwrap().key(), key(0));
    assert_ne!(k1, key(0));
    let k2 = rngs.next_key("params").unwrap();
    assert_eq!(rngs.get("params").unwrap().count(), 2);
    assert_ne!(k1, k2);
}

#[test]
fn variables_carry_the_stream_tag() {
    let rngs = Rngs::new(0).with("dropout", 1);
    let s = rngs.get("dropout").unwrap();
    assert_eq!(s.key_variable().kind(), RngKeyKind);
    assert_eq!(s.count_variable().kind(), RngCountKind);
    for tag in [
        s.key_variable().get_metadata_entry("tag").unwrap(),
        s.count_variable().get_metadata_entry("tag").unwrap(),
    ] {
        assert_eq!(tag, &crate::MetaValue::Str("dropout".into()));
    }
}

#[test]
fn tag_filters_select_a_stream() {
    let rngs = Rngs::new(0).with("dropout", 1).with("params", 2);
    let dropout = rngs.state_of("dropout");
    let paths: Vec<String> = dropout
        .flat_state()
        .iter()
        .map(|(p, _)| path_string(p))
        .collect();
    assert_eq!(paths, ["dropout/count", "dropout/key"]);
    assert_eq!(rngs.state_of(RngState).len(), 6);
    assert_eq!(rngs.state_of(RngCountKind).len(), 3);
}

#[test]
fn lifting_rng_state_by_filters() {
    // Flax's test_lifting_rng_state: split by type and by tag.
    let mut rngs = Rngs::from_streams([("params", 0), ("dropout", 1)]);
    rngs.next_key("params").unwrap();
    rngs.next_key("params").unwrap();
    let model = vec![Box::new(rngs)];
    let (graphdef, params, counts, dropout_keys, param_keys) = model
        .split((Param, RngCountKind, "dropout", "params"))
        .unwrap();
    assert!(params.is_empty());
    assert_eq!(counts.len(), 2);
    assert_eq!(dropout_keys.len(), 1);
    assert_eq!(param_keys.len(), 1);
    let mut back = graphdef
        .merge((params, counts, dropout_keys, param_keys))
        .unwrap();
    assert_eq!(back[0].get("params").unwrap().count(), 2);
    assert_eq!(back[0].next_key("dropout").unwrap(), fold_in(key(1), 0));
}

#[test]
fn split_merge_round_trip() {
    let mut rngs = Rngs::new(0).with("dropout", 1);
    rngs.next_key("dropout").unwrap();
    let (graphdef, state) = rngs.clone().split(..).unwrap();
    let mut back: Rngs = graphdef.merge(state).unwrap();
    assert_eq!(back.get("dropout").unwrap().count(), 1);
    assert_eq!(
        back.next_key("dropout").unwrap(),
        rngs.next_key("dropout").unwrap()
    );
    assert_eq!(back.graphdef(), rngs.graphdef());
}

#[test]
fn update_restores_keys_and_counts() {
    let mut rngs = Rngs::new(0).with("dropout", 1);
    let saved = rngs.state();
    let first = rngs.next_key("dropout").unwrap();
    rngs.reseed("dropout", 5).unwrap();
    rngs.update(saved).unwrap();
    assert_eq!(rngs.get("dropout").unwrap().count(), 0);
    assert_eq!(rngs.next_key("dropout").unwrap(), first);
}

#[test]
fn stream_alone_is_a_module() {
    let mut s = RngStream::new("params", 3);
    s.next_key();
    let (g, st) = s.clone().split(..).unwrap();
    assert_eq!(st.len(), 2);
    let back: RngStream = g.merge(st).unwrap();
    assert_eq!(
        (back.tag(), back.key(), back.count()),
        ("params", key(3), 1)
    );
}

#[test]
fn option_stream_round_trips() {
    let layers: Vec<Option<RngStream>> = vec![Some(RngStream::new("dropout", 1)), None];
    let (g, st) = layers.split(..).unwrap();
    assert_eq!(st.len(), 2);
    let back = g.merge(st).unwrap();
    assert!(back[1].is_none());
    assert_eq!(back[0].as_ref().map(RngStream::key), Some(key(1)));
}

/// A hand-written layer holding `Rngs`, an optional stream and a static rate,
/// as `#[derive(Module)]` would generate it.
struct Dropout {
    rate: f32,
    rngs: Rngs,
    stream: Option<RngStream>,
}

impl Field for Dropout {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        w.enter(key, NodeHeader::node("Dropout"));
        self.rate.walk_field(&Key::from("rate"), w);
        self.rngs.walk_field(&Key::from("rngs"), w);
        self.stream.walk_field(&Key::from("stream"), w);
        w.leave();
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
        w.enter(key, NodeHeader::node("Dropout"));
        let fixed = Place::Fixed;
        self.rate.walk_field_mut(&Key::from("rate"), w, fixed);
        self.rngs.walk_field_mut(&Key::from("rngs"), w, fixed);
        self.stream.walk_field_mut(&Key::from("stream"), w, fixed);
        w.leave();
        Action::Keep
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        b.enter(key)?;
        let rate = f32::build_field(&Key::from("rate"), b)?;
        let rngs = Rngs::build_field(&Key::from("rngs"), b)?;
        let stream = Option::<RngStream>::build_field(&Key::from("stream"), b)?;
        b.leave()?;
        Ok(Dropout { rate, rngs, stream })
    }
}
impl Module for Dropout {}

#[test]
fn layer_holding_rngs_round_trips_and_reseeds() {
    let mut layer = Dropout {
        rate: 0.5,
        rngs: Rngs::new(0).with("dropout", 42),
        stream: Some(RngStream::new("dropout", 7)),
    };
    let paths: Vec<String> = layer
        .state()
        .flat_state()
        .iter()
        .map(|(p, _)| path_string(p))
        .collect();
    assert_eq!(
        paths,
        [
            "rngs/default/count",
            "rngs/default/key",
            "rngs/dropout/count",
            "rngs/dropout/key",
            "stream/count",
            "stream/key"
        ]
    );
    let y1 = layer.rngs.next_key("dropout").unwrap();
    // Flax's test_reseed: reseeding to the same seed twice gives the same keys.
    assert_eq!(reseed(&mut layer, &[("dropout", 42)]).unwrap(), 2);
    let y2 = layer.rngs.next_key("dropout").unwrap();
    reseed(&mut layer, &[("dropout", 42)]).unwrap();
    assert_eq!(layer.rngs.next_key("dropout").unwrap(), y2);
    assert_ne!(y1, y2); // Flax's reseed key is fold_in(key(42), 0), not key(42)
                        // Graph order: rngs/dropout first, then stream; each takes the next fresh key.
    let fresh = key(42);
    assert_eq!(layer.rngs.get("dropout").unwrap().key(), fold_in(fresh, 0));
    assert_eq!(layer.stream.as_ref().unwrap().key(), fold_in(fresh, 1));
    assert_eq!(layer.rngs.get("default").unwrap().key(), key(0));

    let (g, st) = layer.split(..).unwrap();
    let back = g.merge(st).unwrap();
    assert_eq!(back.rate, 0.5);
    assert_eq!(back.rngs.get("dropout").unwrap().count(), 1);
    assert_eq!(back.stream.map(|s| s.count()), Some(0));
}

#[test]
fn pop_refuses_fixed_stream_variables() {
    let mut rngs = Rngs::new(0);
    assert!(rngs.pop(RngState).is_err());
    assert_eq!(rngs.len(), 1);
}

#[test]
fn fork_gives_new_keys_and_advances() {
    let mut rngs = Rngs::from_streams([("params", 0), ("dropout", 1)]);
    let mut child = rngs.fork();
    assert_eq!(child.get("params").unwrap().key(), fold_in(key(0), 0));
    assert_eq!(child.get("params").unwrap().count(), 0);
    assert_eq!(rngs.get("params").unwrap().count(), 1);
    assert_ne!(
        child.next_key("params").unwrap(),
        rngs.next_key("params").unwrap()
    );
}

#[test]
fn split_matches_jax_split_of_next_key() {
    let mut rngs = Rngs::from_streams([("params", 0), ("dropout", 1)]);
    let parts = rngs.split_into(5);
    let expected = split(fold_in(key(1), 0), 5);
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(part.get("dropout").unwrap().key(), expected[i]);
        assert_eq!(part.get("dropout").unwrap().count(), 0);
    }
    assert_eq!(rngs.get("dropout").unwrap().count(), 1);
}

#[test]
fn consecutive_splits_give_distinct_keys() {
    let mut rngs = Rngs::new(0);
    let a = rngs.split_into(2);
    let b = rngs.split_into(2);
    let keys: HashSet<[u32; 2]> = a
        .iter()
        .chain(&b)
        .map(|r| r.get("default").unwrap().key().data())
        .collect();
    assert_eq!(keys.len(), 4);
}

#[test]
fn passthrough_streams_are_never_rewound() {
    // google/flax PR #5529: Flax rebuilds unsplit streams with count 0, so the
    // new Rngs repeats keys already drawn. Here the count is kept.
    let mut rngs = Rngs::from_streams([("params", 1), ("dropout", 2)]);
    let used = [
        rngs.next_key("dropout").unwrap(),
        rngs.next_key("dropout").unwrap(),
    ];
    for _ in 0..2 {
        let mut parts = rngs.split_only("params", 5);
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[0].get("dropout").unwrap().count(), 2);
        let next = parts[0].next_key("dropout").unwrap();
        assert!(!used.contains(&next));
        assert_eq!(next, fold_in(key(2), 2));
    }
}

#[test]
fn broadcast_shares_one_key() {
    let mut rngs = Rngs::new(0).with("params", 1);
    let parts = rngs.broadcast("params", 3);
    let k = fold_in(key(1), 0);
    assert!(parts.iter().all(|p| p.get("params").unwrap().key() == k));
    assert!(parts
        .iter()
        .all(|p| p.get("default").unwrap().key() == key(0)));
}

#[test]
fn reseed_semantics() {
    let mut rngs = Rngs::new(0).with("dropout", 1);
    rngs.next_key("dropout").unwrap();
    rngs.reseed("dropout", 42).unwrap();
    let s = rngs.get("dropout").unwrap();
    assert_eq!((s.key(), s.count()), (fold_in(key(42), 0), 0));
    assert!(matches!(
        rngs.reseed("noise", 1),
        Err(Error::MissingStream { .. })
    ));
}

#[test]
fn count_wraps_like_uint32() {
    let mut s = RngStream::new("default", 0);
    s.set_count(u32::MAX);
    assert_eq!(s.next_key(), fold_in(key(0), u32::MAX));
    assert_eq!(s.count(), 0);
}

#[test]
fn with_stream_retags() {
    let mut s = RngStream::new("a", 3);
    s.next_key();
    let rngs = Rngs::default().with_stream("b", s);
    let b = rngs.get("b").unwrap();
    assert_eq!((b.tag(), b.key(), b.count()), ("b", key(3), 1));
    assert_eq!(rngs.state_of("b").len(), 2);
}
