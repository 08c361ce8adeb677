//! N-d convolution and transposed convolution in Flax's channels-last layout,
//! by im2col and one GEMM per feature group, with their gradient rules.
//!
//! Forward fills the im2col matrix a tile of output rows at a time and
//! multiplies it by the kernel. Backward walks the same tiles: the kernel's
//! cotangent is `colᵀ · g` (the tile refilled), the input's is `g · kernelᵀ`
//! scattered back through the same index table (col2im). Paddings that
//! remap indices (Circular, Reflect) and ConvTranspose's periodic fold are
//! transposed around that core.

use std::mem::size_of;
use std::sync::Arc;

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, Axis, Dimension, Ix2, IxDyn, Slice};
use nnx_core::repr::fmt_tuple_usize;
use nnx_core::{Error, ErrorPath, Result};

use super::alloc::{check_alloc, try_from_shape_fn, try_zeros};
use super::conv_direct::{self, LastAxis};
use super::matmul::gemm;
use super::record;
use crate::element::{lit, Element};
use crate::{tape, Tensor};

/// Padding of a convolution or pooling window, as Flax spells it.
///
/// ```
/// use nnx_tensor::Padding;
/// let p = Padding::Explicit(vec![(1, 1), (0, 2)]);
/// assert_ne!(p, Padding::Same);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Padding {
    /// `'SAME'`: output size `ceil(input / stride)`, the extra padding going
    /// after when it is odd (Flax's default for Conv and ConvTranspose).
    #[default]
    Same,
    /// `'VALID'`: no padding.
    Valid,
    /// `'CIRCULAR'`: the input is wrap-padded by `((k-1)/2, k/2)` of the
    /// dilated kernel size, then convolved VALID. For `conv_transpose`, the
    /// output is folded periodically as Flax's ConvTranspose does.
    Circular,
    /// `'REFLECT'`: like `Circular` with numpy's `reflect` padding (conv only).
    Reflect,
    /// `'CAUSAL'`: 1-D only, `dilation * (k - 1)` zeros on the left (conv only).
    Causal,
    /// `(low, high)` zero padding per spatial axis.
    Explicit(Vec<(usize, usize)>),
}

/// Options of [`Tensor::conv_general`], defaulting to Flax's Conv defaults.
///
/// Empty vectors mean 1 along every spatial axis, a single value applies to
/// every axis.
///
/// ```
/// use nnx_tensor::{ConvOptions, Padding};
/// let o = ConvOptions { strides: vec![2, 2], padding: Padding::Valid, ..Default::default() };
/// assert_eq!(o.feature_group_count, 1);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvOptions {
    /// Window strides per spatial axis.
    pub strides: Vec<usize>,
    /// The padding.
    pub padding: Padding,
    /// Input (lhs) dilation: `d - 1` zeros inserted between input elements;
    /// values > 1 need `Padding::Explicit`, as in JAX.
    pub input_dilation: Vec<usize>,
    /// Kernel (rhs) dilation, a.k.a. atrous convolution.
    pub kernel_dilation: Vec<usize>,
    /// Number of feature groups: `in_features` and `out_features` must be
    /// multiples of it; the kernel holds `in_features / groups` inputs.
    pub feature_group_count: usize,
}

impl Default for ConvOptions {
    fn default() -> Self {
        ConvOptions {
            strides: Vec::new(),
            padding: Padding::Same,
            input_dilation: Vec::new(),
            kernel_dilation: Vec::new(),
            feature_group_count: 1,
        }
    }
}

/// Options of [`Tensor::conv_transpose`], defaulting to Flax's ConvTranspose defaults.
///
/// ```
/// use nnx_tensor::ConvTransposeOptions;
/// assert!(!ConvTransposeOptions::default().transpose_kernel);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConvTransposeOptions {
    /// Strides, i.e. the dilation of the input (empty: all 1).
    pub strides: Vec<usize>,
    /// `Same`/`Valid` are the padding of the forward conv this transposes;
    /// `Explicit` pads are used as-is; `Circular` folds the output.
    pub padding: Padding,
    /// Kernel dilation (empty: all 1).
    pub kernel_dilation: Vec<usize>,
    /// Flip the kernel's spatial axes and swap its feature axes
    /// (`jax.lax.conv_transpose(transpose_kernel=True)`).
    pub transpose_kernel: bool,
}

/// One positive value per spatial axis: empty means 1 everywhere, a single
/// value applies to every axis (as Flax's `int` arguments do). `what` names
/// the option in the error.
///
/// ```
/// use nnx_tensor::per_axis;
/// assert_eq!(per_axis("strides", &[], 2).unwrap(), vec![1, 1]);
/// assert_eq!(per_axis("strides", &[3], 2).unwrap(), vec![3, 3]);
/// assert!(per_axis("strides", &[1, 0], 2).is_err());
/// ```
pub fn per_axis(what: &str, v: &[usize], n: usize) -> Result<Vec<usize>> {
    let out = match v {
        [] => vec![1; n],
        [x] => vec![*x; n],
        _ => v.to_vec(),
    };
    if out.len() != n || out.contains(&0) {
        return Err(Error::invalid_argument(
            what,
            format!("1 or {n} positive values, one per spatial axis"),
            format!("{v:?}"),
        ));
    }
    Ok(out)
}

/// A [`Error::ShapeMismatch`] naming the argument.
pub(crate) fn shape_err(arg: &str, expected: impl Into<String>, found: &[usize]) -> Error {
    Error::ShapeMismatch {
        path: ErrorPath(arg.to_string()),
        expected: expected.into(),
        found: fmt_tuple_usize(found),
    }
}

/// `lax.padtype_to_pads` for 'SAME': output length `ceil(n / s)` (0 for an
/// empty axis, as in JAX), total padding `max((out - 1) * s + k - n, 0)`.
fn same_pads(
    what: &str,
    input: &[usize],
    window: &[usize],
    strides: &[usize],
) -> Result<Vec<(usize, usize)>> {
    input
        .iter()
        .zip(window)
        .zip(strides)
        .map(|((&n, &k), &s)| {
            // out * s < n + s, so only the window can overflow here.
            let reach = (n.div_ceil(s) * s)
                .checked_add(k)
                .ok_or_else(|| too_large(what, k))?;
            let total = reach.saturating_sub(s + n);
            Ok((total / 2, total - total / 2))
        })
        .collect()
}

/// `n` positions dilated by `d`: `(n - 1) * d + 1`, 0 for none.
fn dilate(what: &str, n: usize, d: usize) -> Result<usize> {
    match n {
        0 => Ok(0),
        _ => (n - 1)
            .checked_mul(d)
            .and_then(|v| v.checked_add(1))
            .filter(|&v| v <= isize::MAX as usize)
            .ok_or_else(|| too_large(what, format!("{n} positions dilated by {d}"))),
    }
}

/// `n + lo + hi`, checked.
pub(crate) fn padded_len(what: &str, n: usize, (lo, hi): (usize, usize)) -> Result<usize> {
    n.checked_add(lo)
        .and_then(|v| v.checked_add(hi))
        .filter(|&v| v <= isize::MAX as usize)
        .ok_or_else(|| too_large(what, format!("{n} padded by ({lo}, {hi})")))
}

/// A size computed from user options that does not fit in memory.
fn too_large(what: &str, found: impl std::fmt::Display) -> Error {
    Error::invalid_argument(what, "sizes that fit in memory", found.to_string())
}

/// The `(low, high)` pads of `Same`, `Valid` or `Explicit` padding.
pub(crate) fn resolve_pads(
    what: &str,
    padding: &Padding,
    input: &[usize],
    window: &[usize],
    strides: &[usize],
) -> Result<Vec<(usize, usize)>> {
    match padding {
        Padding::Same => same_pads(what, input, window, strides),
        Padding::Valid => Ok(vec![(0, 0); input.len()]),
        Padding::Explicit(p) if p.len() == input.len() => Ok(p.clone()),
        Padding::Explicit(p) => Err(Error::invalid_argument(
            what,
            format!("{} (low, high) pairs", input.len()),
            format!("{p:?}"),
        )),
        other => Err(Error::invalid_argument(
            what,
            "Same, Valid or Explicit padding here",
            format!("{other:?}"),
        )),
    }
}

/// `shape` (batch..., spatial..., C) with its batch axes flattened into one.
fn flat_batch_shape(arg: &str, shape: &[usize], nsp: usize) -> Result<Vec<usize>> {
    if shape.len() < nsp + 1 {
        return Err(shape_err(
            arg,
            format!("(batch..., {nsp} spatial axes..., features)"),
            shape,
        ));
    }
    let nb = shape.len() - nsp - 1;
    let mut flat = vec![shape[..nb].iter().product()];
    flat.extend_from_slice(&shape[nb..]);
    Ok(flat)
}

/// `y` (one leading batch axis) with the batch axes of `x_shape` restored.
fn restore_batch<E: Element>(y: ArrayD<E>, x_shape: &[usize], nsp: usize) -> Result<ArrayD<E>> {
    let nb = x_shape.len() - nsp - 1;
    let mut shape = x_shape[..nb].to_vec();
    shape.extend_from_slice(&y.shape()[1..]);
    let found = y.shape().to_vec();
    y.into_shape_with_order(shape.clone())
        .map_err(|_| shape_err("output", fmt_tuple_usize(&shape), &found))
}

/// The source index of padded position `i` of an axis of `n > 0` elements
/// padded by `lo` in front: wrapped (`circular`) or numpy-reflected.
fn remap_index(i: usize, n: usize, lo: usize, circular: bool) -> usize {
    let (n, i) = (n as isize, i as isize - lo as isize);
    (if circular {
        i.rem_euclid(n)
    } else if n == 1 {
        0
    } else {
        let period = 2 * (n - 1);
        let m = i.rem_euclid(period);
        if m >= n {
            period - m
        } else {
            m
        }
    }) as usize
}

/// Pads the spatial axes of `(batch, spatial..., C)` by index remapping
/// (`wrap` when `circular`, numpy `reflect` otherwise). An empty axis has
/// nothing to wrap or reflect: an error, as in numpy.
fn remap_pad<E: Element>(
    x: &ArrayViewD<'_, E>,
    pads: &[(usize, usize)],
    circular: bool,
) -> Result<ArrayD<E>> {
    let what = "conv padding";
    let mut shape = x.shape().to_vec();
    for (i, &p) in pads.iter().enumerate() {
        if shape[i + 1] == 0 {
            return Err(shape_err(
                "x",
                format!(
                    "non-empty spatial axes for {} padding",
                    if circular { "Circular" } else { "Reflect" }
                ),
                x.shape(),
            ));
        }
        shape[i + 1] = padded_len(what, shape[i + 1], p)?;
    }
    let src_shape = x.shape();
    try_from_shape_fn(what, &shape, |ix| {
        let mut src: Vec<usize> = ix.slice().to_vec();
        for (d, &(lo, _)) in pads.iter().enumerate() {
            src[d + 1] = remap_index(src[d + 1], src_shape[d + 1], lo, circular);
        }
        x[src.as_slice()]
    })
}

/// The transpose of [`remap_pad`]: each padded position's cotangent added to
/// the input position it was copied from.
fn remap_pad_vjp<E: Element>(
    g: &ArrayD<E>,
    x_shape: &[usize],
    pads: &[(usize, usize)],
    circular: bool,
) -> ArrayD<E> {
    let mut dx = ArrayD::zeros(IxDyn(x_shape));
    let mut src = vec![0; x_shape.len()];
    for (ix, &v) in g.indexed_iter() {
        src.copy_from_slice(ix.slice());
        for (d, &(lo, _)) in pads.iter().enumerate() {
            src[d + 1] = remap_index(src[d + 1], x_shape[d + 1], lo, circular);
        }
        dx[src.as_slice()] += v;
    }
    dx
}

/// Output rows per im2col tile: large enough that each GEMM is worth splitting
/// across threads (ndarray's `matrixmultiply-threading`), small enough that the
/// im2col buffer stays a few MB. Measured on 2 cores: 4096 beat 256 and 1024.
const CONV_TILE_ROWS: usize = 4096;

/// The geometry of one convolution of a `(batch, spatial..., C)` input with a
/// `(spatial..., C/groups, out)` kernel: which input position each output
/// position reads through each kernel tap. Shared by forward and backward.
pub(super) struct Plan {
    b: usize,
    pub(super) c: usize,
    ksp: Vec<usize>,
    cin_g: usize,
    pub(super) cout: usize,
    pub(super) groups: usize,
    out_sp: Vec<usize>,
    /// `table[d][o * k + kk]`: the input index read by output `o`, tap `kk`.
    table: Vec<Vec<Option<usize>>>,
    /// Each tap's kernel multi-index, `nsp` entries per tap.
    taps: Vec<usize>,
    /// Row-major strides of the input's spatial axes, in elements of C.
    in_stride: Vec<usize>,
    in_sp_len: usize,
    /// The last spatial axis, when no axis has input dilation (the direct
    /// kernel reads input rows along it contiguously).
    pub(super) direct: Option<LastAxis>,
}

impl Plan {
    #[allow(clippy::too_many_arguments)]
    fn new(
        x_shape: &[usize],
        k_shape: &[usize],
        strides: &[usize],
        pads: &[(usize, usize)],
        lhs_dil: &[usize],
        rhs_dil: &[usize],
        groups: usize,
    ) -> Result<Plan> {
        let nsp = strides.len();
        let in_sp = &x_shape[1..=nsp];
        let ksp = &k_shape[..nsp];
        let mut out_sp = Vec::with_capacity(nsp);
        let mut table: Vec<Vec<Option<usize>>> = Vec::with_capacity(nsp);
        for d in 0..nsp {
            // Sizes come from user options: checked, so that they error rather than
            // overflow (every index below is < `padded` <= isize::MAX).
            let dil_in = dilate("conv input_dilation", in_sp[d], lhs_dil[d])?;
            let eff_k = dilate("conv kernel_dilation", ksp[d].max(1), rhs_dil[d])?;
            let padded = padded_len("conv padding", dil_in, pads[d])?;
            let o_n = if padded >= eff_k && ksp[d] > 0 {
                (padded - eff_k) / strides[d] + 1
            } else {
                0
            };
            // One entry per output position and tap: as large as the output axis.
            let too_long = || {
                too_large(
                    "conv output",
                    format!("{o_n} positions on spatial axis {d}"),
                )
            };
            let n_t = check_alloc("conv output", &[o_n, ksp[d]], size_of::<Option<usize>>())
                .map_err(|_| too_long())?;
            let mut t = Vec::new();
            t.try_reserve_exact(n_t).map_err(|_| too_long())?;
            for o in 0..o_n {
                for kk in 0..ksp[d] {
                    let p = (o * strides[d] + kk * rhs_dil[d]) as isize - pads[d].0 as isize;
                    let ok =
                        p >= 0 && (p as usize) < dil_in && (p as usize).is_multiple_of(lhs_dil[d]);
                    t.push(if ok {
                        Some(p as usize / lhs_dil[d])
                    } else {
                        None
                    });
                }
            }
            out_sp.push(o_n);
            table.push(t);
        }
        let plan_shape: Vec<usize> = [&[x_shape[0]], &out_sp[..], &[k_shape[nsp + 1]]].concat();
        // Checked before any product of the output sizes is taken.
        check_alloc("conv output", &plan_shape, size_of::<f64>())?;
        let mut in_stride = vec![1usize; nsp];
        for d in (0..nsp.saturating_sub(1)).rev() {
            in_stride[d] = in_stride[d + 1] * in_sp[d + 1];
        }
        let n_k: usize = ksp.iter().product();
        let mut taps = vec![0usize; n_k * nsp];
        for (kp, tap) in taps.chunks_exact_mut(nsp).enumerate() {
            let mut rest = kp;
            for d in (0..nsp).rev() {
                tap[d] = rest % ksp[d];
                rest /= ksp[d];
            }
        }
        Ok(Plan {
            b: x_shape[0],
            c: x_shape[nsp + 1],
            ksp: ksp.to_vec(),
            cin_g: k_shape[nsp],
            cout: k_shape[nsp + 1],
            groups,
            out_sp,
            table,
            taps,
            in_stride,
            in_sp_len: in_sp.iter().product(),
            direct: lhs_dil.iter().all(|&d| d == 1).then(|| LastAxis {
                n_in: in_sp[nsp - 1],
                lo: pads[nsp - 1].0,
                stride: strides[nsp - 1],
                dil: rhs_dil[nsp - 1],
            }),
        })
    }

    fn n_out(&self) -> usize {
        self.out_sp.iter().product()
    }

    /// Rows of the im2col matrix: batch times output positions.
    pub(super) fn rows(&self) -> usize {
        self.b * self.n_out()
    }

    /// Kernel taps along the last spatial axis.
    pub(super) fn kl(&self) -> usize {
        self.ksp[self.ksp.len() - 1]
    }

    /// Output positions along the last spatial axis.
    pub(super) fn out_last(&self) -> usize {
        self.out_sp[self.out_sp.len() - 1]
    }

    /// Kernel taps over the spatial axes before the last.
    pub(super) fn n_outer_taps(&self) -> usize {
        self.ksp[..self.ksp.len() - 1].iter().product()
    }

    /// The input offset (in elements) of the row of the last spatial axis that
    /// output row `row` (batch and output position over the axes before the
    /// last) reads through outer tap `tg`, or `None` in the padding.
    pub(super) fn outer_offset(&self, row: usize, tg: usize) -> Option<usize> {
        let last = self.ksp.len() - 1;
        let tap = &self.taps[tg * self.kl() * (last + 1)..][..last];
        let mut rest = row;
        let mut off = 0;
        for d in (0..last).rev() {
            let o = rest % self.out_sp[d];
            rest /= self.out_sp[d];
            off += self.table[d][o * self.ksp[d] + tap[d]]? * self.in_stride[d];
        }
        Some((rest * self.in_sp_len + off) * self.c)
    }

    /// Columns of the im2col matrix: taps times input features per group.
    pub(super) fn cols(&self) -> usize {
        self.ksp.iter().product::<usize>() * self.cin_g
    }

    fn out_shape(&self) -> Vec<usize> {
        [&[self.b], &self.out_sp[..], &[self.cout]].concat()
    }

    fn tile(&self) -> usize {
        CONV_TILE_ROWS.min(self.rows().max(1))
    }

    /// Walks the im2col rows `r0..r1` (`r0 < r1 <= rows`) of feature group `g`:
    /// `visit(row, col, src, len)` says that columns `col..col + len` of row
    /// `row - r0` hold input elements `src..src + len`, or zeros (`None`).
    fn walk(
        &self,
        g: usize,
        r0: usize,
        r1: usize,
        mut visit: impl FnMut(usize, usize, Option<usize>, usize),
    ) {
        let nsp = self.ksp.len();
        let (cin_g, n_out) = (self.cin_g, self.n_out());
        // Each row's output position advances like an odometer: integer
        // divisions per tap and per row were most of the im2col's time.
        let mut o_ix = vec![0usize; nsp];
        let (mut bi, mut rest) = (r0 / n_out, r0 % n_out);
        for d in (0..nsp).rev() {
            o_ix[d] = rest % self.out_sp[d];
            rest /= self.out_sp[d];
        }
        let last = nsp - 1;
        let kl = self.ksp[last];
        for row in 0..r1 - r0 {
            // Taps reading consecutive input (neighbours along the last axis,
            // when groups == 1) are visited as one run of (src, dst, len).
            let mut run: Option<(usize, usize, usize)> = None;
            // Taps come in groups along the last kernel axis that share the
            // other axes' offset, computed once per group.
            let last_ix = &self.table[last][o_ix[last] * kl..][..kl];
            for (grp, tap) in self.taps.chunks_exact((nsp * kl).max(1)).enumerate() {
                // The input offset of the other axes, or None in the padding.
                let outer = (0..last).try_fold(0, |off, d| {
                    self.table[d][o_ix[d] * self.ksp[d] + tap[d]]
                        .map(|i| off + i * self.in_stride[d])
                });
                for (kk, &li) in last_ix.iter().enumerate() {
                    let dst = (grp * kl + kk) * cin_g;
                    match outer.zip(li) {
                        Some((off, i)) => {
                            let src = (bi * self.in_sp_len + off + i) * self.c + g * cin_g;
                            run = match run {
                                Some((s, d, l)) if s + l == src && d + l == dst => {
                                    Some((s, d, l + cin_g))
                                }
                                Some((s, d, l)) => {
                                    visit(row, d, Some(s), l);
                                    Some((src, dst, cin_g))
                                }
                                None => Some((src, dst, cin_g)),
                            };
                        }
                        None => visit(row, dst, None, cin_g),
                    }
                }
            }
            if let Some((s, d, l)) = run {
                visit(row, d, Some(s), l);
            }
            let mut d = nsp;
            loop {
                if d == 0 {
                    bi += 1;
                    break;
                }
                d -= 1;
                o_ix[d] += 1;
                if o_ix[d] < self.out_sp[d] {
                    break;
                }
                o_ix[d] = 0;
            }
        }
    }

    /// Writes im2col rows `r0..r1` of group `g` of input `xs` into `col`.
    fn fill<E: Element>(&self, xs: &[E], g: usize, r0: usize, r1: usize, col: &mut [E]) {
        let cols = self.cols();
        self.walk(g, r0, r1, |row, dst, src, len| {
            let out = &mut col[row * cols + dst..][..len];
            match src {
                Some(s) => out.copy_from_slice(&xs[s..s + len]),
                None => out.fill(lit::<E>(0.0)),
            }
        });
    }

    /// Adds im2col rows `r0..r1` of group `g` (`col`) into the input positions
    /// they were read from: the transpose of [`fill`](Plan::fill).
    fn scatter<E: Element>(&self, col: &[E], g: usize, r0: usize, r1: usize, dx: &mut [E]) {
        let cols = self.cols();
        self.walk(g, r0, r1, |row, dst, src, len| {
            if let Some(s) = src {
                for (d, &v) in dx[s..s + len]
                    .iter_mut()
                    .zip(&col[row * cols + dst..][..len])
                {
                    *d += v;
                }
            }
        });
    }

    /// The kernel as the `(taps * C/groups, out)` matrix the GEMMs use.
    fn kernel_matrix<'a, E: Element>(&self, k: &ArrayViewD<'a, E>) -> Result<ArrayView2<'a, E>> {
        k.clone()
            .into_shape_with_order((self.cols(), self.cout))
            .map_err(|_| shape_err("kernel", "a reshapable kernel", k.shape()))
    }

    /// The convolution of `xs` (row-major, `(batch, spatial..., C)`) with the
    /// standard-layout kernel `k`, plus `bias` (`out` values) when given:
    /// `(batch, out_spatial..., out)`.
    fn forward<E: Element>(
        &self,
        xs: &[E],
        k: &ArrayViewD<'_, E>,
        bias: Option<&[E]>,
    ) -> Result<ArrayD<E>> {
        let shape = self.out_shape();
        // The direct kernel is f32 SIMD code; f64 takes im2col and the GEMM.
        let direct = match (E::as_f32(xs), k.as_slice().and_then(E::as_f32)) {
            (Some(xs), Some(k)) => match bias.map(E::as_f32) {
                Some(None) => None,
                b => conv_direct::forward(self, xs, k, b.flatten()).and_then(E::from_f32),
            },
            _ => None,
        };
        if let Some(y) = direct {
            return ArrayD::from_shape_vec(IxDyn(&shape), y)
                .map_err(|_| shape_err("output", fmt_tuple_usize(&shape), &[]));
        }
        let (rows, cols, cout_g) = (self.rows(), self.cols(), self.cout / self.groups);
        let k2 = self.kernel_matrix(k)?;
        let mut out = try_zeros::<E>("conv output", &[rows, self.cout])?
            .into_dimensionality::<Ix2>()
            .map_err(|_| shape_err("output", fmt_tuple_usize(&[rows, self.cout]), &[]))?;
        // The im2col matrix is built and multiplied a tile of output rows at a time, so
        // that it stays in cache between being written and being packed by the GEMM
        // (the whole matrix is n_k times the input, far larger than any cache).
        let tile = self.tile();
        let mut col = vec![E::zero(); tile * cols];
        for g in 0..self.groups {
            let kg = k2.slice_axis(Axis(1), Slice::from(g * cout_g..(g + 1) * cout_g));
            for r0 in (0..rows).step_by(tile) {
                let r1 = (r0 + tile).min(rows);
                self.fill(xs, g, r0, r1, &mut col);
                let colm = ArrayView2::from_shape((r1 - r0, cols), &col[..(r1 - r0) * cols])
                    .map_err(|_| shape_err("x", "a contiguous input", &[rows, cols]))?;
                let og = out.slice_each_axis_mut(|ax| block(ax.axis, r0..r1, g, cout_g));
                gemm(colm, kg.view(), og);
            }
        }
        if let Some(b) = bias {
            // In place: the same single rounding as a separate add.
            for mut row in out.rows_mut() {
                for (y, &b) in row.iter_mut().zip(b) {
                    *y += b;
                }
            }
        }
        out.into_shape_with_order(shape.clone())
            .map(|a| a.into_dyn())
            .map_err(|_| shape_err("output", fmt_tuple_usize(&shape), &[rows, self.cout]))
    }

    /// The cotangents of the input `xs` (when `need_x`) and of the kernel `k`
    /// (when `need_k`, in `k`'s shape) for the output cotangent `g`.
    fn backward<E: Element>(
        &self,
        xs: &[E],
        k: &ArrayViewD<'_, E>,
        g: &ArrayD<E>,
        need_x: bool,
        need_k: bool,
    ) -> (Option<Vec<E>>, Option<ArrayD<E>>) {
        let (rows, cols, cout_g) = (self.rows(), self.cols(), self.cout / self.groups);
        let (Ok(k2), Ok(g2)) = (self.kernel_matrix(k), g.to_shape((rows, self.cout))) else {
            return (None, None);
        };
        let mut dx = need_x.then(|| vec![E::zero(); xs.len()]);
        let mut dk = need_k.then(|| ndarray::Array2::<E>::zeros((cols, self.cout)));
        let tile = self.tile();
        let mut col = vec![E::zero(); tile * cols];
        for grp in 0..self.groups {
            let gsl = Slice::from(grp * cout_g..(grp + 1) * cout_g);
            let kg = k2.slice_axis(Axis(1), gsl);
            for r0 in (0..rows).step_by(tile) {
                let r1 = (r0 + tile).min(rows);
                let n = (r1 - r0) * cols;
                let gt = g2.slice_each_axis(|ax| block(ax.axis, r0..r1, grp, cout_g));
                if let Some(dk) = dk.as_mut() {
                    self.fill(xs, grp, r0, r1, &mut col);
                    if let Ok(colm) = ArrayView2::from_shape((r1 - r0, cols), &col[..n]) {
                        kernel_cotangent(colm, gt, dk.slice_axis_mut(Axis(1), gsl));
                    }
                }
                if let Some(dx) = dx.as_mut() {
                    if let Ok(mut dcol) = ArrayViewMut2::from_shape((r1 - r0, cols), &mut col[..n])
                    {
                        gemm(gt.view(), kg.t(), dcol.view_mut());
                    }
                    self.scatter(&col, grp, r0, r1, dx);
                }
            }
        }
        let dk = dk.and_then(|dk| dk.into_shape_with_order(k.shape()).ok());
        (dx, dk)
    }
}

/// `dk += colᵀ g`: the kernel's cotangent, a sum over every output position of
/// the batch (`col` is an im2col tile, `g` the output cotangent's rows).
///
/// Through matrixmultiply (ndarray's `general_mat_mul`), not `gemm` (faer),
/// because the order of this sum decides whether a training run follows
/// Flax's. Measured on the digits run (`examples/train_digits.rs`, 420 steps):
/// any other product can go through either library without changing the run,
/// but with faer here the losses drift from Flax's after ~170 steps (1.4e-2
/// relative by step 414), while matrixmultiply's order (each entry's terms
/// fused-multiply-added in row order within blocks of 256 rows, the blocks added
/// in turn) holds every step within 4e-6. Backward only, so no forward pass
/// is slower.
fn kernel_cotangent<E: Element>(
    col: ArrayView2<'_, E>,
    g: ArrayView2<'_, E>,
    mut dk: ArrayViewMut2<'_, E>,
) {
    general_mat_mul(E::one(), &col.t(), &g, E::one(), &mut dk);
}

/// Rows `rows` and the columns of feature group `g` (of `n` columns each) of
/// an `(im2col rows, features)` matrix.
fn block(axis: Axis, rows: std::ops::Range<usize>, g: usize, n: usize) -> Slice {
    match axis.index() {
        0 => Slice::from(rows),
        _ => Slice::from(g * n..(g + 1) * n),
    }
}

/// The number of spatial axes of a `(spatial..., in, out)` kernel.
fn check_kernel(kernel: &[usize]) -> Result<usize> {
    if kernel.len() < 3 {
        return Err(shape_err(
            "kernel",
            "(spatial..., in_features, out_features) with >= 1 spatial axis",
            kernel,
        ));
    }
    Ok(kernel.len() - 2)
}

/// The row-major elements of `a` (a view when it already is row-major).
fn row_major<'a, E: Element>(a: &'a ArrayD<E>) -> std::borrow::Cow<'a, [E]> {
    match a.as_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(a.iter().copied().collect()),
    }
}

/// `dx` (row-major) as an array of `shape`.
fn shaped<E: Element>(dx: Option<Vec<E>>, shape: &[usize]) -> Option<ArrayD<E>> {
    dx.and_then(|v| ArrayD::from_shape_vec(IxDyn(shape), v).ok())
}

impl<E: Element> Tensor<E> {
    /// Convolution as `flax.nnx.Conv` computes it before adding its bias
    /// (`jax.lax.conv_general_dilated` in channels-last layout): `self` is
    /// `(batch..., spatial..., in_features)` with any number (including zero)
    /// of batch axes, `kernel` is `(spatial..., in_features / groups,
    /// out_features)`; the result is `(batch..., out_spatial..., out_features)`.
    /// Differentiable in both arguments.
    ///
    /// ```
    /// use nnx_tensor::{ConvOptions, Padding, Tensor};
    /// // A 3-tap box filter over a length-4 signal, one channel.
    /// let x = Tensor::from_shape_vec(&[1, 4, 1], vec![1.0, 2.0, 3.0, 4.0])?;
    /// let k = Tensor::ones(&[3, 1, 1]);
    /// let y = x.conv_general(&k, &ConvOptions { padding: Padding::Valid, ..Default::default() })?;
    /// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![6.0, 9.0]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn conv_general(&self, kernel: &Tensor<E>, opts: &ConvOptions) -> Result<Tensor<E>> {
        self.conv_with_bias(kernel, None, opts)
    }

    /// [`conv_general`](Tensor::conv_general) plus `bias` (of shape
    /// `(out_features,)`, added at every output position): `flax.nnx.Conv`'s
    /// output. Differentiable in all three arguments.
    ///
    /// When no gradient is being taken through the arguments, the bias is added
    /// as each output value is stored, without a second pass over the output;
    /// the values are those of `conv_general` followed by `+ bias` (the same
    /// single rounding). Under [`value_and_grad`](crate::value_and_grad) it
    /// records exactly those two ops.
    ///
    /// ```
    /// use nnx_tensor::{ConvOptions, Padding, Tensor};
    /// let x = Tensor::from_shape_vec(&[1, 4, 1], vec![1.0, 2.0, 3.0, 4.0])?;
    /// let (k, b) = (Tensor::ones(&[3, 1, 2]), Tensor::from_shape_vec(&[2], vec![0.5, -1.0])?);
    /// let opts = ConvOptions { padding: Padding::Valid, ..Default::default() };
    /// let y = x.conv_general_bias(&k, &b, &opts)?;
    /// assert_eq!(y, (x.conv_general(&k, &opts)? + &b)?);
    /// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![6.5, 5.0, 9.5, 8.0]);
    /// assert!(x.conv_general_bias(&k, &Tensor::ones(&[3]), &opts).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn conv_general_bias(
        &self,
        kernel: &Tensor<E>,
        bias: &Tensor<E>,
        opts: &ConvOptions,
    ) -> Result<Tensor<E>> {
        let cout = kernel.shape().last().copied().unwrap_or(0);
        if bias.shape() != [cout] {
            return Err(shape_err(
                "bias",
                format!("({cout},) (the kernel's out_features)"),
                bias.shape(),
            ));
        }
        if tape::records(&[self, kernel, bias]) {
            return self.conv_general(kernel, opts)? + bias;
        }
        let b = row_major(&bias.data);
        self.conv_with_bias(kernel, Some(&b), opts)
    }

    /// [`conv_general`](Tensor::conv_general) with `bias` added as the output
    /// is stored. Records only the convolution: with a bias, callers make sure
    /// that nothing is recorded.
    fn conv_with_bias(
        &self,
        kernel: &Tensor<E>,
        bias: Option<&[E]>,
        opts: &ConvOptions,
    ) -> Result<Tensor<E>> {
        let nsp = check_kernel(kernel.shape())?;
        let flat = flat_batch_shape("x", self.shape(), nsp)?;
        let strides = per_axis("conv strides", &opts.strides, nsp)?;
        let lhs = per_axis("conv input_dilation", &opts.input_dilation, nsp)?;
        let rhs = per_axis("conv kernel_dilation", &opts.kernel_dilation, nsp)?;
        if lhs.iter().any(|&d| d > 1) && !matches!(opts.padding, Padding::Explicit(_)) {
            // As `lax.conv_general_dilated`: string paddings are undefined here.
            return Err(Error::invalid_argument(
                "conv padding",
                "Explicit padding when input_dilation > 1",
                format!("{:?}", opts.padding),
            ));
        }
        let groups = opts.feature_group_count;
        let k_shape = kernel.shape();
        let (c, cin_g, cout) = (flat[nsp + 1], k_shape[nsp], k_shape[nsp + 1]);
        if groups == 0 || !cout.is_multiple_of(groups) {
            return Err(Error::invalid_argument(
                "conv feature_group_count",
                format!("a positive divisor of out_features {cout}"),
                groups.to_string(),
            ));
        }
        if cin_g * groups != c {
            let mut want = k_shape.to_vec();
            want[nsp] = c / groups;
            return Err(shape_err(
                "kernel",
                format!(
                    "{} (in_features {c} / feature_group_count {groups})",
                    fmt_tuple_usize(&want)
                ),
                k_shape,
            ));
        }
        let dilated_k: Vec<usize> = (0..nsp)
            .map(|d| dilate("conv kernel_dilation", k_shape[d].max(1), rhs[d]))
            .collect::<Result<_>>()?;
        let x = self
            .data
            .to_shape(flat.clone())
            .map_err(|_| shape_err("x", fmt_tuple_usize(&flat), self.shape()))?;
        // Circular and Reflect pad by remapping into a new input, then go VALID.
        let remap = match &opts.padding {
            Padding::Circular | Padding::Reflect => Some((
                dilated_k
                    .iter()
                    .map(|&k| ((k - 1) / 2, k / 2))
                    .collect::<Vec<_>>(),
                opts.padding == Padding::Circular,
            )),
            _ => None,
        };
        let padded = match &remap {
            Some((pre, circular)) => Some(Arc::new(remap_pad(&x.view(), pre, *circular)?)),
            None => None,
        };
        let pads = match &opts.padding {
            Padding::Circular | Padding::Reflect => vec![(0, 0); nsp],
            Padding::Causal => {
                if nsp != 1 {
                    return Err(Error::invalid_argument(
                        "conv padding",
                        "CAUSAL padding only for 1-D convolutions",
                        format!("{nsp} spatial axes"),
                    ));
                }
                vec![(dilated_k[0] - 1, 0)]
            }
            p => resolve_pads("conv padding", p, &flat[1..=nsp], &dilated_k, &strides)?,
        };
        let input: Arc<ArrayD<E>> = padded.unwrap_or_else(|| Arc::clone(&self.data));
        let in_shape: Vec<usize> = match &remap {
            Some(_) => input.shape().to_vec(),
            None => flat.clone(),
        };
        let plan = Plan::new(&in_shape, k_shape, &strides, &pads, &lhs, &rhs, groups)?;
        let y = {
            let xs = row_major(&input);
            let kd = kernel.data.as_standard_layout();
            plan.forward(&xs, &kd.view(), bias)?
        };
        let y = restore_batch(y, self.shape(), nsp)?;
        let (x_shape, kd) = (self.shape().to_vec(), Arc::clone(&kernel.data));
        Ok(record(
            "conv_general",
            y.into(),
            [self, kernel],
            move |g, [nx, nk]| {
                let xs = row_major(&input);
                let ks = kd.as_standard_layout();
                let (dx, dk) = plan.backward(&xs, &ks.view(), g, nx, nk);
                let dx = match &remap {
                    Some((pre, circular)) => shaped(dx, &in_shape)
                        .map(|d| remap_pad_vjp(&d, &flat, pre, *circular))
                        .and_then(|d| d.into_shape_with_order(x_shape).ok()),
                    None => shaped(dx, &x_shape),
                };
                [dx, dk]
            },
        ))
    }

    /// Transposed convolution as `flax.nnx.ConvTranspose` computes it (before
    /// its bias), i.e. `jax.lax.conv_transpose`: a convolution of the input
    /// dilated by `strides`, with the padding derived from the forward conv's.
    /// Shapes as in [`conv_general`](Tensor::conv_general); the kernel is
    /// `(spatial..., in, out)`. Differentiable in both arguments.
    ///
    /// ```
    /// use nnx_tensor::{ConvTransposeOptions, Padding, Tensor};
    /// let x = Tensor::from_shape_vec(&[1, 2, 1], vec![1.0, 2.0])?;
    /// let k = Tensor::ones(&[2, 1, 1]);
    /// let o = ConvTransposeOptions { strides: vec![2], padding: Padding::Valid, ..Default::default() };
    /// let y = x.conv_transpose(&k, &o)?;
    /// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![1.0, 1.0, 2.0, 2.0]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn conv_transpose(
        &self,
        kernel: &Tensor<E>,
        opts: &ConvTransposeOptions,
    ) -> Result<Tensor<E>> {
        let nsp = check_kernel(kernel.shape())?;
        let flat = flat_batch_shape("x", self.shape(), nsp)?;
        let strides = per_axis("conv_transpose strides", &opts.strides, nsp)?;
        let rhs = per_axis("conv_transpose kernel_dilation", &opts.kernel_dilation, nsp)?;
        let flip = opts.transpose_kernel;
        let k = flipped(kernel.data.view(), nsp, flip);
        let c = flat[nsp + 1];
        if k.shape()[nsp] != c {
            return Err(shape_err(
                "kernel",
                format!("in_features {c} on the kernel's input-feature axis"),
                kernel.shape(),
            ));
        }
        let eff_k: Vec<usize> = (0..nsp)
            .map(|d| {
                dilate(
                    "conv_transpose kernel_dilation",
                    k.shape()[d].max(1),
                    rhs[d],
                )
            })
            .collect::<Result<_>>()?;
        let pads: Vec<(usize, usize)> = match &opts.padding {
            Padding::Same => (0..nsp)
                .map(|d| transpose_pads(eff_k[d], strides[d], true))
                .collect::<Result<_>>()?,
            Padding::Valid | Padding::Circular => (0..nsp)
                .map(|d| transpose_pads(eff_k[d], strides[d], false))
                .collect::<Result<_>>()?,
            Padding::Explicit(p) if p.len() == nsp => p.clone(),
            other => {
                return Err(Error::invalid_argument(
                    "conv_transpose padding",
                    format!("Same, Valid, Circular or {nsp} explicit pairs"),
                    format!("{other:?}"),
                ))
            }
        };
        let ones = vec![1; nsp];
        let plan = Plan::new(&flat, k.shape(), &ones, &pads, &strides, &rhs, 1)?;
        let input = Arc::clone(&self.data);
        let mut y = {
            let xs = row_major(&input);
            plan.forward(&xs, &k.as_standard_layout().view(), None)?
        };
        let folds = if opts.padding == Padding::Circular {
            let (folded, folds) = fold(y, &flat, &strides, flip)?;
            y = folded;
            folds
        } else {
            Vec::new()
        };
        let y_flat = y.shape().to_vec();
        let y = restore_batch(y, self.shape(), nsp)?;
        let (x_shape, kd) = (self.shape().to_vec(), Arc::clone(&kernel.data));
        Ok(record(
            "conv_transpose",
            y.into(),
            [self, kernel],
            move |g, [nx, nk]| {
                let Ok(g) = g.to_shape(y_flat) else {
                    return [None, None];
                };
                let mut gy = g.into_owned();
                for &(d, y_dim, lo) in folds.iter().rev() {
                    gy = unfold(&gy, d, y_dim, lo);
                }
                let xs = row_major(&input);
                let kv = flipped(kd.view(), nsp, flip);
                let (dx, dk) = plan.backward(&xs, &kv.as_standard_layout().view(), &gy, nx, nk);
                // The cotangent of the flipped kernel, flipped back.
                let dk = dk.map(|d| {
                    flipped(d.view(), nsp, flip)
                        .as_standard_layout()
                        .into_owned()
                });
                [shaped(dx, &x_shape), dk]
            },
        ))
    }
}

/// The kernel with its spatial axes reversed and its feature axes swapped
/// when `flip` (an involution), as a view.
fn flipped<E: Element>(mut k: ArrayViewD<'_, E>, nsp: usize, flip: bool) -> ArrayViewD<'_, E> {
    if flip {
        for d in 0..nsp {
            k.invert_axis(Axis(d));
        }
        k.swap_axes(nsp, nsp + 1);
    }
    k
}

/// `lax._conv_transpose_padding` for one axis (`k`, `s` >= 1), checked.
fn transpose_pads(k: usize, s: usize, same: bool) -> Result<(usize, usize)> {
    let err = || too_large("conv_transpose strides", format!("kernel {k}, stride {s}"));
    let len = k.checked_add(s).ok_or_else(err)? - 2;
    if same {
        let a = if s > k - 1 { k - 1 } else { len.div_ceil(2) };
        Ok((a, len - a))
    } else {
        let len = len.checked_add(k.saturating_sub(s)).ok_or_else(err)?;
        Ok((k - 1, len - (k - 1)))
    }
}

/// Folds the output of a Circular transposed convolution periodically onto
/// `input * stride` positions per spatial axis, as Flax's ConvTranspose does.
/// Returns the folded array and, per axis, `(axis, unfolded length, offset)`.
#[allow(clippy::type_complexity)]
fn fold<E: Element>(
    mut y: ArrayD<E>,
    x_shape: &[usize],
    strides: &[usize],
    transpose_kernel: bool,
) -> Result<(ArrayD<E>, Vec<(usize, usize, usize)>)> {
    let mut folds = Vec::with_capacity(strides.len());
    for (d, &s) in strides.iter().enumerate() {
        // Flax divides by this length (and raises on an empty axis).
        let scaled = x_shape[d + 1]
            .checked_mul(s)
            .filter(|&n| n > 0 && n <= isize::MAX as usize)
            .ok_or_else(|| {
                shape_err(
                    "x",
                    "non-empty spatial axes (of at most isize::MAX / stride) for Circular padding",
                    x_shape,
                )
            })?;
        let y_dim = y.shape()[d + 1];
        let diff = (scaled as isize - y_dim as isize).rem_euclid(2 * scaled as isize) as usize;
        let lo = if transpose_kernel {
            diff / 2
        } else {
            diff.div_ceil(2)
        };
        let mut shape = y.shape().to_vec();
        shape[d + 1] = scaled;
        let mut folded = try_zeros::<E>("conv_transpose output", &shape)?;
        for t in 0..y_dim {
            let mut dst = folded.index_axis_mut(Axis(d + 1), (t + lo) % scaled);
            dst += &y.index_axis(Axis(d + 1), t);
        }
        folds.push((d, y_dim, lo));
        y = folded;
    }
    Ok((y, folds))
}

/// The transpose of one fold: unfolded position `t` reads folded `(t + lo) % n`.
fn unfold<E: Element>(g: &ArrayD<E>, d: usize, y_dim: usize, lo: usize) -> ArrayD<E> {
    let n = g.shape()[d + 1];
    let mut shape = g.shape().to_vec();
    shape[d + 1] = y_dim;
    let mut out = ArrayD::zeros(IxDyn(&shape));
    for t in 0..y_dim {
        out.index_axis_mut(Axis(d + 1), t)
            .assign(&g.index_axis(Axis(d + 1), (t + lo) % n));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(shape: &[usize], v: &[f32]) -> Tensor {
        Tensor::from_shape_vec(shape, v.to_vec()).expect("shape")
    }

    fn v(a: &Tensor) -> Vec<f32> {
        a.array().iter().copied().collect()
    }

    #[test]
    fn same_padding_and_strides_1d() -> Result<()> {
        let x = t(&[4, 1], &[1.0, 2.0, 3.0, 4.0]);
        let k = Tensor::ones(&[3, 1, 1]);
        // No batch axis: Flax adds and removes one.
        let y = x.conv_general(&k, &ConvOptions::default())?;
        assert_eq!(y.shape(), &[4, 1]);
        assert_eq!(v(&y), vec![3.0, 6.0, 9.0, 7.0]);
        let o = |strides: Vec<usize>, padding| ConvOptions {
            strides,
            padding,
            ..Default::default()
        };
        assert_eq!(
            v(&x.conv_general(&k, &o(vec![2], Padding::Same))?),
            vec![6.0, 7.0]
        );
        let circ = x.conv_general(&k, &o(vec![], Padding::Circular))?;
        assert_eq!(v(&circ), vec![7.0, 6.0, 9.0, 8.0]);
        let causal = x.conv_general(&k, &o(vec![], Padding::Causal))?;
        assert_eq!(v(&causal), vec![1.0, 3.0, 6.0, 9.0]);
        Ok(())
    }

    #[test]
    fn groups_keep_channels_apart() -> Result<()> {
        let x = t(&[1, 1, 2], &[1.0, 10.0]);
        let k = t(&[1, 1, 2], &[2.0, 3.0]);
        let o = ConvOptions {
            feature_group_count: 2,
            ..Default::default()
        };
        assert_eq!(v(&x.conv_general(&k, &o)?), vec![2.0, 30.0]);
        Ok(())
    }

    #[test]
    fn non_standard_layout_input() -> Result<()> {
        // A transposed view goes through a row-major copy, same result.
        let x = t(&[1, 2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let xt = Tensor::new(x.array().clone().reversed_axes());
        let std = Tensor::new(xt.array().as_standard_layout().into_owned());
        let k = Tensor::ones(&[1, 1, 1]);
        let o = ConvOptions::default();
        assert_eq!(xt.conv_general(&k, &o)?, std.conv_general(&k, &o)?);
        Ok(())
    }

    #[test]
    fn shape_errors() {
        let x = Tensor::zeros(&[1, 4, 3]);
        let k = Tensor::zeros(&[3, 2, 1]);
        let err = x
            .conv_general(&k, &ConvOptions::default())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("shape mismatch at kernel: expected (3, 3, 1) (in_features 3 / feature_group_count 1), found (3, 2, 1)")
        );
        assert!(x
            .conv_general(&Tensor::zeros(&[3, 3]), &ConvOptions::default())
            .is_err());
        let k5 = Tensor::zeros(&[1, 1, 1, 3, 1]);
        assert!(x.conv_general(&k5, &ConvOptions::default()).is_err());
        let k = Tensor::zeros(&[3, 3, 2]);
        let bad = |o: ConvOptions| x.conv_general(&k, &o).is_err();
        assert!(bad(ConvOptions {
            strides: vec![1, 1],
            ..Default::default()
        }));
        assert!(bad(ConvOptions {
            kernel_dilation: vec![0],
            ..Default::default()
        }));
        assert!(bad(ConvOptions {
            feature_group_count: 0,
            ..Default::default()
        }));
        assert!(bad(ConvOptions {
            feature_group_count: 3,
            ..Default::default()
        }));
        assert!(bad(ConvOptions {
            padding: Padding::Explicit(vec![]),
            ..Default::default()
        }));
        assert!(bad(ConvOptions {
            input_dilation: vec![2],
            ..Default::default()
        }));
        let x2 = Tensor::zeros(&[1, 4, 4, 3]);
        let causal = ConvOptions {
            padding: Padding::Causal,
            ..Default::default()
        };
        assert!(x2
            .conv_general(&Tensor::zeros(&[1, 1, 3, 2]), &causal)
            .is_err());
        let tr = |o: ConvTransposeOptions| x.conv_transpose(&k, &o).is_err();
        assert!(tr(ConvTransposeOptions {
            padding: Padding::Reflect,
            ..Default::default()
        }));
        assert!(tr(ConvTransposeOptions {
            strides: vec![0],
            ..Default::default()
        }));
        let kt = Tensor::zeros(&[3, 2, 2]);
        assert!(x
            .conv_transpose(&kt, &ConvTransposeOptions::default())
            .is_err());
    }
}
