//! Window pooling as `flax.nnx.avg_pool` / `max_pool` / `min_pool`
//! (`lax.reduce_window` over the spatial axes).

use ndarray::{ArrayBase, ArrayD, Data, Dimension};
use nnx_core::{Error, Result};

use super::conv::{padded_len, resolve_pads};
use super::{shape_err, try_from_shape_fn, try_zeros, Padding, Real};
use crate::support::check_alloc;

enum Reduce {
    Sum,
    Max,
    Min,
}

/// `x` is `(batch..., window axes..., features)`; returns the reduced array
/// and, per output element's window, the count of non-padding positions.
fn pool<T: Real, S: Data<Elem = T>, D: Dimension>(
    what: &str,
    x: &ArrayBase<S, D>,
    window: &[usize],
    strides: &[usize],
    padding: &Padding,
    op: Reduce,
) -> Result<(ArrayD<T>, ArrayD<usize>)> {
    let x = x.view().into_dyn();
    let nsp = window.len();
    if nsp == 0 || x.ndim() < nsp + 1 {
        return Err(shape_err(
            "x",
            format!("(batch..., {nsp} window axes..., features), window of rank >= 1"),
            x.shape(),
        ));
    }
    let strides = if strides.is_empty() {
        vec![1; nsp]
    } else {
        strides.to_vec()
    };
    if strides.len() != nsp || strides.contains(&0) || window.contains(&0) {
        return Err(Error::invalid_argument(
            what,
            format!("{nsp} positive strides and window sizes"),
            format!("window {window:?}, strides {strides:?}"),
        ));
    }
    let nb = x.ndim() - nsp - 1;
    let in_sp = x.shape()[nb..nb + nsp].to_vec();
    let pads = resolve_pads(what, padding, &in_sp, window, &strides)?;
    let mut out_shape = x.shape().to_vec();
    for d in 0..nsp {
        let padded = padded_len(what, in_sp[d], pads[d])?;
        out_shape[nb + d] = if padded >= window[d] {
            (padded - window[d]) / strides[d] + 1
        } else {
            0
        };
    }
    let init = match op {
        Reduce::Sum => T::zero(),
        Reduce::Max => T::neg_infinity(),
        Reduce::Min => T::infinity(),
    };
    // Checked like an allocation: the window is walked position by position.
    let n_win = check_alloc(what, window, 1)?;
    let mut counts = try_zeros::<usize>(what, &out_shape)?;
    let mut src = vec![0usize; x.ndim()];
    let out = try_from_shape_fn(what, &out_shape, |ix| {
        let ix = ix.slice();
        let mut acc = init;
        let mut count = 0;
        src.copy_from_slice(ix);
        for w in 0..n_win {
            let mut r = w;
            let mut inside = true;
            for d in (0..nsp).rev() {
                let wd = r % window[d];
                r /= window[d];
                let p = (ix[nb + d] * strides[d] + wd) as isize - pads[d].0 as isize;
                if p < 0 || p as usize >= in_sp[d] {
                    inside = false;
                    break;
                }
                src[nb + d] = p as usize;
            }
            if !inside {
                continue;
            }
            count += 1;
            let v = x[src.as_slice()];
            acc = match op {
                Reduce::Sum => acc + v,
                Reduce::Max => acc.max(v),
                Reduce::Min => acc.min(v),
            };
        }
        counts[ix] = count;
        acc
    })?;
    Ok((out, counts))
}

/// Average pooling over `window_shape` with `strides` (empty: all 1) and
/// `padding` (`Same`, `Valid` or `Explicit`; Flax's default is `Valid`).
/// With `count_include_pad` (Flax's default) every window is divided by
/// its full size; otherwise by its number of non-padding elements.
///
/// ```
/// use ndarray::Array;
/// use nnx_layers::functional::{avg_pool, Padding};
/// let x = Array::from_shape_vec((1, 3, 1), vec![1.0f32, 2.0, 3.0])?;
/// let y = avg_pool(&x, &[2], &[2], &Padding::Same, false)?;
/// assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![1.5, 3.0]);
/// let y = avg_pool(&x, &[2], &[2], &Padding::Same, true)?;
/// assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![1.5, 1.5]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn avg_pool<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    window_shape: &[usize],
    strides: &[usize],
    padding: &Padding,
    count_include_pad: bool,
) -> Result<ArrayD<T>> {
    let (sum, counts) = pool("avg_pool", x, window_shape, strides, padding, Reduce::Sum)?;
    let full = T::from_f64(window_shape.iter().product::<usize>() as f64);
    let mut out = sum;
    ndarray::Zip::from(&mut out).and(&counts).for_each(|o, &c| {
        *o /= if count_include_pad {
            full
        } else {
            T::from_f64(c as f64)
        };
    });
    Ok(out)
}

/// Max pooling; padding positions count as `-inf`. Arguments as [`avg_pool`].
///
/// ```
/// use ndarray::Array;
/// use nnx_layers::functional::{max_pool, Padding};
/// let x = Array::from_shape_vec((1, 4, 1), vec![1.0f32, 5.0, 3.0, 2.0])?;
/// let y = max_pool(&x, &[2], &[2], &Padding::Valid)?;
/// assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![5.0, 3.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn max_pool<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    window_shape: &[usize],
    strides: &[usize],
    padding: &Padding,
) -> Result<ArrayD<T>> {
    Ok(pool("max_pool", x, window_shape, strides, padding, Reduce::Max)?.0)
}

/// Min pooling; padding positions count as `+inf`. Arguments as [`avg_pool`].
///
/// ```
/// use ndarray::Array;
/// use nnx_layers::functional::{min_pool, Padding};
/// let x = Array::from_shape_vec((1, 4, 1), vec![1.0f32, 5.0, 3.0, 2.0])?;
/// let y = min_pool(&x, &[2], &[2], &Padding::Valid)?;
/// assert_eq!(y.iter().copied().collect::<Vec<_>>(), vec![1.0, 2.0]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn min_pool<T: Real, S: Data<Elem = T>, D: Dimension>(
    x: &ArrayBase<S, D>,
    window_shape: &[usize],
    strides: &[usize],
    padding: &Padding,
) -> Result<ArrayD<T>> {
    Ok(pool("min_pool", x, window_shape, strides, padding, Reduce::Min)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn two_d_max_pool_without_batch() -> Result<()> {
        // (H, W, C) = (2, 2, 1): no batch axis, as Flax allows.
        let x = array![[[1.0f64], [2.0]], [[3.0], [4.0]]];
        let y = max_pool(&x, &[2, 2], &[], &Padding::Valid)?;
        assert_eq!(y.shape(), &[1, 1, 1]);
        assert_eq!(y[[0, 0, 0]], 4.0);
        Ok(())
    }

    #[test]
    fn errors() {
        let x = array![[[1.0f32]]];
        assert!(max_pool(&x, &[1, 1, 1], &[], &Padding::Valid).is_err());
        assert!(max_pool(&x, &[], &[], &Padding::Valid).is_err());
        assert!(max_pool(&x, &[1], &[0], &Padding::Valid).is_err());
        assert!(max_pool(&x, &[0], &[], &Padding::Valid).is_err());
        assert!(min_pool(&x, &[1], &[1, 1], &Padding::Valid).is_err());
        assert!(avg_pool(&x, &[1], &[], &Padding::Circular, true).is_err());
        assert!(avg_pool(&x, &[1], &[], &Padding::Explicit(vec![]), true).is_err());
    }
}
