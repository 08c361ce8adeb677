//! Python- and numpy-exact formatting of floating point scalars.

/// Sign, shortest round-trip decimal digits and decimal exponent of a finite
/// float, i.e. `-d.ddd × 10^exp`.
///
/// Rust's `{:e}` already produces the shortest digits that round-trip (closest
/// to the exact value on ties), which is the same digit string CPython's `repr`
/// and numpy's Dragon4 "unique" mode pick, so we only re-arrange it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decimal {
    pub(crate) negative: bool,
    pub(crate) digits: String,
    pub(crate) exp: i32,
}

impl Decimal {
    /// Parses the output of Rust's `{:e}` / `{:.Ne}` formatting (`-1.25e-7`).
    pub(crate) fn parse_sci(s: &str) -> Decimal {
        let (negative, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s),
        };
        let (mant, exp) = rest.split_once('e').unwrap_or((rest, "0"));
        let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
        let exp = exp.parse::<i32>().unwrap_or(0);
        Decimal {
            negative,
            digits: if digits.is_empty() {
                "0".to_string()
            } else {
                digits
            },
            exp,
        }
    }

    /// Drops trailing zeros of the digit string (keeping at least one digit).
    pub(crate) fn trimmed(mut self) -> Decimal {
        while self.digits.len() > 1 && self.digits.ends_with('0') {
            self.digits.pop();
        }
        self
    }

    /// `(integer part, fractional part)` of the positional form, both without sign.
    pub(crate) fn positional_parts(&self) -> (String, String) {
        let n = self.digits.len();
        if self.exp >= 0 {
            let int_len = self.exp as usize + 1;
            if n > int_len {
                (
                    self.digits[..int_len].to_string(),
                    self.digits[int_len..].to_string(),
                )
            } else {
                let mut int = self.digits.clone();
                int.push_str(&"0".repeat(int_len - n));
                (int, String::new())
            }
        } else {
            let zeros = "0".repeat((-self.exp - 1) as usize);
            ("0".to_string(), format!("{zeros}{}", self.digits))
        }
    }

    /// Number of digits after the decimal point in the positional form.
    pub(crate) fn positional_frac_len(&self) -> usize {
        let frac = self.digits.len() as i64 - 1 - self.exp as i64;
        frac.max(0) as usize
    }

    /// Python-style scientific form: `1e-05`, `1.5e+16`, `-2.5e+100`.
    fn python_scientific(&self) -> String {
        let sign = if self.negative { "-" } else { "" };
        let (first, rest) = self.digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if self.exp < 0 { '-' } else { '+' };
        format!(
            "{sign}{first}{dot}{rest}e{exp_sign}{:02}",
            self.exp.unsigned_abs()
        )
    }

    /// Python-style positional form, always with a fractional digit: `1.0`, `0.001`.
    fn python_positional(&self) -> String {
        let sign = if self.negative { "-" } else { "" };
        let (int, frac) = self.positional_parts();
        let frac = if frac.is_empty() {
            "0".to_string()
        } else {
            frac
        };
        format!("{sign}{int}.{frac}")
    }
}

macro_rules! shortest_fn {
    ($name:ident, $t:ty) => {
        /// Shortest round-trip digits, breaking exact ties between two equally
        /// close candidates towards the even digit as CPython's dtoa and numpy's
        /// Dragon4 do (Rust's shortest formatting rounds such ties up).
        pub(crate) fn $name(x: $t) -> Decimal {
            let shortest = Decimal::parse_sci(&format!("{x:e}"));
            // Rust's fixed-precision formatting is exact with ties-to-even, so
            // re-rounding to the same digit count yields the closest candidate.
            let prec = shortest.digits.len() - 1;
            let exact = format!("{x:.prec$e}");
            if exact.parse::<$t>().ok() == Some(x) {
                Decimal::parse_sci(&exact)
            } else {
                shortest
            }
        }
    };
}
shortest_fn!(shortest_f64, f64);
shortest_fn!(shortest_f32, f32);

/// Non-finite values spelled as Python spells them.
fn non_finite(is_nan: bool, negative: bool) -> String {
    match (is_nan, negative) {
        (true, _) => "nan".to_string(),
        (false, true) => "-inf".to_string(),
        (false, false) => "inf".to_string(),
    }
}

/// Formats an `f64` exactly as Python's `repr(float)` does.
///
/// Shortest round-trip digits; positional notation when the decimal exponent
/// is in `-4..16`, otherwise scientific with at least two exponent digits.
///
/// ```
/// use nnx_core::repr::python_float_repr;
/// assert_eq!(python_float_repr(1.0), "1.0");
/// assert_eq!(python_float_repr(0.1), "0.1");
/// assert_eq!(python_float_repr(1e-5), "1e-05");
/// assert_eq!(python_float_repr(1e16), "1e+16");
/// assert_eq!(python_float_repr(123456789.5), "123456789.5");
/// assert_eq!(python_float_repr(-0.0), "-0.0");
/// assert_eq!(python_float_repr(f64::NAN), "nan");
/// assert_eq!(python_float_repr(f64::NEG_INFINITY), "-inf");
/// ```
pub fn python_float_repr(x: f64) -> String {
    if !x.is_finite() {
        return non_finite(x.is_nan(), x < 0.0);
    }
    let d = shortest_f64(x);
    // CPython switches on the exponent of the *shortest* digits.
    if (-4..16).contains(&d.exp) {
        d.python_positional()
    } else {
        d.python_scientific()
    }
}

/// Formats an `f32` the way numpy/JAX print a float32 scalar (`str(np.float32(x))`).
///
/// Uses the shortest digits that round-trip *as float32* (so `0.1f32` prints
/// `0.1`, not `0.10000000149011612`) and Python's layout rules. As in numpy,
/// scientific notation is chosen by the magnitude of the value itself
/// (`|x| < 1e-4` or `|x| >= 1e6`, zero excluded), so `1e-4f32`, which is
/// slightly below `1e-4`, prints `1e-04`, and `1e6f32` prints `1e+06`.
///
/// ```
/// use nnx_core::repr::python_float32_repr;
/// assert_eq!(python_float32_repr(0.1), "0.1");
/// assert_eq!(python_float32_repr(1.0), "1.0");
/// assert_eq!(python_float32_repr(0.7567299), "0.7567299");
/// assert_eq!(python_float32_repr(1e-4), "1e-04");
/// assert_eq!(python_float32_repr(999999.0), "999999.0");
/// assert_eq!(python_float32_repr(1e6), "1e+06");
/// assert_eq!(python_float32_repr(f32::INFINITY), "inf");
/// ```
pub fn python_float32_repr(x: f32) -> String {
    if !x.is_finite() {
        return non_finite(x.is_nan(), x < 0.0);
    }
    let d = shortest_f32(x);
    let abs = f64::from(x).abs();
    // numpy's cutoff for float32 scalars is 1e6 (float64 uses Python's 1e16).
    if abs == 0.0 || (1e-4..1e6).contains(&abs) {
        d.python_positional()
    } else {
        d.python_scientific()
    }
}
