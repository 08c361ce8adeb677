//! `Einsum`: a layer whose kernel is contracted with the input by a two-operand
//! einsum equation (Flax's `nnx.Einsum`).

use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};
use nnx_tensor::{EinsumEquation, Element, Tensor};

use crate::forward::Recorded;
use crate::functional::fmt_tuple_usize;
use crate::param::{tensor_param, KernelBias};
use crate::support::{check_shape, init_setters};

/// `y = einsum(einsum_str, x, kernel) + bias` (Flax's `nnx.Einsum`). The
/// equation must be explicit (one `->`) with exactly two operands, the input
/// then the kernel, each term made of letters, no label twice in a term; `...`
/// (once per term) is allowed. The bias, if any, is reshaped to broadcast over
/// the output axes that come from the kernel.
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::Einsum;
/// use nnx_tensor::Tensor;
/// let mut layer = Einsum::config("nta,hab->nthb", &[8, 2, 4])
///     .bias_shape(&[8, 4])
///     .build(&mut Rngs::new(0))?;
/// let y = layer.forward(&Tensor::ones(&[16, 11, 2]))?;
/// assert_eq!(y.shape(), &[16, 11, 8, 4]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct Einsum<E: Element = f32> {
    /// The kernel, of shape `kernel_shape`.
    pub kernel: Param<Tensor<E>>,
    /// The bias, of shape `bias_shape`, if one was asked for.
    pub bias: Option<Param<Tensor<E>>>,
    /// The equation, spaces removed.
    pub einsum_str: String,
    /// The kernel's shape.
    #[nnx(static)]
    pub kernel_shape: Vec<usize>,
    /// The bias' shape (`None`: no bias).
    #[nnx(static)]
    pub bias_shape: Option<Vec<usize>>,
}

/// Options of [`Einsum`], with Flax's defaults; from [`Einsum::config`].
///
/// ```
/// use nnx_core::rngs::Rngs;
/// let layer = nnx_layers::Einsum::config("ab,bc->ac", &[3, 4]).build(&mut Rngs::new(0))?;
/// assert!(layer.bias.is_none());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EinsumConfig<E: Element = f32> {
    einsum_str: String,
    kernel_shape: Vec<usize>,
    bias_shape: Option<Vec<usize>>,
    base: KernelBias<E>,
}

init_setters!(EinsumConfig<E>.base = "nnx_layers::Einsum::config(\"ab,bc->ac\", &[2, 3]).bias_shape(&[3])" {
    kernel_init ("lecun_normal()") => "layer.kernel",
    bias_init ("zeros()") => "layer.bias.unwrap()",
});

impl<E: Element> EinsumConfig<E> {
    /// The options of a layer of element type `E` (`f64`: Flax's
    /// `param_dtype=dtype=jnp.float64`), starting from Flax's defaults;
    /// `Einsum::config` is this for `f32`.
    ///
    /// ```
    /// let cfg = nnx_layers::EinsumConfig::<f64>::new("ab,bc->ac", &[2, 3]);
    /// assert!(format!("{cfg:?}").starts_with("EinsumConfig"));
    /// ```
    pub fn new(einsum_str: &str, kernel_shape: &[usize]) -> EinsumConfig<E> {
        EinsumConfig {
            einsum_str: einsum_str.to_string(),
            kernel_shape: kernel_shape.to_vec(),
            bias_shape: None,
            // A bias exists once `bias_shape` is set.
            base: KernelBias {
                use_bias: false,
                ..KernelBias::default()
            },
        }
    }

    /// Adds a bias of this shape (default: no bias).
    ///
    /// ```
    /// let e = nnx_layers::Einsum::config("ab,bc->ac", &[2, 3]).bias_shape(&[3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.bias.unwrap().shape(), &[3]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_shape(mut self, shape: &[usize]) -> Self {
        self.bias_shape = Some(shape.to_vec());
        self.base.use_bias = true;
        self
    }

    /// Creates the layer (kernel key, then bias key, from the `params` stream).
    ///
    /// # Errors
    /// When the equation is malformed (see [`Einsum`]), `kernel_shape` does not
    /// fit the kernel's term, or a parameter would not fit in memory.
    ///
    /// ```
    /// let e = nnx_layers::Einsum::config("ab,bc->ac", &[2, 3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(e.bias.is_none()); // no bias_shape, no bias
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<Einsum<E>> {
        let eq = EinsumEquation::parse(&self.einsum_str)?;
        let (named, ellipsis) = eq.rhs_rank();
        let rank = self.kernel_shape.len();
        if rank < named || (!ellipsis && rank != named) {
            let rhs = eq
                .as_str()
                .split_once("->")
                .and_then(|(ins, _)| ins.split_once(','))
                .map_or("", |(_, r)| r);
            return Err(Error::invalid_argument(
                "Einsum kernel_shape",
                format!("one size per axis of the kernel's term {rhs:?}"),
                fmt_tuple_usize(&self.kernel_shape),
            ));
        }
        let kernel = tensor_param(
            &self.base.kernel_init,
            rngs.next_key("params")?,
            &self.kernel_shape,
        )?;
        let bias = match (&self.bias_shape, self.base.bias()) {
            (Some(s), Some(init)) => Some(tensor_param(init, rngs.next_key("params")?, s)?),
            _ => None,
        };
        Ok(Einsum {
            kernel,
            bias,
            einsum_str: eq.as_str().to_string(),
            kernel_shape: self.kernel_shape,
            bias_shape: self.bias_shape,
        })
    }
}

impl Einsum {
    /// A layer without bias: `Einsum::config(einsum_str, kernel_shape).build(rngs)`.
    ///
    /// ```
    /// let e = nnx_layers::Einsum::new("ab,bc->ac", &[2, 3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.kernel.shape(), &[2, 3]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(einsum_str: &str, kernel_shape: &[usize], rngs: &mut Rngs) -> Result<Einsum> {
        Einsum::config(einsum_str, kernel_shape).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let e = nnx_layers::Einsum::config("ab,bc->ac", &[2, 3]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.einsum_str, "ab,bc->ac");
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(einsum_str: &str, kernel_shape: &[usize]) -> EinsumConfig {
        EinsumConfig::new(einsum_str, kernel_shape)
    }
}

impl<E: Element> Einsum<E> {
    /// Applies the layer with its own equation (Flax's `__call__(x)`); Einsum
    /// has no state to update, so this is [`apply`](Self::apply).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// use nnx_tensor::Tensor;
    /// let mut e = nnx_layers::Einsum::config("ab,bc->ac", &[2, 3]).kernel_init(init::ones()).build(&mut Rngs::new(0))?;
    /// let y = e.forward(&Tensor::from(ndarray::array![[1.0f32, 2.0]]))?;
    /// assert_eq!(y, Tensor::from(ndarray::array![[3.0f32, 3.0, 3.0]]));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// When `x` does not fit the equation.
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply(x)
    }

    /// The forward pass from a shared reference, with the layer's equation;
    /// differentiable in `x`, the kernel and the bias.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let e = nnx_layers::Einsum::new("ab,bc->ac", &[2, 3], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(e.apply(&Tensor::ones(&[4, 2]))?.shape(), &[4, 3]);
    /// assert!(e.apply(&Tensor::ones(&[4, 3])).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// When `x` does not fit the equation.
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply_with(x, &self.einsum_str)
    }

    /// Applies the layer with another equation (Flax's `__call__(x, einsum_str)`).
    ///
    /// ```
    /// use nnx_core::rngs::Rngs;
    /// use nnx_tensor::Tensor;
    /// let mut layer = nnx_layers::Einsum::new("ab,bc->ac", &[3, 4], &mut Rngs::new(0))?;
    /// let y = layer.forward_with(&Tensor::ones(&[2, 3]), "ab,bc->ca")?;
    /// assert_eq!(y.shape(), &[4, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// When the equation is malformed or `x` does not fit it.
    pub fn forward_with(&mut self, x: &Tensor<E>, einsum_str: &str) -> Result<Tensor<E>> {
        self.apply_with(x, einsum_str)
    }

    /// [`forward_with`](Self::forward_with) from a shared reference.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let layer = nnx_layers::Einsum::new("ab,bc->ac", &[3, 4], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(layer.apply_with(&Tensor::ones(&[2, 3]), "ab,bc->c")?.shape(), &[4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// When the equation is malformed or `x` does not fit it.
    pub fn apply_with(&self, x: &Tensor<E>, einsum_str: &str) -> Result<Tensor<E>> {
        check_shape("kernel", self.kernel.shape(), &self.kernel_shape)?;
        if let (Some(b), Some(shape)) = (&self.bias, &self.bias_shape) {
            check_shape("bias", b.shape(), shape)?;
        }
        let eq = EinsumEquation::parse(einsum_str)?;
        let y = eq.apply(x, &self.kernel)?;
        let Some(b) = &self.bias else {
            return Ok(y).recorded(self, x);
        };
        // Output axes from the kernel take its sizes; the others broadcast.
        let shape: Vec<usize> = eq
            .rhs_axes_of_output(x.ndim(), self.kernel.ndim())?
            .iter()
            .map(|axis| axis.map_or(1, |i| self.kernel.shape()[i]))
            .collect();
        let found = y.shape().to_vec();
        let bias = b.reshape(&shape).map_err(|_| {
            crate::functional::shape_err(
                "bias",
                format!("{} elements", shape.iter().product::<usize>()),
                b.shape(),
            )
        })?;
        (y + bias)
            .map_err(|_| crate::functional::shape_err("bias", fmt_tuple_usize(&found), &shape))
            .recorded(self, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ArrayD};

    fn layer(eq: &str, k: ArrayD<f32>) -> Result<Einsum> {
        let mut l = Einsum::new(eq, k.shape(), &mut Rngs::new(0))?;
        *l.kernel = Tensor::new(k);
        Ok(l)
    }

    #[test]
    fn matches_plain_products() -> Result<()> {
        let x = Tensor::from(array![[1.0f32, 2.0], [3.0, 4.0]]);
        let k = array![[1.0f32, 0.0, 2.0], [0.0, 1.0, 1.0]].into_dyn();
        let l = layer("ab,bc->ac", k)?;
        assert_eq!(
            l.apply(&x)?.to_array(),
            array![[1.0f32, 2.0, 4.0], [3.0, 4.0, 10.0]].into_dyn()
        );
        assert_eq!(
            l.apply_with(&x, "ab,bc->ca")?.to_array(),
            array![[1.0f32, 3.0], [2.0, 4.0], [4.0, 10.0]].into_dyn()
        );
        // Summed-out lhs axis, ellipsis.
        assert_eq!(
            l.apply_with(&x, "ab,bc->c")?.to_array(),
            array![4.0f32, 6.0, 14.0].into_dyn()
        );
        assert_eq!(l.apply_with(&x, "...b,bc->...c")?.shape(), &[2, 3]);
        Ok(())
    }

    #[test]
    fn rejects_bad_equations() -> Result<()> {
        assert!(Einsum::new("ab,bc", &[2, 2], &mut Rngs::new(0)).is_err());
        assert!(Einsum::new("ab,bc,cd->ad", &[2, 2], &mut Rngs::new(0)).is_err());
        let l = Einsum::new("ab,bc->ac", &[2, 2], &mut Rngs::new(0))?;
        let x = Tensor::ones(&[2, 3]);
        assert!(l.apply(&x).is_err());
        assert!(l.apply_with(&x, "aa,bc->ac").is_err());
        assert!(l.apply_with(&Tensor::ones(&[2, 2]), "ab,bc->ad").is_err());
        Ok(())
    }
}
