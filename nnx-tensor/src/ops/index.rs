//! Ops that select elements: concatenation, gathers, `where`, dropout.

use std::borrow::Borrow;
use std::sync::Arc;

use ndarray::{ArrayBase, ArrayD, Axis, Data, Dimension, IxDyn, Zip};
use nnx_core::{repr, Error, Result};

use super::{broadcast_shapes, norm_axis, record, shape_error, sum_to_shape};
use crate::element::{lit, Element};
use crate::{tape, Tensor};

/// `tensors` joined along `axis` (`jnp.concatenate`); all other axes must agree.
///
/// ```
/// use nnx_tensor::{concat, Tensor};
/// let a = Tensor::ones(&[2, 1]);
/// let b = Tensor::zeros(&[2, 2]);
/// assert_eq!(concat(&[a.clone(), b], -1).unwrap().shape(), &[2, 3]);
/// assert!(concat(&[a, Tensor::zeros(&[3, 1])], 1).is_err());
/// ```
pub fn concat<E: Element, T: Borrow<Tensor<E>>>(tensors: &[T], axis: isize) -> Result<Tensor<E>> {
    let inputs: Vec<&Tensor<E>> = tensors.iter().map(Borrow::borrow).collect();
    let shapes: Vec<&[usize]> = inputs.iter().map(|t| t.shape()).collect();
    let Some(first) = inputs.first() else {
        return Err(Error::invalid_argument(
            "concat",
            "at least one tensor",
            "none",
        ));
    };
    let ax = norm_axis("concat", axis, first.shape())?;
    let same_elsewhere = |s: &[usize]| {
        s.len() == first.ndim()
            && s.iter()
                .zip(first.shape())
                .enumerate()
                .all(|(i, (a, b))| i == ax || a == b)
    };
    if !shapes.iter().all(|s| same_elsewhere(s)) {
        return Err(shape_error(
            "concat",
            format!("shapes equal except along axis {axis}"),
            &shapes,
        ));
    }
    let views: Vec<_> = inputs.iter().map(|t| t.data.view()).collect();
    let out = ndarray::concatenate(Axis(ax), &views).map_err(|_| {
        shape_error(
            "concat",
            format!("shapes equal except along axis {axis}"),
            &shapes,
        )
    })?;
    let sizes: Vec<usize> = shapes.iter().map(|s| s[ax]).collect();
    Ok(tape::record(
        "concat",
        Arc::new(out),
        &inputs,
        move |g, needs| {
            let mut start = 0;
            sizes
                .iter()
                .zip(needs)
                .map(|(&n, &need)| {
                    let part =
                        need.then(|| g.slice_axis(Axis(ax), (start..start + n).into()).to_owned());
                    start += n;
                    part
                })
                .collect()
        },
    ))
}

/// An index as a position below `n`; negative indices count from the end, as in
/// NumPy and JAX.
fn resolve<A: Copy + TryInto<i64>>(op: &str, i: A, n: usize) -> Result<usize> {
    let bad = |found: String| Error::invalid_argument(op, format!("indices in [-{n}, {n})"), found);
    let i: i64 = i
        .try_into()
        .map_err(|_| bad("an index out of the i64 range".into()))?;
    let j = if i < 0 { i + n as i64 } else { i };
    if (0..n as i64).contains(&j) {
        Ok(j as usize)
    } else {
        Err(bad(format!("index {i}")))
    }
}

/// `x` split around `axis` as `(outer, n, inner)` sizes.
fn split_at_axis(shape: &[usize], ax: usize) -> (usize, usize, usize) {
    let outer = shape[..ax].iter().product();
    let inner = shape[ax + 1..].iter().product();
    (outer, shape[ax], inner)
}

/// Copies rows of `inner` elements: `out[o, j] = src[o, rows(o, j)]`, or the
/// transpose (scatter-add into `src` shape) for the gradient.
fn gather_rows<E: Element>(
    src: &[E],
    (outer, n, inner): (usize, usize, usize),
    m: usize,
    row: &dyn Fn(usize, usize) -> usize,
) -> Vec<E> {
    let mut out = Vec::with_capacity(outer * m * inner);
    for o in 0..outer {
        for j in 0..m {
            let start = (o * n + row(o, j)) * inner;
            out.extend_from_slice(src.get(start..start + inner).unwrap_or(&[]));
        }
    }
    out
}

fn scatter_rows<E: Element>(
    g: &[E],
    (outer, n, inner): (usize, usize, usize),
    m: usize,
    row: &dyn Fn(usize, usize) -> usize,
) -> Vec<E> {
    let mut out = vec![lit::<E>(0.0); outer * n * inner];
    for o in 0..outer {
        for j in 0..m {
            let from = (o * m + j) * inner;
            let to = (o * n + row(o, j)) * inner;
            if let (Some(src), Some(dst)) = (g.get(from..from + inner), out.get_mut(to..to + inner))
            {
                dst.iter_mut().zip(src).for_each(|(d, s)| *d += *s);
            }
        }
    }
    out
}

/// A row-major copy (or borrow) of `x`'s elements.
/// `x`'s elements in row-major order: borrowed when `x` is in standard layout
/// (an embedding table is), so a lookup does not copy the whole table.
fn row_major<E: Element>(x: &ArrayD<E>) -> std::borrow::Cow<'_, [E]> {
    match x.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(x.as_standard_layout().iter().copied().collect()),
    }
}

impl<E: Element> Tensor<E> {
    /// The slices at `indices` along `axis` (`jnp.take(x, indices, axis)`): the
    /// result has shape `x.shape[:axis] + indices.shape + x.shape[axis+1:]`.
    /// An embedding lookup is `table.take(&ids, 0)`. Out-of-range indices are an
    /// `Err` (JAX fills them with NaN).
    ///
    /// ```
    /// let table = nnx_tensor::Tensor::from(ndarray::arr2(&[[0.0f32, 1.0], [2.0, 3.0], [4.0, 5.0]]));
    /// let rows = table.take(&ndarray::arr1(&[2i64, 0, -1]), 0).unwrap();
    /// assert_eq!(rows.to_array(), ndarray::arr2(&[[4.0f32, 5.0], [0.0, 1.0], [4.0, 5.0]]).into_dyn());
    /// assert!(table.take(&ndarray::arr1(&[3i64]), 0).is_err());
    /// ```
    pub fn take<A, S, D>(&self, indices: &ArrayBase<S, D>, axis: isize) -> Result<Tensor<E>>
    where
        A: Copy + TryInto<i64>,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let ax = norm_axis("take", axis, self.shape())?;
        let dims = split_at_axis(self.shape(), ax);
        let rows = indices
            .iter()
            .map(|&i| resolve("take", i, dims.1))
            .collect::<Result<Vec<usize>>>()?;
        let mut shape = self.shape()[..ax].to_vec();
        shape.extend_from_slice(indices.shape());
        shape.extend_from_slice(&self.shape()[ax + 1..]);
        let m = rows.len();
        let data = gather_rows(&row_major(&self.data), dims, m, &|_, j| rows[j]);
        let out = ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|_| {
            shape_error(
                "take",
                "consistent shapes",
                &[self.shape(), indices.shape()],
            )
        })?;
        let in_shape = self.shape().to_vec();
        Ok(record("take", out.into(), [self], move |g, _| {
            let grad = scatter_rows(&row_major(g), dims, m, &|_, j| rows[j]);
            [ArrayD::from_shape_vec(IxDyn(&in_shape), grad).ok()]
        }))
    }

    /// `x[..., indices[...], ...]` element by element along `axis`
    /// (`jnp.take_along_axis`): `indices` has `x`'s shape except along `axis`,
    /// and the result has `indices`' shape. Picking each row's label logit is
    /// `logits.take_along_axis(&labels.insert_axis(Axis(1)), 1)`.
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
    /// let picked = x.take_along_axis(&ndarray::arr2(&[[1i64], [0]]), 1).unwrap();
    /// assert_eq!(picked.to_array(), ndarray::arr2(&[[2.0f32], [3.0]]).into_dyn());
    /// ```
    pub fn take_along_axis<A, S, D>(
        &self,
        indices: &ArrayBase<S, D>,
        axis: isize,
    ) -> Result<Tensor<E>>
    where
        A: Copy + TryInto<i64>,
        S: Data<Elem = A>,
        D: Dimension,
    {
        let ax = norm_axis("take_along_axis", axis, self.shape())?;
        let fits = indices.ndim() == self.ndim()
            && indices
                .shape()
                .iter()
                .zip(self.shape())
                .enumerate()
                .all(|(i, (a, b))| i == ax || a == b);
        if !fits {
            return Err(shape_error(
                "take_along_axis",
                format!("indices with the array's shape except along axis {axis}"),
                &[self.shape(), indices.shape()],
            ));
        }
        let dims = split_at_axis(self.shape(), ax);
        let (_, n, inner) = dims;
        let m = indices.shape()[ax];
        // One index per output element, row-major over (outer, m, inner).
        let flat = indices
            .as_standard_layout()
            .iter()
            .map(|&i| resolve("take_along_axis", i, n))
            .collect::<Result<Vec<usize>>>()?;
        let x = row_major(&self.data);
        let data: Vec<E> = flat
            .iter()
            .enumerate()
            .map(|(k, &r)| {
                let (o, i) = (k / (m * inner), k % inner);
                x.get((o * n + r) * inner + i).copied().unwrap_or(E::nan())
            })
            .collect();
        let out = ArrayD::from_shape_vec(IxDyn(indices.shape()), data).map_err(|_| {
            shape_error(
                "take_along_axis",
                "consistent shapes",
                &[self.shape(), indices.shape()],
            )
        })?;
        let in_shape = self.shape().to_vec();
        Ok(record(
            "take_along_axis",
            out.into(),
            [self],
            move |g, _| {
                let mut grad = vec![lit::<E>(0.0); in_shape.iter().product()];
                for (k, (&r, gv)) in flat.iter().zip(g.as_standard_layout().iter()).enumerate() {
                    let (o, i) = (k / (m * inner), k % inner);
                    if let Some(slot) = grad.get_mut((o * n + r) * inner + i) {
                        *slot += *gv;
                    }
                }
                [ArrayD::from_shape_vec(IxDyn(&in_shape), grad).ok()]
            },
        ))
    }

    /// `on_true` where `mask` holds, else `on_false`, all three broadcast together
    /// (`jnp.where(mask, on_true, on_false)`). Masking attention logits is
    /// `Tensor::where_cond(&mask, &logits, &Tensor::scalar(f32::MIN))`.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let x = Tensor::from(ndarray::arr1(&[1.0f32, 2.0]));
    /// let y = Tensor::where_cond(&ndarray::arr1(&[true, false]), &x, &Tensor::scalar(0.0)).unwrap();
    /// assert_eq!(y.to_array(), ndarray::arr1(&[1.0f32, 0.0]).into_dyn());
    /// ```
    pub fn where_cond<S, D>(
        mask: &ArrayBase<S, D>,
        on_true: &Tensor<E>,
        on_false: &Tensor<E>,
    ) -> Result<Tensor<E>>
    where
        S: Data<Elem = bool>,
        D: Dimension,
    {
        let values = broadcast_shapes("where", on_true.shape(), on_false.shape())?;
        let shape = broadcast_shapes("where", mask.shape(), &values)?;
        let mask = broadcast_mask("where", mask, &shape)?;
        let (t, f) = match (
            on_true.data.broadcast(IxDyn(&shape)),
            on_false.data.broadcast(IxDyn(&shape)),
        ) {
            (Some(t), Some(f)) => (t, f),
            _ => {
                return Err(shape_error(
                    "where",
                    "shapes that broadcast together",
                    &[on_true.shape(), on_false.shape()],
                ))
            }
        };
        let out = Zip::from(&mask)
            .and(&t)
            .and(&f)
            .map_collect(|&m, &t, &f| if m { t } else { f });
        let (ts, fs) = (on_true.shape().to_vec(), on_false.shape().to_vec());
        Ok(record(
            "where",
            out.into(),
            [on_true, on_false],
            move |g, [nt, nf]| {
                let pick = |keep: bool| {
                    Zip::from(g)
                        .and(&mask)
                        .map_collect(|&g, &m| if m == keep { g } else { lit::<E>(0.0) })
                };
                [
                    nt.then(|| sum_to_shape(pick(true), &ts)),
                    nf.then(|| sum_to_shape(pick(false), &fs)),
                ]
            },
        ))
    }

    /// Inverted dropout with a given keep-`mask` (Flax's `Dropout`): kept elements
    /// are scaled by `1 / (1 - rate)`, dropped ones are 0; `rate == 1` gives zeros.
    /// The mask broadcasts to `self`'s shape (`broadcast_dims` masks).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr1(&[1.0f32, 2.0]));
    /// let y = x.dropout(&ndarray::arr1(&[true, false]), 0.5).unwrap();
    /// assert_eq!(y.to_array(), ndarray::arr1(&[2.0f32, 0.0]).into_dyn());
    /// assert!(x.dropout(&ndarray::arr1(&[true, false]), 1.5).is_err());
    /// ```
    pub fn dropout<S, D>(&self, mask: &ArrayBase<S, D>, rate: E) -> Result<Tensor<E>>
    where
        S: Data<Elem = bool>,
        D: Dimension,
    {
        if !(E::zero()..=E::one()).contains(&rate) {
            return Err(Error::invalid_argument(
                "dropout",
                "a rate in [0, 1]",
                rate.to_string(),
            ));
        }
        let mask = broadcast_mask("dropout", mask, self.shape())?;
        let keep = lit::<E>(1.0) - rate;
        let scaled = move |x: E, m: bool| {
            if m && keep > lit::<E>(0.0) {
                x / keep
            } else {
                lit::<E>(0.0)
            }
        };
        let out = Zip::from(&*self.data)
            .and(&mask)
            .map_collect(|&x, &m| scaled(x, m));
        Ok(record("dropout", out.into(), [self], move |g, _| {
            [Some(
                Zip::from(g).and(&mask).map_collect(|&g, &m| scaled(g, m)),
            )]
        }))
    }
}

/// `mask` broadcast to `shape`, owned (the rule keeps it).
fn broadcast_mask<S, D>(op: &str, mask: &ArrayBase<S, D>, shape: &[usize]) -> Result<ArrayD<bool>>
where
    S: Data<Elem = bool>,
    D: Dimension,
{
    mask.view()
        .into_dyn()
        .broadcast(IxDyn(shape))
        .map(|m| m.to_owned())
        .ok_or_else(|| {
            Error::invalid_argument(
                op,
                format!("a mask that broadcasts to {}", repr::fmt_tuple_usize(shape)),
                format!("a mask of shape {}", repr::fmt_tuple_usize(mask.shape())),
            )
        })
}
