//! Multi-head attention (Flax's `nnx.MultiHeadAttention`), with grouped-query
//! heads and an autoregressive decode cache.

use ndarray::{
    Array1, Array2, Array3, ArrayBase, ArrayD, ArrayViewD, Data, Dimension, Ix1, Ix2, Ix3, IxDyn,
    SliceInfoElem,
};
use nnx_core::init::{lecun_normal, zeros, ParamInit};
use nnx_core::random::bernoulli;
use nnx_core::repr::fmt_tuple_usize;
use nnx_core::rngs::{RngStream, Rngs};
use nnx_core::{Cache, Error, Param, Result, VariableType};

use crate::functional::{
    combine_masks, dot_last_axis, dot_product_attention, AttentionDropout, AttentionOptions,
};
use crate::normalization::LayerNorm;
use crate::param::flat_param;
use crate::support::{check_alloc, check_config, check_opt, check_rate, check_shape, setters};
use crate::Forward;
use nnx_tensor::Tensor;

/// Query/key/value projection `(..., in) -> (..., heads, head_dim)`, laid out as
/// Flax's `LinearGeneral(in, (heads, head_dim))`. A stand-in until MHA uses
/// `LinearGeneral` itself; parameter names, shapes and init are the same.
#[derive(nnx_core::Module, Debug)]
struct HeadsProjection {
    kernel: Param<Array3<f32>>,
    bias: Option<Param<Array2<f32>>>,
}

/// Output projection `(..., heads, head_dim) -> (..., out)`, as Flax's
/// `LinearGeneral((heads, head_dim), out, axis=(-2, -1))`.
#[derive(nnx_core::Module, Debug)]
struct OutProjection {
    kernel: Param<Array3<f32>>,
    bias: Option<Param<Array1<f32>>>,
}

/// LinearGeneral's init ([`flat_param`]) with the next `params` key.
fn init_flat<D: Dimension + 'static>(
    init: &ParamInit<f32>,
    rngs: &mut Rngs,
    flat: &[usize],
    shape: &[usize],
) -> Result<Param<ndarray::Array<f32, D>>> {
    flat_param::<D>(init, rngs.next_key("params")?, flat, shape)
}

impl HeadsProjection {
    fn new(
        rngs: &mut Rngs,
        (inf, heads, dim): (usize, usize, usize),
        kernel_init: &ParamInit<f32>,
        bias_init: Option<&ParamInit<f32>>,
    ) -> Result<Self> {
        let kernel = init_flat::<Ix3>(kernel_init, rngs, &[inf, heads * dim], &[inf, heads, dim])?;
        let bias = match bias_init {
            Some(b) => Some(init_flat::<Ix2>(b, rngs, &[heads * dim], &[heads, dim])?),
            None => None,
        };
        Ok(HeadsProjection { kernel, bias })
    }

    /// Checks the kernel and bias of the projection named `name` against the
    /// layer's sizes.
    fn check(&self, name: &str, (inf, h, d): (usize, usize, usize)) -> Result<()> {
        check_shape(&format!("{name}/kernel"), self.kernel.shape(), &[inf, h, d])?;
        check_opt(&format!("{name}/bias"), &self.bias, &[h, d])
    }

    fn forward(&self, x: &ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        let (inf, h, d) = self.kernel.value().dim();
        let w = self
            .kernel
            .value()
            .view()
            .into_shape_with_order((inf, h * d))
            .map_err(|e| Error::invalid_argument("kernel", "contiguous", e.to_string()))?;
        let mut y = dot_last_axis(x, &w)?;
        if let Some(b) = &self.bias {
            let b = b
                .value()
                .view()
                .into_shape_with_order(h * d)
                .map_err(|e| Error::invalid_argument("bias", "contiguous", e.to_string()))?;
            y += &b;
        }
        let mut shape = x.shape()[..x.ndim() - 1].to_vec();
        shape.extend([h, d]);
        y.into_shape_with_order(IxDyn(&shape)).map_err(|e| {
            Error::invalid_argument("projection", fmt_tuple_usize(&shape), e.to_string())
        })
    }
}

impl OutProjection {
    fn check(&self, (h, d, out): (usize, usize, usize)) -> Result<()> {
        check_shape("out/kernel", self.kernel.shape(), &[h, d, out])?;
        check_opt("out/bias", &self.bias, &[out])
    }

    fn forward(&self, x: &ArrayD<f32>) -> Result<ArrayD<f32>> {
        let (h, d, out) = self.kernel.value().dim();
        let w = self
            .kernel
            .value()
            .view()
            .into_shape_with_order((h * d, out))
            .map_err(|e| Error::invalid_argument("kernel", "contiguous", e.to_string()))?;
        let nd = x.ndim();
        let mut shape = x.shape()[..nd - 2].to_vec();
        shape.push(h * d);
        let x = x.as_standard_layout();
        let x = x.view().into_shape_with_order(IxDyn(&shape)).map_err(|e| {
            Error::invalid_argument("attention output", fmt_tuple_usize(&shape), e.to_string())
        })?;
        let mut y = dot_last_axis(&x, &w)?;
        if let Some(b) = &self.bias {
            y += b.value();
        }
        Ok(y)
    }
}

/// Multi-head dot-product attention (Flax's `nnx.MultiHeadAttention`).
///
/// Sublayers `query`, `key`, `value` project inputs to `(heads, head_dim)`
/// (kernels `(in, heads, head_dim)`, biases `(heads, head_dim)`), `out` projects
/// back (kernel `(heads, head_dim, out)`); `num_kv_heads < num_heads` gives
/// grouped-query attention. With `decode` set, [`init_cache`](Self::init_cache)
/// creates `cached_key`, `cached_value` and `cache_index` (`Cache` Variables) and
/// each call consumes one step. With `dropout_rate > 0` the layer owns a stream
/// forked from `rngs`' `dropout` stream, as Flax does.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_core::rngs::Rngs;
/// use nnx_layers::MultiHeadAttention;
/// let mut mha = MultiHeadAttention::config(2, 3).qkv_features(6).out_features(6).decode(true)
///     .build(&mut Rngs::new(0))?;
/// mha.init_cache(&[1, 3])?;
/// assert_eq!(
///     mha.state_of(Cache).map(nnx_core::value::shape).to_string(),
///     "State({\n  'cache_index': Cache(\n    value=()\n  ),\n  'cached_key': Cache(\n    value=(1, 2, 3)\n  ),\n  'cached_value': Cache(\n    value=(1, 2, 3)\n  )\n})"
/// );
/// let y = mha.forward(&ndarray::Array2::<f32>::ones((1, 3)), None, None, None)?;
/// assert_eq!(y.shape(), &[1, 6]);
/// assert!(mha.forward(&ndarray::Array2::<f32>::ones((1, 3)), None, None, None).is_err()); // full
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct MultiHeadAttention {
    query: HeadsProjection,
    key: HeadsProjection,
    value: HeadsProjection,
    query_ln: Option<LayerNorm>,
    key_ln: Option<LayerNorm>,
    out: OutProjection,
    rngs: Option<RngStream>,
    cached_key: Option<Cache<ArrayD<f32>>>,
    cached_value: Option<Cache<ArrayD<f32>>>,
    cache_index: Option<Cache<i32>>,
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
pub struct MultiHeadAttentionConfig {
    num_heads: usize,
    in_features: usize,
    qkv_features: Option<usize>,
    out_features: Option<usize>,
    num_kv_heads: Option<usize>,
    in_kv_features: Option<usize>,
    broadcast_dropout: bool,
    dropout_rate: f64,
    deterministic: bool,
    kernel_init: ParamInit<f32>,
    out_kernel_init: Option<ParamInit<f32>>,
    bias_init: ParamInit<f32>,
    out_bias_init: Option<ParamInit<f32>>,
    use_bias: bool,
    decode: bool,
    normalize_qk: bool,
}

setters!(MultiHeadAttentionConfig = "nnx_layers::MultiHeadAttention::config(2, 4)" {
    broadcast_dropout: bool,
    dropout_rate: f64,
    deterministic: bool,
    use_bias: bool,
    decode: bool,
    normalize_qk: bool,
});

impl MultiHeadAttentionConfig {
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
    /// let y = m.forward(&ndarray::Array2::<f32>::ones((3, 4)), None, None, None)?;
    /// assert!(y.iter().all(|&v| v == 0.0)); // zero kernels, zero biases
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn kernel_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
        self.kernel_init = init.into();
        self
    }
    /// Sets the output kernel's initializer (default: `kernel_init`).
    ///
    /// ```
    /// use nnx_core::{init, rngs::Rngs};
    /// let mut m = nnx_layers::MultiHeadAttention::config(2, 4).out_kernel_init(init::zeros()).build(&mut Rngs::new(0))?;
    /// let y = m.forward(&ndarray::Array2::<f32>::ones((3, 4)), None, None, None)?;
    /// assert!(y.iter().all(|&v| v == 0.0)); // only the output projection is zero
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn out_kernel_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
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
    /// let y = m.forward(&ndarray::Array2::<f32>::ones((3, 4)), None, None, None)?;
    /// assert!(y.iter().all(|&v| v == 4.0)); // values are all ones; 4 of them sum per output
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn bias_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
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
    /// let y = m.forward(&ndarray::Array2::<f32>::ones((3, 4)), None, None, None)?;
    /// assert!(y.iter().all(|&v| v == 1.0));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn out_bias_init(mut self, init: impl Into<ParamInit<f32>>) -> Self {
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
    pub fn build(self, rngs: &mut Rngs) -> Result<MultiHeadAttention> {
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
        let bias = self.use_bias.then_some(&self.bias_init);
        let query =
            HeadsProjection::new(rngs, (self.in_features, nh, hd), &self.kernel_init, bias)?;
        let key = HeadsProjection::new(rngs, (in_kv, nkv, hd), &self.kernel_init, bias)?;
        let value = HeadsProjection::new(rngs, (in_kv, nkv, hd), &self.kernel_init, bias)?;
        let (query_ln, key_ln) = if self.normalize_qk {
            let ln = || LayerNorm::config(hd).use_bias(false);
            (Some(ln().build(rngs)?), Some(ln().build(rngs)?))
        } else {
            (None, None)
        };
        let out_kernel_init = self.out_kernel_init.as_ref().unwrap_or(&self.kernel_init);
        let out_bias_init = self.out_bias_init.as_ref().unwrap_or(&self.bias_init);
        let kernel = init_flat::<Ix3>(
            out_kernel_init,
            rngs,
            &[nh * hd, out_features],
            &[nh, hd, out_features],
        )?;
        let out_bias = if self.use_bias {
            Some(init_flat::<Ix1>(
                out_bias_init,
                rngs,
                &[out_features],
                &[out_features],
            )?)
        } else {
            None
        };
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
            out: OutProjection {
                kernel,
                bias: out_bias,
            },
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
        check_alloc("init_cache input_shape", &shape, std::mem::size_of::<f32>())?;
        self.cached_key = Some(Cache::new(ArrayD::zeros(IxDyn(&shape))));
        self.cached_value = Some(Cache::new(ArrayD::zeros(IxDyn(&shape))));
        self.cache_index = Some(Cache::new(0i32));
        Ok(())
    }

    /// Attention of `inputs_q` over `inputs_k` / `inputs_v` (each defaulting to
    /// the previous one: `None, None` is self-attention). `mask` is `false` where
    /// attention is not allowed, broadcastable to `(batch..., heads, q_len,
    /// kv_len)` (see [`make_attention_mask`](crate::functional::make_attention_mask),
    /// [`make_causal_mask`](crate::functional::make_causal_mask)).
    ///
    /// In decode mode each call takes one step (`kv_len == 1`), writes its key
    /// and value at `cache_index`, advances it, and attends over the filled
    /// prefix; a missing or full cache is an error.
    ///
    /// ```
    /// use nnx_layers::functional::make_causal_mask;
    /// let mut m = nnx_layers::MultiHeadAttention::new(2, 4, &mut nnx_core::rngs::Rngs::new(0))?;
    /// let x = ndarray::Array3::<f32>::ones((2, 5, 4));
    /// let mask = make_causal_mask(&ndarray::Array2::<f32>::ones((2, 5)), 0)?;
    /// assert_eq!(m.forward(&x, None, None, Some(&mask))?.shape(), &[2, 5, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward<'a, S: Data<Elem = f32>, D: Dimension>(
        &mut self,
        inputs_q: &'a ArrayBase<S, D>,
        inputs_k: Option<ArrayViewD<'a, f32>>,
        inputs_v: Option<ArrayViewD<'a, f32>>,
        mask: Option<&ArrayD<bool>>,
    ) -> Result<ArrayD<f32>> {
        let xq = inputs_q.view().into_dyn();
        if inputs_k.is_none() && inputs_v.is_some() {
            return Err(Error::invalid_argument(
                "inputs_k",
                "an array when inputs_v is given",
                "None",
            ));
        }
        let xk = inputs_k.unwrap_or_else(|| xq.clone());
        let xv = inputs_v.unwrap_or_else(|| xk.clone());
        check_input("inputs_q", xq.shape(), self.in_features)?;
        check_input("inputs_k", xk.shape(), self.in_kv_features)?;
        check_input("inputs_v", xv.shape(), self.in_kv_features)?;
        self.check_params()?;
        let mut query = self.query.forward(&xq)?;
        let mut key = self.key.forward(&xk)?;
        let value = self.value.forward(&xv)?;
        if let (Some(qln), Some(kln)) = (&self.query_ln, &self.key_ln) {
            query = qln.forward(&query)?;
            key = kln.forward(&key)?;
        }
        let mask = if self.decode {
            self.decode_step(&key, &value, mask)?
        } else {
            mask.cloned()
        };
        // In decode mode attention runs over the whole cache (the step was just
        // written into it), read in place rather than copied.
        let (key, value) = match (&self.cached_key, &self.cached_value) {
            (Some(ck), Some(cv)) if self.decode => (ck.value().view(), cv.value().view()),
            _ => (key.view(), value.view()),
        };
        let keep;
        let dropout = if self.dropout_rate > 0.0 && !self.deterministic {
            check_rate("MultiHeadAttention dropout_rate", self.dropout_rate)?;
            let rng = self.rngs.as_mut().ok_or_else(|| {
                Error::invalid_argument("MultiHeadAttention rngs", "a dropout stream", "none")
            })?;
            let nd = key.ndim() + 1; // weights: (batch..., heads, q_len, kv_len)
            let (ql, kl) = (query.shape()[query.ndim() - 3], key.shape()[key.ndim() - 3]);
            let mut shape = if self.broadcast_dropout {
                vec![1; nd - 3]
            } else {
                let mut s = key.shape()[..key.ndim() - 3].to_vec();
                s.push(self.num_heads);
                s
            };
            shape.extend([ql, kl]);
            keep = bernoulli(rng.next_key(), (1.0 - self.dropout_rate) as f32, &shape)?;
            Some(AttentionDropout {
                keep: &keep,
                rate: self.dropout_rate,
            })
        } else {
            None
        };
        let opts = AttentionOptions {
            mask: mask.as_ref(),
            dropout,
            ..Default::default()
        };
        let x = dot_product_attention(&query, &key, &value, &opts)?;
        self.out.forward(&x)
    }

    /// Checks every projection against the layer's sizes (Variables are public
    /// and can be reassigned; the LayerNorms check their own).
    fn check_params(&self) -> Result<()> {
        let (nh, nkv, hd) = (self.num_heads, self.num_kv_heads, self.head_dim);
        self.query.check("query", (self.in_features, nh, hd))?;
        self.key.check("key", (self.in_kv_features, nkv, hd))?;
        self.value.check("value", (self.in_kv_features, nkv, hd))?;
        self.out.check((nh, hd, self.out_features))
    }

    /// Writes one step into the cache; returns the mask limited to the filled
    /// positions.
    fn decode_step(
        &mut self,
        key: &ArrayD<f32>,
        value: &ArrayD<f32>,
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
        ck.value_mut().slice_mut(sl.as_slice()).assign(key);
        cv.value_mut().slice_mut(sl.as_slice()).assign(value);
        *ci.value_mut() += 1;
        let mut mshape = cshape[..nd - 3].to_vec();
        mshape.extend([1, 1, max_len]);
        let limit = ArrayD::from_shape_fn(IxDyn(&mshape), |ix| ix[mshape.len() - 1] <= cur);
        combine_masks(&[mask, Some(&limit)])
    }
}

impl Forward for MultiHeadAttention {
    /// Self-attention without a mask.
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        Ok(Tensor::new(MultiHeadAttention::forward(
            self,
            x.array(),
            None,
            None,
            None,
        )?))
    }

    fn apply(&self, _: &Tensor) -> Result<Tensor> {
        Err(Error::invalid_argument(
            "MultiHeadAttention::apply",
            "a layer whose forward leaves it unchanged",
            "a layer that updates its state in forward (use forward(&mut self))",
        ))
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
        let x = ndarray::Array3::<f32>::ones((1, 1, 4));
        let y = m.forward(&x, None, None, None)?;
        let (g, s) = m.split(..)?;
        let mut m2: MultiHeadAttention = g.merge(s)?;
        assert_eq!(
            *m2.cache_index
                .as_ref()
                .map(|c| *c.value())
                .as_ref()
                .unwrap_or(&-1),
            1
        );
        assert_eq!(m2.state().len(), 3 * 2 + 2 + 2 + 2 + 3);
        // The merged copy continues the decode from step 1.
        assert!(m2.forward(&x, None, None, None)?.len() == y.len());
        Ok(())
    }
}
