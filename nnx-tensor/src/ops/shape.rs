//! Ops that move elements around: reshape, axis permutations, slicing.

use std::ops::Range;

use ndarray::{ArrayD, Axis, IxDyn, Slice};
use nnx_core::Result;

use super::{norm_axis, record, shape_error};
use crate::element::Element;
use crate::Tensor;

/// `x` in row-major order with a new shape of the same size.
fn reshaped<E: Element>(x: &ArrayD<E>, shape: &[usize]) -> ArrayD<E> {
    x.to_shape(IxDyn(shape))
        .map(|v| v.into_owned())
        .unwrap_or_else(|_| x.clone())
}

fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        if let Some(slot) = inv.get_mut(p) {
            *slot = i;
        }
    }
    inv
}

impl<E: Element> Tensor<E> {
    /// The same elements in row-major order under a new shape of the same size
    /// (`jnp.reshape`).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::zeros(&[2, 3]);
    /// assert_eq!(x.reshape(&[3, 2]).unwrap().shape(), &[3, 2]);
    /// assert!(x.reshape(&[4]).is_err());
    /// ```
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor<E>> {
        let size = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if size != Some(self.len()) {
            return Err(shape_error(
                "reshape",
                "a new shape with as many elements",
                &[self.shape(), shape],
            ));
        }
        let old = self.shape().to_vec();
        Ok(record(
            "reshape",
            reshaped(&self.data, shape).into(),
            [self],
            move |g, _| [Some(reshaped(g, &old))],
        ))
    }

    /// The axes reordered: axis `i` of the result is axis `axes[i]` of `self`
    /// (`jnp.transpose(x, axes)`).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::zeros(&[2, 3, 4]);
    /// assert_eq!(x.permute(&[2, 0, 1]).unwrap().shape(), &[4, 2, 3]);
    /// assert!(x.permute(&[0, 0, 1]).is_err());
    /// ```
    pub fn permute(&self, axes: &[usize]) -> Result<Tensor<E>> {
        let mut sorted = axes.to_vec();
        sorted.sort_unstable();
        if sorted != (0..self.ndim()).collect::<Vec<_>>() {
            return Err(shape_error(
                "permute",
                format!("a permutation of the axes (axes {axes:?})"),
                &[self.shape()],
            ));
        }
        Ok(self.permuted(axes.to_vec()))
    }

    /// `permute` of a checked permutation.
    fn permuted(&self, axes: Vec<usize>) -> Tensor<E> {
        let out = self.data.view().permuted_axes(IxDyn(&axes)).to_owned();
        record("transpose", out.into(), [self], move |g, _| {
            [Some(
                g.view().permuted_axes(IxDyn(&inverse(&axes))).to_owned(),
            )]
        })
    }

    /// All axes reversed (`x.T`).
    ///
    /// ```
    /// assert_eq!(nnx_tensor::Tensor::zeros(&[2, 3]).transpose().shape(), &[3, 2]);
    /// ```
    pub fn transpose(&self) -> Tensor<E> {
        self.permuted((0..self.ndim()).rev().collect())
    }

    /// Two axes exchanged (`jnp.swapaxes`; negative axes count from the end).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::zeros(&[2, 3, 4]);
    /// assert_eq!(x.swap_axes(-1, -2).unwrap().shape(), &[2, 4, 3]);
    /// ```
    pub fn swap_axes(&self, a: isize, b: isize) -> Result<Tensor<E>> {
        let a = norm_axis("swap_axes", a, self.shape())?;
        let b = norm_axis("swap_axes", b, self.shape())?;
        let mut perm: Vec<usize> = (0..self.ndim()).collect();
        perm.swap(a, b);
        Ok(self.permuted(perm))
    }

    /// The elements `range` along `axis` (`x[..., start:end, ...]`).
    ///
    /// ```
    /// let x = nnx_tensor::Tensor::from(ndarray::arr2(&[[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.0]]));
    /// let s = x.slice(-1, 1..3).unwrap();
    /// assert_eq!(s.to_array(), ndarray::arr2(&[[2.0f32, 3.0], [5.0, 6.0]]).into_dyn());
    /// assert!(x.slice(1, 2..4).is_err());
    /// ```
    pub fn slice(&self, axis: isize, range: Range<usize>) -> Result<Tensor<E>> {
        let ax = norm_axis("slice", axis, self.shape())?;
        let n = self.shape()[ax];
        if range.start > range.end || range.end > n {
            return Err(shape_error(
                "slice",
                format!("a range within 0..{n} along axis {axis} (got {range:?})"),
                &[self.shape()],
            ));
        }
        let s = Slice::from(range.clone());
        let out = self.data.slice_axis(Axis(ax), s).to_owned();
        let shape = self.shape().to_vec();
        Ok(record("slice", out.into(), [self], move |g, _| {
            let mut full = ArrayD::zeros(IxDyn(&shape));
            full.slice_axis_mut(Axis(ax), s).assign(g);
            [Some(full)]
        }))
    }
}
