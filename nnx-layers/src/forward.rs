//! The one trait every layer implements, so layers compose (`Sequential`).

use nnx_core::record::{self, Describe};
use nnx_core::Result;
use nnx_tensor::{Element, Tensor};

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
/// use nnx_tensor::{Element, Tensor};
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
///
/// `Forward` is `Forward<f32>`; the library layers of element type `E`
/// implement `Forward<E>` (Dropout and [`Activation`](crate::Activation) any),
/// so a `Sequential<Box<dyn Forward<f64>>>` runs in double precision.
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::{Activation, Forward, LinearConfig, Sequential};
/// use nnx_tensor::Tensor;
/// let mut rngs = Rngs::new(0);
/// let layers: Vec<Box<dyn Forward<f64>>> = vec![
///     Box::new(LinearConfig::<f64>::new(2, 3).build(&mut rngs)?),
///     Box::new(Activation::Relu),
///     Box::new(LinearConfig::<f64>::new(3, 1).build(&mut rngs)?),
/// ];
/// let mut mlp = Sequential::new(layers);
/// assert_eq!(mlp.forward(&Tensor::<f64>::full(&[4, 2], 1.0))?.shape(), &[4, 1]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub trait Forward<E: Element = f32> {
    /// Applies the layer, updating its state where the layer has state to update.
    fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>>;

    /// Applies the layer without changing it; `Err` when its current mode needs
    /// a state change (call `eval()` first, or use [`Forward::forward`]).
    fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>>;
}

/// A boxed layer (as [`Layer`](crate::Layer) holds the largest ones) is a layer.
impl<E: Element, T: Forward<E> + ?Sized> Forward<E> for Box<T> {
    fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        (**self).forward(x)
    }

    fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        (**self).apply(x)
    }
}

/// Implements [`Forward`] for layers whose inherent `forward` and `apply` are
/// the whole forward pass.
macro_rules! forward_via_inherent {
    ($($layer:ident $(<$e:ident>)?),* $(,)?) => {$(
        impl<E: ::nnx_tensor::Element> $crate::Forward<E> for $layer $(<$e>)? {
            fn forward(
                &mut self,
                x: &::nnx_tensor::Tensor<E>,
            ) -> ::nnx_core::Result<::nnx_tensor::Tensor<E>> {
                <$layer $(<$e>)?>::forward(self, x)
            }
            fn apply(
                &self,
                x: &::nnx_tensor::Tensor<E>,
            ) -> ::nnx_core::Result<::nnx_tensor::Tensor<E>> {
                <$layer $(<$e>)?>::apply(self, x)
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
