//! Flax's `nnx.Optimizer`, and optax's functional `init` / `update` /
//! `apply_updates` over States.

use nnx_core::filter::Filter;
use nnx_core::path_string;
use nnx_core::{Error, Key, Module, Path, Result, State, VariableState};

use crate::alias::Adam;
use crate::float::{per_dtype, view_of, FloatTensor};
use crate::state::{OptState, TransformState};
use crate::transform::{GradientTransformation, Leaf};

/// The leaves of a parameter State, in path order, checked to be float32 or
/// float64.
fn leaves(flat: &[(Path, VariableState)]) -> Result<Vec<Leaf<'_>>> {
    let mut errors = Vec::new();
    let out: Vec<Leaf<'_>> = flat
        .iter()
        .filter_map(|(p, v)| Leaf::new(p, v).map_err(|e| errors.push(e)).ok())
        .collect();
    match errors.len() {
        0 => Ok(out),
        1 => Err(errors.remove(0)),
        _ => Err(Error::Many(errors)),
    }
}

/// The gradients' arrays in `params`' order (sharing Tensors' buffers),
/// checked to have the same paths, Variable types, shapes and dtypes (every
/// mismatch reported).
fn grad_arrays(params: &[(Path, VariableState)], grads: &State) -> Result<Vec<FloatTensor>> {
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(params.len());
    for (path, p) in params {
        let Some(g) = grads.leaf(path) else {
            errors.push(Error::MissingPath {
                path: path_string(path).into(),
                expected: format!("{} gradient", p.kind.name()),
            });
            continue;
        };
        if g.kind != p.kind {
            errors.push(Error::KindMismatch {
                path: path_string(path).into(),
                expected: p.kind.name().to_string(),
                found: g.kind.name().to_string(),
            });
            continue;
        }
        match (Leaf::new(path, g), p.value.shape_of()) {
            (Ok(l), shape) if Some(l.shape()) != shape.as_deref() => {
                errors.push(Error::ShapeMismatch {
                    path: path_string(path).into(),
                    expected: nnx_core::repr::fmt_tuple_usize(&shape.unwrap_or_default()),
                    found: nnx_core::repr::fmt_tuple_usize(l.shape()),
                })
            }
            (Ok(l), _) if Some(l.dtype()) != p.value.dtype() => errors.push(Error::DTypeMismatch {
                path: path_string(path).into(),
                expected: format!(
                    "a {} gradient (the parameter's dtype)",
                    p.value.dtype().map_or("float", |d| d.name())
                ),
                found: l.dtype().name().into(),
            }),
            (Ok(_), _) => out.extend(FloatTensor::of_value(&*g.value)),
            (Err(e), _) => errors.push(e),
        }
    }
    grads.tree().for_each_leaf(&mut |path, leaf| {
        if !params.iter().any(|(p, _)| p.as_slice() == path) {
            errors.push(Error::UnexpectedPath {
                path: path_string(path).into(),
                found: format!("{} gradient for no optimized parameter", leaf.kind.name()),
            });
        }
    });
    match errors.len() {
        0 => Ok(out),
        1 => Err(errors.remove(0)),
        _ => Err(Error::Many(errors)),
    }
}

/// optax's `tx.init(params)` over a State of float32 or float64 parameters.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_optim::optax;
/// let params = vec![Param::new(ndarray::arr1(&[1.0f32]))].state();
/// let state = optax::init(&optax::adam(1e-3), &params).unwrap();
/// assert_eq!(state.to_flat(&params.flat_state().paths()).len(), 3); // count, mu/0, nu/0
/// ```
pub fn init(tx: &dyn GradientTransformation, params: &State) -> Result<TransformState> {
    let flat = params.flat_state().into_inner();
    Ok(tx.init(&leaves(&flat)?))
}

/// optax's `tx.update(grads, state, params)` over States: the updates (a State
/// with the parameters' paths and types) and the next state. Mismatched
/// gradients are an error naming the paths.
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_optim::optax;
/// let params = vec![Param::new(ndarray::arr1(&[1.0f32]))].state();
/// let grads = vec![Param::new(ndarray::arr1(&[2.0f32]))].state();
/// let tx = optax::sgd(0.5);
/// let s = optax::init(&tx, &params).unwrap();
/// let (updates, _s) = optax::update(&tx, &grads, &s, &params).unwrap();
/// let new = optax::apply_updates(&params, &updates).unwrap();
/// assert_eq!(new.get::<ndarray::Array1<f32>>("0").unwrap(), &ndarray::arr1(&[0.0f32]));
/// ```
pub fn update(
    tx: &dyn GradientTransformation,
    grads: &State,
    state: &TransformState,
    params: &State,
) -> Result<(State, TransformState)> {
    let flat = params.flat_state().into_inner();
    let mut updates = grad_arrays(&flat, grads)?;
    let next = tx.update(&mut updates, state, &leaves(&flat)?)?;
    let out = flat
        .iter()
        .zip(updates)
        .map(|((p, v), u)| (p.clone(), v.with_value(u.to_value())));
    Ok((State::from_flat(out)?, next))
}

/// optax's `apply_updates(params, updates)`: `params + updates` leaf by leaf,
/// keeping each parameter's Variable type and value type.
///
/// ```
/// use nnx_core::prelude::*;
/// let p = vec![Param::new(ndarray::arr1(&[1.0f32]))].state();
/// assert!(nnx_optim::optax::apply_updates(&p, &State::new()).is_err());
/// ```
pub fn apply_updates(params: &State, updates: &State) -> Result<State> {
    let flat = params.flat_state().into_inner();
    let mut updates = grad_arrays(&flat, updates)?;
    let out = flat.iter().zip(&mut updates).map(|((path, var), u)| {
        add_param(var, u);
        let value = var.value.from_array_like(u.array_ref());
        (
            path.clone(),
            var.with_value(value.unwrap_or_else(|| u.to_value())),
        )
    });
    State::from_flat(out.collect::<Vec<_>>())
}

/// optax's `apply_updates` for one leaf: `p + u`, written into the update's
/// buffer (copied first only if shared).
fn add_param(var: &VariableState, u: &mut FloatTensor) {
    per_dtype!(u, u, E, {
        if let Some(p) = var.value.array_ref().and_then(|a| view_of::<E>(&a)) {
            *u.array_mut() += &p;
        }
    })
}

/// Flax's `nnx.Optimizer`: a gradient transformation with its state and step
/// counter, updating a model's Variables that match `wrt` in place.
///
/// `state()` holds what Flax's `nnx.state(optimizer)` holds, at Flax's paths and
/// with Flax's Variable types (`step`: `OptState` uint32; `opt_state/0/count`:
/// `OptArray` int32; `opt_state/0/mu/...`: `OptVariable`s at the parameters'
/// paths), so it prints like Flax's and a checkpoint of it restores training
/// exactly ([`Optimizer::load_state`]).
///
/// [`optax::adam`](crate::optax::adam) and [`optax::adamw`](crate::optax::adamw)
/// (without a mask) run as one pass per parameter, updating the optimizer
/// state in place, with the same arithmetic in the same order as their
/// chain of transformations (bit-identical results).
///
/// ```
/// use nnx_core::prelude::*;
/// use nnx_optim::{optax, Optimizer};
/// use nnx_tensor::{value_and_grad, Tensor};
///
/// #[derive(Module)]
/// struct Model { w: Param<Tensor> }
///
/// let mut model = Model { w: Param::new(Tensor::from(ndarray::arr1(&[1.0f32, -2.0]))) };
/// let mut opt = Optimizer::new(&model, optax::sgd(0.1), Param).unwrap();
/// let (loss, grads) = value_and_grad(&mut model, Param, |m| Ok(m.w.square().sum())).unwrap();
/// opt.update(&mut model, &grads).unwrap();
/// assert_eq!(loss, 5.0);
/// assert_eq!(model.w.to_array(), ndarray::arr1(&[0.8f32, -1.6]).into_dyn());
/// assert_eq!(opt.step(), 1);
/// ```
pub struct Optimizer<W> {
    tx: Box<dyn GradientTransformation>,
    wrt: W,
    /// The optimized parameters' paths, fixed at `new`.
    paths: Vec<Path>,
    opt_state: TransformState,
    step: u32,
    /// The adam / adamw configuration when `tx` is one (the fused step).
    fused: Option<Adam>,
}

impl<W: Filter + Clone> Optimizer<W> {
    /// An optimizer for the Variables of `model` matching `wrt` (required, as in
    /// Flax 0.12). Every such Variable must hold a float32 or float64 array;
    /// each one's optimizer state is in its dtype (as optax's).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let model = vec![Param::new(1u32)];
    /// assert!(nnx_optim::Optimizer::new(&model, nnx_optim::optax::sgd(0.1), Param).is_err());
    /// ```
    pub fn new<M: Module>(
        model: &M,
        tx: impl GradientTransformation + 'static,
        wrt: W,
    ) -> Result<Optimizer<W>> {
        let flat = model.state_of(wrt.clone()).into_flat();
        let opt_state = tx.init(&leaves(&flat)?);
        let fused = (&tx as &dyn std::any::Any)
            .downcast_ref::<Adam>()
            .filter(|a| a.mask.is_none())
            .cloned();
        Ok(Optimizer {
            fused,
            tx: Box::new(tx),
            wrt,
            paths: flat.into_iter().map(|(p, _)| p).collect(),
            opt_state,
            step: 0,
        })
    }

    /// One optimizer step: transforms `grads` (a State with the paths, Variable
    /// types and shapes of `model.state_of(wrt)`, as `value_and_grad` returns)
    /// and adds the updates to the model's Variables in place.
    ///
    /// Everything is checked and computed before anything is written: on an
    /// error (mismatched gradients, a NaN learning rate, a model whose
    /// parameters changed paths) neither the model nor the optimizer changes.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_optim::{optax, Optimizer};
    /// use nnx_tensor::Tensor;
    /// let mut model = vec![Param::new(Tensor::ones(&[2]))];
    /// let mut opt = Optimizer::new(&model, optax::adam(0.1), Param).unwrap();
    /// let bad = vec![Param::new(Tensor::ones(&[3]))].state();
    /// let err = opt.update(&mut model, &bad).unwrap_err();
    /// assert_eq!(err.to_string(), "shape mismatch at 0: expected (2,), found (3,)");
    /// assert_eq!((opt.step(), model[0].to_array()), (0, ndarray::ArrayD::ones(ndarray::IxDyn(&[2]))));
    /// ```
    pub fn update<M: Module>(&mut self, model: &mut M, grads: &State) -> Result<()> {
        let flat = model.state_of(self.wrt.clone()).into_flat();
        if flat.len() != self.paths.len() || flat.iter().zip(&self.paths).any(|((p, _), q)| p != q)
        {
            return Err(Error::invalid_argument(
                "Optimizer::update",
                format!(
                    "a model with the parameters the optimizer was made for ({} Variables)",
                    self.paths.len()
                ),
                format!("{} Variables matching wrt", flat.len()),
            ));
        }
        let mut updates = grad_arrays(&flat, grads)?;
        let params = leaves(&flat)?;
        if let Some(adam) = &self.fused {
            if let Some(new) =
                crate::fused::adam_step(adam, &mut self.opt_state, &params, &updates)?
            {
                let new_params = flat
                    .iter()
                    .zip(new)
                    .map(|((path, var), p)| (path.clone(), var.with_value(p.to_value())));
                model.update(State::from_flat(new_params.collect::<Vec<_>>())?)?;
                self.step = self.step.saturating_add(1);
                return Ok(());
            }
        }
        let next = self.tx.update(&mut updates, &self.opt_state, &params)?;
        let new_params = flat.iter().zip(&mut updates).map(|((path, var), u)| {
            add_param(var, u);
            (path.clone(), var.with_value(u.to_value()))
        });
        let new_params = State::from_flat(new_params.collect::<Vec<_>>())?;
        model.update(new_params)?;
        self.opt_state = next;
        self.step = self.step.saturating_add(1);
        Ok(())
    }

    /// The number of updates applied (Flax's `optimizer.step`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let model = vec![Param::new(nnx_tensor::Tensor::ones(&[1]))];
    /// assert_eq!(nnx_optim::Optimizer::new(&model, nnx_optim::optax::sgd(0.1), Param).unwrap().step(), 0);
    /// ```
    pub fn step(&self) -> u32 {
        self.step
    }

    /// The transformation's state (Flax's `optimizer.opt_state`).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let model = vec![Param::new(nnx_tensor::Tensor::ones(&[1]))];
    /// let opt = nnx_optim::Optimizer::new(&model, nnx_optim::optax::sgd(0.1), Param).unwrap();
    /// assert!(matches!(opt.opt_state(), nnx_optim::TransformState::Node(_)));
    /// ```
    pub fn opt_state(&self) -> &TransformState {
        &self.opt_state
    }

    /// Flax's `nnx.state(optimizer)`: `step` and `opt_state`, with Flax's paths
    /// and Variable types. Shares the arrays (no copies).
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// let model = vec![Param::new(nnx_tensor::Tensor::zeros(&[1]))];
    /// let opt = nnx_optim::Optimizer::new(&model, nnx_optim::optax::sgd(0.1).momentum(0.9), Param).unwrap();
    /// assert_eq!(opt.state().to_string(), "State({\n  'opt_state': {\n    0: {\n      'trace': {\n        \
    ///     0: OptVariable( # 1 (4 B)\n          value=Array([0.], dtype=float32)\n        )\n      }\n    }\n  },\n  \
    ///     'step': OptState( # 1 (4 B)\n    value=Array(0, dtype=uint32)\n  )\n})");
    /// ```
    pub fn state(&self) -> State {
        let mut flat = self.opt_state.to_flat(&self.paths);
        for (p, _) in &mut flat {
            p.insert(0, Key::from("opt_state"));
        }
        flat.push((
            vec![Key::from("step")],
            VariableState::new(OptState, self.step),
        ));
        // The paths are distinct by construction: parameter paths under distinct prefixes.
        State::from_flat(flat).unwrap_or_default()
    }

    /// Flax's `nnx.update(optimizer, state)`: restores `step` and `opt_state`
    /// from a State saved from an optimizer of the same transformation over the
    /// same parameters (e.g. loaded from a checkpoint). Every leaf is checked
    /// (path, Variable type, dtype, shape); on an error nothing changes.
    ///
    /// ```
    /// use nnx_core::prelude::*;
    /// use nnx_optim::{optax, Optimizer};
    /// let model = vec![Param::new(nnx_tensor::Tensor::zeros(&[1]))];
    /// let mut opt = Optimizer::new(&model, optax::adam(0.1), Param).unwrap();
    /// let saved = opt.state();
    /// opt.load_state(&saved).unwrap();
    /// assert!(opt.load_state(&State::new()).is_err());
    /// ```
    pub fn load_state(&mut self, state: &State) -> Result<()> {
        let restored = self
            .opt_state
            .restore(&[Key::from("opt_state")], &self.paths, state);
        let step = match state.leaf(&[Key::from("step")]) {
            Some(l) if l.kind.is_subtype_of(OptState) => l
                .value
                .as_any()
                .downcast_ref::<u32>()
                .copied()
                .ok_or_else(|| Error::TypeMismatch {
                    path: "step".into(),
                    expected: "a uint32 scalar".into(),
                    found: l.value.type_name().into(),
                }),
            Some(l) => Err(Error::KindMismatch {
                path: "step".into(),
                expected: "OptState".into(),
                found: l.kind.name().to_string(),
            }),
            None => Err(Error::MissingPath {
                path: "step".into(),
                expected: "OptState".into(),
            }),
        };
        match (restored, step) {
            (Ok(r), Ok(s)) => {
                self.opt_state = r;
                self.step = s;
                Ok(())
            }
            (Err(a), Err(b)) => Err(Error::Many(vec![a, b])),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    }
}
