//! `sow`: recording intermediate values under a module's own path.
//!
//! ```
//! use nnx_core::prelude::*;
//! #[derive(nnx_core::Module)]
//! struct Block {
//!     #[nnx(sow)]
//!     sown: Sown,
//! }
//! let mut b = Block { sown: Sown::default() };
//! b.sow(Intermediate, "h", 1.0f32).unwrap();
//! assert_eq!(b.state_of(Intermediate).len(), 1);
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::graph::std_impls::{build_map, walk_map, walk_map_mut};
use crate::graph::{Action, Builder, Field, NodeHeader, Place, Walker, WalkerMut};
use crate::key::Key;
use crate::kind::Kind;
use crate::metadata::Metadata;
use crate::value::{downcast_arc, downcast_value, short_type_name, value_type_mismatch, Value};
use crate::variable::AnyVariable;
use crate::variable::VariableInfo;
use crate::variable::VariableState;
use crate::Module;

/// The store a module sows into. A module opts in to `sow` with one field marked
/// `#[nnx(sow)]` of this type; its Variables appear at the module's own level
/// (`'i'`, not `'sown'/'i'`), as Flax stores sown attributes.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::sow::Sown;
/// let mut s = Sown::default();
/// s.sow(Intermediate, "i", 1.0f32, &[]).unwrap();
/// s.sow(Intermediate, "i", 2.0f32, &[]).unwrap();
/// assert_eq!(nnx_core::value::python_repr(&*s.get("i").unwrap().value_dyn().clone_value()),
///            "(Array(1., dtype=float32), Array(2., dtype=float32))");
/// ```
#[derive(Default, Clone)]
pub struct Sown {
    vars: BTreeMap<String, Erased>,
}

/// A sown Variable: kept type-erased, exactly as its State leaf.
#[derive(Clone)]
struct Erased(VariableState);

impl VariableInfo for Erased {
    fn kind(&self) -> Kind {
        self.0.kind
    }
    fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }
}

impl AnyVariable for Erased {
    fn value_dyn(&self) -> &dyn Value {
        &*self.0.value
    }
    fn to_state(&self) -> VariableState {
        self.0.clone()
    }
    fn update_from(&mut self, state: &VariableState, path: &str) -> Result<()> {
        if state.kind != self.0.kind {
            return Err(Error::KindMismatch {
                path: path.into(),
                expected: self.0.kind.name().to_string(),
                found: state.kind.name().to_string(),
            });
        }
        crate::state::check_same_value_type(&[], &*self.0.value, &*state.value).map_err(|_| {
            let old = &*self.0.value;
            value_type_mismatch(path, old.type_name(), old.dtype(), &*state.value)
        })?;
        self.0 = state.clone();
        Ok(())
    }
}

impl std::fmt::Debug for Sown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.vars.iter().map(|(k, v)| (k, &v.0)))
            .finish()
    }
}

impl Sown {
    /// The Variable sown under `name`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut s = Sown::default();
    /// s.sow(Intermediate, "i", 1.0f32, &[]).unwrap();
    /// assert_eq!(s.get("i").unwrap().kind(), nnx_core::Intermediate);
    /// assert!(s.get("j").is_none());
    /// # use nnx_core::VariableInfo;
    /// ```
    pub fn get(&self, name: &str) -> Option<&dyn AnyVariable> {
        self.vars.get(name).map(|v| v as &dyn AnyVariable)
    }

    /// Whether nothing is stored.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut s = Sown::default();
    /// assert!(s.is_empty());
    /// s.sow(Intermediate, "i", 1.0f32, &[]).unwrap();
    /// assert!(!s.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Appends `value` to the tuple stored under `name` (Flax's default `sow`).
    /// `reserved` are the owning module's field names, which `name` may not shadow.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut s = Sown::default();
    /// s.sow(Intermediate, "i", 1.0f32, &[]).unwrap();
    /// s.sow(Intermediate, "i", 2.0f32, &[]).unwrap();
    /// let stored = s.get("i").unwrap().value_dyn().as_any().downcast_ref::<Vec<f32>>();
    /// assert_eq!(stored, Some(&vec![1.0, 2.0]));
    /// assert!(s.sow(Intermediate, "w", 0.0f32, &["w"]).is_err()); // shadows a field
    /// ```
    pub fn sow<T: Value + Clone + PartialEq>(
        &mut self,
        kind: Kind,
        name: &str,
        value: T,
        reserved: &[&str],
    ) -> Result<()> {
        self.sow_with(
            kind,
            name,
            value,
            Vec::<T>::new,
            |mut acc, x| {
                acc.push(x);
                acc
            },
            reserved,
        )
    }

    /// Folds `value` into the accumulator under `name`: `init` creates it on the
    /// first call, `reduce` combines (Flax's `sow(..., init_fn, reduce_fn)`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut s = Sown::default();
    /// for x in [1.0f32, 2.0, 3.0] {
    ///     s.sow_with(Intermediate, "sum", x, || 0.0f32, |acc, x| acc + x, &[]).unwrap();
    /// }
    /// assert_eq!(s.get("sum").unwrap().value_dyn().as_any().downcast_ref::<f32>(), Some(&6.0));
    /// ```
    pub fn sow_with<T, R: Value + Clone>(
        &mut self,
        kind: Kind,
        name: &str,
        value: T,
        init: impl FnOnce() -> R,
        reduce: impl FnOnce(R, T) -> R,
        reserved: &[&str],
    ) -> Result<()> {
        if reserved.contains(&name) {
            return Err(Error::Sow {
                name: name.to_string(),
                expected: "a name that is not a field of the module".to_string(),
                found: "a field with that name".to_string(),
            });
        }
        let acc = match self.vars.remove(name) {
            None => init(),
            Some(existing) => {
                if existing.kind() != kind {
                    let found = existing.kind().name().to_string();
                    self.vars.insert(name.to_string(), existing);
                    return Err(Error::Sow {
                        name: name.to_string(),
                        expected: kind.name().to_string(),
                        found,
                    });
                }
                match downcast_arc::<R>(Arc::clone(&existing.0.value)) {
                    Ok(acc) => {
                        drop(existing);
                        Arc::try_unwrap(acc).unwrap_or_else(|shared| (*shared).clone())
                    }
                    Err(stored) => {
                        let found = short_type_name(stored.type_name());
                        self.vars.insert(name.to_string(), existing);
                        return Err(Error::Sow {
                            name: name.to_string(),
                            expected: short_type_name(std::any::type_name::<R>()),
                            found,
                        });
                    }
                }
            }
        };
        let leaf = VariableState::new(kind, reduce(acc, value));
        self.vars.insert(name.to_string(), Erased(leaf));
        Ok(())
    }
}

/// A transparent node: sown Variables sit at their module's own level, each in a
/// removable slot (`pop` takes them out).
impl Field for Sown {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        walk_map(&self.vars, key, SOWN_HEADER, w)
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, _: Place) -> Action {
        walk_map_mut(&mut self.vars, key, SOWN_HEADER, w, Place::Removable)
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        build_map(key, b).map(|vars| Sown { vars })
    }
}

impl Field for Erased {
    fn walk_field(&self, key: &Key, w: &mut dyn Walker) {
        w.variable(key, self)
    }
    fn walk_field_mut(&mut self, key: &Key, w: &mut dyn WalkerMut, place: Place) -> Action {
        w.variable(key, self, place)
    }
    fn build_field(key: &Key, b: &mut Builder<'_>) -> Result<Self> {
        b.take_leaf(key).map(Erased)
    }
}

const SOWN_HEADER: NodeHeader = NodeHeader {
    type_name: "Sown",
    transparent: true,
};

/// A module with a sow store: `#[derive(Module)]` implements it for structs with
/// a `#[nnx(sow)]` field of type [`Sown`]. Sowing itself is [`Sow`].
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::sow::SowStore;
/// #[derive(Module)]
/// struct Block {
///     w: Param<f32>,
///     #[nnx(sow)]
///     sown: Sown,
/// }
/// let mut b = Block { w: Param::new(1.0), sown: Sown::default() };
/// assert!(b.sown().is_empty());
/// assert_eq!(Block::field_names(), &["w", "sown"]);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot sow: it has no sow store",
    label = "this module did not opt in to `sow`",
    note = "add #[nnx(sow)] to a field `sown: nnx::sow::Sown` of the struct"
)]
pub trait SowStore {
    /// The store.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::sow::SowStore;
    /// #[derive(Module)]
    /// struct Block {
    ///     #[nnx(sow)]
    ///     sown: Sown,
    /// }
    /// let mut b = Block { sown: Sown::default() };
    /// b.sow(Intermediate, "i", 1.0f32).unwrap();
    /// assert!(b.sown().get("i").is_some());
    /// ```
    fn sown(&mut self) -> &mut Sown;
    /// The module's own field names (sown names may not shadow them).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_core::sow::SowStore;
    /// #[derive(Module)]
    /// struct Block {
    ///     w: Param<f32>,
    ///     #[nnx(sow)]
    ///     sown: Sown,
    /// }
    /// assert!(Block::field_names().contains(&"w"));
    /// ```
    fn field_names() -> &'static [&'static str];
}

/// Flax's `sow` on every module; it works on modules with a sow store
/// ([`SowStore`]: a `#[nnx(sow)]` field), and on any other module the call does
/// not compile, with a message saying which field to add.
///
/// ```
/// use nnx_core::prelude::*;
/// #[derive(Module)]
/// struct Block {
///     #[nnx(sow)]
///     sown: Sown,
/// }
/// let mut b = Block { sown: Sown::default() };
/// b.sow(Intermediate, "h", 1.0f32)?;
/// assert_eq!(b.state_of(Intermediate).len(), 1);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub trait Sow: Module {
    /// Records `value` under `name` at the module's own path, appending to a tuple
    /// (Flax's `sow`): `self.sow(Intermediate, "i", x.clone())?`. Only modules with a
    /// `#[nnx(sow)]` store can sow.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Block {
    ///     #[nnx(sow)]
    ///     sown: Sown,
    /// }
    /// let mut b = Block { sown: Sown::default() };
    /// b.sow(Intermediate, "i", 1.0f32).unwrap();
    /// b.sow(Intermediate, "i", 2.0f32).unwrap();
    /// assert_eq!(b.state().len(), 1); // one tuple at path 'i'
    /// assert!(b.state().leaf(&[Key::from("i")]).is_some());
    /// ```
    fn sow<T: Value + Clone + PartialEq>(&mut self, kind: Kind, name: &str, value: T) -> Result<()>
    where
        Self: SowStore + Sized,
    {
        self.sown().sow(kind, name, value, Self::field_names())
    }

    /// Records `value` under `name` with a custom accumulator (Flax's `sow` with
    /// `init_fn` and `reduce_fn`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Block {
    ///     #[nnx(sow)]
    ///     sown: Sown,
    /// }
    /// let mut b = Block { sown: Sown::default() };
    /// b.sow_with(Intermediate, "n", 1u32, || 0u32, |acc, x| acc + x).unwrap();
    /// b.sow_with(Intermediate, "n", 1u32, || 0u32, |acc, x| acc + x).unwrap();
    /// assert_eq!(b.sown.get("n").unwrap().value_dyn().as_any().downcast_ref::<u32>(), Some(&2));
    /// ```
    fn sow_with<T, R: Value + Clone>(
        &mut self,
        kind: Kind,
        name: &str,
        value: T,
        init: impl FnOnce() -> R,
        reduce: impl FnOnce(R, T) -> R,
    ) -> Result<()>
    where
        Self: SowStore + Sized,
    {
        self.sown()
            .sow_with(kind, name, value, init, reduce, Self::field_names())
    }
}

impl<M: Module> Sow for M {}

impl Sown {
    /// The value sown under `name`, typed. A default `sow` keeps a tuple of the
    /// sown values, a `Vec<T>`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut s = Sown::default();
    /// s.sow(Intermediate, "h", 1.0f32, &[]).unwrap();
    /// assert_eq!(s.value::<Vec<f32>>("h")?, &vec![1.0]);
    /// assert!(s.value::<Vec<f64>>("h").is_err());
    /// assert!(s.value::<Vec<f32>>("y").is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn value<T: Value>(&self, name: &str) -> Result<&T> {
        let var = self.get(name).ok_or_else(|| Error::MissingPath {
            path: name.into(),
            expected: "sown value".into(),
        })?;
        downcast_value(name, var.value_dyn())
    }
}

/// Runs `f` on `model` and returns its result with the Variables of exactly the
/// types `kinds` that `f` sowed (Flax 0.12's `nnx.capture(fn, *var_types)`), as a
/// State keyed by the sowing module's path and the sown name.
///
/// The captured Variables are taken out of the model's sow stores, so a second
/// capture starts empty, as Flax's does; values of these types sown before the
/// call are discarded first. Types match exactly, as Flax's `type(var) ==
/// var_type`: capturing `Intermediate` leaves `Perturbation`s (a subtype) in place,
/// which is how perturbations stay in the model for `value_and_grad` (see
/// `Perturb` in nnx-tensor).
///
/// Errors: any error of `f`, and a Variable of one of `kinds` in a field that is
/// not a sow store or an `Option` (it cannot be taken out).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::sow::capture;
///
/// #[derive(Module)]
/// struct Inner {
///     #[nnx(sow)]
///     sown: Sown,
/// }
/// #[derive(Module)]
/// struct Outer {
///     inner: Inner,
///     #[nnx(sow)]
///     sown: Sown,
/// }
/// impl Outer {
///     fn forward(&mut self, x: f32) -> nnx_core::Result<f32> {
///         self.inner.sow(Intermediate, "h", x + 1.0)?;
///         self.sow(Intermediate, "y", 2.0 * x)?;
///         self.sow(Intermediate, "y", 3.0 * x)?;
///         Ok(x)
///     }
/// }
///
/// let mut m = Outer { inner: Inner { sown: Sown::default() }, sown: Sown::default() };
/// let (y, inter) = capture(&mut m, &[Intermediate], |m| m.forward(1.0))?;
/// assert_eq!(y, 1.0);
/// let paths: Vec<String> = inter.flat_state().paths().iter().map(|p| nnx_core::path_string(p)).collect();
/// assert_eq!(paths, ["inner/h", "y"]);
/// assert!(m.state_of(Intermediate).is_empty()); // taken out of the model
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn capture<M, R>(
    model: &mut M,
    kinds: &[Kind],
    f: impl FnOnce(&mut M) -> Result<R>,
) -> Result<(R, crate::State)>
where
    M: crate::Module,
{
    let exact = |_: &[Key], v: &dyn VariableInfo| kinds.contains(&v.kind());
    model.pop(exact)?;
    let out = f(model)?;
    let captured = model.pop(exact)?;
    Ok((out, captured))
}
