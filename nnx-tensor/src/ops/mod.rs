//! Tensor ops. Each op runs an ndarray kernel and records one tape node with its
//! gradient rule through [`Tensor::from_op`], the same entry point that new
//! kernels (convolution, pooling, normalization) and user-defined ops use.

use std::sync::Arc;

use ndarray::{ArrayD, Axis, IxDyn};
use nnx_core::{repr, Error, Result};

use crate::element::Element;
use crate::tape;
use crate::Tensor;

mod alloc;
mod arith;
mod attention;
mod attention_fused;
mod conv;
mod conv_direct;
mod einsum;
mod exp_f32;
mod index;
mod matmul;
mod norm;
mod pool;
mod reduce;
mod shape;
mod unary;

/// Products of at least this many multiply-adds use both cores; below it, the
/// cost of waking a second thread exceeds the gain (a batch-1 dense layer is
/// 262 144).
pub(crate) const PARALLEL_MACS: usize = 1 << 22;

/// The cores this process may run on, asked once (the query is a system call).
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()))
}

pub use alloc::check_alloc;
pub use attention::{
    combine_masks, dot_product_attention, dot_product_attention_weights, make_attention_mask,
    make_causal_mask, AttentionDropout, AttentionOptions,
};
pub use conv::{per_axis, ConvOptions, ConvTransposeOptions, Padding};
pub use einsum::{einsum, EinsumEquation};
pub use index::concat;
pub use norm::GroupNormOptions;

impl<E: Element> Tensor<E> {
    /// The output of a custom op with its gradient rule (`jax.custom_vjp`).
    ///
    /// `output` is what the op's kernel computed from `inputs`. `vjp` receives the
    /// cotangent of `output` and which inputs need a cotangent, and returns one
    /// cotangent per input (of the input's shape; `None` where not needed). It is
    /// only kept when a gradient is being taken through one of `inputs`; otherwise
    /// it is dropped unused and the result is a constant. Every op of this crate
    /// is built this way.
    ///
    /// ```
    /// use nnx_tensor::{value_and_grad, Tensor};
    /// use nnx_core::prelude::*;
    ///
    /// // cube(x) = x³ with its rule 3x²·g.
    /// fn cube(x: &Tensor) -> Tensor {
    ///     let saved = x.clone();
    ///     Tensor::from_op("cube", x.array().mapv(|v| v * v * v), [x], move |g, _needs| {
    ///         [Some(g * &saved.array().mapv(|v| 3.0 * v * v))]
    ///     })
    /// }
    ///
    /// let mut p = Param::new(Tensor::from(ndarray::arr1(&[1.0f32, 2.0])));
    /// let (loss, grads) = value_and_grad(&mut p, Param, |p| Ok(cube(&p.value()).sum())).unwrap();
    /// assert_eq!(loss, 9.0);
    /// let g = grads.leaf(&[]).unwrap().value.as_any().downcast_ref::<Tensor>().unwrap().clone();
    /// assert_eq!(g, Tensor::from(ndarray::arr1(&[3.0f32, 12.0])));
    /// ```
    pub fn from_op<const N: usize, V>(
        op: &'static str,
        output: ArrayD<E>,
        inputs: [&Tensor<E>; N],
        vjp: V,
    ) -> Tensor<E>
    where
        V: FnOnce(&ArrayD<E>, [bool; N]) -> [Option<ArrayD<E>>; N] + 'static,
    {
        record(op, Arc::new(output), inputs, vjp)
    }
}

/// [`Tensor::from_op`] for an output already shared, so that the rule can keep
/// it without a copy.
pub(crate) fn record<E: Element, const N: usize, V>(
    op: &'static str,
    output: Arc<ArrayD<E>>,
    inputs: [&Tensor<E>; N],
    vjp: V,
) -> Tensor<E>
where
    V: FnOnce(&ArrayD<E>, [bool; N]) -> [Option<ArrayD<E>>; N] + 'static,
{
    tape::record(op, output, &inputs, move |g, needs| {
        let needs: [bool; N] = std::array::from_fn(|i| needs.get(i).copied().unwrap_or(false));
        vjp(g, needs).into_iter().collect()
    })
}

/// `Err` for an op given shapes it cannot take: names the op, what it expects
/// and the shapes it got.
pub(crate) fn shape_error(op: &str, expected: impl Into<String>, shapes: &[&[usize]]) -> Error {
    let found: Vec<String> = shapes.iter().map(|s| repr::fmt_tuple_usize(s)).collect();
    Error::invalid_argument(op, expected, format!("shapes {}", found.join(" and ")))
}

/// A possibly negative axis (`-1` is the last) as an index below `ndim`.
pub(crate) fn norm_axis(op: &str, axis: isize, shape: &[usize]) -> Result<usize> {
    let n = shape.len() as isize;
    let a = if axis < 0 { axis + n } else { axis };
    if (0..n).contains(&a) {
        Ok(a as usize)
    } else {
        Err(shape_error(
            op,
            format!("an axis in [-{n}, {n}) (axis {axis})"),
            &[shape],
        ))
    }
}

/// Distinct normalized axes, ascending.
pub(crate) fn norm_axes(op: &str, axes: &[isize], shape: &[usize]) -> Result<Vec<usize>> {
    let mut out = axes
        .iter()
        .map(|&a| norm_axis(op, a, shape))
        .collect::<Result<Vec<_>>>()?;
    out.sort_unstable();
    let n = out.len();
    out.dedup();
    if out.len() != n {
        return Err(shape_error(
            op,
            format!("distinct axes (axes {axes:?})"),
            &[shape],
        ));
    }
    Ok(out)
}

/// NumPy's broadcast of two shapes.
pub(crate) fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| {
        let pad = n - s.len();
        if i < pad {
            1
        } else {
            s[i - pad]
        }
    };
    (0..n)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            _ => Err(shape_error(op, "shapes that broadcast together", &[a, b])),
        })
        .collect()
}

/// Sums a cotangent of a broadcast result back to the shape of the input that
/// was broadcast (the transpose of broadcasting).
pub(crate) fn sum_to_shape<E: Element>(g: ArrayD<E>, shape: &[usize]) -> ArrayD<E> {
    if g.shape() == shape {
        return g;
    }
    let mut g = g;
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape().get(i) != Some(&1) {
            g = g.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    g
}

/// `shape` with the `axes` (ascending) set to 1: the keepdims shape of a reduction.
pub(crate) fn kept_shape(shape: &[usize], axes: &[usize]) -> IxDyn {
    IxDyn(
        &shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
            .collect::<Vec<_>>(),
    )
}

/// A cotangent of a reduced result, broadcast back over the reduced axes.
pub(crate) fn unreduce<E: Element>(g: &ArrayD<E>, shape: &[usize], axes: &[usize]) -> ArrayD<E> {
    // Sizes always agree; a failure would surface as the tape's shape check.
    match g.to_shape(kept_shape(shape, axes)) {
        Ok(kept) => match kept.broadcast(IxDyn(shape)) {
            Some(b) => b.to_owned(),
            None => g.clone(),
        },
        Err(_) => g.clone(),
    }
}
