//! `SpectralNorm`: a layer whose matrices are divided by their largest
//! singular value, estimated by power iteration (Flax's `nnx.SpectralNorm`).

use std::collections::BTreeMap;
use std::sync::Arc;

use nnx_core::init::normal;
use nnx_core::rngs::Rngs;
use nnx_core::{BatchStat, Error, Key, Module, Path, Result, State, VariableState};
use nnx_tensor::{Element, Tensor};

use crate::forward::Recorded;
use crate::support::check_epsilon;
use crate::weight_norm::{l2_normalize, py_tuple_key, tensor_of};
use crate::Forward;

/// Spectral normalization of a layer (Flax's `nnx.SpectralNorm`): before each
/// call every parameter of `layer_instance` with two or more axes (reshaped to
/// `(-1, last axis)`) is divided by its spectral norm `σ`, estimated with
/// `n_steps` power iterations from the stored vector `u`, and written back into
/// the layer, as Flax does. `u` and `σ` are [`BatchStat`](struct@BatchStat)s at
/// Flax's paths, `batch_stats/('kernel', 'u')` and `batch_stats/('kernel', 'sigma')`,
/// updated by calls with `update_stats` (the default; `eval()` turns it off
/// through `use_running_average`, as in Flax).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{Linear, SpectralNorm};
/// use nnx_tensor::Tensor;
/// let mut sn = SpectralNorm::new(Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
/// assert_eq!(sn.forward(&Tensor::ones(&[2, 3]))?.shape(), &[2, 4]);
/// let stats: Vec<String> = sn.state_of(BatchStat).flat_state().paths().iter().map(|p| nnx_core::path_string(p).to_string()).collect();
/// assert_eq!(stats, ["batch_stats/('kernel', 'sigma')", "batch_stats/('kernel', 'u')"]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct SpectralNorm<L, E: Element = f32> {
    /// The wrapped layer.
    pub layer_instance: L,
    /// `u` and `σ` of each normalized parameter, under Flax's keys.
    pub batch_stats: BTreeMap<String, BatchStat<Tensor<E>>>,
    /// Power iterations per call (0: no normalization).
    pub n_steps: usize,
    /// Added to squared norms in the power iteration.
    pub epsilon: E,
    /// Reject parameters with more than two axes instead of reshaping them.
    pub error_on_non_matrix: bool,
    /// Do not update `u` and `σ` (Flax stores `not update_stats` under this name,
    /// so `eval()` sets it).
    pub use_running_average: bool,
}

/// Options of [`SpectralNorm`], with Flax's defaults; from [`SpectralNorm::config`].
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{Linear, SpectralNorm};
/// let sn = SpectralNorm::config(Linear::new(3, 4, &mut Rngs::new(0))?).n_steps(3).update_stats(false).build(&mut Rngs::new(1))?;
/// assert_eq!((sn.n_steps, sn.use_running_average), (3, true));
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug)]
pub struct SpectralNormConfig<L, E: Element = f32> {
    layer: L,
    n_steps: usize,
    epsilon: E,
    error_on_non_matrix: bool,
    update_stats: bool,
}

impl<L: Module, E: Element> SpectralNormConfig<L, E> {
    /// The options of a wrapper of element type `E` around `layer_instance`
    /// (whose parameters must be `Tensor<E>`; `u` and `σ` are `E` too, as Flax's
    /// follow `param_dtype`), from Flax's defaults; `SpectralNorm::config` is
    /// this for `f32`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{LinearConfig, SpectralNorm, SpectralNormConfig};
    /// use nnx_tensor::Tensor;
    /// let layer = LinearConfig::<f64>::new(3, 4).build(&mut Rngs::new(0))?;
    /// let mut sn: SpectralNorm<_, f64> = SpectralNormConfig::new(layer).build(&mut Rngs::new(1))?;
    /// assert_eq!(sn.forward(&Tensor::<f64>::full(&[2, 3], 1.0))?.shape(), &[2, 4]);
    /// assert!(sn.batch_stats["('kernel', 'u')"].to_string().contains("float64"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(layer_instance: L) -> Self {
        SpectralNormConfig {
            layer: layer_instance,
            n_steps: 1,
            epsilon: E::from_f64(1e-12),
            error_on_non_matrix: false,
            update_stats: true,
        }
    }

    /// Sets `n_steps` (default 1).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let sn = nnx_layers::SpectralNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).n_steps(0).build(&mut Rngs::new(1))?;
    /// assert!(sn.batch_stats.is_empty()); // nothing to normalize
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn n_steps(mut self, n_steps: usize) -> Self {
        self.n_steps = n_steps;
        self
    }

    /// Sets `epsilon` (default `1e-12`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let sn = nnx_layers::SpectralNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).epsilon(1e-6).build(&mut Rngs::new(1))?;
    /// assert_eq!(sn.epsilon, 1e-6);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn epsilon(mut self, epsilon: E) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets `error_on_non_matrix` (default false: parameters with more axes
    /// are reshaped to `(-1, last axis)`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let sn = nnx_layers::SpectralNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).error_on_non_matrix(true).build(&mut Rngs::new(1))?;
    /// assert!(sn.error_on_non_matrix); // a Linear's kernel is a matrix
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn error_on_non_matrix(mut self, error: bool) -> Self {
        self.error_on_non_matrix = error;
        self
    }

    /// Sets `update_stats` (default true).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let sn = nnx_layers::SpectralNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).update_stats(false).build(&mut Rngs::new(1))?;
    /// assert!(sn.use_running_average);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn update_stats(mut self, update_stats: bool) -> Self {
        self.update_stats = update_stats;
        self
    }

    /// Creates the wrapper: for each parameter to normalize, in path order, one
    /// `params` key draws `u ~ normal(0.01)` of shape `(1, last axis)`; `σ`
    /// starts at 1 (Flax's order and initializers).
    ///
    /// # Errors
    /// A parameter with more than two axes under `error_on_non_matrix`, a
    /// negative epsilon, parameters that are not `f32`, and no `params` stream.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let sn = nnx_layers::SpectralNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).build(&mut Rngs::new(1))?;
    /// assert_eq!(sn.batch_stats["('kernel', 'u')"].shape(), &[1, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<SpectralNorm<L, E>> {
        check_epsilon("SpectralNorm epsilon", self.epsilon)?;
        let mut sn = SpectralNorm {
            layer_instance: self.layer,
            batch_stats: BTreeMap::new(),
            n_steps: self.n_steps,
            epsilon: self.epsilon,
            error_on_non_matrix: self.error_on_non_matrix,
            use_running_average: !self.update_stats,
        };
        for (path, leaf) in sn.layer_instance.state_of(nnx_core::Param).into_flat() {
            let Some(matrix) =
                sn.as_matrix(&path, &tensor_of::<E>(&path, &leaf, "SpectralNorm")?)?
            else {
                continue;
            };
            let key = rngs.next_key("params")?;
            let cols = matrix.shape()[1];
            let u = Tensor::from_array(normal::<E>(0.01).init(key, &[1, cols])?);
            sn.batch_stats
                .insert(stat_key(&path, "u"), BatchStat::new(u));
            sn.batch_stats.insert(
                stat_key(&path, "sigma"),
                BatchStat::new(Tensor::full(&[], E::one())),
            );
        }
        Ok(sn)
    }
}

/// `('kernel', 'u')`: the key of a parameter's power-iteration state.
fn stat_key(path: &[Key], name: &'static str) -> String {
    let mut full = path.to_vec();
    full.push(Key::from(name));
    py_tuple_key(&full)
}

impl<L: Module> SpectralNorm<L> {
    /// A wrapper with Flax's defaults.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let sn = nnx_layers::SpectralNorm::new(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
    /// assert_eq!(sn.batch_stats.len(), 2);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(layer_instance: L, rngs: &mut Rngs) -> Result<Self> {
        SpectralNorm::config(layer_instance).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let sn = nnx_layers::SpectralNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).build(&mut Rngs::new(1))?;
    /// assert_eq!((sn.n_steps, sn.epsilon, sn.use_running_average), (1, 1e-12, false));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(layer_instance: L) -> SpectralNormConfig<L> {
        SpectralNormConfig::new(layer_instance)
    }
}

impl<L: Module, E: Element> SpectralNorm<L, E> {
    /// `p` as the matrix the power iteration runs on, `None` for a parameter
    /// left alone (fewer than two axes, or no iterations).
    fn as_matrix(&self, path: &[Key], p: &Tensor<E>) -> Result<Option<Tensor<E>>> {
        if p.ndim() <= 1 || self.n_steps == 0 {
            return Ok(None);
        }
        if p.ndim() > 2 && self.error_on_non_matrix {
            return Err(Error::invalid_argument(
                "SpectralNorm",
                format!(
                    "a matrix at {} (error_on_non_matrix)",
                    nnx_core::path_string(path)
                ),
                format!("{} axes", p.ndim()),
            ));
        }
        let cols = p.shape()[p.ndim() - 1];
        let rows = p.len().checked_div(cols).unwrap_or(0);
        Ok(Some(p.reshape(&[rows, cols])?))
    }

    /// The stored state `name` of the parameter at `path`.
    fn stat(&self, path: &[Key], name: &'static str) -> Result<(String, Tensor<E>)> {
        let key = stat_key(path, name);
        match self.batch_stats.get(&key) {
            Some(s) => Ok((key, (**s).clone())),
            None => Err(Error::MissingPath {
                path: format!("batch_stats/{key}").into(),
                expected: "the power-iteration state of a parameter of the layer (its parameters may not change)"
                    .into(),
            }),
        }
    }

    /// The normalized parameters of `layer`, and the new `u` and `σ`.
    #[allow(clippy::type_complexity)] // (params, [(key, stat)])
    fn normalized(&self, layer: &L) -> Result<(State, Vec<(String, Tensor<E>)>)> {
        let mut params: Vec<(Path, VariableState)> = Vec::new();
        let mut stats = Vec::new();
        for (path, leaf) in layer.state_of(nnx_core::Param).into_flat() {
            let p = tensor_of::<E>(&path, &leaf, "SpectralNorm")?;
            let Some(w) = self.as_matrix(&path, &p)? else {
                continue;
            };
            let (u_key, mut u) = self.stat(&path, "u")?;
            let (sigma_key, _) = self.stat(&path, "sigma")?;
            let wt = w.transpose();
            let mut v = u.clone();
            for _ in 0..self.n_steps {
                v = l2_normalize(&u.matmul(&wt)?, &[0, 1], self.epsilon)?;
                u = l2_normalize(&v.matmul(&w)?, &[0, 1], self.epsilon)?;
            }
            let (u, v) = (u.stop_gradient(), v.stop_gradient());
            let sigma = v.matmul(&w)?.matmul(&u.transpose())?.reshape(&[])?;
            // Flax divides by 1 where σ is 0.
            let scaled = if sigma.item()? != E::zero() {
                (&w / &sigma)?
            } else {
                w
            };
            let value = scaled.reshape(p.shape())?;
            params.push((path, leaf.with_value(Arc::new(value))));
            stats.push((u_key, u));
            stats.push((sigma_key, sigma.stop_gradient()));
        }
        Ok((State::from_flat(params)?, stats))
    }
}

impl<L: Module + Forward<E>, E: Element> SpectralNorm<L, E> {
    /// Normalizes the parameters, writes them into the layer (as Flax does),
    /// updates `u` and `σ` unless `use_running_average`, and calls the layer.
    /// Differentiable: gradients reach the raw parameters through `σ` (`u` and
    /// `v` are constants, as Flax's `stop_gradient` makes them).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::Tensor;
    /// let mut sn = nnx_layers::SpectralNorm::new(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
    /// sn.forward(&Tensor::ones(&[2, 3]))?;
    /// assert_ne!(sn.batch_stats["('kernel', 'sigma')"].item()?, 1.0); // updated
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        self.forward_with(x, None)
    }

    /// [`forward`](SpectralNorm::forward) with Flax's call-time `update_stats`
    /// (`None`: `!use_running_average`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::Tensor;
    /// let mut sn = nnx_layers::SpectralNorm::new(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
    /// sn.forward_with(&Tensor::ones(&[2, 3]), Some(false))?;
    /// assert_eq!(sn.batch_stats["('kernel', 'sigma')"].item()?, 1.0); // not updated
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward_with(&mut self, x: &Tensor<E>, update_stats: Option<bool>) -> Result<Tensor<E>> {
        let (params, stats) = self.normalized(&self.layer_instance)?;
        self.layer_instance.update(params)?;
        if update_stats.unwrap_or(!self.use_running_average) {
            for (key, value) in stats {
                if let Some(s) = self.batch_stats.get_mut(&key) {
                    **s = value;
                }
            }
        }
        self.layer_instance.forward(x).recorded(self, x)
    }

    /// [`forward`](SpectralNorm::forward) from a shared reference, computed on
    /// a copy of the layer sharing its buffers; only without `update_stats`.
    ///
    /// # Errors
    /// When `use_running_average` is false (the call would update `u` and `σ`):
    /// call `eval()` or use `forward`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::Tensor;
    /// let mut sn = nnx_layers::SpectralNorm::new(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
    /// let x = Tensor::ones(&[2, 3]);
    /// assert!(sn.apply(&x).is_err());
    /// sn.eval()?;
    /// assert_eq!(sn.apply(&x)?, sn.forward(&x)?);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        if !self.use_running_average {
            return Err(Error::invalid_argument(
                "SpectralNorm::apply",
                "use_running_average = true (the call would update u and sigma): call eval() or use forward",
                "use_running_average = false",
            ));
        }
        let mut layer: L = self
            .layer_instance
            .graphdef()
            .merge(self.layer_instance.state())?;
        layer.update(self.normalized(&layer)?.0)?;
        layer.apply(x).recorded(self, x)
    }
}

/// A SpectralNorm is a layer (in a `Sequential`, say), through its inherent
/// `forward` and `apply`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{Forward, Linear, SpectralNorm};
/// use nnx_tensor::Tensor;
/// let mut layer: Box<dyn Forward> = Box::new(SpectralNorm::new(Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?);
/// assert_eq!(layer.forward(&Tensor::ones(&[2, 3]))?.shape(), &[2, 4]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
impl<L: Module + Forward<E>, E: Element> Forward<E> for SpectralNorm<L, E> {
    fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        SpectralNorm::forward(self, x)
    }
    fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        SpectralNorm::apply(self, x)
    }
}
