//! Normalization layers (Flax's `nnx.nn.normalization`): `BatchNorm`,
//! `LayerNorm`, `RMSNorm`, `GroupNorm`, `InstanceNorm`. The math is
//! [`crate::functional`]'s `compute_stats` / `normalize` / `group_norm`.

use ndarray::{Array1, ArrayBase, ArrayD, Data, Dimension, Ix1};
use nnx_core::init::{ones, zeros, ParamInit};
use nnx_core::rngs::Rngs;
use nnx_core::{BatchStat, Error, Param, Result, VariableType};

use crate::functional::{compute_stats, group_norm, normalize};
use crate::param::param;
use crate::support::{dyn_value, setters};

type OptParam = Option<Param<Array1<f32>>>;

/// Draws `scale` then `bias` (each only if used) from the `params` stream, in
/// Flax's order.
fn scale_and_bias(
    rngs: &mut Rngs,
    n: usize,
    scale: Option<&ParamInit<f32>>,
    bias: Option<&ParamInit<f32>>,
) -> Result<(OptParam, OptParam)> {
    let scale = match scale {
        Some(init) => Some(param::<Ix1>(init, rngs.next_key("params")?, &[n])?),
        None => None,
    };
    let bias = match bias {
        Some(init) => Some(param::<Ix1>(init, rngs.next_key("params")?, &[n])?),
        None => None,
    };
    Ok((scale, bias))
}

fn opt_dyn(p: &Option<Param<Array1<f32>>>) -> Option<ArrayD<f32>> {
    p.as_ref().map(dyn_value)
}

fn canon(what: &str, axis: isize, ndim: usize) -> Result<usize> {
    let a = if axis < 0 { axis + ndim as isize } else { axis };
    if a < 0 || a >= ndim as isize {
        return Err(Error::invalid_argument(
            what,
            format!("an axis in [-{ndim}, {ndim})"),
            axis.to_string(),
        ));
    }
    Ok(a as usize)
}

// ---------------------------------------------------------------- BatchNorm

/// Batch normalization (Flax's `nnx.BatchNorm`).
///
/// In training mode (`use_running_average == false`, the default) `forward`
/// normalizes with the batch's statistics and updates the running ones as
/// `ra = momentum * ra + (1 - momentum) * batch_stat`; in evaluation mode
/// ([`Module::eval`](nnx_core::Module::eval)) it uses the running ones.
///
/// ```
/// use ndarray::array;
/// use nnx_core::prelude::*;
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::BatchNorm;
/// let mut bn = BatchNorm::new(3, &mut Rngs::new(0))?;
/// assert_eq!(
///     bn.state().map(nnx_core::value::shape).to_string(),
///     "State({\n  'bias': Param(\n    value=(3,)\n  ),\n  'mean': BatchStat(\n    value=(3,)\n  ),\n  'scale': Param(\n    value=(3,)\n  ),\n  'var': BatchStat(\n    value=(3,)\n  )\n})"
/// );
/// let y = bn.forward(&array![[1.0f32, 2.0, 3.0], [3.0, 2.0, 1.0]])?;
/// assert!((y[[0, 0]] + 1.0).abs() < 1e-3);
/// assert!((bn.mean.value()[0] - 0.02).abs() < 1e-6); // 0.99 * 0 + 0.01 * 2
/// bn.eval()?;
/// assert!(bn.use_running_average);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module)]
pub struct BatchNorm {
    /// Running mean, shape `(num_features,)`.
    pub mean: BatchStat<Array1<f32>>,
    /// Running variance, shape `(num_features,)`.
    pub var: BatchStat<Array1<f32>>,
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Array1<f32>>>,
    /// Learned bias (`None` when `use_bias` is false).
    pub bias: Option<Param<Array1<f32>>>,
    /// Size of the feature axis.
    pub num_features: usize,
    /// Evaluation mode: normalize with the running statistics and leave them.
    pub use_running_average: bool,
    /// The feature axis (negative counts from the end).
    pub axis: isize,
    /// Decay of the running statistics.
    pub momentum: f64,
    /// Added to the variance.
    pub epsilon: f32,
    /// Whether there is a bias.
    pub use_bias: bool,
    /// Whether there is a scale.
    pub use_scale: bool,
    /// One-pass `E[x^2] - E[x]^2` variance (Flax's default) or two-pass.
    pub use_fast_variance: bool,
}

/// Options of [`BatchNorm`], with Flax's defaults.
///
/// ```
/// let bn = nnx_layers::BatchNorm::config(4).axis(1).momentum(0.9)
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert_eq!((bn.axis, bn.momentum), (1, 0.9));
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct BatchNormConfig {
    num_features: usize,
    use_running_average: bool,
    axis: isize,
    momentum: f64,
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    bias_init: ParamInit<f32>,
    scale_init: ParamInit<f32>,
    use_fast_variance: bool,
}

setters!(BatchNormConfig = "nnx_layers::BatchNorm::config(3)" {
    use_running_average: bool,
    axis: isize,
    momentum: f64,
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    use_fast_variance: bool,
});

impl BatchNormConfig {
    /// Sets the bias initializer (default zeros).
    ///
    /// ```
    /// let bn = nnx_layers::BatchNorm::config(3).bias_init(nnx_core::init::ones()).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(bn.bias.unwrap().sum(), 3.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.bias_init = init.into();
        self
    }
    /// Sets the scale initializer (default ones).
    ///
    /// ```
    /// let bn = nnx_layers::BatchNorm::config(3).scale_init(nnx_core::init::zeros()).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(bn.scale.unwrap().sum(), 0.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn scale_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.scale_init = init.into();
        self
    }
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let bn = nnx_layers::BatchNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!((bn.mean.sum(), bn.var.sum()), (0.0, 3.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<BatchNorm> {
        let n = self.num_features;
        let (scale, bias) = scale_and_bias(
            rngs,
            n,
            self.use_scale.then_some(&self.scale_init),
            self.use_bias.then_some(&self.bias_init),
        )?;
        Ok(BatchNorm {
            mean: BatchStat::new(Array1::zeros(n)),
            var: BatchStat::new(Array1::ones(n)),
            scale,
            bias,
            num_features: n,
            use_running_average: self.use_running_average,
            axis: self.axis,
            momentum: self.momentum,
            epsilon: self.epsilon,
            use_bias: self.use_bias,
            use_scale: self.use_scale,
            use_fast_variance: self.use_fast_variance,
        })
    }
}

impl BatchNorm {
    /// Options with Flax's defaults (`axis=-1`, `momentum=0.99`, `epsilon=1e-5`).
    ///
    /// ```
    /// let c = nnx_layers::BatchNorm::config(3).epsilon(1e-3);
    /// assert!(c.build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(num_features: usize) -> BatchNormConfig {
        BatchNormConfig {
            num_features,
            use_running_average: false,
            axis: -1,
            momentum: 0.99,
            epsilon: 1e-5,
            use_bias: true,
            use_scale: true,
            bias_init: zeros().into(),
            scale_init: ones().into(),
            use_fast_variance: true,
        }
    }

    /// A BatchNorm with Flax's defaults.
    ///
    /// ```
    /// let bn = nnx_layers::BatchNorm::new(3, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(bn.num_features, 3);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(num_features: usize, rngs: &mut Rngs) -> Result<BatchNorm> {
        Self::config(num_features).build(rngs)
    }

    /// Normalizes `x` over every axis but `axis`; in training mode also updates
    /// the running statistics.
    ///
    /// ```
    /// use nnx_core::Module;
    /// let mut bn = nnx_layers::BatchNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// bn.eval()?;
    /// let y = bn.forward(&ndarray::array![[1.0f32, 2.0]])?; // running stats: 0 and 1
    /// assert!((y[[0, 1]] - 2.0).abs() < 1e-4);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &mut self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        let ax = canon("BatchNorm axis", self.axis, x.ndim())?;
        if x.shape()[ax] != self.num_features {
            let mut want: Vec<String> = x.shape().iter().map(|d| d.to_string()).collect();
            want[ax] = self.num_features.to_string();
            return Err(Error::invalid_argument(
                "BatchNorm input",
                format!(
                    "a shape ({}) with {} features on axis {ax}",
                    want.join(", "),
                    self.num_features
                ),
                nnx_core::repr::fmt_tuple_usize(x.shape()),
            ));
        }
        let reduction: Vec<isize> = (0..x.ndim())
            .filter(|&a| a != ax)
            .map(|a| a as isize)
            .collect();
        let (mean, var) = if self.use_running_average {
            (dyn_value_stat(&self.mean), dyn_value_stat(&self.var))
        } else {
            let (m, v) = compute_stats(x, &reduction, true, self.use_fast_variance)?;
            // Flax computes in f32 with the Python-float factors rounded once.
            let (mom, rest) = (self.momentum as f32, (1.0 - self.momentum) as f32);
            let m1 = m.view().into_dimensionality::<Ix1>().map_err(shape_bug)?;
            let v1 = v.view().into_dimensionality::<Ix1>().map_err(shape_bug)?;
            let new_mean = self.mean.value() * mom + &(&m1 * rest);
            let new_var = self.var.value() * mom + &(&v1 * rest);
            *self.mean.value_mut() = new_mean;
            *self.var.value_mut() = new_var;
            (m, v)
        };
        normalize(
            x,
            &mean,
            &var,
            opt_dyn(&self.scale).as_ref(),
            opt_dyn(&self.bias).as_ref(),
            &reduction,
            &[ax as isize],
            self.epsilon,
        )
    }
}

fn dyn_value_stat(s: &BatchStat<Array1<f32>>) -> ArrayD<f32> {
    s.value().clone().into_dyn()
}

fn shape_bug(e: ndarray::ShapeError) -> Error {
    Error::invalid_argument("BatchNorm statistics", "rank 1", e.to_string())
}

// ------------------------------------------------- LayerNorm, RMSNorm, InstanceNorm

/// Layer normalization (Flax's `nnx.LayerNorm`): statistics over
/// `reduction_axes` (default the last), scale and bias over `feature_axes`.
///
/// ```
/// use nnx_core::prelude::*;
/// let ln = nnx_layers::LayerNorm::new(4, &mut nnx_core::rngs::Rngs::new(0))?;
/// let y = ln.forward(&ndarray::array![[1.0f32, 2.0, 3.0, 4.0]])?;
/// assert!(y.sum().abs() < 1e-5);
/// assert_eq!(ln.state().len(), 2); // scale, bias
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module)]
pub struct LayerNorm {
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Array1<f32>>>,
    /// Learned bias (`None` when `use_bias` is false).
    pub bias: Option<Param<Array1<f32>>>,
    /// Number of features (size of the scale and bias).
    pub num_features: usize,
    /// Added to the variance.
    pub epsilon: f32,
    /// Whether there is a bias.
    pub use_bias: bool,
    /// Whether there is a scale.
    pub use_scale: bool,
    /// Axes the statistics are taken over.
    #[nnx(static)]
    pub reduction_axes: Vec<isize>,
    /// Axes the scale and bias run along.
    #[nnx(static)]
    pub feature_axes: Vec<isize>,
    /// One-pass variance (Flax's default) or two-pass.
    pub use_fast_variance: bool,
}

/// Options of [`LayerNorm`], with Flax's defaults (`epsilon=1e-6`, last axis).
///
/// ```
/// let ln = nnx_layers::LayerNorm::config(4).use_bias(false).reduction_axes(&[-2, -1])
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert!(ln.bias.is_none());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LayerNormConfig {
    num_features: usize,
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    bias_init: ParamInit<f32>,
    scale_init: ParamInit<f32>,
    reduction_axes: Vec<isize>,
    feature_axes: Vec<isize>,
    use_fast_variance: bool,
}

setters!(LayerNormConfig = "nnx_layers::LayerNorm::config(3)" {
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    use_fast_variance: bool
});

impl LayerNormConfig {
    /// Sets the axes of the statistics (default `[-1]`).
    ///
    /// ```
    /// let ln = nnx_layers::LayerNorm::config(3).reduction_axes(&[-2, -1]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(ln.reduction_axes, vec![-2, -1]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn reduction_axes(mut self, axes: &[isize]) -> Self {
        self.reduction_axes = axes.to_vec();
        self
    }
    /// Sets the axes of scale and bias (default `[-1]`).
    ///
    /// ```
    /// let ln = nnx_layers::LayerNorm::config(3).feature_axes(&[-1]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(ln.feature_axes, vec![-1]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn feature_axes(mut self, axes: &[isize]) -> Self {
        self.feature_axes = axes.to_vec();
        self
    }
    /// Sets the bias initializer (default zeros).
    ///
    /// ```
    /// let ln = nnx_layers::LayerNorm::config(3).bias_init(nnx_core::init::ones()).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(ln.bias.unwrap().sum(), 3.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.bias_init = init.into();
        self
    }
    /// Sets the scale initializer (default ones).
    ///
    /// ```
    /// let ln = nnx_layers::LayerNorm::config(3).scale_init(nnx_core::init::zeros()).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(ln.scale.unwrap().sum(), 0.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn scale_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.scale_init = init.into();
        self
    }
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let ln = nnx_layers::LayerNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(ln.scale.unwrap().sum(), 3.0); // ones by default
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<LayerNorm> {
        let (scale, bias) = scale_and_bias(
            rngs,
            self.num_features,
            self.use_scale.then_some(&self.scale_init),
            self.use_bias.then_some(&self.bias_init),
        )?;
        Ok(LayerNorm {
            scale,
            bias,
            num_features: self.num_features,
            epsilon: self.epsilon,
            use_bias: self.use_bias,
            use_scale: self.use_scale,
            reduction_axes: self.reduction_axes,
            feature_axes: self.feature_axes,
            use_fast_variance: self.use_fast_variance,
        })
    }
}

impl LayerNorm {
    /// Options with Flax's defaults.
    ///
    /// ```
    /// let c = nnx_layers::LayerNorm::config(3).epsilon(1e-5);
    /// assert!(c.build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(num_features: usize) -> LayerNormConfig {
        LayerNormConfig {
            num_features,
            epsilon: 1e-6,
            use_bias: true,
            use_scale: true,
            bias_init: zeros().into(),
            scale_init: ones().into(),
            reduction_axes: vec![-1],
            feature_axes: vec![-1],
            use_fast_variance: true,
        }
    }

    /// A LayerNorm with Flax's defaults.
    ///
    /// ```
    /// let ln = nnx_layers::LayerNorm::new(3, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(ln.epsilon, 1e-6);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(num_features: usize, rngs: &mut Rngs) -> Result<LayerNorm> {
        Self::config(num_features).build(rngs)
    }

    /// Normalizes `x`.
    ///
    /// ```
    /// let ln = nnx_layers::LayerNorm::new(3, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(ln.forward(&ndarray::array![1.0f32, 2.0]).is_err()); // 2 features, not 3
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        let (mean, var) = compute_stats(x, &self.reduction_axes, true, self.use_fast_variance)?;
        normalize(
            x,
            &mean,
            &var,
            opt_dyn(&self.scale).as_ref(),
            opt_dyn(&self.bias).as_ref(),
            &self.reduction_axes,
            &self.feature_axes,
            self.epsilon,
        )
    }
}

/// Root-mean-square normalization (Flax's `nnx.RMSNorm`): `x / sqrt(mean(x^2) +
/// epsilon) * scale`, no bias.
///
/// ```
/// let n = nnx_layers::RMSNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?;
/// let y = n.forward(&ndarray::array![[3.0f32, 4.0]])?;
/// assert!((y[[0, 1]] - 4.0 / 12.5f32.sqrt()).abs() < 1e-5);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module)]
pub struct RMSNorm {
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Array1<f32>>>,
    /// Number of features.
    pub num_features: usize,
    /// Added to the mean square.
    pub epsilon: f32,
    /// Whether there is a scale.
    pub use_scale: bool,
    /// Axes the statistic is taken over.
    #[nnx(static)]
    pub reduction_axes: Vec<isize>,
    /// Axes the scale runs along.
    #[nnx(static)]
    pub feature_axes: Vec<isize>,
    /// Kept for parity with Flax (the mean square has one formula).
    pub use_fast_variance: bool,
}

/// Options of [`RMSNorm`], with Flax's defaults (`epsilon=1e-6`, last axis).
///
/// ```
/// let n = nnx_layers::RMSNorm::config(4).use_scale(false).build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert!(n.scale.is_none());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct RMSNormConfig {
    num_features: usize,
    epsilon: f32,
    use_scale: bool,
    scale_init: ParamInit<f32>,
    reduction_axes: Vec<isize>,
    feature_axes: Vec<isize>,
    use_fast_variance: bool,
}

setters!(RMSNormConfig = "nnx_layers::RMSNorm::config(3)" {
    epsilon: f32,
    use_scale: bool,
    use_fast_variance: bool
});

impl RMSNormConfig {
    /// Sets the axes of the statistic (default `[-1]`).
    ///
    /// ```
    /// let n = nnx_layers::RMSNorm::config(3).reduction_axes(&[-2, -1]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.reduction_axes, vec![-2, -1]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn reduction_axes(mut self, axes: &[isize]) -> Self {
        self.reduction_axes = axes.to_vec();
        self
    }
    /// Sets the axes of the scale (default `[-1]`).
    ///
    /// ```
    /// let n = nnx_layers::RMSNorm::config(3).feature_axes(&[-1]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.feature_axes, vec![-1]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn feature_axes(mut self, axes: &[isize]) -> Self {
        self.feature_axes = axes.to_vec();
        self
    }
    /// Sets the scale initializer (default ones).
    ///
    /// ```
    /// let n = nnx_layers::RMSNorm::config(3).scale_init(nnx_core::init::zeros()).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.scale.unwrap().sum(), 0.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn scale_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.scale_init = init.into();
        self
    }
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let n = nnx_layers::RMSNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.num_features, 3);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<RMSNorm> {
        let (scale, _) = scale_and_bias(
            rngs,
            self.num_features,
            self.use_scale.then_some(&self.scale_init),
            None,
        )?;
        Ok(RMSNorm {
            scale,
            num_features: self.num_features,
            epsilon: self.epsilon,
            use_scale: self.use_scale,
            reduction_axes: self.reduction_axes,
            feature_axes: self.feature_axes,
            use_fast_variance: self.use_fast_variance,
        })
    }
}

impl RMSNorm {
    /// Options with Flax's defaults.
    ///
    /// ```
    /// assert!(nnx_layers::RMSNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(num_features: usize) -> RMSNormConfig {
        RMSNormConfig {
            num_features,
            epsilon: 1e-6,
            use_scale: true,
            scale_init: ones().into(),
            reduction_axes: vec![-1],
            feature_axes: vec![-1],
            use_fast_variance: true,
        }
    }

    /// An RMSNorm with Flax's defaults.
    ///
    /// ```
    /// let n = nnx_layers::RMSNorm::new(3, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(n.scale.is_some());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(num_features: usize, rngs: &mut Rngs) -> Result<RMSNorm> {
        Self::config(num_features).build(rngs)
    }

    /// Normalizes `x`.
    ///
    /// ```
    /// let n = nnx_layers::RMSNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.forward(&ndarray::array![[1.0f32, 1.0]])?.shape(), &[1, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        let (mean, var) = compute_stats(x, &self.reduction_axes, false, self.use_fast_variance)?;
        normalize(
            x,
            &mean,
            &var,
            opt_dyn(&self.scale).as_ref(),
            None,
            &self.reduction_axes,
            &self.feature_axes,
            self.epsilon,
        )
    }
}

/// Instance normalization (Flax's `nnx.InstanceNorm`): statistics per example
/// and feature, over every axis but the batch axis (0) and `feature_axes`.
///
/// ```
/// let n = nnx_layers::InstanceNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?;
/// let y = n.forward(&ndarray::array![[[1.0f32, 5.0], [3.0, 5.0]]])?;
/// assert!((y[[0, 0, 0]] + 1.0).abs() < 1e-4 && y[[0, 0, 1]].abs() < 1e-4);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module)]
pub struct InstanceNorm {
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Array1<f32>>>,
    /// Learned bias (`None` when `use_bias` is false).
    pub bias: Option<Param<Array1<f32>>>,
    /// Number of features.
    pub num_features: usize,
    /// Added to the variance.
    pub epsilon: f32,
    /// Whether there is a bias.
    pub use_bias: bool,
    /// Whether there is a scale.
    pub use_scale: bool,
    /// The feature (channel) axes; must not include axis 0.
    #[nnx(static)]
    pub feature_axes: Vec<isize>,
    /// One-pass variance (Flax's default) or two-pass.
    pub use_fast_variance: bool,
}

/// Options of [`InstanceNorm`], with Flax's defaults (`epsilon=1e-6`, features last).
///
/// ```
/// let n = nnx_layers::InstanceNorm::config(3).feature_axes(&[1])
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert_eq!(n.feature_axes, vec![1]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct InstanceNormConfig {
    num_features: usize,
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    bias_init: ParamInit<f32>,
    scale_init: ParamInit<f32>,
    feature_axes: Vec<isize>,
    use_fast_variance: bool,
}

setters!(InstanceNormConfig = "nnx_layers::InstanceNorm::config(3)" {
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    use_fast_variance: bool
});

impl InstanceNormConfig {
    /// Sets the feature axes (default `[-1]`).
    ///
    /// ```
    /// let n = nnx_layers::InstanceNorm::config(3).feature_axes(&[-1]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.feature_axes, vec![-1]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn feature_axes(mut self, axes: &[isize]) -> Self {
        self.feature_axes = axes.to_vec();
        self
    }
    /// Sets the bias initializer (default zeros).
    ///
    /// ```
    /// let n = nnx_layers::InstanceNorm::config(3).bias_init(nnx_core::init::ones()).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.bias.unwrap().sum(), 3.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.bias_init = init.into();
        self
    }
    /// Sets the scale initializer (default ones).
    ///
    /// ```
    /// let n = nnx_layers::InstanceNorm::config(3).scale_init(nnx_core::init::zeros()).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.scale.unwrap().sum(), 0.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn scale_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.scale_init = init.into();
        self
    }
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let n = nnx_layers::InstanceNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.num_features, 3);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<InstanceNorm> {
        let (scale, bias) = scale_and_bias(
            rngs,
            self.num_features,
            self.use_scale.then_some(&self.scale_init),
            self.use_bias.then_some(&self.bias_init),
        )?;
        Ok(InstanceNorm {
            scale,
            bias,
            num_features: self.num_features,
            epsilon: self.epsilon,
            use_bias: self.use_bias,
            use_scale: self.use_scale,
            feature_axes: self.feature_axes,
            use_fast_variance: self.use_fast_variance,
        })
    }
}

impl InstanceNorm {
    /// Options with Flax's defaults.
    ///
    /// ```
    /// assert!(nnx_layers::InstanceNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(num_features: usize) -> InstanceNormConfig {
        InstanceNormConfig {
            num_features,
            epsilon: 1e-6,
            use_bias: true,
            use_scale: true,
            bias_init: zeros().into(),
            scale_init: ones().into(),
            feature_axes: vec![-1],
            use_fast_variance: true,
        }
    }

    /// An InstanceNorm with Flax's defaults.
    ///
    /// ```
    /// let n = nnx_layers::InstanceNorm::new(3, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(n.bias.is_some());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(num_features: usize, rngs: &mut Rngs) -> Result<InstanceNorm> {
        Self::config(num_features).build(rngs)
    }

    /// Normalizes `x` (`(batch, ..., features)` by default).
    ///
    /// ```
    /// let n = nnx_layers::InstanceNorm::config(2).feature_axes(&[0])
    ///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(n.forward(&ndarray::array![[1.0f32, 2.0], [3.0, 4.0]]).is_err()); // batch axis
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        let nd = x.ndim();
        let mut feat = Vec::with_capacity(self.feature_axes.len());
        for &a in &self.feature_axes {
            feat.push(canon("InstanceNorm feature_axes", a, nd)?);
        }
        if feat.contains(&0) {
            return Err(Error::invalid_argument(
                "InstanceNorm feature_axes",
                "axes other than the batch axis 0",
                format!("{:?}", self.feature_axes),
            ));
        }
        let reduction: Vec<isize> = (1..nd)
            .filter(|a| !feat.contains(a))
            .map(|a| a as isize)
            .collect();
        let feat: Vec<isize> = feat.into_iter().map(|a| a as isize).collect();
        let (mean, var) = compute_stats(x, &reduction, true, self.use_fast_variance)?;
        normalize(
            x,
            &mean,
            &var,
            opt_dyn(&self.scale).as_ref(),
            opt_dyn(&self.bias).as_ref(),
            &reduction,
            &feat,
            self.epsilon,
        )
    }
}

// ---------------------------------------------------------------- GroupNorm

/// Group normalization (Flax's `nnx.GroupNorm`): `x` is `(batch, spatial...,
/// features)`; features are split into `num_groups` contiguous groups of
/// `group_size`, with statistics over the spatial axes and each group.
///
/// ```
/// let g = nnx_layers::GroupNorm::config(4).num_groups(Some(2))
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// let y = g.forward(&ndarray::array![[1.0f32, 3.0, 10.0, 20.0]])?;
/// assert!((y[[0, 0]] + 1.0).abs() < 1e-4);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module)]
pub struct GroupNorm {
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Array1<f32>>>,
    /// Learned bias (`None` when `use_bias` is false).
    pub bias: Option<Param<Array1<f32>>>,
    /// Number of features (channels, the last axis).
    pub num_features: usize,
    /// Number of groups.
    pub num_groups: usize,
    /// Features per group.
    pub group_size: usize,
    /// Added to the variance.
    pub epsilon: f32,
    /// Whether there is a bias.
    pub use_bias: bool,
    /// Whether there is a scale.
    pub use_scale: bool,
    /// One-pass variance (Flax's default) or two-pass.
    pub use_fast_variance: bool,
}

/// Options of [`GroupNorm`], with Flax's defaults (`num_groups=Some(32)`,
/// `group_size=None`, `epsilon=1e-6`). Exactly one of `num_groups` and
/// `group_size` must be set. (Flax's `reduction_axes` override is not offered:
/// the default, every non-batch axis, is what GroupNorm means.)
///
/// ```
/// let g = nnx_layers::GroupNorm::config(6).num_groups(None).group_size(Some(3))
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert_eq!((g.num_groups, g.group_size), (2, 3));
/// assert!(nnx_layers::GroupNorm::config(6).group_size(Some(3))
///     .build(&mut nnx_core::rngs::Rngs::new(0)).is_err()); // both set
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct GroupNormConfig {
    num_features: usize,
    num_groups: Option<usize>,
    group_size: Option<usize>,
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    bias_init: ParamInit<f32>,
    scale_init: ParamInit<f32>,
    use_fast_variance: bool,
}

setters!(GroupNormConfig = "nnx_layers::GroupNorm::config(4)" {
    num_groups: Option<usize>, group_size: Option<usize>, epsilon: f32, use_bias: bool,
    use_scale: bool, use_fast_variance: bool,
});

impl GroupNormConfig {
    /// Sets the bias initializer (default zeros).
    ///
    /// ```
    /// let n = nnx_layers::GroupNorm::config(4).num_groups(Some(2)).bias_init(nnx_core::init::ones()).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.bias.unwrap().sum(), 4.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.bias_init = init.into();
        self
    }
    /// Sets the scale initializer (default ones).
    ///
    /// ```
    /// let n = nnx_layers::GroupNorm::config(4).num_groups(Some(2)).scale_init(nnx_core::init::zeros()).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.scale.unwrap().sum(), 0.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn scale_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.scale_init = init.into();
        self
    }
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let n = nnx_layers::GroupNorm::config(4).num_groups(Some(2)).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(n.num_features, 4);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<GroupNorm> {
        let n = self.num_features;
        let (num_groups, group_size) = match (self.num_groups, self.group_size) {
            (Some(g), None) if g > 0 && n.is_multiple_of(g) => (g, n / g),
            (None, Some(s)) if s > 0 && n.is_multiple_of(s) => (n / s, s),
            (g, s) => {
                return Err(Error::invalid_argument(
                    "GroupNorm num_groups / group_size",
                    format!("exactly one of them, dividing num_features={n}"),
                    format!("num_groups={g:?}, group_size={s:?}"),
                ))
            }
        };
        let (scale, bias) = scale_and_bias(
            rngs,
            n,
            self.use_scale.then_some(&self.scale_init),
            self.use_bias.then_some(&self.bias_init),
        )?;
        Ok(GroupNorm {
            scale,
            bias,
            num_features: n,
            num_groups,
            group_size,
            epsilon: self.epsilon,
            use_bias: self.use_bias,
            use_scale: self.use_scale,
            use_fast_variance: self.use_fast_variance,
        })
    }
}

impl GroupNorm {
    /// Options with Flax's defaults.
    ///
    /// ```
    /// assert!(nnx_layers::GroupNorm::config(64).build(&mut nnx_core::rngs::Rngs::new(0)).is_ok());
    /// ```
    pub fn config(num_features: usize) -> GroupNormConfig {
        GroupNormConfig {
            num_features,
            num_groups: Some(32),
            group_size: None,
            epsilon: 1e-6,
            use_bias: true,
            use_scale: true,
            bias_init: zeros().into(),
            scale_init: ones().into(),
            use_fast_variance: true,
        }
    }

    /// A GroupNorm with `num_groups` groups and Flax's other defaults.
    ///
    /// ```
    /// let g = nnx_layers::GroupNorm::new(8, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(g.group_size, 2);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(num_features: usize, num_groups: usize, rngs: &mut Rngs) -> Result<GroupNorm> {
        Self::config(num_features)
            .num_groups(Some(num_groups))
            .build(rngs)
    }

    /// Normalizes `x` of shape `(batch, spatial..., num_features)`.
    ///
    /// ```
    /// let g = nnx_layers::GroupNorm::new(4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(g.forward(&ndarray::array![[1.0f32, 2.0, 3.0]]).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        if x.ndim() < 2 || x.shape()[x.ndim() - 1] != self.num_features {
            return Err(Error::invalid_argument(
                "GroupNorm input",
                format!("(batch, ..., {})", self.num_features),
                nnx_core::repr::fmt_tuple_usize(x.shape()),
            ));
        }
        group_norm(
            x,
            self.num_groups,
            opt_dyn(&self.scale).as_ref(),
            opt_dyn(&self.bias).as_ref(),
            self.epsilon,
            self.use_fast_variance,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnx_core::Module;

    #[test]
    fn batchnorm_train_updates_eval_does_not() -> Result<()> {
        let mut bn = BatchNorm::config(2)
            .momentum(0.5)
            .build(&mut Rngs::new(0))?;
        let x = ndarray::array![[1.0f32, 2.0], [3.0, 6.0]];
        bn.forward(&x)?;
        assert_eq!(bn.mean.value(), &ndarray::array![1.0f32, 2.0]);
        assert_eq!(bn.var.value(), &ndarray::array![1.0f32, 2.5]);
        bn.eval()?;
        bn.forward(&x)?;
        assert_eq!(bn.mean.value(), &ndarray::array![1.0f32, 2.0]);
        let (g, s) = bn.split(..)?;
        let bn2: BatchNorm = g.merge(s)?;
        assert!(bn2.use_running_average);
        Ok(())
    }
}
