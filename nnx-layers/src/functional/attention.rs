//! Dot-product attention and attention masks, as `flax.nnx` computes them
//! (`flax/nnx/nn/attention.py`).

use ndarray::{
    linalg::general_mat_mul, ArrayBase, ArrayD, ArrayViewD, Axis, CowArray, Data, Dimension, IxDyn,
    Zip,
};
use nnx_core::{Error, Result};

use super::{broadcast_shapes, fmt_tuple_usize, shape_err, softmax_lanes_in_place, Real};

/// Dropout of the attention weights with a keep-mask drawn by the caller
/// (the RNG lives with the module): kept weights are scaled by
/// `1 / (1 - rate)`, dropped ones zeroed.
///
/// `keep` must broadcast to the weights' shape `[batch..., heads, q_len,
/// kv_len]`; Flax's default `broadcast_dropout=True` draws it with shape
/// `[1..., q_len, kv_len]`.
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
/// use nnx_layers::functional::AttentionDropout;
/// let keep = ArrayD::from_elem(IxDyn(&[1, 1, 2, 2]), true);
/// let d = AttentionDropout { keep: &keep, rate: 0.1 };
/// assert_eq!(d.rate, 0.1);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AttentionDropout<'a> {
    /// `true` where a weight is kept.
    pub keep: &'a ArrayD<bool>,
    /// The dropout rate in `[0, 1)`.
    pub rate: f64,
}

/// Optional inputs of [`dot_product_attention`] and
/// [`dot_product_attention_weights`].
///
/// ```
/// use nnx_layers::functional::AttentionOptions;
/// let o = AttentionOptions::<f32> { is_causal: true, ..Default::default() };
/// assert!(o.mask.is_none());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct AttentionOptions<'a, T> {
    /// Added to the logits; broadcastable to `[batch..., heads, q_len, kv_len]`.
    pub bias: Option<&'a ArrayD<T>>,
    /// `false` masks a logit out (set to the dtype's most negative value);
    /// broadcastable to `[batch..., heads, q_len, kv_len]`.
    pub mask: Option<&'a ArrayD<bool>>,
    /// Also apply a lower-triangular (causal) mask.
    pub is_causal: bool,
    /// Dropout of the weights; `None` is deterministic.
    pub dropout: Option<AttentionDropout<'a>>,
}

impl<T> Default for AttentionOptions<'_, T> {
    fn default() -> Self {
        AttentionOptions {
            bias: None,
            mask: None,
            is_causal: false,
            dropout: None,
        }
    }
}

/// `a` as `[batch, len, heads, depth]` in standard layout; borrowed (no copy)
/// when `a` already is, as a decode cache or a projection's output is.
fn to_4d<'a, T: Real>(arg: &str, a: &'a ArrayViewD<'_, T>) -> Result<CowArray<'a, T, IxDyn>> {
    let nd = a.ndim();
    let b: usize = a.shape()[..nd - 3].iter().product();
    let shape = [b, a.shape()[nd - 3], a.shape()[nd - 2], a.shape()[nd - 1]];
    a.as_standard_layout()
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|_| shape_err(arg, fmt_tuple_usize(&shape), a.shape()))
}

/// Up to this many query positions, the attention products run as direct
/// dot / axpy loops over contiguous depth rows: a GEMM per (batch, head) would
/// pack the whole key or value head for a row or two of output (decode steps).
const DIRECT_MAX_Q_LEN: usize = 4;

/// `sum(a * b)` with eight independent partial sums, so that it vectorizes.
fn dot<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .fold(T::zero(), |s, (&x, &y)| s + x * y);
    for (x, y) in ac.zip(bc) {
        for ((s, &x), &y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().fold(tail, |s, &v| s + v)
}

fn check_qkv(arrays: &[(&str, &[usize])]) -> Result<()> {
    let (n0, s0) = arrays[0];
    for &(n, s) in arrays {
        if s.len() < 3 {
            return Err(shape_err(n, "[batch..., length, num_heads, depth]", s));
        }
        if s.len() != s0.len() || s[..s.len() - 3] != s0[..s0.len() - 3] {
            let mut want = s0[..s0.len().saturating_sub(3)].to_vec();
            want.extend_from_slice(&s[s.len() - 3..]);
            return Err(shape_err(
                n,
                format!("{} (batch axes of {n0})", fmt_tuple_usize(&want)),
                s,
            ));
        }
    }
    Ok(())
}

fn broadcast_to<'a, A>(arg: &str, a: &'a ArrayD<A>, shape: &[usize]) -> Result<ArrayViewD<'a, A>> {
    a.broadcast(IxDyn(shape)).ok_or_else(|| {
        shape_err(
            arg,
            format!("a shape broadcastable to {}", fmt_tuple_usize(shape)),
            a.shape(),
        )
    })
}

/// Attention weights `softmax(q k^T / sqrt(depth) + bias, masked)` of shape
/// `[batch..., num_heads, q_len, kv_len]`, from `query [batch..., q_len,
/// num_heads, depth]` and `key [batch..., kv_len, kv_heads, depth]`.
///
/// Grouped-query attention as in Flax 0.12: when `kv_heads` divides
/// `num_heads`, query head `h` attends with key head `h / (num_heads /
/// kv_heads)` (consecutive query heads share a key head).
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
/// use nnx_layers::functional::{dot_product_attention_weights, AttentionOptions};
/// let q = ArrayD::<f32>::zeros(IxDyn(&[1, 2, 1, 4]));
/// let k = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 1, 4]));
/// let w = dot_product_attention_weights(&q, &k, &AttentionOptions::default())?;
/// assert_eq!(w.shape(), &[1, 1, 2, 3]);
/// assert!((w[[0, 0, 0, 0]] - 1.0 / 3.0).abs() < 1e-6);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn dot_product_attention_weights<
    T: Real,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    D: Dimension,
>(
    query: &ArrayBase<S, D>,
    key: &ArrayBase<S2, D>,
    opts: &AttentionOptions<'_, T>,
) -> Result<ArrayD<T>> {
    let q = query.view().into_dyn();
    let k = key.view().into_dyn();
    check_qkv(&[("query", q.shape()), ("key", k.shape())])?;
    let nd = q.ndim();
    let (ql, hq, depth) = (q.shape()[nd - 3], q.shape()[nd - 2], q.shape()[nd - 1]);
    let (kl, hk) = (k.shape()[nd - 3], k.shape()[nd - 2]);
    if k.shape()[nd - 1] != depth {
        let mut want = k.shape().to_vec();
        want[nd - 1] = depth;
        return Err(shape_err(
            "key",
            format!("{} (query's depth)", fmt_tuple_usize(&want)),
            k.shape(),
        ));
    }
    if hk == 0 || hq % hk != 0 {
        return Err(Error::invalid_argument(
            "dot_product_attention_weights",
            format!("key heads dividing the {hq} query heads"),
            format!("{hk} key heads"),
        ));
    }
    let rep = hq / hk;
    let scale = T::from_f64((depth as f64).sqrt());
    let q4 = to_4d("query", &q)?.mapv(|v| v / scale);
    let k4 = to_4d("key", &k)?;
    let nb = q4.shape()[0];
    let mut w = ArrayD::<T>::zeros(IxDyn(&[nb, hq, ql, kl]));
    match (q4.as_slice(), k4.as_slice(), w.as_slice_mut()) {
        (Some(qs), Some(ks), Some(ws)) if ql <= DIRECT_MAX_Q_LEN => {
            // w[b, h, i, j] = q[b, i, h, :] . k[b, j, h / rep, :], walking the
            // (large, e.g. a decode cache) key in memory order.
            for b in 0..nb {
                for i in 0..ql {
                    for j in 0..kl {
                        let krow = &ks[(b * kl + j) * hk * depth..][..hk * depth];
                        for h in 0..hq {
                            let qrow = &qs[((b * ql + i) * hq + h) * depth..][..depth];
                            ws[((b * hq + h) * ql + i) * kl + j] =
                                dot(qrow, &krow[h / rep * depth..][..depth]);
                        }
                    }
                }
            }
        }
        _ => {
            for b in 0..nb {
                let qb = q4.index_axis(Axis(0), b);
                let kb = k4.index_axis(Axis(0), b);
                let mut wb = w.index_axis_mut(Axis(0), b);
                for h in 0..hq {
                    let qh = qb
                        .index_axis(Axis(1), h)
                        .into_dimensionality::<ndarray::Ix2>();
                    let kh = kb
                        .index_axis(Axis(1), h / rep)
                        .into_dimensionality::<ndarray::Ix2>();
                    let wh = wb
                        .index_axis_mut(Axis(0), h)
                        .into_dimensionality::<ndarray::Ix2>();
                    if let (Ok(qh), Ok(kh), Ok(mut wh)) = (qh, kh, wh) {
                        general_mat_mul(T::one(), &qh, &kh.t(), T::zero(), &mut wh);
                    }
                }
            }
        }
    }
    let mut shape = q.shape()[..nd - 3].to_vec();
    shape.extend_from_slice(&[hq, ql, kl]);
    let mut w = w
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|_| shape_err("query", fmt_tuple_usize(&shape), q.shape()))?;
    if let Some(bias) = opts.bias {
        w += &broadcast_to("bias", bias, &shape)?;
    }
    if opts.mask.is_some() || opts.is_causal {
        let neg = T::finfo_min();
        if let Some(mask) = opts.mask {
            let m = broadcast_to("mask", mask, &shape)?;
            Zip::from(&mut w).and(&m).for_each(|v, &keep| {
                if !keep {
                    *v = neg;
                }
            });
        }
        if opts.is_causal {
            let r = shape.len();
            w.indexed_iter_mut().for_each(|(ix, v)| {
                if ix[r - 1] > ix[r - 2] {
                    *v = neg;
                }
            });
        }
    }
    let last = w.ndim() - 1;
    softmax_lanes_in_place(&mut w, last);
    if let Some(d) = opts.dropout {
        if !(0.0..1.0).contains(&d.rate) {
            return Err(Error::invalid_argument(
                "attention dropout rate",
                "a rate in [0, 1)",
                d.rate.to_string(),
            ));
        }
        let keep = broadcast_to("dropout keep", d.keep, &shape)?;
        let mult = T::one() / T::from_f64(1.0 - d.rate);
        Zip::from(&mut w).and(&keep).for_each(|v, &k| {
            *v = if k { *v * mult } else { T::zero() };
        });
    }
    Ok(w)
}

/// Dot-product attention `weights @ value` of shape `[batch..., q_len,
/// num_heads, v_depth]`, with `value [batch..., kv_len, v_heads, v_depth]`;
/// see [`dot_product_attention_weights`] for the weights, masking and
/// grouped-query rules (value heads are shared the same way).
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
/// use nnx_layers::functional::{dot_product_attention, AttentionOptions};
/// let q = ArrayD::<f32>::zeros(IxDyn(&[2, 1, 4]));
/// let k = ArrayD::<f32>::zeros(IxDyn(&[3, 1, 4]));
/// let v = ArrayD::<f32>::ones(IxDyn(&[3, 1, 5]));
/// let o = AttentionOptions { is_causal: true, ..Default::default() };
/// let y = dot_product_attention(&q, &k, &v, &o)?;
/// assert_eq!(y.shape(), &[2, 1, 5]);
/// assert!((y[[1, 0, 4]] - 1.0).abs() < 1e-6);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn dot_product_attention<
    T: Real,
    S: Data<Elem = T>,
    S2: Data<Elem = T>,
    S3: Data<Elem = T>,
    D: Dimension,
>(
    query: &ArrayBase<S, D>,
    key: &ArrayBase<S2, D>,
    value: &ArrayBase<S3, D>,
    opts: &AttentionOptions<'_, T>,
) -> Result<ArrayD<T>> {
    let v = value.view().into_dyn();
    check_qkv(&[
        ("query", query.shape()),
        ("key", key.shape()),
        ("value", v.shape()),
    ])?;
    let nd = v.ndim();
    if key.shape()[nd - 3] != v.shape()[nd - 3] {
        let mut want = v.shape().to_vec();
        want[nd - 3] = key.shape()[nd - 3];
        return Err(shape_err(
            "value",
            format!("{} (key's length)", fmt_tuple_usize(&want)),
            v.shape(),
        ));
    }
    let w = dot_product_attention_weights(query, key, opts)?;
    let (hq, ql, kl) = (w.shape()[nd - 3], w.shape()[nd - 2], w.shape()[nd - 1]);
    let (hv, dv) = (v.shape()[nd - 2], v.shape()[nd - 1]);
    if hv == 0 || hq % hv != 0 {
        return Err(Error::invalid_argument(
            "dot_product_attention",
            format!("value heads dividing the {hq} query heads"),
            format!("{hv} value heads"),
        ));
    }
    let rep = hq / hv;
    let v4 = to_4d("value", &v)?;
    let nb = v4.shape()[0];
    let w4 = w
        .into_shape_with_order(IxDyn(&[nb, hq, ql, kl]))
        .map_err(|_| shape_err("weights", "a reshapable array", &[nb, hq, ql, kl]))?;
    let mut out = ArrayD::<T>::zeros(IxDyn(&[nb, ql, hq, dv]));
    match (w4.as_slice(), v4.as_slice(), out.as_slice_mut()) {
        (Some(ws), Some(vs), Some(os)) if ql <= DIRECT_MAX_Q_LEN => {
            // out[b, i, h, :] = sum_j w[b, h, i, j] * v[b, j, h / rep, :], walking
            // the value in memory order (the sum over j stays in order).
            for b in 0..nb {
                for i in 0..ql {
                    let orow = &mut os[(b * ql + i) * hq * dv..][..hq * dv];
                    for j in 0..kl {
                        let vrow = &vs[(b * kl + j) * hv * dv..][..hv * dv];
                        for (h, oh) in orow.chunks_exact_mut(dv.max(1)).enumerate() {
                            let wj = ws[((b * hq + h) * ql + i) * kl + j];
                            for (o, &x) in oh.iter_mut().zip(&vrow[h / rep * dv..][..dv]) {
                                *o += wj * x;
                            }
                        }
                    }
                }
            }
        }
        _ => {
            for b in 0..nb {
                let wb = w4.index_axis(Axis(0), b);
                let vb = v4.index_axis(Axis(0), b);
                let mut ob = out.index_axis_mut(Axis(0), b);
                for h in 0..hq {
                    let wh = wb
                        .index_axis(Axis(0), h)
                        .into_dimensionality::<ndarray::Ix2>();
                    let vh = vb
                        .index_axis(Axis(1), h / rep)
                        .into_dimensionality::<ndarray::Ix2>();
                    let oh = ob
                        .index_axis_mut(Axis(1), h)
                        .into_dimensionality::<ndarray::Ix2>();
                    if let (Ok(wh), Ok(vh), Ok(mut oh)) = (wh, vh, oh) {
                        general_mat_mul(T::one(), &wh, &vh, T::zero(), &mut oh);
                    }
                }
            }
        }
    }
    let mut shape = query.shape()[..nd - 3].to_vec();
    shape.extend_from_slice(&[ql, hq, dv]);
    out.into_shape_with_order(IxDyn(&shape))
        .map_err(|_| shape_err("output", fmt_tuple_usize(&shape), &[nb, ql, hq, dv]))
}

/// Attention mask `pairwise_fn(query_input[..., q, None], key_input[..., None,
/// k])` of shape `[extra 1s..., batch..., 1, q_len, kv_len]`, as Flax's
/// `make_attention_mask` (Flax's default `pairwise_fn` is multiplication; for
/// padding masks use e.g. `|a, b| a > 0 && b > 0`). Batch axes broadcast.
///
/// ```
/// use ndarray::array;
/// use nnx_layers::functional::make_attention_mask;
/// let m = make_attention_mask(&array![[1, 1, 0]], &array![[1, 0]], |a: i32, b: i32| a * b > 0, 0)?;
/// assert_eq!(m.shape(), &[1, 1, 3, 2]);
/// assert!(m[[0, 0, 1, 0]] && !m[[0, 0, 1, 1]] && !m[[0, 0, 2, 0]]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn make_attention_mask<A, S, S2, D, D2, F>(
    query_input: &ArrayBase<S, D>,
    key_input: &ArrayBase<S2, D2>,
    pairwise_fn: F,
    extra_batch_dims: usize,
) -> Result<ArrayD<bool>>
where
    A: Copy,
    S: Data<Elem = A>,
    S2: Data<Elem = A>,
    D: Dimension,
    D2: Dimension,
    F: Fn(A, A) -> bool,
{
    let q = query_input.view().into_dyn();
    let k = key_input.view().into_dyn();
    if q.ndim() == 0 {
        return Err(shape_err("query_input", "[batch..., q_len]", q.shape()));
    }
    if k.ndim() == 0 {
        return Err(shape_err("key_input", "[batch..., kv_len]", k.shape()));
    }
    let qn = q.ndim();
    let kn = k.ndim();
    let qe = q.insert_axis(Axis(qn));
    let ke = k.insert_axis(Axis(kn - 1));
    let shape = broadcast_shapes(qe.shape(), ke.shape()).ok_or_else(|| {
        shape_err(
            "key_input",
            format!(
                "batch axes broadcastable with query_input's {}",
                fmt_tuple_usize(&qe.shape()[..qn - 1])
            ),
            &ke.shape()[..kn - 1],
        )
    })?;
    let qb = qe
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| shape_err("query_input", fmt_tuple_usize(&shape), qe.shape()))?;
    let kb = ke
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| shape_err("key_input", fmt_tuple_usize(&shape), ke.shape()))?;
    let mut m = Zip::from(&qb)
        .and(&kb)
        .map_collect(|&a, &b| pairwise_fn(a, b));
    let r = m.ndim();
    m.insert_axis_inplace(Axis(r - 2));
    for _ in 0..extra_batch_dims {
        m.insert_axis_inplace(Axis(0));
    }
    Ok(m)
}

/// Causal self-attention mask of shape `[extra 1s..., batch..., 1, len,
/// len]` for `x [batch..., len]` (only `x`'s shape is used), `true` where
/// the key position is not after the query position.
///
/// ```
/// use ndarray::Array2;
/// let m = nnx_layers::functional::make_causal_mask(&Array2::<f32>::zeros((1, 3)), 0)?;
/// assert_eq!(m.shape(), &[1, 1, 3, 3]);
/// assert!(m[[0, 0, 2, 1]] && !m[[0, 0, 1, 2]]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn make_causal_mask<A, S: Data<Elem = A>, D: Dimension>(
    x: &ArrayBase<S, D>,
    extra_batch_dims: usize,
) -> Result<ArrayD<bool>> {
    if x.ndim() == 0 {
        return Err(shape_err("x", "[batch..., len]", x.shape()));
    }
    let last = x.ndim() - 1;
    let idx = ArrayD::from_shape_fn(IxDyn(x.shape()), |ix| ix[last]);
    make_attention_mask(&idx, &idx, |a, b| a >= b, extra_batch_dims)
}

/// Logical AND of the given masks (skipping `None`s), which must share a
/// rank and broadcast together; `None` if no mask is given.
///
/// ```
/// use ndarray::array;
/// let a = array![[true, true]].into_dyn();
/// let b = array![[true], [false]].into_dyn();
/// let m = nnx_layers::functional::combine_masks(&[Some(&a), None, Some(&b)])?;
/// assert_eq!(m, Some(array![[true, true], [false, false]].into_dyn()));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn combine_masks(masks: &[Option<&ArrayD<bool>>]) -> Result<Option<ArrayD<bool>>> {
    let present: Vec<&ArrayD<bool>> = masks.iter().flatten().copied().collect();
    let Some(first) = present.first() else {
        return Ok(None);
    };
    let mut out = (*first).clone();
    for (i, m) in present.iter().enumerate().skip(1) {
        let arg = format!("masks[{i}]");
        if m.ndim() != out.ndim() {
            return Err(shape_err(
                &arg,
                format!("rank {} like the first mask", out.ndim()),
                m.shape(),
            ));
        }
        let shape = broadcast_shapes(out.shape(), m.shape()).ok_or_else(|| {
            shape_err(
                &arg,
                format!(
                    "a shape broadcastable with {}",
                    fmt_tuple_usize(out.shape())
                ),
                m.shape(),
            )
        })?;
        let a = broadcast_to("masks", &out, &shape)?;
        let b = broadcast_to(&arg, m, &shape)?;
        out = Zip::from(&a).and(&b).map_collect(|&x, &y| x && y);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn masked_rows_and_gqa() -> Result<()> {
        // Two query heads share one key head.
        let q =
            ArrayD::<f64>::from_shape_fn(IxDyn(&[1, 2, 2, 2]), |ix| (ix[1] + ix[2] + ix[3]) as f64);
        let k = ArrayD::<f64>::from_shape_fn(IxDyn(&[1, 2, 1, 2]), |ix| (ix[1] * 2 + ix[3]) as f64);
        let mask = array![[[[true, false], [false, false]]]].into_dyn();
        let o = AttentionOptions {
            mask: Some(&mask),
            ..Default::default()
        };
        let w = dot_product_attention_weights(&q, &k, &o)?;
        assert_eq!(w.shape(), &[1, 2, 2, 2]);
        // Row 0 keeps one logit; row 1 is fully masked: uniform, as in Flax.
        assert_eq!(w[[0, 0, 0, 0]], 1.0);
        assert_eq!(w[[0, 1, 1, 0]], 0.5);
        Ok(())
    }

    #[test]
    fn dropout_scales_kept_weights() -> Result<()> {
        let q = ArrayD::<f32>::zeros(IxDyn(&[1, 2, 1, 1]));
        let keep = array![[true, false], [true, true]].into_dyn();
        let o = AttentionOptions {
            dropout: Some(AttentionDropout {
                keep: &keep,
                rate: 0.5,
            }),
            ..Default::default()
        };
        let w = dot_product_attention_weights(&q, &q, &o)?;
        assert_eq!(
            w.iter().copied().collect::<Vec<_>>(),
            vec![1.0, 0.0, 1.0, 1.0]
        );
        let bad = AttentionOptions {
            dropout: Some(AttentionDropout {
                keep: &keep,
                rate: 1.0,
            }),
            ..Default::default()
        };
        assert!(dot_product_attention_weights(&q, &q, &bad).is_err());
        Ok(())
    }

    #[test]
    fn shape_errors() {
        let q = ArrayD::<f32>::zeros(IxDyn(&[2, 3, 4, 8]));
        let k = ArrayD::<f32>::zeros(IxDyn(&[1, 3, 4, 8]));
        let err = dot_product_attention_weights(&q, &k, &AttentionOptions::default())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("shape mismatch at key: expected (2, 3, 4, 8) (batch axes of query), found (1, 3, 4, 8)")
        );
        let ok = |s: &[usize]| ArrayD::<f32>::zeros(IxDyn(s));
        let d = AttentionOptions::default();
        assert!(dot_product_attention_weights(&ok(&[3, 4]), &ok(&[3, 4]), &d).is_err());
        assert!(dot_product_attention_weights(&q, &ok(&[2, 3, 4, 7]), &d).is_err());
        assert!(dot_product_attention_weights(&q, &ok(&[2, 3, 3, 8]), &d).is_err());
        assert!(dot_product_attention(&q, &q, &ok(&[2, 5, 4, 8]), &d).is_err());
        assert!(dot_product_attention(&q, &q, &ok(&[2, 3, 3, 8]), &d).is_err());
        let bias = ok(&[5, 3]);
        let o = AttentionOptions {
            bias: Some(&bias),
            ..Default::default()
        };
        assert!(dot_product_attention_weights(&q, &q, &o).is_err());
        let mask = ArrayD::from_elem(IxDyn(&[2, 2]), true);
        let o = AttentionOptions::<f32> {
            mask: Some(&mask),
            ..Default::default()
        };
        assert!(dot_product_attention_weights(&q, &q, &o).is_err());
        assert!(make_attention_mask(
            &array![[1, 2], [3, 4]],
            &array![[1], [2], [3]],
            |a: i32, b: i32| a == b,
            0
        )
        .is_err());
        let scalar = ndarray::arr0(1);
        assert!(make_attention_mask(&scalar, &array![1], |a: i32, b: i32| a == b, 0).is_err());
        assert!(make_attention_mask(&array![1], &scalar, |a: i32, b: i32| a == b, 0).is_err());
        assert!(make_causal_mask(&scalar, 0).is_err());
        let a = array![true].into_dyn();
        let b = array![[true]].into_dyn();
        let c = array![true, false].into_dyn();
        let e = array![true, false, true].into_dyn();
        assert!(combine_masks(&[Some(&a), Some(&b)]).is_err());
        assert!(combine_masks(&[Some(&c), Some(&e)]).is_err());
        assert!(matches!(combine_masks(&[None]), Ok(None)));
    }

    #[test]
    fn masks_extra_batch_dims() -> Result<()> {
        let m = make_causal_mask(&array![0, 0], 2)?;
        assert_eq!(m.shape(), &[1, 1, 1, 2, 2]);
        Ok(())
    }
}
