//! `Einsum`: a layer whose kernel is contracted with the input by a two-operand
//! einsum equation (Flax's `nnx.Einsum`).

use ndarray::{ArrayBase, ArrayD, ArrayViewD, Axis, Data, Dimension, IxDyn};
use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};

use crate::contract::{as_3d, bmm};
use crate::functional::{fmt_tuple_usize, shape_err};
use crate::param::{checked_init, KernelBias};
use crate::support::{check_shape, init_setters};

/// `y = einsum(einsum_str, x, kernel) + bias` (Flax's `nnx.Einsum`). The
/// equation must be explicit (one `->`) with exactly two operands, the input
/// then the kernel, each term made of letters, no label twice in a term; `...`
/// (once per term) is allowed. The bias, if any, is reshaped to broadcast over
/// the output axes that come from the kernel.
///
/// ```
/// use ndarray::Array3;
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::Einsum;
/// let layer = Einsum::config("nta,hab->nthb", &[8, 2, 4])
///     .bias_shape(&[8, 4])
///     .build(&mut Rngs::new(0))?;
/// let y = layer.forward(&Array3::<f32>::ones((16, 11, 2)))?;
/// assert_eq!(y.shape(), &[16, 11, 8, 4]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct Einsum {
    /// The kernel, of shape `kernel_shape`.
    pub kernel: Param<ArrayD<f32>>,
    /// The bias, of shape `bias_shape`, if one was asked for.
    pub bias: Option<Param<ArrayD<f32>>>,
    /// The equation, spaces removed.
    pub einsum_str: String,
    /// The kernel's shape.
    #[nnx(static)]
    pub kernel_shape: Vec<usize>,
    /// The bias' shape (`None`: no bias).
    #[nnx(static)]
    pub bias_shape: Option<Vec<usize>>,
}

/// Options of [`Einsum`], with Flax's defaults; from [`Einsum::config`].
///
/// ```
/// use nnx_core::rngs::Rngs;
/// let layer = nnx_layers::Einsum::config("ab,bc->ac", &[3, 4]).build(&mut Rngs::new(0))?;
/// assert!(layer.bias.is_none());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EinsumConfig {
    einsum_str: String,
    kernel_shape: Vec<usize>,
    bias_shape: Option<Vec<usize>>,
    base: KernelBias,
}

init_setters!(EinsumConfig.base = "nnx_layers::Einsum::config(\"ab,bc->ac\", &[2, 3]).bias_shape(&[3])" {
    kernel_init ("lecun_normal()") => "layer.kernel",
    bias_init ("zeros()") => "layer.bias.unwrap()",
});

impl EinsumConfig {
    /// Adds a bias of this shape (default: no bias).
    ///
    /// ```
    /// let e = nnx_layers::Einsum::config("ab,bc->ac", &[2, 3]).bias_shape(&[3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.bias.unwrap().shape(), &[3]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_shape(mut self, shape: &[usize]) -> Self {
        self.bias_shape = Some(shape.to_vec());
        self.base.use_bias = true;
        self
    }

    /// Creates the layer (kernel key, then bias key, from the `params` stream).
    ///
    /// # Errors
    /// When the equation is malformed (see [`Einsum`]), `kernel_shape` does not
    /// fit the kernel's term, or a parameter would not fit in memory.
    ///
    /// ```
    /// let e = nnx_layers::Einsum::config("ab,bc->ac", &[2, 3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(e.bias.is_none()); // no bias_shape, no bias
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<Einsum> {
        let einsum_str = check_equation(&self.einsum_str)?;
        let rhs = einsum_str
            .split_once("->")
            .and_then(|(ins, _)| ins.split_once(','))
            .map_or("", |(_, r)| r);
        let (named, ellipsis) = term_rank(rhs);
        let rank = self.kernel_shape.len();
        if rank < named || (!ellipsis && rank != named) {
            return Err(Error::invalid_argument(
                "Einsum kernel_shape",
                format!("one size per axis of the kernel's term {rhs:?}"),
                fmt_tuple_usize(&self.kernel_shape),
            ));
        }
        let meta = checked_init(
            &self.base.kernel_init,
            rngs.next_key("params")?,
            &self.kernel_shape,
        )?;
        let kernel = Param::from_metadata(meta);
        let bias = match (&self.bias_shape, self.base.bias()) {
            (Some(s), Some(init)) => Some(Param::from_metadata(checked_init(
                init,
                rngs.next_key("params")?,
                s,
            )?)),
            _ => None,
        };
        Ok(Einsum {
            kernel,
            bias,
            einsum_str,
            kernel_shape: self.kernel_shape,
            bias_shape: self.bias_shape,
        })
    }
}

/// Removes spaces and checks the equation's form: explicit (one `->`), two
/// operands (one comma, before the arrow), terms of ASCII letters with at most
/// one `...` each, no label twice in a term, and output labels that appear in
/// an operand. Flax raises on each of these, some only when called.
fn check_equation(eq: &str) -> Result<String> {
    let eq: String = eq.chars().filter(|c| *c != ' ').collect();
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
    Ok(eq)
}

/// The number of axes a term names, and whether it has `...` (more axes).
fn term_rank(term: &str) -> (usize, bool) {
    let labels = term.replacen("...", "", 1);
    (labels.chars().count(), labels.len() != term.len())
}

impl Einsum {
    /// A layer without bias: `Einsum::config(einsum_str, kernel_shape).build(rngs)`.
    ///
    /// ```
    /// let e = nnx_layers::Einsum::new("ab,bc->ac", &[2, 3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.kernel.shape(), &[2, 3]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(einsum_str: &str, kernel_shape: &[usize], rngs: &mut Rngs) -> Result<Einsum> {
        Einsum::config(einsum_str, kernel_shape).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let e = nnx_layers::Einsum::config("ab,bc->ac", &[2, 3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.einsum_str, "ab,bc->ac");
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(einsum_str: &str, kernel_shape: &[usize]) -> EinsumConfig {
        EinsumConfig {
            einsum_str: einsum_str.to_string(),
            kernel_shape: kernel_shape.to_vec(),
            bias_shape: None,
            // A bias exists once `bias_shape` is set.
            base: KernelBias {
                use_bias: false,
                ..KernelBias::default()
            },
        }
    }

    /// Applies the layer with its own equation.
    ///
    /// # Errors
    /// When `x` does not fit the equation.
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let e = nnx_layers::Einsum::config("ab,bc->ac", &[2, 3]).kernel_init(init::ones()).build(&mut Rngs::new(0))?;
    /// let y = e.forward(&ndarray::array![[1.0f32, 2.0]])?;
    /// assert_eq!(y, ndarray::array![[3.0f32, 3.0, 3.0]].into_dyn());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        self.forward_with(x, &self.einsum_str)
    }

    /// Applies the layer with another equation (Flax's `__call__(x, einsum_str)`).
    ///
    /// ```
    /// use ndarray::Array2;
    /// use nnx_core::rngs::Rngs;
    /// let layer = nnx_layers::Einsum::new("ab,bc->ac", &[3, 4], &mut Rngs::new(0))?;
    /// let y = layer.forward_with(&Array2::<f32>::ones((2, 3)), "ab,bc->ca")?;
    /// assert_eq!(y.shape(), &[4, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// When the equation is malformed or `x` does not fit it.
    pub fn forward_with<S: Data<Elem = f32>, D: Dimension>(
        &self,
        x: &ArrayBase<S, D>,
        einsum_str: &str,
    ) -> Result<ArrayD<f32>> {
        check_shape("kernel", self.kernel.shape(), &self.kernel_shape)?;
        if let (Some(b), Some(shape)) = (&self.bias, &self.bias_shape) {
            check_shape("bias", b.shape(), shape)?;
        }
        let eq = check_equation(einsum_str)?;
        let x = x.view().into_dyn();
        let kernel = self.kernel.view();
        let spec = Spec::parse(&eq, x.ndim(), kernel.ndim())?;
        let mut y = spec.apply(x, kernel.view())?;
        if let Some(b) = &self.bias {
            // Output axes from the kernel take its sizes; the others broadcast.
            let shape: Vec<usize> = spec
                .out
                .iter()
                .map(|c| {
                    spec.rhs
                        .iter()
                        .position(|r| r == c)
                        .map_or(1, |i| kernel.shape()[i])
                })
                .collect();
            let bias = b.view().into_shape_with_order(IxDyn(&shape)).map_err(|_| {
                shape_err(
                    "bias",
                    format!("{} elements", shape.iter().product::<usize>()),
                    b.shape(),
                )
            })?;
            let found = y.shape().to_vec();
            let bias = bias
                .broadcast(y.raw_dim())
                .ok_or_else(|| shape_err("bias", fmt_tuple_usize(&found), &shape))?;
            y += &bias;
        }
        Ok(y)
    }
}

/// A parsed equation with `...` expanded into private labels.
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
                        "einsum operand",
                        format!("rank >= {named}"),
                        n.to_string(),
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
    fn parse(eq: &str, lhs_ndim: usize, rhs_ndim: usize) -> Result<Spec> {
        let (ins, out) = eq.split_once("->").unwrap_or((eq, ""));
        let (l, r) = ins.split_once(',').unwrap_or((ins, ""));
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
        for labels in [&spec.lhs, &spec.rhs, &spec.out] {
            if labels
                .iter()
                .enumerate()
                .any(|(i, c)| labels[..i].contains(c))
            {
                return Err(Error::invalid_argument(
                    "einsum_str",
                    "each label at most once per operand (no traces or diagonals)",
                    eq,
                ));
            }
        }
        if let Some(c) = spec
            .out
            .iter()
            .find(|c| !spec.lhs.contains(c) && !spec.rhs.contains(c))
        {
            return Err(Error::invalid_argument(
                "einsum_str",
                "output labels that appear in an operand",
                format!("{eq} (label {c:?})"),
            ));
        }
        Ok(spec)
    }

    /// Sums out private labels, then one batched GEMM, then the output permutation.
    fn apply(&self, x: ArrayViewD<'_, f32>, k: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        let (x, lhs) = sum_private(x, &self.lhs, &self.rhs, &self.out);
        let (k, rhs) = sum_private(k, &self.rhs, &self.lhs, &self.out);
        let size = |c: char| -> Result<usize> {
            let a = lhs.iter().position(|&l| l == c).map(|i| x.shape()[i]);
            let b = rhs.iter().position(|&r| r == c).map(|i| k.shape()[i]);
            match (a, b) {
                (Some(a), Some(b)) if a != b => Err(shape_err(
                    "x",
                    format!("size {b} on label {c:?} (as the kernel)"),
                    x.shape(),
                )),
                (Some(a), _) | (None, Some(a)) => Ok(a),
                (None, None) => Ok(1),
            }
        };
        let batch: Vec<char> = lhs
            .iter()
            .copied()
            .filter(|c| rhs.contains(c) && self.out.contains(c))
            .collect();
        let contract: Vec<char> = lhs
            .iter()
            .copied()
            .filter(|c| rhs.contains(c) && !self.out.contains(c))
            .collect();
        let lfree: Vec<char> = lhs.iter().copied().filter(|c| !rhs.contains(c)).collect();
        let rfree: Vec<char> = rhs.iter().copied().filter(|c| !lhs.contains(c)).collect();
        let prod =
            |cs: &[char]| -> Result<usize> { cs.iter().try_fold(1, |p, &c| Ok(p * size(c)?)) };
        let (nb, nc, nl, nr) = (
            prod(&batch)?,
            prod(&contract)?,
            prod(&lfree)?,
            prod(&rfree)?,
        );
        let pos = |labels: &[char], c: char| labels.iter().position(|&l| l == c).unwrap_or(0);
        let xperm: Vec<usize> = batch
            .iter()
            .chain(&lfree)
            .chain(&contract)
            .map(|&c| pos(&lhs, c))
            .collect();
        let kperm: Vec<usize> = batch
            .iter()
            .chain(&contract)
            .chain(&rfree)
            .map(|&c| pos(&rhs, c))
            .collect();
        let x3 = as_3d("x", x.view(), &xperm, (nb, nl, nc))?;
        let k3 = as_3d("kernel", k.view(), &kperm, (nb, nc, nr))?;
        let y = bmm(x3.view(), k3.view());
        let labels: Vec<char> = batch.iter().chain(&lfree).chain(&rfree).copied().collect();
        let dims: Vec<usize> = labels.iter().map(|&c| size(c)).collect::<Result<_>>()?;
        let y = y
            .into_shape_with_order(IxDyn(&dims))
            .map_err(|_| shape_err("output", fmt_tuple_usize(&dims), &[nb, nl, nr]))?;
        let perm: Vec<usize> = self.out.iter().map(|&c| pos(&labels, c)).collect();
        Ok(y.permuted_axes(IxDyn(&perm))
            .as_standard_layout()
            .into_owned())
    }
}

/// Sums the axes whose labels appear neither in `other` nor in `out`.
fn sum_private(
    a: ArrayViewD<'_, f32>,
    labels: &[char],
    other: &[char],
    out: &[char],
) -> (ArrayD<f32>, Vec<char>) {
    let mut a = a.to_owned();
    let mut kept = labels.to_vec();
    for i in (0..labels.len()).rev() {
        if !other.contains(&labels[i]) && !out.contains(&labels[i]) {
            a = a.sum_axis(Axis(i));
            kept.remove(i);
        }
    }
    (a, kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn layer(eq: &str, k: ArrayD<f32>) -> Result<Einsum> {
        let mut l = Einsum::new(eq, k.shape(), &mut Rngs::new(0))?;
        *l.kernel = k;
        Ok(l)
    }

    #[test]
    fn matches_plain_products() -> Result<()> {
        let x = array![[1.0f32, 2.0], [3.0, 4.0]];
        let k = array![[1.0f32, 0.0, 2.0], [0.0, 1.0, 1.0]].into_dyn();
        let l = layer("ab,bc->ac", k)?;
        assert_eq!(
            l.forward(&x)?,
            array![[1.0f32, 2.0, 4.0], [3.0, 4.0, 10.0]].into_dyn()
        );
        assert_eq!(
            l.forward_with(&x, "ab,bc->ca")?,
            array![[1.0f32, 3.0], [2.0, 4.0], [4.0, 10.0]].into_dyn()
        );
        // Summed-out lhs axis, ellipsis.
        assert_eq!(
            l.forward_with(&x, "ab,bc->c")?,
            array![4.0f32, 6.0, 14.0].into_dyn()
        );
        assert_eq!(l.forward_with(&x, "...b,bc->...c")?.shape(), &[2, 3]);
        Ok(())
    }

    #[test]
    fn rejects_bad_equations() -> Result<()> {
        assert!(Einsum::new("ab,bc", &[2, 2], &mut Rngs::new(0)).is_err());
        assert!(Einsum::new("ab,bc,cd->ad", &[2, 2], &mut Rngs::new(0)).is_err());
        let l = Einsum::new("ab,bc->ac", &[2, 2], &mut Rngs::new(0))?;
        let x = Array2::<f32>::ones((2, 3));
        assert!(l.forward(&x).is_err());
        assert!(l.forward_with(&x, "aa,bc->ac").is_err());
        assert!(l
            .forward_with(&Array2::<f32>::ones((2, 2)), "ab,bc->ad")
            .is_err());
        Ok(())
    }
}
