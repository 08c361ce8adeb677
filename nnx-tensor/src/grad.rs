//! `value_and_grad` and `grad` over modules: Flax's `nnx.value_and_grad` /
//! `nnx.grad`, with gradients returned as a [`State`].

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use nnx_core::filter::Filter;
use nnx_core::value::{DType, Value};
use nnx_core::{path_string, Module, Path};
use nnx_core::{repr, Error, Result, State, VariableState};

use crate::element::{Cotangent, Element};
use crate::tape::{self, Session};
use crate::Tensor;

/// The Variables of one differentiated module, as they were marked on the tape.
///
/// Built by [`DiffArgs::watch`]; turned into that module's gradient State after
/// backward. Its contents are private.
///
/// ```
/// // Only `value_and_grad` builds these; a Vec of them is what `watch` fills.
/// let watched: Vec<nnx_tensor::Watched> = Vec::new();
/// assert!(watched.is_empty());
/// ```
pub struct Watched {
    /// Path, the Variable's state (type, metadata) and the leaf's tape node.
    entries: Vec<(Path, VariableState, Option<usize>)>,
}

/// A zero or given cotangent as a Tensor of `E` (the Variable's element type).
fn grad_value<E: Element>(grad: Option<Cotangent>, shape: &[usize]) -> Arc<dyn Value> {
    let grad = grad
        .and_then(Cotangent::take::<E>)
        .unwrap_or_else(|| ArrayD::zeros(IxDyn(shape)));
    Arc::new(Tensor::from_array(grad))
}

impl Watched {
    /// The gradient State: each Variable with its cotangent (zeros if unused),
    /// of the Variable's element type.
    fn into_state(self, grads: &mut [Option<Cotangent>]) -> Result<State> {
        State::from_flat(self.entries.into_iter().map(|(path, leaf, node)| {
            let grad = node.and_then(|i| grads.get_mut(i)).and_then(Option::take);
            let shape = leaf.value.shape_of().unwrap_or_default();
            let grad = match leaf.value.dtype() {
                Some(DType::F64) => grad_value::<f64>(grad, &shape),
                _ => grad_value::<f32>(grad, &shape),
            };
            (path, leaf.with_value(grad))
        }))
    }
}

/// `value` as a leaf of the active tape when it is a Tensor of `E`.
fn watch_leaf<E: Element>(value: &dyn Value) -> Option<(Arc<dyn Value>, Option<usize>)> {
    let t = tape::leaf(value.as_any().downcast_ref::<Tensor<E>>()?);
    let node = t.node.map(|n| n.index);
    Some((Arc::new(t), node))
}

/// What `value_and_grad` can differentiate, with the filter type `W` saying which
/// Variables: a module (`&mut M` with any [`Filter`]), or a tuple of those with a
/// tuple of filters, one per module (Flax's `DiffState(argnum, filter)`).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_tensor::{value_and_grad, Tensor};
///
/// let mut a = Param::new(Tensor::scalar(2.0));
/// let mut b = Param::new(Tensor::scalar(3.0));
/// let (loss, (ga, gb)) =
///     value_and_grad((&mut a, &mut b), (Param, Param), |(a, b)| &**a * &**b).unwrap();
/// assert_eq!(loss, 6.0);
/// assert_eq!(ga.leaf(&[]).unwrap().value.as_any().downcast_ref::<Tensor>(), Some(&Tensor::scalar(3.0)));
/// assert_eq!(gb.leaf(&[]).unwrap().value.as_any().downcast_ref::<Tensor>(), Some(&Tensor::scalar(2.0)));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be differentiated with the filter `{W}`",
    label = "pass `&mut model` with one filter, or a tuple `(&mut a, &mut b)` with a tuple of filters"
)]
pub trait DiffArgs<W> {
    /// The gradients: a `State` per module (a tuple of States for a tuple).
    type Grads;

    /// Marks the Variables matching `wrt` as leaves of the active tape, replacing
    /// their values in the module by tape-tracked tensors sharing the same buffers.
    ///
    /// ```
    /// // Called by `value_and_grad`; outside a gradient there is no tape to mark on,
    /// // yet the module's Variables are still checked.
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::DiffArgs;
    /// let mut p = Param::new(1.0f32);
    /// assert!((&mut p).watch(Param, &mut Vec::new()).is_err()); // not a Tensor
    /// ```
    fn watch(&mut self, wrt: W, out: &mut Vec<Watched>) -> Result<()>;

    /// Assembles the gradients from one State per watched module, in order.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::DiffArgs;
    /// let grads = <&mut Param<nnx_tensor::Tensor> as DiffArgs<nnx_core::Kind>>::grads(
    ///     &mut std::iter::once(State::new()),
    /// );
    /// assert!(grads.is_empty());
    /// ```
    fn grads(states: &mut dyn Iterator<Item = State>) -> Self::Grads;
}

impl<M: Module, W: Filter> DiffArgs<W> for &mut M {
    type Grads = State;

    fn watch(&mut self, wrt: W, out: &mut Vec<Watched>) -> Result<()> {
        let mut entries = Vec::new();
        let mut tracked = Vec::new();
        let mut errors = Vec::new();
        for (path, leaf) in self.state_of(wrt).into_flat() {
            let watched =
                watch_leaf::<f32>(&*leaf.value).or_else(|| watch_leaf::<f64>(&*leaf.value));
            match watched {
                Some((t, node)) => {
                    entries.push((path.clone(), leaf.clone(), node));
                    tracked.push((path, leaf.with_value(t)));
                }
                None => errors.push(Error::TypeMismatch {
                    path: path_string(&path).into(),
                    expected: format!(
                        "a Tensor in this {} (only Tensor Variables can be differentiated)",
                        leaf.kind
                    ),
                    found: leaf.value.type_name().into(),
                }),
            }
        }
        match errors.len() {
            0 => {}
            1 => return Err(errors.remove(0)),
            _ => return Err(Error::Many(errors)),
        }
        self.update(State::from_flat(tracked)?)?;
        out.push(Watched { entries });
        Ok(())
    }

    fn grads(states: &mut dyn Iterator<Item = State>) -> State {
        states.next().unwrap_or_default()
    }
}

macro_rules! tuple_diff_args {
    ($(($A:ident, $W:ident, $a:ident, $w:ident)),+) => {
        impl<$($A: DiffArgs<$W>, $W),+> DiffArgs<($($W,)+)> for ($($A,)+) {
            type Grads = ($($A::Grads,)+);

            fn watch(&mut self, wrt: ($($W,)+), out: &mut Vec<Watched>) -> Result<()> {
                let ($($a,)+) = self;
                let ($($w,)+) = wrt;
                $($a.watch($w, out)?;)+
                Ok(())
            }

            fn grads(states: &mut dyn Iterator<Item = State>) -> Self::Grads {
                ($($A::grads(states),)+)
            }
        }
    };
}

tuple_diff_args!((A, WA, a, wa), (B, WB, b, wb));
tuple_diff_args!((A, WA, a, wa), (B, WB, b, wb), (C, WC, c, wc));
tuple_diff_args!(
    (A, WA, a, wa),
    (B, WB, b, wb),
    (C, WC, c, wc),
    (D, WD, d, wd)
);

/// Runs `f` on a tape and differentiates its scalar loss with respect to the
/// Variables of `args` matching `wrt`.
fn differentiate<A, W, E, X, F>(mut args: A, wrt: W, f: F) -> Result<(E, X, A::Grads)>
where
    A: DiffArgs<W>,
    E: Element,
    F: FnOnce(A) -> Result<(Tensor<E>, X)>,
{
    let session = Session::start()?;
    let mut watched = Vec::new();
    args.watch(wrt, &mut watched)?;
    let (loss, aux) = f(args)?;
    if loss.ndim() != 0 {
        return Err(Error::invalid_argument(
            "value_and_grad",
            "a scalar loss (shape ())",
            format!("a loss of shape {}", repr::fmt_tuple_usize(loss.shape())),
        ));
    }
    let value = loss.item()?;
    let mut grads = session.backward(&loss)?;
    let states = watched
        .into_iter()
        .map(|w| w.into_state(&mut grads))
        .collect::<Result<Vec<_>>>()?;
    let mut states = states.into_iter();
    Ok((value, aux, A::grads(&mut states)))
}

/// The loss `f(args)` and its gradient with respect to the Variables of `args`
/// matching `wrt` (Flax's `nnx.value_and_grad(f, argnums, wrt)(args)`).
///
/// `args` is `&mut model` (gradients: a `State`) or a tuple of `&mut` modules
/// with a tuple of filters (gradients: a tuple of States). The gradient State has
/// exactly the paths and Variable types of `model.state_of(wrt)`, with zeros for
/// Variables the loss does not use, and prints like Flax's. `f` may change other
/// Variables (batch statistics, RNG counters, caches): they keep their new values.
/// Tied (shared) Variables appear once and get the sum of their uses' gradients.
///
/// Errors: `wrt` matching a Variable that does not hold a [`Tensor`] (naming its
/// path), a loss that is not a scalar, and any error of `f`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_tensor::{value_and_grad, Tensor};
///
/// #[derive(Module)]
/// struct Affine { w: Param<Tensor>, b: Param<Tensor>, calls: BatchStat<f32> }
///
/// let mut m = Affine {
///     w: Param::new(Tensor::from(ndarray::arr2(&[[1.0f32], [2.0]]))),
///     b: Param::new(Tensor::from(ndarray::arr1(&[0.5f32]))),
///     calls: BatchStat::new(0.0),
/// };
/// let x = Tensor::from(ndarray::arr2(&[[1.0f32, 1.0]]));
/// let (loss, grads) = value_and_grad(&mut m, Param, |m| {
///     *m.calls += 1.0; // not differentiated: keeps its new value
///     Ok((x.matmul(&m.w)? + &*m.b)?.square().sum())
/// })
/// .unwrap();
/// assert_eq!(loss, 12.25); // (1 + 2 + 0.5)²
/// assert_eq!(*m.calls, 1.0);
/// assert_eq!(
///     grads.to_string(),
///     "State({\n  'b': Param( # 1 (4 B)\n    value=Array([7.], dtype=float32)\n  ),\n  \
///      'w': Param( # 2 (8 B)\n    value=Array([[7.],\n           [7.]], dtype=float32)\n  )\n})"
/// );
/// ```
pub fn value_and_grad<A, W, E, F>(args: A, wrt: W, f: F) -> Result<(E, A::Grads)>
where
    A: DiffArgs<W>,
    E: Element,
    F: FnOnce(A) -> Result<Tensor<E>>,
{
    let (value, (), grads) = differentiate(args, wrt, |a| Ok((f(a)?, ())))?;
    Ok((value, grads))
}

/// [`value_and_grad`] for an `f` returning `(loss, aux)`: gives
/// `((loss, aux), grads)` (Flax's `has_aux=True`). The auxiliary value is not
/// differentiated.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_tensor::{value_and_grad_with_aux, Tensor};
/// let mut w = Param::new(Tensor::scalar(3.0));
/// let ((loss, w_before), grads) =
///     value_and_grad_with_aux(&mut w, Param, |w| Ok((w.square(), w.item()?))).unwrap();
/// assert_eq!((loss, w_before), (9.0, 3.0));
/// assert_eq!(grads.leaf(&[]).unwrap().value.as_any().downcast_ref::<Tensor>(), Some(&Tensor::scalar(6.0)));
/// ```
pub fn value_and_grad_with_aux<A, W, E, X, F>(args: A, wrt: W, f: F) -> Result<((E, X), A::Grads)>
where
    A: DiffArgs<W>,
    E: Element,
    F: FnOnce(A) -> Result<(Tensor<E>, X)>,
{
    let (value, aux, grads) = differentiate(args, wrt, f)?;
    Ok(((value, aux), grads))
}

/// The gradient of `f` alone (Flax's `nnx.grad`); see [`value_and_grad`].
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_tensor::{grad, Tensor};
/// let mut w = Param::new(Tensor::from(ndarray::arr1(&[1.0f32, -2.0])));
/// let g = grad(&mut w, Param, |w| Ok(w.abs().sum())).unwrap();
/// let g = g.leaf(&[]).unwrap().value.as_any().downcast_ref::<Tensor>().unwrap().to_array();
/// assert_eq!(g, ndarray::arr1(&[1.0f32, -1.0]).into_dyn());
/// ```
pub fn grad<A, W, E, F>(args: A, wrt: W, f: F) -> Result<A::Grads>
where
    A: DiffArgs<W>,
    E: Element,
    F: FnOnce(A) -> Result<Tensor<E>>,
{
    value_and_grad(args, wrt, f).map(|(_, g)| g)
}

/// [`grad`] for an `f` returning `(loss, aux)`: gives `(grads, aux)` (Flax's
/// `nnx.grad(f, has_aux=True)`).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_tensor::{grad_with_aux, Tensor};
/// let mut w = Param::new(Tensor::scalar(2.0));
/// let (g, n) = grad_with_aux(&mut w, Param, |w| Ok((w.square(), 7usize))).unwrap();
/// assert_eq!((g.len(), n), (1, 7));
/// ```
pub fn grad_with_aux<A, W, E, X, F>(args: A, wrt: W, f: F) -> Result<(A::Grads, X)>
where
    A: DiffArgs<W>,
    E: Element,
    F: FnOnce(A) -> Result<(Tensor<E>, X)>,
{
    differentiate(args, wrt, f).map(|(_, aux, g)| (g, aux))
}
