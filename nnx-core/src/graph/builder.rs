//! Merge: rebuilding a typed module from its GraphDef and States.

use std::any::Any;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::graph::fit::convert_leaf;
use crate::graph::graphdef::Entry;
use crate::graph::leaves::{Cursor, Taken};
use crate::graph::statics::DynStatic;
use crate::graph::tracker::ROOT;
use crate::graph::walker::NodeHeader;
use crate::key::{path_string, Key};
use crate::state::Tree;
use crate::value::Value;
use crate::variable::VariableState;
use crate::variable::{Variable, VariableType};

/// Reads a GraphDef's entries back into typed fields; generated code calls it.
///
/// A hand-written [`Field::build_field`](crate::graph::Field::build_field) reads its node in the order its
/// [`Field::walk_field`](crate::graph::Field::walk_field) wrote it:
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
///
/// struct Affine { w: Param<f32>, b: Param<f32> }
///
/// impl Field for Affine {
///     fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
///         w.enter(key, NodeHeader::node("Affine"));
///         self.w.walk_field(&Key::from("w"), w);
///         self.b.walk_field(&Key::from("b"), w);
///         w.leave();
///     }
///     fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
///         w.enter(key, NodeHeader::node("Affine"));
///         self.w.walk_field_mut(&Key::from("w"), w, Place::Fixed);
///         self.b.walk_field_mut(&Key::from("b"), w, Place::Fixed);
///         w.leave();
///         Action::Keep
///     }
///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
///         b.enter(key)?;
///         let w = b.variable(&Key::from("w"))?;
///         let bias = b.variable(&Key::from("b"))?;
///         b.leave()?;
///         Ok(Affine { w, b: bias })
///     }
/// }
/// impl Module for Affine {}
///
/// let (g, s) = Affine { w: Param::new(2.0), b: Param::new(1.0) }.split(..)?;
/// let back: Affine = g.merge(s)?;
/// assert_eq!((*back.w, *back.b), (2.0, 1.0));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub struct Builder<'a> {
    entries: &'a [Entry],
    pos: usize,
    /// The leaves still to take.
    leaves: Cursor<Taken>,
    /// The shared objects built so far, by index (see `Builder::shared`).
    pub(crate) shared: Vec<Option<Box<dyn Any + Send + Sync>>>,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(entries: &'a [Entry], leaves: Tree<VariableState>, shared: usize) -> Self {
        Builder {
            entries,
            pos: 0,
            leaves: Cursor::new(leaves.into()),
            shared: (0..shared).map(|_| None).collect(),
        }
    }

    /// The GraphDef does not hold what the type being built reads next.
    pub(crate) fn mismatch(&self, key: &Key, expected: &str) -> Error {
        let found = match self.entries.get(self.pos) {
            Some(e) => e.describe(),
            None => "the end of the GraphDef".to_string(),
        };
        Error::TypeMismatch {
            path: self.path_string_with(key).into(),
            expected: format!("{expected} in the GraphDef"),
            found,
        }
    }

    /// The next entry, not consumed.
    pub(crate) fn peek(&self) -> Option<&'a Entry> {
        self.entries.get(self.pos)
    }

    /// Consumes the entry [`peek`](Self::peek) returned.
    pub(crate) fn advance(&mut self) {
        self.pos += 1;
    }

    /// The path of `key` in the current node, as errors print it.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
    ///
    /// /// A probability that refuses values outside [0, 1] when rebuilt.
    /// struct Prob(Param<f32>);
    /// impl Field for Prob {
    ///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
    ///         b.enter(key)?;
    ///         let k = Key::from("p");
    ///         let p: Param<f32> = b.variable(&k)?;
    ///         if !(0.0..=1.0).contains(&*p) {
    ///             let at = b.path_string_with(&k); // "p"
    ///             return Err(nnx_core::Error::invalid_argument(at, "[0, 1]", (*p).to_string()));
    ///         }
    ///         b.leave()?;
    ///         Ok(Prob(p))
    ///     }
    /// #   fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
    /// #       w.enter(key, NodeHeader::node("Prob"));
    /// #       self.0.walk_field(&Key::from("p"), w);
    /// #       w.leave();
    /// #   }
    /// #   fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
    /// #       w.enter(key, NodeHeader::node("Prob"));
    /// #       self.0.walk_field_mut(&Key::from("p"), w, Place::Fixed);
    /// #       w.leave();
    /// #       Action::Keep
    /// #   }
    /// }
    /// impl Module for Prob {}
    ///
    /// let (g, s) = Prob(Param::new(0.5)).split(..)?;
    /// let bad = s.map(|_| 2.0f32);
    /// let err = g.merge(bad).err().unwrap();
    /// assert!(err.to_string().contains("p"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn path_string_with(&self, key: &Key) -> String {
        path_string(&self.leaves.path(key))
    }

    /// Enters the node stored under `key`, returning its header (enums read their
    /// variant from `type_name`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
    ///
    /// enum Act { Relu, Scale(Param<f32>) }
    /// impl Field for Act {
    ///     fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
    ///         match self {
    ///             Act::Relu => {
    ///                 if w.enter(key, NodeHeader::node("Act::Relu")) {
    ///                     w.leave();
    ///                 }
    ///             }
    ///             Act::Scale(p) => {
    ///                 if w.enter(key, NodeHeader::node("Act::Scale")) {
    ///                     p.walk_field(&Key::from(0usize), w);
    ///                     w.leave();
    ///                 }
    ///             }
    ///         }
    ///     }
    ///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
    ///         let act = match b.enter(key)?.type_name {
    ///             "Act::Relu" => Act::Relu,
    ///             _ => Act::Scale(b.variable(&Key::from(0usize))?),
    ///         };
    ///         b.leave()?;
    ///         Ok(act)
    ///     }
    /// #   fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
    /// #       match self {
    /// #           Act::Relu => {
    /// #               if w.enter(key, NodeHeader::node("Act::Relu")) { w.leave(); }
    /// #           }
    /// #           Act::Scale(p) => {
    /// #               if w.enter(key, NodeHeader::node("Act::Scale")) {
    /// #                   p.walk_field_mut(&Key::from(0usize), w, Place::Fixed);
    /// #                   w.leave();
    /// #               }
    /// #           }
    /// #       }
    /// #       Action::Keep
    /// #   }
    /// }
    /// impl Module for Act {}
    ///
    /// let (g, s) = Act::Scale(Param::new(3.0)).split(..)?;
    /// assert!(matches!(g.merge(s)?, Act::Scale(p) if *p == 3.0));
    /// let (g, s) = Act::Relu.split(..)?;
    /// assert!(matches!(g.merge(s)?, Act::Relu));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn enter(&mut self, key: &Key) -> Result<NodeHeader> {
        if let Some(e) = self.leaves.tracker().too_deep(key) {
            return Err(e);
        }
        match self.entries.get(self.pos) {
            Some(Entry::Enter { header, .. }) => {
                self.pos += 1;
                self.leaves.enter(key, header.transparent);
                Ok(*header)
            }
            _ => Err(self.mismatch(key, "a node")),
        }
    }

    /// Leaves the current node.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
    ///
    /// struct Pair(Param<f32>, Param<f32>);
    /// impl Field for Pair {
    ///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
    ///         b.enter(key)?;
    ///         let pair = Pair(b.variable(&Key::from(0usize))?, b.variable(&Key::from(1usize))?);
    ///         b.leave()?; // an error if the GraphDef had more children here
    ///         Ok(pair)
    ///     }
    /// #   fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
    /// #       w.enter(key, NodeHeader::node("Pair"));
    /// #       self.0.walk_field(&Key::from(0usize), w);
    /// #       self.1.walk_field(&Key::from(1usize), w);
    /// #       w.leave();
    /// #   }
    /// #   fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
    /// #       w.enter(key, NodeHeader::node("Pair"));
    /// #       self.0.walk_field_mut(&Key::from(0usize), w, Place::Fixed);
    /// #       self.1.walk_field_mut(&Key::from(1usize), w, Place::Fixed);
    /// #       w.leave();
    /// #       Action::Keep
    /// #   }
    /// }
    /// impl Module for Pair {}
    ///
    /// let (g, s) = Pair(Param::new(1.0), Param::new(2.0)).split(..)?;
    /// let back: Pair = g.merge(s)?;
    /// assert_eq!((*back.0, *back.1), (1.0, 2.0));
    /// // A three-element Vec has the same shape of state but one child too many.
    /// let (_, three) = vec![Param::new(0.0f32); 3].split(..)?;
    /// assert!(g.merge(three).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn leave(&mut self) -> Result<()> {
        match self.entries.get(self.pos) {
            Some(Entry::Leave) => {
                self.pos += 1;
                self.leaves.leave();
                Ok(())
            }
            _ => Err(self.mismatch(&ROOT, "the end of a node")),
        }
    }

    /// The key of the next child of the current node, `None` at its end.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
    ///
    /// /// Any number of Params, keyed 0, 1, ...
    /// struct Stack(Vec<Param<f32>>);
    /// impl Field for Stack {
    ///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
    ///         b.enter(key)?;
    ///         let mut items = Vec::new();
    ///         while let Some(k) = b.next_child_key() {
    ///             items.push(b.variable(&k)?);
    ///         }
    ///         b.leave()?;
    ///         Ok(Stack(items))
    ///     }
    /// #   fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
    /// #       w.enter(key, NodeHeader::node("Stack"));
    /// #       for (i, p) in self.0.iter().enumerate() { p.walk_field(&Key::from(i), w) }
    /// #       w.leave();
    /// #   }
    /// #   fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
    /// #       w.enter(key, NodeHeader::node("Stack"));
    /// #       for (i, p) in self.0.iter_mut().enumerate() { p.walk_field_mut(&Key::from(i), w, Place::Fixed); }
    /// #       w.leave();
    /// #       Action::Keep
    /// #   }
    /// }
    /// impl Module for Stack {}
    ///
    /// let (g, s) = Stack(vec![Param::new(1.0), Param::new(2.0), Param::new(3.0)]).split(..)?;
    /// let back: Stack = g.merge(s)?;
    /// assert_eq!(back.0.iter().map(|p| **p).collect::<Vec<_>>(), [1.0, 2.0, 3.0]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn next_child_key(&self) -> Option<Key> {
        match self.entries.get(self.pos)? {
            Entry::Leave => None,
            Entry::SharedFirst { .. } => self.entries.get(self.pos + 1)?.key().cloned(),
            e => e.key().cloned(),
        }
    }

    /// Consumes an empty-`Option` record under `key`, if that is what comes next.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
    ///
    /// struct Bias(Option<Param<f32>>);
    /// impl Field for Bias {
    ///     fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
    ///         match &self.0 {
    ///             Some(p) => p.walk_field(key, w),
    ///             None => w.none(key), // recorded in the GraphDef
    ///         }
    ///     }
    ///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
    ///         if b.take_none(key) {
    ///             Ok(Bias(None))
    ///         } else {
    ///             b.variable(key).map(|p| Bias(Some(p)))
    ///         }
    ///     }
    /// #   fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
    /// #       if let Some(p) = &mut self.0 { p.walk_field_mut(key, w, Place::Fixed); }
    /// #       Action::Keep
    /// #   }
    /// }
    /// impl Module for Bias {}
    ///
    /// let (g, s) = Bias(None).split(..)?;
    /// assert!(s.is_empty());
    /// assert!(g.merge(s)?.0.is_none());
    /// let (g, s) = Bias(Some(Param::new(0.5))).split(..)?;
    /// assert_eq!(g.merge(s)?.0.map(|p| *p), Some(0.5));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn take_none(&mut self, key: &Key) -> bool {
        match self.entries.get(self.pos) {
            Some(Entry::None { key: k }) if k == key => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    /// The state leaf of the Variable stored under `key`: its Variable type,
    /// value and metadata, for a field that rebuilds itself from them.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
    ///
    /// /// A learning rate kept as a Param in the graph but as a plain `f32` here.
    /// struct Lr(f32);
    /// impl Field for Lr {
    ///     fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
    ///         Param::new(self.0).walk_field(key, w)
    ///     }
    ///     fn walk_field_mut(&mut self, _: &Key, _: &mut dyn WalkerMut, _: Place) -> Action {
    ///         Action::Keep
    ///     }
    ///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
    ///         let leaf = b.take_leaf(key)?;
    ///         assert_eq!(leaf.kind.name(), "Param");
    ///         Ok(Lr(leaf.value.as_any().downcast_ref::<f32>().copied().unwrap_or(0.0)))
    ///     }
    /// }
    /// impl Module for Lr {}
    ///
    /// let g = Lr(0.1).graphdef();
    /// assert_eq!(g.merge(Lr(0.25).state())?.0, 0.25);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn take_leaf(&mut self, key: &Key) -> Result<VariableState> {
        match self.entries.get(self.pos) {
            Some(Entry::Variable { decl, .. }) => {
                self.pos += 1;
                match self.leaves.leaf(key) {
                    Some(Taken::Leaf(l)) => Ok(l),
                    _ => Err(Error::MissingPath {
                        path: self.path_string_with(key).into(),
                        expected: decl.kind.name().to_string(),
                    }),
                }
            }
            _ => Err(self.mismatch(key, "a Variable")),
        }
    }

    /// Rebuilds the typed Variable stored under `key`, with its metadata.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
    ///
    /// struct Scale { s: Param<f32> }
    /// impl Field for Scale {
    ///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
    ///         b.enter(key)?;
    ///         let s = b.variable::<Param<f32>>(&Key::from("s"))?;
    ///         b.leave()?;
    ///         Ok(Scale { s })
    ///     }
    /// #   fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
    /// #       w.enter(key, NodeHeader::node("Scale"));
    /// #       self.s.walk_field(&Key::from("s"), w);
    /// #       w.leave();
    /// #   }
    /// #   fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
    /// #       w.enter(key, NodeHeader::node("Scale"));
    /// #       self.s.walk_field_mut(&Key::from("s"), w, Place::Fixed);
    /// #       w.leave();
    /// #       Action::Keep
    /// #   }
    /// }
    /// impl Module for Scale {}
    ///
    /// let (g, s) = Scale { s: Param::new(4.0) }.split(..)?;
    /// assert_eq!(*g.merge(s)?.s, 4.0);
    /// // A BatchStat where the GraphDef has a Param is refused.
    /// #[derive(Module)]
    /// struct Other { s: BatchStat<f32> }
    /// assert!(g.merge(Other { s: BatchStat::new(4.0) }.state()).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn variable<V: VariableType>(&mut self, key: &Key) -> Result<V> {
        // A tied Variable: built at its first place, the same tie at the others.
        match self.peek() {
            Some(Entry::SharedFirst { index }) => {
                let index = *index;
                self.advance();
                let mut var = self.untied_variable::<V>(key)?.into_variable();
                var.start_tie();
                if let Some(slot) = self.shared.get_mut(index) {
                    *slot = Some(Box::new(var.clone()));
                }
                Ok(V::from_variable(var))
            }
            Some(Entry::SharedRef { index, .. }) => {
                let tied = self
                    .shared
                    .get(*index)
                    .and_then(|s| s.as_ref())
                    .and_then(|s| s.downcast_ref::<Variable<V::Value>>())
                    .filter(|v| v.kind() == V::KIND)
                    .cloned()
                    .ok_or_else(|| {
                        self.mismatch(key, "an earlier tied Variable of the same type")
                    })?;
                self.advance();
                Ok(V::from_variable(tied))
            }
            _ => self.untied_variable(key),
        }
    }

    /// [`variable`](Self::variable) for a Variable that is not tied.
    fn untied_variable<V: VariableType>(&mut self, key: &Key) -> Result<V> {
        let mut leaf = self.take_leaf(key)?;
        if !leaf.value.as_any().is::<V::Value>() {
            // Checked to hold the slot's data in another Rust type (a loaded
            // `ArrayD` for an `Array2` field): it takes the field's type.
            let expected = std::any::type_name::<V::Value>();
            leaf = convert_leaf(
                leaf,
                expected,
                || self.path_string_with(key),
                |v| V::Value::from_value(v).map(|v| v as Arc<dyn Value>),
            )?;
        }
        Variable::<V::Value>::from_state(leaf, || self.path_string_with(key)).map(V::from_variable)
    }

    /// Reads the static value stored under `key`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
    ///
    /// struct Dense { w: Param<f32>, features: usize }
    /// impl Field for Dense {
    ///     fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
    ///         w.enter(key, NodeHeader::node("Dense"));
    ///         self.w.walk_field(&Key::from("w"), w);
    ///         w.static_value(&Key::from("features"), &self.features);
    ///         w.leave();
    ///     }
    ///     fn build_field(key: &Key, b: &mut Builder<'_>) -> nnx_core::Result<Self> {
    ///         b.enter(key)?;
    ///         let w = b.variable(&Key::from("w"))?;
    ///         let features = b.static_value::<usize>(&Key::from("features"))?;
    ///         b.leave()?;
    ///         Ok(Dense { w, features })
    ///     }
    /// #   fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
    /// #       w.enter(key, NodeHeader::node("Dense"));
    /// #       self.w.walk_field_mut(&Key::from("w"), w, Place::Fixed);
    /// #       w.static_value(&Key::from("features"), &mut self.features);
    /// #       w.leave();
    /// #       Action::Keep
    /// #   }
    /// }
    /// impl Module for Dense {}
    ///
    /// let (g, s) = Dense { w: Param::new(1.0), features: 8 }.split(..)?;
    /// assert_eq!(s.len(), 1); // the static lives in the GraphDef, not the State
    /// assert_eq!(g.merge(s)?.features, 8);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn static_value<S: DynStatic + Clone>(&mut self, key: &Key) -> Result<S> {
        match self.entries.get(self.pos) {
            Some(Entry::Static { value, .. }) => match value.get().as_any().downcast_ref::<S>() {
                Some(v) => {
                    self.pos += 1;
                    Ok(v.clone())
                }
                None => Err(self.mismatch(key, std::any::type_name::<S>())),
            },
            _ => Err(self.mismatch(key, "a static value")),
        }
    }
}
