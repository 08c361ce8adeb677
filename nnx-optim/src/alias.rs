//! optax's optimizers (`alias.py`): chains of transformations with optax's
//! defaults. Each is a small config with builder methods for the optional
//! arguments; `.build()` gives the chain (with optax's state layout), and the
//! config is itself a [`GradientTransformation`].

use nnx_core::Result;

use crate::float::FloatTensor;
use crate::schedule::ScalarOrSchedule;
use crate::state::TransformState;
use crate::transform::{
    add_decayed_weights, chain, identity, masked, scale_by_adam, scale_by_learning_rate,
    scale_by_lion, scale_by_rms, scale_by_rss, scale_by_trust_ratio, trace, Chain,
    GradientTransformation, Leaf, Mask,
};

/// Implements [`GradientTransformation`] by delegating to `build()`.
macro_rules! via_build {
    ($t:ty) => {
        impl GradientTransformation for $t {
            fn init(&self, params: &[Leaf<'_>]) -> TransformState {
                self.build().init(params)
            }
            fn update(
                &self,
                updates: &mut [FloatTensor],
                state: &TransformState,
                params: &[Leaf<'_>],
            ) -> Result<TransformState> {
                self.build().update(updates, state, params)
            }
        }
    };
}

/// Weight decay, masked when a mask is given (optax's `add_decayed_weights(wd, mask)`).
fn decayed_weights(
    weight_decay: &ScalarOrSchedule,
    mask: &Option<Mask>,
) -> Box<dyn GradientTransformation> {
    let tx = add_decayed_weights(weight_decay.clone());
    match mask {
        Some(m) => Box::new(masked(tx, m.clone())),
        None => Box::new(tx),
    }
}

/// optax's `sgd(learning_rate, momentum=None, nesterov=False)`: `chain(trace or
/// identity, scale_by_learning_rate)`.
///
/// ```
/// let tx = nnx_optim::optax::sgd(0.1).momentum(0.9).nesterov(true);
/// assert_eq!(tx.momentum, Some(0.9));
/// ```
pub fn sgd(learning_rate: impl Into<ScalarOrSchedule>) -> Sgd {
    Sgd {
        learning_rate: learning_rate.into(),
        momentum: None,
        nesterov: false,
    }
}

/// See [`sgd`].
///
/// ```
/// assert!(nnx_optim::optax::sgd(0.1).momentum.is_none());
/// ```
#[derive(Clone, Debug)]
pub struct Sgd {
    /// The learning rate.
    pub learning_rate: ScalarOrSchedule,
    /// Momentum decay (`None`: plain SGD).
    pub momentum: Option<f64>,
    /// Nesterov momentum.
    pub nesterov: bool,
}

impl Sgd {
    /// Sets the momentum.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::sgd(0.1).momentum(0.5).momentum, Some(0.5));
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = Some(momentum);
        self
    }

    /// Uses Nesterov momentum.
    ///
    /// ```
    /// assert!(nnx_optim::optax::sgd(0.1).nesterov(true).nesterov);
    /// ```
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// The chain optax builds.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::sgd(0.1).build().0.len(), 2);
    /// ```
    pub fn build(&self) -> Chain {
        let first: Box<dyn GradientTransformation> = match self.momentum {
            Some(m) => Box::new(trace(m, self.nesterov)),
            None => Box::new(identity()),
        };
        chain(vec![
            first,
            Box::new(scale_by_learning_rate(self.learning_rate.clone())),
        ])
    }
}
via_build!(Sgd);

/// optax's `adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0)`:
/// `chain(scale_by_adam, scale_by_learning_rate)`.
///
/// ```
/// let tx = nnx_optim::optax::adam(1e-3).b1(0.8).eps(1e-6);
/// assert_eq!((tx.b1, tx.b2, tx.eps), (0.8, 0.999, 1e-6));
/// ```
pub fn adam(learning_rate: impl Into<ScalarOrSchedule>) -> Adam {
    Adam {
        learning_rate: learning_rate.into(),
        b1: 0.9,
        b2: 0.999,
        eps: 1e-8,
        eps_root: 0.0,
        nesterov: false,
        weight_decay: None,
        mask: None,
    }
}

/// optax's `adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0,
/// weight_decay=1e-4, mask=None)`: `chain(scale_by_adam, add_decayed_weights,
/// scale_by_learning_rate)`.
///
/// ```
/// use nnx_optim::optax::{self, Mask};
/// let tx = optax::adamw(1e-3).weight_decay(1e-2).mask(Mask::predicate(|p, _| p.len() > 1));
/// assert_eq!(tx.build().0.len(), 3);
/// ```
pub fn adamw(learning_rate: impl Into<ScalarOrSchedule>) -> Adam {
    Adam {
        weight_decay: Some(1e-4.into()),
        ..adam(learning_rate)
    }
}

/// [`adam`] and [`adamw`] (which has a weight decay).
///
/// ```
/// assert!(nnx_optim::optax::adam(1e-3).weight_decay.is_none());
/// ```
#[derive(Clone, Debug)]
pub struct Adam {
    /// The learning rate.
    pub learning_rate: ScalarOrSchedule,
    /// First-moment decay.
    pub b1: f64,
    /// Second-moment decay.
    pub b2: f64,
    /// Epsilon outside the square root.
    pub eps: f64,
    /// Epsilon inside the square root.
    pub eps_root: f64,
    /// NAdam.
    pub nesterov: bool,
    /// AdamW's decoupled weight decay (`None` for Adam).
    pub weight_decay: Option<ScalarOrSchedule>,
    /// Which parameters are decayed (all when `None`).
    pub mask: Option<Mask>,
}

impl Adam {
    /// Sets `b1`.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::adam(1e-3).b1(0.5).b1, 0.5);
    /// ```
    pub fn b1(mut self, b1: f64) -> Self {
        self.b1 = b1;
        self
    }
    /// Sets `b2`.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::adam(1e-3).b2(0.9).b2, 0.9);
    /// ```
    pub fn b2(mut self, b2: f64) -> Self {
        self.b2 = b2;
        self
    }
    /// Sets `eps` (outside the square root).
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::adam(1e-3).eps(1e-6).eps, 1e-6);
    /// ```
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets `eps_root` (inside the square root).
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::adam(1e-3).eps_root(1e-9).eps_root, 1e-9);
    /// ```
    pub fn eps_root(mut self, eps_root: f64) -> Self {
        self.eps_root = eps_root;
        self
    }
    /// Uses Nesterov momentum (optax's `nadam` / `nadamw`).
    ///
    /// ```
    /// assert!(nnx_optim::optax::adam(1e-3).nesterov(true).nesterov);
    /// ```
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// Sets the decoupled weight decay (making this AdamW).
    ///
    /// ```
    /// assert!(nnx_optim::optax::adam(1e-3).weight_decay(0.1).weight_decay.is_some());
    /// ```
    pub fn weight_decay(mut self, weight_decay: impl Into<ScalarOrSchedule>) -> Self {
        self.weight_decay = Some(weight_decay.into());
        self
    }
    /// Decays only the parameters `mask` selects.
    ///
    /// ```
    /// let tx = nnx_optim::optax::adamw(1e-3).mask(nnx_optim::optax::Mask::filter(nnx_core::Param));
    /// assert!(tx.mask.is_some());
    /// ```
    pub fn mask(mut self, mask: Mask) -> Self {
        self.mask = Some(mask);
        self
    }

    /// The chain optax builds.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::adam(1e-3).build().0.len(), 2);
    /// ```
    pub fn build(&self) -> Chain {
        let mut txs: Vec<Box<dyn GradientTransformation>> = vec![Box::new(scale_by_adam(
            self.b1,
            self.b2,
            self.eps,
            self.eps_root,
            self.nesterov,
        ))];
        if let Some(wd) = &self.weight_decay {
            txs.push(decayed_weights(wd, &self.mask));
        }
        txs.push(Box::new(scale_by_learning_rate(self.learning_rate.clone())));
        chain(txs)
    }
}
via_build!(Adam);

/// optax's `rmsprop(learning_rate, decay=0.9, eps=1e-8, initial_scale=0,
/// eps_in_sqrt=True, centered=False, momentum=None, nesterov=False,
/// bias_correction=False)` (not centered): `chain(scale_by_rms,
/// scale_by_learning_rate, trace or identity)`.
///
/// ```
/// let tx = nnx_optim::optax::rmsprop(1e-3).momentum(0.9);
/// assert_eq!((tx.decay, tx.momentum), (0.9, Some(0.9)));
/// ```
pub fn rmsprop(learning_rate: impl Into<ScalarOrSchedule>) -> RmsProp {
    RmsProp {
        learning_rate: learning_rate.into(),
        decay: 0.9,
        eps: 1e-8,
        initial_scale: 0.0,
        eps_in_sqrt: true,
        momentum: None,
        nesterov: false,
        bias_correction: false,
    }
}

/// See [`rmsprop`].
///
/// ```
/// assert!(nnx_optim::optax::rmsprop(1e-3).eps_in_sqrt);
/// ```
#[derive(Clone, Debug)]
pub struct RmsProp {
    /// The learning rate.
    pub learning_rate: ScalarOrSchedule,
    /// Decay of the squared-gradient average.
    pub decay: f64,
    /// Epsilon.
    pub eps: f64,
    /// Initial squared-gradient average.
    pub initial_scale: f64,
    /// Epsilon inside the square root.
    pub eps_in_sqrt: bool,
    /// Momentum after scaling.
    pub momentum: Option<f64>,
    /// Nesterov momentum.
    pub nesterov: bool,
    /// Bias-correct the average.
    pub bias_correction: bool,
}

impl RmsProp {
    /// Sets the decay.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::rmsprop(1e-3).decay(0.5).decay, 0.5);
    /// ```
    pub fn decay(mut self, decay: f64) -> Self {
        self.decay = decay;
        self
    }
    /// Sets epsilon.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::rmsprop(1e-3).eps(1e-6).eps, 1e-6);
    /// ```
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }
    /// Sets the initial average.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::rmsprop(1e-3).initial_scale(1.0).initial_scale, 1.0);
    /// ```
    pub fn initial_scale(mut self, initial_scale: f64) -> Self {
        self.initial_scale = initial_scale;
        self
    }
    /// Puts epsilon outside the square root when `false`.
    ///
    /// ```
    /// assert!(!nnx_optim::optax::rmsprop(1e-3).eps_in_sqrt(false).eps_in_sqrt);
    /// ```
    pub fn eps_in_sqrt(mut self, eps_in_sqrt: bool) -> Self {
        self.eps_in_sqrt = eps_in_sqrt;
        self
    }
    /// Adds momentum.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::rmsprop(1e-3).momentum(0.5).momentum, Some(0.5));
    /// ```
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = Some(momentum);
        self
    }
    /// Nesterov momentum.
    ///
    /// ```
    /// assert!(nnx_optim::optax::rmsprop(1e-3).nesterov(true).nesterov);
    /// ```
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }
    /// Bias-corrects the average.
    ///
    /// ```
    /// assert!(nnx_optim::optax::rmsprop(1e-3).bias_correction(true).bias_correction);
    /// ```
    pub fn bias_correction(mut self, bias_correction: bool) -> Self {
        self.bias_correction = bias_correction;
        self
    }

    /// The chain optax builds.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::rmsprop(1e-3).build().0.len(), 3);
    /// ```
    pub fn build(&self) -> Chain {
        let last: Box<dyn GradientTransformation> = match self.momentum {
            Some(m) => Box::new(trace(m, self.nesterov)),
            None => Box::new(identity()),
        };
        chain(vec![
            Box::new(scale_by_rms(
                self.decay,
                self.eps,
                self.initial_scale,
                self.eps_in_sqrt,
                self.bias_correction,
            )),
            Box::new(scale_by_learning_rate(self.learning_rate.clone())),
            last,
        ])
    }
}
via_build!(RmsProp);

/// optax's `adagrad(learning_rate, initial_accumulator_value=0.1, eps=1e-7)`:
/// `chain(scale_by_rss, scale_by_learning_rate)`.
///
/// ```
/// let tx = nnx_optim::optax::adagrad(0.1);
/// assert_eq!(tx.build().0.len(), 2);
/// ```
pub fn adagrad(learning_rate: impl Into<ScalarOrSchedule>) -> Adagrad {
    Adagrad {
        learning_rate: learning_rate.into(),
        initial_accumulator_value: 0.1,
        eps: 1e-7,
    }
}

/// See [`adagrad`].
///
/// ```
/// assert_eq!(nnx_optim::optax::adagrad(0.1).initial_accumulator_value, 0.1);
/// ```
#[derive(Clone, Debug)]
pub struct Adagrad {
    /// The learning rate.
    pub learning_rate: ScalarOrSchedule,
    /// Initial sum of squares.
    pub initial_accumulator_value: f64,
    /// Epsilon.
    pub eps: f64,
}

impl Adagrad {
    /// The chain optax builds.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::adagrad(0.1).build().0.len(), 2);
    /// ```
    pub fn build(&self) -> Chain {
        chain(vec![
            Box::new(scale_by_rss(self.initial_accumulator_value, self.eps)),
            Box::new(scale_by_learning_rate(self.learning_rate.clone())),
        ])
    }
}
via_build!(Adagrad);

/// optax's `lion(learning_rate, b1=0.9, b2=0.99, weight_decay=1e-3, mask=None)`:
/// `chain(scale_by_lion, add_decayed_weights, scale_by_learning_rate)`.
///
/// ```
/// let tx = nnx_optim::optax::lion(1e-4).weight_decay(0.0);
/// assert_eq!(tx.b2, 0.99);
/// ```
pub fn lion(learning_rate: impl Into<ScalarOrSchedule>) -> Lion {
    Lion {
        learning_rate: learning_rate.into(),
        b1: 0.9,
        b2: 0.99,
        weight_decay: 1e-3.into(),
        mask: None,
    }
}

/// See [`lion`].
///
/// ```
/// assert_eq!(nnx_optim::optax::lion(1e-4).b1, 0.9);
/// ```
#[derive(Clone, Debug)]
pub struct Lion {
    /// The learning rate.
    pub learning_rate: ScalarOrSchedule,
    /// Interpolation for the update's sign.
    pub b1: f64,
    /// Momentum decay.
    pub b2: f64,
    /// Decoupled weight decay.
    pub weight_decay: ScalarOrSchedule,
    /// Which parameters are decayed.
    pub mask: Option<Mask>,
}

impl Lion {
    /// Sets the weight decay.
    ///
    /// ```
    /// let tx = nnx_optim::optax::lion(1e-4).weight_decay(0.5);
    /// assert!(matches!(tx.weight_decay, nnx_optim::optax::ScalarOrSchedule::Scalar(w) if w == 0.5));
    /// ```
    pub fn weight_decay(mut self, weight_decay: impl Into<ScalarOrSchedule>) -> Self {
        self.weight_decay = weight_decay.into();
        self
    }
    /// Decays only the parameters `mask` selects.
    ///
    /// ```
    /// assert!(nnx_optim::optax::lion(1e-4).mask(nnx_optim::optax::Mask::filter(nnx_core::Param)).mask.is_some());
    /// ```
    pub fn mask(mut self, mask: Mask) -> Self {
        self.mask = Some(mask);
        self
    }

    /// The chain optax builds.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::lion(1e-4).build().0.len(), 3);
    /// ```
    pub fn build(&self) -> Chain {
        chain(vec![
            Box::new(scale_by_lion(self.b1, self.b2)),
            decayed_weights(&self.weight_decay, &self.mask),
            Box::new(scale_by_learning_rate(self.learning_rate.clone())),
        ])
    }
}
via_build!(Lion);

/// optax's `lamb(learning_rate, b1=0.9, b2=0.999, eps=1e-6, eps_root=0,
/// weight_decay=0, mask=None)`: `chain(scale_by_adam, add_decayed_weights,
/// scale_by_trust_ratio, scale_by_learning_rate)`.
///
/// ```
/// let tx = nnx_optim::optax::lamb(1e-3).weight_decay(1e-2);
/// assert_eq!(tx.eps, 1e-6);
/// ```
pub fn lamb(learning_rate: impl Into<ScalarOrSchedule>) -> Lamb {
    Lamb {
        learning_rate: learning_rate.into(),
        b1: 0.9,
        b2: 0.999,
        eps: 1e-6,
        eps_root: 0.0,
        weight_decay: 0.0.into(),
        mask: None,
    }
}

/// See [`lamb`].
///
/// ```
/// assert_eq!(nnx_optim::optax::lamb(1e-3).b2, 0.999);
/// ```
#[derive(Clone, Debug)]
pub struct Lamb {
    /// The learning rate.
    pub learning_rate: ScalarOrSchedule,
    /// First-moment decay.
    pub b1: f64,
    /// Second-moment decay.
    pub b2: f64,
    /// Epsilon outside the square root.
    pub eps: f64,
    /// Epsilon inside the square root.
    pub eps_root: f64,
    /// Weight decay.
    pub weight_decay: ScalarOrSchedule,
    /// Which parameters are decayed.
    pub mask: Option<Mask>,
}

impl Lamb {
    /// Sets the weight decay.
    ///
    /// ```
    /// assert!(matches!(nnx_optim::optax::lamb(1e-3).weight_decay(0.1).weight_decay,
    ///     nnx_optim::optax::ScalarOrSchedule::Scalar(_)));
    /// ```
    pub fn weight_decay(mut self, weight_decay: impl Into<ScalarOrSchedule>) -> Self {
        self.weight_decay = weight_decay.into();
        self
    }
    /// Decays only the parameters `mask` selects.
    ///
    /// ```
    /// assert!(nnx_optim::optax::lamb(1e-3).mask(nnx_optim::optax::Mask::filter(nnx_core::Param)).mask.is_some());
    /// ```
    pub fn mask(mut self, mask: Mask) -> Self {
        self.mask = Some(mask);
        self
    }

    /// The chain optax builds.
    ///
    /// ```
    /// assert_eq!(nnx_optim::optax::lamb(1e-3).build().0.len(), 4);
    /// ```
    pub fn build(&self) -> Chain {
        chain(vec![
            Box::new(scale_by_adam(
                self.b1,
                self.b2,
                self.eps,
                self.eps_root,
                false,
            )),
            decayed_weights(&self.weight_decay, &self.mask),
            Box::new(scale_by_trust_ratio()),
            Box::new(scale_by_learning_rate(self.learning_rate.clone())),
        ])
    }
}
via_build!(Lamb);
