//! The error function and its inverse, as the samplers need them.
//!
//! `erf_inv_f32` follows the single-precision polynomial of Giles (2010),
//! which is also what XLA evaluates, so f32 normals agree with JAX to a few
//! ulp. The f64 versions are accurate to a few ulp by construction (series,
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

/// `ln(1 + y)` for an f32 `y >= -1`, evaluated in f64 and rounded once, so
/// correctly rounded but for values within ~1e-16 of a rounding boundary.
/// Branch-free (the libm call it replaces keeps the samplers from vectorizing).
#[inline(always)]
pub(crate) fn ln_1p_f32(y: f32) -> f32 {
    /// The bits of sqrt(1/2): `1 + y` is split as `2^e * m` with `m` in [sqrt(1/2), sqrt(2)).
    const SQRT_HALF: u64 = 0x3fe6_a09e_667f_3bcd;
    const ONE: u64 = 0x3ff0_0000_0000_0000;
    /// 2^52 + 1023 as a float whose low mantissa bits take an exponent field:
    /// subtracting it converts the field to the (unbiased) exponent.
    const EXP_MAGIC: f64 = 4_503_599_627_371_519.0;
    let yd = f64::from(y);
    // Exact for |y| >= 2^-29, the only y this value is used for.
    let u = 1.0 + yd;
    let adj = u.to_bits().wrapping_add(ONE - SQRT_HALF);
    let e = f64::from_bits(0x4330_0000_0000_0000 | (adj >> 52)) - EXP_MAGIC;
    let m = f64::from_bits((adj & 0x000f_ffff_ffff_ffff) + SQRT_HALF);
    // m - 1 is exact (Sterbenz); ln(m) = 2 atanh(s) with |s| < 0.172.
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let z = s * s;
    // 2 atanh(s) / (2s) = sum z^k / (2k + 1); ten terms reach 1e-17.
    let series = ATANH_SERIES.iter().rev().fold(0.0, |acc, &c| c + z * acc);
    let ln = e * std::f64::consts::LN_2 + 2.0 * s * series;
    let r = if yd.abs() < TINY_Y {
        // ln(1 + y) = y - y²/2 + ..., which rounds to y in f32.
        yd
    } else if u == 0.0 {
        f64::NEG_INFINITY
    } else {
        ln
    };
    r as f32
}

/// Below this |y|, `1 + y` is inexact in f64 and `ln(1 + y)` rounds to `y` in f32.
const TINY_Y: f64 = 1.0 / (1u64 << 29) as f64;

/// 1 / (2k + 1) for k = 0..=10.
const ATANH_SERIES: [f64; 11] = [
    1.0,
    1.0 / 3.0,
    1.0 / 5.0,
    1.0 / 7.0,
    1.0 / 9.0,
    1.0 / 11.0,
    1.0 / 13.0,
    1.0 / 15.0,
    1.0 / 17.0,
    1.0 / 19.0,
    1.0 / 21.0,
];

/// Giles' single-precision approximation of erf⁻¹, evaluated in f32. Both
/// polynomials are evaluated and one is selected, so that the function has no
/// branches and vectorizes.
#[inline(always)]
pub(crate) fn erf_inv_f32(x: f32) -> f32 {
    let w = -ln_1p_f32(-x * x);
    let horner = |coeffs: &[f32; 9], w: f32| coeffs[1..].iter().fold(coeffs[0], |p, &c| c + p * w);
    let central = horner(&GILES_CENTRAL, w - 2.5);
    let tail = horner(&GILES_TAIL, w.sqrt() - 3.0);
    let p = if w < 5.0 { central } else { tail };
    if x.abs() == 1.0 {
        x * f32::INFINITY
    } else {
        p * x
    }
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

    /// The vectorizable ln(1 + y) rounds like the f64 libm one, from tiny
    /// arguments (where 1 + y is inexact) to -1.
    #[test]
    fn ln_1p_f32_is_correctly_rounded() {
        let mut ys = vec![-1.0f32, -0.0, 0.0, 1e-30, -1e-12, 3e-9, -2e-9, 1.0];
        ys.extend((1..20_000).map(|i| -(i as f32) / 20_000.0));
        ys.extend((1..2_000).map(|i| -1.0 + i as f32 * f32::EPSILON / 2.0));
        ys.extend((0..2_000).map(|i| -(2.0f32).powi(-(i % 60 + 1)) * (1.0 + i as f32 / 2_000.0)));
        for y in ys {
            let want = (f64::from(y)).ln_1p() as f32;
            assert_eq!(ln_1p_f32(y).to_bits(), want.to_bits(), "ln_1p({y:e})");
        }
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
