//! The one trait every layer implements, so layers compose (`Sequential`).

use nnx_core::record::{self, Describe};
use nnx_core::Result;
use nnx_tensor::Tensor;

/// A layer's forward pass on a [`Tensor`] with any number of leading batch
/// dimensions: the uniform, object-safe entry point that containers call. Every
/// library layer has the same two methods inherently too, so calling them needs
/// no import.
///
/// - `forward(&mut self, x)` is Flax's `__call__(x)`: it may update the layer's
///   state (BatchNorm's batch statistics, Dropout's RNG stream, an attention
///   cache).
/// - `apply(&self, x)` is the same computation from a shared reference, so a
///   model in eval mode can serve many threads at once. A layer whose forward
///   would change state in its current mode returns `Err` instead.
///
/// ```
/// use nnx_layers::Forward;
/// use nnx_tensor::Tensor;
/// struct Double;
/// impl Forward for Double {
///     fn forward(&mut self, x: &Tensor) -> nnx_core::Result<Tensor> {
///         self.apply(x)
///     }
///     fn apply(&self, x: &Tensor) -> nnx_core::Result<Tensor> {
///         Ok(x * 2.0)
///     }
/// }
/// let y = Double.forward(&Tensor::ones(&[2]))?;
/// assert_eq!(y.sum().item()?, 4.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub trait Forward {
    /// Applies the layer, updating its state where the layer has state to update.
    fn forward(&mut self, x: &Tensor) -> Result<Tensor>;

    /// Applies the layer without changing it; `Err` when its current mode needs
    /// a state change (call `eval()` first, or use [`Forward::forward`]).
    fn apply(&self, x: &Tensor) -> Result<Tensor>;
}

/// A boxed layer (as [`Layer`](crate::Layer) holds the largest ones) is a layer.
impl<T: Forward + ?Sized> Forward for Box<T> {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        (**self).forward(x)
    }

    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        (**self).apply(x)
    }
}

/// Implements [`Forward`] for layers whose inherent `forward` and `apply` are
/// the whole forward pass.
macro_rules! forward_via_inherent {
    ($($layer:ty),* $(,)?) => {$(
        impl $crate::Forward for $layer {
            fn forward(
                &mut self,
                x: &::nnx_tensor::Tensor,
            ) -> ::nnx_core::Result<::nnx_tensor::Tensor> {
                <$layer>::forward(self, x)
            }
            fn apply(&self, x: &::nnx_tensor::Tensor) -> ::nnx_core::Result<::nnx_tensor::Tensor> {
                <$layer>::apply(self, x)
            }
        }
    )*};
}
pub(crate) use forward_via_inherent;

/// Records a layer's call for `nnx::tabulate_with`: each layer's
/// `forward`/`apply` ends in `.recorded(self, x)`, which passes the result
/// through (one thread-local flag check when no tabulate runs).
pub(crate) trait Recorded {
    /// `self`, after recording that `layer` returned it for `input` (when `Ok`).
    fn recorded<M: ?Sized, I: Describe + ?Sized>(self, layer: &M, input: &I) -> Self;
}

impl<T: Describe> Recorded for Result<T> {
    #[inline]
    fn recorded<M: ?Sized, I: Describe + ?Sized>(self, layer: &M, input: &I) -> Self {
        if let Ok(y) = &self {
            record::call(layer, input, y);
        }
        self
    }
}
