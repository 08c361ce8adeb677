//! `WeightNorm`: a layer whose kernels are renormalized before every call
//! (Flax's `nnx.WeightNorm`).

use std::collections::BTreeMap;

use nnx_core::init::{ones, ParamInit};
use nnx_core::rngs::Rngs;
use nnx_core::{Error, Key, Module, Param, Result, State, VariableState};
use nnx_tensor::{Element, Tensor};

use crate::forward::Recorded;
use crate::support::check_epsilon;
use crate::Forward;

/// The key under which Flax stores a Variable's companion state: the Python
/// repr of its path tuple, `('kernel',)` or `('layers', 0, 'kernel', 'u')`.
pub(crate) fn py_tuple_key(path: &[Key]) -> String {
    let items: Vec<String> = path
        .iter()
        .map(|k| match k {
            Key::Int(i) => i.to_string(),
            Key::Str(s) => format!("'{s}'"),
        })
        .collect();
    match items.as_slice() {
        [one] => format!("({one},)"),
        _ => format!("({})", items.join(", ")),
    }
}

/// The value of a parameter that a wrapper renormalizes, as a Tensor of the
/// wrapper's element type: a `Tensor<E>` as it is (differentiable), an ndarray
/// of `E` copied (a constant); `Err` naming the path for any other value (an
/// f64 parameter under an f32 wrapper, say).
pub(crate) fn tensor_of<E: Element>(
    path: &[Key],
    leaf: &VariableState,
    wrapper: &str,
) -> Result<Tensor<E>> {
    if let Some(t) = leaf.value.as_any().downcast_ref::<Tensor<E>>() {
        return Ok(t.clone());
    }
    match leaf.value.array_ref().and_then(E::from_array_ref) {
        Some(view) => Ok(Tensor::from_array(view.to_owned())),
        None => Err(Error::TypeMismatch {
            path: nnx_core::path_string(path).into(),
            expected: format!("a {} parameter (as {wrapper} renormalizes)", E::DTYPE),
            found: leaf.value.type_name().into(),
        }),
    }
}

/// `x * rsqrt(sum(x², axes) + eps)` (Flax's `_l2_normalize`), keeping `axes`.
pub(crate) fn l2_normalize<E: Element>(x: &Tensor<E>, axes: &[isize], eps: E) -> Result<Tensor<E>> {
    let ss = x.square().sum_axes(axes, true)?;
    let inv = (&Tensor::full(&[], E::one()) / &(&ss + eps).sqrt())?;
    x * &inv
}

/// `axes` as indices into `ndim` axes (negative from the end), sorted, or
/// `Err` naming the parameter.
fn canonical_axes(path: &[Key], axes: &[isize], ndim: usize) -> Result<Vec<usize>> {
    let mut out = axes
        .iter()
        .map(|&a| {
            let i = if a < 0 { a + ndim as isize } else { a };
            usize::try_from(i)
                .ok()
                .filter(|&i| i < ndim)
                .ok_or_else(|| {
                    Error::invalid_argument(
                        "WeightNorm feature_axes",
                        format!(
                            "axes of the {ndim}-d parameter {}",
                            nnx_core::path_string(path)
                        ),
                        format!("axis {a}"),
                    )
                })
        })
        .collect::<Result<Vec<usize>>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Weight normalization of a layer (Flax's `nnx.WeightNorm`): before each call
/// every parameter of `layer_instance` whose path contains `variable_filter`
/// (`"kernel"`) is replaced by `scale · v / ‖v‖`, the norm taken over all axes
/// but `feature_axes`, and written back into the layer, as Flax does. Paths are
/// Flax's: `layer_instance/...` and `scales/('kernel',)`.
///
/// The scales are [`Param`](struct@Param)s, so they train with the rest; Flax
/// keeps them as plain arrays, which `nnx.Param` filters (and so its optimizers)
/// miss.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{Linear, WeightNorm};
/// use nnx_tensor::Tensor;
/// let mut wn = WeightNorm::new(Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
/// let y = wn.forward(&Tensor::ones(&[2, 3]))?;
/// assert_eq!(y.shape(), &[2, 4]);
/// let paths: Vec<String> = wn.state().flat_state().paths().iter().map(|p| nnx_core::path_string(p).to_string()).collect();
/// assert_eq!(paths, ["layer_instance/bias", "layer_instance/kernel", "scales/('kernel',)"]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(nnx_core::Module, Debug)]
pub struct WeightNorm<L, E: Element = f32> {
    /// The wrapped layer.
    pub layer_instance: L,
    /// One scale per normalized parameter, under Flax's key (its path tuple);
    /// empty without `use_scale`.
    pub scales: BTreeMap<String, Param<Tensor<E>>>,
    /// The axes that keep their own norm (Flax's `feature_axes`; empty is
    /// Flax's `None`: one norm over the whole parameter).
    pub feature_axes: Vec<isize>,
    /// Whether to multiply by the scales.
    pub use_scale: bool,
    /// Added to the squared norm.
    pub epsilon: E,
    /// The path key selecting the parameters (Flax's `PathContains('kernel')`).
    pub variable_filter: String,
}

/// Options of [`WeightNorm`], with Flax's defaults; from [`WeightNorm::config`].
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{Linear, WeightNorm};
/// let wn = WeightNorm::config(Linear::new(3, 4, &mut Rngs::new(0))?).use_scale(false).build(&mut Rngs::new(1))?;
/// assert!(wn.scales.is_empty());
/// # Ok::<(), nnx_core::Error>(())
/// ```
#[derive(Debug)]
pub struct WeightNormConfig<L, E: Element = f32> {
    layer: L,
    feature_axes: Vec<isize>,
    use_scale: bool,
    scale_init: ParamInit<E>,
    epsilon: E,
    variable_filter: String,
}

impl<L: Module, E: Element> WeightNormConfig<L, E> {
    /// The options of a wrapper of element type `E` around `layer_instance`
    /// (whose parameters must be `Tensor<E>`), from Flax's defaults;
    /// `WeightNorm::config` is this for `f32`.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_layers::{LinearConfig, WeightNorm, WeightNormConfig};
    /// use nnx_tensor::Tensor;
    /// let layer = LinearConfig::<f64>::new(3, 4).build(&mut Rngs::new(0))?;
    /// let mut wn: WeightNorm<_, f64> = WeightNormConfig::new(layer).build(&mut Rngs::new(1))?;
    /// assert_eq!(wn.forward(&Tensor::<f64>::full(&[2, 3], 1.0))?.shape(), &[2, 4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(layer_instance: L) -> Self {
        WeightNormConfig {
            layer: layer_instance,
            feature_axes: vec![-1],
            use_scale: true,
            scale_init: ones().into(),
            epsilon: E::from_f64(1e-12),
            variable_filter: "kernel".to_string(),
        }
    }

    /// Sets `feature_axes` (default `[-1]`; `&[]` is Flax's `None`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let wn = nnx_layers::WeightNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).feature_axes(&[]).build(&mut Rngs::new(1))?;
    /// assert_eq!(wn.scales["('kernel',)"].shape(), &[] as &[usize]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn feature_axes(mut self, axes: &[isize]) -> Self {
        self.feature_axes = axes.to_vec();
        self
    }

    /// Sets `use_scale` (default true).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let wn = nnx_layers::WeightNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).use_scale(false).build(&mut Rngs::new(1))?;
    /// assert!(!wn.use_scale);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn use_scale(mut self, use_scale: bool) -> Self {
        self.use_scale = use_scale;
        self
    }

    /// Sets `scale_init` (default `ones`). It receives the `params` stream's
    /// base key without advancing the stream (Flax passes the stream itself,
    /// which only constant initializers accept).
    ///
    /// ```
    /// use nnx_core::{init, prelude::*};
    /// let wn = nnx_layers::WeightNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).scale_init(init::constant(2.0)).build(&mut Rngs::new(1))?;
    /// assert_eq!(wn.scales["('kernel',)"].array().sum(), 8.0);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn scale_init(mut self, init: impl Into<ParamInit<E>>) -> Self {
        self.scale_init = init.into();
        self
    }

    /// Sets `epsilon` (default `1e-12`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let wn = nnx_layers::WeightNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).epsilon(1e-6).build(&mut Rngs::new(1))?;
    /// assert_eq!(wn.epsilon, 1e-6);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn epsilon(mut self, epsilon: E) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Sets the path key of the parameters to normalize (default `"kernel"`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let wn = nnx_layers::WeightNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).variable_filter("bias").build(&mut Rngs::new(1))?;
    /// assert!(wn.scales.contains_key("('bias',)"));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn variable_filter(mut self, key: &str) -> Self {
        self.variable_filter = key.to_string();
        self
    }

    /// Creates the wrapper with a scale per selected parameter.
    ///
    /// # Errors
    /// A negative or non-finite epsilon, feature axes out of a parameter's
    /// range, a selected parameter that is not a Tensor, and a missing
    /// `params` stream when there are scales to create.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let cfg = nnx_layers::WeightNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?);
    /// assert!(cfg.feature_axes(&[2]).build(&mut Rngs::new(1)).is_err()); // the kernel is 2-d
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn build(self, rngs: &mut Rngs) -> Result<WeightNorm<L, E>> {
        check_epsilon("WeightNorm epsilon", self.epsilon)?;
        let mut wn = WeightNorm {
            layer_instance: self.layer,
            scales: BTreeMap::new(),
            feature_axes: self.feature_axes,
            use_scale: self.use_scale,
            epsilon: self.epsilon,
            variable_filter: self.variable_filter,
        };
        for (path, leaf) in wn.selected(&wn.layer_instance) {
            let p = tensor_of::<E>(&path, &leaf, "WeightNorm")?;
            let axes = canonical_axes(&path, &wn.feature_axes, p.ndim())?;
            if wn.use_scale {
                let shape: Vec<usize> = axes.iter().map(|&a| p.shape()[a]).collect();
                let key = rngs.stream("params")?.key();
                let scale = Tensor::from_array(self.scale_init.init(key, &shape)?.raw_value);
                wn.scales.insert(py_tuple_key(&path), Param::new(scale));
            }
        }
        Ok(wn)
    }
}

impl<L: Module> WeightNorm<L> {
    /// A wrapper with Flax's defaults.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let wn = nnx_layers::WeightNorm::new(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
    /// assert_eq!(wn.scales["('kernel',)"].shape(), &[4]);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn new(layer_instance: L, rngs: &mut Rngs) -> Result<Self> {
        WeightNorm::config(layer_instance).build(rngs)
    }

    /// The options, starting from Flax's defaults.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let wn = nnx_layers::WeightNorm::config(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?).build(&mut Rngs::new(1))?;
    /// assert_eq!((wn.feature_axes.as_slice(), wn.epsilon), (&[-1isize][..], 1e-12));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn config(layer_instance: L) -> WeightNormConfig<L> {
        WeightNormConfig::new(layer_instance)
    }
}

impl<L: Module, E: Element> WeightNorm<L, E> {
    /// The parameters of `layer` whose path contains `variable_filter`.
    fn selected(&self, layer: &L) -> Vec<(nnx_core::Path, VariableState)> {
        let key = Key::from(self.variable_filter.clone());
        let mut params = layer.state_of(nnx_core::Param).into_flat();
        params.retain(|(path, _)| path.contains(&key));
        params
    }

    /// The selected parameters of `layer`, normalized.
    fn normalized(&self, layer: &L) -> Result<State> {
        let mut out = Vec::new();
        for (path, leaf) in self.selected(layer) {
            let p = tensor_of::<E>(&path, &leaf, "WeightNorm")?;
            let axes = canonical_axes(&path, &self.feature_axes, p.ndim())?;
            let reduce: Vec<isize> = (0..p.ndim())
                .filter(|a| !axes.contains(a))
                .map(|a| a as isize)
                .collect();
            let mut v = l2_normalize(&p, &reduce, self.epsilon)?;
            if self.use_scale {
                let name = py_tuple_key(&path);
                let scale = self.scales.get(&name).ok_or_else(|| Error::MissingPath {
                    path: format!("scales/{name}").into(),
                    expected:
                        "the scale of a parameter of the layer (its parameters may not change)"
                            .into(),
                })?;
                let shape: Vec<usize> = (0..p.ndim())
                    .map(|a| if axes.contains(&a) { p.shape()[a] } else { 1 })
                    .collect();
                v = (&v * &scale.reshape(&shape)?)?;
            }
            out.push((path, leaf.with_value(std::sync::Arc::new(v))));
        }
        State::from_flat(out)
    }
}

impl<L: Module + Forward<E>, E: Element> WeightNorm<L, E> {
    /// Normalizes the selected parameters, writes them into the layer (as Flax
    /// does: after the call the layer holds the normalized kernel) and calls it.
    /// Differentiable: gradients reach the raw parameters through the
    /// normalization, and the scales.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::Tensor;
    /// let mut wn = nnx_layers::WeightNorm::new(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
    /// let x = Tensor::ones(&[2, 3]);
    /// let y = wn.forward(&x)?;
    /// // The layer now holds the normalized kernel, which normalizes to itself.
    /// let again = wn.forward(&x)?;
    /// assert!(y.array().iter().zip(again.array()).all(|(a, b)| (a - b).abs() < 1e-6));
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let normalized = self.normalized(&self.layer_instance)?;
        self.layer_instance.update(normalized)?;
        self.layer_instance.forward(x).recorded(self, x)
    }

    /// [`forward`](WeightNorm::forward) from a shared reference: the same
    /// output, computed on a copy of the layer sharing its buffers (the layer
    /// keeps its raw parameters).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_tensor::Tensor;
    /// let mut wn = nnx_layers::WeightNorm::new(nnx_layers::Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?;
    /// let x = Tensor::ones(&[2, 3]);
    /// assert_eq!(wn.apply(&x)?, wn.forward(&x)?);
    /// # Ok::<(), nnx_core::Error>(())
    /// ```
    pub fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        let mut layer: L = self
            .layer_instance
            .graphdef()
            .merge(self.layer_instance.state())?;
        layer.update(self.normalized(&layer)?)?;
        layer.apply(x).recorded(self, x)
    }
}

/// A WeightNorm is a layer (in a `Sequential`, say), through its inherent
/// `forward` and `apply`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_layers::{Forward, Linear, WeightNorm};
/// use nnx_tensor::Tensor;
/// let mut layer: Box<dyn Forward> = Box::new(WeightNorm::new(Linear::new(3, 4, &mut Rngs::new(0))?, &mut Rngs::new(1))?);
/// assert_eq!(layer.forward(&Tensor::ones(&[2, 3]))?.shape(), &[2, 4]);
/// # Ok::<(), nnx_core::Error>(())
/// ```
impl<L: Module + Forward<E>, E: Element> Forward<E> for WeightNorm<L, E> {
    fn forward(&mut self, x: &Tensor<E>) -> Result<Tensor<E>> {
        WeightNorm::forward(self, x)
    }
    fn apply(&self, x: &Tensor<E>) -> Result<Tensor<E>> {
        WeightNorm::apply(self, x)
    }
}
