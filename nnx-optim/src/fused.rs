//! The fused adam / adamw step of [`Optimizer`](crate::Optimizer).
//!
//! optax's `adamw` is a chain of `scale_by_adam`, `add_decayed_weights`,
//! `scale_by_learning_rate` and then `apply_updates`: four passes over every
//! parameter, each allocating a fresh array. Here each element goes through
//! the same arithmetic in the same order (the transformations' own
//! [`AdamStep`] and scalars) in one pass: `mu` and `nu` are updated in place,
//! the gradient is only read, and the new parameter is written once, the
//! elements of a large parameter split across the cores. The results are
//! bit-identical to the chain's.

use std::sync::OnceLock;

use ndarray::{ArrayD, ArrayViewD, Zip};
use nnx_core::value::DType;
use nnx_core::{Error, Key, Result};
use nnx_tensor::{Element, Tensor};

use crate::alias::Adam;
use crate::float::{view_of, FloatTensor, OptFloat};
use crate::schedule::ScalarOrSchedule;
use crate::state::TransformState;
use crate::transform::{
    inc, scale_by_adam, scale_by_learning_rate, value_at, AdamStep, Leaf, ScaleByAdam,
};

/// Elements per parameter below which one core does the whole pass.
const PARALLEL_ELEMENTS: usize = 1 << 15;

fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The per-element constants of one step in `E`.
#[derive(Clone, Copy)]
struct Consts<E> {
    adam: AdamStep<E>,
    /// `None` when the chain has no weight decay (or the constant 0, which
    /// `add_decayed_weights` skips).
    wd: Option<E>,
    lr: E,
}

/// The counts the chain's transformations hold, read from its state.
struct Counts {
    /// scale_by_adam's count after this step.
    adam: i32,
    /// add_decayed_weights' count (a scheduled weight decay), before the step.
    wd: Option<i32>,
    /// scale_by_learning_rate's count (a scheduled rate), before the step.
    lr: Option<i32>,
}

fn consts<E: OptFloat>(tx: &Adam, adam: &ScaleByAdam, c: &Counts) -> Result<Consts<E>> {
    let wd = match &tx.weight_decay {
        None => None,
        Some(ScalarOrSchedule::Scalar(w)) if *w == 0.0 => None,
        Some(w) => Some(value_at::<E>(w, c.wd.unwrap_or(0), "weight_decay")?),
    };
    let lr = scale_by_learning_rate(tx.learning_rate.clone()).step::<E>(c.lr.unwrap_or(0))?;
    Ok(Consts {
        adam: AdamStep::new(adam, c.adam),
        wd,
        lr,
    })
}

/// The count of a `{count}` node.
fn count_of(s: &TransformState) -> Option<i32> {
    s.field("count", "").and_then(|c| c.count("")).ok()
}

/// The counts of `state` if it has the layout `tx`'s chain gives it and its
/// per-parameter arrays match `params` (dtype and shape); `None` otherwise.
fn counts(tx: &Adam, state: &TransformState, params: &[Leaf<'_>]) -> Option<Counts> {
    let TransformState::Node(items) = state else {
        return None;
    };
    let wd_state = match (&tx.weight_decay, items.len()) {
        (None, 2) => None,
        (Some(_), 3) => Some(&items[1].1),
        _ => return None,
    };
    let adam = &items[0].1;
    for name in ["mu", "nu"] {
        let arrays = adam
            .field(name, "")
            .ok()?
            .per_param(params.len(), "")
            .ok()?;
        if arrays
            .iter()
            .zip(params)
            .any(|(a, p)| a.dtype() != p.dtype() || a.shape() != p.shape())
        {
            return None;
        }
    }
    let scheduled = |x: &ScalarOrSchedule, s: &TransformState| match x {
        ScalarOrSchedule::Schedule(_) => count_of(s).map(Some),
        ScalarOrSchedule::Scalar(_) => Some(None),
    };
    Some(Counts {
        adam: inc(count_of(adam)?),
        wd: match (&tx.weight_decay, wd_state) {
            (Some(w), Some(s)) => scheduled(w, s)?,
            _ => None,
        },
        lr: scheduled(&tx.learning_rate, &items.last()?.1)?,
    })
}

/// Sets the count of a `{count}` node to `c`.
fn set_count(s: &mut TransformState, c: i32) {
    if let TransformState::Node(items) = s {
        for (k, v) in items {
            if *k == Key::from("count") {
                *v = TransformState::Count(c);
            }
        }
    }
}

/// One step of `tx` (adam or adamw without a mask) over `params` with
/// gradients `grads` (checked to match the parameters): updates `state` in
/// place and returns the new parameters. `Ok(None)` (nothing changed) when
/// the state does not have the chain's layout, for the general path to
/// report; an error (nothing changed) for a NaN rate or weight decay.
pub(crate) fn adam_step(
    tx: &Adam,
    state: &mut TransformState,
    params: &[Leaf<'_>],
    grads: &[FloatTensor],
) -> Result<Option<Vec<FloatTensor>>> {
    let Some(c) = counts(tx, state, params) else {
        return Ok(None);
    };
    let adam = scale_by_adam(tx.b1, tx.b2, tx.eps, tx.eps_root, tx.nesterov);
    let has = |d: DType| params.iter().any(|p| p.dtype() == d);
    let c32 = has(DType::F32)
        .then(|| consts::<f32>(tx, &adam, &c))
        .transpose()?;
    let c64 = has(DType::F64)
        .then(|| consts::<f64>(tx, &adam, &c))
        .transpose()?;
    // Everything is checked: from here on the step cannot fail.
    let TransformState::Node(items) = state else {
        return Ok(None);
    };
    let n_items = items.len();
    let (mut mu, mut nu) = (None, None);
    if let TransformState::Node(adam_items) = &mut items[0].1 {
        for (k, v) in adam_items.iter_mut() {
            if let TransformState::PerParam(v) = v {
                if *k == Key::from("mu") {
                    mu = Some(v);
                } else if *k == Key::from("nu") {
                    nu = Some(v);
                }
            }
        }
    }
    let (Some(mu), Some(nu)) = (mu, nu) else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(params.len());
    for (((g, m), v), p) in grads
        .iter()
        .zip(mu.iter_mut())
        .zip(nu.iter_mut())
        .zip(params)
    {
        out.push(match (g, m, v, c32, c64) {
            (FloatTensor::F32(g), FloatTensor::F32(m), FloatTensor::F32(v), Some(c), _) => {
                leaf_step(&c, g, m, v, p)?
            }
            (FloatTensor::F64(g), FloatTensor::F64(m), FloatTensor::F64(v), _, Some(c)) => {
                leaf_step(&c, g, m, v, p)?
            }
            _ => {
                return Err(Error::invalid_argument(
                    "Optimizer::update",
                    "optimizer state in the parameters' dtypes",
                    nnx_core::path_string(p.path),
                ))
            }
        });
    }
    set_count(&mut items[0].1, c.adam);
    if let Some(w) = c.wd {
        set_count(&mut items[1].1, inc(w));
    }
    if let Some(l) = c.lr {
        set_count(&mut items[n_items - 1].1, inc(l));
    }
    Ok(Some(out))
}

/// One parameter's step: `mu`, `nu` in place, the new parameter returned.
fn leaf_step<E: OptFloat>(
    c: &Consts<E>,
    g: &Tensor<E>,
    m: &mut Tensor<E>,
    v: &mut Tensor<E>,
    p: &Leaf<'_>,
) -> Result<FloatTensor> {
    let p = view_of::<E>(&p.value)
        .ok_or_else(|| crate::float::dtype_error::<E>(p.path, "Optimizer::update", p.dtype()))?;
    let mut out = ArrayD::<E>::zeros(p.raw_dim());
    let (m, v) = (m.array_mut(), v.array_mut());
    match (
        g.array().as_slice(),
        m.as_slice_mut(),
        v.as_slice_mut(),
        p.as_slice(),
        out.as_slice_mut(),
    ) {
        (Some(g), Some(m), Some(v), Some(p), Some(o)) => parallel(c, g, m, v, p, o),
        _ => zip_step(c, g.view(), m, v, p, &mut out),
    }
    Ok(E::wrap(Tensor::from_array(out)))
}

/// The step over arrays of any layout.
fn zip_step<E: Element>(
    c: &Consts<E>,
    g: ArrayViewD<'_, E>,
    m: &mut ArrayD<E>,
    v: &mut ArrayD<E>,
    p: ArrayViewD<'_, E>,
    out: &mut ArrayD<E>,
) {
    Zip::from(out)
        .and(m)
        .and(v)
        .and(&g)
        .and(&p)
        .for_each(|o, m, v, &g, &p| *o = element(c, g, m, v, p));
}

/// The step over contiguous slices, split across the cores when large.
fn parallel<E: Element>(c: &Consts<E>, g: &[E], m: &mut [E], v: &mut [E], p: &[E], o: &mut [E]) {
    let n = o.len();
    let threads = (n / PARALLEL_ELEMENTS).clamp(1, cores());
    if threads == 1 {
        return slices(c, g, m, v, p, o);
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let mut parts = g
            .chunks(chunk)
            .zip(m.chunks_mut(chunk))
            .zip(v.chunks_mut(chunk))
            .zip(p.chunks(chunk))
            .zip(o.chunks_mut(chunk));
        let first = parts.next();
        for ((((g, m), v), p), o) in parts {
            s.spawn(move || slices(c, g, m, v, p, o));
        }
        if let Some(((((g, m), v), p), o)) = first {
            slices(c, g, m, v, p, o);
        }
    });
}

fn slices<E: Element>(c: &Consts<E>, g: &[E], m: &mut [E], v: &mut [E], p: &[E], o: &mut [E]) {
    for ((((o, m), v), &g), &p) in o.iter_mut().zip(m).zip(v).zip(g).zip(p) {
        *o = element(c, g, m, v, p);
    }
}

/// One element, in the chain's order: scale_by_adam (new moments, then the
/// direction), add_decayed_weights (`u + wd * p`), scale_by_learning_rate
/// (`lr * u`), apply_updates (`u + p`).
#[inline(always)]
fn element<E: Element>(c: &Consts<E>, g: E, m: &mut E, v: &mut E, p: E) -> E {
    *m = c.adam.mu(g, *m);
    *v = c.adam.nu(g, *v);
    let mut u = c.adam.direction(g, *m, *v);
    if let Some(wd) = c.wd {
        u += wd * p;
    }
    u = c.lr * u;
    u + p
}
