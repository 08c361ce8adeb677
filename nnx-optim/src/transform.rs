//! optax's gradient transformations over the parameters of a State, with
//! optax's formulas in f32: `init` builds the state, `update` turns gradients
//! into updates in place and returns the next state (the old one is left as it
//! was, so a failed update changes nothing).

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, Zip};
use nnx_core::filter::Filter;
use nnx_core::{Error, Key, Result, VariableState};
use nnx_tensor::Tensor;

use crate::schedule::ScalarOrSchedule;
use crate::state::{tensors, TransformState};

/// One parameter as a transformation sees it: its path, its Variable state
/// (type and metadata, for masks) and its value.
///
/// ```
/// use nnx_core::{Key, Param, VariableState};
/// use nnx_optim::optax::Leaf;
/// let var = VariableState::new(Param, ndarray::arr1(&[1.0f32]).into_dyn());
/// let path = vec![Key::from("w")];
/// let leaf = Leaf::new(&path, &var).unwrap();
/// assert_eq!(leaf.value.len(), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Leaf<'a> {
    /// The parameter's path.
    pub path: &'a [Key],
    /// Its Variable state.
    pub var: &'a VariableState,
    /// Its value as an f32 view.
    pub value: ArrayViewD<'a, f32>,
}

impl<'a> Leaf<'a> {
    /// The leaf of a float32 Variable; an error naming the path otherwise.
    ///
    /// ```
    /// use nnx_core::{Key, Param, VariableState};
    /// let var = VariableState::new(Param, 3u32);
    /// assert!(nnx_optim::optax::Leaf::new(&[Key::from("n")], &var).is_err());
    /// ```
    pub fn new(path: &'a [Key], var: &'a VariableState) -> Result<Leaf<'a>> {
        match var.value.array_ref() {
            Some(nnx_core::value::ArrayRef::F32(value)) => Ok(Leaf { path, var, value }),
            _ => Err(Error::DTypeMismatch {
                path: nnx_core::path_string(path).into(),
                expected: "a float32 array (optimizers update float32 parameters)".into(),
                found: var.value.type_name().into(),
            }),
        }
    }
}

/// optax's `GradientTransformation`: `init(params)` and
/// `update(updates, state, params)`, over the parameters in path order.
///
/// ```
/// use nnx_optim::optax::{self, GradientTransformation};
/// use nnx_core::{Key, Param, VariableState};
/// let var = VariableState::new(Param, ndarray::arr1(&[1.0f32]).into_dyn());
/// let path = vec![Key::from("w")];
/// let params = [optax::Leaf::new(&path, &var).unwrap()];
/// let tx = optax::sgd(0.1);
/// let state = tx.init(&params);
/// let mut updates = vec![ndarray::arr1(&[2.0f32]).into_dyn()];
/// let _next = tx.update(&mut updates, &state, &params).unwrap();
/// assert_eq!(updates[0], ndarray::arr1(&[-0.2f32]).into_dyn());
/// ```
pub trait GradientTransformation: Send + Sync {
    /// The initial state for `params`.
    fn init(&self, params: &[Leaf<'_>]) -> TransformState;

    /// Transforms `updates` (one array per parameter, in place) and returns the
    /// next state. Errors leave `state` valid (it is not modified).
    fn update(
        &self,
        updates: &mut [ArrayD<f32>],
        state: &TransformState,
        params: &[Leaf<'_>],
    ) -> Result<TransformState>;
}

impl<T: GradientTransformation + ?Sized> GradientTransformation for Box<T> {
    fn init(&self, params: &[Leaf<'_>]) -> TransformState {
        (**self).init(params)
    }
    fn update(
        &self,
        updates: &mut [ArrayD<f32>],
        state: &TransformState,
        params: &[Leaf<'_>],
    ) -> Result<TransformState> {
        (**self).update(updates, state, params)
    }
}

/// f32 of a Python float hyperparameter, as JAX's weak typing rounds it.
fn f(x: f64) -> f32 {
    x as f32
}

/// optax's `safe_increment` on an int32 counter.
fn inc(c: i32) -> i32 {
    c.saturating_add(1)
}

fn count_node(c: i32) -> TransformState {
    TransformState::Node(vec![(Key::from("count"), TransformState::Count(c))])
}

fn zeros_like(params: &[Leaf<'_>], value: f32) -> TransformState {
    TransformState::PerParam(
        params
            .iter()
            .map(|p| Tensor::new(ArrayD::from_elem(p.value.raw_dim(), value)))
            .collect(),
    )
}

/// Checks there is one update per parameter, of the parameter's shape.
fn check_updates(updates: &[ArrayD<f32>], params: &[Leaf<'_>], owner: &str) -> Result<()> {
    if updates.len() != params.len() {
        return Err(Error::invalid_argument(
            owner,
            format!("{} updates (one per parameter)", params.len()),
            updates.len().to_string(),
        ));
    }
    for (u, p) in updates.iter().zip(params) {
        if u.shape() != p.value.shape() {
            return Err(Error::ShapeMismatch {
                path: nnx_core::path_string(p.path).into(),
                expected: nnx_core::repr::fmt_tuple_usize(p.value.shape()),
                found: nnx_core::repr::fmt_tuple_usize(u.shape()),
            });
        }
    }
    Ok(())
}

/// A scalar or the schedule's value at `count`, checked to be a number.
fn value_at(x: &ScalarOrSchedule, count: i32, what: &str) -> Result<f32> {
    let v = match x {
        ScalarOrSchedule::Scalar(v) => f(*v),
        ScalarOrSchedule::Schedule(s) => s.eval(count),
    };
    if v.is_nan() {
        return Err(Error::invalid_argument(
            what,
            "a number",
            format!("NaN at step {count}"),
        ));
    }
    Ok(v)
}

/// `1 - decay^count` (optax's bias correction denominator).
fn bias_correction(decay: f64, count: i32) -> f32 {
    1.0 - f(decay).powf(count as f32)
}

/// optax's `identity()`: updates unchanged, no state.
///
/// ```
/// use nnx_optim::optax::{identity, GradientTransformation};
/// assert_eq!(identity().init(&[]), nnx_optim::TransformState::Empty);
/// ```
pub fn identity() -> Identity {
    Identity
}

/// See [`identity`].
///
/// ```
/// let _ = nnx_optim::optax::Identity;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Identity;

impl GradientTransformation for Identity {
    fn init(&self, _: &[Leaf<'_>]) -> TransformState {
        TransformState::Empty
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "identity")?;
        Ok(s.clone())
    }
}

/// A stateless elementwise transformation (clip, scale).
#[derive(Clone, Copy, Debug)]
enum Elementwise {
    Scale(f64),
    Clip(f64),
}

/// optax's `scale(step_size)`: `updates * step_size`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_optim::optax;
/// let params = vec![Param::new(ndarray::arr1(&[0.0f32]))].state();
/// let grads = vec![Param::new(ndarray::arr1(&[2.0f32]))].state();
/// let tx = optax::scale(-0.5);
/// let s = optax::init(&tx, &params).unwrap();
/// let (updates, _) = optax::update(&tx, &grads, &s, &params).unwrap();
/// assert_eq!(updates.get::<nnx_tensor::Tensor>("0").unwrap().to_array(), ndarray::arr1(&[-1.0f32]).into_dyn());
/// ```
pub fn scale(step_size: f64) -> Stateless {
    Stateless(Elementwise::Scale(step_size))
}

/// optax's `clip(max_delta)`: each update clipped to `[-max_delta, max_delta]`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_optim::optax;
/// let params = vec![Param::new(ndarray::arr1(&[0.0f32, 0.0]))].state();
/// let grads = vec![Param::new(ndarray::arr1(&[3.0f32, -0.5]))].state();
/// let tx = optax::clip(1.0);
/// let (u, _) = optax::update(&tx, &grads, &optax::init(&tx, &params)?, &params)?;
/// assert_eq!(u.get::<nnx_tensor::Tensor>("0")?.to_array(), ndarray::arr1(&[1.0f32, -0.5]).into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn clip(max_delta: f64) -> Stateless {
    Stateless(Elementwise::Clip(max_delta))
}

/// [`scale`] or [`clip`]: a transformation without state.
///
/// ```
/// let _: nnx_optim::optax::Stateless = nnx_optim::optax::scale(2.0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Stateless(Elementwise);

impl GradientTransformation for Stateless {
    fn init(&self, _: &[Leaf<'_>]) -> TransformState {
        TransformState::Empty
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale / clip")?;
        match self.0 {
            Elementwise::Scale(x) => {
                let x = f(x);
                u.iter_mut().for_each(|a| a.mapv_inplace(|g| g * x));
            }
            Elementwise::Clip(m) => {
                let m = f(m);
                u.iter_mut()
                    .for_each(|a| a.mapv_inplace(|g| g.max(-m).min(m)));
            }
        }
        Ok(s.clone())
    }
}

/// optax's `clip_by_global_norm(max_norm)`: if the global norm `g` of all
/// updates is not below `max_norm`, every update becomes `u / g * max_norm`.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_optim::optax;
/// let params = vec![Param::new(ndarray::arr1(&[0.0f32, 0.0]))].state();
/// let grads = vec![Param::new(ndarray::arr1(&[3.0f32, 4.0]))].state(); // norm 5
/// let tx = optax::clip_by_global_norm(1.0);
/// let (u, _) = optax::update(&tx, &grads, &optax::init(&tx, &params)?, &params)?;
/// assert_eq!(u.get::<nnx_tensor::Tensor>("0")?.to_array(), ndarray::arr1(&[0.6f32, 0.8]).into_dyn());
/// # Ok::<(), nnx_core::Error>(())
/// ```
pub fn clip_by_global_norm(max_norm: f64) -> ClipByGlobalNorm {
    ClipByGlobalNorm { max_norm }
}

/// See [`clip_by_global_norm`].
///
/// ```
/// assert_eq!(nnx_optim::optax::clip_by_global_norm(2.0).max_norm, 2.0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ClipByGlobalNorm {
    /// The largest global norm let through unchanged.
    pub max_norm: f64,
}

/// The global L2 norm of arrays: per-array sums of squares, summed in order.
pub(crate) fn global_norm<'a>(arrays: impl Iterator<Item = ArrayViewD<'a, f32>>) -> f32 {
    arrays
        .map(|a| a.iter().map(|x| x * x).sum::<f32>())
        .sum::<f32>()
        .sqrt()
}

impl GradientTransformation for ClipByGlobalNorm {
    fn init(&self, _: &[Leaf<'_>]) -> TransformState {
        TransformState::Empty
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "clip_by_global_norm")?;
        let g = global_norm(u.iter().map(|a| a.view()));
        let m = f(self.max_norm);
        // optax clips unless g < max_norm, so a NaN norm clips (to NaN) too.
        if g.is_nan() || g >= m {
            u.iter_mut().for_each(|a| a.mapv_inplace(|t| t / g * m));
        }
        Ok(s.clone())
    }
}

/// optax's `trace(decay, nesterov)` (momentum): `t = g + decay * t`; the update
/// is `t` (or `g + decay * t` with Nesterov). State `trace`.
///
/// ```
/// let _tx = nnx_optim::optax::trace(0.9, false);
/// ```
pub fn trace(decay: f64, nesterov: bool) -> Trace {
    Trace { decay, nesterov }
}

/// See [`trace`].
///
/// ```
/// assert!(nnx_optim::optax::trace(0.9, true).nesterov);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Trace {
    /// The momentum decay.
    pub decay: f64,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl GradientTransformation for Trace {
    fn init(&self, params: &[Leaf<'_>]) -> TransformState {
        TransformState::Node(vec![(Key::from("trace"), zeros_like(params, 0.0))])
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "trace")?;
        let old = s.field("trace", "trace")?.per_param(u.len(), "trace")?;
        let d = f(self.decay);
        let mut new = Vec::with_capacity(u.len());
        for (g, t) in u.iter_mut().zip(old) {
            let nt = Zip::from(&*g)
                .and(t.array())
                .map_collect(|&g, &t| g + d * t);
            if self.nesterov {
                Zip::from(&mut *g).and(&nt).for_each(|g, &t| *g += d * t);
            } else {
                g.assign(&nt);
            }
            new.push(nt);
        }
        Ok(TransformState::Node(vec![(
            Key::from("trace"),
            TransformState::PerParam(tensors(new)),
        )]))
    }
}

/// optax's `scale_by_adam`: Adam's preconditioner, `m̂ / (sqrt(v̂ + eps_root) + eps)`
/// with bias correction by division. State `count`, `mu`, `nu`.
///
/// ```
/// let tx = nnx_optim::optax::scale_by_adam(0.9, 0.999, 1e-8, 0.0, false);
/// assert_eq!(tx.b1, 0.9);
/// ```
pub fn scale_by_adam(b1: f64, b2: f64, eps: f64, eps_root: f64, nesterov: bool) -> ScaleByAdam {
    ScaleByAdam {
        b1,
        b2,
        eps,
        eps_root,
        nesterov,
    }
}

/// See [`scale_by_adam`].
///
/// ```
/// assert!(!nnx_optim::optax::scale_by_adam(0.9, 0.999, 1e-8, 0.0, false).nesterov);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ScaleByAdam {
    /// First-moment decay.
    pub b1: f64,
    /// Second-moment decay.
    pub b2: f64,
    /// Added outside the square root.
    pub eps: f64,
    /// Added inside the square root.
    pub eps_root: f64,
    /// Nesterov momentum (NAdam).
    pub nesterov: bool,
}

impl GradientTransformation for ScaleByAdam {
    fn init(&self, params: &[Leaf<'_>]) -> TransformState {
        TransformState::Node(vec![
            (Key::from("count"), TransformState::Count(0)),
            (Key::from("mu"), zeros_like(params, 0.0)),
            (Key::from("nu"), zeros_like(params, 0.0)),
        ])
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_adam")?;
        let n = u.len();
        let count = inc(s.field("count", "scale_by_adam")?.count("scale_by_adam")?);
        let (mu0, nu0) = (
            s.field("mu", "scale_by_adam")?
                .per_param(n, "scale_by_adam")?,
            s.field("nu", "scale_by_adam")?
                .per_param(n, "scale_by_adam")?,
        );
        let (b1, b2, omb1, omb2) = (f(self.b1), f(self.b2), f(1.0 - self.b1), f(1.0 - self.b2));
        let (eps, eps_root) = (f(self.eps), f(self.eps_root));
        let bc1 = bias_correction(self.b1, count);
        let bc1_next = bias_correction(self.b1, inc(count));
        let bc2 = bias_correction(self.b2, count);
        let (mut mus, mut nus) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for ((g, mu), nu) in u.iter_mut().zip(mu0).zip(nu0) {
            let m = Zip::from(&*g)
                .and(mu.array())
                .map_collect(|&g, &m| omb1 * g + b1 * m);
            let v = Zip::from(&*g)
                .and(nu.array())
                .map_collect(|&g, &v| omb2 * (g * g) + b2 * v);
            Zip::from(&mut *g).and(&m).and(&v).for_each(|g, &m, &v| {
                let m_hat = if self.nesterov {
                    b1 * (m / bc1_next) + omb1 * (*g / bc1)
                } else {
                    m / bc1
                };
                *g = m_hat / ((v / bc2 + eps_root).sqrt() + eps);
            });
            mus.push(m);
            nus.push(v);
        }
        Ok(TransformState::Node(vec![
            (Key::from("count"), TransformState::Count(count)),
            (Key::from("mu"), TransformState::PerParam(tensors(mus))),
            (Key::from("nu"), TransformState::PerParam(tensors(nus))),
        ]))
    }
}

/// optax's `scale_by_rms`: `g / sqrt(nu + eps)` (or `g / (sqrt(nu) + eps)`),
/// `nu` an exponential average of `g²` starting at `initial_scale`, optionally
/// bias-corrected. State `nu` (and `count` with bias correction).
///
/// ```
/// let tx = nnx_optim::optax::scale_by_rms(0.9, 1e-8, 0.0, true, false);
/// assert_eq!(tx.decay, 0.9);
/// ```
pub fn scale_by_rms(
    decay: f64,
    eps: f64,
    initial_scale: f64,
    eps_in_sqrt: bool,
    bias_correction: bool,
) -> ScaleByRms {
    ScaleByRms {
        decay,
        eps,
        initial_scale,
        eps_in_sqrt,
        bias_correction,
    }
}

/// See [`scale_by_rms`].
///
/// ```
/// assert!(nnx_optim::optax::scale_by_rms(0.9, 1e-8, 0.0, true, false).eps_in_sqrt);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ScaleByRms {
    /// Decay of the squared-gradient average.
    pub decay: f64,
    /// Epsilon.
    pub eps: f64,
    /// Initial value of `nu`.
    pub initial_scale: f64,
    /// Epsilon inside the square root.
    pub eps_in_sqrt: bool,
    /// Bias-correct `nu` (adds a `count`).
    pub bias_correction: bool,
}

impl GradientTransformation for ScaleByRms {
    fn init(&self, params: &[Leaf<'_>]) -> TransformState {
        let nu = (Key::from("nu"), zeros_like(params, f(self.initial_scale)));
        if self.bias_correction {
            TransformState::Node(vec![(Key::from("count"), TransformState::Count(0)), nu])
        } else {
            TransformState::Node(vec![nu])
        }
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_rms")?;
        let nu0 = s
            .field("nu", "scale_by_rms")?
            .per_param(u.len(), "scale_by_rms")?;
        let count = if self.bias_correction {
            inc(s.field("count", "scale_by_rms")?.count("scale_by_rms")?)
        } else {
            0
        };
        let bc = if self.bias_correction {
            bias_correction(self.decay, count)
        } else {
            1.0
        };
        let (d, omd, eps) = (f(self.decay), f(1.0 - self.decay), f(self.eps));
        let mut nus = Vec::with_capacity(u.len());
        for (g, nu) in u.iter_mut().zip(nu0) {
            let v = Zip::from(&*g)
                .and(nu.array())
                .map_collect(|&g, &v| omd * (g * g) + d * v);
            Zip::from(&mut *g).and(&v).for_each(|g, &v| {
                let n = if self.bias_correction { v / bc } else { v };
                let scaling = if self.eps_in_sqrt {
                    1.0 / (n + eps).sqrt()
                } else {
                    1.0 / (n.sqrt() + eps)
                };
                *g *= scaling;
            });
            nus.push(v);
        }
        let nu = (Key::from("nu"), TransformState::PerParam(tensors(nus)));
        Ok(if self.bias_correction {
            TransformState::Node(vec![(Key::from("count"), TransformState::Count(count)), nu])
        } else {
            TransformState::Node(vec![nu])
        })
    }
}

/// optax's `scale_by_rss` (Adagrad): `g / sqrt(sum_of_squares + eps)` where the
/// sum of squares is positive, 0 elsewhere. State `sum_of_squares`.
///
/// ```
/// assert_eq!(nnx_optim::optax::scale_by_rss(0.1, 1e-7).initial_accumulator_value, 0.1);
/// ```
pub fn scale_by_rss(initial_accumulator_value: f64, eps: f64) -> ScaleByRss {
    ScaleByRss {
        initial_accumulator_value,
        eps,
    }
}

/// See [`scale_by_rss`].
///
/// ```
/// assert_eq!(nnx_optim::optax::scale_by_rss(0.1, 1e-7).eps, 1e-7);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ScaleByRss {
    /// Initial sum of squares.
    pub initial_accumulator_value: f64,
    /// Epsilon inside the square root.
    pub eps: f64,
}

impl GradientTransformation for ScaleByRss {
    fn init(&self, params: &[Leaf<'_>]) -> TransformState {
        TransformState::Node(vec![(
            Key::from("sum_of_squares"),
            zeros_like(params, f(self.initial_accumulator_value)),
        )])
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_rss")?;
        let old = s
            .field("sum_of_squares", "scale_by_rss")?
            .per_param(u.len(), "scale_by_rss")?;
        let eps = f(self.eps);
        let mut new = Vec::with_capacity(u.len());
        for (g, t) in u.iter_mut().zip(old) {
            let sos = Zip::from(&*g)
                .and(t.array())
                .map_collect(|&g, &t| g * g + t);
            Zip::from(&mut *g).and(&sos).for_each(|g, &s| {
                *g *= if s > 0.0 { 1.0 / (s + eps).sqrt() } else { 0.0 };
            });
            new.push(sos);
        }
        Ok(TransformState::Node(vec![(
            Key::from("sum_of_squares"),
            TransformState::PerParam(tensors(new)),
        )]))
    }
}

/// optax's `scale_by_lion`: `sign((1 - b1) g + b1 mu)`, `mu` an exponential
/// average of `g` with `b2`. State `count`, `mu`.
///
/// ```
/// assert_eq!(nnx_optim::optax::scale_by_lion(0.9, 0.99).b2, 0.99);
/// ```
pub fn scale_by_lion(b1: f64, b2: f64) -> ScaleByLion {
    ScaleByLion { b1, b2 }
}

/// See [`scale_by_lion`].
///
/// ```
/// assert_eq!(nnx_optim::optax::scale_by_lion(0.9, 0.99).b1, 0.9);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ScaleByLion {
    /// Interpolation for the update's sign.
    pub b1: f64,
    /// Decay of the momentum.
    pub b2: f64,
}

/// `jnp.sign`: 0 at 0 (Rust's `signum` gives 1).
fn sign(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

impl GradientTransformation for ScaleByLion {
    fn init(&self, params: &[Leaf<'_>]) -> TransformState {
        TransformState::Node(vec![
            (Key::from("count"), TransformState::Count(0)),
            (Key::from("mu"), zeros_like(params, 0.0)),
        ])
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_lion")?;
        let count = inc(s.field("count", "scale_by_lion")?.count("scale_by_lion")?);
        let mu0 = s
            .field("mu", "scale_by_lion")?
            .per_param(u.len(), "scale_by_lion")?;
        let (b1, omb1, b2, omb2) = (f(self.b1), f(1.0 - self.b1), f(self.b2), f(1.0 - self.b2));
        let mut mus = Vec::with_capacity(u.len());
        for (g, mu) in u.iter_mut().zip(mu0) {
            let m = Zip::from(&*g)
                .and(mu.array())
                .map_collect(|&g, &m| omb2 * g + b2 * m);
            Zip::from(&mut *g)
                .and(mu.array())
                .for_each(|g, &m| *g = sign(omb1 * *g + b1 * m));
            mus.push(m);
        }
        Ok(TransformState::Node(vec![
            (Key::from("count"), TransformState::Count(count)),
            (Key::from("mu"), TransformState::PerParam(tensors(mus))),
        ]))
    }
}

/// optax's `scale_by_trust_ratio` (LAMB's layer-wise scaling, defaults
/// `min_norm = 0`, `trust_coefficient = 1`, `eps = 0`): each update times
/// `‖param‖ / ‖update‖`, or 1 where either norm is 0.
///
/// ```
/// let _tx = nnx_optim::optax::scale_by_trust_ratio();
/// ```
pub fn scale_by_trust_ratio() -> ScaleByTrustRatio {
    ScaleByTrustRatio
}

/// See [`scale_by_trust_ratio`].
///
/// ```
/// let _ = nnx_optim::optax::ScaleByTrustRatio;
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ScaleByTrustRatio;

impl GradientTransformation for ScaleByTrustRatio {
    fn init(&self, _: &[Leaf<'_>]) -> TransformState {
        TransformState::Empty
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_trust_ratio")?;
        for (g, param) in u.iter_mut().zip(p) {
            let pn = global_norm(std::iter::once(param.value.view()));
            let un = global_norm(std::iter::once(g.view()));
            let ratio = if pn == 0.0 || un == 0.0 { 1.0 } else { pn / un };
            g.mapv_inplace(|x| x * ratio);
        }
        Ok(s.clone())
    }
}

/// optax's `add_decayed_weights(weight_decay)`: `g + weight_decay * param`. A
/// scheduled weight decay keeps a `count`. Mask it with [`masked`].
///
/// ```
/// let _tx = nnx_optim::optax::add_decayed_weights(1e-4);
/// ```
pub fn add_decayed_weights(weight_decay: impl Into<ScalarOrSchedule>) -> AddDecayedWeights {
    AddDecayedWeights {
        weight_decay: weight_decay.into(),
    }
}

/// See [`add_decayed_weights`].
///
/// ```
/// let tx = nnx_optim::optax::add_decayed_weights(1e-4);
/// assert!(matches!(tx.weight_decay, nnx_optim::optax::ScalarOrSchedule::Scalar(_)));
/// ```
#[derive(Clone, Debug)]
pub struct AddDecayedWeights {
    /// The decay rate.
    pub weight_decay: ScalarOrSchedule,
}

impl GradientTransformation for AddDecayedWeights {
    fn init(&self, _: &[Leaf<'_>]) -> TransformState {
        match self.weight_decay {
            ScalarOrSchedule::Schedule(_) => count_node(0),
            ScalarOrSchedule::Scalar(_) => TransformState::Empty,
        }
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "add_decayed_weights")?;
        let (count, next) = match self.weight_decay {
            ScalarOrSchedule::Schedule(_) => {
                let c = s
                    .field("count", "add_decayed_weights")?
                    .count("add_decayed_weights")?;
                (c, count_node(inc(c)))
            }
            ScalarOrSchedule::Scalar(_) => (0, s.clone()),
        };
        if matches!(self.weight_decay, ScalarOrSchedule::Scalar(w) if w == 0.0) {
            return Ok(next);
        }
        let wd = value_at(&self.weight_decay, count, "weight_decay")?;
        for (g, param) in u.iter_mut().zip(p) {
            Zip::from(g)
                .and(&param.value)
                .for_each(|g, &p| *g += wd * p);
        }
        Ok(next)
    }
}

/// optax's `scale_by_learning_rate(lr)`: `updates * -lr` (a schedule is asked at
/// its own `count`, which this transformation keeps). A NaN rate is an error.
///
/// ```
/// use nnx_optim::optax::{self, GradientTransformation};
/// assert_eq!(optax::scale_by_learning_rate(0.1).init(&[]), optax::TransformState::Empty);
/// ```
pub fn scale_by_learning_rate(learning_rate: impl Into<ScalarOrSchedule>) -> ScaleByLearningRate {
    ScaleByLearningRate {
        learning_rate: learning_rate.into(),
        flip_sign: true,
    }
}

/// optax's `scale_by_schedule(schedule)`: `updates * schedule(count)`.
///
/// ```
/// let _tx = nnx_optim::optax::scale_by_schedule(nnx_optim::optax::constant_schedule(2.0));
/// ```
pub fn scale_by_schedule(schedule: crate::schedule::Schedule) -> ScaleByLearningRate {
    ScaleByLearningRate {
        learning_rate: schedule.into(),
        flip_sign: false,
    }
}

/// See [`scale_by_learning_rate`].
///
/// ```
/// assert!(nnx_optim::optax::scale_by_learning_rate(0.1).flip_sign);
/// ```
#[derive(Clone, Debug)]
pub struct ScaleByLearningRate {
    /// The rate.
    pub learning_rate: ScalarOrSchedule,
    /// Multiply by `-rate` (descent) rather than `rate`.
    pub flip_sign: bool,
}

impl GradientTransformation for ScaleByLearningRate {
    fn init(&self, _: &[Leaf<'_>]) -> TransformState {
        match self.learning_rate {
            ScalarOrSchedule::Schedule(_) => count_node(0),
            ScalarOrSchedule::Scalar(_) => TransformState::Empty,
        }
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_learning_rate")?;
        let sign = if self.flip_sign { -1.0 } else { 1.0 };
        let (step, next) = match &self.learning_rate {
            ScalarOrSchedule::Scalar(lr) => (f(sign * lr), s.clone()),
            ScalarOrSchedule::Schedule(_) => {
                let c = s
                    .field("count", "scale_by_learning_rate")?
                    .count("scale_by_learning_rate")?;
                (
                    sign as f32 * value_at(&self.learning_rate, c, "learning_rate")?,
                    count_node(inc(c)),
                )
            }
        };
        if step.is_nan() {
            return Err(Error::invalid_argument("learning_rate", "a number", "NaN"));
        }
        u.iter_mut().for_each(|a| a.mapv_inplace(|g| step * g));
        Ok(next)
    }
}

/// Which parameters a [`masked`] transformation applies to: a [`Filter`]
/// (Variable types, paths, ...) or a predicate on each parameter's path and
/// Variable state (optax's mask function).
///
/// ```
/// use nnx_optim::optax::Mask;
/// let not_bias = Mask::predicate(|path, _| path.last().map_or(true, |k| k.to_string() != "bias"));
/// let params = Mask::filter(nnx_core::Param);
/// # let _ = (not_bias, params);
/// ```
#[derive(Clone)]
pub struct Mask(Arc<MaskFn>);

/// A per-parameter predicate on path and Variable state.
type MaskFn = dyn Fn(&[Key], &VariableState) -> bool + Send + Sync;

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mask(..)")
    }
}

impl Mask {
    /// A mask selecting the parameters that match `filter`.
    ///
    /// ```
    /// let _m = nnx_optim::optax::Mask::filter(nnx_core::Param);
    /// ```
    pub fn filter(filter: impl Filter + 'static) -> Mask {
        Mask(Arc::new(move |path, var| filter.matches(path, var)))
    }

    /// A mask selecting the parameters for which `f(path, variable)` holds.
    ///
    /// ```
    /// let _m = nnx_optim::optax::Mask::predicate(|_, var| var.value.shape_of().map_or(false, |s| s.len() > 1));
    /// ```
    pub fn predicate(f: impl Fn(&[Key], &VariableState) -> bool + Send + Sync + 'static) -> Mask {
        Mask(Arc::new(f))
    }

    fn select(&self, params: &[Leaf<'_>]) -> Vec<usize> {
        params
            .iter()
            .enumerate()
            .filter(|(_, p)| (self.0)(p.path, p.var))
            .map(|(i, _)| i)
            .collect()
    }
}

/// optax's `masked(inner, mask)`: `inner` applied to the selected parameters
/// only; the others' updates pass unchanged. State `inner_state`, holding the
/// inner state over the selected parameters.
///
/// ```
/// use nnx_optim::optax::{self, Mask};
/// let _tx = optax::masked(optax::add_decayed_weights(1e-4), Mask::filter(nnx_core::Param));
/// ```
pub fn masked<T: GradientTransformation>(inner: T, mask: Mask) -> Masked<T> {
    Masked { inner, mask }
}

/// See [`masked`].
///
/// ```
/// use nnx_optim::optax::{self, Mask};
/// let m = optax::masked(optax::scale(2.0), Mask::filter(nnx_core::Param));
/// let _inner: &optax::Stateless = &m.inner;
/// ```
#[derive(Clone, Debug)]
pub struct Masked<T> {
    /// The masked transformation.
    pub inner: T,
    /// Which parameters it sees.
    pub mask: Mask,
}

impl<T: GradientTransformation> GradientTransformation for Masked<T> {
    fn init(&self, params: &[Leaf<'_>]) -> TransformState {
        let idx = self.mask.select(params);
        let sub: Vec<Leaf<'_>> = idx.iter().filter_map(|&i| params.get(i).cloned()).collect();
        let inner = self.inner.init(&sub);
        TransformState::Node(vec![(
            Key::from("inner_state"),
            TransformState::Subset(idx, Box::new(inner)),
        )])
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "masked")?;
        let idx = self.mask.select(p);
        let inner = match s.field("inner_state", "masked")? {
            TransformState::Subset(stored, inner) if *stored == idx => inner,
            other => {
                return Err(Error::invalid_argument(
                    "masked",
                    "the parameters selected at init",
                    format!("{idx:?} now, state {:.60}", format!("{other:?}")),
                ))
            }
        };
        let sub: Vec<Leaf<'_>> = idx.iter().filter_map(|&i| p.get(i).cloned()).collect();
        let mut sub_updates: Vec<ArrayD<f32>> =
            idx.iter().map(|&i| std::mem::take(&mut u[i])).collect();
        let result = self.inner.update(&mut sub_updates, inner, &sub);
        // Put the (transformed, or on error untouched) updates back.
        for (&i, a) in idx.iter().zip(sub_updates) {
            u[i] = a;
        }
        let next = result?;
        Ok(TransformState::Node(vec![(
            Key::from("inner_state"),
            TransformState::Subset(idx, Box::new(next)),
        )]))
    }
}

/// optax's `chain(*transforms)`: applies them in order. State: a tuple with one
/// state per transformation (integer keys; stateless ones leave no leaves).
///
/// ```
/// use nnx_optim::optax::{self, GradientTransformation};
/// let tx = optax::chain(vec![Box::new(optax::clip(1.0)), Box::new(optax::sgd(0.1))]);
/// assert_eq!(tx.0.len(), 2);
/// ```
pub fn chain(transforms: Vec<Box<dyn GradientTransformation>>) -> Chain {
    Chain(transforms)
}

/// See [`chain`].
///
/// ```
/// let c = nnx_optim::optax::Chain(vec![]);
/// assert!(c.0.is_empty());
/// ```
pub struct Chain(pub Vec<Box<dyn GradientTransformation>>);

impl GradientTransformation for Chain {
    fn init(&self, params: &[Leaf<'_>]) -> TransformState {
        TransformState::Node(
            self.0
                .iter()
                .enumerate()
                .map(|(i, t)| (Key::from(i), t.init(params)))
                .collect(),
        )
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        let items = match s {
            TransformState::Node(items) if items.len() == self.0.len() => items,
            other => {
                return Err(Error::invalid_argument(
                    "chain",
                    format!("a state with {} items", self.0.len()),
                    format!("{:.60}", format!("{other:?}")),
                ))
            }
        };
        let mut next = Vec::with_capacity(items.len());
        for (t, (k, st)) in self.0.iter().zip(items) {
            next.push((k.clone(), t.update(u, st, p)?));
        }
        Ok(TransformState::Node(next))
    }
}

/// optax's `MultiSteps(inner, every_k)`: gradient accumulation. Gradients are
/// averaged (or summed) over `every_k` calls; every `every_k`-th call runs
/// `inner` on the average and emits its updates, the others emit zeros. State
/// `mini_step`, `gradient_step`, `inner_opt_state`, `acc_grads`.
///
/// ```
/// let tx = nnx_optim::optax::MultiSteps::new(nnx_optim::optax::sgd(0.1), 4);
/// assert_eq!(tx.every_k, 4);
/// ```
pub struct MultiSteps<T> {
    /// The transformation run on the accumulated gradient.
    pub inner: T,
    /// Steps accumulated per update (at least 1).
    pub every_k: i32,
    /// Average (optax's default) rather than sum.
    pub use_grad_mean: bool,
}

impl<T: GradientTransformation> MultiSteps<T> {
    /// Accumulates `every_k` (at least 1) gradients per update of `inner`,
    /// averaging them.
    ///
    /// ```
    /// let tx = nnx_optim::optax::MultiSteps::new(nnx_optim::optax::sgd(0.1), 0);
    /// assert_eq!(tx.every_k, 1);
    /// ```
    pub fn new(inner: T, every_k: i32) -> MultiSteps<T> {
        MultiSteps {
            inner,
            every_k: every_k.max(1),
            use_grad_mean: true,
        }
    }
}

impl<T: GradientTransformation> GradientTransformation for MultiSteps<T> {
    fn init(&self, params: &[Leaf<'_>]) -> TransformState {
        TransformState::Node(vec![
            (Key::from("acc_grads"), zeros_like(params, 0.0)),
            (Key::from("gradient_step"), TransformState::Count(0)),
            (Key::from("inner_opt_state"), self.inner.init(params)),
            (Key::from("mini_step"), TransformState::Count(0)),
            (Key::from("skip_state"), TransformState::Empty),
        ])
    }
    fn update(
        &self,
        u: &mut [ArrayD<f32>],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "MultiSteps")?;
        let mini = s.field("mini_step", "MultiSteps")?.count("MultiSteps")?;
        let gstep = s
            .field("gradient_step", "MultiSteps")?
            .count("MultiSteps")?;
        let acc0 = s
            .field("acc_grads", "MultiSteps")?
            .per_param(u.len(), "MultiSteps")?;
        let inner0 = s.field("inner_opt_state", "MultiSteps")?;
        let n = mini.saturating_add(1) as f32;
        let mut acc: Vec<ArrayD<f32>> = u
            .iter()
            .zip(acc0)
            .map(|(g, a)| {
                Zip::from(g).and(a.array()).map_collect(|&g, &a| {
                    if self.use_grad_mean {
                        a + (g - a) / n
                    } else {
                        g + a
                    }
                })
            })
            .collect();
        let emit = mini == self.every_k - 1;
        let mut inner_updates = acc.clone();
        let inner_next = self.inner.update(&mut inner_updates, inner0, p)?;
        for (g, new) in u.iter_mut().zip(inner_updates) {
            if emit {
                *g = new;
            } else {
                g.fill(0.0);
            }
        }
        if emit {
            acc.iter_mut().for_each(|a| a.fill(0.0));
        }
        Ok(TransformState::Node(vec![
            (
                Key::from("acc_grads"),
                TransformState::PerParam(tensors(acc)),
            ),
            (
                Key::from("gradient_step"),
                TransformState::Count(if emit { inc(gstep) } else { gstep }),
            ),
            (
                Key::from("inner_opt_state"),
                if emit { inner_next } else { inner0.clone() },
            ),
            (
                Key::from("mini_step"),
                TransformState::Count(inc(mini) % self.every_k),
            ),
            (Key::from("skip_state"), TransformState::Empty),
        ]))
    }
}
