//! `LinearGeneral`: a dense layer over several axes (Flax's `nnx.LinearGeneral`).

use nnx_core::rngs::Rngs;
use nnx_core::{Error, Param, Result};
use nnx_tensor::{EinsumEquation, Element, Tensor};

use crate::forward::Recorded;
use crate::functional::{canon_axis, shape_err};
use crate::param::{flat_tensor_param, KernelBias};
use crate::support::{
    check_alloc, check_config, check_opt_tensor, check_shape, init_setters, setters,
};

/// A dense layer contracting the input axes `axis` (of sizes `in_features`)
/// with a kernel of shape `(*batch sizes, *in_features, *out_features)`; the
/// output is `(*batch axes, *other input axes, *out_features)`. `batch_axis`
/// maps leading input axes `0..n` to their sizes: each batch entry gets its own
/// kernel (Flax's `nnx.LinearGeneral`).
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::LinearGeneral;
/// use nnx_tensor::Tensor;
/// let mut layer = LinearGeneral::config(&[2, 3], &[4, 5]).axis(&[1, -1]).build(&mut Rngs::new(0))?;
/// assert_eq!(layer.kernel.shape(), &[2, 3, 4, 5]);
/// let y = layer.forward(&Tensor::ones(&[7, 2, 3]))?;
/// assert_eq!(y.shape(), &[7, 4, 5]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct LinearGeneral<E: Element = f32> {
    /// `(*batch sizes, *in_features, *out_features)`.
    pub kernel: Param<Tensor<E>>,
    /// `(*batch sizes, *out_features)`, or `None` when `use_bias` is false.
    pub bias: Option<Param<Tensor<E>>>,
    /// Sizes of the contracted input axes.
    #[nnx(static)]
    pub in_features: Vec<usize>,
    /// Output feature sizes, appended to the output's axes.
    #[nnx(static)]
    pub out_features: Vec<usize>,
    /// The contracted input axes (negative counts from the end).
    #[nnx(static)]
    pub axis: Vec<isize>,
    /// `(axis, size)` of each batch axis; axes are `0..n`.
    #[nnx(static)]
    pub batch_axis: Vec<(usize, usize)>,
    /// Whether the layer adds a bias.
    pub use_bias: bool,
}

/// Options of [`LinearGeneral`], with Flax's defaults; from [`LinearGeneral::config`].
///
/// ```
/// use nnx_core::rngs::Rngs;
/// let layer = nnx_layers::LinearGeneral::config(&[3], &[2])
///     .batch_axis(&[(0, 4)])
///     .build(&mut Rngs::new(0))?;
/// assert_eq!(layer.kernel.shape(), &[4, 3, 2]);
/// assert_eq!(layer.bias.as_ref().map(|b| b.shape().to_vec()), Some(vec![4, 2]));
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LinearGeneralConfig<E: Element = f32> {
    in_features: Vec<usize>,
    out_features: Vec<usize>,
    axis: Vec<isize>,
    batch_axis: Vec<(usize, usize)>,
    base: KernelBias<E>,
}

setters!(LinearGeneralConfig<E>.base = "nnx_layers::LinearGeneral::config(&[3], &[4])" { use_bias: bool });

init_setters!(LinearGeneralConfig<E>.base = "nnx_layers::LinearGeneral::config(&[3], &[4])" {
    kernel_init ("lecun_normal()") => "layer.kernel",
    bias_init ("zeros()") => "layer.bias.unwrap()",
});

impl<E: Element> LinearGeneralConfig<E> {
    /// The options of a layer of element type `E` (`f64`: Flax's
    /// `param_dtype=dtype=jnp.float64`), starting from Flax's defaults;
    /// `LinearGeneral::config` is this for `f32`.
    ///
    /// ```
    /// let cfg = nnx_layers::LinearGeneralConfig::<f64>::new(&[3], &[4]);
    /// assert!(format!("{cfg:?}").starts_with("LinearGeneralConfig"));
    /// ```
    pub fn new(in_features: &[usize], out_features: &[usize]) -> LinearGeneralConfig<E> {
        LinearGeneralConfig {
            in_features: in_features.to_vec(),
            out_features: out_features.to_vec(),
            axis: vec![-1],
            batch_axis: Vec::new(),
            base: KernelBias::default(),
        }
    }

    /// The contracted input axes, one per `in_features` entry (default `[-1]`).
    ///
    /// ```
    /// let l = nnx_layers::LinearGeneral::config(&[2, 3], &[4]).axis(&[-2, -1]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(l.kernel.shape(), &[2, 3, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn axis(mut self, axis: &[isize]) -> Self {
        self.axis = axis.to_vec();
        self
    }

    /// `(axis, size)` pairs of batch axes, which must be `0..n` (default none).
    ///
    /// ```
    /// let l = nnx_layers::LinearGeneral::config(&[3], &[4]).batch_axis(&[(0, 2)]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(l.batch_axis, vec![(0, 2)]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn batch_axis(mut self, batch_axis: &[(usize, usize)]) -> Self {
        let mut b = batch_axis.to_vec();
        b.sort_unstable();
        self.batch_axis = b;
        self
    }

    /// Creates the layer (kernel key, then bias key, from the `params` stream).
    ///
    /// # Errors
    /// When `axis` and `in_features` differ in length, batch axes are not `0..n`,
    /// a size is 0, or the kernel would not fit in memory.
    ///
    /// ```
    /// let l = nnx_layers::LinearGeneral::config(&[3], &[2, 4]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(l.kernel.shape(), &[3, 2, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<LinearGeneral<E>> {
        if self.axis.len() != self.in_features.len() {
            return Err(Error::invalid_argument(
                "LinearGeneral axis",
                format!("{} axes, one per in_features entry", self.in_features.len()),
                format!("{:?}", self.axis),
            ));
        }
        let nb = self.batch_axis.len();
        check_batch_axis(&self.batch_axis)?;
        check_config(
            !self.in_features.is_empty()
                && !self.in_features.contains(&0)
                && !self.out_features.contains(&0)
                && !self.batch_axis.iter().any(|&(_, n)| n == 0),
            "LinearGeneral in_features / out_features / batch_axis",
            "at least one input feature axis, and positive sizes",
            format!(
                "{:?} / {:?} / {:?}",
                self.in_features, self.out_features, self.batch_axis
            ),
        )?;
        let (kernel_shape, bias_shape) =
            param_shapes(&self.batch_axis, &self.in_features, &self.out_features);
        check_alloc(
            "LinearGeneral kernel",
            &kernel_shape,
            std::mem::size_of::<E>(),
        )?;
        // The sizes fit `isize` (just checked), so these products do not overflow.
        let prod = |v: &[usize]| v.iter().product::<usize>();
        let batch = &kernel_shape[..nb];
        let flat = [
            prod(batch) * prod(&self.in_features),
            prod(&self.out_features),
        ];
        let kernel = flat_tensor_param(
            &self.base.kernel_init,
            rngs.next_key("params")?,
            &flat,
            &kernel_shape,
        )?;
        let bias = match self.base.bias() {
            Some(init) => Some(flat_tensor_param(
                init,
                rngs.next_key("params")?,
                &[prod(&bias_shape)],
                &bias_shape,
            )?),
            None => None,
        };
        Ok(LinearGeneral {
            kernel,
            bias,
            in_features: self.in_features,
            out_features: self.out_features,
            axis: self.axis,
            batch_axis: self.batch_axis,
            use_bias: self.base.use_bias,
        })
    }
}

/// Batch axes are the leading axes `0..n`, in order.
fn check_batch_axis(batch_axis: &[(usize, usize)]) -> Result<()> {
    check_config(
        batch_axis.iter().enumerate().all(|(i, &(a, _))| a == i),
        "LinearGeneral batch_axis",
        "consecutive leading axes starting from 0",
        format!("{batch_axis:?}"),
    )
}

/// The kernel's shape `(*batch sizes, *in_features, *out_features)` and the
/// bias' `(*batch sizes, *out_features)`.
fn param_shapes(
    batch_axis: &[(usize, usize)],
    in_features: &[usize],
    out_features: &[usize],
) -> (Vec<usize>, Vec<usize>) {
    let batch = batch_axis.iter().map(|&(_, s)| s);
    let kernel = batch
        .clone()
        .chain(in_features.iter().copied())
        .chain(out_features.iter().copied())
        .collect();
    let bias = batch.chain(out_features.iter().copied()).collect();
    (kernel, bias)
}

impl LinearGeneral {
    /// A layer contracting the last axis of size `in_features` (Flax's defaults).
    ///
    /// ```
    /// let l = nnx_layers::LinearGeneral::new(3, &[2, 4], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(l.out_features, vec![2, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(in_features: usize, out_features: &[usize], rngs: &mut Rngs) -> Result<Self> {
        LinearGeneral::config(&[in_features], out_features).build(rngs)
    }

    /// The options, starting from Flax's defaults (`axis = [-1]`, no batch axes).
    ///
    /// ```
    /// let l = nnx_layers::LinearGeneral::config(&[3], &[4]).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(l.in_features, vec![3]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(in_features: &[usize], out_features: &[usize]) -> LinearGeneralConfig {
        LinearGeneralConfig::new(in_features, out_features)
    }
}

impl<E: Element> LinearGeneral<E> {
    /// Applies the layer (Flax's `__call__`); LinearGeneral has no state to
    /// update, so this is [`apply`](Self::apply).
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let mut l = nnx_layers::LinearGeneral::new(3, &[2, 4], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(l.forward(&Tensor::ones(&[5, 3]))?.shape(), &[5, 2, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`apply`](Self::apply).
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply(x)
    }

    /// The forward pass from a shared reference: one einsum (a GEMM per batch
    /// entry, a single GEMM without batch axes) plus the bias; differentiable
    /// in `x`, the kernel and the bias.
    ///
    /// # Errors
    /// When an axis is out of range, repeated or a batch axis, when `x`'s
    /// sizes on `axis` / batch axes differ from the layer's, or when `kernel` or
    /// `bias` no longer has the shape the layer's sizes imply.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let l = nnx_layers::LinearGeneral::new(3, &[2, 4], &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(l.apply(&Tensor::ones(&[5, 3]))?.shape(), &[5, 2, 4]);
    /// assert!(l.apply(&Tensor::ones(&[5, 2])).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let (kernel_shape, bias_shape) =
            param_shapes(&self.batch_axis, &self.in_features, &self.out_features);
        check_shape("kernel", self.kernel.shape(), &kernel_shape)?;
        check_opt_tensor("bias", &self.bias, &bias_shape)?;
        check_batch_axis(&self.batch_axis)?;
        let n = x.ndim();
        let nb = self.batch_axis.len();
        let mut contract = Vec::with_capacity(self.axis.len());
        for &a in &self.axis {
            let c = canon_axis("LinearGeneral axis", a, n)?;
            if c < nb || contract.contains(&c) {
                return Err(Error::invalid_argument(
                    "LinearGeneral axis",
                    "distinct axes that are not batch axes",
                    format!("{:?} for input of rank {n}", self.axis),
                ));
            }
            contract.push(c);
        }
        let mut want: Vec<String> = vec!["_".into(); n];
        for (i, &(_, s)) in self.batch_axis.iter().enumerate() {
            if let Some(w) = want.get_mut(i) {
                *w = s.to_string();
            }
        }
        for (&c, &f) in contract.iter().zip(&self.in_features) {
            want[c] = f.to_string();
        }
        let batch_ok = nb <= n && self.batch_axis.iter().all(|&(a, s)| x.shape()[a] == s);
        let in_ok = contract
            .iter()
            .zip(&self.in_features)
            .all(|(&c, &f)| x.shape()[c] == f);
        if !batch_ok || !in_ok {
            return Err(shape_err("x", format!("({})", want.join(", ")), x.shape()));
        }
        // One label per input axis, then one per output feature.
        let labels: Vec<char> = ('a'..='z').chain('A'..='Z').collect();
        let no = self.out_features.len();
        if n + no > labels.len() {
            return Err(Error::invalid_argument(
                "LinearGeneral",
                format!("at most {} input axes and output features", labels.len()),
                format!("{n} input axes and {no} output features"),
            ));
        }
        let free: Vec<usize> = (nb..n).filter(|a| !contract.contains(a)).collect();
        let term =
            |axes: &mut dyn Iterator<Item = usize>| -> String { axes.map(|i| labels[i]).collect() };
        let out_term = term(&mut (0..nb).chain(free.iter().copied()).chain(n..n + no));
        let eq = format!(
            "{},{}->{out_term}",
            term(&mut (0..n)),
            term(&mut (0..nb).chain(contract.iter().copied()).chain(n..n + no)),
        );
        let y = EinsumEquation::parse(&eq)?.apply(x, &self.kernel)?;
        let y = match &self.bias {
            // The bias broadcasts over the free axes.
            Some(bias) => {
                let shape: Vec<usize> = x.shape()[..nb]
                    .iter()
                    .copied()
                    .chain(free.iter().map(|_| 1))
                    .chain(self.out_features.iter().copied())
                    .collect();
                y + bias.reshape(&shape)?
            }
            None => Ok(y),
        };
        y.recorded(self, x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_configuration_and_shapes() -> Result<()> {
        let mut rngs = Rngs::new(0);
        assert!(LinearGeneral::config(&[2, 3], &[4])
            .build(&mut rngs)
            .is_err());
        assert!(LinearGeneral::config(&[2], &[4])
            .batch_axis(&[(1, 3)])
            .build(&mut rngs)
            .is_err());
        let layer = LinearGeneral::config(&[2, 3], &[4])
            .axis(&[1, 2])
            .build(&mut rngs)?;
        let err = layer.apply(&Tensor::ones(&[5, 3, 2])).err();
        assert_eq!(
            err.map(|e| e.to_string()).as_deref(),
            Some("shape mismatch at x: expected (_, 2, 3), found (5, 3, 2)")
        );
        assert!(layer.apply(&Tensor::ones(&[5, 2, 3]))?.shape() == [5, 4]);
        Ok(())
    }
}
