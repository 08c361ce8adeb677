//! `Layer`: any library layer or activation, for `Sequential`s that mix them
//! with Flax's paths.

use nnx_core::Result;
use nnx_tensor::{Element, Tensor};

use crate::{
    BatchNorm, Conv, ConvTranspose, Dropout, Einsum, Embed, Forward, GroupNorm, InstanceNorm,
    LayerNorm, Linear, LinearGeneral, MultiHeadAttention, PReLU, RMSNorm, Sequential,
};

/// An activation function as a stateless layer, with `jax.nn`'s default
/// parameters (`gelu` is the tanh form, `leaky_relu`'s slope 0.01, `elu` and
/// `celu`'s alpha 1, `softmax` over the last axis). In a [`Sequential`] it takes
/// an index but holds no state, as a function does in Flax's `nnx.Sequential`.
///
/// ```
/// use ndarray::array;
/// use nnx_layers::{Activation, Forward};
/// use nnx_tensor::{Element, Tensor};
/// let y = Activation::Relu.apply(&Tensor::new(array![-1.0f32, 2.0].into_dyn()))?;
/// assert_eq!(y.to_array(), array![0.0, 2.0].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `nnx.relu`.
    Relu,
    /// `nnx.relu6`.
    Relu6,
    /// `nnx.gelu` (tanh approximation, its default).
    Gelu,
    /// `nnx.silu` (`nnx.swish`).
    Silu,
    /// `nnx.sigmoid`.
    Sigmoid,
    /// `nnx.tanh`.
    Tanh,
    /// `nnx.softplus`.
    Softplus,
    /// `nnx.soft_sign`.
    SoftSign,
    /// `nnx.log_sigmoid`.
    LogSigmoid,
    /// `nnx.elu` with `alpha = 1`.
    Elu,
    /// `nnx.celu` with `alpha = 1`.
    Celu,
    /// `nnx.selu`.
    Selu,
    /// `nnx.leaky_relu` with `negative_slope = 0.01`.
    LeakyRelu,
    /// `nnx.hard_tanh`.
    HardTanh,
    /// `nnx.hard_sigmoid`.
    HardSigmoid,
    /// `nnx.hard_silu` (`nnx.hard_swish`).
    HardSilu,
    /// `nnx.softmax` over the last axis.
    Softmax,
    /// `nnx.log_softmax` over the last axis.
    LogSoftmax,
}

impl<E: Element> Forward<E> for Activation {
    fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply(x)
    }

    fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        Ok(match self {
            Activation::Relu => x.relu(),
            Activation::Relu6 => x.relu6(),
            Activation::Gelu => x.gelu(true),
            Activation::Silu => x.silu(),
            Activation::Sigmoid => x.sigmoid(),
            Activation::Tanh => x.tanh(),
            Activation::Softplus => x.softplus(),
            Activation::SoftSign => x.soft_sign(),
            Activation::LogSigmoid => x.log_sigmoid(),
            Activation::Elu => x.elu(E::one()),
            Activation::Celu => x.celu(E::one()),
            Activation::Selu => x.selu(),
            // Flax's default slope, a Python float rounded once to E.
            Activation::LeakyRelu => x.leaky_relu(<E as nnx_core::random::Float>::from_f64(0.01)),
            Activation::HardTanh => x.hard_tanh(),
            Activation::HardSigmoid => x.hard_sigmoid(),
            Activation::HardSilu => x.hard_silu(),
            Activation::Softmax => x.softmax(-1)?,
            Activation::LogSoftmax => x.log_softmax(-1)?,
        })
    }
}

/// Declares the enum, `From<layer> for Layer` (boxing what a variant holds
/// boxed) and the forward dispatch, from one list of variants.
macro_rules! layer_enum {
    (
        $(#[$meta:meta])*
        pub enum Layer<E> {
            $($(#[$vmeta:meta])* $variant:ident($held:ty) from $from:ty,)*
        }
    ) => {
        $(#[$meta])*
        pub enum Layer<E: Element = f32> {
            $($(#[$vmeta])* $variant($held),)*
        }
        $(
            impl<E: Element> From<$from> for Layer<E> {
                fn from(layer: $from) -> Self {
                    Layer::$variant(layer.into())
                }
            }
        )*
        impl<E: Element> Forward<E> for Layer<E> {
            fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
                match self {
                    $(Layer::$variant(layer) => Forward::forward(layer, x),)*
                }
            }
            fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
                match self {
                    $(Layer::$variant(layer) => Forward::apply(layer, x),)*
                }
            }
        }
    };
}

layer_enum! {
    /// Any of the library's layers, or an activation: the element type of a
    /// [`Sequential`] that mixes them, as Flax's `nnx.Sequential` does. Its variants
    /// are transparent (`#[nnx(transparent)]`), so a layer's Variables sit at
    /// `layers/<index>/...` exactly as in Flax, and merge rebuilds the right variant.
    /// Every layer converts into it with `.into()`.
    ///
    /// ```
    /// use nnx_core::{path_string, rngs::Rngs, Module};
    /// use nnx_layers::{Activation, Layer, LayerNorm, Linear, Sequential};
    /// use nnx_tensor::{Element, Tensor};
    /// let mut rngs = Rngs::new(0);
    /// let mut model = Sequential::new(vec![
    ///     Linear::new(3, 4, &mut rngs)?.into(),
    ///     Activation::Relu.into(),
    ///     LayerNorm::new(4, &mut rngs)?.into(),
    ///     Linear::new(4, 2, &mut rngs)?.into(),
    /// ]);
    /// let paths: Vec<String> = model.state().flat_state().iter().map(|(p, _)| path_string(p)).collect();
    /// assert_eq!(paths, ["layers/0/bias", "layers/0/kernel", "layers/2/bias", "layers/2/scale",
    ///                    "layers/3/bias", "layers/3/kernel"]);
    /// assert_eq!(model.forward(&Tensor::ones(&[5, 3]))?.shape(), &[5, 2]);
    ///
    /// let (graphdef, state) = model.split(..)?;
    /// let model: Sequential<Layer> = graphdef.merge(state)?;
    /// assert!(matches!(model.layers[1], Layer::Activation(Activation::Relu)));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// `Layer<f64>` holds the same layers in double precision (`Layer` is
    /// `Layer<f32>`); the stateless Dropout and activations fit either.
    ///
    /// ```
    /// use nnx_core::rngs::Rngs;
    /// use nnx_layers::{Activation, Forward, Layer, LinearConfig, Sequential};
    /// use nnx_tensor::Tensor;
    /// let mut rngs = Rngs::new(0);
    /// let mut model: Sequential<Layer<f64>> = Sequential::new(vec![
    ///     LinearConfig::<f64>::new(3, 4).build(&mut rngs)?.into(),
    ///     Activation::Relu.into(),
    /// ]);
    /// assert_eq!(model.forward(&Tensor::<f64>::full(&[5, 3], 1.0))?.shape(), &[5, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    #[derive(nnx_core::Module, Debug)]
    #[nnx(transparent)]
    pub enum Layer<E> {
        /// [`Linear`].
        Linear(Linear<E>) from Linear<E>,
        /// [`LinearGeneral`].
        LinearGeneral(LinearGeneral<E>) from LinearGeneral<E>,
        /// [`Einsum`].
        Einsum(Einsum<E>) from Einsum<E>,
        /// [`Conv`].
        Conv(Conv<E>) from Conv<E>,
        /// [`ConvTranspose`].
        ConvTranspose(ConvTranspose<E>) from ConvTranspose<E>,
        /// [`Embed`] (its input holds integer indices).
        Embed(Embed<E>) from Embed<E>,
        /// [`MultiHeadAttention`], as self-attention without a mask (boxed: it is
        /// much larger than the other layers).
        MultiHeadAttention(Box<MultiHeadAttention<E>>) from MultiHeadAttention<E>,
        /// [`BatchNorm`].
        BatchNorm(BatchNorm<E>) from BatchNorm<E>,
        /// [`LayerNorm`].
        LayerNorm(LayerNorm<E>) from LayerNorm<E>,
        /// [`RMSNorm`].
        RMSNorm(RMSNorm<E>) from RMSNorm<E>,
        /// [`GroupNorm`].
        GroupNorm(GroupNorm<E>) from GroupNorm<E>,
        /// [`InstanceNorm`].
        InstanceNorm(InstanceNorm<E>) from InstanceNorm<E>,
        /// [`Dropout`].
        Dropout(Dropout) from Dropout,
        /// [`PReLU`].
        PReLU(PReLU<E>) from PReLU<E>,
        /// A nested [`Sequential`].
        Sequential(Sequential<Layer<E>>) from Sequential<Layer<E>>,
        /// A stateless [`Activation`].
        Activation(Activation) from Activation,
    }
}
