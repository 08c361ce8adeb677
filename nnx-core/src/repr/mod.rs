//! Python-exact text formatting of values, matching what Flax NNX 0.12, JAX
//! and numpy print: Python float `repr`, tuple `repr`, JAX array `repr` and Flax's size comments.
//!
//! ```
//! use nnx_core::repr::{fmt_tuple_usize, python_float_repr};
//! assert_eq!(fmt_tuple_usize(&[3]), "(3,)");
//! assert_eq!(python_float_repr(1e-5), "1e-05");
//! ```

mod array;
mod float;

pub use array::{fmt_jax_array, ReprElement};
pub use float::{python_float32_repr, python_float_repr};

/// Formats a shape as Python's `repr(tuple)` of ints.
///
/// ```
/// use nnx_core::repr::fmt_tuple_usize;
/// assert_eq!(fmt_tuple_usize(&[]), "()");
/// assert_eq!(fmt_tuple_usize(&[3]), "(3,)");
/// assert_eq!(fmt_tuple_usize(&[2, 3]), "(2, 3)");
/// ```
pub fn fmt_tuple_usize(items: &[usize]) -> String {
    match items {
        [] => "()".to_string(),
        // A one-element tuple needs its trailing comma.
        [x] => format!("({x},)"),
        _ => {
            let parts: Vec<String> = items.iter().map(ToString::to_string).collect();
            format!("({})", parts.join(", "))
        }
    }
}

/// Python's `f'{n:,}'`: thousands separated by commas.
fn group_thousands(digits: &str) -> String {
    let n = digits.len();
    let mut out = String::with_capacity(n + n / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Flax's `_bytes_repr`: `12 B`, `4.1 KB`, `1.0 MB`, `2.5 GB` (decimal units,
/// strictly greater than the unit, one decimal rounded half-to-even on the
/// exact binary value like Python's `f'{x:,.1f}'`).
fn bytes_repr(nbytes: u64) -> String {
    let b = nbytes as f64;
    let (value, unit) = if b > 1e9 {
        (b / 1e9, "GB")
    } else if b > 1e6 {
        (b / 1e6, "MB")
    } else if b > 1e3 {
        (b / 1e3, "KB")
    } else {
        return format!("{} B", group_thousands(&nbytes.to_string()));
    };
    let s = format!("{value:.1}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, "0"));
    format!("{}.{frac} {unit}", group_thousands(int))
}

/// The comment Flax prints after a Variable's type name: `# 3 (12 B)`.
///
/// This is `f'# {SizeBytes(count, nbytes)}'` from `flax.typing`. Flax omits the
/// comment entirely when `count_elems == 0`; callers decide that.
///
/// ```
/// use nnx_core::repr::fmt_size_comment;
/// assert_eq!(fmt_size_comment(3, 12), "# 3 (12 B)");
/// assert_eq!(fmt_size_comment(1024, 4096), "# 1,024 (4.1 KB)");
/// assert_eq!(fmt_size_comment(250, 1000), "# 250 (1,000 B)");
/// assert_eq!(fmt_size_comment(1_000_000, 4_000_000), "# 1,000,000 (4.0 MB)");
/// ```
pub fn fmt_size_comment(count_elems: usize, nbytes: usize) -> String {
    format!(
        "# {} ({})",
        group_thousands(&count_elems.to_string()),
        bytes_repr(nbytes as u64)
    )
}
