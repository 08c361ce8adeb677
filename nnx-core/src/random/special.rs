//! The error function and its inverse, as the samplers need them.
//!
//! `erf_inv_f32` follows the single-precision polynomial of Giles (2010),
//! which is also what XLA evaluates, so f32 normals agree with JAX to a few
//! ulp. `erf_inv_f64` is Giles' double-precision polynomial evaluated the way
//! XLA's CPU backend does (its `log1p`, fused multiply-adds), so f64 normals
//! are bit-identical to JAX's under `jax_enable_x64` on a CPU with FMA.

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

/// The error function in double precision: fdlibm's, as the C library (and
/// so XLA's CPU backend, for `lax.erf` in f64) computes it.
pub(crate) fn erf_f64(x: f64) -> f64 {
    libm::erf(x)
}

/// Giles' double-precision erf⁻¹ coefficients in `w = -ln(1 - x²)`, highest
/// degree first, for `w < 6.25` (in `w - 3.125`), `w < 16` (in `sqrt(w) - 3.25`)
/// and beyond (in `sqrt(w) - 5`).
#[allow(clippy::excessive_precision)] // Published digits, kept verbatim.
const GILES64_CENTRAL: [f64; 23] = [
    -3.6444120640178196996e-21,
    -1.685059138182016589e-19,
    1.2858480715256400167e-18,
    1.115787767802518096e-17,
    -1.333171662854620906e-16,
    2.0972767875968561637e-17,
    6.6376381343583238325e-15,
    -4.0545662729752068639e-14,
    -8.1519341976054721522e-14,
    2.6335093153082322977e-12,
    -1.2975133253453532498e-11,
    -5.4154120542946279317e-11,
    1.051212273321532285e-09,
    -4.1126339803469836976e-09,
    -2.9070369957882005086e-08,
    4.2347877827932403518e-07,
    -1.3654692000834678645e-06,
    -1.3882523362786468719e-05,
    0.0001867342080340571352,
    -0.00074070253416626697512,
    -0.0060336708714301490533,
    0.24015818242558961693,
    1.6536545626831027356,
];
#[allow(clippy::excessive_precision)] // Published digits, kept verbatim.
const GILES64_MIDDLE: [f64; 19] = [
    2.2137376921775787049e-09,
    9.0756561938885390979e-08,
    -2.7517406297064545428e-07,
    1.8239629214389227755e-08,
    1.5027403968909827627e-06,
    -4.013867526981545969e-06,
    2.9234449089955446044e-06,
    1.2475304481671778723e-05,
    -4.7318229009055733981e-05,
    6.8284851459573175448e-05,
    2.4031110387097893999e-05,
    -0.0003550375203628474796,
    0.00095328937973738049703,
    -0.0016882755560235047313,
    0.0024914420961078508066,
    -0.0037512085075692412107,
    0.005370914553590063617,
    1.0052589676941592334,
    3.0838856104922207635,
];
#[allow(clippy::excessive_precision)] // Published digits, kept verbatim.
const GILES64_TAIL: [f64; 17] = [
    -2.7109920616438573243e-11,
    -2.5556418169965252055e-10,
    1.5076572693500548083e-09,
    -3.7894654401267369937e-09,
    7.6157012080783393804e-09,
    -1.4960026627149240478e-08,
    2.9147953450901080826e-08,
    -6.7711997758452339498e-08,
    2.2900482228026654717e-07,
    -9.9298272942317002539e-07,
    4.5260625972231537039e-06,
    -1.9681778105531670567e-05,
    7.5995277030017761139e-05,
    -0.00021503011930044477347,
    -0.00013871931833623122026,
    1.0103004648645343977,
    4.8499064014085844221,
];

/// Cephes' rational approximation of `(ln(1 + x) - x + x²/2) / x³` on
/// `|x| < sqrt(2) - 1`: numerator and denominator, highest degree first.
#[allow(clippy::excessive_precision)] // Published digits, kept verbatim.
const LOG1P_NUM: [f64; 7] = [
    4.5270000862445199635215E-5,
    4.9854102823193375972212E-1,
    6.5787325942061044846969E0,
    2.9911919328553073277375E1,
    6.0949667980987787057556E1,
    5.7112963590585538103336E1,
    2.0039553499201281259648E1,
];
#[allow(clippy::excessive_precision)] // Published digits, kept verbatim.
const LOG1P_DEN: [f64; 7] = [
    1.0,
    1.5062909083469192043167E1,
    8.3047565967967209469434E1,
    2.2176239823732856465394E2,
    3.0909872225312059774938E2,
    2.1642788614495947685003E2,
    6.0118660497603843919306E1,
];

/// `c[0]·x^(n-1) + ... + c[n-1]` by Horner's rule with fused multiply-adds,
/// as XLA's CPU backend contracts it.
fn horner_fma(coeffs: &[f64], x: f64) -> f64 {
    coeffs.iter().fold(0.0, |p, &c| p.mul_add(x, c))
}

/// `ln(1 + x)` as XLA's CPU backend computes it in f64: the Cephes rational
/// form below `sqrt(2) - 1` in magnitude, `ln(1 + x)` (libm's) above.
fn log1p_xla(x: f64) -> f64 {
    if x.abs() >= std::f64::consts::SQRT_2 - 1.0 || x.is_nan() {
        return (x + 1.0).ln();
    }
    let x2 = x * x;
    let r = horner_fma(&LOG1P_NUM, x) / horner_fma(&LOG1P_DEN, x);
    x + (-0.5f64).mul_add(x2, (x * x2) * r)
}

/// The inverse error function in double precision, bit for bit as XLA
/// evaluates it (Giles' three polynomials in `w = -ln(1 - x²)`).
pub(crate) fn erf_inv_f64(x: f64) -> f64 {
    if x.abs() == 1.0 {
        return x * f64::INFINITY;
    }
    let w = -log1p_xla(x * -x);
    let p = if w < 6.25 {
        horner_fma(&GILES64_CENTRAL, w - 3.125)
    } else if w < 16.0 {
        horner_fma(&GILES64_MIDDLE, w.sqrt() - 3.25)
    } else {
        horner_fma(&GILES64_TAIL, w.sqrt() - 5.0)
    };
    p * x
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

    /// `jax.lax.erf_inv` under `jax_enable_x64` (JAX 0.10.2, XLA CPU), as bit
    /// patterns: every polynomial of Giles' and both branches of log1p.
    #[test]
    fn erf_inv_f64_is_bit_identical_to_xla() {
        let cases: [(f64, u64); 13] = [
            (0.0, 0x0000000000000000),
            (1e-300, 0x01a2fdf36bf69ba0),
            (3e-09, 0x3e26d680381e5852),
            (-0.2, 0xbfc6ee2c37720944),
            (0.5, 0x3fde861fbb24c008),
            (-0.6435, 0xbfe4dd1ca154e245),
            (0.7, 0x3fe773a9da42b44e),
            (-0.9, 0xbff29c0146770650),
            (0.99, 0x3ffd2466082bb20e),
            (0.999999, 0x400babd96482ffd0),
            (-0.99999999999, 0xc013406f2a1d3096),
            (1.0 - f64::EPSILON, 0x40173856d153f081),
            (-(1.0 - f64::EPSILON / 2.0), 0xc017744f8f74e949),
        ];
        for (x, bits) in cases {
            assert_eq!(erf_inv_f64(x).to_bits(), bits, "erf_inv({x:e})");
        }
        assert_eq!(erf_inv_f64(-1.0), f64::NEG_INFINITY);
        assert!(erf_inv_f64(1.5).is_nan() && erf_inv_f64(f64::NAN).is_nan());
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
