//! Merge: rebuilding a typed module from its GraphDef and States.

use crate::error::Result;
use crate::graph::builder::Builder;
use crate::graph::field::Field;
use crate::graph::graphdef::{Entry, GraphDef};
use crate::graph::leaves::{check, join};
use crate::graph::tracker::ROOT;
use crate::state::State;

/// The States given to merge: one `State`, a tuple of them, or a `Vec`.
///
/// ```
/// use nnx_core::prelude::*;
/// #[derive(Module)]
/// struct Bn { scale: Param<f32>, mean: BatchStat<f32> }
/// let (g, params, stats) = Bn { scale: Param::new(1.0), mean: BatchStat::new(0.0) }
///     .split((Param, BatchStat))?;
/// let a: Bn = g.merge((params.clone(), stats.clone()))?; // a tuple
/// let b: Bn = g.merge(vec![params, stats])?; // a Vec
/// assert_eq!((*a.scale, *b.mean), (1.0, 0.0));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub trait IntoStates {
    /// The States, in order (a later State wins at the same path).
    ///
    /// ```
    /// use nnx_core::graph::IntoStates;
    /// use nnx_core::State;
    /// assert_eq!((State::new(), State::new()).into_states().len(), 2);
    /// assert_eq!(State::new().into_states().len(), 1);
    /// ```
    fn into_states(self) -> Vec<State>;
}

impl IntoStates for State {
    fn into_states(self) -> Vec<State> {
        vec![self]
    }
}

impl IntoStates for Vec<State> {
    fn into_states(self) -> Vec<State> {
        self
    }
}

macro_rules! tuple_states {
    ($($s:ident),+) => {
        impl IntoStates for ($(tuple_states!(@ty $s),)+) {
            #[allow(non_snake_case)]
            fn into_states(self) -> Vec<State> {
                let ($($s,)+) = self;
                vec![$($s),+]
            }
        }
    };
    (@ty $s:ident) => { State };
}
tuple_states!(A);
tuple_states!(A, B);
tuple_states!(A, B, C);
tuple_states!(A, B, C, D);
tuple_states!(A, B, C, D, E);
tuple_states!(A, B, C, D, E, F);

pub(crate) fn build<M: Field>(entries: &[Entry], states: Vec<State>) -> Result<M> {
    let leaves = join(states)?;
    check(&leaves, true, |c| c.entries(entries))?;
    let shared_count = entries
        .iter()
        .filter(|e| matches!(e, Entry::SharedFirst { .. }))
        .count();
    let mut b = Builder::new(entries, leaves, shared_count);
    M::build_field(&ROOT, &mut b)
}

impl<M: Field> GraphDef<M> {
    /// Rebuilds the module from States (Flax's `nnx.merge`). Strict: every Variable
    /// path must be present once, with the recorded Variable type, value type, shape
    /// and dtype, and no State may hold other paths. All problems are reported in one
    /// error.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let (g, params) = vec![Param::new(1.0f32)].split(..).unwrap();
    /// let back = g.merge(params.clone()).unwrap();
    /// assert_eq!(*back[0], 1.0);
    /// assert!(g.merge(State::new()).is_err()); // the Variable at `0` is missing
    /// ```
    pub fn merge(&self, states: impl IntoStates) -> Result<M> {
        build(&self.entries, states.into_states())
    }
}
