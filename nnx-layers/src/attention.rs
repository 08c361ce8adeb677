//! Multi-head attention (Flax's `nnx.MultiHeadAttention`), with grouped-query
//! heads and an autoregressive decode cache.

use ndarray::{ArrayD, IxDyn, SliceInfoElem};
use nnx_core::init::{lecun_normal, zeros, ParamInit};
use nnx_core::random::bernoulli;
use nnx_core::repr::fmt_tuple_usize;
use nnx_core::rngs::{RngStream, Rngs};
use nnx_core::{Cache, Error, Result, VariableType};
use nnx_tensor::{
    combine_masks, dot_product_attention, AttentionDropout, AttentionOptions, Element, Tensor,
};

use crate::forward::Recorded;
use crate::linear_general::{LinearGeneral, LinearGeneralConfig};
use crate::normalization::{LayerNorm, LayerNormConfig};
use crate::support::{
    check_alloc, check_config, check_opt_tensor, check_rate, check_shape, setters,
};
use nnx_core::record::Describe;

/// Multi-head dot-product attention (Flax's `nnx.MultiHeadAttention`).
///
/// Sublayers `query`, `key`, `value` ([`LinearGeneral`]s, as in Flax) project
/// inputs to `(heads, head_dim)` (kernels `(in, heads, head_dim)`, biases
/// `(heads, head_dim)`), `out` projects back (kernel `(heads, head_dim, out)`);
/// `num_kv_heads < num_heads` gives grouped-query attention. With `decode`
/// set, [`init_cache`](Self::init_cache) creates `cached_key`, `cached_value`
/// and `cache_index` (`Cache` Variables) and each call consumes one step. With
/// `dropout_rate > 0` the layer owns a stream forked from `rngs`' `dropout`
/// stream, as Flax does.
///
/// [`forward`](Self::forward) is self-attention without a mask (Flax's
/// `mha(x)`); [`forward_with`](Self::forward_with) takes separate keys and
/// values, a mask and call-time overrides ([`AttentionArgs`]).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::MultiHeadAttention;
/// use nnx_tensor::Tensor;
/// let mut mha = MultiHeadAttention::config(2, 3).qkv_features(6).out_features(6).decode(true)
///     .build(&mut Rngs::new(0))?;
/// assert_eq!(mha.query.kernel.shape(), &[3, 2, 3]);
/// mha.init_cache(&[1, 3])?;
/// assert_eq!(
///     mha.state_of(Cache).map(nnx_core::value::shape).to_string(),
///     "State({\n  'cache_index': Cache(\n    value=()\n  ),\n  'cached_key': Cache(\n    value=(1, 2, 3)\n  ),\n  'cached_value': Cache(\n    value=(1, 2, 3)\n  )\n})"
/// );
/// let y = mha.forward(&Tensor::ones(&[1, 3]))?;
/// assert_eq!(y.shape(), &[1, 6]);
/// assert!(mha.forward(&Tensor::ones(&[1, 3])).is_err()); // full
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct MultiHeadAttention<E: Element = f32> {
    /// Query projection `(in_features) -> (num_heads, head_dim)`.
    pub query: LinearGeneral<E>,
    /// Key projection `(in_kv_features) -> (num_kv_heads, head_dim)`.
    pub key: LinearGeneral<E>,
    /// Value projection `(in_kv_features) -> (num_kv_heads, head_dim)`.
    pub value: LinearGeneral<E>,
    /// LayerNorm of the queries per head (with `normalize_qk`).
    pub query_ln: Option<LayerNorm<E>>,
    /// LayerNorm of the keys per head (with `normalize_qk`).
    pub key_ln: Option<LayerNorm<E>>,
    /// Output projection `(num_heads, head_dim) -> (out_features)`.
    pub out: LinearGeneral<E>,
    /// The dropout stream (with `dropout_rate > 0`).
    pub rngs: Option<RngStream>,
    /// Keys of the decoded steps, `(batch..., max_length, num_kv_heads, head_dim)`.
    pub cached_key: Option<Cache<Tensor<E>>>,
    /// Values of the decoded steps, as `cached_key`.
    pub cached_value: Option<Cache<Tensor<E>>>,
    /// The next decode position.
    pub cache_index: Option<Cache<i32>>,
    /// Number of query heads.
    pub num_heads: usize,
    /// Size of the query inputs' last axis.
    pub in_features: usize,
    /// Total size of the query/key/value projections (`num_heads * head_dim`).
    pub qkv_features: usize,
    /// Size of the output's last axis.
    pub out_features: usize,
    /// Size of the key/value inputs' last axis.
    pub in_kv_features: usize,
    /// Number of key/value heads (divides `num_heads`).
    pub num_kv_heads: usize,
    /// Size of each head.
    pub head_dim: usize,
    /// One dropout mask shared over batch and heads.
    pub broadcast_dropout: bool,
    /// Dropout rate of the attention weights.
    pub dropout_rate: f64,
    /// No dropout when true.
    pub deterministic: bool,
    /// Whether the projections have biases.
    pub use_bias: bool,
    /// Autoregressive decoding with the cache.
    pub decode: bool,
    /// LayerNorm (no bias) on queries and keys per head.
    pub normalize_qk: bool,
}

/// Options of [`MultiHeadAttention`], with Flax's defaults: `qkv_features`,
/// `out_features` and `in_kv_features` default to `in_features`, `num_kv_heads`
/// to `num_heads`; kernels `lecun_normal`, biases zeros. `deterministic` and
/// `decode` are plain flags defaulting to `false` (Flax's `None` must be set
/// before use; here [`Module::train`](nnx_core::Module::train) /
/// [`eval`](nnx_core::Module::eval) flip `deterministic`).
///
/// ```
/// let m = nnx_layers::MultiHeadAttention::config(4, 8).num_kv_heads(2).dropout_rate(0.1)
///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
/// assert_eq!((m.head_dim, m.num_kv_heads), (2, 2));
/// assert!(nnx_layers::MultiHeadAttention::config(3, 8)
///     .build(&mut nnx_core::rngs::Rngs::new(0)).is_err()); // 8 % 3 != 0
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MultiHeadAttentionConfig<E: Element = f32> {
    num_heads: usize,
    in_features: usize,
    qkv_features: Option<usize>,
    out_features: Option<usize>,
    num_kv_heads: Option<usize>,
    in_kv_features: Option<usize>,
    broadcast_dropout: bool,
    dropout_rate: f64,
    deterministic: bool,
    kernel_init: ParamInit<E>,
    out_kernel_init: Option<ParamInit<E>>,
    bias_init: ParamInit<E>,
    out_bias_init: Option<ParamInit<E>>,
    use_bias: bool,
    decode: bool,
    normalize_qk: bool,
}

setters!(MultiHeadAttentionConfig<E> = "nnx_layers::MultiHeadAttention::config(2, 4)" {
    broadcast_dropout: bool,
    dropout_rate: f64,
    deterministic: bool,
    use_bias: bool,
    decode: bool,
    normalize_qk: bool,
});

impl<E: Element> MultiHeadAttentionConfig<E> {
    /// The options of a layer of element type `E` (`f64`: Flax's
    /// `param_dtype=dtype=jnp.float64`), starting from Flax's defaults;
    /// `MultiHeadAttention::config` is this for `f32`.
    ///
    /// ```
    /// let cfg = nnx_layers::MultiHeadAttentionConfig::<f64>::new(2, 4);
    /// assert!(format!("{cfg:?}").starts_with("MultiHeadAttentionConfig"));
    /// ```
    pub fn new(num_heads: usize, in_features: usize) -> MultiHeadAttentionConfig<E> {
        MultiHeadAttentionConfig {
            num_heads,
            in_features,
            qkv_features: None,
            out_features: None,
            num_kv_heads: None,
            in_kv_features: None,
            broadcast_dropout: true,
            dropout_rate: 0.0,
            deterministic: false,
            kernel_init: lecun_normal().into(),
            out_kernel_init: None,
            bias_init: zeros().into(),
            out_bias_init: None,
            use_bias: true,
            decode: false,
            normalize_qk: false,
        }
    }

    /// Sets the projections' total size (default `in_features`).
    ///
    /// ```
    /// let m = nnx_layers::MultiHeadAttention::config(2, 4).qkv_features(8).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!((m.qkv_features, m.head_dim), (8, 4));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn qkv_features(mut self, n: usize) -> Self {
        self.qkv_features = Some(n);
        self
    }
    /// Sets the output size (default `in_features`).
    ///
    /// ```
    /// let m = nnx_layers::MultiHeadAttention::config(2, 4).out_features(6).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(m.out_features, 6);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn out_features(mut self, n: usize) -> Self {
        self.out_features = Some(n);
        self
    }
    /// Sets the number of key/value heads (default `num_heads`).
    ///
    /// ```
    /// let m = nnx_layers::MultiHeadAttention::config(2, 4).num_kv_heads(1).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(m.num_kv_heads, 1);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn num_kv_heads(mut self, n: usize) -> Self {
        self.num_kv_heads = Some(n);
        self
    }
    /// Sets the key/value inputs' size (default `in_features`).
    ///
    /// ```
    /// let m = nnx_layers::MultiHeadAttention::config(2, 4).in_kv_features(3).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(m.in_kv_features, 3);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn in_kv_features(mut self, n: usize) -> Self {
        self.in_kv_features = Some(n);
        self
    }
    /// Sets the kernel initializer of all projections (default `lecun_normal`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let mut m = nnx_layers::MultiHeadAttention::config(2, 4).kernel_init(init::zeros()).build(&mut Rngs::new(0))?;
    /// let y = m.forward(&nnx_tensor::Tensor::ones(&[3, 4]))?;
    /// assert!(y.view().iter().all(|&v| v == 0.0)); // zero kernels, zero biases
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn kernel_init(mut self, init: impl Into<ParamInit<E>>) -> Self {
        self.kernel_init = init.into();
        self
    }
    /// Sets the output kernel's initializer (default: `kernel_init`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let mut m = nnx_layers::MultiHeadAttention::config(2, 4).out_kernel_init(init::zeros()).build(&mut Rngs::new(0))?;
    /// let y = m.forward(&nnx_tensor::Tensor::ones(&[3, 4]))?;
    /// assert!(y.view().iter().all(|&v| v == 0.0)); // only the output projection is zero
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn out_kernel_init(mut self, init: impl Into<ParamInit<E>>) -> Self {
        self.out_kernel_init = Some(init.into());
        self
    }
    /// Sets the bias initializer of all projections (default zeros).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let mut m = nnx_layers::MultiHeadAttention::config(2, 4)
    ///     .kernel_init(init::zeros())
    ///     .bias_init(init::ones())
    ///     .out_kernel_init(init::ones())
    ///     .out_bias_init(init::zeros())
    ///     .build(&mut Rngs::new(0))?;
    /// let y = m.forward(&nnx_tensor::Tensor::ones(&[3, 4]))?;
    /// assert!(y.view().iter().all(|&v| v == 4.0)); // values are all ones; 4 of them sum per output
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_init(mut self, init: impl Into<ParamInit<E>>) -> Self {
        self.bias_init = init.into();
        self
    }
    /// Sets the output bias' initializer (default: `bias_init`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let mut m = nnx_layers::MultiHeadAttention::config(2, 4)
    ///     .kernel_init(init::zeros())
    ///     .out_bias_init(init::ones())
    ///     .build(&mut Rngs::new(0))?;
    /// let y = m.forward(&nnx_tensor::Tensor::ones(&[3, 4]))?;
    /// assert!(y.view().iter().all(|&v| v == 1.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn out_bias_init(mut self, init: impl Into<ParamInit<E>>) -> Self {
        self.out_bias_init = Some(init.into());
        self
    }

    /// Builds the layer, drawing keys in Flax's order: query, key, value
    /// (kernel then bias each), the two LayerNorm scales, out, then forking the
    /// `dropout` stream when `dropout_rate > 0`.
    ///
    /// # Errors
    /// When a size is 0, the heads do not divide as described on the config,
    /// `dropout_rate` is not a probability, or a kernel would not fit in memory.
    ///
    /// ```
    /// let m = nnx_layers::MultiHeadAttention::config(2, 4).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!((m.num_heads, m.head_dim), (2, 2));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<MultiHeadAttention<E>> {
        let nh = self.num_heads;
        let qkv = self.qkv_features.unwrap_or(self.in_features);
        let out_features = self.out_features.unwrap_or(self.in_features);
        let in_kv = self.in_kv_features.unwrap_or(self.in_features);
        let nkv = self.num_kv_heads.unwrap_or(nh);
        check_rate("MultiHeadAttention dropout_rate", self.dropout_rate)?;
        // Flax fails here too (its default initializer divides by the fan).
        check_config(
            self.in_features > 0 && qkv > 0 && out_features > 0 && in_kv > 0,
            "MultiHeadAttention in_features / qkv_features / out_features / in_kv_features",
            "positive sizes",
            format!("{} / {qkv} / {out_features} / {in_kv}", self.in_features),
        )?;
        if nh == 0 || nkv == 0 || !nh.is_multiple_of(nkv) {
            return Err(Error::invalid_argument(
                "MultiHeadAttention num_kv_heads",
                format!("a divisor of num_heads={nh}"),
                nkv.to_string(),
            ));
        }
        if !qkv.is_multiple_of(nh) {
            return Err(Error::invalid_argument(
                "MultiHeadAttention qkv_features",
                format!("a multiple of num_heads={nh}"),
                qkv.to_string(),
            ));
        }
        let hd = qkv / nh;
        let projection = |inf: usize, heads: usize, rngs: &mut Rngs| {
            LinearGeneralConfig::new(&[inf], &[heads, hd])
                .use_bias(self.use_bias)
                .kernel_init(self.kernel_init.clone())
                .bias_init(self.bias_init.clone())
                .build(rngs)
        };
        let query = projection(self.in_features, nh, rngs)?;
        let key = projection(in_kv, nkv, rngs)?;
        let value = projection(in_kv, nkv, rngs)?;
        let (query_ln, key_ln) = if self.normalize_qk {
            let ln = || LayerNormConfig::new(hd).use_bias(false);
            (Some(ln().build(rngs)?), Some(ln().build(rngs)?))
        } else {
            (None, None)
        };
        let out = LinearGeneralConfig::new(&[nh, hd], &[out_features])
            .axis(&[-2, -1])
            .use_bias(self.use_bias)
            .kernel_init(
                self.out_kernel_init
                    .as_ref()
                    .unwrap_or(&self.kernel_init)
                    .clone(),
            )
            .bias_init(
                self.out_bias_init
                    .as_ref()
                    .unwrap_or(&self.bias_init)
                    .clone(),
            )
            .build(rngs)?;
        let stream = if self.dropout_rate > 0.0 {
            Some(rngs.stream("dropout")?.fork())
        } else {
            None
        };
        Ok(MultiHeadAttention {
            query,
            key,
            value,
            query_ln,
            key_ln,
            out,
            rngs: stream,
            cached_key: None,
            cached_value: None,
            cache_index: None,
            num_heads: nh,
            in_features: self.in_features,
            qkv_features: qkv,
            out_features,
            in_kv_features: in_kv,
            num_kv_heads: nkv,
            head_dim: hd,
            broadcast_dropout: self.broadcast_dropout,
            dropout_rate: self.dropout_rate,
            deterministic: self.deterministic,
            use_bias: self.use_bias,
            decode: self.decode,
            normalize_qk: self.normalize_qk,
        })
    }
}

/// An attention input is `(batch..., length, n)`: at least a length axis and
/// `n` features.
fn check_input(what: &str, x: &[usize], n: usize) -> Result<()> {
    if x.len() < 2 || x.last() != Some(&n) {
        return Err(Error::ShapeMismatch {
            path: what.into(),
            expected: format!("(..., length, {n})"),
            found: fmt_tuple_usize(x),
        });
    }
    Ok(())
}

impl MultiHeadAttention {
    /// Options with Flax's defaults.
    ///
    /// ```
    /// let m = nnx_layers::MultiHeadAttention::config(2, 4).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(m.head_dim, 2);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(num_heads: usize, in_features: usize) -> MultiHeadAttentionConfig {
        MultiHeadAttentionConfig::new(num_heads, in_features)
    }

    /// A MultiHeadAttention with Flax's defaults.
    ///
    /// ```
    /// let m = nnx_layers::MultiHeadAttention::new(2, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(m.out_features, 4);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(
        num_heads: usize,
        in_features: usize,
        rngs: &mut Rngs,
    ) -> Result<MultiHeadAttention> {
        Self::config(num_heads, in_features).build(rngs)
    }
}

impl<E: Element> MultiHeadAttention<E> {
    /// Creates a zeroed decode cache for inputs of shape `input_shape`
    /// (`(batch..., max_length, features)`): `cached_key` and `cached_value` of
    /// shape `(batch..., max_length, num_kv_heads, head_dim)` and `cache_index` 0.
    ///
    /// ```
    /// let mut m = nnx_layers::MultiHeadAttention::config(2, 4).decode(true)
    ///     .build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// m.init_cache(&[3, 5, 4])?;
    /// assert!(m.init_cache(&[4]).is_err()); // no length axis
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn init_cache(&mut self, input_shape: &[usize]) -> Result<()> {
        if input_shape.len() < 2 {
            return Err(Error::invalid_argument(
                "init_cache input_shape",
                "(batch..., max_length, features)",
                fmt_tuple_usize(input_shape),
            ));
        }
        let mut shape = input_shape[..input_shape.len() - 1].to_vec();
        shape.extend([self.num_kv_heads, self.head_dim]);
        check_alloc("init_cache input_shape", &shape, std::mem::size_of::<E>())?;
        self.cached_key = Some(Cache::new(Tensor::full(&shape, E::zero())));
        self.cached_value = Some(Cache::new(Tensor::full(&shape, E::zero())));
        self.cache_index = Some(Cache::new(0i32));
        Ok(())
    }

    /// Self-attention of `x` (`(batch..., length, in_features)`) without a
    /// mask: Flax's `mha(x)`. Updates the decode cache in decode mode and
    /// draws from the dropout stream when dropout is active.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let mut m = nnx_layers::MultiHeadAttention::new(2, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(m.forward(&Tensor::ones(&[2, 5, 4]))?.shape(), &[2, 5, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`forward_with`](Self::forward_with).
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.forward_with(x, AttentionArgs::default())
    }

    /// Attention of `inputs_q` over `args.inputs_k` / `args.inputs_v` (each
    /// defaulting to the previous one: none is self-attention), with
    /// `args.mask` (`false` where attention is not allowed, broadcastable to
    /// `(batch..., heads, q_len, kv_len)`; see [`make_attention_mask`](crate::make_attention_mask),
    /// [`make_causal_mask`](crate::make_causal_mask)), as Flax's
    /// `mha(inputs_q, inputs_k, inputs_v, mask=..., deterministic=..., decode=...)`.
    ///
    /// With `args.rngs` the attention-dropout key comes from those `Rngs`
    /// (Flax's `mha(x, rngs=...)`) and the layer's own stream does not advance.
    ///
    /// ```
    /// use nnx_core::rngs::Rngs;
    /// use nnx_layers::{AttentionArgs, MultiHeadAttention};
    /// use nnx_tensor::Tensor;
    /// let mut m = MultiHeadAttention::config(2, 4).dropout_rate(0.5).build(&mut Rngs::new(0))?;
    /// let mut rngs = Rngs::new(1);
    /// let args = AttentionArgs { rngs: Some(&mut rngs), ..Default::default() };
    /// m.forward_with(&Tensor::ones(&[3, 4]), args)?;
    /// assert_eq!(rngs.stream("dropout")?.count(), 1); // `default`, as there is no `dropout` stream
    /// assert_eq!(m.rngs.as_ref().map(|s| s.count()), Some(0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// In decode mode each call takes one step (`kv_len == 1`), writes its key
    /// and value at `cache_index`, advances it, and attends over the filled
    /// prefix; a missing or full cache is an error. Differentiable in the inputs
    /// and the projections' parameters (the decode cache is a constant).
    ///
    /// ```
    /// use nnx_layers::{make_causal_mask, AttentionArgs, MultiHeadAttention};
    /// use nnx_tensor::Tensor;
    /// let mut m = MultiHeadAttention::new(2, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = Tensor::ones(&[2, 5, 4]);
    /// let mask = make_causal_mask(&ndarray::Array2::<f32>::ones((2, 5)), 0)?;
    /// let y = m.forward_with(&x, AttentionArgs { mask: Some(&mask), ..Default::default() })?;
    /// assert_eq!(y.shape(), &[2, 5, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// Inputs without a length axis or of the wrong feature size, `inputs_v`
    /// without `inputs_k`, a mask that does not broadcast, projections whose
    /// parameters no longer fit the layer's sizes (named by path), a missing
    /// dropout stream, a missing or full decode cache.
    pub fn forward_with(
        &mut self,
        inputs_q: &Tensor<E>,
        mut args: AttentionArgs<'_, E>,
    ) -> Result<Tensor<E>> {
        let decode = args.decode.unwrap_or(self.decode);
        let deterministic = args.deterministic.unwrap_or(self.deterministic);
        let (query, key, value) = self.project(inputs_q, &args)?;
        let mask = if decode {
            self.decode_step(&key, &value, args.mask)?
        } else {
            args.mask.cloned()
        };
        // In decode mode attention runs over the whole cache (the step was just
        // written into it).
        let (key, value) = match (&self.cached_key, &self.cached_value) {
            (Some(ck), Some(cv)) if decode => (ck.value().clone(), cv.value().clone()),
            _ => (key, value),
        };
        let keep = if self.dropout_rate > 0.0 && !deterministic {
            let key_data = match args.rngs.take() {
                Some(rngs) => rngs.next_key("dropout")?,
                None => self
                    .rngs
                    .as_mut()
                    .ok_or_else(|| {
                        Error::invalid_argument(
                            "MultiHeadAttention rngs",
                            "a dropout stream",
                            "none",
                        )
                    })?
                    .next_key(),
            };
            Some(self.dropout_mask(key_data, &query, &key)?)
        } else {
            None
        };
        self.attend(&query, &key, &value, mask.as_ref(), keep.as_ref())
            .recorded(self, &Inputs(inputs_q, &args))
    }

    /// The keep-mask of the attention weights `(batch..., heads, q_len,
    /// kv_len)` drawn with `key` (one shared over batch and heads with
    /// `broadcast_dropout`).
    fn dropout_mask(
        &self,
        key: nnx_core::random::PrngKey,
        query: &Tensor<E>,
        keys: &Tensor<E>,
    ) -> Result<ArrayD<bool>> {
        check_rate("MultiHeadAttention dropout_rate", self.dropout_rate)?;
        let nd = keys.ndim() + 1;
        let (ql, kl) = (
            query.shape()[query.ndim() - 3],
            keys.shape()[keys.ndim() - 3],
        );
        let mut shape = if self.broadcast_dropout {
            vec![1; nd - 3]
        } else {
            let mut s = keys.shape()[..keys.ndim() - 3].to_vec();
            s.push(self.num_heads);
            s
        };
        shape.extend([ql, kl]);
        bernoulli(
            key,
            <E as nnx_core::random::Float>::from_f64(1.0 - self.dropout_rate),
            &shape,
        )
    }

    /// Self-attention of `x` without a mask, from a shared reference.
    ///
    /// ```
    /// use nnx_tensor::Tensor;
    /// let m = nnx_layers::MultiHeadAttention::new(2, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// assert_eq!(m.apply(&Tensor::ones(&[3, 4]))?.shape(), &[3, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`apply_with`](Self::apply_with).
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.apply_with(x, AttentionArgs::default())
    }

    /// [`forward_with`](Self::forward_with) from a shared reference, for a
    /// layer with nothing to update: `Err` in decode mode (the cache would
    /// change) or with active dropout without call-time `rngs` (the layer's
    /// stream would advance).
    ///
    /// ```
    /// use nnx_layers::{AttentionArgs, MultiHeadAttention};
    /// use nnx_tensor::Tensor;
    /// let m = MultiHeadAttention::config(2, 4).dropout_rate(0.1).build(&mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = Tensor::ones(&[3, 4]);
    /// assert!(m.apply(&x).is_err()); // dropout is active: call eval() or use forward
    /// let eval = AttentionArgs { deterministic: Some(true), ..Default::default() };
    /// assert_eq!(m.apply_with(&x, eval)?.shape(), &[3, 4]);
    /// let mut rngs = nnx_core::rngs::Rngs::new(1);
    /// let with_rngs = AttentionArgs { rngs: Some(&mut rngs), ..Default::default() };
    /// assert_eq!(m.apply_with(&x, with_rngs)?.shape(), &[3, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`forward_with`](Self::forward_with), and the two modes above.
    pub fn apply_with(
        &self,
        inputs_q: &Tensor<E>,
        mut args: AttentionArgs<'_, E>,
    ) -> Result<Tensor<E>> {
        if args.decode.unwrap_or(self.decode) {
            return Err(Error::invalid_argument(
                "MultiHeadAttention::apply",
                "decode == false (apply cannot update the cache)",
                "decode == true: use forward",
            ));
        }
        let dropout = self.dropout_rate > 0.0 && !args.deterministic.unwrap_or(self.deterministic);
        let call_rngs = args.rngs.take();
        if dropout && call_rngs.is_none() {
            return Err(Error::invalid_argument(
                "MultiHeadAttention::apply",
                "deterministic == true, dropout_rate == 0 or call-time rngs (apply cannot advance the layer's stream)",
                format!(
                    "deterministic == false with dropout_rate {}: call eval(), pass rngs or use forward",
                    self.dropout_rate
                ),
            ));
        }
        let (query, key, value) = self.project(inputs_q, &args)?;
        let keep = match call_rngs {
            Some(rngs) if dropout => {
                Some(self.dropout_mask(rngs.next_key("dropout")?, &query, &key)?)
            }
            _ => None,
        };
        self.attend(&query, &key, &value, args.mask, keep.as_ref())
            .recorded(self, &Inputs(inputs_q, &args))
    }

    /// The query, key and value projections (normalized with `normalize_qk`).
    fn project(
        &self,
        inputs_q: &Tensor<E>,
        args: &AttentionArgs<'_, E>,
    ) -> Result<(Tensor<E>, Tensor<E>, Tensor<E>)> {
        if args.inputs_k.is_none() && args.inputs_v.is_some() {
            return Err(Error::invalid_argument(
                "inputs_k",
                "an array when inputs_v is given",
                "None",
            ));
        }
        let xk = args.inputs_k.unwrap_or(inputs_q);
        let xv = args.inputs_v.unwrap_or(xk);
        check_input("inputs_q", inputs_q.shape(), self.in_features)?;
        check_input("inputs_k", xk.shape(), self.in_kv_features)?;
        check_input("inputs_v", xv.shape(), self.in_kv_features)?;
        self.check_params()?;
        let mut query = self.query.apply(inputs_q)?;
        let mut key = self.key.apply(xk)?;
        let value = self.value.apply(xv)?;
        if let (Some(qln), Some(kln)) = (&self.query_ln, &self.key_ln) {
            query = qln.apply(&query)?;
            key = kln.apply(&key)?;
        }
        Ok((query, key, value))
    }

    /// Dot-product attention of the projected heads, then the output projection.
    fn attend(
        &self,
        query: &Tensor<E>,
        key: &Tensor<E>,
        value: &Tensor<E>,
        mask: Option<&ArrayD<bool>>,
        keep: Option<&ArrayD<bool>>,
    ) -> Result<Tensor<E>> {
        let opts = AttentionOptions {
            mask,
            dropout: keep.map(|keep| AttentionDropout {
                keep,
                rate: self.dropout_rate,
            }),
            ..Default::default()
        };
        let x = dot_product_attention(query, key, value, &opts)?;
        self.out.apply(&x)
    }

    /// Checks every projection against the layer's sizes (Variables are public
    /// and can be reassigned; the LayerNorms check their own).
    fn check_params(&self) -> Result<()> {
        let (nh, nkv, hd) = (self.num_heads, self.num_kv_heads, self.head_dim);
        for (name, p, inf, heads) in [
            ("query", &self.query, self.in_features, nh),
            ("key", &self.key, self.in_kv_features, nkv),
            ("value", &self.value, self.in_kv_features, nkv),
        ] {
            check_shape(
                &format!("{name}/kernel"),
                p.kernel.shape(),
                &[inf, heads, hd],
            )?;
            check_opt_tensor(&format!("{name}/bias"), &p.bias, &[heads, hd])?;
        }
        check_shape(
            "out/kernel",
            self.out.kernel.shape(),
            &[nh, hd, self.out_features],
        )?;
        check_opt_tensor("out/bias", &self.out.bias, &[self.out_features])
    }

    /// Writes one step into the cache; returns the mask limited to the filled
    /// positions.
    fn decode_step(
        &mut self,
        key: &Tensor<E>,
        value: &Tensor<E>,
        mask: Option<&ArrayD<bool>>,
    ) -> Result<Option<ArrayD<bool>>> {
        let (Some(ck), Some(cv), Some(ci)) = (
            self.cached_key.as_mut(),
            self.cached_value.as_mut(),
            self.cache_index.as_mut(),
        ) else {
            return Err(Error::invalid_argument(
                "MultiHeadAttention cache",
                "an initialized cache (call init_cache first)",
                "none",
            ));
        };
        let cshape = ck.shape().to_vec();
        let nd = cshape.len();
        if nd < 3 {
            return Err(Error::ShapeMismatch {
                path: "cached_key".into(),
                expected: "(batch..., max_length, num_kv_heads, head_dim)".into(),
                found: fmt_tuple_usize(&cshape),
            });
        }
        check_shape("cached_value", cv.shape(), &cshape)?;
        let max_len = cshape[nd - 3];
        let mut expected = cshape[..nd - 3].to_vec();
        expected.extend([1, cshape[nd - 2], cshape[nd - 1]]);
        if key.shape() != expected.as_slice() {
            return Err(Error::ShapeMismatch {
                path: "decode step key (one position per call)".into(),
                expected: fmt_tuple_usize(&expected),
                found: fmt_tuple_usize(key.shape()),
            });
        }
        let cur = *ci.value();
        if cur < 0 || cur as usize >= max_len {
            return Err(Error::invalid_argument(
                "MultiHeadAttention cache_index",
                format!("a free position (max_length {max_len})"),
                cur.to_string(),
            ));
        }
        let cur = cur as usize;
        let mut sl: Vec<SliceInfoElem> = vec![SliceInfoElem::from(..); nd];
        sl[nd - 3] = SliceInfoElem::from(cur..cur + 1);
        // In place unless an earlier output still shares the buffer.
        ck.value_mut()
            .array_mut()
            .slice_mut(sl.as_slice())
            .assign(key.array());
        cv.value_mut()
            .array_mut()
            .slice_mut(sl.as_slice())
            .assign(value.array());
        *ci.value_mut() += 1;
        let mut mshape = cshape[..nd - 3].to_vec();
        mshape.extend([1, 1, max_len]);
        let limit = ArrayD::from_shape_fn(IxDyn(&mshape), |ix| ix[mshape.len() - 1] <= cur);
        combine_masks(&[mask, Some(&limit)])
    }
}

/// The optional inputs of [`MultiHeadAttention::forward_with`] (Flax's
/// `__call__` arguments after `inputs_q`), all `None` by default.
///
/// ```
/// use nnx_layers::AttentionArgs;
/// use nnx_tensor::Tensor;
/// let kv = Tensor::ones(&[2, 7, 3]);
/// let args = AttentionArgs { inputs_k: Some(&kv), ..Default::default() };
/// assert!(args.inputs_v.is_none() && args.mask.is_none());
/// ```
#[derive(Debug, Default)]
pub struct AttentionArgs<'a, E: Element = f32> {
    /// Keys' inputs `(batch..., kv_len, in_kv_features)`; default `inputs_q`.
    pub inputs_k: Option<&'a Tensor<E>>,
    /// Values' inputs; default `inputs_k`.
    pub inputs_v: Option<&'a Tensor<E>>,
    /// `false` where attention is not allowed; broadcastable to
    /// `(batch..., num_heads, q_len, kv_len)`.
    pub mask: Option<&'a ArrayD<bool>>,
    /// Overrides the layer's `deterministic` for this call.
    pub deterministic: Option<bool>,
    /// Overrides the layer's `decode` for this call.
    pub decode: Option<bool>,
    /// Draws this call's attention-dropout key from these `Rngs`' `dropout`
    /// stream (falling back to `default`) instead of the layer's own stream,
    /// which is left alone (Flax's `rngs=`).
    pub rngs: Option<&'a mut Rngs>,
}

/// The inputs of a call as Flax's tabulate shows `mha(inputs_q, inputs_k,
/// inputs_v, mask=mask)`: the arrays passed (`inputs_q` alone, or a list),
/// then the mask.
struct Inputs<'a, E: Element>(&'a Tensor<E>, &'a AttentionArgs<'a, E>);

impl<E: Element> Describe for Inputs<'_, E> {
    fn describe(&self) -> String {
        let Inputs(q, args) = *self;
        let mut text = match (args.inputs_k, args.inputs_v) {
            (None, None) => q.describe(),
            (k, None) => (q, k).describe(),
            (k, v) => (q, k, v).describe(),
        };
        if let Some(mask) = args.mask {
            text += &format!("\nmask: {}", mask.describe());
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nnx_core::Module;

    #[test]
    fn split_merge_round_trip_and_train_eval() -> Result<()> {
        let mut m = MultiHeadAttention::config(2, 4)
            .dropout_rate(0.5)
            .normalize_qk(true)
            .decode(true)
            .build(&mut Rngs::new(0))?;
        m.init_cache(&[1, 3, 4])?;
        m.eval()?;
        assert!(m.deterministic);
        let x = Tensor::ones(&[1, 1, 4]);
        let y = m.forward(&x)?;
        let (g, s) = m.split(..)?;
        let mut m2: MultiHeadAttention = g.merge(s)?;
        assert_eq!(m2.cache_index.as_ref().map(|c| *c.value()), Some(1));
        assert_eq!(m2.state().len(), 3 * 2 + 2 + 2 + 2 + 3);
        // The merged copy continues the decode from step 1.
        assert!(m2.forward(&x)?.len() == y.len());
        Ok(())
    }
}
