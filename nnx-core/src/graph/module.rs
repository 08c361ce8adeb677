//! The `Module` trait: Flax's graph operations as methods.

use std::any::Any;
use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::filter::{check_ellipsis, Filter, Filters};
use crate::graph::builder::{join_checked_with, IntoStates};
use crate::graph::field::Field;
use crate::graph::graphdef::GraphDef;
use crate::graph::key::{path_string, Path};
use crate::graph::tracker::ROOT;
use crate::graph::walkers::{
    AttributeSetter, Collector, GraphItem, LeafChecker, Lister, Popper, Updater,
};
use crate::kind::Kind;
use crate::sow::Sow;
use crate::state::{collect_errors, State};
use crate::value::Value;

/// A node of a module graph with Flax's graph operations: `state`, `split`,
/// `merge` (on [`GraphDef`]), `update`, `pop`, `graphdef`, `iter_graph`...
///
/// `#[derive(Module)]` implements it for your structs; every Variable type, `Shared`,
/// and `Vec`/`Option`/arrays/`BTreeMap<String, _>` of graph nodes have it too. Each
/// operation costs O(number of Variables) and copies no array data.
///
/// ```
/// use nnx_core::prelude::*;
/// let mut layers = vec![Param::new(1.0f32), Param::new(2.0f32)];
/// let state = layers.state();
/// assert_eq!(state.len(), 2);
/// let doubled = state.map(|v| v.as_any().downcast_ref::<f32>().map_or(0.0, |x| x * 2.0));
/// layers.update(doubled).unwrap();
/// assert_eq!(*layers[1], 4.0);
/// ```
pub trait Module: Field {
    /// Every Variable, by path (Flax's `nnx.state(module)`).
    fn state(&self) -> State {
        let mut c = Collector::new(false, true, Vec::new());
        self.walk_field(&ROOT, &mut c);
        c.into_states().pop().unwrap_or_default()
    }

    /// The Variables matching `filter` (Flax's `nnx.state(module, filter)`).
    fn state_of(&self, filter: impl Filter) -> State {
        let mut c = Collector::new(false, true, vec![&filter]);
        self.walk_field(&ROOT, &mut c);
        c.into_states().pop().unwrap_or_default()
    }

    /// One State per filter (first match wins; unmatched Variables are left out).
    fn states_of<F: Filters>(&self, filters: F) -> Result<F::States> {
        let list = filters.as_list();
        check_ellipsis(&list)?;
        let mut c = Collector::new(false, true, list);
        self.walk_field(&ROOT, &mut c);
        Ok(F::states(c.into_states()))
    }

    /// The structure without the Variables' values.
    fn graphdef(&self) -> GraphDef<Self> {
        let mut c = Collector::new(true, false, Vec::new());
        self.walk_field(&ROOT, &mut c);
        GraphDef::new(c.entries.unwrap_or_default())
    }

    /// Splits into a GraphDef and one State per filter (Flax's `nnx.split`):
    /// `let (graphdef, params, rest) = model.split((Param, ..))?`. Every Variable
    /// must match a filter, and `..` may only come last.
    fn split<F: Filters>(self, filters: F) -> Result<F::Split<Self>> {
        let list = filters.as_list();
        check_ellipsis(&list)?;
        let mut c = Collector::new(true, true, list);
        self.walk_field(&ROOT, &mut c);
        if !c.unmatched.is_empty() {
            return Err(Error::NonExhaustiveFilters {
                paths: c.unmatched.iter().map(|p| path_string(p)).collect(),
            });
        }
        let graphdef = GraphDef::new(c.entries.take().unwrap_or_default());
        Ok(F::split(graphdef, c.into_states()))
    }

    /// Sets Variables from States (Flax's `nnx.update`), no hooks firing. Paths may
    /// be a subset of the graph's; each must exist with the same Variable type, value
    /// type and shape. Nothing changes unless everything fits.
    fn update(&mut self, states: impl IntoStates) -> Result<()> {
        let leaves = join_checked_with(
            states.into_states(),
            |leaves| {
                let mut checker = LeafChecker::new(leaves);
                self.walk_field(&ROOT, &mut checker);
                checker.fits(leaves)
            },
            || self.graphdef().entries.to_vec(),
            false,
        )?;
        let mut u = Updater::new(leaves);
        self.walk_field_mut(&ROOT, &mut u, false);
        if u.errors.is_empty() {
            Ok(())
        } else {
            Err(collect_errors(u.errors))
        }
    }

    /// Removes and returns the Variables matching the filters (Flax's `nnx.pop`),
    /// one State per filter. Only removable slots can be popped: `sow` stores and
    /// `Option` fields (left `None`); a match in any other field is an error and
    /// nothing is removed.
    fn pop<F: Filters>(&mut self, filters: F) -> Result<F::States> {
        let list = filters.as_list();
        check_ellipsis(&list)?;
        let mut dry = Popper::new(list.clone(), true);
        self.walk_field_mut(&ROOT, &mut dry, false);
        if !dry.fixed.is_empty() {
            return Err(Error::invalid_argument(
                "pop",
                "Variables in removable slots (sow stores or Option fields)",
                format!("fixed fields {:?}", dry.fixed),
            ));
        }
        let mut p = Popper::new(list, false);
        self.walk_field_mut(&ROOT, &mut p, false);
        Ok(F::states(
            p.parts.into_iter().map(State::from_flat).collect(),
        ))
    }

    /// A copy sharing nothing with `self`: values copied, shared objects shared only
    /// among themselves, as in the original.
    fn clone_deep(&self) -> Result<Self> {
        // One walk collects both the GraphDef and the State.
        let mut c = Collector::new(true, true, Vec::new());
        self.walk_field(&ROOT, &mut c);
        let graphdef = GraphDef::<Self>::new(c.entries.take().unwrap_or_default());
        let state = c.into_states().pop().unwrap_or_default();
        graphdef.merge(state.deep_clone())
    }

    /// Every node and Variable with its path, children before parents (Flax's
    /// `iter_graph`); a shared object appears once, at its first path.
    fn iter_graph(&self) -> Vec<(Path, GraphItem)> {
        let mut l = Lister::default();
        self.walk_field(&ROOT, &mut l);
        l.items
    }

    /// For each object reachable at several paths, all its paths (first in sorted
    /// order first).
    fn find_duplicates(&self) -> Vec<Vec<Path>> {
        let mut l = Lister::default();
        self.walk_field(&ROOT, &mut l);
        l.duplicates()
    }

    /// Sets the static field `name` to `value` on every node that has one (Flax's
    /// `set_attributes`); returns how many were set. An error if none has it, or if
    /// one has it with another type.
    fn set_attributes<T: Any + Clone>(&mut self, name: &str, value: T) -> Result<usize> {
        let n = set_attribute(self, name, value)?;
        if n == 0 {
            return Err(Error::Attribute {
                name: name.to_string(),
                expected: std::any::type_name::<T>().to_string(),
                found: "no such field in the graph".to_string(),
            });
        }
        Ok(n)
    }

    /// Training mode: `deterministic = false` and `use_running_average = false`
    /// wherever those fields exist (Flax's `module.train()`).
    fn train(&mut self) -> Result<()> {
        set_attribute(self, "deterministic", false)?;
        set_attribute(self, "use_running_average", false)?;
        Ok(())
    }

    /// Evaluation mode: `deterministic = true` and `use_running_average = true`.
    fn eval(&mut self) -> Result<()> {
        set_attribute(self, "deterministic", true)?;
        set_attribute(self, "use_running_average", true)?;
        Ok(())
    }

    /// Records `value` under `name` at the module's own path, appending to a tuple
    /// (Flax's `sow`): `self.sow(Intermediate, "i", x.clone())?`. Only modules with a
    /// `#[nnx(sow)]` store can sow.
    fn sow<T: Value + Clone + PartialEq>(&mut self, kind: Kind, name: &str, value: T) -> Result<()>
    where
        Self: Sow,
    {
        self.sown().sow(kind, name, value, Self::field_names())
    }

    /// Records `value` under `name` with a custom accumulator (Flax's `sow` with
    /// `init_fn` and `reduce_fn`).
    fn sow_with<T, R: Value + Clone>(
        &mut self,
        kind: Kind,
        name: &str,
        value: T,
        init: impl FnOnce() -> R,
        reduce: impl FnOnce(R, T) -> R,
    ) -> Result<()>
    where
        Self: Sow,
    {
        self.sown()
            .sow_with(kind, name, value, init, reduce, Self::field_names())
    }
}

fn set_attribute<M: Field, T: Any + Clone>(m: &mut M, name: &str, value: T) -> Result<usize> {
    let mut set = |slot: &mut dyn Any| match slot.downcast_mut::<T>() {
        Some(s) => {
            *s = value.clone();
            true
        }
        None => false,
    };
    let mut w = AttributeSetter::new(name, &mut set);
    m.walk_field_mut(&ROOT, &mut w, false);
    if !w.wrong_type.is_empty() {
        return Err(Error::Attribute {
            name: name.to_string(),
            expected: std::any::type_name::<T>().to_string(),
            found: format!("fields of other types: {}", w.wrong_type.join(", ")),
        });
    }
    Ok(w.count)
}

impl<T: Field> Module for Vec<T> {}
impl<T: Field> Module for Option<T> {}
impl<T: Field> Module for Box<T> {}
impl<T: Field, const N: usize> Module for [T; N] {}
impl<T: Field> Module for BTreeMap<String, T> {}

/// Flax's `nnx.merge`: rebuilds a module from a GraphDef and States.
///
/// ```
/// use nnx_core::prelude::*;
/// let (g, s) = Param::new(1.0f32).split(..).unwrap();
/// let p: Param<f32> = nnx_core::merge(&g, s).unwrap();
/// assert_eq!(*p, 1.0);
/// ```
pub fn merge<M: Field>(graphdef: &GraphDef<M>, states: impl IntoStates) -> Result<M> {
    graphdef.merge(states)
}

/// Flax's `nnx.state`: every Variable of a graph, by path.
///
/// ```
/// use nnx_core::prelude::*;
/// assert_eq!(nnx_core::state(&Param::new(1.0f32)).len(), 1);
/// ```
pub fn state<M: Module>(module: &M) -> State {
    module.state()
}
