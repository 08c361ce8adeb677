//! The error function and its inverse, as the samplers need them.
//!
//! `erf_inv_f32` is XLA CPU's single-precision erf⁻¹ operation for operation:
//! Giles' (2010) polynomials on `w = -log1p(-x²)`, with XLA's own `log1p` and
//! the multiply-adds its compiler fuses, so f32 normals match JAX bit for bit.
//! `erf_inv_f64` is Giles' double-precision polynomial evaluated the way XLA's
//! CPU backend does (its `log1p`, fused multiply-adds), so f64 normals are
//! bit-identical to JAX's under `jax_enable_x64` on a CPU with FMA.

use super::float::Float;

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

/// The coefficients of XLA's rational `log1p` for small arguments, from their bits,
/// `t - t²/2 + t³·P(t)/Q(t)`, highest degree first (the leading ones are
/// `4.527e-5` and `1`).
const LOG1P_P: [f32; 7] = from_bits([
    0x383D_E04B,
    0x3EFF_40C5,
    0x40D2_84FA,
    0x41EF_4B9C,
    0x4273_CC76,
    0x4264_73AD,
    0x41A0_5101,
]);
const LOG1P_Q: [f32; 7] = from_bits([
    0x3F80_0000,
    0x4171_01AD,
    0x42A6_185B,
    0x435D_C32D,
    0x439A_8CA3,
    0x4358_6D8A,
    0x4270_7982,
]);

/// Below this |t| XLA's `log1p(t)` uses the rational form, above it `ln(1 + t)`
/// (the bits of sqrt(2) - 1).
const LOG1P_SMALL: u32 = 0x3ED4_13CD;

/// Cephes' single-precision `ln` polynomial on the reduced mantissa (XLA's f32
/// `log`) from its bits, highest degree first, and the bits of `ln 2` split in
/// a small and a large part.
const LOG_P: [f32; 9] = from_bits([
    0x3D90_21BB,
    0xBDEB_D1B8,
    0x3DEF_251A,
    0xBDFE_5D4F,
    0x3E11_E9BF,
    0xBE2A_AE50,
    0x3E4C_CEAC,
    0xBE7F_FFFC,
    0x3EAA_AAAA,
]);
const LN2_SMALL: u32 = 0xB95E_8083;
const LN2_LARGE: u32 = 0x3F31_8000;

/// f32 values from their bit patterns (the coefficients are given as XLA's bits).
const fn from_bits<const N: usize>(bits: [u32; N]) -> [f32; N] {
    let mut out = [0.0; N];
    let mut i = 0;
    while i < N {
        out[i] = f32::from_bits(bits[i]);
        i += 1;
    }
    out
}

/// `c[0]·z^(n-1) + ... + c[n-1]` by Horner's rule, every step one fused
/// multiply-add, as XLA's CPU backend contracts it (f32 and f64).
#[inline(always)]
fn horner<F: Float>(coeffs: &[F], z: F) -> F {
    coeffs[1..].iter().fold(coeffs[0], |p, &c| p.mul_add(z, c))
}

/// `ln(y)` as XLA CPU evaluates it in f32: `y = 2^e·m` with `m` in
/// [sqrt(1/2), sqrt(2)), Cephes' polynomial in `m - 1`, with the fused
/// multiply-adds XLA's compiler forms. Branch-free, so it vectorizes.
/// `POSITIVE`: the caller guarantees a finite `y > 0`, so the special cases
/// (NaN, 0, negative, infinity) are not checked.
#[inline(always)]
pub(crate) fn ln_xla<const POSITIVE: bool>(y: f32) -> f32 {
    let bits = y.max(f32::MIN_POSITIVE).to_bits();
    // The mantissa as a value in [0.5, 1), and the exponent that goes with it.
    let m = f32::from_bits((bits & 0x807F_FFFF) | 0x3F00_0000);
    let e = ((bits >> 23) as i32 - 127) as f32 + 1.0;
    let below = m < f32::from_bits(0x3F35_04F3);
    let x = (m - 1.0) + if below { m } else { 0.0 };
    let e = if below { e - 1.0 } else { e };
    let x2 = x * x;
    let x3 = x2 * x;
    let a = horner(&LOG_P[0..3], x);
    let b = horner(&LOG_P[3..6], x);
    let c = horner(&LOG_P[6..9], x);
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
    let t2 = t * t;
    let small = t + t2.mul_add(-0.5, (t * t2) * (horner(&LOG1P_P, t) / horner(&LOG1P_Q, t)));
    if t.abs() < f32::from_bits(LOG1P_SMALL) {
        small
    } else {
        ln_xla::<INSIDE>(t + 1.0)
    }
}

/// erf⁻¹(x) from `x` and `log1p(-x²)` (= -w), taking Giles' central or tail
/// polynomial per element.
#[inline(always)]
fn erf_inv_from_log(x: f32, minus_w: f32) -> f32 {
    let p = if minus_w > -5.0 {
        horner(&GILES_CENTRAL, -2.5 - minus_w)
    } else {
        horner(&GILES_TAIL, (-minus_w).sqrt() - 3.0)
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
            out[j] = horner(&GILES_CENTRAL, -2.5 - minus_w[j]) * x[j];
        }
    } else {
        for j in 0..L {
            out[j] = erf_inv_from_log(x[j], minus_w[j]);
        }
    }
    out
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

/// `ln(1 + x)` as XLA's CPU backend computes it in f64: the Cephes rational
/// form below `sqrt(2) - 1` in magnitude, `ln(1 + x)` (libm's) above.
fn log1p_xla_f64(x: f64) -> f64 {
    if x.abs() >= std::f64::consts::SQRT_2 - 1.0 || x.is_nan() {
        return (x + 1.0).ln();
    }
    let x2 = x * x;
    let r = horner(&LOG1P_NUM, x) / horner(&LOG1P_DEN, x);
    x + (-0.5f64).mul_add(x2, (x * x2) * r)
}

/// The inverse error function in double precision, bit for bit as XLA
/// evaluates it (Giles' three polynomials in `w = -ln(1 - x²)`).
pub(crate) fn erf_inv_f64(x: f64) -> f64 {
    if x.abs() == 1.0 {
        return x * f64::INFINITY;
    }
    let w = -log1p_xla_f64(x * -x);
    let p = if w < 6.25 {
        horner(&GILES64_CENTRAL, w - 3.125)
    } else if w < 16.0 {
        horner(&GILES64_MIDDLE, w.sqrt() - 3.25)
    } else {
        horner(&GILES64_TAIL, w.sqrt() - 5.0)
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
