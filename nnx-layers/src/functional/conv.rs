//! N-D convolution in Flax's channels-last layout, by im2col and one GEMM per
//! feature group.

use std::mem::size_of;

use ndarray::{
    linalg::general_mat_mul, ArrayBase, ArrayD, ArrayViewD, Axis, Data, Dimension, Ix2, Slice,
};
use nnx_core::{Error, Result};

use super::{fmt_tuple_usize, shape_err, try_from_shape_fn, try_zeros, Real};
use crate::support::check_alloc;

/// Padding of a convolution or pooling window, as Flax spells it.
///
/// ```
/// use nnx_layers::functional::Padding;
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

/// Options of [`conv_general`], defaulting to Flax's Conv defaults.
///
/// Empty vectors mean 1 along every spatial axis, a single value applies to
/// every axis.
///
/// ```
/// use nnx_layers::functional::{ConvOptions, Padding};
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

/// Options of [`conv_transpose`], defaulting to Flax's ConvTranspose defaults.
///
/// ```
/// use nnx_layers::functional::ConvTransposeOptions;
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
/// value applies to every axis (as Flax's `int` arguments do).
pub(crate) fn per_axis(what: &str, v: &[usize], n: usize) -> Result<Vec<usize>> {
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

/// Flattens `x` to exactly one leading batch axis; returns it and the batch shape.
fn flatten_batch<'a, T: Real>(
    arg: &str,
    x: &'a ArrayViewD<'a, T>,
    nsp: usize,
) -> Result<(ArrayD<T>, Vec<usize>)> {
    if x.ndim() < nsp + 1 {
        return Err(shape_err(
            arg,
            format!("(batch..., {nsp} spatial axes..., features)"),
            x.shape(),
        ));
    }
    let nb = x.ndim() - nsp - 1;
    let batch: Vec<usize> = x.shape()[..nb].to_vec();
    let mut flat = vec![batch.iter().product()];
    flat.extend_from_slice(&x.shape()[nb..]);
    let owned = x.as_standard_layout().into_owned();
    let r = owned
        .into_shape_with_order(flat)
        .map_err(|_| shape_err(arg, "a reshapable array", x.shape()))?;
    Ok((r, batch))
}

/// Pads the spatial axes of `(batch, spatial..., C)` by index remapping
/// (`wrap` when `circular`, numpy `reflect` otherwise). An empty axis has
/// nothing to wrap or reflect: an error, as in numpy.
fn remap_pad<T: Real>(x: &ArrayD<T>, pads: &[(usize, usize)], circular: bool) -> Result<ArrayD<T>> {
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
    let nsp = pads.len();
    let src_shape = x.shape().to_vec();
    try_from_shape_fn(what, &shape, |ix| {
        let mut src: Vec<usize> = ix.slice().to_vec();
        for d in 0..nsp {
            let n = src_shape[d + 1] as isize;
            let i = src[d + 1] as isize - pads[d].0 as isize;
            src[d + 1] = if circular {
                i.rem_euclid(n) as usize
            } else if n == 1 {
                0
            } else {
                let period = 2 * (n - 1);
                let m = i.rem_euclid(period);
                (if m >= n { period - m } else { m }) as usize
            };
        }
        x[src.as_slice()]
    })
}

/// Output rows per im2col tile: large enough that each GEMM is worth splitting
/// across threads (ndarray's `matrixmultiply-threading`), small enough that the
/// im2col buffer stays a few MB. Measured on 2 cores: 4096 beat 256 and 1024.
const CONV_TILE_ROWS: usize = 4096;

/// Core: `x` is `(batch, spatial..., C)`, kernel `(spatial..., C/groups, out)`.
#[allow(clippy::too_many_arguments)]
fn conv_core<T: Real>(
    x: &ArrayD<T>,
    kernel: &ArrayViewD<'_, T>,
    strides: &[usize],
    pads: &[(usize, usize)],
    lhs_dil: &[usize],
    rhs_dil: &[usize],
    groups: usize,
) -> Result<ArrayD<T>> {
    let nsp = strides.len();
    let b = x.shape()[0];
    let in_sp = &x.shape()[1..=nsp];
    let c = x.shape()[nsp + 1];
    let ksp = &kernel.shape()[..nsp];
    let cin_g = kernel.shape()[nsp];
    let cout = kernel.shape()[nsp + 1];
    let cout_g = cout / groups;
    let mut out_sp = Vec::with_capacity(nsp);
    // table[d][o * k + kk] = input index read by output o, kernel tap kk.
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
                let ok = p >= 0 && (p as usize) < dil_in && (p as usize).is_multiple_of(lhs_dil[d]);
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
    let mut out_shape = vec![b];
    out_shape.extend_from_slice(&out_sp);
    out_shape.push(cout);
    // Checked before any product of the output sizes is taken.
    check_alloc("conv output", &out_shape, size_of::<T>())?;
    let n_out: usize = out_sp.iter().product();
    let n_k: usize = ksp.iter().product();
    // Row-major strides of the input's spatial axes, in elements of C.
    let mut in_stride = vec![1usize; nsp];
    for d in (0..nsp.saturating_sub(1)).rev() {
        in_stride[d] = in_stride[d + 1] * in_sp[d + 1];
    }
    let in_sp_len: usize = in_sp.iter().product();
    let xs = x.as_slice().unwrap_or(&[]);
    let kernel_std = kernel.as_standard_layout();
    let k2 = kernel_std
        .view()
        .into_shape_with_order((n_k * cin_g, cout))
        .map_err(|_| shape_err("kernel", "a reshapable kernel", kernel.shape()))?;
    let rows = b * n_out;
    let cols = n_k * cin_g;
    let mut out = try_zeros::<T>("conv output", &[rows, cout])?
        .into_dimensionality::<Ix2>()
        .map_err(|_| shape_err("output", fmt_tuple_usize(&[rows, cout]), &[]))?;
    // The im2col matrix is built and multiplied a tile of output rows at a time, so
    // that it stays in cache between being written and being packed by the GEMM
    // (the whole matrix is n_k times the input, far larger than any cache).
    let tile = CONV_TILE_ROWS.min(rows.max(1));
    let mut col = vec![T::zero(); tile * cols];
    // Each tap's kernel multi-index, and below each row's output position advanced
    // like an odometer: integer divisions per tap and per row were most of the
    // im2col's time.
    let mut taps = vec![0usize; n_k * nsp];
    for (kp, tap) in taps.chunks_exact_mut(nsp).enumerate() {
        let mut rest = kp;
        for d in (0..nsp).rev() {
            tap[d] = rest % ksp[d];
            rest /= ksp[d];
        }
    }
    let mut o_ix = vec![0usize; nsp];
    for g in 0..groups {
        let kg = k2.slice_axis(Axis(1), Slice::from(g * cout_g..(g + 1) * cout_g));
        for r0 in (0..rows).step_by(tile) {
            let r1 = (r0 + tile).min(rows);
            let (mut bi, mut rest) = (r0 / n_out, r0 % n_out);
            for d in (0..nsp).rev() {
                o_ix[d] = rest % out_sp[d];
                rest /= out_sp[d];
            }
            for row in col.chunks_exact_mut(cols).take(r1 - r0) {
                // Taps reading consecutive input (neighbours along the last axis,
                // when groups == 1) are copied as one run of (src, dst, len).
                let mut run: Option<(usize, usize, usize)> = None;
                // Taps come in groups along the last kernel axis that share the
                // other axes' offset, computed once per group.
                let last = nsp - 1;
                let kl = ksp[last];
                let last_ix = &table[last][o_ix[last] * kl..][..kl];
                for (grp, tap) in taps.chunks_exact((nsp * kl).max(1)).enumerate() {
                    // The input offset of the other axes, or None in the padding.
                    let outer = (0..last).try_fold(0, |off, d| {
                        table[d][o_ix[d] * ksp[d] + tap[d]].map(|i| off + i * in_stride[d])
                    });
                    for (kk, &li) in last_ix.iter().enumerate() {
                        let dst = (grp * kl + kk) * cin_g;
                        match outer.zip(li) {
                            Some((off, i)) => {
                                let src = (bi * in_sp_len + off + i) * c + g * cin_g;
                                run = match run {
                                    Some((s, d, l)) if s + l == src && d + l == dst => {
                                        Some((s, d, l + cin_g))
                                    }
                                    Some((s, d, l)) => {
                                        row[d..d + l].copy_from_slice(&xs[s..s + l]);
                                        Some((src, dst, cin_g))
                                    }
                                    None => Some((src, dst, cin_g)),
                                };
                            }
                            None => row[dst..dst + cin_g].fill(T::zero()),
                        }
                    }
                }
                if let Some((s, d, l)) = run {
                    row[d..d + l].copy_from_slice(&xs[s..s + l]);
                }
                let mut d = nsp;
                loop {
                    if d == 0 {
                        bi += 1;
                        break;
                    }
                    d -= 1;
                    o_ix[d] += 1;
                    if o_ix[d] < out_sp[d] {
                        break;
                    }
                    o_ix[d] = 0;
                }
            }
            let colm = ndarray::ArrayView2::from_shape((r1 - r0, cols), &col[..(r1 - r0) * cols])
                .map_err(|_| shape_err("x", "a contiguous input", x.shape()))?;
            let mut og = out.slice_each_axis_mut(|ax| match ax.axis.index() {
                0 => Slice::from(r0..r1),
                _ => Slice::from(g * cout_g..(g + 1) * cout_g),
            });
            general_mat_mul(T::one(), &colm, &kg, T::zero(), &mut og);
        }
    }
    out.into_shape_with_order(out_shape.clone())
        .map(|a| a.into_dyn())
        .map_err(|_| shape_err("output", fmt_tuple_usize(&out_shape), &[rows, cout]))
}

fn check_kernel<T: Real>(kernel: &ArrayViewD<'_, T>) -> Result<usize> {
    if kernel.ndim() < 3 {
        return Err(shape_err(
            "kernel",
            "(spatial..., in_features, out_features) with >= 1 spatial axis",
            kernel.shape(),
        ));
    }
    Ok(kernel.ndim() - 2)
}

fn restore_batch<T: Real>(y: ArrayD<T>, batch: &[usize]) -> Result<ArrayD<T>> {
    let mut shape = batch.to_vec();
    shape.extend_from_slice(&y.shape()[1..]);
    let found = y.shape().to_vec();
    y.into_shape_with_order(shape.clone())
        .map_err(|_| shape_err("output", fmt_tuple_usize(&shape), &found))
}

/// Convolution as `flax.nnx.Conv` computes it (before adding its bias):
/// `x` is `(batch..., spatial..., in_features)` with any number (including
/// zero) of batch axes, `kernel` is `(spatial..., in_features / groups,
/// out_features)`; the result is `(batch..., out_spatial..., out_features)`.
///
/// ```
/// use ndarray::{Array, ArrayD, IxDyn};
/// use nnx_layers::functional::{conv_general, ConvOptions, Padding};
/// // A 3-tap box filter over a length-4 signal, one channel.
/// let x = Array::from_shape_vec((1, 4, 1), vec![1.0f32, 2.0, 3.0, 4.0])?.into_dyn();
/// let k = ArrayD::<f32>::ones(IxDyn(&[3, 1, 1]));
/// let y = conv_general(&x, &k, &ConvOptions { padding: Padding::Valid, ..Default::default() })?;
/// assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![6.0, 9.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn conv_general<T: Real, S: Data<Elem = T>, S2: Data<Elem = T>, D: Dimension, D2: Dimension>(
    x: &ArrayBase<S, D>,
    kernel: &ArrayBase<S2, D2>,
    opts: &ConvOptions,
) -> Result<ArrayD<T>> {
    let kernel = kernel.view().into_dyn();
    let nsp = check_kernel(&kernel)?;
    let xv = x.view().into_dyn();
    let (mut xf, batch) = flatten_batch("x", &xv, nsp)?;
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
    let c = xf.shape()[nsp + 1];
    let cin_g = kernel.shape()[nsp];
    let cout = kernel.shape()[nsp + 1];
    if groups == 0 || !cout.is_multiple_of(groups) {
        return Err(Error::invalid_argument(
            "conv feature_group_count",
            format!("a positive divisor of out_features {cout}"),
            groups.to_string(),
        ));
    }
    if cin_g * groups != c {
        let mut want = kernel.shape().to_vec();
        want[nsp] = c / groups;
        return Err(shape_err(
            "kernel",
            format!(
                "{} (in_features {c} / feature_group_count {groups})",
                fmt_tuple_usize(&want)
            ),
            kernel.shape(),
        ));
    }
    let dilated_k: Vec<usize> = (0..nsp)
        .map(|d| dilate("conv kernel_dilation", kernel.shape()[d].max(1), rhs[d]))
        .collect::<Result<_>>()?;
    let in_sp = xf.shape()[1..=nsp].to_vec();
    let pads = match &opts.padding {
        Padding::Circular | Padding::Reflect => {
            let pre: Vec<(usize, usize)> =
                dilated_k.iter().map(|&k| ((k - 1) / 2, k / 2)).collect();
            xf = remap_pad(&xf, &pre, opts.padding == Padding::Circular)?;
            vec![(0, 0); nsp]
        }
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
        p => resolve_pads("conv padding", p, &in_sp, &dilated_k, &strides)?,
    };
    let y = conv_core(&xf, &kernel, &strides, &pads, &lhs, &rhs, groups)?;
    restore_batch(y, &batch)
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

/// Transposed convolution as `flax.nnx.ConvTranspose` computes it (before
/// its bias), i.e. `jax.lax.conv_transpose`: a convolution of the input
/// dilated by `strides`, with the padding derived from the forward conv's.
/// Shapes as in [`conv_general`]; the kernel is `(spatial..., in, out)`.
///
/// ```
/// use ndarray::{Array, ArrayD, IxDyn};
/// use nnx_layers::functional::{conv_transpose, ConvTransposeOptions, Padding};
/// let x = Array::from_shape_vec((1, 2, 1), vec![1.0f32, 2.0])?.into_dyn();
/// let k = ArrayD::<f32>::ones(IxDyn(&[2, 1, 1]));
/// let o = ConvTransposeOptions { strides: vec![2], padding: Padding::Valid, ..Default::default() };
/// let y = conv_transpose(&x, &k, &o)?;
/// assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![1.0, 1.0, 2.0, 2.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn conv_transpose<
    T: Real,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
    D2: Dimension,
>(
    x: &ArrayBase<S, D>,
    kernel: &ArrayBase<S2, D2>,
    opts: &ConvTransposeOptions,
) -> Result<ArrayD<T>> {
    let kv = kernel.view().into_dyn();
    let nsp = check_kernel(&kv)?;
    let xv = x.view().into_dyn();
    let (xf, batch) = flatten_batch("x", &xv, nsp)?;
    let strides = per_axis("conv_transpose strides", &opts.strides, nsp)?;
    let rhs = per_axis("conv_transpose kernel_dilation", &opts.kernel_dilation, nsp)?;
    let mut k = kv.to_owned();
    if opts.transpose_kernel {
        for d in 0..nsp {
            k.invert_axis(Axis(d));
        }
        k.swap_axes(nsp, nsp + 1);
    }
    let c = xf.shape()[nsp + 1];
    if k.shape()[nsp] != c {
        return Err(shape_err(
            "kernel",
            format!("in_features {c} on the kernel's input-feature axis"),
            kv.shape(),
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
    let mut y = conv_core(&xf, &k.view(), &ones, &pads, &strides, &rhs, 1)?;
    if opts.padding == Padding::Circular {
        // Fold the output periodically onto input * stride positions.
        for d in 0..nsp {
            // Flax divides by this length (and raises on an empty axis).
            let scaled = xf.shape()[d + 1]
                .checked_mul(strides[d])
                .filter(|&n| n > 0 && n <= isize::MAX as usize)
                .ok_or_else(|| {
                    shape_err(
                        "x",
                        "non-empty spatial axes (of at most isize::MAX / stride) for Circular padding",
                        xf.shape(),
                    )
                })?;
            let y_dim = y.shape()[d + 1];
            let diff = (scaled as isize - y_dim as isize).rem_euclid(2 * scaled as isize) as usize;
            let lo = if opts.transpose_kernel {
                diff / 2
            } else {
                diff.div_ceil(2)
            };
            let mut shape = y.shape().to_vec();
            shape[d + 1] = scaled;
            let mut folded = try_zeros::<T>("conv_transpose output", &shape)?;
            for t in 0..y_dim {
                let mut dst = folded.index_axis_mut(Axis(d + 1), (t + lo) % scaled);
                dst += &y.index_axis(Axis(d + 1), t);
            }
            y = folded;
        }
    }
    restore_batch(y, &batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, ArrayD, IxDyn};

    fn v(a: &ArrayD<f64>) -> Vec<f64> {
        a.iter().copied().collect()
    }

    #[test]
    fn same_padding_and_strides_1d() -> Result<()> {
        let x = Array::from_shape_vec((4, 1), vec![1.0f64, 2.0, 3.0, 4.0])
            .map_err(|_| Error::invalid_argument("t", "", ""))?;
        let k = ArrayD::<f64>::ones(IxDyn(&[3, 1, 1]));
        // No batch axis: Flax adds and removes one.
        let y = conv_general(&x, &k, &ConvOptions::default())?;
        assert_eq!(y.shape(), &[4, 1]);
        assert_eq!(v(&y), vec![3.0, 6.0, 9.0, 7.0]);
        let y = conv_general(
            &x,
            &k,
            &ConvOptions {
                strides: vec![2],
                ..Default::default()
            },
        )?;
        assert_eq!(v(&y), vec![6.0, 7.0]);
        let y = conv_general(
            &x,
            &k,
            &ConvOptions {
                padding: Padding::Circular,
                ..Default::default()
            },
        )?;
        assert_eq!(v(&y), vec![7.0, 6.0, 9.0, 8.0]);
        let y = conv_general(
            &x,
            &k,
            &ConvOptions {
                padding: Padding::Causal,
                ..Default::default()
            },
        )?;
        assert_eq!(v(&y), vec![1.0, 3.0, 6.0, 9.0]);
        Ok(())
    }

    #[test]
    fn groups_keep_channels_apart() -> Result<()> {
        let x = Array::from_shape_vec((1, 1, 2), vec![1.0f64, 10.0])
            .map_err(|_| Error::invalid_argument("t", "", ""))?;
        let k = Array::from_shape_vec((1, 1, 2), vec![2.0f64, 3.0])
            .map_err(|_| Error::invalid_argument("t", "", ""))?;
        let o = ConvOptions {
            feature_group_count: 2,
            ..Default::default()
        };
        assert_eq!(v(&conv_general(&x, &k, &o)?), vec![2.0, 30.0]);
        Ok(())
    }

    #[test]
    fn shape_errors() {
        let x = ArrayD::<f32>::zeros(IxDyn(&[1, 4, 3]));
        let k = ArrayD::<f32>::zeros(IxDyn(&[3, 2, 1]));
        let err = conv_general(&x, &k, &ConvOptions::default())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("shape mismatch at kernel: expected (3, 3, 1) (in_features 3 / feature_group_count 1), found (3, 2, 1)")
        );
        let k1 = ArrayD::<f32>::zeros(IxDyn(&[3, 3]));
        assert!(conv_general(&x, &k1, &ConvOptions::default()).is_err());
        let k = ArrayD::<f32>::zeros(IxDyn(&[1, 1, 1, 3, 1]));
        assert!(conv_general(&x, &k, &ConvOptions::default()).is_err());
        let k = ArrayD::<f32>::zeros(IxDyn(&[3, 3, 2]));
        let bad = |o: ConvOptions| conv_general(&x, &k, &o).is_err();
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
        let k2 = ArrayD::<f32>::zeros(IxDyn(&[1, 1, 3, 2]));
        let x2 = ArrayD::<f32>::zeros(IxDyn(&[1, 4, 4, 3]));
        assert!(conv_general(
            &x2,
            &k2,
            &ConvOptions {
                padding: Padding::Causal,
                ..Default::default()
            }
        )
        .is_err());
        let t = |o: ConvTransposeOptions| conv_transpose(&x, &k, &o).is_err();
        assert!(t(ConvTransposeOptions {
            padding: Padding::Reflect,
            ..Default::default()
        }));
        assert!(t(ConvTransposeOptions {
            strides: vec![0],
            ..Default::default()
        }));
        let kt = ArrayD::<f32>::zeros(IxDyn(&[3, 2, 2]));
        assert!(conv_transpose(&x, &kt, &ConvTransposeOptions::default()).is_err());
    }
}
