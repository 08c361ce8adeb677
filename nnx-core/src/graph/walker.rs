//! The walker protocol: what a [`Field`](crate::graph::Field) tells a walker
//! while it walks itself. Every callback has a no-op default, so a walker
//! writes only the ones it uses.

use std::any::Any;

use crate::graph::statics::DynStatic;
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

/// Which object a derived node is: its address and its Rust type (a struct
/// and its first field can share an address, never a type). A walker compares
/// it with [`NodeAddress::of`] a reference seen elsewhere, as
/// [`tabulate_with`](crate::tabulate_with) does to find the path of a
/// layer that recorded its call.
///
/// ```
/// use nnx_core::graph::NodeAddress;
/// let pair = (1u8, 2u16);
/// assert_eq!(NodeAddress::of(&pair), NodeAddress::of(&pair));
/// assert_ne!(NodeAddress::of(&pair.0), NodeAddress::of(&pair.1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeAddress {
    addr: usize,
    type_name: &'static str,
}

impl NodeAddress {
    /// The address and type of `node`.
    ///
    /// ```
    /// let x = 3.0f32;
    /// assert_eq!(nnx_core::graph::NodeAddress::of(&x), nnx_core::graph::NodeAddress::of(&x));
    /// ```
    #[inline]
    pub fn of<T: ?Sized>(node: &T) -> Self {
        NodeAddress {
            // Only compared, never turned back into a pointer.
            addr: std::ptr::from_ref(node).cast::<()>() as usize,
            type_name: std::any::type_name::<T>(),
        }
    }

    /// The node's Rust type.
    pub(crate) fn type_name(&self) -> &'static str {
        self.type_name
    }
}

/// Where a mutable walk meets a Variable: whether its owner can empty the slot.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::{Action, Field, Place, WalkerMut};
/// use nnx_core::AnyVariable;
/// // Counts the Variables `pop` could remove.
/// struct Removable(usize);
/// impl WalkerMut for Removable {
///     fn variable(&mut self, _: &Key, _: &mut dyn AnyVariable, place: Place) -> Action {
///         self.0 += usize::from(place == Place::Removable);
///         Action::Keep
///     }
/// }
/// let mut m = (Some(Param::new(1.0f32)), Param::new(2.0f32));
/// let mut r = Removable(0);
/// m.0.walk_field_mut(&Key::from("a"), &mut r, Place::Fixed);
/// m.1.walk_field_mut(&Key::from("b"), &mut r, Place::Fixed);
/// assert_eq!(r.0, 1); // only the `Option` slot
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// A struct field, a `Vec` element...: the Variable stays.
    Fixed,
    /// An `Option` field or a `sow` store: the Variable can be taken out.
    Removable,
}

/// What a mutable walk asks of the slot of the Variable it just visited.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::{Action, Field, Place, WalkerMut};
/// use nnx_core::AnyVariable;
/// // Asks to remove everything; only the `Option` slot gives way.
/// struct RemoveAll;
/// impl WalkerMut for RemoveAll {
///     fn variable(&mut self, _: &Key, _: &mut dyn AnyVariable, _: Place) -> Action {
///         Action::Remove
///     }
/// }
/// let mut m = vec![Some(Param::new(1.0f32))];
/// let mut p = Param::new(2.0f32);
/// m.walk_field_mut(&Key::from(0usize), &mut RemoveAll, Place::Fixed);
/// p.walk_field_mut(&Key::from(0usize), &mut RemoveAll, Place::Fixed);
/// assert!(m[0].is_none());
/// assert_eq!(*p, 2.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Leave the Variable where it is.
    Keep,
    /// Take it out, if its [`Place`] is removable.
    Remove,
}

/// Read-only traversal callbacks (state, graphdef, filters, printing).
///
/// A walker that counts Variables, nodes and statics, visiting a shared object once:
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::{DynStatic, Field, NodeHeader, Walker};
/// use nnx_core::AnyVariable;
///
/// #[derive(Default)]
/// struct Count { variables: usize, nodes: usize, statics: usize, seen: Vec<usize> }
///
/// impl Walker for Count {
///     fn enter(&mut self, _: &Key, _: NodeHeader) -> bool { self.nodes += 1; true }
///     fn shared(&mut self, _: &Key, id: usize) -> bool {
///         let first = !self.seen.contains(&id);
///         self.seen.push(id);
///         first
///     }
///     fn variable(&mut self, _: &Key, _: &dyn AnyVariable) { self.variables += 1 }
///     fn static_value(&mut self, _: &Key, _: &dyn DynStatic) { self.statics += 1 }
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
    /// A child node begins under `key`. `true` walks its children, then
    /// [`leave`](Walker::leave); `false` skips the node (no children, no
    /// `leave`): the graph operations refuse nodes nested deeper than
    /// [`MAX_DEPTH`](crate::MAX_DEPTH) this way.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, Walker};
    /// struct Types(Vec<&'static str>);
    /// impl Walker for Types {
    ///     fn enter(&mut self, _: &Key, h: NodeHeader) -> bool {
    ///         self.0.push(h.type_name);
    ///         true
    ///     }
    /// }
    /// let mut t = Types(Vec::new());
    /// vec![vec![Param::new(1.0f32)]].walk_field(&Key::from(0usize), &mut t);
    /// assert_eq!(t.0, ["Vec", "Vec"]);
    /// ```
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        let _ = (key, header);
        true
    }
    /// The current node ends.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, Walker};
    /// #[derive(Default)]
    /// struct Depth { now: usize, max: usize }
    /// impl Walker for Depth {
    ///     fn enter(&mut self, _: &Key, _: NodeHeader) -> bool {
    ///         self.now += 1;
    ///         self.max = self.max.max(self.now);
    ///         true
    ///     }
    ///     fn leave(&mut self) { self.now -= 1 }
    /// }
    /// let mut d = Depth::default();
    /// vec![vec![Param::new(1.0f32)], vec![]].walk_field(&Key::from(0usize), &mut d);
    /// assert_eq!((d.now, d.max), (0, 2));
    /// ```
    fn leave(&mut self) {}
    /// [`enter`](Walker::enter), for a derived struct or enum node, told
    /// which object the node is; the default forgets `at` and calls `enter`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeAddress, NodeHeader, Walker};
    /// struct Where(Vec<NodeAddress>);
    /// impl Walker for Where {
    ///     fn enter_at(&mut self, _: &Key, _: NodeHeader, at: NodeAddress) -> bool {
    ///         self.0.push(at);
    ///         true
    ///     }
    /// }
    /// #[derive(Module)]
    /// struct Inner { w: Param<f32> }
    /// #[derive(Module)]
    /// struct Outer { a: Inner, b: Inner }
    /// let m = Outer { a: Inner { w: Param::new(1.0) }, b: Inner { w: Param::new(2.0) } };
    /// let mut w = Where(Vec::new());
    /// m.walk_field(&Key::from(0usize), &mut w);
    /// assert_eq!(w.0, [NodeAddress::of(&m), NodeAddress::of(&m.a), NodeAddress::of(&m.b)]);
    /// ```
    fn enter_at(&mut self, key: &Key, header: NodeHeader, at: NodeAddress) -> bool {
        let _ = at;
        self.enter(key, header)
    }
    /// A shared object under `key`; `true` means walk it. The default walks it at
    /// every occurrence; the graph operations answer `true` only the first time.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, Walker};
    /// use nnx_core::AnyVariable;
    /// struct Firsts(Vec<usize>, usize);
    /// impl Walker for Firsts {
    ///     fn shared(&mut self, _: &Key, id: usize) -> bool {
    ///         !self.0.contains(&id) && { self.0.push(id); true }
    ///     }
    ///     fn variable(&mut self, _: &Key, _: &dyn AnyVariable) { self.1 += 1 }
    /// }
    /// let p = Shared::new(Param::new(1.0f32));
    /// let mut w = Firsts(Vec::new(), 0);
    /// vec![p.clone(), p].walk_field(&Key::from(0usize), &mut w);
    /// assert_eq!(w.1, 1);
    /// ```
    fn shared(&mut self, key: &Key, id: usize) -> bool {
        let _ = (key, id);
        true
    }
    /// A shared object under `key` that could not be locked (a guard on it is
    /// alive); the walk skips it. The graph operations turn this into
    /// [`Error::Locked`](crate::Error::Locked).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, Walker};
    /// struct Locked(Vec<Key>);
    /// impl Walker for Locked {
    ///     fn locked(&mut self, key: &Key) { self.0.push(key.clone()) }
    /// }
    /// let s = Shared::new(Param::new(1.0f32));
    /// let guard = s.write();
    /// let mut w = Locked(Vec::new());
    /// s.walk_field(&Key::from("s"), &mut w);
    /// assert_eq!(w.0, [Key::from("s")]);
    /// drop(guard);
    /// ```
    fn locked(&mut self, key: &Key) {
        let _ = key;
    }
    /// A Variable under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, Walker};
    /// use nnx_core::AnyVariable;
    /// // Sums the element counts of array Variables.
    /// struct Size(usize);
    /// impl Walker for Size {
    ///     fn variable(&mut self, _: &Key, var: &dyn AnyVariable) {
    ///         self.0 += var.value_dyn().size_bytes().map_or(0, |(n, _)| n);
    ///     }
    /// }
    /// let m = vec![Param::new(ndarray::Array2::<f32>::zeros((2, 3))), Param::new(ndarray::Array2::zeros((1, 4)))];
    /// let mut s = Size(0);
    /// m.walk_field(&Key::from(0usize), &mut s);
    /// assert_eq!(s.0, 10);
    /// ```
    fn variable(&mut self, key: &Key, var: &dyn AnyVariable) {
        let _ = (key, var);
    }
    /// A static hyperparameter under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{DynStatic, Field, Walker};
    /// // Keeps the statics as GraphDef values.
    /// struct Statics(Vec<std::sync::Arc<dyn DynStatic>>);
    /// impl Walker for Statics {
    ///     fn static_value(&mut self, _: &Key, value: &dyn DynStatic) { self.0.push(value.to_arc()) }
    /// }
    /// let mut s = Statics(Vec::new());
    /// vec![7usize].walk_field(&Key::from(0usize), &mut s);
    /// assert!(s.0[0].dyn_eq(&7usize));
    /// ```
    fn static_value(&mut self, key: &Key, value: &dyn DynStatic) {
        let _ = (key, value);
    }
    /// An empty `Option` under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, Walker};
    /// struct Empty(Vec<Key>);
    /// impl Walker for Empty {
    ///     fn none(&mut self, key: &Key) { self.0.push(key.clone()) }
    /// }
    /// let mut e = Empty(Vec::new());
    /// vec![Some(Param::new(1.0f32)), None].walk_field(&Key::from(0usize), &mut e);
    /// assert_eq!(e.0, [Key::from(1usize)]);
    /// ```
    fn none(&mut self, key: &Key) {
        let _ = key;
    }
}

/// Mutating traversal callbacks (update, pop, set_attributes).
///
/// A walker that empties every removable Variable slot and sets `usize` statics:
///
/// ```
/// use std::any::Any;
/// use nnx_core::prelude::*;
/// use nnx_core::graph::{Action, Field, Place, WalkerMut};
/// use nnx_core::AnyVariable;
///
/// struct Strip { width: usize, removed: usize }
/// impl WalkerMut for Strip {
///     fn variable(&mut self, _: &Key, _: &mut dyn AnyVariable, place: Place) -> Action {
///         if place == Place::Removable {
///             self.removed += 1;
///             return Action::Remove;
///         }
///         Action::Keep
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
/// net.walk_field_mut(&Key::from(0usize), &mut strip, Place::Fixed);
/// assert_eq!((strip.removed, net.bias.is_none(), net.width), (1, true, 5));
/// ```
pub trait WalkerMut {
    /// A child node begins under `key`; `false` skips it (see [`Walker::enter`]).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, NodeHeader, Place, WalkerMut};
    /// struct Nodes(usize);
    /// impl WalkerMut for Nodes {
    ///     fn enter(&mut self, _: &Key, _: NodeHeader) -> bool { self.0 += 1; true }
    /// }
    /// let mut n = Nodes(0);
    /// vec![vec![Param::new(1.0f32)]].walk_field_mut(&Key::from(0usize), &mut n, Place::Fixed);
    /// assert_eq!(n.0, 2);
    /// ```
    fn enter(&mut self, key: &Key, header: NodeHeader) -> bool {
        let _ = (key, header);
        true
    }
    /// The current node ends.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Field, NodeHeader, Place, WalkerMut};
    /// use nnx_core::AnyVariable;
    /// // Records the path of keys while walking.
    /// struct Keys(Vec<Key>, Vec<Vec<Key>>);
    /// impl WalkerMut for Keys {
    ///     fn enter(&mut self, key: &Key, _: NodeHeader) -> bool { self.0.push(key.clone()); true }
    ///     fn leave(&mut self) { self.0.pop(); }
    ///     fn variable(&mut self, key: &Key, _: &mut dyn AnyVariable, _: Place) -> Action {
    ///         self.1.push([&self.0[..], &[key.clone()]].concat());
    ///         Action::Keep
    ///     }
    /// }
    /// let mut k = Keys(Vec::new(), Vec::new());
    /// vec![Param::new(1.0f32)].walk_field_mut(&Key::from("m"), &mut k, Place::Fixed);
    /// assert_eq!(k.1, [vec![Key::from("m"), Key::from(0usize)]]);
    /// ```
    fn leave(&mut self) {}
    /// A shared object under `key`; `true` means walk it (the default: at every
    /// occurrence).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Field, Place, WalkerMut};
    /// use nnx_core::AnyVariable;
    /// // Walks nothing shared.
    /// struct NoShared(usize);
    /// impl WalkerMut for NoShared {
    ///     fn shared(&mut self, _: &Key, _: usize) -> bool { false }
    ///     fn variable(&mut self, _: &Key, _: &mut dyn AnyVariable, _: Place) -> Action {
    ///         self.0 += 1;
    ///         Action::Keep
    ///     }
    /// }
    /// let mut m = (Shared::new(Param::new(1.0f32)), Param::new(2.0f32));
    /// let mut w = NoShared(0);
    /// m.0.walk_field_mut(&Key::from("a"), &mut w, Place::Fixed);
    /// m.1.walk_field_mut(&Key::from("b"), &mut w, Place::Fixed);
    /// assert_eq!(w.0, 1);
    /// ```
    fn shared(&mut self, key: &Key, id: usize) -> bool {
        let _ = (key, id);
        true
    }
    /// A shared object under `key` that could not be locked for writing (a
    /// guard on it is alive); the walk skips it (see [`Walker::locked`]).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, Place, WalkerMut};
    /// struct Locked(usize);
    /// impl WalkerMut for Locked {
    ///     fn locked(&mut self, _: &Key) { self.0 += 1 }
    /// }
    /// let mut s = Shared::new(Param::new(1.0f32));
    /// let reader = s.clone();
    /// let guard = reader.read(); // a reader blocks writers
    /// let mut w = Locked(0);
    /// s.walk_field_mut(&Key::from("s"), &mut w, Place::Fixed);
    /// assert_eq!(w.0, 1);
    /// drop(guard);
    /// ```
    fn locked(&mut self, key: &Key) {
        let _ = key;
    }
    /// A Variable under `key` at `place`; [`Action::Remove`] takes it out of a
    /// removable place (see [`Action`]).
    fn variable(&mut self, key: &Key, var: &mut dyn AnyVariable, place: Place) -> Action {
        let _ = (key, var, place);
        Action::Keep
    }
    /// A later place of a tied Variable (see
    /// [`VariableType::tie`](crate::VariableType::tie)) whose first place the walk
    /// visited after [`shared`](WalkerMut::shared) was called with `id`. A walker
    /// that wrote the first place writes this one the same way.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, Place, WalkerMut};
    /// use nnx_core::AnyVariable;
    /// // Lists the later places of tied Variables.
    /// #[derive(Default)]
    /// struct Later { seen: Vec<usize>, keys: Vec<Key> }
    /// impl WalkerMut for Later {
    ///     fn shared(&mut self, _: &Key, id: usize) -> bool {
    ///         !self.seen.contains(&id) && { self.seen.push(id); true }
    ///     }
    ///     fn tied(&mut self, key: &Key, _: usize, _: &mut dyn AnyVariable) { self.keys.push(key.clone()) }
    /// }
    /// let mut a = Param::new(1.0f32);
    /// let mut m = vec![a.tie(), a];
    /// let mut w = Later::default();
    /// m.walk_field_mut(&Key::from(0usize), &mut w, Place::Fixed);
    /// assert_eq!(w.keys, [Key::from(1usize)]);
    /// ```
    fn tied(&mut self, key: &Key, id: usize, var: &mut dyn AnyVariable) {
        let _ = (key, id, var);
    }
    /// A static hyperparameter under `key`, to read or set.
    ///
    /// ```
    /// use std::any::Any;
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Field, Place, WalkerMut};
    /// // Doubles every `f32` static.
    /// struct Double;
    /// impl WalkerMut for Double {
    ///     fn static_value(&mut self, _: &Key, value: &mut dyn Any) {
    ///         if let Some(x) = value.downcast_mut::<f32>() { *x *= 2.0 }
    ///     }
    /// }
    /// let mut rates = vec![0.5f32, 1.5];
    /// rates.walk_field_mut(&Key::from(0usize), &mut Double, Place::Fixed);
    /// assert_eq!(rates, [1.0, 3.0]);
    /// ```
    fn static_value(&mut self, key: &Key, value: &mut dyn Any) {
        let _ = (key, value);
    }
}
