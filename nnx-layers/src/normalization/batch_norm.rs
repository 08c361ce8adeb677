//! `BatchNorm` (Flax's `nnx.BatchNorm`).

use ndarray::ArrayD;
use nnx_core::rngs::Rngs;
use nnx_core::{BatchStat, Error, Param, Result, VariableType};
use nnx_tensor::Tensor;

use super::{norm_of, NormBase};
use crate::forward::Recorded;
use crate::functional::{canon_axis, shape_err};
use crate::support::{check_alloc, check_config, check_shape, init_setters, setters};

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
/// let y = bn.forward(&array![[1.0f32, 2.0, 3.0], [3.0, 2.0, 1.0]].into())?;
/// assert!((y.to_array()[[0, 0]] + 1.0).abs() < 1e-3);
/// assert!((bn.mean.to_array()[0] - 0.02).abs() < 1e-6); // 0.99 * 0 + 0.01 * 2
/// bn.eval()?;
/// assert!(bn.use_running_average);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct BatchNorm {
    /// Running mean, shape `(num_features,)`.
    pub mean: BatchStat<Tensor>,
    /// Running variance, shape `(num_features,)`.
    pub var: BatchStat<Tensor>,
    /// Learned scale (`None` when `use_scale` is false).
    pub scale: Option<Param<Tensor>>,
    /// Learned bias (`None` when `use_bias` is false).
    pub bias: Option<Param<Tensor>>,
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
    base: NormBase,
    use_running_average: bool,
    axis: isize,
    momentum: f64,
}

setters!(BatchNormConfig = "nnx_layers::BatchNorm::config(3)" {
    use_running_average: bool,
    axis: isize,
    momentum: f64,
});

setters!(BatchNormConfig.base = "nnx_layers::BatchNorm::config(3)" {
    epsilon: f32,
    use_bias: bool,
    use_scale: bool,
    use_fast_variance: bool,
});

init_setters!(BatchNormConfig.base = "nnx_layers::BatchNorm::config(3)" {
    scale_init ("ones()") => "layer.scale.unwrap().to_array()",
    bias_init ("zeros()") => "layer.bias.unwrap().to_array()",
});

impl BatchNormConfig {
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let bn = nnx_layers::BatchNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!((bn.mean.sum().item()?, bn.var.sum().item()?), (0.0, 3.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    /// # Errors
    /// When `momentum` is not in `[0, 1]` or `epsilon` is negative or not finite.
    ///
    pub fn build(self, rngs: &mut Rngs) -> Result<BatchNorm> {
        let n = self.num_features;
        check_momentum(self.momentum)?;
        check_alloc("BatchNorm num_features", &[n], std::mem::size_of::<f32>())?;
        let (scale, bias) = self.base.params("BatchNorm", rngs, n)?;
        Ok(BatchNorm {
            mean: BatchStat::new(Tensor::zeros(&[n])),
            var: BatchStat::new(Tensor::ones(&[n])),
            scale,
            bias,
            num_features: n,
            use_running_average: self.use_running_average,
            axis: self.axis,
            momentum: self.momentum,
            epsilon: self.base.epsilon,
            use_bias: self.base.use_bias,
            use_scale: self.base.use_scale,
            use_fast_variance: self.base.use_fast_variance,
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
            base: NormBase::new(1e-5),
            use_running_average: false,
            axis: -1,
            momentum: 0.99,
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

    /// Normalizes `x` over every axis but `axis` (Flax's `__call__`): in
    /// training mode with the batch's statistics, also updating the running
    /// ones; in evaluation mode with the running ones (as [`apply`](Self::apply)).
    /// Gradients flow through the batch statistics, as in Flax.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let mut bn = nnx_layers::BatchNorm::config(2).momentum(0.5)
    ///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// bn.forward(&Tensor::from(ndarray::array![[1.0f32, 2.0], [3.0, 6.0]]))?;
    /// assert_eq!(bn.mean.to_array(), ndarray::array![1.0f32, 2.0].into_dyn()); // 0.5 * 0 + 0.5 * mean
    /// assert_eq!(bn.var.to_array(), ndarray::array![1.0f32, 2.5].into_dyn()); // 0.5 * 1 + 0.5 * var
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`forward_with`](Self::forward_with).
    pub fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        self.forward_with(x, BatchNormArgs::default())
    }

    /// [`forward`](Self::forward) with Flax's call-time arguments
    /// (`bn(x, use_running_average=..., mask=...)`): `args.use_running_average`
    /// overrides the layer's flag for this call, and in training mode the batch
    /// statistics are taken where `args.mask` is true (every element is
    /// normalized; evaluation mode does not read the mask, as in Flax).
    ///
    /// ```
    /// use nnx_layers::{BatchNorm, BatchNormArgs};
    /// use nnx_tensor::Tensor;
    /// let mut bn = BatchNorm::config(1).momentum(0.0).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = Tensor::from(ndarray::array![[1.0f32], [3.0], [100.0]]);
    /// // The last row is padding: left out of the statistics.
    /// let mask = ndarray::array![[true], [true], [false]].into_dyn();
    /// bn.forward_with(&x, BatchNormArgs { mask: Some(&mask), ..Default::default() })?;
    /// assert_eq!((bn.mean.to_array()[0], bn.var.to_array()[0]), (2.0, 1.0));
    /// // Evaluation for one call: the running statistics, left unchanged.
    /// let eval = BatchNormArgs { use_running_average: Some(true), ..Default::default() };
    /// let y = bn.forward_with(&x, eval)?;
    /// assert!((y.to_array()[[1, 0]] - 1.0).abs() < 1e-4);
    /// assert_eq!(bn.mean.to_array()[0], 2.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// When `x` has no axis `axis` of size `num_features`, when a Variable no
    /// longer has `num_features` entries, when the mask does not broadcast to
    /// `x`, or, in training mode, when the batch is empty (its statistics would
    /// be NaN); the layer is then unchanged.
    pub fn forward_with(&mut self, x: &Tensor, args: BatchNormArgs<'_>) -> Result<Tensor> {
        if args.use_running_average.unwrap_or(self.use_running_average) {
            return self.with_running_stats(x, args.mask);
        }
        let reduction = self.reduction_axes(x)?;
        self.norm().check_mask(args.mask, x)?;
        if x.is_empty() {
            return Err(shape_err(
                "x",
                "a non-empty batch (training mode updates the running statistics)",
                x.shape(),
            ));
        }
        check_momentum(self.momentum)?;
        let (mean, var) =
            x.compute_stats_masked(&reduction, true, self.use_fast_variance, args.mask)?;
        let y = self
            .norm()
            .normalize(x, (&mean, &var), &reduction, &[self.axis])?;
        // Flax computes in f32 with the Python-float factors rounded once; the
        // running statistics are not differentiated.
        let (mom, rest) = (self.momentum as f32, (1.0 - self.momentum) as f32);
        let update =
            |ra: &Tensor, stat: &Tensor| (ra.stop_gradient() * mom) + stat.stop_gradient() * rest;
        let (new_mean, new_var) = (update(&self.mean, &mean)?, update(&self.var, &var)?);
        // Written only once everything above succeeded: an error leaves the layer as it was.
        *self.mean.value_mut() = new_mean;
        *self.var.value_mut() = new_var;
        Ok(y).recorded(self, x)
    }

    /// Normalizes `x` with the running statistics, from a shared reference:
    /// evaluation mode only (in training mode `forward` updates the statistics).
    ///
    /// ```
    /// use nnx_core::Module;
    /// use nnx_tensor::Tensor;
    /// let mut bn = nnx_layers::BatchNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = Tensor::from(ndarray::array![[1.0f32, 2.0]]);
    /// assert!(bn.apply(&x).is_err()); // training mode
    /// bn.eval()?;
    /// let y = bn.apply(&x)?; // running statistics: mean 0, var 1
    /// assert!((y.to_array()[[0, 1]] - 2.0).abs() < 1e-4);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`apply_with`](Self::apply_with).
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        self.apply_with(x, BatchNormArgs::default())
    }

    /// [`forward_with`](Self::forward_with) from a shared reference: only
    /// when this call uses the running statistics (`args.use_running_average`,
    /// else the layer's flag), since training mode updates them.
    ///
    /// ```
    /// use nnx_layers::{BatchNorm, BatchNormArgs};
    /// use nnx_tensor::Tensor;
    /// let bn = BatchNorm::new(2, &mut nnx_core::rngs::Rngs::new(0))?; // training mode
    /// let x = Tensor::from(ndarray::array![[1.0f32, 2.0]]);
    /// let eval = BatchNormArgs { use_running_average: Some(true), ..Default::default() };
    /// assert!((bn.apply_with(&x, eval)?.to_array()[[0, 1]] - 2.0).abs() < 1e-4);
    /// let err = bn.apply_with(&x, BatchNormArgs::default()).unwrap_err();
    /// assert!(err.to_string().contains("use_running_average"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`forward_with`](Self::forward_with), and training mode.
    pub fn apply_with(&self, x: &Tensor, args: BatchNormArgs<'_>) -> Result<Tensor> {
        if !args.use_running_average.unwrap_or(self.use_running_average) {
            return Err(Error::invalid_argument(
                "BatchNorm::apply",
                "use_running_average == true (call eval() or use forward)",
                "use_running_average == false: forward would update the batch statistics",
            ));
        }
        self.with_running_stats(x, args.mask)
    }

    /// `x` normalized with the running statistics (the mask is only checked:
    /// Flax does not read it in evaluation mode).
    fn with_running_stats(&self, x: &Tensor, mask: Option<&ArrayD<bool>>) -> Result<Tensor> {
        let reduction = self.reduction_axes(x)?;
        self.norm().check_mask(mask, x)?;
        self.norm()
            .normalize(x, (&self.mean, &self.var), &reduction, &[self.axis])
            .recorded(self, x)
    }

    /// Checks the Variables and `x`'s feature axis; every axis but `axis`.
    fn reduction_axes(&self, x: &Tensor) -> Result<Vec<isize>> {
        let n = self.num_features;
        check_shape("mean", self.mean.shape(), &[n])?;
        check_shape("var", self.var.shape(), &[n])?;
        self.norm().check()?;
        let ax = canon_axis("BatchNorm axis", self.axis, x.ndim())?;
        if x.shape()[ax] != n {
            let mut want: Vec<String> = x.shape().iter().map(|d| d.to_string()).collect();
            want[ax] = n.to_string();
            return Err(shape_err(
                "x",
                format!("({}) with {n} features on axis {ax}", want.join(", ")),
                x.shape(),
            ));
        }
        Ok((0..x.ndim())
            .filter(|&a| a != ax)
            .map(|a| a as isize)
            .collect())
    }
}

norm_of!(BatchNorm, "BatchNorm");

/// The call-time arguments of [`BatchNorm::forward_with`] /
/// [`BatchNorm::apply_with`] (Flax's `__call__(x, use_running_average=None, *,
/// mask=None)`), all `None` by default: the layer's flag, no mask.
///
/// ```
/// let args = nnx_layers::BatchNormArgs { use_running_average: Some(true), ..Default::default() };
/// assert!(args.mask.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BatchNormArgs<'a> {
    /// Overrides the layer's `use_running_average` for this call.
    pub use_running_average: Option<bool>,
    /// `true` where an element counts in the batch statistics (broadcastable
    /// to the input; training mode only).
    pub mask: Option<&'a ArrayD<bool>>,
}

/// The running statistics' decay: a weight in `[0, 1]` (NaN is not one).
fn check_momentum(momentum: f64) -> Result<()> {
    check_config(
        (0.0..=1.0).contains(&momentum),
        "BatchNorm momentum",
        "a value in [0, 1]",
        momentum,
    )
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
        let x = Tensor::from(ndarray::array![[1.0f32, 2.0], [3.0, 6.0]]);
        bn.forward(&x)?;
        assert_eq!(bn.mean.to_array(), ndarray::array![1.0f32, 2.0].into_dyn());
        assert_eq!(bn.var.to_array(), ndarray::array![1.0f32, 2.5].into_dyn());
        bn.eval()?;
        bn.forward(&x)?;
        assert_eq!(bn.mean.to_array(), ndarray::array![1.0f32, 2.0].into_dyn());
        let (g, s) = bn.split(..)?;
        let bn2: BatchNorm = g.merge(s)?;
        assert!(bn2.use_running_average);
        Ok(())
    }
}
