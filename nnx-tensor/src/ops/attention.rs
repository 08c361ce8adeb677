//! Dot-product attention and attention masks, as `flax.nnx` computes them
//! (`flax/nnx/nn/attention.py`), with grouped-query heads.
//!
//! Two fused ops: the weights (`softmax(q kᵀ / sqrt(depth) + bias, masked)`,
//! then dropout) and their product with the values. Every head product is one
//! call of the crate's matmul kernel over `(batch, kv_head, group)` with the key
//! or value broadcast over the group, so grouped-query attention never copies a
//! key or value head. The gradient rules are the same three head products on
//! the cotangents (`jax.vjp` of Flax's formulas, including zero gradient through
//! masked logits).

use std::sync::Arc;

use ndarray::{
    ArrayBase, ArrayD, ArrayView4, ArrayViewD, Axis, CowArray, Data, Dimension, IxDyn, Zip,
};
use nnx_core::{repr, Error, ErrorPath, Result};

use super::attention_fused::Fused;
use super::matmul::matmul_nd;
use super::{broadcast_shapes, sum_to_shape};
use crate::element::{lit, Element};
use crate::{tape, Tensor};

/// Dropout of the attention weights with a keep-mask drawn by the caller (the
/// RNG lives with the module): kept weights are scaled by `1 / (1 - rate)`,
/// dropped ones zeroed.
///
/// `keep` must broadcast to the weights' shape `[batch..., heads, q_len,
/// kv_len]`; Flax's default `broadcast_dropout=True` draws it with shape
/// `[1..., q_len, kv_len]`.
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
/// use nnx_tensor::AttentionDropout;
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
/// use nnx_tensor::AttentionOptions;
/// // The element type (of `bias`) is the inputs'; here the default, f32.
/// let o: AttentionOptions = AttentionOptions { is_causal: true, ..Default::default() };
/// assert!(o.mask.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct AttentionOptions<'a, E: Element = f32> {
    /// Added to the logits (differentiable); broadcastable to `[batch...,
    /// heads, q_len, kv_len]`.
    pub bias: Option<&'a Tensor<E>>,
    /// `false` masks a logit out (set to `f32::MIN`, `jnp.finfo(float32).min`);
    /// broadcastable to `[batch..., heads, q_len, kv_len]`.
    pub mask: Option<&'a ArrayD<bool>>,
    /// Also apply a lower-triangular (causal) mask.
    pub is_causal: bool,
    /// Dropout of the weights; `None` is deterministic.
    pub dropout: Option<AttentionDropout<'a>>,
}

fn shape_err(arg: &str, expected: impl Into<String>, found: &[usize]) -> Error {
    Error::ShapeMismatch {
        path: ErrorPath(arg.to_string()),
        expected: expected.into(),
        found: repr::fmt_tuple_usize(found),
    }
}

/// `a` as `[batch, len, heads, depth]` in standard layout; borrowed (no copy)
/// when `a` already is, as a decode cache or a projection's output is.
fn to_4d<'a, E: Element>(arg: &str, a: &'a ArrayD<E>) -> Result<CowArray<'a, E, IxDyn>> {
    let nd = a.ndim();
    let b: usize = a.shape()[..nd - 3].iter().product();
    let shape = [b, a.shape()[nd - 3], a.shape()[nd - 2], a.shape()[nd - 1]];
    a.as_standard_layout()
        .into_shape_with_order(IxDyn(&shape))
        .map_err(|_| shape_err(arg, repr::fmt_tuple_usize(&shape), a.shape()))
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
                format!("{} (batch axes of {n0})", repr::fmt_tuple_usize(&want)),
                s,
            ));
        }
    }
    Ok(())
}

/// The number of query heads per key/value head; `Err` unless it divides.
fn group_size(what: &str, which: &str, hq: usize, hk: usize) -> Result<usize> {
    if hk == 0 || !hq.is_multiple_of(hk) {
        return Err(Error::invalid_argument(
            what,
            format!("{which} heads dividing the {hq} query heads"),
            format!("{hk} {which} heads"),
        ));
    }
    Ok(hq / hk)
}

fn broadcast_to<'a, A>(arg: &str, a: &'a ArrayD<A>, shape: &[usize]) -> Result<ArrayViewD<'a, A>> {
    a.broadcast(IxDyn(shape)).ok_or_else(|| {
        shape_err(
            arg,
            format!("a shape broadcastable to {}", repr::fmt_tuple_usize(shape)),
            a.shape(),
        )
    })
}

/// `v` (standard layout) viewed with its axes split and permuted: `split`
/// reshapes, then `perm` reorders (no copy). `None` only if `v` is not in
/// standard layout or not of `split`'s size, which callers rule out.
fn view_as<'a, E: Element>(
    v: ArrayViewD<'a, E>,
    split: &[usize],
    perm: &[usize],
) -> Option<ArrayViewD<'a, E>> {
    let s = v.into_shape_with_order(IxDyn(split)).ok()?;
    Some(s.permuted_axes(IxDyn(perm)))
}

/// `s[b, h, i, j] = sum_d a[b, i, h, d] * k[b, j, h / rep, d]` for `a: [B, L,
/// H, D]` and `k: [B, Lk, H / rep, D]`, both standard layout.
fn qk<E: Element>(a: &ArrayViewD<'_, E>, k: &ArrayViewD<'_, E>, rep: usize) -> Option<ArrayD<E>> {
    let (nb, l, h, d) = (a.shape()[0], a.shape()[1], a.shape()[2], a.shape()[3]);
    let (lk, hk) = (k.shape()[1], k.shape()[2]);
    let av = view_as(a.view(), &[nb, l, hk, rep, d], &[0, 2, 3, 1, 4])?;
    let kv = view_as(k.view(), &[nb, lk, hk, 1, d], &[0, 2, 3, 4, 1])?;
    let s = matmul_nd(av, kv, &[nb, hk, rep]);
    s.into_shape_with_order(IxDyn(&[nb, h, l, lk])).ok()
}

/// `o[b, i, h, :] = sum_j w[b, h, i, j] * v[b, j, h / rep, :]` for `w: [B, H,
/// L, Lk]` and `v: [B, Lk, H / rep, Dv]`, both standard layout.
fn wv<E: Element>(w: &ArrayViewD<'_, E>, v: &ArrayViewD<'_, E>, rep: usize) -> Option<ArrayD<E>> {
    let (nb, h, l, lk) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    let (hk, dv) = (v.shape()[2], v.shape()[3]);
    let ww = view_as(w.view(), &[nb, hk, rep, l, lk], &[0, 1, 2, 3, 4])?;
    let vv = view_as(v.view(), &[nb, lk, hk, 1, dv], &[0, 2, 3, 1, 4])?;
    // [B, Hk, rep, L, Dv] -> [B, L, Hk, rep, Dv] = [B, L, H, Dv]
    let o = matmul_nd(ww, vv, &[nb, hk, rep]).permuted_axes(IxDyn(&[0, 3, 1, 2, 4]));
    let o = o.as_standard_layout().into_owned();
    o.into_shape_with_order(IxDyn(&[nb, l, h, dv])).ok()
}

/// `r[b, j, hk, :] = sum_{h in group hk, i} w[b, h, i, j] * g[b, i, h, :]` for
/// `w: [B, H, L, Lk]` and `g: [B, L, H, Dv]`: the cotangent of the key or
/// value of a group, summed over the group's query heads.
fn wt_g<E: Element>(w: &ArrayViewD<'_, E>, g: &ArrayViewD<'_, E>, hk: usize) -> Option<ArrayD<E>> {
    let (nb, h, l, lk) = (w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]);
    let dv = g.shape()[3];
    let rep = h / hk.max(1);
    let wt = view_as(w.view(), &[nb, hk, rep * l, lk], &[0, 1, 3, 2])?;
    let gg = view_as(g.view(), &[nb, l, hk, rep, dv], &[0, 2, 3, 1, 4])?;
    let gg = gg.as_standard_layout();
    let gg = view_as(gg.view(), &[nb, hk, rep * l, dv], &[0, 1, 2, 3])?;
    let r = matmul_nd(wt, gg, &[nb, hk]);
    Some(
        r.permuted_axes(IxDyn(&[0, 2, 1, 3]))
            .as_standard_layout()
            .into_owned(),
    )
}

/// In-place softmax of every lane along the last axis. An all-`-inf` lane
/// gives NaN, as in JAX (masked lanes hold `f32::MIN`, never `-inf`).
fn softmax_last_in_place<E: Element>(w: &mut ArrayD<E>) {
    let last = Axis(w.ndim() - 1);
    for mut lane in w.lanes_mut(last) {
        let m = lane.fold(E::neg_infinity(), |a, &b| a.max(b));
        lane.mapv_inplace(|v| (v - m).exp());
        let s = lane.sum();
        lane.mapv_inplace(|v| v / s);
    }
}

/// What the weights' rule needs: the scaled query and the key (`[B, L, H, D]`
/// views' owners), the softmax output, which logits were kept by the masks,
/// and the dropout multiplier.
struct WeightsSaved<E: Element> {
    query_scaled: ArrayD<E>,
    key: Arc<ArrayD<E>>,
    probs: Arc<ArrayD<E>>,
    allowed: Option<ArrayD<bool>>,
    dropout: Option<(ArrayD<bool>, E)>,
    scale: E,
    rep: usize,
    query_shape: Vec<usize>,
    bias_shape: Option<Vec<usize>>,
}

impl<E: Element> WeightsSaved<E> {
    /// Cotangents of (query, key, bias) from the weights' cotangent `g`.
    fn vjp(self, g: &ArrayD<E>, needs: &[bool]) -> Vec<Option<ArrayD<E>>> {
        let mut ds = match &self.dropout {
            Some((keep, mult)) => {
                Zip::from(g)
                    .and(keep)
                    .map_collect(|&g, &k| if k { g * *mult } else { lit::<E>(0.0) })
            }
            None => g.clone(),
        };
        // Softmax: ds = p * (dp - sum(dp * p)), lane by lane along the last axis.
        let last = Axis(ds.ndim() - 1);
        for (mut d, p) in ds.lanes_mut(last).into_iter().zip(self.probs.lanes(last)) {
            let dot = Zip::from(&d)
                .and(&p)
                .fold(lit::<E>(0.0), |s, &d, &p| s + d * p);
            Zip::from(&mut d)
                .and(&p)
                .for_each(|d, &p| *d = p * (*d - dot));
        }
        // Masked logits were replaced by a constant: no gradient flows to them.
        if let Some(allowed) = &self.allowed {
            Zip::from(&mut ds).and(allowed).for_each(|d, &a| {
                if !a {
                    *d = lit::<E>(0.0);
                }
            });
        }
        let need = |i: usize| needs.get(i).copied().unwrap_or(false);
        let qs = &self.query_shape;
        let nd = qs.len();
        let nb: usize = qs[..nd - 3].iter().product();
        let (h, l, lk) = (qs[nd - 2], qs[nd - 3], self.key.shape()[nd - 3]);
        let ds4 = ds.view().into_shape_with_order(IxDyn(&[nb, h, l, lk])).ok();
        let key4 = to_4d("key", &self.key).ok();
        let dq = match (need(0), &ds4, &key4) {
            (true, Some(ds4), Some(k4)) => wv(ds4, &k4.view(), self.rep).and_then(|dq| {
                dq.mapv(|v| v / self.scale)
                    .into_shape_with_order(IxDyn(qs))
                    .ok()
            }),
            _ => None,
        };
        let dk = match (need(1), &ds4, &key4) {
            (true, Some(ds4), Some(k4)) => {
                let q4 =
                    self.query_scaled
                        .view()
                        .into_shape_with_order(IxDyn(&[nb, l, h, qs[nd - 1]]));
                q4.ok().and_then(|q4| {
                    wt_g(ds4, &q4, k4.shape()[2])?
                        .into_shape_with_order(self.key.raw_dim())
                        .ok()
                })
            }
            _ => None,
        };
        let dbias = match (need(2), &self.bias_shape) {
            (true, Some(shape)) => Some(sum_to_shape(ds, shape)),
            _ => None,
        };
        vec![dq, dk, dbias]
    }
}

/// Checks a query and key pair (same batch axes and depth, key heads dividing
/// the query heads); returns the number of query heads per key head.
fn check_query_key(q: &[usize], k: &[usize]) -> Result<usize> {
    check_qkv(&[("query", q), ("key", k)])?;
    let nd = q.len();
    if k[nd - 1] != q[nd - 1] {
        let mut want = k.to_vec();
        want[nd - 1] = q[nd - 1];
        return Err(shape_err(
            "key",
            format!("{} (query's depth)", repr::fmt_tuple_usize(&want)),
            k,
        ));
    }
    group_size("dot_product_attention_weights", "key", q[nd - 2], k[nd - 2])
}

/// `a` (broadcastable to `shape`, `[batch..., heads, q_len, kv_len]`) viewed
/// as `[batch, heads, q_len, kv_len]` with each axis either full or of
/// length 1 (to be broadcast by the kernel); `Ok(None)` when its batch axes
/// are neither all full nor all 1, or it is not in standard layout.
fn view_4d<'a, A>(
    arg: &str,
    a: Option<&'a ArrayD<A>>,
    shape: &[usize],
    batch: usize,
) -> Result<Option<Option<ArrayView4<'a, A>>>> {
    let Some(a) = a else {
        return Ok(Some(None));
    };
    broadcast_to(arg, a, shape)?;
    let nd = shape.len();
    let mut full = vec![1; nd - a.ndim()];
    full.extend_from_slice(a.shape());
    let nb = if full[..nd - 3] == shape[..nd - 3] {
        batch
    } else if full[..nd - 3].iter().all(|&d| d == 1) {
        1
    } else {
        return Ok(None);
    };
    let dims = [nb, full[nd - 3], full[nd - 2], full[nd - 1]];
    Ok(a.view().into_shape_with_order(dims).ok().map(Some))
}

/// [`dot_product_attention`] by the fused kernel when nothing is recorded and
/// there is no dropout; `Ok(None)` when the inputs need the general path
/// (empty axes, a bias or mask that [`view_4d`] cannot view in 4-d).
fn fused_attention<E: Element>(
    query: &Tensor<E>,
    key: &Tensor<E>,
    value: &Tensor<E>,
    opts: &AttentionOptions<'_, E>,
) -> Result<Option<Tensor<E>>> {
    let inputs: Vec<&Tensor<E>> = [Some(query), Some(key), Some(value), opts.bias]
        .into_iter()
        .flatten()
        .collect();
    if opts.dropout.is_some() || tape::records(&inputs) {
        return Ok(None);
    }
    let (q, k, v) = (&*query.data, &*key.data, &*value.data);
    check_query_key(q.shape(), k.shape())?;
    let nd = q.ndim();
    let (ql, hq, depth) = (q.shape()[nd - 3], q.shape()[nd - 2], q.shape()[nd - 1]);
    let (kl, hk) = (k.shape()[nd - 3], k.shape()[nd - 2]);
    let (hv, dv) = (v.shape()[nd - 2], v.shape()[nd - 1]);
    let nb: usize = q.shape()[..nd - 3].iter().product();
    if [nb, ql, hq, depth, kl, dv].contains(&0) {
        return Ok(None);
    }
    let mut shape = q.shape()[..nd - 3].to_vec();
    shape.extend_from_slice(&[hq, ql, kl]);
    let bias = view_4d("bias", opts.bias.map(|b| &*b.data), &shape, nb)?;
    let mask = view_4d("mask", opts.mask, &shape, nb)?;
    let (Some(bias), Some(mask)) = (bias, mask) else {
        return Ok(None);
    };
    let (q4, k4, v4) = (to_4d("query", q)?, to_4d("key", k)?, to_4d("value", v)?);
    let (Some(qs), Some(ks), Some(vs)) = (q4.as_slice(), k4.as_slice(), v4.as_slice()) else {
        return Ok(None);
    };
    let out = Fused {
        q: qs,
        k: ks,
        v: vs,
        q_dims: [nb, ql, hq, depth],
        kv_dims: [kl, hk, hv, dv],
        scale: lit::<E>((depth as f64).sqrt()),
        bias,
        mask,
        is_causal: opts.is_causal,
    }
    .run();
    let mut out_shape = q.shape()[..nd - 3].to_vec();
    out_shape.extend_from_slice(&[ql, hq, dv]);
    let out = out
        .into_shape_with_order(IxDyn(&out_shape))
        .map_err(|_| shape_err("output", repr::fmt_tuple_usize(&out_shape), q.shape()))?;
    Ok(Some(out.into()))
}

/// Attention weights `softmax(q kᵀ / sqrt(depth) + bias, masked)` (then dropout)
/// of shape `[batch..., num_heads, q_len, kv_len]`, from `query [batch...,
/// q_len, num_heads, depth]` and `key [batch..., kv_len, kv_heads, depth]`;
/// differentiable in `query`, `key` and `opts.bias`.
///
/// Grouped-query attention as in Flax 0.12: when `kv_heads` divides
/// `num_heads`, query head `h` attends with key head `h / (num_heads /
/// kv_heads)` (consecutive query heads share a key head).
///
/// ```
/// use nnx_tensor::{dot_product_attention_weights, AttentionOptions, Tensor};
/// let q = Tensor::zeros(&[1, 2, 1, 4]);
/// let k = Tensor::zeros(&[1, 3, 1, 4]);
/// let w = dot_product_attention_weights(&q, &k, &AttentionOptions::default())?;
/// assert_eq!(w.shape(), &[1, 1, 2, 3]);
/// assert!((w.view()[[0, 0, 0, 0]] - 1.0 / 3.0).abs() < 1e-6);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn dot_product_attention_weights<E: Element>(
    query: &Tensor<E>,
    key: &Tensor<E>,
    opts: &AttentionOptions<'_, E>,
) -> Result<Tensor<E>> {
    let (q, k) = (&*query.data, &*key.data);
    let rep = check_query_key(q.shape(), k.shape())?;
    let nd = q.ndim();
    let (ql, hq, depth) = (q.shape()[nd - 3], q.shape()[nd - 2], q.shape()[nd - 1]);
    let kl = k.shape()[nd - 3];
    let scale = lit::<E>((depth as f64).sqrt());
    let q4 = to_4d("query", q)?.mapv(|v| v / scale);
    let k4 = to_4d("key", k)?;
    let mut shape = q.shape()[..nd - 3].to_vec();
    shape.extend_from_slice(&[hq, ql, kl]);
    let mut w = qk(&q4.view(), &k4.view(), rep)
        .and_then(|w| w.into_shape_with_order(IxDyn(&shape)).ok())
        .ok_or_else(|| shape_err("query", repr::fmt_tuple_usize(&shape), q.shape()))?;
    if let Some(bias) = opts.bias {
        w += &broadcast_to("bias", &bias.data, &shape)?;
    }
    let tracked =
        query.node.is_some() || key.node.is_some() || opts.bias.is_some_and(|b| b.node.is_some());
    let mut allowed: Option<ArrayD<bool>> = None;
    if opts.mask.is_some() || opts.is_causal {
        let neg = E::min_value();
        if let Some(mask) = opts.mask {
            let m = broadcast_to("mask", mask, &shape)?;
            Zip::from(&mut w).and(&m).for_each(|v, &keep| {
                if !keep {
                    *v = neg;
                }
            });
            if tracked {
                allowed = Some(m.to_owned());
            }
        }
        if opts.is_causal {
            let r = shape.len();
            w.indexed_iter_mut().for_each(|(ix, v)| {
                if ix[r - 1] > ix[r - 2] {
                    *v = neg;
                }
            });
            if tracked {
                let mut a = allowed.unwrap_or_else(|| ArrayD::from_elem(IxDyn(&shape), true));
                a.indexed_iter_mut()
                    .for_each(|(ix, v)| *v = *v && ix[r - 1] <= ix[r - 2]);
                allowed = Some(a);
            }
        }
    }
    softmax_last_in_place(&mut w);
    let probs = Arc::new(w);
    let mut dropped = None;
    if let Some(d) = opts.dropout {
        if !(0.0..1.0).contains(&d.rate) {
            return Err(Error::invalid_argument(
                "attention dropout rate",
                "a rate in [0, 1)",
                d.rate.to_string(),
            ));
        }
        let keep = broadcast_to("dropout keep", d.keep, &shape)?;
        let mult = E::one() / lit::<E>(1.0 - d.rate);
        let out =
            Zip::from(&*probs)
                .and(&keep)
                .map_collect(|&v, &k| if k { v * mult } else { lit::<E>(0.0) });
        dropped = Some((out, tracked.then(|| (keep.to_owned(), mult))));
    }
    let (out, dropout) = match dropped {
        Some((out, saved)) => (Arc::new(out), saved),
        None => (Arc::clone(&probs), None),
    };
    if !tracked {
        return Ok(Tensor {
            data: out,
            node: None,
        });
    }
    let saved = WeightsSaved {
        query_scaled: q4,
        key: Arc::clone(&key.data),
        probs,
        allowed,
        dropout,
        scale,
        rep,
        query_shape: q.shape().to_vec(),
        bias_shape: opts.bias.map(|b| b.shape().to_vec()),
    };
    let mut inputs = vec![query, key];
    inputs.extend(opts.bias);
    Ok(tape::record(
        "dot_product_attention_weights",
        out,
        &inputs,
        move |g, needs| saved.vjp(g, needs),
    ))
}

/// Dot-product attention `weights @ value` of shape `[batch..., q_len,
/// num_heads, v_depth]`, with `value [batch..., kv_len, v_heads, v_depth]`;
/// see [`dot_product_attention_weights`] for the weights, masking and
/// grouped-query rules (value heads are shared the same way). Differentiable
/// in `query`, `key`, `value` and `opts.bias`.
///
/// ```
/// use nnx_tensor::{dot_product_attention, AttentionOptions, Tensor};
/// let q = Tensor::zeros(&[2, 1, 4]);
/// let k = Tensor::zeros(&[3, 1, 4]);
/// let v = Tensor::ones(&[3, 1, 5]);
/// let o = AttentionOptions { is_causal: true, ..Default::default() };
/// let y = dot_product_attention(&q, &k, &v, &o)?;
/// assert_eq!(y.shape(), &[2, 1, 5]);
/// assert!((y.view()[[1, 0, 4]] - 1.0).abs() < 1e-6);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn dot_product_attention<E: Element>(
    query: &Tensor<E>,
    key: &Tensor<E>,
    value: &Tensor<E>,
    opts: &AttentionOptions<'_, E>,
) -> Result<Tensor<E>> {
    check_qkv(&[
        ("query", query.shape()),
        ("key", key.shape()),
        ("value", value.shape()),
    ])?;
    let nd = value.ndim();
    if key.shape()[nd - 3] != value.shape()[nd - 3] {
        let mut want = value.shape().to_vec();
        want[nd - 3] = key.shape()[nd - 3];
        return Err(shape_err(
            "value",
            format!("{} (key's length)", repr::fmt_tuple_usize(&want)),
            value.shape(),
        ));
    }
    let hq = query.shape()[nd - 2];
    let rep = group_size("dot_product_attention", "value", hq, value.shape()[nd - 2])?;
    if let Some(out) = fused_attention(query, key, value, opts)? {
        return Ok(out);
    }
    let w = dot_product_attention_weights(query, key, opts)?;
    let (ql, kl) = (w.shape()[nd - 2], w.shape()[nd - 1]);
    let v4 = to_4d("value", &value.data)?;
    let nb = v4.shape()[0];
    let w4 = w
        .data
        .view()
        .into_shape_with_order(IxDyn(&[nb, hq, ql, kl]))
        .map_err(|_| shape_err("weights", "a reshapable array", w.shape()))?;
    let dv = value.shape()[nd - 1];
    let mut shape = query.shape()[..nd - 3].to_vec();
    shape.extend_from_slice(&[ql, hq, dv]);
    let out = wv(&w4, &v4.view(), rep)
        .and_then(|o| o.into_shape_with_order(IxDyn(&shape)).ok())
        .ok_or_else(|| shape_err("output", repr::fmt_tuple_usize(&shape), &[nb, ql, hq, dv]))?;
    let (ws, vs) = (Arc::clone(&w.data), Arc::clone(&value.data));
    Ok(super::record(
        "attention_values",
        out.into(),
        [&w, value],
        move |g, [nw, nv]| {
            let g4 = g
                .view()
                .into_shape_with_order(IxDyn(&[nb, ql, hq, dv]))
                .ok();
            let w4 = ws
                .view()
                .into_shape_with_order(IxDyn(&[nb, hq, ql, kl]))
                .ok();
            let v4 = to_4d("value", &vs).ok();
            let dw = match (nw, &g4, &v4) {
                (true, Some(g4), Some(v4)) => {
                    qk(g4, &v4.view(), rep).and_then(|d| d.into_shape_with_order(ws.raw_dim()).ok())
                }
                _ => None,
            };
            let dvalue = match (nv, &w4, &g4, &v4) {
                (true, Some(w4), Some(g4), Some(v4)) => wt_g(w4, g4, v4.shape()[2])
                    .and_then(|d| d.into_shape_with_order(vs.raw_dim()).ok()),
                _ => None,
            };
            [dw, dvalue]
        },
    ))
}

/// Attention mask `pairwise_fn(query_input[..., q, None], key_input[..., None,
/// k])` of shape `[extra 1s..., batch..., 1, q_len, kv_len]`, as Flax's
/// `make_attention_mask` (Flax's default `pairwise_fn` is multiplication; for
/// padding masks use e.g. `|a, b| a > 0 && b > 0`). Batch axes broadcast.
///
/// ```
/// use ndarray::array;
/// use nnx_tensor::make_attention_mask;
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
    let shape = broadcast_shapes("make_attention_mask", qe.shape(), ke.shape()).map_err(|_| {
        shape_err(
            "key_input",
            format!(
                "batch axes broadcastable with query_input's {}",
                repr::fmt_tuple_usize(&qe.shape()[..qn - 1])
            ),
            &ke.shape()[..kn - 1],
        )
    })?;
    let qb = qe
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| shape_err("query_input", repr::fmt_tuple_usize(&shape), qe.shape()))?;
    let kb = ke
        .broadcast(IxDyn(&shape))
        .ok_or_else(|| shape_err("key_input", repr::fmt_tuple_usize(&shape), ke.shape()))?;
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
/// let m = nnx_tensor::make_causal_mask(&Array2::<f32>::zeros((1, 3)), 0)?;
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
/// let m = nnx_tensor::combine_masks(&[Some(&a), None, Some(&b)])?;
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
        let shape = broadcast_shapes("combine_masks", out.shape(), m.shape()).map_err(|_| {
            shape_err(
                &arg,
                format!(
                    "a shape broadcastable with {}",
                    repr::fmt_tuple_usize(out.shape())
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
    use crate::element::wide;
    use ndarray::array;

    #[test]
    fn masked_rows_and_gqa() -> Result<()> {
        // Two query heads share one key head.
        let q = Tensor::from(ArrayD::from_shape_fn(IxDyn(&[1, 2, 2, 2]), |ix| {
            (ix[1] + ix[2] + ix[3]) as f32
        }));
        let k = Tensor::from(ArrayD::from_shape_fn(IxDyn(&[1, 2, 1, 2]), |ix| {
            (ix[1] * 2 + ix[3]) as f32
        }));
        let mask = array![[[[true, false], [false, false]]]].into_dyn();
        let o = AttentionOptions {
            mask: Some(&mask),
            ..Default::default()
        };
        let w = dot_product_attention_weights(&q, &k, &o)?;
        assert_eq!(w.shape(), &[1, 2, 2, 2]);
        // Row 0 keeps one logit; row 1 is fully masked: uniform, as in Flax.
        assert_eq!(w.view()[[0, 0, 0, 0]], 1.0);
        assert_eq!(w.view()[[0, 1, 1, 0]], 0.5);
        Ok(())
    }

    /// The unfused composition: the weights, then their product with the values.
    fn unfused<E: Element>(
        q: &Tensor<E>,
        k: &Tensor<E>,
        v: &Tensor<E>,
        o: &AttentionOptions<'_, E>,
    ) -> ArrayD<E> {
        let w = dot_product_attention_weights(q, k, o).unwrap();
        let (nb, l, h, _) = (q.shape()[0], q.shape()[1], q.shape()[2], q.shape()[3]);
        let lk = k.shape()[1];
        let w4 = w
            .view()
            .into_shape_with_order(IxDyn(&[nb, h, l, lk]))
            .unwrap();
        wv(&w4, &v.data.view(), h / v.shape()[2]).unwrap()
    }

    /// The fused kernel (no tape) against the weights-then-values path, over
    /// grouped heads, masks, bias, causal masking and both element types.
    #[test]
    fn fused_matches_unfused() -> Result<()> {
        fn check<E: Element>(tol: f64) -> Result<()> {
            let f = |shape: &[usize], salt: usize| {
                Tensor::from(ArrayD::from_shape_fn(IxDyn(shape), |ix| {
                    let n = ix.slice().iter().fold(salt, |a, &i| a * 31 + i * 7);
                    lit::<E>(((n % 97) as f64) / 48.0 - 1.0)
                }))
            };
            for (l, lk, h, hk, hv, d, dv) in [
                (2, 3, 1, 1, 1, 2, 2),
                (2, 3, 2, 2, 2, 2, 2),
                (5, 7, 4, 2, 4, 3, 2),
                (1, 9, 2, 1, 1, 4, 4),
                (64, 64, 4, 4, 2, 64, 32),
            ] {
                let (q, k, v) = (
                    f(&[3, l, h, d], 1),
                    f(&[3, lk, hk, d], 2),
                    f(&[3, lk, hv, dv], 3),
                );
                let mask = ArrayD::from_shape_fn(IxDyn(&[3, 1, l, lk]), |ix| {
                    (ix[0] + ix[2] * 3 + ix[3]) % 4 != 0
                });
                let bias = f(&[1, h, 1, lk], 4);
                // A mask of lower rank, broadcast over batch and heads.
                let mask2 = ArrayD::from_shape_fn(IxDyn(&[l, lk]), |ix| (ix[0] + ix[1]) % 3 != 1);
                for (mask, bias, is_causal) in [
                    (None, None, false),
                    (Some(&mask), None, false),
                    (Some(&mask2), None, false),
                    (None, Some(&bias), true),
                    (Some(&mask), Some(&bias), true),
                ] {
                    let o = AttentionOptions {
                        mask,
                        bias,
                        is_causal,
                        dropout: None,
                    };
                    let got = dot_product_attention(&q, &k, &v, &o)?;
                    let want = unfused(&q, &k, &v, &o);
                    assert_eq!(got.shape(), want.shape());
                    for (a, b) in got.view().iter().zip(&want) {
                        assert!(
                            (wide(*a) - wide(*b)).abs() <= tol,
                            "{l} {lk} {h} {hk} {hv}: {a:?} vs {b:?}"
                        );
                    }
                }
            }
            Ok(())
        }
        check::<f32>(1e-6)?;
        check::<f64>(1e-14)
    }

    /// A decode step's shapes (one query row, a cache-length mask per batch
    /// row, broadcast over heads) take the fused kernel.
    #[test]
    fn decode_step_is_fused() {
        let q: Tensor = Tensor::zeros(&[8, 1, 8, 64]);
        let k: Tensor = Tensor::zeros(&[8, 128, 8, 64]);
        let mask = ArrayD::from_elem(IxDyn(&[8, 1, 1, 128]), true);
        let o = AttentionOptions {
            mask: Some(&mask),
            ..Default::default()
        };
        let r = fused_attention(&q, &k, &k, &o).unwrap();
        assert!(r.is_some());
    }

    #[test]
    fn dropout_scales_kept_weights() -> Result<()> {
        let q = Tensor::zeros(&[1, 2, 1, 1]);
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
            w.view().iter().copied().collect::<Vec<_>>(),
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
        let q = Tensor::zeros(&[2, 3, 4, 8]);
        let k = Tensor::zeros(&[1, 3, 4, 8]);
        let err = dot_product_attention_weights(&q, &k, &AttentionOptions::default())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("shape mismatch at key: expected (2, 3, 4, 8) (batch axes of query), found (1, 3, 4, 8)")
        );
        let ok = |s: &[usize]| Tensor::zeros(s);
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
        let o = AttentionOptions {
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
