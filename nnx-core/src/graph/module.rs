//! The `Module` trait: Flax's graph operations as methods.

use std::any::Any;
use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::filter::{check_ellipsis, Filter, Filters};
use crate::graph::field::Field;
use crate::graph::graphdef::GraphDef;
use crate::graph::leaves::{check, join};
use crate::graph::merge::IntoStates;
use crate::graph::tracker::ROOT;
use crate::graph::walker::Place;
use crate::graph::walkers::{AttributeSetter, Collector, GraphItem, Lister, Popper, Updater};
use crate::key::{path_string, Path};
use crate::state::{State, Tree};

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
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = vec![Param::new(1.0f32), Param::new(2.0)].state();
    /// assert_eq!(s.flat_state().paths(), vec![vec![Key::from(0usize)], vec![Key::from(1usize)]]);
    /// ```
    ///
    /// # Panics
    ///
    /// Like `RefCell::borrow`, on a misuse it cannot report otherwise: a
    /// [`Shared`](crate::Shared) locked by a guard that is still alive, or a graph
    /// nested deeper than [`MAX_DEPTH`](crate::MAX_DEPTH). [`try_state`](Module::try_state)
    /// returns these as errors.
    fn state(&self) -> State {
        self.try_state().unwrap_or_else(|e| panic!("state(): {e}"))
    }

    /// [`state`](Module::state), returning [`Error::Locked`] for a
    /// [`Shared`](crate::Shared) whose guard is alive and [`Error::TooDeep`] for a
    /// graph nested deeper than [`MAX_DEPTH`](crate::MAX_DEPTH), each naming the path.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Model { enc: Shared<Param<f32>> }
    /// let m = Model { enc: Shared::new(Param::new(1.0)) };
    /// let guard = m.enc.write();
    /// let err = m.try_state().unwrap_err(); // never blocks on the caller's own guard
    /// assert!(matches!(&err, nnx_core::Error::Locked { path } if path.to_string() == "enc"));
    /// drop(guard);
    /// assert_eq!(m.try_state()?.len(), 1);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn try_state(&self) -> Result<State> {
        let mut c = Collector::new(false, true, Vec::new());
        self.walk_field(&ROOT, &mut c);
        c.finish()?;
        Ok(c.into_states().pop().unwrap_or_default())
    }

    /// The Variables matching `filter` (Flax's `nnx.state(module, filter)`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Bn { scale: Param<f32>, mean: BatchStat<f32> }
    /// let bn = Bn { scale: Param::new(1.0), mean: BatchStat::new(0.0) };
    /// let stats = bn.state_of(BatchStat);
    /// assert_eq!(stats.flat_state().paths(), vec![vec![Key::from("mean")]]);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`state`](Module::state) does; [`states_of`](Module::states_of) with one
    /// filter is the form that returns these as errors.
    fn state_of(&self, filter: impl Filter) -> State {
        let mut c = Collector::new(false, true, vec![&filter]);
        self.walk_field(&ROOT, &mut c);
        if let Err(e) = c.finish() {
            panic!("state_of(): {e}");
        }
        c.into_states().pop().unwrap_or_default()
    }

    /// One State per filter (first match wins; unmatched Variables are left out).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Bn { scale: Param<f32>, mean: BatchStat<f32> }
    /// let bn = Bn { scale: Param::new(1.0), mean: BatchStat::new(0.0) };
    /// let (params, stats) = bn.states_of((Param, BatchStat)).unwrap();
    /// assert_eq!((params.len(), stats.len()), (1, 1));
    /// ```
    fn states_of<F: Filters>(&self, filters: F) -> Result<F::States> {
        let list = filters.as_list();
        check_ellipsis(&list)?;
        let mut c = Collector::new(false, true, list);
        self.walk_field(&ROOT, &mut c);
        c.finish()?;
        Ok(F::states(c.into_states()))
    }

    /// The structure without the Variables' values.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let g = vec![Param::new(1.0f32)].graphdef();
    /// assert_eq!(g, vec![Param::new(9.0f32)].graphdef()); // values are not part of it
    /// assert_eq!(g.num_variables(), 1);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`state`](Module::state) does; [`try_graphdef`](Module::try_graphdef)
    /// returns these as errors.
    fn graphdef(&self) -> GraphDef<Self> {
        self.try_graphdef()
            .unwrap_or_else(|e| panic!("graphdef(): {e}"))
    }

    /// [`graphdef`](Module::graphdef), returning a locked
    /// [`Shared`](crate::Shared) or a too-deep graph as an error (see
    /// [`try_state`](Module::try_state)).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let tied = Shared::new(Param::new(1.0f32));
    /// let m = vec![tied.clone(), tied.clone()];
    /// let guard = tied.read(); // reading does not block a read-only walk
    /// assert_eq!(m.try_graphdef()?.num_variables(), 1);
    /// drop(guard);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn try_graphdef(&self) -> Result<GraphDef<Self>> {
        let mut c = Collector::new(true, false, Vec::new());
        self.walk_field(&ROOT, &mut c);
        c.finish()?;
        Ok(GraphDef::new(c.entries.unwrap_or_default()))
    }

    /// Splits into a GraphDef and one State per filter (Flax's `nnx.split`):
    /// `let (graphdef, params, rest) = model.split((Param, ..))?`. Every Variable
    /// must match a filter, and `..` may only come last.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Bn { scale: Param<f32>, mean: BatchStat<f32> }
    /// let bn = Bn { scale: Param::new(1.0), mean: BatchStat::new(0.0) };
    /// let (g, params, rest) = bn.split((Param, ..)).unwrap();
    /// assert_eq!((params.len(), rest.len()), (1, 1));
    /// let bn: Bn = g.merge((params, rest)).unwrap();
    /// assert_eq!(*bn.scale, 1.0);
    /// ```
    fn split<F: Filters>(self, filters: F) -> Result<F::Split<GraphDef<Self>>> {
        let list = filters.as_list();
        check_ellipsis(&list)?;
        let mut c = Collector::new(true, true, list);
        self.walk_field(&ROOT, &mut c);
        c.finish()?;
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
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let mut m = vec![Param::new(1.0f32), Param::new(2.0)];
    /// let new = vec![Param::new(10.0f32)].state(); // a subset of the paths
    /// m.update(new).unwrap();
    /// assert_eq!((*m[0], *m[1]), (10.0, 2.0));
    /// ```
    fn update(&mut self, states: impl IntoStates) -> Result<()> {
        let mut leaves = join(states.into_states())?;
        let converts = check(&leaves, false, |c| {
            self.walk_field_mut(&ROOT, c, Place::Fixed);
        })?;
        if converts > 0 {
            let mut c = Updater::new(leaves, true);
            self.walk_field_mut(&ROOT, &mut c, Place::Fixed);
            c.finish()?;
            if !c.errors.is_empty() {
                return Err(Error::many(c.errors));
            }
            leaves = Tree::from_flat(c.converted);
        }
        let mut u = Updater::new(leaves, false);
        self.walk_field_mut(&ROOT, &mut u, Place::Fixed);
        // Only a lock taken by another thread since the check can fail here.
        u.finish()?;
        if u.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::many(u.errors))
        }
    }

    /// Removes and returns the Variables matching the filters (Flax's `nnx.pop`),
    /// one State per filter. Only removable slots can be popped: `sow` stores and
    /// `Option` fields (left `None`); a match in any other field is an error and
    /// nothing is removed.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Block {
    ///     w: Param<f32>,
    ///     #[nnx(sow)]
    ///     sown: Sown,
    /// }
    /// let mut b = Block { w: Param::new(1.0), sown: Sown::default() };
    /// b.sow(Intermediate, "i", 2.0f32).unwrap();
    /// let popped = b.pop(Intermediate).unwrap();
    /// assert_eq!(popped.len(), 1);
    /// assert!(b.sown.is_empty());
    /// assert!(b.pop(Param).is_err()); // `w` is not a removable slot
    /// ```
    fn pop<F: Filters>(&mut self, filters: F) -> Result<F::States> {
        let list = filters.as_list();
        check_ellipsis(&list)?;
        let mut dry = Popper::new(list.clone(), true);
        self.walk_field_mut(&ROOT, &mut dry, Place::Fixed);
        dry.tracker.finish()?;
        if !dry.fixed.is_empty() {
            return Err(Error::invalid_argument(
                "pop",
                "Variables in removable slots (sow stores or Option fields)",
                format!("fixed fields {:?}", dry.fixed),
            ));
        }
        let mut p = Popper::new(list, false);
        self.walk_field_mut(&ROOT, &mut p, Place::Fixed);
        p.tracker.finish()?;
        Ok(F::states(
            p.parts.into_iter().map(State::from_subset).collect(),
        ))
    }

    /// A copy sharing nothing with `self`: values copied, shared objects shared only
    /// among themselves, as in the original.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let a = vec![Param::new(1.0f32)];
    /// let mut b = a.clone_deep().unwrap();
    /// *b[0] = 5.0;
    /// assert_eq!((*a[0], *b[0]), (1.0, 5.0));
    /// ```
    fn clone_deep(&self) -> Result<Self> {
        // One walk collects both the GraphDef and the State.
        let mut c = Collector::new(true, true, Vec::new());
        self.walk_field(&ROOT, &mut c);
        c.finish()?;
        let graphdef = GraphDef::<Self>::new(c.entries.take().unwrap_or_default());
        let state = c.into_states().pop().unwrap_or_default();
        graphdef.merge(state.deep_clone())
    }

    /// Every node and Variable with its path, children before parents (Flax's
    /// `iter_graph`); a shared object appears once, at its first path.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let items = vec![Param::new(1.0f32)].iter_graph()?;
    /// let paths: Vec<_> = items.iter().map(|(p, _)| p.clone()).collect();
    /// assert_eq!(paths, vec![vec![Key::from(0usize)], vec![]]); // the Variable, then the root
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn iter_graph(&self) -> Result<Vec<(Path, GraphItem)>> {
        let mut l = Lister::default();
        self.walk_field(&ROOT, &mut l);
        l.tracker.finish()?;
        Ok(l.items)
    }

    /// For each object reachable at several paths, all its paths (first in sorted
    /// order first).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let p = Shared::new(Param::new(1.0f32));
    /// let m = vec![p.clone(), p];
    /// assert_eq!(m.find_duplicates()?, vec![vec![vec![Key::from(0usize)], vec![Key::from(1usize)]]]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    fn find_duplicates(&self) -> Result<Vec<Vec<Path>>> {
        let mut l = Lister::default();
        self.walk_field(&ROOT, &mut l);
        l.tracker.finish()?;
        Ok(l.duplicates())
    }

    /// Sets the static field `name` to `value` on every node that has one (Flax's
    /// `set_attributes`); returns how many were set. An error if none has it, or if
    /// one has it with another type; then nothing is set.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Head { #[nnx(static)] heads: usize }
    /// let mut m = vec![Head { heads: 1 }, Head { heads: 2 }];
    /// assert_eq!(m.set_attributes("heads", 4usize).unwrap(), 2);
    /// assert_eq!(m[1].heads, 4);
    /// assert!(m.set_attributes("missing", 1u8).is_err());
    /// ```
    fn set_attributes<T: Any + Clone>(&mut self, name: &str, value: T) -> Result<usize> {
        let n = count_attribute::<Self, T>(self, name)?;
        if n == 0 {
            return Err(Error::Attribute {
                name: name.to_string(),
                expected: std::any::type_name::<T>().to_string(),
                found: "no such field in the graph".to_string(),
            });
        }
        write_attribute(self, name, value);
        Ok(n)
    }

    /// Training mode: `deterministic = false` and `use_running_average = false`
    /// wherever those fields exist (Flax's `module.train()`). If one of them is
    /// not a `bool`, nothing changes.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Drop { #[nnx(static)] deterministic: bool }
    /// let mut m = Drop { deterministic: true };
    /// m.train().unwrap();
    /// assert!(!m.deterministic);
    /// ```
    fn train(&mut self) -> Result<()> {
        set_modes(
            self,
            &[("deterministic", false), ("use_running_average", false)],
        )
    }

    /// Evaluation mode: `deterministic = true` and `use_running_average = true`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// #[derive(Module)]
    /// struct Drop { #[nnx(static)] deterministic: bool }
    /// let mut m = Drop { deterministic: false };
    /// m.eval().unwrap();
    /// assert!(m.deterministic);
    /// ```
    fn eval(&mut self) -> Result<()> {
        set_modes(
            self,
            &[("deterministic", true), ("use_running_average", true)],
        )
    }
}

/// How many static fields are named `name`; an error naming every one that is
/// not a `T`. Changes nothing.
fn count_attribute<M: Field, T: Any>(m: &mut M, name: &str) -> Result<usize> {
    let fits = |slot: &dyn Any| slot.is::<T>();
    let mut w = AttributeSetter::new(name, &fits, None);
    m.walk_field_mut(&ROOT, &mut w, Place::Fixed);
    w.tracker.finish()?;
    if !w.wrong_type.is_empty() {
        return Err(Error::Attribute {
            name: name.to_string(),
            expected: std::any::type_name::<T>().to_string(),
            found: format!("fields of another type at {}", w.wrong_type.join(", ")),
        });
    }
    Ok(w.count)
}

/// Sets every static field named `name` (checked by [`count_attribute`]).
fn write_attribute<M: Field, T: Any + Clone>(m: &mut M, name: &str, value: T) {
    let fits = |slot: &dyn Any| slot.is::<T>();
    let mut set = |slot: &mut dyn Any| {
        if let Some(s) = slot.downcast_mut::<T>() {
            *s = value.clone();
        }
    };
    let mut w = AttributeSetter::new(name, &fits, Some(&mut set));
    m.walk_field_mut(&ROOT, &mut w, Place::Fixed);
}

/// Sets boolean mode flags, all or (on an error) none.
fn set_modes<M: Field>(m: &mut M, flags: &[(&str, bool)]) -> Result<()> {
    for (name, _) in flags {
        count_attribute::<M, bool>(m, name)?;
    }
    for (name, value) in flags {
        write_attribute(m, name, *value);
    }
    Ok(())
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
