//! [`Field`] for std containers: `Option`, `Box`, `Vec`, arrays and
//! `BTreeMap<String, _>`, whose map walking `Rngs` and `Sown` reuse.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::graph::builder::Builder;
use crate::graph::field::Field;
use crate::graph::key::Key;
use crate::graph::walker::{Action, NodeHeader, Place, Walker, WalkerMut};

/// `Some(x)` is `x` under the same key; `None` is recorded in the GraphDef.
/// An `Option` slot holding a Variable is removable by `pop`.
impl<T: Field> Field for Option<T> {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        match self {
            Some(x) => x.walk_field(key, w),
            None => w.none(key),
        }
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
        if let Some(x) = self {
            if x.walk_field_mut(key, w, Place::Removable) == Action::Remove {
                *self = None;
            }
        }
        Action::Keep
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        if b.take_none(key) {
            Ok(None)
        } else {
            T::build_field(key, b).map(Some)
        }
    }
}

impl<T: Field> Field for Box<T> {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        (**self).walk_field(key, w)
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, place: Place) -> Action {
        (**self).walk_field_mut(key, w, place)
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        T::build_field(key, b).map(Box::new)
    }
}

/// Elements sit under integer keys, as Flax lists do.
impl<T: Field> Field for Vec<T> {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        walk_seq(self, key, "Vec", w)
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
        walk_seq_mut(self, key, "Vec", w)
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        b.enter(key)?;
        let mut out = Vec::new();
        while let Some(k) = b.next_child_key() {
            out.push(T::build_field(&k, b)?);
        }
        b.leave()?;
        Ok(out)
    }
}

impl<T: Field, const N: usize> Field for [T; N] {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        walk_seq(self, key, "Array", w)
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
        walk_seq_mut(self, key, "Array", w)
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        let items = Vec::<T>::build_field(key, b)?;
        let found = items.len();
        items.try_into().map_err(|_| {
            crate::Error::invalid_argument(
                format!("array field {}", b.path_string_with(key)),
                format!("{N} elements"),
                format!("{found} elements"),
            )
        })
    }
}

fn walk_seq<T: Field>(items: &[T], key: &Key, name: &'static str, w: &mut dyn Walker) {
    w.enter(key, NodeHeader::node(name));
    for (i, x) in items.iter().enumerate() {
        x.walk_field(&Key::Int(i), w);
    }
    w.leave();
}

fn walk_seq_mut<T: Field>(
    items: &mut [T],
    key: &Key,
    name: &'static str,
    w: &mut dyn WalkerMut,
) -> Action {
    w.enter(key, NodeHeader::node(name));
    for (i, x) in items.iter_mut().enumerate() {
        x.walk_field_mut(&Key::Int(i), w, Place::Fixed);
    }
    w.leave();
    Action::Keep
}

/// Entries sit under their string keys, sorted.
impl<T: Field> Field for BTreeMap<String, T> {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        walk_map(self, key, NodeHeader::node("BTreeMap"), w)
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
        walk_map_mut(self, key, NodeHeader::node("BTreeMap"), w, Place::Fixed)
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        build_map(key, b)
    }
}

/// Walks a map as a node `header` with its entries under their names.
pub(crate) fn walk_map<T: Field>(
    map: &BTreeMap<String, T>,
    key: &Key,
    header: NodeHeader,
    w: &mut dyn Walker,
) {
    w.enter(key, header);
    for (name, x) in map {
        x.walk_field(&Key::from(name.clone()), w);
    }
    w.leave();
}

/// Walks a map mutably; with `entries` [`Place::Removable`] an entry the walker
/// removes leaves the map.
pub(crate) fn walk_map_mut<T: Field>(
    map: &mut BTreeMap<String, T>,
    key: &Key,
    header: NodeHeader,
    w: &mut dyn WalkerMut,
    entries: Place,
) -> Action {
    w.enter(key, header);
    map.retain(|name, x| {
        let action = x.walk_field_mut(&Key::from(name.clone()), w, entries);
        entries == Place::Fixed || action == Action::Keep
    });
    w.leave();
    Action::Keep
}

/// Rebuilds a map walked by [`walk_map`].
pub(crate) fn build_map<T: Field>(key: &Key, b: &mut Builder<'_>) -> Result<BTreeMap<String, T>> {
    b.enter(key)?;
    let mut out = BTreeMap::new();
    while let Some(k) = b.next_child_key() {
        let name = match &k {
            Key::Str(s) => s.to_string(),
            Key::Int(i) => i.to_string(),
        };
        out.insert(name, T::build_field(&k, b)?);
    }
    b.leave()?;
    Ok(out)
}
