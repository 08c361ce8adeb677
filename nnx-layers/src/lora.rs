//! LoRA: low-rank adapters (Flax's `nnx.LoRA`, `nnx.LoRAParam`).

use nnx_core::init::{he_uniform, zeros, Init, ParamInit};
use nnx_core::rngs::Rngs;
use nnx_core::{Metadata, Param, Result, VariableMetadata};
use nnx_tensor::{Element, Tensor};

use crate::forward::Recorded;
use crate::linear::{check_last_axis, linear_apply, Linear, LinearConfig};
use crate::param::checked_init;
use crate::support::{check_config, check_shape};
use crate::{Forward, Layer};

nnx_core::variable_type!(
    /// A LoRA parameter: a subtype of [`Param`](struct@nnx_core::Param), so
    /// `state_of(Param)` includes it and `state_of(LoRAParam)` isolates it (train
    /// only the adapters with `wrt = LoRAParam`), as Flax's `nnx.LoRAParam`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{LoRA, LoRAParam};
    /// let lora = LoRA::new(3, 2, 4, &mut Rngs::new(0))?;
    /// assert_eq!(lora.lora_a.kind(), LoRAParam);
    /// assert!(LoRAParam.is_subtype_of(Param));
    /// assert_eq!((lora.state_of(Param).len(), lora.state_of(LoRAParam).len()), (2, 2));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub LoRAParam: nnx_core::Param
);

/// A low-rank adapter `y = x @ lora_a @ lora_b [+ base_module(x)]` (Flax's
/// `nnx.LoRA`): `lora_a` is `(in_features, lora_rank)`, initialized
/// `he_uniform`, `lora_b` `(lora_rank, out_features)`, initialized to zeros,
/// both [`LoRAParam`](struct@LoRAParam)s. The optional base module (any layer `B`, the library's
/// [`Layer`] by default) sits at `base_module/...`, as in Flax; build one with
/// [`LoRAConfig::build_with_base`].
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::LoRA;
/// use nnx_tensor::Tensor;
/// let mut lora = LoRA::new(3, 2, 4, &mut Rngs::new(0))?;
/// assert_eq!((lora.lora_a.shape(), lora.lora_b.shape()), (&[3, 2][..], &[2, 4][..]));
/// let y = lora.forward(&Tensor::ones(&[16, 3]))?;
/// assert_eq!(y.shape(), &[16, 4]);
/// assert_eq!(y, Tensor::zeros(&[16, 4])); // lora_b starts at zero
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct LoRA<B = Layer, E: Element = f32> {
    /// `(in_features, lora_rank)`.
    pub lora_a: LoRAParam<Tensor<E>>,
    /// `(lora_rank, out_features)`.
    pub lora_b: LoRAParam<Tensor<E>>,
    /// The layer whose output the adapter adds to, if any.
    pub base_module: Option<B>,
    /// Size of the last input axis.
    pub in_features: usize,
    /// Size of the last output axis.
    pub out_features: usize,
}

/// Options of [`LoRA`], with Flax's defaults; from [`LoRA::config`].
///
/// ```
/// use nnx_core::{init, rngs::Rngs, Metadata, VariableType};
/// let mut sharding = Metadata::new();
/// sharding.insert("sharding_names", ("in", "rank"));
/// let lora = nnx_layers::LoRA::config(3, 2, 4)
///     .b_initializer(init::ones())
///     .a_metadata(sharding)
///     .build(&mut Rngs::new(0))?;
/// assert_eq!(lora.lora_b.array().sum(), 8.0);
/// assert!(lora.lora_a.get_metadata_entry("sharding_names").is_ok());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoRAConfig<E: Element = f32> {
    in_features: usize,
    lora_rank: usize,
    out_features: usize,
    a_initializer: ParamInit<E>,
    b_initializer: ParamInit<E>,
    a_metadata: Metadata,
    b_metadata: Metadata,
}

impl<E: Element> LoRAConfig<E> {
    /// The options of an adapter of element type `E`, from Flax's defaults
    /// (initializers drawing in `E`); `LoRA::config` is this for `f32`.
    ///
    /// ```
    /// use nnx_core::rngs::Rngs;
    /// use nnx_layers::{Layer, LinearConfig, LoRA, LoRAConfig};
    /// use nnx_tensor::Tensor;
    /// let mut rngs = Rngs::new(0);
    /// let mut lora: LoRA<Layer<f64>, f64> = LoRAConfig::new(3, 2, 4).build(&mut rngs)?;
    /// assert_eq!(lora.forward(&Tensor::<f64>::full(&[5, 3], 1.0))?.shape(), &[5, 4]);
    /// let base = LinearConfig::<f64>::new(3, 4).build(&mut rngs)?;
    /// let with_base = LoRAConfig::<f64>::new(3, 2, 4).build_with_base(base, &mut rngs)?;
    /// assert!(with_base.lora_a.to_string().contains("float64"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(in_features: usize, lora_rank: usize, out_features: usize) -> Self {
        LoRAConfig {
            in_features,
            lora_rank,
            out_features,
            a_initializer: he_uniform().into(),
            b_initializer: zeros().into(),
            a_metadata: Metadata::new(),
            b_metadata: Metadata::new(),
        }
    }

    /// Sets `a_initializer` (Flax's argument; default `he_uniform()`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let lora = nnx_layers::LoRA::config(3, 2, 4).a_initializer(init::ones()).build(&mut Rngs::new(0))?;
    /// assert_eq!(lora.lora_a.array().sum(), 6.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn a_initializer(mut self, init: Init<E>) -> Self {
        self.a_initializer = init.into();
        self
    }

    /// Sets `b_initializer` (Flax's argument; default `zeros`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let lora = nnx_layers::LoRA::config(3, 2, 4).b_initializer(init::constant(0.5)).build(&mut Rngs::new(0))?;
    /// assert_eq!(lora.lora_b.array().sum(), 4.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn b_initializer(mut self, init: Init<E>) -> Self {
        self.b_initializer = init.into();
        self
    }

    /// Metadata entries of `lora_a` (Flax's `a_metadata`).
    ///
    /// ```
    /// use nnx_core::{rngs::Rngs, Metadata, VariableType};
    /// let mut tag = Metadata::new();
    /// tag.insert("tag", "a");
    /// let lora = nnx_layers::LoRA::config(3, 2, 4).a_metadata(tag).build(&mut Rngs::new(0))?;
    /// assert_eq!(lora.lora_a.get_metadata_entry("tag")?.to_string(), "'a'");
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn a_metadata(mut self, metadata: Metadata) -> Self {
        self.a_metadata = metadata;
        self
    }

    /// Metadata entries of `lora_b` (Flax's `b_metadata`).
    ///
    /// ```
    /// use nnx_core::{rngs::Rngs, Metadata, VariableType};
    /// let mut tag = Metadata::new();
    /// tag.insert("tag", "b");
    /// let lora = nnx_layers::LoRA::config(3, 2, 4).b_metadata(tag).build(&mut Rngs::new(0))?;
    /// assert_eq!(lora.lora_b.get_metadata_entry("tag")?.to_string(), "'b'");
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn b_metadata(mut self, metadata: Metadata) -> Self {
        self.b_metadata = metadata;
        self
    }

    /// Creates the adapter, drawing `lora_a`'s then `lora_b`'s key from the
    /// `params` stream, as Flax does.
    ///
    /// # Errors
    /// When a size is 0 (Flax's `he_uniform` divides by the fan-in), or the
    /// parameters would not fit in memory.
    ///
    /// ```
    /// let lora = nnx_layers::LoRA::config(3, 2, 4).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!((lora.in_features, lora.out_features), (3, 4));
    /// assert!(nnx_layers::LoRA::config(3, 0, 4).build(&mut nnx_core::rngs::Rngs::new(0)).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<LoRA<Layer<E>, E>> {
        self.build_inner(None, rngs)
    }

    /// Creates the adapter over `base_module` (Flax's `base_module=`), whose
    /// output is added to the adapter's. Draws keys as [`build`](LoRAConfig::build).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{LoRA, LoRAParam, Linear};
    /// use nnx_tensor::Tensor;
    /// let mut rngs = Rngs::new(0);
    /// let base = Linear::new(3, 4, &mut rngs)?;
    /// let mut lora = LoRA::config(3, 2, 4).build_with_base(base, &mut rngs)?;
    /// let paths: Vec<String> = lora.state().flat_state().paths().iter().map(|p| nnx_core::path_string(p).to_string()).collect();
    /// assert_eq!(paths, ["base_module/bias", "base_module/kernel", "lora_a", "lora_b"]);
    /// assert_eq!(lora.state_of(LoRAParam).len(), 2);
    /// assert_eq!(lora.forward(&Tensor::ones(&[5, 3]))?.shape(), &[5, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build_with_base<B>(self, base_module: B, rngs: &mut Rngs) -> Result<LoRA<B, E>> {
        self.build_inner(Some(base_module), rngs)
    }

    fn build_inner<B>(self, base_module: Option<B>, rngs: &mut Rngs) -> Result<LoRA<B, E>> {
        let (fin, rank, fout) = (self.in_features, self.lora_rank, self.out_features);
        check_config(
            fin > 0 && rank > 0 && fout > 0,
            "LoRA in_features / lora_rank / out_features",
            "positive sizes",
            format!("{fin} / {rank} / {fout}"),
        )?;
        let lora_a = lora_param(&self.a_initializer, self.a_metadata, rngs, &[fin, rank])?;
        let lora_b = lora_param(&self.b_initializer, self.b_metadata, rngs, &[rank, fout])?;
        Ok(LoRA {
            lora_a,
            lora_b,
            base_module,
            in_features: fin,
            out_features: fout,
        })
    }
}

/// A LoRA parameter from the next `params` key, with Flax's metadata entries.
fn lora_param<E: Element>(
    init: &ParamInit<E>,
    metadata: Metadata,
    rngs: &mut Rngs,
    shape: &[usize],
) -> Result<LoRAParam<Tensor<E>>> {
    let raw = checked_init(init, rngs.next_key("params")?, shape)?.raw_value;
    let mut meta = VariableMetadata::new(Tensor::from_array(raw));
    meta.metadata = metadata;
    Ok(LoRAParam::from_metadata(meta))
}

impl LoRA {
    /// An adapter with Flax's defaults: `LoRA::config(in, rank, out).build(rngs)`.
    ///
    /// ```
    /// let lora = nnx_layers::LoRA::new(3, 2, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(lora.lora_a.shape(), &[3, 2]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(
        in_features: usize,
        lora_rank: usize,
        out_features: usize,
        rngs: &mut Rngs,
    ) -> Result<LoRA> {
        LoRA::config(in_features, lora_rank, out_features).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let lora = nnx_layers::LoRA::config(3, 2, 4).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(lora.lora_b.shape(), &[2, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(in_features: usize, lora_rank: usize, out_features: usize) -> LoRAConfig {
        LoRAConfig::new(in_features, lora_rank, out_features)
    }
}

impl<B: Forward<E>, E: Element> LoRA<B, E> {
    /// `x @ lora_a @ lora_b`, plus `base_module.forward(x)` if there is one,
    /// for `x` of shape `(..., in_features)` (Flax's `__call__`).
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let mut lora = nnx_layers::LoRA::new(3, 2, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(lora.forward(&Tensor::ones(&[2, 5, 3]))?.shape(), &[2, 5, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let out = self.delta(x)?;
        let out = match &mut self.base_module {
            Some(base) => &out + &base.forward(x)?,
            None => Ok(out),
        };
        out.recorded(self, x)
    }

    /// [`forward`](LoRA::forward) from a shared reference (the base module's
    /// `apply`).
    ///
    /// # Errors
    /// A shape mismatch when the last axis of `x` is not `in_features`, or when
    /// `lora_a` / `lora_b` were replaced by arrays of other shapes; the base
    /// module's errors.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let lora = nnx_layers::LoRA::new(3, 2, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let err = lora.apply(&Tensor::ones(&[2, 5])).unwrap_err().to_string();
    /// assert_eq!(err, "shape mismatch at x: expected (..., 3), found (2, 5)");
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let out = self.delta(x)?;
        let out = match &self.base_module {
            Some(base) => &out + &base.apply(x)?,
            None => Ok(out),
        };
        out.recorded(self, x)
    }
}

impl<B, E: Element> LoRA<B, E> {
    /// The adapter's own term `x @ lora_a @ lora_b`.
    fn delta(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let rank = self.lora_a.shape().get(1).copied().unwrap_or(0);
        check_shape("lora_a", self.lora_a.shape(), &[self.in_features, rank])?;
        check_shape("lora_b", self.lora_b.shape(), &[rank, self.out_features])?;
        check_last_axis("x", x.shape(), self.in_features)?;
        x.matmul(&self.lora_a)?.matmul(&self.lora_b)
    }
}

/// A [`Linear`] layer whose output a LoRA adapter adds to (Flax's
/// `nnx.LoRALinear`): the Linear's `kernel` and `bias` at the top level, as a
/// Linear's (a LoRALinear checkpoint loads the Linear's parameters where they
/// were), and the adapter at `lora/lora_a`, `lora/lora_b`. The Linear draws its
/// keys first, then the adapter, from the same `rngs`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{LoRALinear, LoRAParam, Linear};
/// use nnx_tensor::Tensor;
/// let linear = Linear::new(3, 4, &mut Rngs::new(0))?;
/// let mut lora_linear = LoRALinear::new(3, 4, 2, &mut Rngs::new(0))?;
/// assert_eq!(*lora_linear.kernel, *linear.kernel); // the same kernel for the same seed
/// assert_eq!(lora_linear.lora.lora_a.shape(), &[3, 2]);
/// assert_eq!(lora_linear.state_of(LoRAParam).len(), 2);
/// assert_eq!(lora_linear.forward(&Tensor::ones(&[16, 3]))?.shape(), &[16, 4]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct LoRALinear<E: Element = f32> {
    /// The Linear's kernel, `(in_features, out_features)`.
    pub kernel: Param<Tensor<E>>,
    /// The Linear's bias, `(out_features,)`, or `None` without `use_bias`.
    pub bias: Option<Param<Tensor<E>>>,
    /// The adapter.
    pub lora: LoRA<Layer<E>, E>,
    /// Size of the last input axis.
    pub in_features: usize,
    /// Size of the last output axis.
    pub out_features: usize,
    /// Whether the Linear adds a bias.
    pub use_bias: bool,
}

/// Options of [`LoRALinear`]: the Linear's and the adapter's, with Flax's
/// defaults; from [`LoRALinear::config`].
///
/// ```
/// use nnx_core::{init, rngs::Rngs};
/// let layer = nnx_layers::LoRALinear::config(3, 4, 2)
///     .linear(|l| l.use_bias(false))
///     .lora(|l| l.b_initializer(init::ones()))
///     .build(&mut Rngs::new(0))?;
/// assert!(layer.bias.is_none());
/// assert_eq!(layer.lora.lora_b.array().sum(), 8.0);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LoRALinearConfig<E: Element = f32> {
    linear: LinearConfig<E>,
    lora: LoRAConfig<E>,
}

impl<E: Element> LoRALinearConfig<E> {
    /// The options of a layer of element type `E`, from Flax's defaults;
    /// `LoRALinear::config` is this for `f32`.
    ///
    /// ```
    /// use nnx_core::rngs::Rngs;
    /// use nnx_layers::{LoRALinear, LoRALinearConfig};
    /// use nnx_tensor::Tensor;
    /// let mut layer: LoRALinear<f64> = LoRALinearConfig::new(3, 4, 2).build(&mut Rngs::new(0))?;
    /// assert_eq!(layer.forward(&Tensor::<f64>::full(&[5, 3], 1.0))?.shape(), &[5, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(in_features: usize, out_features: usize, lora_rank: usize) -> Self {
        LoRALinearConfig {
            linear: LinearConfig::new(in_features, out_features),
            lora: LoRAConfig::new(in_features, lora_rank, out_features),
        }
    }

    /// Sets the Linear's options (`use_bias`, `kernel_init`, `bias_init`).
    ///
    /// ```
    /// let layer = nnx_layers::LoRALinear::config(3, 4, 2).linear(|l| l.use_bias(false)).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(!layer.use_bias);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn linear(mut self, f: impl FnOnce(LinearConfig<E>) -> LinearConfig<E>) -> Self {
        self.linear = f(self.linear);
        self
    }

    /// Sets the adapter's options (Flax's `a_initializer`, `b_initializer`,
    /// `a_metadata`, `b_metadata`).
    ///
    /// ```
    /// use nnx_core::init;
    /// let layer = nnx_layers::LoRALinear::config(3, 4, 2).lora(|l| l.a_initializer(init::zeros())).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(layer.lora.lora_a.array().sum(), 0.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn lora(mut self, f: impl FnOnce(LoRAConfig<E>) -> LoRAConfig<E>) -> Self {
        self.lora = f(self.lora);
        self
    }

    /// Creates the layer: the Linear's keys, then the adapter's.
    ///
    /// # Errors
    /// As [`LinearConfig::build`] and [`LoRAConfig::build`].
    ///
    /// ```
    /// let layer = nnx_layers::LoRALinear::config(3, 4, 2).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(layer.kernel.shape(), &[3, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<LoRALinear<E>> {
        let Linear {
            kernel,
            bias,
            in_features,
            out_features,
            use_bias,
        } = self.linear.build(rngs)?;
        let lora = self.lora.build(rngs)?;
        Ok(LoRALinear {
            kernel,
            bias,
            lora,
            in_features,
            out_features,
            use_bias,
        })
    }
}

impl LoRALinear {
    /// A layer with Flax's defaults (Flax's `LoRALinear(in, out, lora_rank=r)`).
    ///
    /// ```
    /// let layer = nnx_layers::LoRALinear::new(3, 4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(layer.lora.lora_b.shape(), &[2, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(
        in_features: usize,
        out_features: usize,
        lora_rank: usize,
        rngs: &mut Rngs,
    ) -> Result<LoRALinear> {
        LoRALinear::config(in_features, out_features, lora_rank).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// let layer = nnx_layers::LoRALinear::config(3, 4, 2).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(layer.use_bias);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(in_features: usize, out_features: usize, lora_rank: usize) -> LoRALinearConfig {
        LoRALinearConfig::new(in_features, out_features, lora_rank)
    }
}

impl<E: Element> LoRALinear<E> {
    /// `linear(x) + lora(x)` (Flax's `__call__`); nothing to update.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let mut layer = nnx_layers::LoRALinear::new(3, 4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = Tensor::ones(&[2, 3]);
    /// assert_eq!(layer.forward(&x)?, layer.apply(&x)?);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply(x)
    }

    /// [`forward`](LoRALinear::forward) from a shared reference.
    ///
    /// # Errors
    /// As [`Linear::apply`] and [`LoRA::apply`].
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let layer = nnx_layers::LoRALinear::new(3, 4, 2, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert!(layer.apply(&Tensor::ones(&[2, 5])).is_err());
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let features = [self.in_features, self.out_features];
        (&linear_apply(&self.kernel, &self.bias, features, x)? + &self.lora.apply(x)?)
            .recorded(self, x)
    }
}

/// A LoRALinear is a layer: it composes in a `Sequential`.
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::{Forward, LoRALinear};
/// use nnx_tensor::Tensor;
/// let layer = LoRALinear::new(3, 4, 2, &mut Rngs::new(0))?;
/// let layer: &dyn Forward = &layer;
/// assert_eq!(layer.apply(&Tensor::ones(&[1, 3]))?.shape(), &[1, 4]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
impl<E: Element> Forward<E> for LoRALinear<E> {
    fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        LoRALinear::forward(self, x)
    }
    fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        LoRALinear::apply(self, x)
    }
}

/// A LoRA is a layer: it composes in a `Sequential`.
///
/// ```
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::{Forward, LoRA};
/// use nnx_tensor::Tensor;
/// let lora = LoRA::new(3, 2, 4, &mut Rngs::new(0))?;
/// let layer: &dyn Forward = &lora;
/// assert_eq!(layer.apply(&Tensor::ones(&[1, 3]))?.shape(), &[1, 4]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
impl<B: Forward<E>, E: Element> Forward<E> for LoRA<B, E> {
    fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        LoRA::forward(self, x)
    }
    fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        LoRA::apply(self, x)
    }
}
