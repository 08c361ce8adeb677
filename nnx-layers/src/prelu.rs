//! `PReLU`: leaky ReLU with a learned slope (Flax's `nnx.PReLU`).

use ndarray::{arr0, Array0, ArrayBase, ArrayD, Data, Dimension};
use nnx_core::{Param, Result};

use nnx_tensor::Tensor;

/// `x` where `x >= 0`, else `negative_slope * x`, with a scalar learned slope
/// (Flax's `nnx.PReLU`; it draws no random keys).
///
/// ```
/// use ndarray::array;
/// use nnx_layers::PReLU;
/// let act = PReLU::new();
/// assert_eq!(*act.negative_slope.first().unwrap(), 0.01);
/// assert_eq!(act.forward(&array![-100.0f32, 2.0])?, array![-1.0f32, 2.0].into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct PReLU {
    /// The slope for negative inputs, a 0-d array.
    pub negative_slope: Param<Array0<f32>>,
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
/// assert_eq!(*act.negative_slope.first().unwrap(), 0.25);
/// ```
#[derive(Debug, Clone)]
pub struct PReLUConfig {
    negative_slope_init: f32,
}

impl PReLUConfig {
    /// The initial slope (default `0.01`).
    ///
    /// ```
    /// let act = nnx_layers::PReLU::config().negative_slope_init(0.5).build();
    /// assert_eq!(*act.negative_slope.first().unwrap(), 0.5);
    /// ```
    pub fn negative_slope_init(mut self, v: f32) -> Self {
        self.negative_slope_init = v;
        self
    }

    /// Creates the layer.
    ///
    /// ```
    /// let act = nnx_layers::PReLU::config().build();
    /// assert_eq!(*act.negative_slope.first().unwrap(), 0.01);
    /// ```
    pub fn build(self) -> PReLU {
        PReLU {
            negative_slope: Param::new(arr0(self.negative_slope_init)),
        }
    }
}

impl PReLU {
    /// A PReLU with slope `0.01`.
    ///
    /// ```
    /// assert_eq!(*nnx_layers::PReLU::new().negative_slope.first().unwrap(), 0.01);
    /// ```
    pub fn new() -> PReLU {
        PReLU::config().build()
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let act = nnx_layers::PReLU::config().negative_slope_init(0.2).build();
    /// assert_eq!(*act.negative_slope.first().unwrap(), 0.2);
    /// ```
    pub fn config() -> PReLUConfig {
        PReLUConfig {
            negative_slope_init: 0.01,
        }
    }

    /// Applies the activation elementwise.
    ///
    /// ```
    /// let act = nnx_layers::PReLU::config().negative_slope_init(0.5).build();
    /// assert_eq!(act.forward(&ndarray::array![-2.0f32, 3.0])?, ndarray::array![-1.0f32, 3.0].into_dyn());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        let slope = self.negative_slope.first().copied().unwrap_or(0.01);
        Ok(Tensor::new(x.view().into_dyn().to_owned())
            .leaky_relu(slope)
            .into_array())
    }
}
