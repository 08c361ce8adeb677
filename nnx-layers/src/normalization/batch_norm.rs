//! `BatchNorm` (Flax's `nnx.BatchNorm`).

use ndarray::{Array1, ArrayBase, ArrayD, Data, Dimension};
use nnx_core::rngs::Rngs;
use nnx_core::{BatchStat, Param, Result, VariableType};

use nnx_tensor::Tensor;

use super::{check_affine, opt_tensor, to_tensor, NormBase};
use crate::functional::{canon_axis, fmt_tuple_usize, shape_err};
use crate::support::{check_alloc, check_config, check_shape, dyn_value, init_setters, setters};

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
#[derive(nnx_core::Module, Debug)]
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
    scale_init ("ones()") => "layer.scale.unwrap()",
    bias_init ("zeros()") => "layer.bias.unwrap()",
});

impl BatchNormConfig {
    /// Builds the layer, drawing keys from `rngs`' `params` stream.
    ///
    /// ```
    /// let bn = nnx_layers::BatchNorm::config(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!((bn.mean.sum(), bn.var.sum()), (0.0, 3.0));
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
            mean: BatchStat::new(Array1::zeros(n)),
            var: BatchStat::new(Array1::ones(n)),
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
    ///
    /// # Errors
    /// When `x` has no axis `axis` of size `num_features`, when a Variable no
    /// longer has `num_features` entries, or, in training mode, when the batch
    /// is empty (its statistics would be NaN); the layer is then unchanged.
    pub fn forward<S: Data<Elem = f32>, D: Dimension>(
        &mut self,
        x: &ArrayBase<S, D>,
    ) -> Result<ArrayD<f32>> {
        let n = self.num_features;
        check_shape("mean", self.mean.shape(), &[n])?;
        check_shape("var", self.var.shape(), &[n])?;
        check_affine("BatchNorm", &self.scale, &self.bias, n, self.epsilon)?;
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
        let reduction: Vec<isize> = (0..x.ndim())
            .filter(|&a| a != ax)
            .map(|a| a as isize)
            .collect();
        let x = to_tensor(x);
        if self.use_running_average {
            let (mean, var) = (dyn_value(&self.mean), dyn_value(&self.var));
            return self.normalize(&x, &Tensor::new(mean), &Tensor::new(var), &reduction, ax);
        }
        if x.is_empty() {
            return Err(shape_err(
                "x",
                "a non-empty batch (training mode updates the running statistics)",
                x.shape(),
            ));
        }
        check_momentum(self.momentum)?;
        let (m, v) = x.compute_stats(&reduction, true, self.use_fast_variance)?;
        let y = self.normalize(&x, &m, &v, &reduction, ax)?;
        // Flax computes in f32 with the Python-float factors rounded once.
        let (mom, rest) = (self.momentum as f32, (1.0 - self.momentum) as f32);
        let m1 = m
            .into_array()
            .into_shape_with_order(n)
            .map_err(|_| shape_err("mean", fmt_tuple_usize(&[n]), &[]))?;
        let v1 = v
            .into_array()
            .into_shape_with_order(n)
            .map_err(|_| shape_err("var", fmt_tuple_usize(&[n]), &[]))?;
        let new_mean = self.mean.value() * mom + &(m1 * rest);
        let new_var = self.var.value() * mom + &(v1 * rest);
        // Written only once everything above succeeded: an error leaves the layer as it was.
        *self.mean.value_mut() = new_mean;
        *self.var.value_mut() = new_var;
        Ok(y)
    }

    fn normalize(
        &self,
        x: &Tensor,
        mean: &Tensor,
        var: &Tensor,
        reduction: &[isize],
        ax: usize,
    ) -> Result<ArrayD<f32>> {
        Ok(x.normalize(
            mean,
            var,
            opt_tensor(&self.scale).as_ref(),
            opt_tensor(&self.bias).as_ref(),
            reduction,
            &[ax as isize],
            self.epsilon,
        )?
        .into_array())
    }
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
