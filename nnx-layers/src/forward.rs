//! The one trait every layer implements, so layers compose (`Sequential`).

use ndarray::{ArrayD, ArrayViewD};
use nnx_core::Result;

/// A layer's forward pass on an `f32` array with any number of leading batch
/// dimensions. Layers also have an inherent `forward` taking any ndarray; this trait
/// is the uniform, object-safe entry point that containers call.
///
/// ```
/// use ndarray::{ArrayD, ArrayViewD, IxDyn};
/// use nnx_layers::Forward;
/// struct Double;
/// impl Forward for Double {
///     fn forward_dyn(&mut self, x: ArrayViewD<'_, f32>) -> nnx_core::Result<ArrayD<f32>> {
///         Ok(&x * 2.0)
///     }
/// }
/// let y = Double.forward_dyn(ArrayD::ones(IxDyn(&[2])).view()).unwrap();
/// assert_eq!(y.sum(), 4.0);
/// ```
pub trait Forward {
    /// Applies the layer. Layers with state to update (BatchNorm statistics, Dropout
    /// streams, attention caches) update it here, hence `&mut self`.
    fn forward_dyn(&mut self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>>;
}

/// Implements [`Forward`] for layers whose inherent `forward(&x)` is the whole
/// forward pass.
macro_rules! forward_via_inherent {
    ($($layer:ty),* $(,)?) => {$(
        impl $crate::Forward for $layer {
            fn forward_dyn(
                &mut self,
                x: ::ndarray::ArrayViewD<'_, f32>,
            ) -> ::nnx_core::Result<::ndarray::ArrayD<f32>> {
                self.forward(&x)
            }
        }
    )*};
}
pub(crate) use forward_via_inherent;
