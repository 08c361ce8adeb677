//! The error function and its inverse, as the samplers need them.
//!
//! `erf_inv_f32` is XLA CPU's single-precision erf⁻¹ operation for operation:
//! Giles' (2010) polynomials on `w = -log1p(-x²)`, with XLA's own `log1p` and
//! the multiply-adds its compiler fuses, so f32 normals match JAX bit for bit.
//! The f64 versions are accurate to a few ulp by construction (series,
//! continued fraction, Halley refinement) rather than mirroring XLA.

use std::f64::consts::PI;

/// 2 / sqrt(pi).
const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// Coefficients of Giles' single-precision erf⁻¹ polynomials (central, tail),
/// highest degree first.
#[allow(clippy::excessive_precision)] // Published digits, kept verbatim.
const GILES_CENTRAL: [f32; 9] = [
    2.81022636e-08,
    3.43273939e-07,
    -3.5233877e-06,
    -4.39150654e-06,
    0.00021858087,
    -0.00125372503,
    -0.00417768164,
    0.246640727,
    1.50140941,
];
#[allow(clippy::excessive_precision)] // Published digits, kept verbatim.
const GILES_TAIL: [f32; 9] = [
    -0.000200214257,
    0.000100950558,
    0.00134934322,
    -0.00367342844,
    0.00573950773,
    -0.0076224613,
    0.00943887047,
    1.00167406,
    2.83297682,
];

/// Bits of the coefficients of XLA's rational `log1p` for small arguments,
/// `t - t²/2 + t³·P(t)/Q(t)`, highest degree first (the leading ones are
/// `4.527e-5` and `1`).
const LOG1P_P: [u32; 7] = [
    0x383D_E04B,
    0x3EFF_40C5,
    0x40D2_84FA,
    0x41EF_4B9C,
    0x4273_CC76,
    0x4264_73AD,
    0x41A0_5101,
];
const LOG1P_Q: [u32; 7] = [
    0x3F80_0000,
    0x4171_01AD,
    0x42A6_185B,
    0x435D_C32D,
    0x439A_8CA3,
    0x4358_6D8A,
    0x4270_7982,
];

/// Below this |t| XLA's `log1p(t)` uses the rational form, above it `ln(1 + t)`
/// (the bits of sqrt(2) - 1).
const LOG1P_SMALL: u32 = 0x3ED4_13CD;

/// Bits of Cephes' single-precision `ln` polynomial on the reduced mantissa
/// (XLA's f32 `log`), highest degree first, and of `ln 2` split in a small and
/// a large part.
const LOG_P: [u32; 9] = [
    0x3D90_21BB,
    0xBDEB_D1B8,
    0x3DEF_251A,
    0xBDFE_5D4F,
    0x3E11_E9BF,
    0xBE2A_AE50,
    0x3E4C_CEAC,
    0xBE7F_FFFC,
    0x3EAA_AAAA,
];
const LN2_SMALL: u32 = 0xB95E_8083;
const LN2_LARGE: u32 = 0x3F31_8000;

/// `fma(fma(x, c[0], c[1]), x, c[2])`.
#[inline(always)]
fn horner3(x: f32, c: &[u32]) -> f32 {
    f32::from_bits(c[0])
        .mul_add(x, f32::from_bits(c[1]))
        .mul_add(x, f32::from_bits(c[2]))
}

/// `ln(y)` as XLA CPU evaluates it in f32: `y = 2^e·m` with `m` in
/// [sqrt(1/2), sqrt(2)), Cephes' polynomial in `m - 1`, with the fused
/// multiply-adds XLA's compiler forms. Branch-free, so it vectorizes.
/// `POSITIVE`: the caller guarantees a finite `y > 0`, so the special cases
/// (NaN, 0, negative, infinity) are not checked.
#[inline(always)]
fn ln_xla<const POSITIVE: bool>(y: f32) -> f32 {
    let bits = y.max(f32::MIN_POSITIVE).to_bits();
    // The mantissa as a value in [0.5, 1), and the exponent that goes with it.
    let m = f32::from_bits((bits & 0x807F_FFFF) | 0x3F00_0000);
    let e = ((bits >> 23) as i32 - 127) as f32 + 1.0;
    let below = m < f32::from_bits(0x3F35_04F3);
    let x = (m - 1.0) + if below { m } else { 0.0 };
    let e = if below { e - 1.0 } else { e };
    let x2 = x * x;
    let x3 = x2 * x;
    let a = horner3(x, &LOG_P[0..3]);
    let b = horner3(x, &LOG_P[3..6]);
    let c = horner3(x, &LOG_P[6..9]);
    let poly = x3.mul_add(
        x3.mul_add(x3.mul_add(a, b), c),
        e * f32::from_bits(LN2_SMALL),
    );
    let r = e.mul_add(f32::from_bits(LN2_LARGE), x2.mul_add(-0.5, x) + poly);
    if POSITIVE {
        r
    } else if y.is_nan() || y < 0.0 {
        f32::NAN
    } else if y == 0.0 {
        f32::NEG_INFINITY
    } else if y == f32::INFINITY {
        y
    } else {
        r
    }
}

/// `ln(1 + t)` as XLA CPU evaluates it in f32 (both forms computed, one
/// selected, so that it vectorizes); `INSIDE`: the caller guarantees
/// `-1 < t <= 0` (so `1 + t` is a finite positive number).
#[inline(always)]
fn log1p_xla<const INSIDE: bool>(t: f32) -> f32 {
    let horner = |c: &[u32; 7]| {
        c[1..].iter().fold(f32::from_bits(c[0]), |acc, &k| {
            acc.mul_add(t, f32::from_bits(k))
        })
    };
    let t2 = t * t;
    let small = t + t2.mul_add(-0.5, (t * t2) * (horner(&LOG1P_P) / horner(&LOG1P_Q)));
    if t.abs() < f32::from_bits(LOG1P_SMALL) {
        small
    } else {
        ln_xla::<INSIDE>(t + 1.0)
    }
}

/// Giles' polynomial in `z` (central or tail coefficients), XLA's way:
/// every step one fused multiply-add.
#[inline(always)]
fn giles(coeffs: &[f32; 9], z: f32) -> f32 {
    coeffs[1..].iter().fold(coeffs[0], |p, &c| p.mul_add(z, c))
}

/// erf⁻¹(x) from `x` and `log1p(-x²)` (= -w), taking Giles' central or tail
/// polynomial per element.
#[inline(always)]
fn erf_inv_from_log(x: f32, minus_w: f32) -> f32 {
    let p = if minus_w > -5.0 {
        giles(&GILES_CENTRAL, -2.5 - minus_w)
    } else {
        giles(&GILES_TAIL, (-minus_w).sqrt() - 3.0)
    };
    finish_erf_inv(x, p)
}

/// `p·x`, or `±inf` at `x = ±1`.
#[inline(always)]
fn finish_erf_inv(x: f32, p: f32) -> f32 {
    if x.abs() == 1.0 {
        x * f32::INFINITY
    } else {
        p * x
    }
}

/// erf⁻¹ in single precision, as XLA evaluates it (see the module docs).
#[inline(always)]
pub(crate) fn erf_inv_f32(x: f32) -> f32 {
    erf_inv_from_log(x, log1p_xla::<false>(x * -x))
}

/// [`erf_inv_f32`] on a batch, the same values. When every |x| < 1 (always,
/// for the normal sampler's draws) the special cases of `ln` are not checked,
/// and the tail polynomial (and its square root) is evaluated only when some
/// element needs it (|x| above about 0.9966, one element in 300).
#[inline(always)]
pub(crate) fn erf_inv_f32_lanes<const L: usize>(x: [f32; L]) -> [f32; L] {
    // Folds rather than `all`: no early exit, so the tests vectorize.
    if !x.iter().fold(true, |acc, &v| acc & (v.abs() < 1.0)) {
        return x.map(erf_inv_f32);
    }
    let mut minus_w = [0.0f32; L];
    for j in 0..L {
        // x² < 1 here, so 1 - x² is a finite positive number.
        minus_w[j] = log1p_xla::<true>(x[j] * -x[j]);
    }
    let mut out = [0.0f32; L];
    if minus_w.iter().fold(true, |acc, &m| acc & (m > -5.0)) {
        for j in 0..L {
            out[j] = giles(&GILES_CENTRAL, -2.5 - minus_w[j]) * x[j];
        }
    } else {
        for j in 0..L {
            out[j] = erf_inv_from_log(x[j], minus_w[j]);
        }
    }
    out
}

/// The same approximation evaluated in f64, as a starting point for refinement.
fn giles_f64(x: f64) -> f64 {
    let w = -((1.0 - x) * (1.0 + x)).ln();
    let (coeffs, w) = if w < 5.0 {
        (&GILES_CENTRAL, w - 2.5)
    } else {
        (&GILES_TAIL, w.sqrt() - 3.0)
    };
    let p = coeffs[1..]
        .iter()
        .fold(f64::from(coeffs[0]), |p, &c| f64::from(c) + p * w);
    p * x
}

/// erf(x) for |x| < 2 by the positive-term series
/// `exp(-x²)·Σ 2ⁿx^(2n+1)/(2n+1)!!`, which has no cancellation.
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    let mut n = 0.0;
    while term.abs() > 1e-18 * sum.abs() {
        n += 1.0;
        term *= 2.0 * x2 / (2.0 * n + 1.0);
        sum += term;
    }
    TWO_OVER_SQRT_PI * (-x2).exp() * sum
}

/// erfc(x) for x >= 2 by its continued fraction, evaluated backwards.
fn erfc_cf(x: f64) -> f64 {
    let mut f = x;
    for n in (1..=80).rev() {
        f = x + (f64::from(n) / 2.0) / f;
    }
    (-x * x).exp() / (PI.sqrt() * f)
}

/// The error function in double precision.
pub(crate) fn erf_f64(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let r = if a < 2.0 {
        erf_series(a)
    } else if a < 6.0 {
        1.0 - erfc_cf(a)
    } else {
        1.0
    };
    r.copysign(x)
}

/// The complementary error function for x >= 0.
fn erfc_pos(x: f64) -> f64 {
    if x < 2.0 {
        1.0 - erf_series(x)
    } else if x < 27.0 {
        erfc_cf(x)
    } else {
        0.0
    }
}

/// The inverse error function in double precision: Giles' estimate refined by
/// Halley steps on `erfc`, which keeps the tails accurate.
pub(crate) fn erf_inv_f64(x: f64) -> f64 {
    if x.is_nan() || x.abs() > 1.0 {
        return f64::NAN;
    }
    if x.abs() == 1.0 {
        return x * f64::INFINITY;
    }
    let a = x.abs();
    let mut y = giles_f64(a);
    // 1 - a is exact for a >= 0.5 (Sterbenz), so the residual below is exact
    // up to the accuracy of erfc in the tails.
    let one_minus_a = 1.0 - a;
    for _ in 0..4 {
        let f = if a >= 0.5 {
            one_minus_a - erfc_pos(y)
        } else {
            erf_series(y) - a
        };
        let df = TWO_OVER_SQRT_PI * (-y * y).exp();
        if df == 0.0 {
            break;
        }
        let t = f / df;
        y -= t / (1.0 + y * t);
    }
    y.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_known_values() {
        assert!((erf_f64(0.5) - 0.520_499_877_813_046_5).abs() < 4e-16);
        assert!((erf_f64(2.5) - 0.999_593_047_982_555).abs() < 4e-16);
        assert!((erf_f64(-1.0) + 0.842_700_792_949_714_9).abs() < 4e-16);
    }

    /// Inputs, and the bits of `jax.lax.erf_inv(x)` and `jnp.log1p(-x*x)` for
    /// them (float32, jitted on CPU, jax 0.10.2): central and tail values of
    /// both polynomials, both forms of log1p.
    const XS: [f32; 10] = [
        0.5, -0.9, 0.99, 0.9999, 1e-3, 0.7, -0.3, 0.999_999, 0.41, 0.2,
    ];
    const JAX_ERF_INV: [u32; 10] = [
        0x3ef4_30fe,
        0xbf94_e009,
        0x3fe9_2333,
        0x4030_10d3,
        0x3a68_51b2,
        0x3f3b_9d4f,
        0xbe8b_803d,
        0x405d_40b6,
        0x3ec3_145a,
        0x3e37_7163,
    ];
    const JAX_LOG1P: [u32; 10] = [
        0xbe93_4b10,
        0xbfd4_92d4,
        0xc07a_b0bd,
        0xc108_45be,
        0xb586_37c2,
        0xbf2c_604f,
        0xbdc1_25f6,
        0xc151_bf2b,
        0xbe3c_75c7,
        0xbd27_34f8,
    ];

    #[test]
    fn f32_erf_inv_and_log1p_are_xlas() {
        for ((&x, &e), &l) in XS.iter().zip(&JAX_ERF_INV).zip(&JAX_LOG1P) {
            assert_eq!(erf_inv_f32(x).to_bits(), e, "erf_inv({x})");
            assert_eq!(log1p_xla::<false>(x * -x).to_bits(), l, "log1p(-{x}²)");
            assert_eq!(log1p_xla::<true>(x * -x).to_bits(), l, "log1p(-{x}²)");
        }
    }

    /// The batched erf⁻¹ (its unchecked and central-only paths) gives the
    /// per-element values bit for bit, special inputs included.
    #[test]
    fn f32_erf_inv_lanes_match_elements() {
        let central: [f32; 16] = std::array::from_fn(|j| (j as f32 - 7.5) / 8.0);
        let tail: [f32; 16] = std::array::from_fn(|j| XS[j % XS.len()]);
        let special: [f32; 16] = std::array::from_fn(|j| {
            [
                1.0,
                -1.0,
                f32::NAN,
                -0.0,
                1.5,
                f32::INFINITY,
                0.25,
                -0.999_9,
            ][j % 8]
        });
        for batch in [central, tail, special] {
            let got = erf_inv_f32_lanes(batch);
            for (g, &x) in got.iter().zip(&batch) {
                assert_eq!(g.to_bits(), erf_inv_f32(x).to_bits(), "erf_inv({x})");
            }
        }
        assert_eq!(erf_inv_f32(1.0), f32::INFINITY);
        assert_eq!(erf_inv_f32(-1.0), f32::NEG_INFINITY);
        assert!(erf_inv_f32(1.5).is_nan() && erf_inv_f32(f32::NAN).is_nan());
    }

    #[test]
    fn erf_inv_round_trips() {
        for &y in &[-3.0, -1.2, -0.3, 0.0, 1e-5, 0.7, 1.9, 2.5] {
            let x = erf_f64(y);
            let back = erf_inv_f64(x);
            assert!((back - y).abs() <= 1e-12 * y.abs().max(1.0), "{y} {back}");
            // f32 cannot resolve erf(y) from 1 beyond |y| ~ 2.5.
            let back32 = erf_inv_f32(x as f32);
            assert!(y.abs() > 2.5 || (f64::from(back32) - y).abs() <= 1e-5 * y.abs().max(1.0));
        }
    }
}
