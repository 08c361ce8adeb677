//! `Linear`: a dense layer on the last axis (Flax's `nnx.Linear`).

use nnx_core::rngs::Rngs;
use nnx_core::{Param, Result};
use nnx_tensor::{Element, Tensor};

use crate::forward::Recorded;
use crate::param::{opt_tensor_param, tensor_param, KernelBias};
use crate::support::{check_config, check_opt_tensor, check_shape, init_setters, setters};

/// `y = x @ kernel + bias` on the last axis of `x`, with any number of leading
/// batch axes (Flax's `nnx.Linear`). The kernel is `(in_features, out_features)`,
/// the bias `(out_features,)`.
///
/// ```
/// use nnx_core::{rngs::Rngs, Module};
/// use nnx_layers::Linear;
/// use nnx_tensor::{Element, Tensor};
/// let mut layer = Linear::new(2, 3, &mut Rngs::new(0))?;
/// let y = layer.forward(&Tensor::ones(&[4, 2]))?;
/// assert_eq!(y.shape(), &[4, 3]);
/// assert_eq!(layer.state().len(), 2);
/// # Ok::<(), nnx_core::Error>(())
/// ```
///
/// `Linear<f64>` is Flax's `param_dtype=jnp.float64, dtype=jnp.float64` (with
/// `jax_enable_x64`): the same draws in double precision, built by
/// [`LinearConfig::<f64>::new`](LinearConfig::new). An `f32` input to it does
/// not compile.
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::{Linear, LinearConfig};
/// use nnx_tensor::Tensor;
/// let mut layer: Linear<f64> = LinearConfig::new(2, 3).build(&mut Rngs::new(0))?;
/// let y = layer.forward(&Tensor::<f64>::full(&[4, 2], 1.0))?;
/// assert_eq!(y.to_string().ends_with("dtype=float64)"), true);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct Linear<E: Element = f32> {
    /// `(in_features, out_features)`.
    pub kernel: Param<Tensor<E>>,
    /// `(out_features,)`, or `None` when `use_bias` is false.
    pub bias: Option<Param<Tensor<E>>>,
    /// Size of the last input axis.
    pub in_features: usize,
    /// Size of the last output axis.
    pub out_features: usize,
    /// Whether the layer adds a bias.
    pub use_bias: bool,
}

/// Options of [`Linear`], with Flax's defaults; from [`Linear::config`].
///
/// ```
/// use nnx_core::{init, rngs::Rngs};
/// let layer = nnx_layers::Linear::config(3, 2)
///     .use_bias(false)
///     .kernel_init(init::zeros())
///     .build(&mut Rngs::new(0))?;
/// assert!(layer.bias.is_none());
/// assert_eq!(layer.kernel.sum().item()?, 0.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinearConfig<E: Element = f32> {
    in_features: usize,
    out_features: usize,
    base: KernelBias<E>,
}

setters!(LinearConfig<E>.base = "nnx_layers::Linear::config(2, 3)" { use_bias: bool });

init_setters!(LinearConfig<E>.base = "nnx_layers::Linear::config(2, 3)" {
    kernel_init ("lecun_normal()") => "layer.kernel",
    bias_init ("zeros()") => "layer.bias.unwrap()",
});

impl<E: Element> LinearConfig<E> {
    /// The options of a layer of element type `E`, starting from Flax's
    /// defaults (initializers drawing in `E`); `Linear::config` is this for `f32`.
    ///
    /// ```
    /// let layer = nnx_layers::LinearConfig::<f64>::new(2, 3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(layer.kernel.to_string().contains("dtype=float64"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(in_features: usize, out_features: usize) -> LinearConfig<E> {
        LinearConfig {
            in_features,
            out_features,
            base: KernelBias::default(),
        }
    }

    /// Creates the layer, drawing the kernel's then the bias' key from the
    /// `params` stream (falling back to `default`), as Flax does.
    ///
    /// # Errors
    /// When a feature count is 0, or the kernel would not fit in memory.
    ///
    /// ```
    /// let layer = nnx_layers::Linear::config(2, 3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(layer.kernel.shape(), &[2, 3]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<Linear<E>> {
        let (fin, fout) = (self.in_features, self.out_features);
        // Flax fails here too (its default initializer divides by the fan).
        check_config(
            fin > 0 && fout > 0,
            "Linear in_features / out_features",
            "positive feature counts",
            format!("{fin} / {fout}"),
        )?;
        let kernel = tensor_param(
            &self.base.kernel_init,
            rngs.next_key("params")?,
            &[fin, fout],
        )?;
        let bias = opt_tensor_param(rngs, self.base.bias(), &[fout])?;
        Ok(Linear {
            kernel,
            bias,
            in_features: fin,
            out_features: fout,
            use_bias: self.base.use_bias,
        })
    }
}

impl Linear {
    /// A layer with Flax's defaults: `Linear::config(in, out).build(rngs)`.
    ///
    /// ```
    /// let layer = nnx_layers::Linear::new(2, 3, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!((layer.in_features, layer.out_features, layer.use_bias), (2, 3, true));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(in_features: usize, out_features: usize, rngs: &mut Rngs) -> Result<Linear> {
        Linear::config(in_features, out_features).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let layer = nnx_layers::Linear::config(2, 3).use_bias(false).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(!layer.use_bias);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(in_features: usize, out_features: usize) -> LinearConfig {
        LinearConfig::new(in_features, out_features)
    }
}

impl<E: Element> Linear<E> {
    /// Applies the layer to `x` of shape `(..., in_features)` (Flax's
    /// `__call__`): one GEMM, then the bias. Linear has no state to update, so
    /// this is [`apply`](Self::apply).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// use nnx_tensor::{Element, Tensor};
    /// let mut layer = nnx_layers::Linear::config(2, 3).kernel_init(init::ones()).build(&mut Rngs::new(0))?;
    /// let y = layer.forward(&Tensor::from(ndarray::array![[1.0f32, 2.0]]))?;
    /// assert_eq!(y, Tensor::from(ndarray::array![[3.0f32, 3.0, 3.0]]));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`apply`](Self::apply).
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply(x)
    }

    /// The forward pass from a shared reference (differentiable in `x`, the
    /// kernel and the bias).
    ///
    /// # Errors
    /// A shape mismatch when the last axis of `x` is not `in_features`, or when
    /// `kernel` or `bias` no longer has the shape the layer's features imply.
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// use nnx_tensor::{Element, Tensor};
    /// let layer = nnx_layers::Linear::config(2, 3).kernel_init(init::ones()).build(&mut Rngs::new(0))?;
    /// assert_eq!(layer.apply(&Tensor::ones(&[5, 2]))?.shape(), &[5, 3]);
    /// assert!(layer.apply(&Tensor::ones(&[1, 1])).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        linear_apply(
            &self.kernel,
            &self.bias,
            [self.in_features, self.out_features],
            x,
        )
        .recorded(self, x)
    }
}

/// `x @ kernel + bias` after checking the shapes `[in, out]` features imply:
/// Linear's computation, shared with [`LoRALinear`](crate::LoRALinear), which
/// holds the same parameters at the same paths.
pub(crate) fn linear_apply<E: Element>(
    kernel: &Param<Tensor<E>>,
    bias: &Option<Param<Tensor<E>>>,
    [fin, fout]: [usize; 2],
    x: &Tensor<E>,
) -> Result<Tensor<E>> {
    check_shape("kernel", kernel.shape(), &[fin, fout])?;
    check_opt_tensor("bias", bias, &[fout])?;
    check_last_axis("x", x.shape(), fin)?;
    let y = x.matmul(kernel)?;
    match bias {
        Some(b) => y + &**b,
        None => Ok(y),
    }
}

/// `x` is `(..., n)`: a shape error naming `what` otherwise.
pub(crate) fn check_last_axis(what: &str, x: &[usize], n: usize) -> Result<()> {
    if x.last() == Some(&n) {
        return Ok(());
    }
    Err(nnx_core::Error::ShapeMismatch {
        path: nnx_core::ErrorPath(what.into()),
        expected: format!("(..., {n})"),
        found: nnx_core::repr::fmt_tuple_usize(x),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use nnx_core::Module;

    fn t(a: ndarray::Array2<f32>) -> Tensor {
        Tensor::from(a)
    }

    #[test]
    fn key_example_of_the_issue() -> Result<()> {
        let layer = Linear::new(2, 3, &mut Rngs::new(0))?;
        let want = array![
            [0.7567299f32, -0.68570054, -0.5688337],
            [-0.8757605, -0.65994275, 0.44935086]
        ];
        assert!(layer
            .kernel
            .array()
            .iter()
            .zip(want.iter())
            .all(|(a, b)| (a - b).abs() < 1e-6));
        assert_eq!(layer.bias.as_ref().map(|b| b.array().sum()), Some(0.0));
        assert_eq!(
            layer.state().map(nnx_core::value::shape).to_string(),
            "State({\n  'bias': Param(\n    value=(3,)\n  ),\n  'kernel': Param(\n    value=(2, 3)\n  )\n})"
        );
        Ok(())
    }

    #[test]
    fn rejects_wrong_input_width() -> Result<()> {
        let layer = Linear::new(2, 3, &mut Rngs::new(0))?;
        let err = layer.apply(&t(array![[1.0f32, 2.0, 3.0]])).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("shape mismatch at x: expected (..., 2), found (1, 3)")
        );
        Ok(())
    }

    #[test]
    fn no_bias_has_only_a_kernel() -> Result<()> {
        let layer = Linear::config(2, 3)
            .use_bias(false)
            .build(&mut Rngs::new(0))?;
        assert_eq!(layer.state().len(), 1);
        Ok(())
    }
}
