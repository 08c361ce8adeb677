//! `Sequential`: layers applied in order (Flax's `nnx.Sequential`).

use nnx_core::Result;
use nnx_tensor::{Element, Tensor};

use crate::forward::Recorded;
use crate::Forward;

/// Applies `layers` in order, each to the previous one's output; with no
/// layers it returns its input. Parameters live under `layers/0/...`,
/// `layers/1/...` as in Flax. Mixed layer types and activations go in
/// [`Layer`](crate::Layer), whose variants add no path level, so a
/// `Sequential<Layer>` has Flax's paths and loads Flax's checkpoints; a user enum
/// implementing `Forward` and `Module` works too (`#[nnx(transparent)]` keeps its
/// variants out of the paths).
///
/// ```
/// use nnx_core::{rngs::Rngs, Module};
/// use nnx_layers::{Linear, Sequential};
/// use nnx_tensor::{Element, Tensor};
/// let mut rngs = Rngs::new(0);
/// let mut mlp = Sequential::new(vec![Linear::new(3, 4, &mut rngs)?, Linear::new(4, 2, &mut rngs)?]);
/// let y = mlp.forward(&Tensor::ones(&[5, 3]))?;
/// assert_eq!(y.shape(), &[5, 2]);
/// assert!(mlp.state().flat_state().iter().any(|(p, _)| nnx_core::path_string(p) == "layers/1/kernel"));
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct Sequential<T> {
    /// The layers, in application order.
    pub layers: Vec<T>,
}

impl<T> Sequential<T> {
    /// A sequence of layers.
    ///
    /// ```
    /// use nnx_tensor::{Element, Tensor};
    /// let mut id = nnx_layers::Sequential::<nnx_layers::Linear>::new(vec![]);
    /// assert_eq!(id.forward(&Tensor::ones(&[1]))?.to_array(), ndarray::array![1.0f32].into_dyn());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(layers: Vec<T>) -> Self {
        Sequential { layers }
    }
}

impl<T> Default for Sequential<T> {
    fn default() -> Self {
        Sequential { layers: Vec::new() }
    }
}

impl<T> Sequential<T> {
    /// Applies the layers in order.
    ///
    /// # Errors
    /// The first layer's error.
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// use nnx_tensor::{Element, Tensor};
    /// let mut rngs = Rngs::new(0);
    /// let twice = nnx_layers::Linear::config(1, 1).kernel_init(init::constant(2.0)).build(&mut rngs)?;
    /// let mut s = nnx_layers::Sequential::new(vec![twice.clone_deep()?, twice]);
    /// let y = s.forward(&Tensor::new(ndarray::array![[1.5f32]].into_dyn()))?;
    /// assert_eq!(y.to_array(), ndarray::array![[6.0f32]].into_dyn());
    /// # use nnx_core::Module;
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<E: Element>(&mut self, x: &Tensor<E>) -> Result<Tensor<E>>
    where
        T: Forward<E>,
    {
        let mut y = x.clone();
        for layer in &mut self.layers {
            y = layer.forward(&y)?;
        }
        Ok(y).recorded(self, x)
    }

    /// Applies the layers in order without changing them (see [`Forward::apply`]).
    ///
    /// # Errors
    /// The first layer's error.
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// use nnx_tensor::{Element, Tensor};
    /// let lin = nnx_layers::Linear::config(1, 1).kernel_init(init::constant(2.0)).build(&mut Rngs::new(0))?;
    /// let s = nnx_layers::Sequential::new(vec![lin]);
    /// let y = s.apply(&Tensor::new(ndarray::array![[1.5f32]].into_dyn()))?;
    /// assert_eq!(y.to_array(), ndarray::array![[3.0f32]].into_dyn());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply<E: Element>(&self, x: &Tensor<E>) -> Result<Tensor<E>>
    where
        T: Forward<E>,
    {
        let mut y = x.clone();
        for layer in &self.layers {
            y = layer.apply(&y)?;
        }
        Ok(y).recorded(self, x)
    }
}

impl<E: Element, T: Forward<E>> Forward<E> for Sequential<T> {
    fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        Sequential::forward(self, x)
    }

    fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        Sequential::apply(self, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Linear, PReLU};
    use ndarray::array;
    use nnx_core::rngs::Rngs;
    use nnx_core::Module;

    #[test]
    fn empty_is_identity_and_split_merge_round_trips() -> Result<()> {
        let mut s = Sequential::<PReLU>::default();
        let x = Tensor::new(array![-1.0f32].into_dyn());
        assert_eq!(s.forward(&x)?.to_array(), array![-1.0f32].into_dyn());
        let mut rngs = Rngs::new(0);
        let s = Sequential::new(vec![Linear::new(2, 2, &mut rngs)?]);
        let (g, st) = s.split(..)?;
        let mut back = g.merge(st)?;
        let x = Tensor::new(array![1.0f32, 1.0].into_dyn());
        assert_eq!(back.forward(&x)?.shape(), &[2]);
        Ok(())
    }
}
