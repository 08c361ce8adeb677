//! Window pooling as `flax.nnx.avg_pool` / `max_pool` / `min_pool`
//! (`lax.reduce_window` over the spatial axes), with gradient rules.
//!
//! Every window reduces all features at once (a contiguous run of the
//! channels-last input per tap), taps in row-major window order. Max and min
//! send a window's cotangent to its first extreme element, as JAX's
//! `select_and_scatter_add` does; average spreads it evenly.

use std::sync::Arc;

use ndarray::ArrayD;
use nnx_core::{Error, Result};

use super::alloc::{check_alloc, from_vec, try_zeros};
use super::conv::{padded_len, resolve_pads, shape_err};
use super::record;
use crate::element::{lit, Element};
use crate::{Padding, Tensor};

#[derive(Clone, Copy)]
enum Reduce {
    Sum,
    Max,
    Min,
}

/// The geometry of a pooling: `(batch, spatial..., C)` with the batch axes
/// flattened, the output's spatial sizes and the low pads.
struct Pool {
    b: usize,
    c: usize,
    in_sp: Vec<usize>,
    out_sp: Vec<usize>,
    window: Vec<usize>,
    strides: Vec<usize>,
    lo: Vec<usize>,
    /// The output's shape, batch axes as the input's.
    out_shape: Vec<usize>,
}

impl Pool {
    fn new(
        what: &str,
        shape: &[usize],
        window: &[usize],
        strides: &[usize],
        padding: &Padding,
    ) -> Result<Pool> {
        let nsp = window.len();
        if nsp == 0 || shape.len() < nsp + 1 {
            return Err(shape_err(
                "x",
                format!("(batch..., {nsp} window axes..., features), window of rank >= 1"),
                shape,
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
        let nb = shape.len() - nsp - 1;
        let in_sp = shape[nb..nb + nsp].to_vec();
        let pads = resolve_pads(what, padding, &in_sp, window, &strides)?;
        let mut out_shape = shape.to_vec();
        for d in 0..nsp {
            let padded = padded_len(what, in_sp[d], pads[d])?;
            out_shape[nb + d] = if padded >= window[d] {
                (padded - window[d]) / strides[d] + 1
            } else {
                0
            };
        }
        // Checked like an allocation: each window is walked position by position.
        check_alloc(what, window, 1)?;
        check_alloc(what, &out_shape, size_of::<f64>())?;
        Ok(Pool {
            b: shape[..nb].iter().product(),
            c: shape[shape.len() - 1],
            out_sp: out_shape[nb..nb + nsp].to_vec(),
            in_sp,
            window: window.to_vec(),
            strides,
            lo: pads.iter().map(|p| p.0).collect(),
            out_shape,
        })
    }

    /// Calls `f(o, taps)` for every output position `o` (flat over batch and
    /// spatial axes) with the flat input positions its window covers, in
    /// row-major window order, padding left out.
    fn scan(&self, mut f: impl FnMut(usize, &[usize])) {
        let nsp = self.window.len();
        let n_out: usize = self.out_sp.iter().product();
        let n_win: usize = self.window.iter().product();
        let mut taps = Vec::new();
        let mut o_ix = vec![0usize; nsp];
        for o in 0..self.b * n_out {
            let bi = o / n_out.max(1);
            let mut rest = o % n_out.max(1);
            for d in (0..nsp).rev() {
                o_ix[d] = rest % self.out_sp[d];
                rest /= self.out_sp[d];
            }
            taps.clear();
            'tap: for w in 0..n_win {
                let (mut r, mut flat, mut scale) = (w, 0, 1);
                for d in (0..nsp).rev() {
                    let wd = r % self.window[d];
                    r /= self.window[d];
                    let p = (o_ix[d] * self.strides[d] + wd) as isize - self.lo[d] as isize;
                    if p < 0 || p as usize >= self.in_sp[d] {
                        continue 'tap;
                    }
                    flat += p as usize * scale;
                    scale *= self.in_sp[d];
                }
                taps.push(bi * scale + flat);
            }
            f(o, &taps);
        }
    }

    /// The reduction of every window of `xs`, features side by side; with
    /// `Sum`, divided by the window's full size (`count_include_pad`) or by
    /// its number of non-padding positions.
    fn forward<E: Element>(
        &self,
        what: &str,
        xs: &[E],
        op: Reduce,
        count_include_pad: bool,
    ) -> Result<ArrayD<E>> {
        let c = self.c;
        let mut out = try_zeros::<E>(what, &self.out_shape)?;
        let Some(ys) = out.as_slice_mut() else {
            return Err(shape_err("output", "a contiguous array", &self.out_shape));
        };
        let full = lit::<E>(self.window.iter().product::<usize>() as f64);
        self.scan(|o, taps| {
            let acc = &mut ys[o * c..(o + 1) * c];
            match op {
                Reduce::Sum => {
                    reduce_into(acc, xs, taps, lit::<E>(0.0), |a, v| a + v);
                    let div = if count_include_pad {
                        full
                    } else {
                        lit::<E>(taps.len() as f64)
                    };
                    acc.iter_mut().for_each(|a| *a /= div);
                }
                Reduce::Max => reduce_into(acc, xs, taps, E::neg_infinity(), E::max),
                Reduce::Min => reduce_into(acc, xs, taps, E::infinity(), E::min),
            }
        });
        Ok(out)
    }

    /// The input's cotangent (row-major) for the output cotangent `gs`.
    fn backward<E: Element>(
        &self,
        xs: &[E],
        gs: &[E],
        op: Reduce,
        count_include_pad: bool,
    ) -> Vec<E> {
        let c = self.c;
        let mut dx = vec![E::zero(); xs.len()];
        let full = lit::<E>(self.window.iter().product::<usize>() as f64);
        let mut best = vec![(lit::<E>(0.0), None::<usize>); c];
        self.scan(|o, taps| {
            let g = &gs[o * c..(o + 1) * c];
            let better: fn(E, E) -> bool = match op {
                Reduce::Sum => {
                    let div = if count_include_pad {
                        full
                    } else {
                        lit::<E>(taps.len() as f64)
                    };
                    for &i in taps {
                        for (d, &g) in dx[i * c..(i + 1) * c].iter_mut().zip(g) {
                            *d += g / div;
                        }
                    }
                    return;
                }
                Reduce::Max => |v, b| v > b,
                Reduce::Min => |v, b| v < b,
            };
            // The first extreme element wins ties, as JAX's selection does;
            // an element equal to the padding's ±inf is never selected.
            let init = match op {
                Reduce::Min => E::infinity(),
                _ => E::neg_infinity(),
            };
            best.fill((init, None));
            for &i in taps {
                for ((b, at), &v) in best.iter_mut().zip(&xs[i * c..(i + 1) * c]) {
                    if better(v, *b) {
                        *b = v;
                        *at = Some(i);
                    }
                }
            }
            for (ch, (&(_, at), &g)) in best.iter().zip(g).enumerate() {
                if let Some(i) = at {
                    dx[i * c + ch] += g;
                }
            }
        });
        dx
    }
}

/// `acc[ch] = op(...op(op(init, x[t0][ch]), x[t1][ch])...)` over the taps.
fn reduce_into<E: Element>(
    acc: &mut [E],
    xs: &[E],
    taps: &[usize],
    init: E,
    op: impl Fn(E, E) -> E,
) {
    let c = acc.len();
    acc.fill(init);
    for &i in taps {
        for (a, &v) in acc.iter_mut().zip(&xs[i * c..(i + 1) * c]) {
            *a = op(*a, v);
        }
    }
}

impl<E: Element> Tensor<E> {
    /// The pooling op `what` with its rule.
    fn pool(
        &self,
        what: &'static str,
        window_shape: &[usize],
        strides: &[usize],
        padding: &Padding,
        op: Reduce,
        count_include_pad: bool,
    ) -> Result<Tensor<E>> {
        let pool = Pool::new(what, self.shape(), window_shape, strides, padding)?;
        let x = self.data.as_standard_layout();
        let xs = x.as_slice().unwrap_or(&[]);
        let y = pool.forward(what, xs, op, count_include_pad)?;
        let input = Arc::clone(&self.data);
        Ok(record(what, y.into(), [self], move |g, _| {
            let (x, g) = (input.as_standard_layout(), g.as_standard_layout());
            let dx = match (x.as_slice(), g.as_slice()) {
                (Some(xs), Some(gs)) => pool.backward(xs, gs, op, count_include_pad),
                _ => return [None],
            };
            [from_vec(what, input.shape(), dx).ok()]
        }))
    }

    /// Average pooling (`flax.nnx.avg_pool`): `self` is `(batch..., window
    /// axes..., features)`; windows of `window_shape` move by `strides` (empty:
    /// all 1) over the input padded by `padding` (`Same`, `Valid` or
    /// `Explicit`; Flax's default is `Valid`). With `count_include_pad`
    /// (Flax's default) every window is divided by its full size; otherwise by
    /// its number of non-padding elements.
    ///
    /// ```
    /// use nnx_tensor::{Padding, Tensor};
    /// let x = Tensor::from_shape_vec(&[1, 3, 1], vec![1.0, 2.0, 3.0])?;
    /// let y = x.avg_pool(&[2], &[2], &Padding::Same, false)?;
    /// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![1.5, 3.0]);
    /// let y = x.avg_pool(&[2], &[2], &Padding::Same, true)?;
    /// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![1.5, 1.5]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn avg_pool(
        &self,
        window_shape: &[usize],
        strides: &[usize],
        padding: &Padding,
        count_include_pad: bool,
    ) -> Result<Tensor<E>> {
        self.pool(
            "avg_pool",
            window_shape,
            strides,
            padding,
            Reduce::Sum,
            count_include_pad,
        )
    }

    /// Max pooling (`flax.nnx.max_pool`); padding positions count as `-inf`.
    /// Arguments as [`avg_pool`](Tensor::avg_pool). The gradient of each
    /// window goes to its first maximum, as in JAX.
    ///
    /// ```
    /// use nnx_tensor::{Padding, Tensor};
    /// let x = Tensor::from_shape_vec(&[1, 4, 1], vec![1.0, 5.0, 3.0, 2.0])?;
    /// let y = x.max_pool(&[2], &[2], &Padding::Valid)?;
    /// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![5.0, 3.0]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn max_pool(
        &self,
        window_shape: &[usize],
        strides: &[usize],
        padding: &Padding,
    ) -> Result<Tensor<E>> {
        self.pool(
            "max_pool",
            window_shape,
            strides,
            padding,
            Reduce::Max,
            false,
        )
    }

    /// Min pooling (`flax.nnx.min_pool`); padding positions count as `+inf`.
    /// Arguments as [`avg_pool`](Tensor::avg_pool).
    ///
    /// ```
    /// use nnx_tensor::{Padding, Tensor};
    /// let x = Tensor::from_shape_vec(&[1, 4, 1], vec![1.0, 5.0, 3.0, 2.0])?;
    /// let y = x.min_pool(&[2], &[2], &Padding::Valid)?;
    /// assert_eq!(y.array().iter().copied().collect::<Vec<_>>(), vec![1.0, 2.0]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn min_pool(
        &self,
        window_shape: &[usize],
        strides: &[usize],
        padding: &Padding,
    ) -> Result<Tensor<E>> {
        self.pool(
            "min_pool",
            window_shape,
            strides,
            padding,
            Reduce::Min,
            false,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_d_max_pool_without_batch() -> Result<()> {
        // (H, W, C) = (2, 2, 1): no batch axis, as Flax allows.
        let x = Tensor::from_shape_vec(&[2, 2, 1], vec![1.0, 2.0, 3.0, 4.0])?;
        let y = x.max_pool(&[2, 2], &[], &Padding::Valid)?;
        assert_eq!(y.shape(), &[1, 1, 1]);
        assert_eq!(y.item()?, 4.0);
        Ok(())
    }

    #[test]
    fn errors() {
        let x = Tensor::ones(&[1, 1, 1]);
        assert!(x.max_pool(&[1, 1, 1], &[], &Padding::Valid).is_err());
        assert!(x.max_pool(&[], &[], &Padding::Valid).is_err());
        assert!(x.max_pool(&[1], &[0], &Padding::Valid).is_err());
        assert!(x.max_pool(&[0], &[], &Padding::Valid).is_err());
        assert!(x.min_pool(&[1], &[1, 1], &Padding::Valid).is_err());
        assert!(x.avg_pool(&[1], &[], &Padding::Circular, true).is_err());
        assert!(x
            .avg_pool(&[1], &[], &Padding::Explicit(vec![]), true)
            .is_err());
    }
}
