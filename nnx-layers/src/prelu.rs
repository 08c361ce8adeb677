//! `PReLU`: leaky ReLU with a learned slope (Flax's `nnx.PReLU`).

use nnx_core::{Param, Result};
use nnx_tensor::{Element, Tensor};

use crate::forward::Recorded;

/// `x` where `x >= 0`, else `negative_slope * x`, with a scalar learned slope
/// (Flax's `nnx.PReLU`; it draws no random keys).
///
/// ```
/// use ndarray::array;
/// use nnx_layers::PReLU;
/// let act = PReLU::new();
/// assert_eq!(act.negative_slope.item().unwrap(), 0.01);
/// let y = act.apply(&array![-100.0f32, 2.0].into())?;
/// assert_eq!(y.to_array(), array![-1.0f32, 2.0].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct PReLU<E: Element = f32> {
    /// The slope for negative inputs, a 0-d tensor.
    pub negative_slope: Param<Tensor<E>>,
}

impl Default for PReLU {
    fn default() -> Self {
        PReLU::new()
    }
}

/// Options of [`PReLU`]; from [`PReLU::config`].
///
/// ```
/// let act = nnx_layers::PReLU::config().negative_slope_init(0.25).build();
/// assert_eq!(act.negative_slope.item().unwrap(), 0.25);
/// ```
#[derive(Debug, Clone)]
pub struct PReLUConfig<E: Element = f32> {
    negative_slope_init: E,
}

/// Flax's defaults, as [`PReLUConfig::new`].
///
/// ```
/// let cfg: nnx_layers::PReLUConfig = Default::default();
/// assert_eq!(cfg.build().negative_slope.item().unwrap(), 0.01);
/// ```
impl<E: Element> Default for PReLUConfig<E> {
    fn default() -> Self {
        PReLUConfig::new()
    }
}

impl<E: Element> PReLUConfig<E> {
    /// The options of a layer of element type `E` (`f64`: Flax's
    /// `param_dtype=jnp.float64`), starting from Flax's default slope `0.01`
    /// (rounded once to `E`); `PReLU::config` is this for `f32`.
    ///
    /// ```
    /// let act = nnx_layers::PReLUConfig::<f64>::new().build();
    /// assert_eq!(act.negative_slope.item().unwrap(), 0.01);
    /// ```
    pub fn new() -> PReLUConfig<E> {
        PReLUConfig {
            negative_slope_init: <E as nnx_core::random::Float>::from_f64(0.01),
        }
    }

    /// The initial slope (default `0.01`).
    ///
    /// ```
    /// let act = nnx_layers::PReLU::config().negative_slope_init(0.5).build();
    /// assert_eq!(act.negative_slope.item().unwrap(), 0.5);
    /// ```
    pub fn negative_slope_init(mut self, v: E) -> Self {
        self.negative_slope_init = v;
        self
    }

    /// Creates the layer.
    ///
    /// ```
    /// let act = nnx_layers::PReLU::config().build();
    /// assert_eq!(act.negative_slope.item().unwrap(), 0.01);
    /// ```
    pub fn build(self) -> PReLU<E> {
        PReLU {
            negative_slope: Param::new(Tensor::from(self.negative_slope_init)),
        }
    }
}

impl PReLU {
    /// A PReLU with slope `0.01`.
    ///
    /// ```
    /// assert_eq!(nnx_layers::PReLU::new().negative_slope.item().unwrap(), 0.01);
    /// ```
    pub fn new() -> PReLU {
        PReLU::config().build()
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let act = nnx_layers::PReLU::config().negative_slope_init(0.2).build();
    /// assert_eq!(act.negative_slope.item().unwrap(), 0.2);
    /// ```
    pub fn config() -> PReLUConfig {
        PReLUConfig::new()
    }
}

impl<E: Element> PReLU<E> {
    /// Applies the activation elementwise (Flax's `__call__`); nothing to
    /// update, so this is [`apply`](Self::apply).
    ///
    /// ```
    /// let mut act = nnx_layers::PReLU::new();
    /// let x = nnx_tensor::Tensor::from(ndarray::array![-2.0f32, 3.0]);
    /// assert_eq!(act.forward(&x)?, act.apply(&x)?);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply(x)
    }

    /// `x` where `x >= 0`, else `negative_slope * x`, differentiable in both.
    ///
    /// ```
    /// let act = nnx_layers::PReLU::config().negative_slope_init(0.5).build();
    /// let y = act.apply(&ndarray::array![-2.0f32, 3.0].into())?;
    /// assert_eq!(y.to_array(), ndarray::array![-1.0f32, 3.0].into_dyn());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        x.prelu(&self.negative_slope).recorded(self, x)
    }
}
