//! The in-place softmax the ndarray attention kernel uses. The activation
//! functions themselves are `nnx_tensor::Tensor` ops; this goes when attention
//! moves onto `Tensor::softmax`.

use ndarray::{ArrayD, Axis};

use super::Real;

/// In-place softmax of every lane along `ax` (already canonical).
pub(crate) fn softmax_lanes_in_place<T: Real>(out: &mut ArrayD<T>, ax: usize) {
    for mut lane in out.lanes_mut(Axis(ax)) {
        let m = lane.fold(T::neg_infinity(), |a, &b| a.max(b));
        // All -inf lane: jax yields NaN too (exp(-inf - -inf)); keep that.
        lane.mapv_inplace(|v| (v - m).exp());
        let s = lane.sum();
        lane.mapv_inplace(|v| v / s);
    }
}
