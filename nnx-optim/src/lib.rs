//! Training for nnx: optax's gradient transformations, schedules and losses
//! ([`optax`]), Flax's `nnx.Optimizer` ([`Optimizer`]) and `nnx.metrics`.
//!
//! The numbers are optax's: the same formulas (epsilon outside the square
//! root and `eps_root` inside, bias correction by division, schedules asked at a
//! transformation's own `int32` count, saturating counters), checked step by step
//! against optax. The optimizer's state has Flax's layout, so it prints like
//! `nnx.state(optimizer)` and checkpoints restore training exactly.
//!
//! ```
//! use nnx_core::prelude::*;
//! use nnx_optim::{optax, Optimizer};
//! use nnx_tensor::{value_and_grad, Tensor};
//!
//! #[derive(Module)]
//! struct Model { w: Param<Tensor> }
//!
//! let mut model = Model { w: Param::new(Tensor::from(ndarray::arr1(&[1.0f32, -1.0]))) };
//! let mut opt = Optimizer::new(&model, optax::adamw(0.1).weight_decay(0.0), Param).unwrap();
//! let (loss, grads) = value_and_grad(&mut model, Param, |m| Ok(m.w.square().sum())).unwrap();
//! opt.update(&mut model, &grads).unwrap();
//! // Adam's first step moves each weight by the learning rate (up to eps).
//! assert_eq!(loss, 2.0);
//! assert!((model.w.to_array()[0] - 0.9).abs() < 1e-6);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alias;
mod float;
mod fused;
mod losses;
pub mod metrics;
mod optimizer;
mod schedule;
mod state;
mod transform;

pub use float::FloatTensor;
pub use optimizer::Optimizer;
pub use state::{resolve_kind, OptArray, OptState, OptVariable, TransformState};

/// optax for nnx: gradient transformations, optimizers, schedules, losses, and
/// the functional `init` / `update` / `apply_updates` over States.
///
/// ```
/// use nnx_optim::optax;
/// let lr = optax::warmup_cosine_decay_schedule(0.0, 1e-3, 10, 100, 1e-5, 1.0).unwrap();
/// let _tx = optax::chain(vec![Box::new(optax::clip_by_global_norm(1.0)), Box::new(optax::adamw(lr))]);
/// ```
pub mod optax {
    pub use crate::alias::{
        adagrad, adam, adamw, lamb, lion, rmsprop, sgd, Adagrad, Adam, Lamb, Lion, RmsProp, Sgd,
    };
    pub use crate::float::FloatTensor;
    pub use crate::losses::{
        cosine_distance, huber_loss, l2_loss, sigmoid_binary_cross_entropy, softmax_cross_entropy,
        softmax_cross_entropy_with_integer_labels, squared_error,
    };
    pub use crate::optimizer::{apply_updates, init, update};
    pub use crate::schedule::{
        constant_schedule, cosine_decay_schedule, exponential_decay, join_schedules,
        linear_schedule, piecewise_constant_schedule, polynomial_schedule,
        warmup_cosine_decay_schedule, ScalarOrSchedule, Schedule,
    };
    pub use crate::state::TransformState;
    pub use crate::transform::{
        add_decayed_weights, chain, clip, clip_by_global_norm, identity, masked, scale,
        scale_by_adam, scale_by_learning_rate, scale_by_lion, scale_by_rms, scale_by_rss,
        scale_by_schedule, scale_by_trust_ratio, trace, AddDecayedWeights, Chain, ClipByGlobalNorm,
        GradientTransformation, Identity, Leaf, Mask, Masked, MultiSteps, ScaleByAdam,
        ScaleByLearningRate, ScaleByLion, ScaleByRms, ScaleByRss, ScaleByTrustRatio, Stateless,
        Trace,
    };
}
