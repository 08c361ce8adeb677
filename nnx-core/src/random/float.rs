//! The floating-point element types the samplers produce.

use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

use super::bits::{word_u32, word_u64, LANES};
use super::special;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A float element type of the samplers and initializers: `f32` or `f64`.
///
/// Sealed: the bit-level uniform construction depends on the IEEE layout.
///
/// ```
/// use nnx_core::random::Float;
/// assert_eq!(<f32 as Float>::from_f64(0.5), 0.5f32);
/// ```
pub trait Float:
    sealed::Sealed
    + Copy
    + Debug
    + Default
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// The smallest positive normal value (`finfo.tiny`).
    const TINY: Self;
    /// Rounds an `f64` to this type.
    fn from_f64(x: f64) -> Self;
    /// Widens to `f64`.
    fn to_f64(self) -> f64;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// `self * a + b` with a single rounding (XLA CPU fuses these).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// The next representable value towards `+inf` (`up`) or `-inf`.
    fn next_after(self, up: bool) -> Self;
    /// One element of JAX's `uniform` in `[0, 1)` from its two hash words:
    /// random mantissa bits make a float in `[1, 2)`, minus one.
    #[doc(hidden)]
    fn unit_from_words(words: [u32; 2]) -> Self;
    /// The inverse error function, at this precision.
    #[doc(hidden)]
    fn erf_inv(self) -> Self;
    /// [`erf_inv`](Float::erf_inv) on a batch of values (vectorized where
    /// the precision allows it).
    #[doc(hidden)]
    #[inline(always)]
    fn erf_inv_lanes(x: [Self; LANES]) -> [Self; LANES] {
        x.map(Self::erf_inv)
    }
    /// The error function, at this precision.
    #[doc(hidden)]
    fn erf(self) -> Self;
}

impl Float for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const TINY: Self = f32::MIN_POSITIVE;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn sqrt(self) -> Self {
        f32::sqrt(self)
    }
    fn ln(self) -> Self {
        // XLA's f32 `log`, so gumbel and categorical draws match JAX's bits.
        special::ln_xla::<false>(self)
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f32::mul_add(self, a, b)
    }
    fn next_after(self, up: bool) -> Self {
        if up {
            self.next_up()
        } else {
            self.next_down()
        }
    }
    #[inline(always)]
    fn unit_from_words(words: [u32; 2]) -> Self {
        // Keep the top 23 bits as mantissa of a float in [1, 2).
        f32::from_bits((word_u32(words) >> 9) | 0x3f80_0000) - 1.0
    }
    #[inline(always)]
    fn erf_inv(self) -> Self {
        special::erf_inv_f32(self)
    }
    #[inline(always)]
    fn erf_inv_lanes(x: [Self; LANES]) -> [Self; LANES] {
        special::erf_inv_f32_lanes(x)
    }
    fn erf(self) -> Self {
        special::erf_f64(f64::from(self)) as f32
    }
}

impl Float for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const TINY: Self = f64::MIN_POSITIVE;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    #[inline(always)]
    fn mul_add(self, a: Self, b: Self) -> Self {
        f64::mul_add(self, a, b)
    }
    fn next_after(self, up: bool) -> Self {
        if up {
            self.next_up()
        } else {
            self.next_down()
        }
    }
    #[inline(always)]
    fn unit_from_words(words: [u32; 2]) -> Self {
        // Keep the top 52 bits as mantissa of a double in [1, 2).
        f64::from_bits((word_u64(words) >> 12) | 0x3ff0_0000_0000_0000) - 1.0
    }
    #[inline(always)]
    fn erf_inv(self) -> Self {
        special::erf_inv_f64(self)
    }
    fn erf(self) -> Self {
        special::erf_f64(self)
    }
}
