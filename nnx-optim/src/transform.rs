//! optax's gradient transformations over the parameters of a State, with
//! optax's formulas, each parameter's in its own dtype (f32 as optax computes
//! under JAX's default 32-bit mode, f64 as under `jax_enable_x64`): `init`
//! builds the state, `update` turns gradients into updates in place and
//! returns the next state (the old one is left as it was, so a failed update
//! changes nothing).

use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, Zip};
use nnx_core::filter::Filter;
use nnx_core::value::{ArrayRef, DType};
use nnx_core::{Error, Key, Result, VariableState};
use nnx_tensor::{Element, Tensor};

use crate::float::{from_i32, lit, per_dtype, sqrt, typed, view_of, wrap, FloatTensor, OptFloat};
use crate::schedule::ScalarOrSchedule;
use crate::state::TransformState;

/// One parameter as a transformation sees it: its path, its Variable state
/// (type and metadata, for masks) and its value.
///
/// ```
/// use nnx_core::{Key, Param, VariableState};
/// use nnx_optim::optax::Leaf;
/// let var = VariableState::new(Param, ndarray::arr1(&[1.0f32]).into_dyn());
/// let path = vec![Key::from("w")];
/// let leaf = Leaf::new(&path, &var).unwrap();
/// assert_eq!(leaf.shape(), &[1]);
/// ```
#[derive(Clone, Debug)]
pub struct Leaf<'a> {
    /// The parameter's path.
    pub path: &'a [Key],
    /// Its Variable state.
    pub var: &'a VariableState,
    /// Its value: a float32 or float64 array view.
    pub value: ArrayRef<'a>,
}

impl<'a> Leaf<'a> {
    /// The leaf of a float32 or float64 Variable; an error naming the path
    /// otherwise.
    ///
    /// ```
    /// use nnx_core::{Key, Param, VariableState};
    /// let var = VariableState::new(Param, 3u32);
    /// assert!(nnx_optim::optax::Leaf::new(&[Key::from("n")], &var).is_err());
    /// let var = VariableState::new(Param, ndarray::arr1(&[1.0f64]).into_dyn());
    /// assert!(nnx_optim::optax::Leaf::new(&[Key::from("w")], &var).is_ok());
    /// ```
    pub fn new(path: &'a [Key], var: &'a VariableState) -> Result<Leaf<'a>> {
        match var.value.array_ref() {
            Some(value @ (ArrayRef::F32(_) | ArrayRef::F64(_))) => Ok(Leaf { path, var, value }),
            _ => Err(Error::DTypeMismatch {
                path: nnx_core::path_string(path).into(),
                expected: "a float32 or float64 array (optimizers update float parameters)".into(),
                found: var.value.type_name().into(),
            }),
        }
    }

    /// The parameter's shape.
    ///
    /// ```
    /// use nnx_core::{Key, Param, VariableState};
    /// let var = VariableState::new(Param, ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 3])));
    /// assert_eq!(nnx_optim::optax::Leaf::new(&[], &var).unwrap().shape(), &[2, 3]);
    /// ```
    pub fn shape(&self) -> &[usize] {
        self.value.shape()
    }

    /// The parameter's dtype (`F32` or `F64`).
    ///
    /// ```
    /// use nnx_core::{Param, VariableState};
    /// let var = VariableState::new(Param, ndarray::arr1(&[1.0f64]).into_dyn());
    /// assert_eq!(nnx_optim::optax::Leaf::new(&[], &var).unwrap().dtype(), nnx_core::value::DType::F64);
    /// ```
    pub fn dtype(&self) -> DType {
        self.value.dtype()
    }

    /// The value as an `E` view (the caller has matched the update's dtype,
    /// which [`check_updates`] checked to be the parameter's).
    fn view<E: Element>(&self) -> Result<ArrayViewD<'a, E>> {
        view_of::<E>(&self.value)
            .ok_or_else(|| crate::float::dtype_error::<E>(self.path, "the update", self.dtype()))
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
/// let mut updates = vec![nnx_tensor::Tensor::from(ndarray::arr1(&[2.0f32])).into()];
/// let _next = tx.update(&mut updates, &state, &params).unwrap();
/// assert_eq!(updates[0].as_f32().unwrap().to_array(), ndarray::arr1(&[-0.2f32]).into_dyn());
/// ```
pub trait GradientTransformation: Send + Sync {
    /// The initial state for `params`.
    fn init(&self, params: &[Leaf<'_>]) -> TransformState;

    /// Transforms `updates` (one array per parameter, in the parameter's
    /// dtype, in place) and returns the next state. Errors leave `state` valid
    /// (it is not modified).
    fn update(
        &self,
        updates: &mut [FloatTensor],
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
        updates: &mut [FloatTensor],
        state: &TransformState,
        params: &[Leaf<'_>],
    ) -> Result<TransformState> {
        (**self).update(updates, state, params)
    }
}

/// optax's `safe_increment` on an int32 counter.
pub(crate) fn inc(c: i32) -> i32 {
    c.saturating_add(1)
}

fn count_node(c: i32) -> TransformState {
    TransformState::Node(vec![(Key::from("count"), TransformState::Count(c))])
}

/// Arrays filled with `value`, one per parameter, in the parameters' dtypes.
fn zeros_like(params: &[Leaf<'_>], value: f64) -> TransformState {
    fn full<E: OptFloat>(shape: &[usize], value: f64) -> FloatTensor {
        E::wrap(Tensor::full(shape, lit::<E>(value)))
    }
    TransformState::PerParam(
        params
            .iter()
            .map(|p| match p.dtype() {
                DType::F64 => full::<f64>(p.shape(), value),
                _ => full::<f32>(p.shape(), value),
            })
            .collect(),
    )
}

/// Checks there is one update per parameter, of the parameter's shape and
/// dtype.
fn check_updates(updates: &[FloatTensor], params: &[Leaf<'_>], owner: &str) -> Result<()> {
    if updates.len() != params.len() {
        return Err(Error::invalid_argument(
            owner,
            format!("{} updates (one per parameter)", params.len()),
            updates.len().to_string(),
        ));
    }
    for (u, p) in updates.iter().zip(params) {
        if u.shape() != p.shape() {
            return Err(Error::ShapeMismatch {
                path: nnx_core::path_string(p.path).into(),
                expected: nnx_core::repr::fmt_tuple_usize(p.shape()),
                found: nnx_core::repr::fmt_tuple_usize(u.shape()),
            });
        }
        if u.dtype() != p.dtype() {
            return Err(Error::DTypeMismatch {
                path: nnx_core::path_string(p.path).into(),
                expected: format!("a {} update (the parameter's dtype)", p.dtype().name()),
                found: u.dtype().name().into(),
            });
        }
    }
    Ok(())
}

/// A scalar or the schedule's value at `count` in `E`, checked to be a number.
pub(crate) fn value_at<E: OptFloat>(x: &ScalarOrSchedule, count: i32, what: &str) -> Result<E> {
    let v = match x {
        ScalarOrSchedule::Scalar(v) => lit::<E>(*v),
        ScalarOrSchedule::Schedule(s) => E::schedule(s, count),
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
fn bias_correction<E: Element>(decay: f64, count: i32) -> E {
    lit::<E>(1.0) - lit::<E>(decay).powf(from_i32::<E>(count))
}

/// The tensor's data, mutably (copied first only if shared).
fn data<E: Element>(t: &mut Tensor<E>) -> &mut ArrayD<E> {
    t.array_mut()
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
        u: &mut [FloatTensor],
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
        u: &mut [FloatTensor],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale / clip")?;
        for a in u.iter_mut() {
            per_dtype!(a, a, E, {
                match self.0 {
                    Elementwise::Scale(x) => {
                        let x = lit::<E>(x);
                        data(a).mapv_inplace(|g| g * x);
                    }
                    Elementwise::Clip(m) => {
                        let m = lit::<E>(m);
                        data(a).mapv_inplace(|g| g.max(-m).min(m));
                    }
                }
            })
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

/// The sum of squares of an array, in order.
fn sum_of_squares<E: Element>(a: ArrayViewD<'_, E>) -> E {
    a.iter().map(|&x| x * x).sum::<E>()
}

/// optax's `global_norm`: per-array sums of squares, summed in order as
/// Python's `sum` does (in f32 while every array is float32, in f64 from the
/// first float64 one on), then the square root.
fn global_norm(arrays: &[FloatTensor]) -> FloatNorm {
    let mut acc = FloatNorm::F32(0.0);
    for a in arrays {
        acc = match (acc, a) {
            (FloatNorm::F32(n), FloatTensor::F32(a)) => {
                FloatNorm::F32(n + sum_of_squares(a.view()))
            }
            (acc, FloatTensor::F64(a)) => FloatNorm::F64(acc.to_f64() + sum_of_squares(a.view())),
            (FloatNorm::F64(n), FloatTensor::F32(a)) => {
                FloatNorm::F64(n + f64::from(sum_of_squares(a.view())))
            }
        };
    }
    match acc {
        FloatNorm::F32(n) => FloatNorm::F32(n.sqrt()),
        FloatNorm::F64(n) => FloatNorm::F64(n.sqrt()),
    }
}

/// A norm in the dtype optax computes it in.
#[derive(Clone, Copy)]
enum FloatNorm {
    F32(f32),
    F64(f64),
}

impl FloatNorm {
    fn to_f64(self) -> f64 {
        match self {
            FloatNorm::F32(n) => f64::from(n),
            FloatNorm::F64(n) => n,
        }
    }
    /// The norm in `E` (optax's `g_norm.astype(t.dtype)`).
    fn get<E: Element>(self) -> E {
        lit::<E>(self.to_f64())
    }
    /// optax's trigger `g < max_norm`, in the norm's dtype.
    fn below(self, max_norm: f64) -> bool {
        match self {
            FloatNorm::F32(n) => n < max_norm as f32,
            FloatNorm::F64(n) => n < max_norm,
        }
    }
}

impl GradientTransformation for ClipByGlobalNorm {
    fn init(&self, _: &[Leaf<'_>]) -> TransformState {
        TransformState::Empty
    }
    fn update(
        &self,
        u: &mut [FloatTensor],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "clip_by_global_norm")?;
        let g = global_norm(u);
        // optax clips unless g < max_norm, so a NaN norm clips (to NaN) too.
        if !g.below(self.max_norm) {
            for a in u.iter_mut() {
                per_dtype!(a, a, E, {
                    let (g, m) = (g.get::<E>(), lit::<E>(self.max_norm));
                    data(a).mapv_inplace(|t| t / g * m);
                })
            }
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
        u: &mut [FloatTensor],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "trace")?;
        let old = s.field("trace", "trace")?.per_param(u.len(), "trace")?;
        let mut new = Vec::with_capacity(u.len());
        for ((g, t), leaf) in u.iter_mut().zip(old).zip(p) {
            new.push(per_dtype!(g, g, E, {
                let t = typed::<E>(t, leaf.path, "trace")?;
                let d = lit::<E>(self.decay);
                let nt = Zip::from(g.array())
                    .and(t.array())
                    .map_collect(|&g, &t| g + d * t);
                if self.nesterov {
                    Zip::from(data(g)).and(&nt).for_each(|g, &t| *g += d * t);
                    wrap(nt)
                } else {
                    // The update is the new trace: one buffer for both.
                    *g = Tensor::from_array(nt);
                    E::wrap(g.clone())
                }
            }));
        }
        Ok(TransformState::Node(vec![(
            Key::from("trace"),
            TransformState::PerParam(new),
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
        u: &mut [FloatTensor],
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
        let (mut mus, mut nus) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for (((g, mu), nu), leaf) in u.iter_mut().zip(mu0).zip(nu0).zip(p) {
            per_dtype!(g, g, E, {
                let step = AdamStep::<E>::new(self, count);
                let mu = typed::<E>(mu, leaf.path, "scale_by_adam")?;
                let nu = typed::<E>(nu, leaf.path, "scale_by_adam")?;
                let m = Zip::from(g.array())
                    .and(mu.array())
                    .map_collect(|&g, &m| step.mu(g, m));
                let v = Zip::from(g.array())
                    .and(nu.array())
                    .map_collect(|&g, &v| step.nu(g, v));
                Zip::from(data(g))
                    .and(&m)
                    .and(&v)
                    .for_each(|g, &m, &v| *g = step.direction(*g, m, v));
                mus.push(wrap(m));
                nus.push(wrap(v));
            })
        }
        Ok(TransformState::Node(vec![
            (Key::from("count"), TransformState::Count(count)),
            (Key::from("mu"), TransformState::PerParam(mus)),
            (Key::from("nu"), TransformState::PerParam(nus)),
        ]))
    }
}

/// Adam's per-element arithmetic for one step in `E`, in optax's order (the
/// transformation and the fused optimizer step both use it).
#[derive(Clone, Copy)]
pub(crate) struct AdamStep<E> {
    b1: E,
    b2: E,
    omb1: E,
    omb2: E,
    eps: E,
    eps_root: E,
    bc1: E,
    bc1_next: E,
    bc2: E,
    nesterov: bool,
}

impl<E: Element> AdamStep<E> {
    /// The constants of step `count` (already incremented).
    pub(crate) fn new(a: &ScaleByAdam, count: i32) -> Self {
        AdamStep {
            b1: lit(a.b1),
            b2: lit(a.b2),
            omb1: lit(1.0 - a.b1),
            omb2: lit(1.0 - a.b2),
            eps: lit(a.eps),
            eps_root: lit(a.eps_root),
            bc1: bias_correction(a.b1, count),
            bc1_next: bias_correction(a.b1, inc(count)),
            bc2: bias_correction(a.b2, count),
            nesterov: a.nesterov,
        }
    }
    /// The new first moment.
    #[inline(always)]
    pub(crate) fn mu(&self, g: E, m: E) -> E {
        self.omb1 * g + self.b1 * m
    }
    /// The new second moment.
    #[inline(always)]
    pub(crate) fn nu(&self, g: E, v: E) -> E {
        self.omb2 * (g * g) + self.b2 * v
    }
    /// The update from the gradient and the new moments.
    #[inline(always)]
    pub(crate) fn direction(&self, g: E, m: E, v: E) -> E {
        let m_hat = if self.nesterov {
            self.b1 * (m / self.bc1_next) + self.omb1 * (g / self.bc1)
        } else {
            m / self.bc1
        };
        m_hat / (sqrt(v / self.bc2 + self.eps_root) + self.eps)
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
        let nu = (Key::from("nu"), zeros_like(params, self.initial_scale));
        if self.bias_correction {
            TransformState::Node(vec![(Key::from("count"), TransformState::Count(0)), nu])
        } else {
            TransformState::Node(vec![nu])
        }
    }
    fn update(
        &self,
        u: &mut [FloatTensor],
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
        let mut nus = Vec::with_capacity(u.len());
        for ((g, nu), leaf) in u.iter_mut().zip(nu0).zip(p) {
            nus.push(per_dtype!(g, g, E, {
                let nu = typed::<E>(nu, leaf.path, "scale_by_rms")?;
                let bc = if self.bias_correction {
                    bias_correction::<E>(self.decay, count)
                } else {
                    lit::<E>(1.0)
                };
                let (d, omd) = (lit::<E>(self.decay), lit::<E>(1.0 - self.decay));
                let (eps, one) = (lit::<E>(self.eps), lit::<E>(1.0));
                let v = Zip::from(g.array())
                    .and(nu.array())
                    .map_collect(|&g, &v| omd * (g * g) + d * v);
                Zip::from(data(g)).and(&v).for_each(|g, &v| {
                    let n = if self.bias_correction { v / bc } else { v };
                    let scaling = if self.eps_in_sqrt {
                        one / sqrt(n + eps)
                    } else {
                        one / (sqrt(n) + eps)
                    };
                    *g *= scaling;
                });
                wrap(v)
            }));
        }
        let nu = (Key::from("nu"), TransformState::PerParam(nus));
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
            zeros_like(params, self.initial_accumulator_value),
        )])
    }
    fn update(
        &self,
        u: &mut [FloatTensor],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_rss")?;
        let old = s
            .field("sum_of_squares", "scale_by_rss")?
            .per_param(u.len(), "scale_by_rss")?;
        let mut new = Vec::with_capacity(u.len());
        for ((g, t), leaf) in u.iter_mut().zip(old).zip(p) {
            new.push(per_dtype!(g, g, E, {
                let t = typed::<E>(t, leaf.path, "scale_by_rss")?;
                let (eps, zero, one) = (lit::<E>(self.eps), lit::<E>(0.0), lit::<E>(1.0));
                let sos = Zip::from(g.array())
                    .and(t.array())
                    .map_collect(|&g, &t| g * g + t);
                Zip::from(data(g)).and(&sos).for_each(|g, &s| {
                    *g *= if s > zero { one / sqrt(s + eps) } else { zero };
                });
                wrap(sos)
            }));
        }
        Ok(TransformState::Node(vec![(
            Key::from("sum_of_squares"),
            TransformState::PerParam(new),
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
fn sign<E: Element>(x: E) -> E {
    if x > lit(0.0) {
        lit(1.0)
    } else if x < lit(0.0) {
        lit(-1.0)
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
        u: &mut [FloatTensor],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_lion")?;
        let count = inc(s.field("count", "scale_by_lion")?.count("scale_by_lion")?);
        let mu0 = s
            .field("mu", "scale_by_lion")?
            .per_param(u.len(), "scale_by_lion")?;
        let mut mus = Vec::with_capacity(u.len());
        for ((g, mu), leaf) in u.iter_mut().zip(mu0).zip(p) {
            mus.push(per_dtype!(g, g, E, {
                let mu = typed::<E>(mu, leaf.path, "scale_by_lion")?;
                let (b1, omb1) = (lit::<E>(self.b1), lit::<E>(1.0 - self.b1));
                let (b2, omb2) = (lit::<E>(self.b2), lit::<E>(1.0 - self.b2));
                let m = Zip::from(g.array())
                    .and(mu.array())
                    .map_collect(|&g, &m| omb2 * g + b2 * m);
                Zip::from(data(g))
                    .and(mu.array())
                    .for_each(|g, &m| *g = sign(omb1 * *g + b1 * m));
                wrap(m)
            }));
        }
        Ok(TransformState::Node(vec![
            (Key::from("count"), TransformState::Count(count)),
            (Key::from("mu"), TransformState::PerParam(mus)),
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
        u: &mut [FloatTensor],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_trust_ratio")?;
        for (g, param) in u.iter_mut().zip(p) {
            per_dtype!(g, g, E, {
                let pn = sqrt(sum_of_squares(param.view::<E>()?));
                let un = sqrt(sum_of_squares(g.view()));
                let zero = lit::<E>(0.0);
                let ratio = if pn == zero || un == zero {
                    lit::<E>(1.0)
                } else {
                    pn / un
                };
                data(g).mapv_inplace(|x| x * ratio);
            })
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
        u: &mut [FloatTensor],
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
        for (g, param) in u.iter_mut().zip(p) {
            per_dtype!(g, g, E, {
                let wd = value_at::<E>(&self.weight_decay, count, "weight_decay")?;
                Zip::from(data(g))
                    .and(&param.view::<E>()?)
                    .for_each(|g, &p| *g += wd * p);
            })
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

impl ScaleByLearningRate {
    /// The factor at the transformation's `count` in `E` (`-lr` or `lr`); an
    /// error for NaN.
    pub(crate) fn step<E: OptFloat>(&self, count: i32) -> Result<E> {
        let sign = if self.flip_sign { -1.0 } else { 1.0 };
        let step = match &self.learning_rate {
            ScalarOrSchedule::Scalar(lr) => lit::<E>(sign * lr),
            ScalarOrSchedule::Schedule(_) => {
                lit::<E>(sign) * value_at::<E>(&self.learning_rate, count, "learning_rate")?
            }
        };
        if step.is_nan() {
            return Err(Error::invalid_argument("learning_rate", "a number", "NaN"));
        }
        Ok(step)
    }
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
        u: &mut [FloatTensor],
        s: &TransformState,
        p: &[Leaf<'_>],
    ) -> Result<TransformState> {
        check_updates(u, p, "scale_by_learning_rate")?;
        let (count, next) = match &self.learning_rate {
            ScalarOrSchedule::Scalar(_) => (0, s.clone()),
            ScalarOrSchedule::Schedule(_) => {
                let c = s
                    .field("count", "scale_by_learning_rate")?
                    .count("scale_by_learning_rate")?;
                (c, count_node(inc(c)))
            }
        };
        for a in u.iter_mut() {
            per_dtype!(a, a, E, {
                let step = self.step::<E>(count)?;
                data(a).mapv_inplace(|g| step * g);
            })
        }
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
        u: &mut [FloatTensor],
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
        let mut sub_updates: Vec<FloatTensor> =
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
        u: &mut [FloatTensor],
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
/// `mini_step`, `gradient_step`, `inner_opt_state`, `acc_grads`. As optax's
/// (`accumulator_dtype=float32`), the accumulator is stored in float32 for
/// float64 parameters too; each step's sum is computed in the parameter's dtype.
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
            (
                Key::from("acc_grads"),
                TransformState::PerParam(
                    params
                        .iter()
                        .map(|p| Tensor::zeros(p.shape()).into())
                        .collect(),
                ),
            ),
            (Key::from("gradient_step"), TransformState::Count(0)),
            (Key::from("inner_opt_state"), self.inner.init(params)),
            (Key::from("mini_step"), TransformState::Count(0)),
            (Key::from("skip_state"), TransformState::Empty),
        ])
    }
    fn update(
        &self,
        u: &mut [FloatTensor],
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
        let mut acc = Vec::with_capacity(u.len());
        for ((g, a), leaf) in u.iter().zip(acc0).zip(p) {
            acc.push(per_dtype!(g, g, E, {
                let a = typed::<f32>(a, leaf.path, "MultiSteps (its float32 accumulator)")?;
                let n = from_i32::<E>(mini.saturating_add(1));
                wrap(Zip::from(g.array()).and(a.array()).map_collect(|&g, &a| {
                    let a = lit::<E>(f64::from(a));
                    if self.use_grad_mean {
                        a + (g - a) / n
                    } else {
                        g + a
                    }
                }))
            }));
        }
        let emit = mini == self.every_k - 1;
        // Shared buffers: the inner transformation copies what it changes.
        let mut inner_updates = acc.clone();
        let inner_next = self.inner.update(&mut inner_updates, inner0, p)?;
        // Stored rounded to float32 (a move for float32 parameters).
        let mut acc: Vec<FloatTensor> = acc
            .into_iter()
            .map(|a| match a {
                FloatTensor::F64(a) => Tensor::from_array(a.array().mapv(|x| x as f32)).into(),
                a => a,
            })
            .collect();
        for (g, new) in u.iter_mut().zip(inner_updates) {
            if emit {
                *g = new;
            } else {
                per_dtype!(g, g, E, data(g).fill(lit::<E>(0.0)));
            }
        }
        if emit {
            for a in acc.iter_mut() {
                per_dtype!(a, a, E, data(a).fill(lit::<E>(0.0)));
            }
        }
        Ok(TransformState::Node(vec![
            (Key::from("acc_grads"), TransformState::PerParam(acc)),
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
