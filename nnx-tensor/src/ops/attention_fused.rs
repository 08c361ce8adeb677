//! Fused `softmax(q kᵀ / sqrt(depth) + bias, masked) v` for calls with nothing
//! to differentiate (inference, evaluation, decode steps).
//!
//! The recorded path of `attention.rs` materializes the weights `[batch,
//! heads, q_len, kv_len]` (they are saved for the backward pass) in fresh
//! arrays. Here each (batch, query rows, head) block computes its scores into
//! a scratch buffer reused across heads, masks them, takes the softmax row by
//! row and multiplies by the value head straight into the output; the query,
//! key and value heads are read in place (strided views, no copies). The rows
//! are split across the cores when the products are large enough. The
//! arithmetic is the recorded path's (same formulas, same mask constant), only
//! the GEMMs' blocking differs.

use faer::{Accum, MatMut, MatRef, Par};
use ndarray::{ArrayD, ArrayView1, ArrayView4, Axis, IxDyn};

use super::exp_f32::softmax_rows;
use super::{cores, PARALLEL_MACS};
use crate::element::Element;

/// The operands of one fused attention call, all row-major: `q [B, L, H, D]`
/// (unscaled), `k [B, Lk, Hk, D]`, `v [B, Lk, Hv, Dv]`, and the bias and mask
/// broadcastable to `[B, H, L, Lk]` (each axis full or of length 1).
pub(super) struct Fused<'a, E: Element> {
    pub q: &'a [E],
    pub k: &'a [E],
    pub v: &'a [E],
    /// `(B, L, H, D)`.
    pub q_dims: [usize; 4],
    /// `(Lk, Hk, Hv, Dv)`.
    pub kv_dims: [usize; 4],
    pub scale: E,
    pub bias: Option<ArrayView4<'a, E>>,
    pub mask: Option<ArrayView4<'a, bool>>,
    pub is_causal: bool,
}

impl<E: Element> Fused<'_, E> {
    /// The output `[B, L, H, Dv]`.
    pub(super) fn run(&self) -> ArrayD<E> {
        let [nb, l, h, d] = self.q_dims;
        let [lk, _, _, dv] = self.kv_dims;
        let rows = nb * l;
        let row_len = h * dv;
        let mut out = vec![E::zero(); rows * row_len];
        let macs = rows * h * lk * (d + dv);
        if macs >= PARALLEL_MACS && rows > 1 && cores() > 1 {
            let mid = rows / 2;
            let (o0, o1) = out.split_at_mut(mid * row_len);
            rayon::join(|| self.rows(0, mid, o0), || self.rows(mid, rows, o1));
        } else {
            self.rows(0, rows, &mut out);
        }
        ArrayD::from_shape_vec(IxDyn(&[nb, l, h, dv]), out)
            .unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])))
    }

    /// Output rows `r0..r1` of the flattened `(batch, query)` axis into `out`
    /// (those rows only).
    fn rows(&self, r0: usize, r1: usize, out: &mut [E]) {
        let [_, l, h, _] = self.q_dims;
        let [lk, _, _, dv] = self.kv_dims;
        let mut scores = Vec::new();
        let mut r = r0;
        while r < r1 {
            let (b, i0) = (r / l, r % l);
            let i1 = l.min(i0 + (r1 - r));
            scores.resize((i1 - i0) * lk, E::zero());
            for head in 0..h {
                let o = &mut out[((r - r0) * h + head) * dv..];
                self.block(b, i0, i1, head, &mut scores, o);
            }
            r += i1 - i0;
        }
    }

    /// Query rows `i0..i1` of batch `b`, head `head`: `out` starts at the
    /// first row's output for the head (rows `H * Dv` apart).
    fn block(&self, b: usize, i0: usize, i1: usize, head: usize, s: &mut [E], out: &mut [E]) {
        let [_, l, h, d] = self.q_dims;
        let [lk, hk, hv, dv] = self.kv_dims;
        let n = i1 - i0;
        // Grouped-query heads: consecutive query heads share a key (value) head.
        let kh = head / (h / hk);
        let vh = head / (h / hv);
        let q = MatRef::from_row_major_slice_with_stride(
            &self.q[((b * l + i0) * h + head) * d..],
            n,
            d,
            h * d,
        );
        // kᵀ: column j is key row j.
        let kt = MatRef::from_column_major_slice_with_stride(
            &self.k[(b * lk * hk + kh) * d..],
            d,
            lk,
            hk * d,
        );
        let sm = MatMut::from_row_major_slice_mut(s, n, lk);
        E::faer_gemm(sm, Accum::Replace, q, kt, Par::Seq);
        let neg = E::min_value();
        for (ii, row) in s.chunks_exact_mut(lk).enumerate() {
            let i = i0 + ii;
            // Scaling the product instead of the query: exact for power-of-two
            // depths (64, 128...), one rounding apart otherwise.
            for x in row.iter_mut() {
                *x /= self.scale;
            }
            if let Some(bias) = self.bias {
                let bias = lane(bias, [b, head, i]);
                if let Some(bias) = bias.broadcast(lk) {
                    for (x, &bv) in row.iter_mut().zip(bias) {
                        *x += bv;
                    }
                }
            }
            if let Some(mask) = self.mask {
                let mask = lane(mask, [b, head, i]);
                if let Some(mask) = mask.broadcast(lk) {
                    for (x, &keep) in row.iter_mut().zip(mask) {
                        if !keep {
                            *x = neg;
                        }
                    }
                }
            }
            if self.is_causal {
                for x in row.iter_mut().skip(i + 1) {
                    *x = neg;
                }
            }
        }
        match E::as_f32_mut(s) {
            Some(s) => softmax_rows(s, lk),
            None => s.chunks_exact_mut(lk).for_each(softmax_row),
        }
        let p = MatRef::from_row_major_slice(s, n, lk);
        let vm = MatRef::from_row_major_slice_with_stride(
            &self.v[(b * lk * hv + vh) * dv..],
            lk,
            dv,
            hv * dv,
        );
        // The transpose of a column-major view: faer 0.23's
        // `from_row_major_slice_with_stride_mut` sets the strides of a
        // column-major matrix.
        let om =
            MatMut::from_column_major_slice_with_stride_mut(out, dv, n, h * dv).transpose_mut();
        E::faer_gemm(om, Accum::Replace, p, vm, Par::Seq);
    }
}

/// `a[b, h, i, :]` of `a` broadcast to `[B, H, L, Lk]` (its axes are full or
/// of length 1).
fn lane<A>(a: ArrayView4<'_, A>, [b, h, i]: [usize; 3]) -> ArrayView1<'_, A> {
    let at = |ix: usize, axis: usize| ix.min(a.shape()[axis] - 1);
    let (b, h, i) = (at(b, 0), at(h, 1), at(i, 2));
    a.index_axis_move(Axis(0), b)
        .index_axis_move(Axis(0), h)
        .index_axis_move(Axis(0), i)
}

/// In-place softmax of one row (the recorded path's formula: max-subtracted
/// exponentials over their sum); f32 rows take the vectorized
/// [`softmax_rows`].
fn softmax_row<E: Element>(row: &mut [E]) {
    let m = row.iter().fold(E::neg_infinity(), |a, &b| a.max(b));
    let mut sum = E::zero();
    for x in row.iter_mut() {
        *x = (*x - m).exp();
        sum += *x;
    }
    for x in row.iter_mut() {
        *x /= sum;
    }
}
