//! Filters: which Variables an operation takes (Flax's `nnx.filterlib`).
//!
//! A Variable type ([`Kind`]) matches that type and its subtypes; a `&str` matches
//! the `tag` metadata; [`PathContains`] matches a path key; [`AllOf`], [`AnyOf`] and
//! [`Not`] combine; [`Everything`], [`Nothing`] and `..` are constants; a closure
//! `|path, variable| -> bool` is a filter too.
//!
//! ```
//! use nnx_core::prelude::*;
//! let v = vec![Variable::with_kind(nnx_core::Param, 1.0f32), Variable::with_kind(nnx_core::BatchStat, 2.0f32)];
//! assert_eq!(v.state_of(nnx_core::Param).len(), 1);
//! assert_eq!(v.state_of(nnx_core::filter::Not(nnx_core::Param)).len(), 1);
//! ```

use std::ops::RangeFull;

use crate::error::{Error, Result};
use crate::key::{path_string, Key, Path};
use crate::kind::Kind;
use crate::state::State;
use crate::variable::{VariableInfo, VariableState};

/// A predicate over `(path, variable)`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::filter::{Filter, Not, PathContains};
/// let leaf = VariableState::new(Param, 1.0f32);
/// let path = [Key::from("linear"), Key::from("kernel")];
/// assert!(Param.matches(&path, &leaf));
/// assert!(PathContains::new("kernel").matches(&path, &leaf));
/// assert!(!Not(BatchStat).matches(&path, &BatchStat.matches_dummy()));
/// # trait Dummy { fn matches_dummy(&self) -> VariableState; }
/// # impl Dummy for nnx_core::Kind { fn matches_dummy(&self) -> VariableState { VariableState::new(*self, 0u8) } }
/// ```
pub trait Filter: Send + Sync {
    /// Whether the Variable at `path` is selected.
    ///
    /// ```
    /// use nnx_core::filter::Filter;
    /// let leaf = nnx_core::VariableState::new(nnx_core::Param, 1.0f32);
    /// assert!(nnx_core::Param.matches(&[], &leaf));
    /// assert!(!nnx_core::BatchStat.matches(&[], &leaf));
    /// ```
    fn matches(&self, path: &[Key], var: &dyn VariableInfo) -> bool;
    /// Whether this is `..` (allowed only as the last filter).
    ///
    /// ```
    /// use nnx_core::filter::{Everything, Filter};
    /// assert!((..).is_ellipsis());
    /// assert!(!Everything.is_ellipsis());
    /// ```
    fn is_ellipsis(&self) -> bool {
        false
    }
}

impl Filter for Kind {
    fn matches(&self, _path: &[Key], var: &dyn VariableInfo) -> bool {
        var.kind().is_subtype_of(*self)
    }
}

/// A string filter matches Variables whose `tag` metadata equals it (Flax's
/// string filters; `Rngs` streams carry their name as tag).
impl Filter for &str {
    fn matches(&self, _path: &[Key], var: &dyn VariableInfo) -> bool {
        matches!(var.metadata().get("tag"), Some(crate::MetaValue::Str(t)) if t == self)
    }
}

impl Filter for String {
    fn matches(&self, path: &[Key], var: &dyn VariableInfo) -> bool {
        Filter::matches(&self.as_str(), path, var)
    }
}

/// `..`: everything (Python's `...`); only allowed as the last filter.
impl Filter for RangeFull {
    fn matches(&self, _path: &[Key], _var: &dyn VariableInfo) -> bool {
        true
    }
    fn is_ellipsis(&self) -> bool {
        true
    }
}

impl Filter for bool {
    fn matches(&self, _path: &[Key], _var: &dyn VariableInfo) -> bool {
        *self
    }
    fn is_ellipsis(&self) -> bool {
        *self
    }
}

impl<F: Fn(&[Key], &dyn VariableInfo) -> bool + Send + Sync> Filter for F {
    fn matches(&self, path: &[Key], var: &dyn VariableInfo) -> bool {
        self(path, var)
    }
}

/// An array of filters is their union (Python's tuple filter).
impl<F: Filter, const N: usize> Filter for [F; N] {
    fn matches(&self, path: &[Key], var: &dyn VariableInfo) -> bool {
        self.iter().any(|f| f.matches(path, var))
    }
}

/// Matches when a path key equals the given key (exact), or, for
/// [`PathContains::substring`], when a string key contains it.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::filter::{Filter, PathContains};
/// let leaf = VariableState::new(Param, 1.0f32);
/// let path = [Key::from("encoder"), Key::from(0usize), Key::from("kernel")];
/// assert!(PathContains::new(0usize).matches(&path, &leaf));
/// assert!(!PathContains::new("ker").matches(&path, &leaf));
/// assert!(PathContains::substring("ker").matches(&path, &leaf));
/// ```
#[derive(Debug, Clone)]
pub struct PathContains {
    key: Key,
    substring: bool,
}

impl PathContains {
    /// Exact key match.
    ///
    /// ```
    /// use nnx_core::{Key, VariableState, Param, filter::{Filter, PathContains}};
    /// let leaf = VariableState::new(Param, 1.0f32);
    /// assert!(PathContains::new("bias").matches(&[Key::from("bias")], &leaf));
    /// assert!(!PathContains::new("bias").matches(&[Key::from("bias2")], &leaf));
    /// ```
    pub fn new(key: impl Into<Key>) -> Self {
        PathContains {
            key: key.into(),
            substring: false,
        }
    }

    /// Substring match against string keys.
    ///
    /// ```
    /// use nnx_core::{Key, VariableState, Param, filter::{Filter, PathContains}};
    /// let leaf = VariableState::new(Param, 1.0f32);
    /// assert!(PathContains::substring("bias").matches(&[Key::from("bias2")], &leaf));
    /// ```
    pub fn substring(part: impl Into<String>) -> Self {
        PathContains {
            key: Key::from(part.into()),
            substring: true,
        }
    }
}

impl Filter for PathContains {
    fn matches(&self, path: &[Key], _var: &dyn VariableInfo) -> bool {
        match (&self.key, self.substring) {
            (Key::Str(part), true) => path
                .iter()
                .any(|k| k.as_str().is_some_and(|s| s.contains(&**part))),
            (key, _) => path.contains(key),
        }
    }
}

/// Matches everything.
///
/// ```
/// use nnx_core::filter::{Everything, Filter};
/// assert!(Everything.matches(&[], &nnx_core::VariableState::new(nnx_core::Param, 0u8)));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Everything;

impl Filter for Everything {
    fn matches(&self, _path: &[Key], _var: &dyn VariableInfo) -> bool {
        true
    }
}

/// Matches nothing.
///
/// ```
/// use nnx_core::filter::{Filter, Nothing};
/// assert!(!Nothing.matches(&[], &nnx_core::VariableState::new(nnx_core::Param, 0u8)));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Nothing;

impl Filter for Nothing {
    fn matches(&self, _path: &[Key], _var: &dyn VariableInfo) -> bool {
        false
    }
}

/// Negation.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::filter::{Filter, Not};
/// assert!(Not(BatchStat).matches(&[], &VariableState::new(Param, 0u8)));
/// ```
#[derive(Debug, Clone)]
pub struct Not<F>(pub F);

impl<F: Filter> Filter for Not<F> {
    fn matches(&self, path: &[Key], var: &dyn VariableInfo) -> bool {
        !self.0.matches(path, var)
    }
}

/// Intersection of a tuple of filters: `AllOf((Param, PathContains::new("kernel")))`
/// (Flax's `nnx.All`, named to pair with [`AnyOf`]).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::filter::{AllOf, Filter, PathContains};
/// let f = AllOf((Param, PathContains::new("kernel")));
/// assert!(f.matches(&[Key::from("kernel")], &VariableState::new(Param, 0u8)));
/// assert!(!f.matches(&[Key::from("bias")], &VariableState::new(Param, 0u8)));
/// ```
#[derive(Debug, Clone)]
pub struct AllOf<T>(pub T);

impl<T: Filters + Send + Sync> Filter for AllOf<T> {
    fn matches(&self, path: &[Key], var: &dyn VariableInfo) -> bool {
        self.0.as_list().iter().all(|f| f.matches(path, var))
    }
}

/// Union of a tuple of filters: `AnyOf((Param, BatchStat))` (Flax's `nnx.Any`, or a
/// Python tuple filter; named so that it does not shadow `std::any::Any`).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::filter::{AnyOf, Filter};
/// assert!(AnyOf((Param, BatchStat)).matches(&[], &VariableState::new(BatchStat, 0u8)));
/// ```
#[derive(Debug, Clone)]
pub struct AnyOf<T>(pub T);

impl<T: Filters + Send + Sync> Filter for AnyOf<T> {
    fn matches(&self, path: &[Key], var: &dyn VariableInfo) -> bool {
        self.0.as_list().iter().any(|f| f.matches(path, var))
    }
}

/// One filter or a tuple of filters: the argument of `split`, `pop` and
/// `State::split`. A tuple of `n` filters gives `n` States.
///
/// ```
/// use nnx_core::prelude::*;
/// assert_eq!((Param, BatchStat, ..).as_list().len(), 3);
/// let (g, all) = vec![Param::new(1.0f32)].split(..).unwrap(); // one filter: one State
/// assert_eq!((g.num_variables(), all.len()), (1, 1));
/// ```
pub trait Filters {
    /// `State` for one filter, `(State, State, ...)` for a tuple.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = vec![Param::new(1.0f32)].state();
    /// let (params, stats): <(nnx_core::Kind, nnx_core::Kind) as Filters>::States =
    ///     s.split((Param, BatchStat)).unwrap();
    /// assert_eq!((params.len(), stats.len()), (1, 0));
    /// ```
    type States;
    /// `(G, State, ...)`: what `split` returns, with `G` the GraphDef.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let out: <(nnx_core::Kind, std::ops::RangeFull) as Filters>::Split<GraphDef<Vec<Param<f32>>>> =
    ///     vec![Param::new(1.0f32)].split((Param, ..)).unwrap();
    /// assert_eq!(out.1.len(), 1);
    /// ```
    type Split<G>;
    /// The filters, in order.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// assert_eq!(Param.as_list().len(), 1);
    /// assert_eq!((Param, ..).as_list().len(), 2);
    /// ```
    fn as_list(&self) -> Vec<&dyn Filter>;
    /// Builds the output from one State per filter.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let (a, b) = <(nnx_core::Kind, nnx_core::Kind)>::states(vec![State::new()]);
    /// assert!(a.is_empty() && b.is_empty()); // missing States are empty
    /// ```
    fn states(states: Vec<State>) -> Self::States;
    /// Builds `split`'s output.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let g = vec![Param::new(1.0f32)].graphdef();
    /// let (g2, s) = <nnx_core::Kind as Filters>::split(g.clone(), vec![]);
    /// assert_eq!((g2, s.len()), (g, 0));
    /// ```
    fn split<G>(graphdef: G, states: Vec<State>) -> Self::Split<G>;
}

impl<F: Filter> Filters for F {
    type States = State;
    type Split<G> = (G, State);
    fn as_list(&self) -> Vec<&dyn Filter> {
        vec![self]
    }
    fn states(states: Vec<State>) -> State {
        states.into_iter().next().unwrap_or_default()
    }
    fn split<G>(graphdef: G, states: Vec<State>) -> Self::Split<G> {
        (graphdef, Self::states(states))
    }
}

macro_rules! tuple_filters {
    ($($f:ident),+) => {
        impl<$($f: Filter),+> Filters for ($($f,)+) {
            type States = ($(tuple_filters!(@state $f),)+);
            type Split<Def> = (Def, $(tuple_filters!(@state $f),)+);
            #[allow(non_snake_case)]
            fn as_list(&self) -> Vec<&dyn Filter> {
                let ($($f,)+) = self;
                vec![$($f as &dyn Filter),+]
            }
            fn states(states: Vec<State>) -> Self::States {
                let mut it = states.into_iter();
                ($(tuple_filters!(@next it $f),)+)
            }
            fn split<Def>(graphdef: Def, states: Vec<State>) -> Self::Split<Def> {
                let mut it = states.into_iter();
                (graphdef, $(tuple_filters!(@next it $f),)+)
            }
        }
    };
    (@state $f:ident) => { State };
    (@next $it:ident $f:ident) => { $it.next().unwrap_or_default() };
}

tuple_filters!(A);
tuple_filters!(A, B);
tuple_filters!(A, B, C);
tuple_filters!(A, B, C, D);
tuple_filters!(A, B, C, D, E);
tuple_filters!(A, B, C, D, E, G);

/// Checks that `..` only comes last.
pub(crate) fn check_ellipsis(filters: &[&dyn Filter]) -> Result<()> {
    let count = filters.len();
    for (index, f) in filters.iter().enumerate() {
        if f.is_ellipsis() && !filters[index + 1..].iter().all(|g| g.is_ellipsis()) {
            return Err(Error::EllipsisNotLast { index, count });
        }
    }
    Ok(())
}

// State's methods that take filters live here, so that filters read after State.
impl State {
    /// The leaves matching `filter`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = State::from_flat(vec![
    ///     (vec![Key::from("w")], VariableState::new(Param, 1.0f32)),
    ///     (vec![Key::from("mean")], VariableState::new(BatchStat, 0.0f32)),
    /// ])?;
    /// assert_eq!(s.filter(nnx_core::BatchStat).len(), 1);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn filter(&self, filter: impl Filter) -> State {
        State::from_subset(
            self.flat_state()
                .into_iter()
                .filter(|(p, l)| filter.matches(p, l)),
        )
    }

    /// Partitions the leaves by `filters` (first match wins). Every leaf must match
    /// one filter, and `..` may only come last, as in Flax.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let s = State::from_flat(vec![
    ///     (vec![Key::from("w")], VariableState::new(Param, 1.0f32)),
    ///     (vec![Key::from("mean")], VariableState::new(BatchStat, 0.0f32)),
    /// ])?;
    /// let (params, rest) = s.split((nnx_core::Param, ..))?;
    /// assert_eq!((params.len(), rest.len()), (1, 1));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn split<F: Filters>(self, filters: F) -> Result<F::States> {
        let parts = partition(self.into_flat(), &filters.as_list(), true)?;
        Ok(F::states(
            parts.into_iter().map(State::from_subset).collect(),
        ))
    }
}

/// Index of the first filter matching, if any.
pub(crate) fn first_match(
    filters: &[&dyn Filter],
    path: &[Key],
    var: &dyn VariableInfo,
) -> Option<usize> {
    filters.iter().position(|f| f.matches(path, var))
}

/// Partitions leaves by filters (first match wins). With `exhaustive`, an unmatched
/// leaf is an error, as in Flax's `split`.
pub(crate) fn partition(
    items: Vec<(Path, VariableState)>,
    filters: &[&dyn Filter],
    exhaustive: bool,
) -> Result<Vec<Vec<(Path, VariableState)>>> {
    check_ellipsis(filters)?;
    let mut parts: Vec<Vec<(Path, VariableState)>> = filters.iter().map(|_| Vec::new()).collect();
    let mut unmatched = Vec::new();
    for (path, leaf) in items {
        match first_match(filters, &path, &leaf) {
            Some(i) => parts[i].push((path, leaf)),
            None => unmatched.push(path_string(&path)),
        }
    }
    if exhaustive && !unmatched.is_empty() {
        return Err(Error::NonExhaustiveFilters { paths: unmatched });
    }
    Ok(parts)
}
