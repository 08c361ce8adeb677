//! A vectorized `f32` softmax: `exp` in straight-line arithmetic that the
//! compiler turns into vector code under the instruction set pulp picks at
//! run time (libm's `expf` is a call per element and was 13-16% of an
//! attention forward).
//!
//! `exp(x) = 2^n · exp(r)` with `n = round(x / ln 2)` and `|r| ≤ ln 2 / 2`
//! (Cody-Waite reduction with a two-part `ln 2`), `exp(r)` by a degree-7
//! polynomial (Cephes' `expf` coefficients), and `2^n` applied as two
//! powers of two so that results in the subnormal range round once. Within 2
//! ulp of libm over the whole range (tested below).

/// Values per batch: a multiple of every vector width (4, 8 or 16 lanes).
const LANES: usize = 16;

/// `exp(x)` for one element, branch-free so that loops over it vectorize.
#[inline(always)]
fn exp1(x: f32) -> f32 {
    // 1.5 · 2^23: adding it rounds to an integer held in the low mantissa bits.
    const SHIFTER: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Below -104 the result is under half the smallest subnormal; above 89
    // it overflows (n = 128 gives inf below).
    // (A NaN passes the clamp and makes every step below NaN.)
    let xc = x.clamp(-104.0, 89.0);
    // Plain multiplies and adds (no FMA needed): `n · LN2_HI` is exact, as
    // `LN2_HI` has 9 significant bits and `|n| ≤ 150`.
    let t = xc * std::f32::consts::LOG2_E + SHIFTER;
    let n = t - SHIFTER;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let mut p: f32 = 1.987_569_1e-4;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        0.166_666_65,
        0.5,
    ] {
        p = p * r + c;
    }
    let p = p * (r * r) + r + 1.0;
    let ni = (t.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    let n1 = ni >> 1;
    let n2 = ni.wrapping_sub(n1);
    let pow2 = |e: i32| f32::from_bits((e.wrapping_add(127) as u32) << 23);
    p * pow2(n1) * pow2(n2)
}

/// `xs[i] = exp(xs[i] - m)`; returns the sum of the results.
#[inline(always)]
fn exp_sub_sum(xs: &mut [f32], m: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let mut chunks = xs.chunks_exact_mut(LANES);
    for c in &mut chunks {
        for (v, a) in c.iter_mut().zip(&mut acc) {
            *v = exp1(*v - m);
            *a += *v;
        }
    }
    let mut sum = 0.0;
    for v in chunks.into_remainder() {
        *v = exp1(*v - m);
        sum += *v;
    }
    acc.iter().fold(sum, |s, &a| s + a)
}

/// The largest element (`-inf` for an empty slice, NaN-ignoring like `f32::max`).
#[inline(always)]
fn max(xs: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a = a.max(v);
        }
    }
    acc.iter().fold(tail, |a, &b| a.max(b))
}

/// Softmax of every `len`-long row of `xs` in place, as pulp-dispatched code.
struct SoftmaxRows<'a> {
    xs: &'a mut [f32],
    len: usize,
}

impl pulp::WithSimd for SoftmaxRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        for row in self.xs.chunks_exact_mut(self.len) {
            let m = max(row);
            let sum = exp_sub_sum(row, m);
            for v in row.iter_mut() {
                *v /= sum;
            }
        }
    }
}

/// Softmax of every `len`-long row of `xs` in place (`len > 0`): max-subtracted
/// exponentials over their sum.
pub(super) fn softmax_rows(xs: &mut [f32], len: usize) {
    if len > 0 {
        pulp::Arch::new().dispatch(SoftmaxRows { xs, len });
    }
}

/// `exp` of every element in place, as pulp-dispatched code (the accuracy
/// tests' entry point).
#[cfg(test)]
fn exp_in_place(xs: &mut [f32]) {
    struct Exp<'a>(&'a mut [f32]);
    impl pulp::WithSimd for Exp<'_> {
        type Output = ();
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _: S) {
            exp_sub_sum(self.0, 0.0);
        }
    }
    pulp::Arch::new().dispatch(Exp(xs));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place between two finite non-negative
    /// floats (their bit patterns are ordered like their values).
    fn ulps(a: f32, b: f32) -> u32 {
        a.to_bits().abs_diff(b.to_bits())
    }

    /// Against libm's `expf` on a dense sweep of the whole range (normal,
    /// subnormal and overflowing results) and on the special values.
    #[test]
    fn within_two_ulp_of_libm() {
        let n = 1 << 21;
        let (lo, hi) = (-110.0f64, 90.0f64);
        let mut xs: Vec<f32> = (0..=n)
            .map(|i| (lo + (hi - lo) * i as f64 / n as f64) as f32)
            .collect();
        // Small arguments, where exp(x) is near 1 and the ulp is finest.
        xs.extend((0..20_000).map(|i| (i as f32 - 10_000.0) * 1e-6));
        xs.extend([
            0.0, -0.0, 88.72283, 88.72284, -87.33654, -103.97, -103.98, -149.0,
        ]);
        let mut got = xs.clone();
        exp_in_place(&mut got);
        let mut worst = (0, 0.0f32);
        for (&x, &y) in xs.iter().zip(&got) {
            let d = ulps(y, x.exp());
            if d > worst.0 {
                worst = (d, x);
            }
        }
        assert!(worst.0 <= 2, "{} ulp at x = {}", worst.0, worst.1);
        let mut special = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN,
            f32::MAX,
        ];
        exp_in_place(&mut special);
        assert_eq!(special[0], f32::INFINITY);
        assert_eq!(special[1], 0.0);
        assert!(special[2].is_nan());
        assert_eq!(special[3], 0.0);
        assert_eq!(special[4], f32::INFINITY);
    }

    /// Rows sum to one, and the result agrees with the scalar formula.
    #[test]
    fn softmax_rows_match_scalar() {
        let len = 37;
        let xs: Vec<f32> = (0..len * 3)
            .map(|i| ((i * 17) % 23) as f32 * 0.7 - 8.0)
            .collect();
        let mut got = xs.clone();
        softmax_rows(&mut got, len);
        for (row, want) in got.chunks(len).zip(xs.chunks(len)) {
            let m = want.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let e: Vec<f32> = want.iter().map(|&v| (v - m).exp()).collect();
            let s: f32 = e.iter().sum();
            for (&g, &w) in row.iter().zip(&e) {
                assert!((g - w / s).abs() <= 2e-7, "{g} vs {}", w / s);
            }
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
    }
}
