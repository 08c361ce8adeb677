//! Two-operand einsum (`jnp.einsum` of two arrays): the contraction behind
//! Flax's `LinearGeneral`, `Einsum` and `Embed.attend`.
//!
//! A contraction sums the labels private to one operand, then runs one batched
//! GEMM through the crate's matmul kernel on the operands viewed as
//! `(batch, free, contracted)` and `(batch, contracted, free)` (a copy only
//! when a permuted view cannot be flattened), then permutes to the output
//! labels. Its gradient with respect to each operand is again such a
//! contraction (of the cotangent with the other operand), broadcast back over
//! the labels the forward summed out.

use ndarray::{ArrayD, ArrayViewD, Axis, CowArray, IxDyn};
use nnx_core::{Error, Result};

use super::matmul::matmul_nd;
use super::{record, shape_error};
use crate::element::Element;
use crate::Tensor;

/// A checked two-operand einsum equation such as `"btd,ndh->btnh"`: explicit
/// (one `->`), two operands, terms of ASCII letters with at most one `...`
/// each, no label twice in a term, and output labels that appear in an
/// operand. Spaces are removed.
///
/// ```
/// use nnx_tensor::{EinsumEquation, Tensor};
/// let eq = EinsumEquation::parse("ab, bc -> ac")?;
/// assert_eq!(eq.as_str(), "ab,bc->ac");
/// assert_eq!(eq.rhs_rank(), (2, false));
/// let y = eq.apply(&Tensor::ones(&[2, 3]), &Tensor::ones(&[3, 4]))?;
/// assert_eq!(y, Tensor::ones(&[2, 4]) * 3.0);
/// assert!(EinsumEquation::parse("ab,bc").is_err());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EinsumEquation {
    text: String,
}

/// The terms of an equation: `(lhs, rhs, out)`.
fn terms(eq: &str) -> (&str, &str, &str) {
    let (ins, out) = eq.split_once("->").unwrap_or((eq, ""));
    let (l, r) = ins.split_once(',').unwrap_or((ins, ""));
    (l, r, out)
}

impl EinsumEquation {
    /// Checks `equation` (see [`EinsumEquation`]); `Err` naming what is wrong.
    ///
    /// ```
    /// use nnx_tensor::EinsumEquation;
    /// assert!(EinsumEquation::parse("...a,ab->...b").is_ok());
    /// let err = EinsumEquation::parse("aa,ab->b").unwrap_err().to_string();
    /// assert!(err.contains("each label at most once per term"), "{err}");
    /// ```
    pub fn parse(equation: &str) -> Result<EinsumEquation> {
        let eq: String = equation.chars().filter(|c| *c != ' ').collect();
        let bad = |expected: &str| Err(Error::invalid_argument("einsum_str", expected, eq.clone()));
        let Some((ins, out)) = eq.split_once("->") else {
            return bad("an explicit equation with \"->\"");
        };
        let Some((lhs, rhs)) = ins.split_once(',') else {
            return bad("exactly two operands (one comma before \"->\")");
        };
        if rhs.contains(',') || out.contains(',') {
            return bad("exactly two operands (one comma before \"->\")");
        }
        for term in [lhs, rhs, out] {
            let labels = term.replacen("...", "", 1);
            if !labels.chars().all(|c| c.is_ascii_alphabetic()) {
                return bad("one \"->\", and terms of letters with at most one \"...\" each");
            }
            if labels.char_indices().any(|(i, c)| labels[..i].contains(c)) {
                return bad("each label at most once per term (no traces or diagonals)");
            }
        }
        let inputs = lhs.replacen("...", "", 1) + &rhs.replacen("...", "", 1);
        if out
            .replacen("...", "", 1)
            .chars()
            .any(|c| !inputs.contains(c))
        {
            return bad("output labels that appear in an operand");
        }
        if out.contains("...") && !ins.contains("...") {
            return bad("\"...\" in the output only when an operand has it");
        }
        Ok(EinsumEquation { text: eq })
    }

    /// The equation, spaces removed.
    ///
    /// ```
    /// assert_eq!(nnx_tensor::EinsumEquation::parse("a b,b->a").unwrap().as_str(), "ab,b->a");
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The number of axes the second operand's term names, and whether it has
    /// `...` (then the operand may have more axes). Layers check their
    /// kernel's shape with it.
    ///
    /// ```
    /// let eq = nnx_tensor::EinsumEquation::parse("...a,...ab->...b").unwrap();
    /// assert_eq!(eq.rhs_rank(), (2, true));
    /// ```
    pub fn rhs_rank(&self) -> (usize, bool) {
        let term = terms(&self.text).1;
        let labels = term.replacen("...", "", 1);
        (labels.chars().count(), labels.len() != term.len())
    }

    /// For operands of ranks `lhs_ndim` and `rhs_ndim`, the axis of the second
    /// operand each output axis comes from (`None` for axes of the first alone).
    /// Flax's `Einsum` shapes its bias with it.
    ///
    /// # Errors
    /// When a rank does not fit its term.
    ///
    /// ```
    /// let eq = nnx_tensor::EinsumEquation::parse("nta,hab->nthb").unwrap();
    /// assert_eq!(eq.rhs_axes_of_output(3, 3).unwrap(), [None, None, Some(0), Some(2)]);
    /// ```
    pub fn rhs_axes_of_output(
        &self,
        lhs_ndim: usize,
        rhs_ndim: usize,
    ) -> Result<Vec<Option<usize>>> {
        let spec = Spec::parse(&self.text, lhs_ndim, rhs_ndim)?;
        Ok(spec
            .out
            .iter()
            .map(|c| spec.rhs.iter().position(|r| r == c))
            .collect())
    }

    /// `einsum(self, lhs, rhs)`, differentiable in both operands.
    ///
    /// # Errors
    /// When an operand's rank does not fit its term or a label has two sizes;
    /// the message names the operand (`lhs` / `rhs`) and the shapes.
    ///
    /// ```
    /// use nnx_tensor::{EinsumEquation, Tensor};
    /// let eq = EinsumEquation::parse("nta,hab->nthb")?;
    /// let y = eq.apply(&Tensor::ones(&[4, 5, 2]), &Tensor::ones(&[8, 2, 3]))?;
    /// assert_eq!(y.shape(), &[4, 5, 8, 3]);
    /// assert!(eq.apply(&Tensor::ones(&[4, 5, 3]), &Tensor::ones(&[8, 2, 3])).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply<E: Element>(&self, lhs: &Tensor<E>, rhs: &Tensor<E>) -> Result<Tensor<E>> {
        let spec = Spec::parse(&self.text, lhs.ndim(), rhs.ndim())?;
        let out = contract(
            lhs.data.view(),
            &spec.lhs,
            rhs.data.view(),
            &spec.rhs,
            &spec.out,
        )
        .map_err(|e| self.shape_mismatch(e, lhs.shape(), rhs.shape()))?;
        let (a, b) = (lhs.data.clone(), rhs.data.clone());
        Ok(record(
            "einsum",
            out.into(),
            [lhs, rhs],
            move |g, [na, nb]| {
                let g = g.view();
                [
                    na.then(|| {
                        transpose_grad(
                            g.view(),
                            &spec.out,
                            b.view(),
                            &spec.rhs,
                            &spec.lhs,
                            a.shape(),
                        )
                    })
                    .flatten(),
                    nb.then(|| {
                        transpose_grad(
                            g.view(),
                            &spec.out,
                            a.view(),
                            &spec.lhs,
                            &spec.rhs,
                            b.shape(),
                        )
                    })
                    .flatten(),
                ]
            },
        ))
    }

    fn shape_mismatch(&self, e: Mismatch, lhs: &[usize], rhs: &[usize]) -> Error {
        let Mismatch(c, a, b) = e;
        shape_error(
            "einsum",
            format!(
                "operands fitting {:?} (label {c:?} is {a} in lhs and {b} in rhs)",
                self.text
            ),
            &[lhs, rhs],
        )
    }
}

/// `einsum(equation, lhs, rhs)` (`jnp.einsum` with two operands), differentiable
/// in both; see [`EinsumEquation`] for the equations accepted.
///
/// ```
/// use nnx_tensor::{einsum, Tensor};
/// let x = Tensor::from(ndarray::arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
/// let w = Tensor::from(ndarray::arr2(&[[1.0f32, 0.0, 2.0], [0.0, 1.0, 1.0]]));
/// assert_eq!(
///     einsum("ab,bc->ca", &x, &w)?.to_array(),
///     ndarray::arr2(&[[1.0f32, 3.0], [2.0, 4.0], [4.0, 10.0]]).into_dyn()
/// );
/// assert_eq!(einsum("ab,bc->c", &x, &w)?.to_array(), ndarray::arr1(&[4.0f32, 6.0, 14.0]).into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn einsum<E: Element>(equation: &str, lhs: &Tensor<E>, rhs: &Tensor<E>) -> Result<Tensor<E>> {
    EinsumEquation::parse(equation)?.apply(lhs, rhs)
}

/// A label with two sizes: label, size in the first operand, size in the second.
struct Mismatch(char, usize, usize);

/// An equation with `...` expanded into private labels, for given operand ranks.
struct Spec {
    lhs: Vec<char>,
    rhs: Vec<char>,
    out: Vec<char>,
}

/// Labels standing for ellipsis axes, right-aligned across operands as numpy does.
fn ellipsis_label(i: usize) -> char {
    char::from_u32(0xE000 + i as u32).unwrap_or('\u{E000}')
}

fn expand(term: &str, ndim: Option<usize>, n_ell: usize) -> Result<Vec<char>> {
    match term.find("...") {
        None => Ok(term.chars().collect()),
        Some(pos) => {
            let (pre, post) = (&term[..pos], &term[pos + 3..]);
            let named = pre.chars().count() + post.chars().count();
            let k = match ndim {
                Some(n) => n.checked_sub(named).ok_or_else(|| {
                    Error::invalid_argument(
                        format!("einsum operand {term:?}"),
                        format!("at least {named} axes"),
                        format!("{n} axes"),
                    )
                })?,
                None => n_ell,
            };
            let mut out: Vec<char> = pre.chars().collect();
            out.extend((n_ell - k.min(n_ell)..n_ell).map(ellipsis_label));
            out.extend(post.chars());
            Ok(out)
        }
    }
}

impl Spec {
    /// `eq` was checked by [`EinsumEquation::parse`].
    fn parse(eq: &str, lhs_ndim: usize, rhs_ndim: usize) -> Result<Spec> {
        let (l, r, out) = terms(eq);
        let ell = |t: &str, n: usize| {
            if t.contains("...") {
                n.saturating_sub(t.chars().count() - 3)
            } else {
                0
            }
        };
        let n_ell = ell(l, lhs_ndim).max(ell(r, rhs_ndim));
        let spec = Spec {
            lhs: expand(l, Some(lhs_ndim), n_ell)?,
            rhs: expand(r, Some(rhs_ndim), n_ell)?,
            out: expand(out, None, n_ell)?,
        };
        for (term, labels, ndim) in [(l, &spec.lhs, lhs_ndim), (r, &spec.rhs, rhs_ndim)] {
            if labels.len() != ndim {
                return Err(Error::invalid_argument(
                    format!("einsum operand {term:?}"),
                    format!("{} axes", labels.len()),
                    format!("{ndim} axes"),
                ));
            }
        }
        Ok(spec)
    }
}

fn pos(labels: &[char], c: char) -> usize {
    labels.iter().position(|&l| l == c).unwrap_or(0)
}

/// `a` with the axes whose labels appear neither in `other` nor in `out`
/// summed out (borrowed when there are none), and the labels kept.
fn sum_private<'a, E: Element>(
    a: ArrayViewD<'a, E>,
    labels: &[char],
    other: &[char],
    out: &[char],
) -> (CowArray<'a, E, IxDyn>, Vec<char>) {
    let mut a = CowArray::from(a);
    let mut kept = labels.to_vec();
    for i in (0..labels.len()).rev() {
        if !other.contains(&labels[i]) && !out.contains(&labels[i]) {
            a = CowArray::from(a.sum_axis(Axis(i)));
            kept.remove(i);
        }
    }
    (a, kept)
}

/// `a` viewed as `dims` (row-major): itself when it already has that shape
/// (any strides: the GEMM takes strided operands, e.g. a transposed table), a
/// view when it is contiguous, otherwise a copy (made with `assign`, which
/// walks whole rows, not one element at a time).
fn as_matrices<'a, E: Element>(
    a: &'a ArrayViewD<'_, E>,
    dims: &[usize],
) -> std::result::Result<CowArray<'a, E, IxDyn>, Mismatch> {
    // Sizes always agree (they are products of the same axes).
    let bad = |_| Mismatch('?', a.len(), dims.iter().product());
    if a.shape() == dims {
        return Ok(CowArray::from(a.view()));
    }
    if let Ok(v) = a.view().into_shape_with_order(IxDyn(dims)) {
        return Ok(CowArray::from(v));
    }
    let mut owned = ArrayD::zeros(a.raw_dim());
    owned.assign(a);
    owned
        .into_shape_with_order(IxDyn(dims))
        .map(CowArray::from)
        .map_err(bad)
}

/// `einsum(xl, kl -> out)` on arrays whose labels are already expanded.
fn contract<E: Element>(
    x: ArrayViewD<'_, E>,
    xl: &[char],
    k: ArrayViewD<'_, E>,
    kl: &[char],
    out: &[char],
) -> std::result::Result<ArrayD<E>, Mismatch> {
    let (x, lhs) = sum_private(x, xl, kl, out);
    let (k, rhs) = sum_private(k, kl, xl, out);
    let (x, k) = (x.view(), k.view());
    let size = |c: char| -> std::result::Result<usize, Mismatch> {
        let a = lhs.iter().position(|&l| l == c).map(|i| x.shape()[i]);
        let b = rhs.iter().position(|&r| r == c).map(|i| k.shape()[i]);
        match (a, b) {
            (Some(a), Some(b)) if a != b => Err(Mismatch(c, a, b)),
            (Some(a), _) | (None, Some(a)) => Ok(a),
            (None, None) => Ok(1),
        }
    };
    let batch: Vec<char> = lhs
        .iter()
        .copied()
        .filter(|c| rhs.contains(c) && out.contains(c))
        .collect();
    let contracted: Vec<char> = lhs
        .iter()
        .copied()
        .filter(|c| rhs.contains(c) && !out.contains(c))
        .collect();
    let lfree: Vec<char> = lhs.iter().copied().filter(|c| !rhs.contains(c)).collect();
    let rfree: Vec<char> = rhs.iter().copied().filter(|c| !lhs.contains(c)).collect();
    let prod = |cs: &[char]| cs.iter().try_fold(1, |p, &c| Ok(p * size(c)?));
    let (nb, nc, nl, nr) = (
        prod(&batch)?,
        prod(&contracted)?,
        prod(&lfree)?,
        prod(&rfree)?,
    );
    let xperm: Vec<usize> = batch
        .iter()
        .chain(&lfree)
        .chain(&contracted)
        .map(|&c| pos(&lhs, c))
        .collect();
    let kperm: Vec<usize> = batch
        .iter()
        .chain(&contracted)
        .chain(&rfree)
        .map(|&c| pos(&rhs, c))
        .collect();
    let (xp, kp) = (
        x.view().permuted_axes(IxDyn(&xperm)),
        k.view().permuted_axes(IxDyn(&kperm)),
    );
    // Without batch labels one GEMM on the matrices.
    let (xd, kd, bd): (Vec<usize>, Vec<usize>, Vec<usize>) = if batch.is_empty() {
        (vec![nl, nc], vec![nc, nr], vec![])
    } else {
        (vec![nb, nl, nc], vec![nb, nc, nr], vec![nb])
    };
    let x3 = as_matrices(&xp, &xd)?;
    let k3 = as_matrices(&kp, &kd)?;
    let y = matmul_nd(x3.view(), k3.view(), &bd);
    let labels: Vec<char> = batch.iter().chain(&lfree).chain(&rfree).copied().collect();
    let dims: Vec<usize> = labels
        .iter()
        .map(|&c| size(c))
        .collect::<std::result::Result<_, _>>()?;
    let y = match y.into_shape_with_order(IxDyn(&dims)) {
        Ok(y) => y,
        Err(_) => return Err(Mismatch('?', nb * nl * nr, dims.iter().product())),
    };
    let perm: Vec<usize> = out.iter().map(|&c| pos(&labels, c)).collect();
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(y);
    }
    Ok(y.permuted_axes(IxDyn(&perm))
        .as_standard_layout()
        .into_owned())
}

/// The cotangent of operand `a` (labels `al`, shape `a_shape`) of
/// `einsum(al, bl -> out)`: `einsum(out, bl -> al)` of the cotangent `g` with
/// the other operand, broadcast over the labels of `a` the forward summed out.
fn transpose_grad<E: Element>(
    g: ArrayViewD<'_, E>,
    out: &[char],
    b: ArrayViewD<'_, E>,
    bl: &[char],
    al: &[char],
    a_shape: &[usize],
) -> Option<ArrayD<E>> {
    let kept: Vec<char> = al
        .iter()
        .copied()
        .filter(|c| bl.contains(c) || out.contains(c))
        .collect();
    let d = contract(g, out, b, bl, &kept).ok()?;
    if kept.len() == al.len() {
        return Some(d);
    }
    let kept_shape: Vec<usize> = al
        .iter()
        .zip(a_shape)
        .map(|(c, &n)| if kept.contains(c) { n } else { 1 })
        .collect();
    let d = d.into_shape_with_order(IxDyn(&kept_shape)).ok()?;
    Some(d.broadcast(IxDyn(a_shape))?.to_owned())
}

impl<E: Element> Tensor<E> {
    /// `einsum(equation, self, rhs)`; see [`einsum`].
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let y = Tensor::ones(&[2, 3]).einsum("ab,cb->ac", &Tensor::ones(&[4, 3]))?;
    /// assert_eq!(y.shape(), &[2, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn einsum(&self, equation: &str, rhs: &Tensor<E>) -> Result<Tensor<E>> {
        einsum(equation, self, rhs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::arr2;

    #[test]
    fn matches_plain_products_and_rejects_mismatches() -> Result<()> {
        let x = Tensor::from(arr2(&[[1.0f32, 2.0], [3.0, 4.0]]));
        let k = Tensor::from(arr2(&[[1.0f32, 0.0, 2.0], [0.0, 1.0, 1.0]]));
        assert_eq!(
            einsum("ab,bc->ac", &x, &k)?.to_array(),
            arr2(&[[1.0f32, 2.0, 4.0], [3.0, 4.0, 10.0]]).into_dyn()
        );
        assert_eq!(einsum("...b,bc->...c", &x, &k)?.shape(), &[2, 3]);
        let err = einsum("ab,bc->ac", &k, &k).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid argument to einsum: expected operands fitting \"ab,bc->ac\" (label 'b' is 3 in lhs and 2 in rhs), found shapes (2, 3) and (2, 3)"
        );
        assert!(einsum("abc,bc->a", &x, &k).is_err());
        Ok(())
    }
}
