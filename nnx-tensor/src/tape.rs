//! The tape: one node per kernel call, recorded on the current thread only while
//! [`value_and_grad`](crate::value_and_grad) runs.
//!
//! A node keeps its op's name, its output shape, the nodes of its inputs and its
//! gradient rule (a vector-Jacobian product closure owning whatever the rule
//! needs, usually `Arc`s of the inputs or output). Backward walks the nodes in
//! reverse, runs each rule once and drops it, so saved values are released as
//! soon as they have been used.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ndarray::{ArrayD, Dimension, IxDyn};
use nnx_core::value::DType;
use nnx_core::{repr, Error, Result};

use crate::element::{Cotangent, Element};
use crate::Tensor;

/// Where a tensor was recorded: which tape (tapes are numbered process-wide, so
/// a tensor from an earlier or another thread's tape is never mistaken for one
/// of the current tape) and which node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeId {
    pub(crate) tape: u64,
    pub(crate) index: usize,
}

/// A gradient rule: given the output's cotangent and which inputs need one,
/// the inputs' cotangents (`None` where not needed). `None` overall when the
/// cotangent is not of the rule's element type.
type Rule = Box<dyn FnOnce(&Cotangent, &[bool]) -> Option<Vec<Option<Cotangent>>>>;

struct Node {
    op: &'static str,
    shape: IxDyn,
    dtype: DType,
    /// The input nodes on this tape; `None` for constants.
    inputs: Vec<Option<usize>>,
    /// `None` for a leaf (a differentiated Variable).
    rule: Option<Rule>,
}

pub(crate) struct Tape {
    id: u64,
    nodes: Vec<Node>,
}

static NEXT_TAPE: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static TAPE: RefCell<Option<Tape>> = const { RefCell::new(None) };
}

/// The id of the tape recording on this thread, if any.
fn active_tape() -> Option<u64> {
    TAPE.with(|t| t.borrow().as_ref().map(|tape| tape.id))
}

/// Records one kernel call. `vjp` is only boxed (and its captures only kept)
/// when some input lives on the active tape; otherwise the output is a plain
/// constant and nothing is recorded.
pub(crate) fn record<E: Element, V>(
    op: &'static str,
    output: Arc<ArrayD<E>>,
    inputs: &[&Tensor<E>],
    vjp: V,
) -> Tensor<E>
where
    V: FnOnce(&ArrayD<E>, &[bool]) -> Vec<Option<ArrayD<E>>> + 'static,
{
    // The common inference case: no input was ever recorded, no thread-local access.
    let constant = |data| Tensor { data, node: None };
    if inputs.iter().all(|t| t.node.is_none()) {
        return constant(output);
    }
    TAPE.with(|cell| {
        let mut guard = cell.borrow_mut();
        let Some(tape) = guard.as_mut() else {
            return constant(output);
        };
        let ids: Vec<Option<usize>> = inputs
            .iter()
            .map(|t| t.node.filter(|n| n.tape == tape.id).map(|n| n.index))
            .collect();
        if ids.iter().all(Option::is_none) {
            return constant(output);
        }
        let index = tape.nodes.len();
        tape.nodes.push(Node {
            op,
            shape: output.raw_dim(),
            dtype: E::DTYPE,
            inputs: ids,
            rule: Some(Box::new(move |g: &Cotangent, needs: &[bool]| {
                let outs = vjp(g.get::<E>()?, needs);
                Some(outs.into_iter().map(|o| o.map(Cotangent::new)).collect())
            })),
        });
        Tensor {
            data: output,
            node: Some(NodeId {
                tape: tape.id,
                index,
            }),
        }
    })
}

/// Whether an op of `inputs` would be recorded: some input lives on the tape
/// recording on this thread. Ops may compute differently (fused) when not.
pub(crate) fn records<E: Element>(inputs: &[&Tensor<E>]) -> bool {
    inputs.iter().any(|t| t.node.is_some())
        && active_tape()
            .is_some_and(|id| inputs.iter().any(|t| t.node.is_some_and(|n| n.tape == id)))
}

/// The tape of one `value_and_grad` call, installed on this thread while it
/// lives and removed when dropped (also on error or unwinding).
pub(crate) struct Session {
    id: u64,
}

impl Session {
    /// Starts recording; `Err` when a gradient is already being taken on this
    /// thread (nested differentiation is not supported: the inner call's ops
    /// would be invisible to the outer tape and its gradients silently wrong).
    pub(crate) fn start() -> Result<Session> {
        TAPE.with(|cell| {
            let mut guard = cell.borrow_mut();
            if guard.is_some() {
                return Err(Error::invalid_argument(
                    "value_and_grad",
                    "no gradient already being taken on this thread",
                    "a call inside another value_and_grad (nested differentiation is not supported)",
                ));
            }
            let id = NEXT_TAPE.fetch_add(1, Ordering::Relaxed);
            *guard = Some(Tape {
                id,
                nodes: Vec::new(),
            });
            Ok(Session { id })
        })
    }

    /// Stops recording and runs backward from `root` (a scalar). Returns the
    /// cotangent of every node still holding one: the leaves, by node index.
    pub(crate) fn backward<E: Element>(self, root: &Tensor<E>) -> Result<Vec<Option<Cotangent>>> {
        let tape = TAPE.with(|cell| cell.borrow_mut().take());
        let Some(mut tape) = tape.filter(|t| t.id == self.id) else {
            return Ok(Vec::new());
        };
        let mut grads: Vec<Option<Cotangent>> = Vec::new();
        grads.resize_with(tape.nodes.len(), || None);
        let Some(root) = root.node.filter(|n| n.tape == tape.id) else {
            return Ok(grads);
        };
        if let Some(g) = grads.get_mut(root.index) {
            *g = Some(Cotangent::new(ArrayD::<E>::ones(root_shape(
                &tape, root.index,
            ))));
        }
        // Nodes after the root cannot reach it; dropping them frees their captures.
        tape.nodes.truncate(root.index + 1);
        while let Some(node) = tape.nodes.pop() {
            let i = tape.nodes.len();
            let Some(rule) = node.rule else { continue }; // a leaf keeps its gradient
            let Some(g) = grads.get_mut(i).and_then(Option::take) else {
                continue; // no gradient reached this node; `rule` is dropped here
            };
            let needs: Vec<bool> = node.inputs.iter().map(Option::is_some).collect();
            let outs = rule(&g, &needs).ok_or_else(|| {
                Error::invalid_argument(
                    format!("the gradient rule of {}", node.op),
                    format!("a {} cotangent", node.dtype),
                    format!("a {} cotangent", g.dtype()),
                )
            })?;
            for (input, out) in node.inputs.iter().zip(outs) {
                let (Some(j), Some(d)) = (*input, out) else {
                    continue;
                };
                let expected = tape.nodes.get(j).map(|n| (n.shape.clone(), n.dtype));
                if let Some((_, dtype)) = expected.as_ref().filter(|(_, t)| *t != d.dtype()) {
                    return Err(Error::invalid_argument(
                        format!("the gradient rule of {}", node.op),
                        format!("a {dtype} cotangent for its input"),
                        format!("a {} cotangent", d.dtype()),
                    ));
                }
                let expected = expected.map(|(s, _)| s);
                if expected.as_ref().map(|s| s.slice()) != Some(d.shape()) {
                    return Err(Error::invalid_argument(
                        format!("the gradient rule of {}", node.op),
                        format!(
                            "a cotangent of shape {} for its input",
                            expected.map_or("?".into(), |s| repr::fmt_tuple_usize(s.slice()))
                        ),
                        format!("shape {}", repr::fmt_tuple_usize(d.shape())),
                    ));
                }
                match grads.get_mut(j) {
                    // Same dtype: checked against the node above.
                    Some(Some(acc)) => {
                        acc.accumulate(&d);
                    }
                    Some(slot) => *slot = Some(d),
                    None => {}
                }
            }
        }
        Ok(grads)
    }
}

/// `value` as a leaf to differentiate on the active tape: same buffer, a fresh
/// node. Without an active tape, a constant.
pub(crate) fn leaf<E: Element>(value: &Tensor<E>) -> Tensor<E> {
    TAPE.with(|cell| {
        let mut guard = cell.borrow_mut();
        let Some(tape) = guard.as_mut() else {
            return value.stop_gradient();
        };
        let index = tape.nodes.len();
        tape.nodes.push(Node {
            op: "leaf",
            shape: value.data.raw_dim(),
            dtype: E::DTYPE,
            inputs: Vec::new(),
            rule: None,
        });
        Tensor {
            data: Arc::clone(&value.data),
            node: Some(NodeId {
                tape: tape.id,
                index,
            }),
        }
    })
}

fn root_shape(tape: &Tape, index: usize) -> IxDyn {
    tape.nodes
        .get(index)
        .map_or_else(|| IxDyn(&[]), |n| n.shape.clone())
}

impl Drop for Session {
    fn drop(&mut self) {
        TAPE.with(|cell| {
            let mut guard = cell.borrow_mut();
            if guard.as_ref().is_some_and(|t| t.id == self.id) {
                *guard = None;
            }
        });
    }
}

/// Whether a gradient is being taken on this thread.
///
/// ```
/// assert!(!nnx_tensor::is_recording());
/// ```
pub fn is_recording() -> bool {
    active_tape().is_some()
}
