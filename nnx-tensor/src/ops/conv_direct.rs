//! Direct f32 convolution for the common case of `conv.rs` (one feature group,
//! no input dilation, output channels in multiples of 16, small kernels): no
//! im2col matrix, vector registers hold 16 output channels of a few output
//! positions while every tap and input channel is multiplied in.
//!
//! For such layers the im2col matrix is 9 times the input for a 3x3 kernel and
//! the GEMM behind it has only `out_features` columns, so building and packing
//! that matrix cost more than the multiply-adds. Here each output row of the
//! last spatial axis reads its input rows once, zero-padded in a small buffer.
//! The sum runs over taps then input channels, the im2col column order.

use std::sync::OnceLock;

use super::conv::Plan;
use super::{cores, PARALLEL_MACS};

/// Output channels per vector block (one AVX-512 register, two AVX2 ones).
const OC: usize = 16;

/// Largest `taps * in_features` handled: one 16-channel block of the packed
/// kernel (`cols * 64` bytes) then stays in the L1/L2 caches; larger kernels
/// have enough columns for the GEMM to win.
const MAX_COLS: usize = 1024;

/// The last spatial axis of a convolution the direct kernel can run.
#[derive(Debug, Clone, Copy)]
pub(super) struct LastAxis {
    /// Input positions along the axis.
    pub n_in: usize,
    /// Low padding.
    pub lo: usize,
    /// Window stride.
    pub stride: usize,
    /// Kernel dilation.
    pub dil: usize,
}

impl LastAxis {
    /// Positions of the zero-padded input row that the output row reads.
    fn padded(&self, plan: &Plan) -> usize {
        let (kl, n_out) = (plan.kl(), plan.out_last());
        let reach = (n_out - 1) * self.stride + (kl - 1) * self.dil + 1;
        reach.max(self.lo + self.n_in)
    }
}

/// Whether [`forward`] runs `plan` (it returns `None` otherwise).
pub(super) fn applies(plan: &Plan) -> bool {
    plan.direct.is_some()
        && plan.groups == 1
        && plan.cout.is_multiple_of(OC)
        && plan.cols() <= MAX_COLS
        && plan.rows() > 0
        && plan.kl() > 0
        && fma_available()
}

/// Fused multiply-add in hardware with 4, 8 or 16 f32 lanes per vector
/// (x86-64 with AVX2+FMA or AVX-512, aarch64): without it `f32::mul_add` is a
/// library call and the GEMM path is faster.
fn fma_available() -> bool {
    static FMA: OnceLock<bool> = OnceLock::new();
    *FMA.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        let fma = std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("avx2");
        #[cfg(target_arch = "aarch64")]
        let fma = true;
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let fma = false;
        fma && matches!(pulp::Arch::new().dispatch(Lanes), 4 | 8 | 16)
    })
}

/// The f32 lanes of the vectors pulp picks on this CPU.
struct Lanes;

impl pulp::WithSimd for Lanes {
    type Output = usize;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> usize {
        S::F32_LANES
    }
}

/// The convolution of `xs` (row-major `(batch, spatial..., C)`) with the
/// row-major kernel `k`, plus `bias` (one value per output channel) when
/// given, as `(batch * out_spatial..., out)` row-major values, or `None` when
/// the plan is not one [`applies`] accepts.
///
/// The bias is added to the accumulators as they are stored: the same single
/// rounding as adding it to the stored sums, without a second pass.
pub(super) fn forward(
    plan: &Plan,
    xs: &[f32],
    k: &[f32],
    bias: Option<&[f32]>,
) -> Option<Vec<f32>> {
    if !applies(plan) || bias.is_some_and(|b| b.len() != plan.cout) {
        return None;
    }
    let axis = plan.direct?;
    let (cols, cout) = (plan.cols(), plan.cout);
    // The kernel as `cout / 16` blocks of `cols` rows of 16 channels, so that
    // the inner loop reads one contiguous 64-byte row per tap and channel.
    let mut packed = vec![0.0f32; cout * cols];
    for (t, krow) in k.chunks_exact(cout).enumerate().take(cols) {
        for (ob, chunk) in krow.chunks_exact(OC).enumerate() {
            packed[(ob * cols + t) * OC..][..OC].copy_from_slice(chunk);
        }
    }
    let row_len = plan.out_last() * cout;
    let n_rows = plan.rows() / plan.out_last();
    let mut out = vec![0.0f32; n_rows * row_len];
    let threads = (plan.rows() * cols * cout / PARALLEL_MACS).clamp(1, cores().min(n_rows));
    let job = Rows {
        plan,
        axis,
        xs,
        packed: &packed,
        bias,
    };
    if threads == 1 {
        job.run(0, &mut out);
    } else {
        let per = n_rows.div_ceil(threads);
        std::thread::scope(|s| {
            let mut chunks = out.chunks_mut(per * row_len).enumerate();
            let first = chunks.next();
            for (i, chunk) in chunks {
                let job = &job;
                s.spawn(move || job.run(i * per, chunk));
            }
            if let Some((_, chunk)) = first {
                job.run(0, chunk);
            }
        });
    }
    Some(out)
}

/// The inputs shared by the threads of one [`forward`].
struct Rows<'a> {
    plan: &'a Plan,
    axis: LastAxis,
    xs: &'a [f32],
    /// `cout / 16` blocks of `cols` rows of 16 kernel values.
    packed: &'a [f32],
    /// One value per output channel, added as the sums are stored.
    bias: Option<&'a [f32]>,
}

impl Rows<'_> {
    /// Computes output rows `first..` into `out` (whole rows of the last
    /// spatial axis), with the best instruction set of the CPU.
    fn run(&self, first: usize, out: &mut [f32]) {
        pulp::Arch::new().dispatch(RowsOp {
            rows: self,
            first,
            out,
        });
    }
}

/// [`Rows::run`] as an operation pulp compiles for each instruction set.
struct RowsOp<'a, 'b> {
    rows: &'a Rows<'b>,
    first: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for RowsOp<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        // Accumulators: 8 positions x 16 channels fill 8 AVX-512 registers;
        // with 8 or 4 lanes per vector that is 16 registers for 4 positions.
        match S::F32_LANES {
            16 => self.rows.compute::<S, 8, 1>(simd, self.first, self.out),
            8 => self.rows.compute::<S, 4, 2>(simd, self.first, self.out),
            // 4 lanes: the only other width `applies` accepts.
            _ => self.rows.compute::<S, 4, 4>(simd, self.first, self.out),
        }
    }
}

impl Rows<'_> {
    /// Output rows `first..` into `out`: blocks of `JB` positions times 16
    /// channels (`NV` vectors) accumulated in registers.
    #[inline(always)]
    fn compute<S: pulp::Simd, const JB: usize, const NV: usize>(
        &self,
        simd: S,
        first: usize,
        out: &mut [f32],
    ) {
        let plan = self.plan;
        let LastAxis {
            n_in,
            lo,
            stride,
            dil,
        } = self.axis;
        let (c, cout, cols, kl) = (plan.c, plan.cout, plan.cols(), plan.kl());
        let n_out = plan.out_last();
        let n_outer = plan.n_outer_taps();
        let padded = self.axis.padded(plan);
        // One zero-padded input row per tap of the other spatial axes.
        let mut bufs = vec![0.0f32; n_outer * padded * c];
        let in_row = n_in * c;
        let mid = lo * c..((lo + n_in).min(padded)) * c;
        for (r, out_row) in out.chunks_exact_mut(n_out * cout).enumerate() {
            let row = first + r;
            for (tg, buf) in bufs.chunks_exact_mut(padded * c).enumerate() {
                let dst = &mut buf[mid.clone()];
                match plan.outer_offset(row, tg) {
                    Some(src) => dst.copy_from_slice(&self.xs[src..src + in_row][..dst.len()]),
                    None => dst.fill(0.0),
                }
            }
            let geo = Geometry {
                c,
                kl,
                step: stride * c,
                dil_step: dil * c,
                buf_len: padded * c,
            };
            for (ob, block) in self.packed.chunks_exact(cols * OC).enumerate() {
                let (kvecs, _) = S::as_simd_f32s(block);
                let bias: Option<[S::f32s; NV]> = self.bias.map(|b| {
                    let b = &b[ob * OC..][..OC];
                    std::array::from_fn(|v| simd.partial_load_f32s(&b[v * (OC / NV)..][..OC / NV]))
                });
                let mut j0 = 0;
                while j0 + JB <= n_out {
                    let acc = geo.block::<S, JB, NV>(simd, &bufs, kvecs, j0);
                    store(
                        simd,
                        out_row,
                        (j0 * cout + ob * OC, cout),
                        &acc,
                        bias.as_ref(),
                    );
                    j0 += JB;
                }
                for j in j0..n_out {
                    let acc = geo.block::<S, 1, NV>(simd, &bufs, kvecs, j);
                    store(
                        simd,
                        out_row,
                        (j * cout + ob * OC, cout),
                        &acc,
                        bias.as_ref(),
                    );
                }
            }
        }
    }
}

/// Stores the accumulators of consecutive positions (the first at `at`, the
/// next `step` further), plus `bias` when given. A function rather than a
/// closure so that it can be forced inline: called out of line, the
/// accumulators went through memory.
#[inline(always)]
fn store<S: pulp::Simd, const NV: usize>(
    simd: S,
    out: &mut [f32],
    (at, step): (usize, usize),
    acc: &[[S::f32s; NV]],
    bias: Option<&[S::f32s; NV]>,
) {
    for (p, a) in acc.iter().enumerate() {
        let dst = &mut out[at + p * step..][..OC];
        for (v, (d, &a)) in dst.chunks_exact_mut(OC / NV).zip(a).enumerate() {
            let y = match bias {
                Some(b) => simd.add_f32s(a, b[v]),
                None => a,
            };
            simd.partial_store_f32s(d, y);
        }
    }
}

/// The strides of the padded input rows the direct kernel reads.
struct Geometry {
    c: usize,
    kl: usize,
    /// Elements between consecutive output positions' windows.
    step: usize,
    /// Elements between consecutive taps along the last axis.
    dil_step: usize,
    /// Elements of one padded row.
    buf_len: usize,
}

impl Geometry {
    /// The 16 channels of output positions `j0..j0 + JB` of one row, from the
    /// padded rows `bufs` (one per outer tap) and one channel block `kvecs`
    /// of the packed kernel. The accumulators are a fixed-size array indexed
    /// only by unrolled loops, so they stay in registers.
    #[inline(always)]
    fn block<S: pulp::Simd, const JB: usize, const NV: usize>(
        &self,
        simd: S,
        bufs: &[f32],
        kvecs: &[S::f32s],
        j0: usize,
    ) -> [[S::f32s; NV]; JB] {
        let c = self.c;
        let mut acc = [[simd.splat_f32s(0.0); NV]; JB];
        let taps = kvecs.chunks_exact(c * NV);
        for (t, kt) in taps.enumerate() {
            let (tg, kk) = (t / self.kl, t % self.kl);
            let base = tg * self.buf_len + j0 * self.step + kk * self.dil_step;
            // Slices of length `c` indexed by `ci < c`: no bounds checks in
            // the loop below.
            let x: [&[f32]; JB] = std::array::from_fn(|p| &bufs[base + p * self.step..][..c]);
            for (kv, ci) in kt.chunks_exact(NV).zip(0..c) {
                for (a, xp) in acc.iter_mut().zip(&x) {
                    let xv = simd.splat_f32s(xp[ci]);
                    for (a, &k) in a.iter_mut().zip(kv) {
                        *a = simd.mul_add_f32s(xv, k, *a);
                    }
                }
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use nnx_core::prelude::*;

    use crate::{value_and_grad, ConvOptions, Padding, Tensor};

    /// A deterministic pseudo-random tensor with values in [-1, 1).
    fn filled(shape: &[usize], seed: u64) -> Tensor {
        let n = shape.iter().product::<usize>() as u64;
        let v = (0..n)
            .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.5 - 1.0)
            .collect();
        Tensor::from_shape_vec(shape, v).expect("shape")
    }

    /// The convolution by its definition, in f64: every output position sums
    /// `x[o * stride + k * dilation - lo] * kernel[k]` over taps and channels.
    fn reference(
        x: &Tensor,
        k: &Tensor,
        strides: &[usize],
        dil: &[usize],
        pads: &[(usize, usize)],
    ) -> Vec<f64> {
        let (xs, ks) = (x.shape(), k.shape());
        let nsp = ks.len() - 2;
        let (c, cout) = (ks[nsp], ks[nsp + 1]);
        let y_shape = {
            let mut s = vec![xs[0]];
            s.extend((0..nsp).map(|d| {
                (xs[d + 1] + pads[d].0 + pads[d].1 - (ks[d] - 1) * dil[d] - 1) / strides[d] + 1
            }));
            s.push(cout);
            s
        };
        let (xa, ka) = (x.array(), k.array());
        let mut y = vec![0.0f64; y_shape.iter().product()];
        for (flat, out) in y.iter_mut().enumerate() {
            let mut ix = vec![0; y_shape.len()];
            let mut rest = flat;
            for d in (0..y_shape.len()).rev() {
                ix[d] = rest % y_shape[d];
                rest /= y_shape[d];
            }
            let o = ix[nsp + 1];
            let n_taps: usize = ks[..nsp].iter().product();
            for t in 0..n_taps {
                let mut tap = vec![0; nsp];
                let mut rest = t;
                for d in (0..nsp).rev() {
                    tap[d] = rest % ks[d];
                    rest /= ks[d];
                }
                let pos: Option<Vec<usize>> = (0..nsp)
                    .map(|d| {
                        let p = (ix[d + 1] * strides[d] + tap[d] * dil[d]) as isize
                            - pads[d].0 as isize;
                        (p >= 0 && (p as usize) < xs[d + 1]).then_some(p as usize)
                    })
                    .collect();
                let Some(pos) = pos else { continue };
                for ci in 0..c {
                    let mut xi = vec![ix[0]];
                    xi.extend(&pos);
                    xi.push(ci);
                    let mut ki = tap.clone();
                    ki.extend([ci, o]);
                    *out += f64::from(xa[xi.as_slice()]) * f64::from(ka[ki.as_slice()]);
                }
            }
        }
        y
    }

    /// x shape, kernel shape, strides, kernel dilation, explicit pads.
    type Case<'a> = (
        &'a [usize],
        &'a [usize],
        &'a [usize],
        &'a [usize],
        &'a [(usize, usize)],
    );

    #[test]
    fn matches_the_definition() -> nnx_core::Result<()> {
        // (x shape, kernel shape, strides, kernel dilation, explicit low/high pads):
        // 1-, 2- and 3-D, strides, dilation, padding wider than the kernel,
        // rows that are not a multiple of the register block, 32 outputs.
        let cases: [Case; 6] = [
            (
                &[2, 9, 9, 3],
                &[3, 3, 3, 16],
                &[1, 1],
                &[1, 1],
                &[(1, 1), (1, 1)],
            ),
            (
                &[1, 11, 7, 5],
                &[3, 2, 5, 32],
                &[2, 3],
                &[1, 1],
                &[(1, 2), (0, 3)],
            ),
            (&[3, 13, 4], &[3, 4, 16], &[1], &[2], &[(4, 4)]),
            (
                &[1, 5, 6, 4, 2],
                &[2, 3, 2, 2, 16],
                &[1, 1, 1],
                &[1, 2, 1],
                &[(1, 0), (2, 2), (0, 1)],
            ),
            (
                &[2, 10, 12, 16],
                &[1, 1, 16, 16],
                &[1, 1],
                &[1, 1],
                &[(0, 0), (0, 0)],
            ),
            (
                &[1, 4, 4, 1],
                &[5, 5, 1, 16],
                &[1, 1],
                &[1, 1],
                &[(4, 4), (4, 4)],
            ),
        ];
        for (i, (xs, ks, strides, dil, pads)) in cases.into_iter().enumerate() {
            let (x, k) = (filled(xs, i as u64), filled(ks, 7 + i as u64));
            let opts = ConvOptions {
                strides: strides.to_vec(),
                padding: Padding::Explicit(pads.to_vec()),
                kernel_dilation: dil.to_vec(),
                ..Default::default()
            };
            let y = x.conv_general(&k, &opts)?;
            let want = reference(&x, &k, strides, dil, pads);
            let got: Vec<f32> = y.array().iter().copied().collect();
            assert_eq!(got.len(), want.len(), "case {i}: {:?}", y.shape());
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (f64::from(*g) - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "case {i}: {g} vs {w}"
                );
            }
        }
        Ok(())
    }

    /// The loss `sum(y²)` of `y = conv(x, k) + b` (fused or as two ops) and
    /// its gradients in `x`, `k` and `b`.
    fn loss_and_grads(
        fused: bool,
        [x, k, b]: [&Tensor; 3],
    ) -> nnx_core::Result<(f32, [Option<Tensor>; 3])> {
        let opts = ConvOptions::default();
        let (mut px, mut pk, mut pb) = (
            Param::new(x.clone()),
            Param::new(k.clone()),
            Param::new(b.clone()),
        );
        let (loss, grads) = value_and_grad(
            (&mut px, &mut pk, &mut pb),
            (Param, Param, Param),
            |(x, k, b)| {
                let y = match fused {
                    true => x.conv_general_bias(k, b, &opts)?,
                    false => (x.conv_general(k, &opts)? + &**b)?,
                };
                Ok((&y * &y)?.sum())
            },
        )?;
        let (gx, gk, gb) = grads;
        let grads = [gx, gk, gb].map(|s| {
            s.leaf(&[])
                .and_then(|l| l.value.as_any().downcast_ref::<Tensor>().cloned())
        });
        Ok((loss, grads))
    }

    /// `conv_general_bias` against `conv_general` followed by `+ bias`: the
    /// same bits outside a gradient (direct kernel with 16 and 32 outputs, and
    /// the GEMM path for 3), the same values and gradients under one.
    #[test]
    fn bias_at_the_store_is_a_separate_add() -> nnx_core::Result<()> {
        for (i, cout) in [16, 32, 3].into_iter().enumerate() {
            let seed = 3 * i as u64;
            let x = filled(&[2, 7, 9, 5], seed);
            let k = filled(&[3, 3, 5, cout], seed + 1);
            let b = filled(&[cout], seed + 2);
            let opts = ConvOptions::default();
            let fused = x.conv_general_bias(&k, &b, &opts)?;
            assert_eq!(fused, (x.conv_general(&k, &opts)? + &b)?, "{cout} outputs");
            let (got, got_g) = loss_and_grads(true, [&x, &k, &b])?;
            assert!(got_g.iter().all(Option::is_some));
            assert_eq!((got, got_g), loss_and_grads(false, [&x, &k, &b])?);
        }
        Ok(())
    }
}
