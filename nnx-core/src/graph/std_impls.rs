//! [`Field`] for std types: primitives (static hyperparameters, walked as
//! `#[nnx(static)]` fields are), `Option`, `Box`, `Vec`, arrays and
//! `BTreeMap<String, _>`, whose map walking `Rngs` and `Sown` reuse.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::graph::builder::Builder;
use crate::graph::field::Field;
use crate::graph::statics::{StaticFloat, StaticHyperparameter};
use crate::graph::walker::{Action, NodeHeader, Place, Walker, WalkerMut};
use crate::key::Key;

/// How a static walks: what `#[nnx(static)]` fields and bare primitive fields
/// both call, as one trait so that a type that cannot be static gets one error.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[nnx(static)]` field",
    label = "static fields live in the GraphDef, which is compared and hashed",
    note = "a static field must be Clone + Debug + PartialEq + Hash + Send + Sync + 'static"
)]
pub trait StaticWalk: Sized {
    /// Shows the value to a walker.
    fn walk(&self, key: &Key, w: &mut dyn Walker);
    /// Shows the value to a mutating walker, which may set it.
    fn walk_mut(&mut self, key: &Key, w: &mut dyn WalkerMut);
    /// Reads the value back from a GraphDef.
    fn build(key: &Key, b: &mut Builder<'_>) -> Result<Self>;
}

// Inlined so that a static field costs one walker call, as before the split
// of this machinery into its own trait.
impl<T: StaticHyperparameter> StaticWalk for T {
    #[inline]
    fn walk(&self, key: &Key, w: &mut dyn Walker) {
        w.static_value(key, self)
    }
    #[inline]
    fn walk_mut(&mut self, key: &Key, w: &mut dyn WalkerMut) {
        w.static_value(key, self)
    }
    fn build(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        b.static_value::<T>(key)
    }
}

macro_rules! primitive_fields {
    ($($t:ty),*) => {$(
        /// A primitive field is a static hyperparameter without any attribute.
        impl Field for $t {
            #[inline]
            fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
                StaticWalk::walk(self, key, w)
            }
            #[inline]
            fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
                StaticWalk::walk_mut(self, key, w);
                Action::Keep
            }
            fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
                StaticWalk::build(key, b)
            }
        }
    )*};
}

primitive_fields!(
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    String,
    ()
);

/// Floats are walked as [`StaticFloat`]s (compared by bits) and set as floats.
macro_rules! float_fields {
    ($($t:ty),*) => {$(
        /// A float field is a static hyperparameter without any attribute.
        impl Field for $t {
            fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
                w.static_value(key, &StaticFloat(*self))
            }
            fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
                w.static_value(key, self);
                Action::Keep
            }
            fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
                b.static_value::<StaticFloat<$t>>(key).map(|f| f.0)
            }
        }
    )*};
}
float_fields!(f32, f64);

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
    if w.enter(key, NodeHeader::node(name)) {
        for (i, x) in items.iter().enumerate() {
            x.walk_field(&Key::Int(i), w);
        }
        w.leave();
    }
}

fn walk_seq_mut<T: Field>(
    items: &mut [T],
    key: &Key,
    name: &'static str,
    w: &mut dyn WalkerMut,
) -> Action {
    if w.enter(key, NodeHeader::node(name)) {
        for (i, x) in items.iter_mut().enumerate() {
            x.walk_field_mut(&Key::Int(i), w, Place::Fixed);
        }
        w.leave();
    }
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
    if w.enter(key, header) {
        for (name, x) in map {
            x.walk_field(&Key::from(name.clone()), w);
        }
        w.leave();
    }
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
    if w.enter(key, header) {
        map.retain(|name, x| {
            let action = x.walk_field_mut(&Key::from(name.clone()), w, entries);
            entries == Place::Fixed || action == Action::Keep
        });
        w.leave();
    }
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
