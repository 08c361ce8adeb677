//! How each field type takes part in graph traversal.
//!
//! `#[derive(Module)]` calls [`Field`] on every field; the field's type decides
//! whether it is a Variable, a child node, a container of those, or a static
//! hyperparameter. No type is inspected at run time.
//!
//! A hand-written implementation walks its fields under their keys, between
//! `enter` and `leave`, and builds them back in the same order:
//!
//! ```
//! use nnx_core::prelude::*;
//! use nnx_core::graph::{Builder, Field, NodeHeader, Walker, WalkerMut};
//!
//! struct Affine { w: Param<f32>, b: Param<f32>, features: usize }
//!
//! impl Field for Affine {
//!     fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
//!         w.enter(key, NodeHeader::node("Affine"));
//!         self.w.walk_field(&Key::from("w"), w);
//!         self.b.walk_field(&Key::from("b"), w);
//!         self.features.walk_field(&Key::from("features"), w); // a static
//!         w.leave();
//!     }
//!     fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: bool) -> bool {
//!         w.enter(key, NodeHeader::node("Affine"));
//!         self.w.walk_field_mut(&Key::from("w"), w, false);
//!         self.b.walk_field_mut(&Key::from("b"), w, false);
//!         self.features.walk_field_mut(&Key::from("features"), w, false);
//!         w.leave();
//!         false
//!     }
//!     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
//!         b.enter(key)?;
//!         let w = Field::build_field(&Key::from("w"), b)?;
//!         let bias = Field::build_field(&Key::from("b"), b)?;
//!         let features = Field::build_field(&Key::from("features"), b)?;
//!         b.leave()?;
//!         Ok(Affine { w, b: bias, features })
//!     }
//! }
//! impl Module for Affine {}
//!
//! let m = Affine { w: Param::new(2.0), b: Param::new(1.0), features: 4 };
//! assert_eq!(m.state().flat_state().paths(), vec![vec![Key::from("b")], vec![Key::from("w")]]);
//! let (g, s) = m.split(..)?;
//! let back: Affine = g.merge(s)?;
//! assert_eq!((*back.w, *back.b, back.features), (2.0, 1.0, 4));
//! # Ok::<(), nnx_core::Error>(())
//! ```

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::error::Result;
use crate::graph::builder::Builder;
use crate::key::Key;
use crate::variable::AnyVariable;

/// What a walker is told about a node it enters.
///
/// ```
/// use nnx_core::graph::NodeHeader;
/// let h = NodeHeader::node("Linear");
/// assert_eq!(h, NodeHeader { type_name: "Linear", transparent: false });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeHeader {
    /// The node's type (`Linear`, `Vec`, `Model::Variant`).
    pub type_name: &'static str,
    /// A transparent node adds no path component (a `sow` store lives at its
    /// module's own level).
    pub transparent: bool,
}

impl NodeHeader {
    /// A node that adds its key to the path.
    ///
    /// ```
    /// assert!(!nnx_core::graph::NodeHeader::node("Linear").transparent);
    /// ```
    pub const fn node(type_name: &'static str) -> Self {
        NodeHeader {
            type_name,
            transparent: false,
        }
    }
}

/// Read-only traversal callbacks (state, graphdef, filters, printing).
///
/// A walker that counts Variables, nodes and statics, visiting a shared object once:
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::{Field, NodeHeader, StaticField, Walker};
/// use nnx_core::AnyVariable;
///
/// #[derive(Default)]
/// struct Count { variables: usize, nodes: usize, statics: usize, seen: Vec<usize> }
///
/// impl Walker for Count {
///     fn enter(&mut self, _: &Key, _: NodeHeader) { self.nodes += 1 }
///     fn leave(&mut self) {}
///     fn shared(&mut self, _: &Key, id: usize) -> bool {
///         let first = !self.seen.contains(&id);
///         self.seen.push(id);
///         first
///     }
///     fn variable(&mut self, _: &Key, _: &dyn AnyVariable) { self.variables += 1 }
///     fn static_value(&mut self, _: &Key, _: &dyn StaticField) { self.statics += 1 }
///     fn none(&mut self, _: &Key) {}
/// }
///
/// #[derive(Module)]
/// struct Net { layers: Vec<Param<f32>>, tied: [Shared<Param<f32>>; 2], bias: Option<Param<f32>>, #[nnx(static)] width: usize }
/// let p = Shared::new(Param::new(0.0));
/// let net = Net { layers: vec![Param::new(1.0); 3], tied: [p.clone(), p], bias: None, width: 3 };
/// let mut count = Count::default();
/// net.walk_field(&Key::from(0usize), &mut count);
/// assert_eq!(count.variables, 4); // 3 layers + the tied Param once
/// assert_eq!(count.nodes, 3); // Net, the Vec and the array
/// assert_eq!(count.statics, 1);
/// ```
pub trait Walker {
    /// A child node begins under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, StaticField, Walker};
    /// use nnx_core::AnyVariable;
    /// // Collects the type names of the nodes entered.
    /// struct Types(Vec<&'static str>);
    /// impl Walker for Types {
    ///     fn enter(&mut self, _: &Key, h: NodeHeader) { self.0.push(h.type_name) }
    /// #   fn leave(&mut self) {}
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn variable(&mut self, _: &Key, _: &dyn AnyVariable) {}
    /// #   fn static_value(&mut self, _: &Key, _: &dyn StaticField) {}
    /// #   fn none(&mut self, _: &Key) {}
    /// }
    /// let mut t = Types(Vec::new());
    /// vec![vec![Param::new(1.0f32)]].walk_field(&Key::from(0usize), &mut t);
    /// assert_eq!(t.0, ["Vec", "Vec"]);
    /// ```
    fn enter(&mut self, key: &Key, header: NodeHeader);
    /// The current node ends.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, StaticField, Walker};
    /// use nnx_core::AnyVariable;
    /// // Tracks the deepest nesting.
    /// #[derive(Default)]
    /// struct Depth { now: usize, max: usize }
    /// impl Walker for Depth {
    ///     fn enter(&mut self, _: &Key, _: NodeHeader) { self.now += 1; self.max = self.max.max(self.now) }
    ///     fn leave(&mut self) { self.now -= 1 }
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn variable(&mut self, _: &Key, _: &dyn AnyVariable) {}
    /// #   fn static_value(&mut self, _: &Key, _: &dyn StaticField) {}
    /// #   fn none(&mut self, _: &Key) {}
    /// }
    /// let mut d = Depth::default();
    /// vec![vec![Param::new(1.0f32)], vec![]].walk_field(&Key::from(0usize), &mut d);
    /// assert_eq!((d.now, d.max), (0, 2));
    /// ```
    fn leave(&mut self);
    /// A shared object under `key`; `true` means first visit: walk it.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, StaticField, Walker};
    /// use nnx_core::AnyVariable;
    /// // Answers `true` every time, so a shared object is walked at each occurrence.
    /// #[derive(Default)]
    /// struct Every(usize);
    /// impl Walker for Every {
    ///     fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    ///     fn variable(&mut self, _: &Key, _: &dyn AnyVariable) { self.0 += 1 }
    /// #   fn enter(&mut self, _: &Key, _: NodeHeader) {}
    /// #   fn leave(&mut self) {}
    /// #   fn static_value(&mut self, _: &Key, _: &dyn StaticField) {}
    /// #   fn none(&mut self, _: &Key) {}
    /// }
    /// let p = Shared::new(Param::new(1.0f32));
    /// let mut e = Every::default();
    /// vec![p.clone(), p].walk_field(&Key::from(0usize), &mut e);
    /// assert_eq!(e.0, 2);
    /// ```
    fn shared(&mut self, key: &Key, id: usize) -> bool;
    /// A Variable under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, StaticField, Walker};
    /// use nnx_core::AnyVariable;
    /// // Sums the element counts of array Variables.
    /// #[derive(Default)]
    /// struct Size(usize);
    /// impl Walker for Size {
    ///     fn variable(&mut self, _: &Key, var: &dyn AnyVariable) {
    ///         self.0 += var.value_dyn().size_bytes().map_or(0, |(n, _)| n);
    ///     }
    /// #   fn enter(&mut self, _: &Key, _: NodeHeader) {}
    /// #   fn leave(&mut self) {}
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn static_value(&mut self, _: &Key, _: &dyn StaticField) {}
    /// #   fn none(&mut self, _: &Key) {}
    /// }
    /// let m = vec![Param::new(ndarray::Array2::<f32>::zeros((2, 3))), Param::new(ndarray::Array2::zeros((1, 4)))];
    /// let mut s = Size::default();
    /// m.walk_field(&Key::from(0usize), &mut s);
    /// assert_eq!(s.0, 10);
    /// ```
    fn variable(&mut self, key: &Key, var: &dyn AnyVariable);
    /// A static hyperparameter under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, StaticField, Walker};
    /// use nnx_core::AnyVariable;
    /// // Keeps the statics as GraphDef values.
    /// #[derive(Default)]
    /// struct Statics(Vec<std::sync::Arc<dyn nnx_core::graph::DynStatic>>);
    /// impl Walker for Statics {
    ///     fn static_value(&mut self, _: &Key, value: &dyn StaticField) { self.0.push(value.to_dyn()) }
    /// #   fn enter(&mut self, _: &Key, _: NodeHeader) {}
    /// #   fn leave(&mut self) {}
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn variable(&mut self, _: &Key, _: &dyn AnyVariable) {}
    /// #   fn none(&mut self, _: &Key) {}
    /// }
    /// let mut s = Statics::default();
    /// vec![7usize].walk_field(&Key::from(0usize), &mut s);
    /// assert!(s.0[0].dyn_eq(&7usize));
    /// ```
    fn static_value(&mut self, key: &Key, value: &dyn StaticField);
    /// An empty `Option` under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, StaticField, Walker};
    /// use nnx_core::AnyVariable;
    /// // Lists the keys of empty `Option`s.
    /// #[derive(Default)]
    /// struct Empty(Vec<Key>);
    /// impl Walker for Empty {
    ///     fn none(&mut self, key: &Key) { self.0.push(key.clone()) }
    /// #   fn enter(&mut self, _: &Key, _: NodeHeader) {}
    /// #   fn leave(&mut self) {}
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn variable(&mut self, _: &Key, _: &dyn AnyVariable) {}
    /// #   fn static_value(&mut self, _: &Key, _: &dyn StaticField) {}
    /// }
    /// let mut e = Empty::default();
    /// vec![Some(Param::new(1.0f32)), None].walk_field(&Key::from(0usize), &mut e);
    /// assert_eq!(e.0, [Key::from(1usize)]);
    /// ```
    fn none(&mut self, key: &Key);
}

/// Mutating traversal callbacks (update, pop, set_attributes).
///
/// A walker that empties every removable Variable slot and sets `usize` statics:
///
/// ```
/// use std::any::Any;
/// use nnx_core::prelude::*;
/// use nnx_core::graph::{Field, NodeHeader, WalkerMut};
/// use nnx_core::AnyVariable;
///
/// struct Strip { width: usize, removed: usize }
/// impl WalkerMut for Strip {
///     fn enter(&mut self, _: &Key, _: NodeHeader) {}
///     fn leave(&mut self) {}
///     fn shared(&mut self, _: &Key, _: usize) -> bool { true }
///     fn variable(&mut self, _: &Key, _: &mut dyn AnyVariable, removable: bool) -> bool {
///         self.removed += usize::from(removable);
///         removable
///     }
///     fn static_value(&mut self, _: &Key, value: &mut dyn Any) {
///         if let Some(w) = value.downcast_mut::<usize>() { *w = self.width }
///     }
/// }
///
/// #[derive(Module)]
/// struct Net { w: Param<f32>, bias: Option<Param<f32>>, #[nnx(static)] width: usize }
/// let mut net = Net { w: Param::new(1.0), bias: Some(Param::new(0.0)), width: 2 };
/// let mut strip = Strip { width: 5, removed: 0 };
/// net.walk_field_mut(&Key::from(0usize), &mut strip, false);
/// assert_eq!((strip.removed, net.bias.is_none(), net.width), (1, true, 5));
/// ```
pub trait WalkerMut {
    /// A child node begins under `key`.
    ///
    /// ```
    /// use std::any::Any;
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, WalkerMut};
    /// use nnx_core::AnyVariable;
    /// // Counts the nodes entered.
    /// struct Nodes(usize);
    /// impl WalkerMut for Nodes {
    ///     fn enter(&mut self, _: &Key, _: NodeHeader) { self.0 += 1 }
    /// #   fn leave(&mut self) {}
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn variable(&mut self, _: &Key, _: &mut dyn AnyVariable, _: bool) -> bool { false }
    /// #   fn static_value(&mut self, _: &Key, _: &mut dyn Any) {}
    /// }
    /// let mut n = Nodes(0);
    /// vec![vec![Param::new(1.0f32)]].walk_field_mut(&Key::from(0usize), &mut n, false);
    /// assert_eq!(n.0, 2);
    /// ```
    fn enter(&mut self, key: &Key, header: NodeHeader);
    /// The current node ends.
    ///
    /// ```
    /// use std::any::Any;
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, WalkerMut};
    /// use nnx_core::AnyVariable;
    /// // Records the path of keys while walking.
    /// struct Keys(Vec<Key>, Vec<Vec<Key>>);
    /// impl WalkerMut for Keys {
    ///     fn enter(&mut self, key: &Key, _: NodeHeader) { self.0.push(key.clone()) }
    ///     fn leave(&mut self) { self.0.pop(); }
    ///     fn variable(&mut self, key: &Key, _: &mut dyn AnyVariable, _: bool) -> bool {
    ///         self.1.push([&self.0[..], &[key.clone()]].concat());
    ///         false
    ///     }
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn static_value(&mut self, _: &Key, _: &mut dyn Any) {}
    /// }
    /// let mut k = Keys(Vec::new(), Vec::new());
    /// vec![Param::new(1.0f32)].walk_field_mut(&Key::from("m"), &mut k, false);
    /// assert_eq!(k.1, [vec![Key::from("m"), Key::from(0usize)]]);
    /// assert!(k.0.is_empty());
    /// ```
    fn leave(&mut self);
    /// A shared object under `key`; `true` means first visit: walk it.
    ///
    /// ```
    /// use std::any::Any;
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, WalkerMut};
    /// use nnx_core::AnyVariable;
    /// // Walks nothing shared.
    /// struct NoShared(usize);
    /// impl WalkerMut for NoShared {
    ///     fn shared(&mut self, _: &Key, _: usize) -> bool { false }
    ///     fn variable(&mut self, _: &Key, _: &mut dyn AnyVariable, _: bool) -> bool {
    ///         self.0 += 1;
    ///         false
    ///     }
    /// #   fn enter(&mut self, _: &Key, _: NodeHeader) {}
    /// #   fn leave(&mut self) {}
    /// #   fn static_value(&mut self, _: &Key, _: &mut dyn Any) {}
    /// }
    /// let mut m = (Shared::new(Param::new(1.0f32)), Param::new(2.0f32));
    /// let mut w = NoShared(0);
    /// m.0.walk_field_mut(&Key::from("a"), &mut w, false);
    /// m.1.walk_field_mut(&Key::from("b"), &mut w, false);
    /// assert_eq!(w.0, 1);
    /// ```
    fn shared(&mut self, key: &Key, id: usize) -> bool;
    /// A Variable under `key`. Return `true` to remove it, which only removable
    /// slots (`Option` fields, `sow` stores) honour; `removable` says which it is.
    ///
    /// ```
    /// use std::any::Any;
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, WalkerMut};
    /// use nnx_core::AnyVariable;
    /// // Asks to remove everything; only the `Option` slot gives way.
    /// struct RemoveAll;
    /// impl WalkerMut for RemoveAll {
    ///     fn variable(&mut self, _: &Key, _: &mut dyn AnyVariable, _: bool) -> bool { true }
    /// #   fn enter(&mut self, _: &Key, _: NodeHeader) {}
    /// #   fn leave(&mut self) {}
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn static_value(&mut self, _: &Key, _: &mut dyn Any) {}
    /// }
    /// let mut m = vec![Some(Param::new(1.0f32))];
    /// let mut p = Param::new(2.0f32);
    /// m.walk_field_mut(&Key::from(0usize), &mut RemoveAll, false);
    /// p.walk_field_mut(&Key::from(0usize), &mut RemoveAll, false);
    /// assert!(m[0].is_none());
    /// assert_eq!(*p, 2.0);
    /// ```
    fn variable(&mut self, key: &Key, var: &mut dyn AnyVariable, removable: bool) -> bool;
    /// A static hyperparameter under `key`, to read or set.
    ///
    /// ```
    /// use std::any::Any;
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, WalkerMut};
    /// use nnx_core::AnyVariable;
    /// // Doubles every `f32` static.
    /// struct Double;
    /// impl WalkerMut for Double {
    ///     fn static_value(&mut self, _: &Key, value: &mut dyn Any) {
    ///         if let Some(x) = value.downcast_mut::<f32>() { *x *= 2.0 }
    ///     }
    /// #   fn enter(&mut self, _: &Key, _: NodeHeader) {}
    /// #   fn leave(&mut self) {}
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn variable(&mut self, _: &Key, _: &mut dyn AnyVariable, _: bool) -> bool { false }
    /// }
    /// let mut rates = vec![0.5f32, 1.5];
    /// rates.walk_field_mut(&Key::from(0usize), &mut Double, false);
    /// assert_eq!(rates, [1.0, 3.0]);
    /// ```
    fn static_value(&mut self, key: &Key, value: &mut dyn Any);
}

/// A type that can be a field of a `#[derive(Module)]` struct.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a graph node nor a static hyperparameter",
    label = "this field's type is not a Variable, a Module, a container of those, or a primitive",
    note = "mark the field `#[nnx(static)]` if it is a hyperparameter (Clone + Debug + PartialEq + Hash), or `#[nnx(skip)]` to leave it out of the graph"
)]
///
/// `#[derive(Module)]` writes these for structs and enums; the [module
/// docs](self) show a hand-written one for a struct.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::{Builder, Field, Walker, WalkerMut};
///
/// /// A newtype is its inner field: same key, no node of its own.
/// struct Meters(Param<f32>);
/// impl Field for Meters {
///     fn walk_field(&self, key: &Key, w: &mut dyn Walker) { self.0.walk_field(key, w) }
///     fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, removable: bool) -> bool {
///         self.0.walk_field_mut(key, w, removable)
///     }
///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
///         Param::build_field(key, b).map(Meters)
///     }
/// }
/// impl Module for Meters {}
///
/// #[derive(Module)]
/// struct Run { distance: Meters }
/// let run = Run { distance: Meters(Param::new(5.0)) };
/// assert_eq!(run.state().flat_state().paths(), vec![vec![Key::from("distance")]]);
/// ```
pub trait Field: Sized + Send + Sync + 'static {
    /// Walks the field under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, StaticField, Walker};
    /// use nnx_core::AnyVariable;
    /// struct Count(usize);
    /// impl Walker for Count {
    ///     fn variable(&mut self, _: &Key, _: &dyn AnyVariable) { self.0 += 1 }
    /// #   fn enter(&mut self, _: &Key, _: NodeHeader) {}
    /// #   fn leave(&mut self) {}
    /// #   fn shared(&mut self, _: &Key, _: usize) -> bool { true }
    /// #   fn static_value(&mut self, _: &Key, _: &dyn StaticField) {}
    /// #   fn none(&mut self, _: &Key) {}
    /// }
    /// // `state()` is a walk too: both reach the same Variables.
    /// let m = vec![Param::new(1.0f32), Param::new(2.0)];
    /// let mut c = Count(0);
    /// m.walk_field(&Key::from(0usize), &mut c);
    /// assert_eq!(c.0, m.state().len());
    /// ```
    fn walk_field(&self, key: &Key, w: &mut dyn Walker);
    /// Walks the field mutably under `key`. Returns `true` when the walker asked
    /// to remove a Variable that this field is (the owner empties the slot if it can).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// // `update` is a mutable walk: it reaches the Variable inside the `Option`.
    /// let mut m = Some(Param::new(1.0f32));
    /// m.update(Some(Param::new(3.0f32)).state())?;
    /// assert_eq!(m.map(|p| *p), Some(3.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, removable: bool) -> bool;
    /// Rebuilds the field from a GraphDef and States.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// // `GraphDef::merge` calls `build_field` on the root type.
    /// let (g, s) = vec![Param::new(1.0f32), Param::new(2.0)].split(..)?;
    /// let back: Vec<Param<f32>> = g.merge(s)?;
    /// assert_eq!(*back[1], 2.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self>;
}

/// A static hyperparameter as walkers see it.
///
/// ```
/// use nnx_core::graph::{AsStatic, StaticField};
/// let relu = "relu".to_string();
/// assert!(!relu.to_dyn().dyn_eq(&*AsStatic(&relu).to_dyn())); // a String is not a StaticBox<String>
/// assert!(relu.to_dyn().dyn_eq(&"relu".to_string()));
/// ```
pub trait StaticField {
    /// An owned, hashable copy for the GraphDef.
    ///
    /// ```
    /// use nnx_core::graph::StaticField;
    /// let copy = 0.5f32.to_dyn();
    /// assert_eq!(copy.as_any().downcast_ref::<f32>(), Some(&0.5));
    /// ```
    fn to_dyn(&self) -> Arc<dyn DynStatic>;
}

/// A static value stored in a GraphDef: comparable and hashable behind `dyn`.
///
/// ```
/// use std::sync::Arc;
/// use nnx_core::graph::DynStatic;
/// let statics: Vec<Arc<dyn DynStatic>> = vec![Arc::new(3usize), Arc::new(String::from("relu"))];
/// assert!(statics[0].dyn_eq(&3usize));
/// assert!(!statics[0].dyn_eq(&*statics[1]));
/// ```
pub trait DynStatic: Any + Send + Sync + fmt::Debug {
    /// Equality with another static (floats compare by bits, so NaN equals NaN).
    ///
    /// ```
    /// use nnx_core::graph::DynStatic;
    /// assert!(f32::NAN.dyn_eq(&f32::NAN));
    /// assert!(!1u8.dyn_eq(&1u16)); // another type is never equal
    /// ```
    fn dyn_eq(&self, other: &dyn DynStatic) -> bool;
    /// Feeds the value to a hasher.
    ///
    /// ```
    /// use std::hash::{DefaultHasher, Hash, Hasher};
    /// use nnx_core::graph::DynStatic;
    /// let mut a = DefaultHasher::new();
    /// 7usize.dyn_hash(&mut a);
    /// let mut b = DefaultHasher::new();
    /// 7usize.hash(&mut b);
    /// assert_eq!(a.finish(), b.finish());
    /// ```
    fn dyn_hash(&self, state: &mut dyn Hasher);
    /// `self` as `Any`.
    ///
    /// ```
    /// use nnx_core::graph::DynStatic;
    /// assert_eq!(DynStatic::as_any(&true).downcast_ref::<bool>(), Some(&true));
    /// ```
    fn as_any(&self) -> &dyn Any;
}

/// The bound of `#[nnx(static)]` fields.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::StaticHyperparameter;
///
/// #[derive(Clone, Debug, PartialEq, Hash)]
/// enum Act { Relu, Gelu }
/// fn is_static<T: StaticHyperparameter>(_: &T) {}
/// is_static(&Act::Gelu);
///
/// #[derive(Module)]
/// struct Mlp { w: Param<f32>, #[nnx(static)] act: Act }
/// let (g, s) = Mlp { w: Param::new(1.0), act: Act::Gelu }.split(..)?;
/// assert_ne!(g, Mlp { w: Param::new(1.0), act: Act::Relu }.graphdef()); // statics are in the GraphDef
/// assert_eq!(g.merge(s)?.act, Act::Gelu);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[nnx(static)]` field",
    label = "static fields live in the GraphDef, which is compared and hashed",
    note = "a static field must be Clone + Debug + PartialEq + Hash + Send + Sync + 'static"
)]
pub trait StaticHyperparameter:
    Clone + fmt::Debug + PartialEq + Hash + Send + Sync + 'static
{
}
impl<T: Clone + fmt::Debug + PartialEq + Hash + Send + Sync + 'static> StaticHyperparameter for T {}

/// An owned `#[nnx(static)]` value in a GraphDef.
///
/// ```
/// use nnx_core::graph::{DynStatic, StaticBox};
/// assert!(StaticBox(2u8).dyn_eq(&StaticBox(2u8)));
/// assert!(!StaticBox(2u8).dyn_eq(&2u8)); // boxed and plain are different types
/// ```
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct StaticBox<T>(pub T);

impl<T: StaticHyperparameter> DynStatic for StaticBox<T> {
    fn dyn_eq(&self, other: &dyn DynStatic) -> bool {
        other.as_any().downcast_ref::<Self>() == Some(self)
    }
    fn dyn_hash(&self, mut state: &mut dyn Hasher) {
        self.0.hash(&mut state)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A borrowed `#[nnx(static)]` field, as the derive passes it to walkers.
///
/// ```
/// use nnx_core::graph::{AsStatic, StaticBox, StaticField};
/// let act = vec!["relu", "gelu"];
/// assert!(AsStatic(&act).to_dyn().dyn_eq(&StaticBox(vec!["relu", "gelu"])));
/// ```
pub struct AsStatic<'a, T>(pub &'a T);

impl<T: StaticHyperparameter> StaticField for AsStatic<'_, T> {
    fn to_dyn(&self) -> Arc<dyn DynStatic> {
        Arc::new(StaticBox(self.0.clone()))
    }
}

/// Walks a `#[nnx(static)]` field (used by the derive).
#[doc(hidden)]
pub fn walk_static<T: StaticHyperparameter>(value: &T, key: &Key, w: &mut dyn Walker) {
    w.static_value(key, &AsStatic(value))
}

/// Walks a `#[nnx(static)]` field mutably (used by the derive).
#[doc(hidden)]
pub fn walk_static_mut<T: StaticHyperparameter>(value: &mut T, key: &Key, w: &mut dyn WalkerMut) {
    w.static_value(key, value)
}

/// Rebuilds a `#[nnx(static)]` field (used by the derive).
#[doc(hidden)]
pub fn build_static<T: StaticHyperparameter>(key: &Key, b: &mut Builder<'_>) -> Result<T> {
    b.static_value::<StaticBox<T>>(key).map(|s| s.0)
}

/// The walk functions of `#[nnx(static)]` fields as one trait, so that a type that
/// cannot be static gets one error, not one per function (used by the derive).
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `#[nnx(static)]` field",
    label = "static fields live in the GraphDef, which is compared and hashed",
    note = "a static field must be Clone + Debug + PartialEq + Hash + Send + Sync + 'static"
)]
pub trait StaticWalk: Sized {
    /// [`walk_static`].
    fn walk(&self, key: &Key, w: &mut dyn Walker);
    /// [`walk_static_mut`].
    fn walk_mut(&mut self, key: &Key, w: &mut dyn WalkerMut);
    /// [`build_static`].
    fn build(key: &Key, b: &mut Builder<'_>) -> Result<Self>;
}

impl<T: StaticHyperparameter> StaticWalk for T {
    fn walk(&self, key: &Key, w: &mut dyn Walker) {
        walk_static(self, key, w)
    }
    fn walk_mut(&mut self, key: &Key, w: &mut dyn WalkerMut) {
        walk_static_mut(self, key, w)
    }
    fn build(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        build_static(key, b)
    }
}

macro_rules! primitive_fields {
    ($($t:ty),*) => {$(
        impl DynStatic for $t {
            fn dyn_eq(&self, other: &dyn DynStatic) -> bool {
                other.as_any().downcast_ref::<Self>() == Some(self)
            }
            fn dyn_hash(&self, mut state: &mut dyn Hasher) {
                self.hash(&mut state)
            }
            fn as_any(&self) -> &dyn Any {
                self
            }
        }
        primitive_field_walk!($t);
    )*};
}

macro_rules! float_fields {
    ($($t:ty),*) => {$(
        // Floats compare and hash by bits so that a GraphDef is `Eq + Hash`.
        impl DynStatic for $t {
            fn dyn_eq(&self, other: &dyn DynStatic) -> bool {
                other.as_any().downcast_ref::<Self>().map(|o| o.to_bits()) == Some(self.to_bits())
            }
            fn dyn_hash(&self, mut state: &mut dyn Hasher) {
                self.to_bits().hash(&mut state)
            }
            fn as_any(&self) -> &dyn Any {
                self
            }
        }
        primitive_field_walk!($t);
    )*};
}

macro_rules! primitive_field_walk {
    ($t:ty) => {
        impl StaticField for $t {
            fn to_dyn(&self) -> Arc<dyn DynStatic> {
                Arc::new(self.clone())
            }
        }

        /// A primitive field is a static hyperparameter without any attribute.
        impl Field for $t {
            fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
                w.static_value(key, self)
            }
            fn walk_field_mut(
                &mut self,
                key: &Key,
                w: &mut dyn WalkerMut,
                _removable: bool,
            ) -> bool {
                w.static_value(key, self);
                false
            }
            fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
                b.static_value::<$t>(key)
            }
        }
    };
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
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _removable: bool) -> bool {
        if let Some(x) = self {
            if x.walk_field_mut(key, w, true) {
                *self = None;
            }
        }
        false
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
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, removable: bool) -> bool {
        (**self).walk_field_mut(key, w, removable)
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        T::build_field(key, b).map(Box::new)
    }
}

/// Elements sit under integer keys, as Flax lists do.
impl<T: Field> Field for Vec<T> {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        w.enter(key, NodeHeader::node("Vec"));
        for (i, x) in self.iter().enumerate() {
            x.walk_field(&Key::Int(i), w);
        }
        w.leave();
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _removable: bool) -> bool {
        w.enter(key, NodeHeader::node("Vec"));
        for (i, x) in self.iter_mut().enumerate() {
            x.walk_field_mut(&Key::Int(i), w, false);
        }
        w.leave();
        false
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
        w.enter(key, NodeHeader::node("Array"));
        for (i, x) in self.iter().enumerate() {
            x.walk_field(&Key::Int(i), w);
        }
        w.leave();
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _removable: bool) -> bool {
        w.enter(key, NodeHeader::node("Array"));
        for (i, x) in self.iter_mut().enumerate() {
            x.walk_field_mut(&Key::Int(i), w, false);
        }
        w.leave();
        false
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

/// Entries sit under their string keys, sorted.
impl<T: Field> Field for BTreeMap<String, T> {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        w.enter(key, NodeHeader::node("BTreeMap"));
        for (k, x) in self {
            x.walk_field(&Key::from(k.clone()), w);
        }
        w.leave();
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _removable: bool) -> bool {
        w.enter(key, NodeHeader::node("BTreeMap"));
        for (k, x) in self.iter_mut() {
            x.walk_field_mut(&Key::from(k.clone()), w, false);
        }
        w.leave();
        false
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
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
}

/// Walks a typed Variable (used by `variable_type!`).
#[doc(hidden)]
pub fn walk_variable<V: crate::VariableType>(var: &V, key: &Key, w: &mut dyn Walker) {
    w.variable(key, var.as_variable())
}

/// Walks a typed Variable mutably (used by `variable_type!`).
#[doc(hidden)]
pub fn walk_variable_mut<V: crate::VariableType>(
    var: &mut V,
    key: &Key,
    w: &mut dyn WalkerMut,
    removable: bool,
) -> bool {
    w.variable(key, var.as_variable_mut(), removable)
}

/// The graph impls of a Variable type (used by `variable_type!`).
#[doc(hidden)]
#[macro_export]
macro_rules! __variable_graph_impls {
    ($name:ident) => {
        impl<T: $crate::value::Value + ::core::clone::Clone> $crate::graph::Field for $name<T> {
            fn walk_field(&self, key: &$crate::Key, w: &mut dyn $crate::graph::Walker) {
                $crate::graph::field::walk_variable(self, key, w)
            }
            fn walk_field_mut(
                &mut self,
                key: &$crate::Key,
                w: &mut dyn $crate::graph::WalkerMut,
                removable: bool,
            ) -> bool {
                $crate::graph::field::walk_variable_mut(self, key, w, removable)
            }
            fn build_field(
                key: &$crate::Key,
                b: &mut $crate::graph::Builder<'_>,
            ) -> $crate::Result<Self> {
                b.variable::<Self>(key)
            }
        }

        impl<T: $crate::value::Value + ::core::clone::Clone> $crate::Module for $name<T> {}
    };
}

crate::__variable_graph_impls!(Variable);
use crate::variable::Variable;
