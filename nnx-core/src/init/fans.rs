//! Fan-in / fan-out of a weight shape, as `jax.nn.initializers` computes them.

use crate::random::{fmt_shape, normalize_axis};
use crate::{Error, Result};

/// Effective input and output sizes `(fan_in, fan_out)` of a weight `shape`.
///
/// Axes in `in_axis`, `out_axis` and `batch_axis` (negative counts from the
/// end) give the input, output and batch sizes; all other axes form the
/// receptive field, which multiplies both fans. As in JAX, the default
/// `in_axis = [-2]` needs a shape of rank >= 2.
///
/// ```
/// use nnx_core::init::compute_fans;
/// // A 3x3 convolution from 16 to 32 channels.
/// assert_eq!(compute_fans(&[3, 3, 16, 32], &[-2], &[-1], &[])?, (144.0, 288.0));
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn compute_fans(
    shape: &[usize],
    in_axis: &[isize],
    out_axis: &[isize],
    batch_axis: &[isize],
) -> Result<(f64, f64)> {
    if in_axis == [-2] && shape.len() <= 1 {
        return Err(Error::invalid_argument(
            "variance_scaling",
            "a shape of rank >= 2 with the default in_axis",
            fmt_shape(shape),
        ));
    }
    let size = |axes: &[isize], name: &str| -> Result<f64> {
        axes.iter().try_fold(1.0, |acc, &a| {
            let i = normalize_axis(a, shape.len()).ok_or_else(|| {
                Error::invalid_argument(
                    "variance_scaling",
                    format!("{name} axes within rank {}", shape.len()),
                    format!("axis {a} for shape {}", fmt_shape(shape)),
                )
            })?;
            Ok(acc * shape[i] as f64)
        })
    };
    let in_size = size(in_axis, "in")?;
    let out_size = size(out_axis, "out")?;
    let batch_size = size(batch_axis, "batch")?;
    let total: f64 = shape.iter().map(|&d| d as f64).product();
    let receptive = total / in_size / out_size / batch_size;
    Ok((in_size * receptive, out_size * receptive))
}
