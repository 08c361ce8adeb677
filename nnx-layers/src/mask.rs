//! `KernelMask`: a fixed mask multiplied into a convolution kernel.

use std::hash::{Hash, Hasher};

use ndarray::ArrayD;

/// A mask of the kernel's shape, multiplied elementwise into the kernel on
/// every forward (Flax's `mask` argument of Conv and ConvTranspose, e.g. for
/// PixelCNN's causal kernels). A static hyperparameter: it lives in the
/// GraphDef, compared and hashed by its bits.
///
/// ```
/// use ndarray::{ArrayD, IxDyn};
/// use nnx_layers::KernelMask;
/// let m = KernelMask(ArrayD::ones(IxDyn(&[3, 1, 1])));
/// assert_eq!(m, m.clone());
/// ```
#[derive(Debug, Clone)]
pub struct KernelMask(pub ArrayD<f32>);

impl PartialEq for KernelMask {
    fn eq(&self, other: &Self) -> bool {
        self.0.shape() == other.0.shape()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Eq for KernelMask {}

impl Hash for KernelMask {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.shape().hash(state);
        for v in self.0.iter() {
            v.to_bits().hash(state);
        }
    }
}
