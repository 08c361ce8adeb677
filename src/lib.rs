//! nnx: Flax NNX for Rust.
//!
//! Modules are plain structs; `#[derive(Module)]` gives them Flax's graph
//! operations (`state`, `split`, `merge`, `update`, `pop`, ...):
//!
//! ```
//! use ndarray::Array1;
//! use nnx::prelude::*;
//!
//! #[derive(Module)]
//! struct Linear {
//!     w: Param<Array1<f32>>,
//!     b: Param<Array1<f32>>,
//! }
//!
//! let model = Linear { w: Param::new(Array1::ones(3)), b: Param::new(Array1::zeros(3)) };
//! assert_eq!(model.state().flat_state().len(), 2);
//! let (graphdef, state) = model.split(..).unwrap();
//! let back: Linear = graphdef.merge(state).unwrap();
//! assert_eq!(*back.w, Array1::<f32>::ones(3));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Lets `#[derive(Module)]` name this crate `::nnx` here and in doctests alike.
extern crate self as nnx;

pub use nnx_core::*;

/// Derives `Field` and `Module` (and `Sow`, with a `#[nnx(sow)]` field).
///
/// Each field joins the graph through its type: Variables, modules, `Option`,
/// `Vec`, arrays, `Box`, `BTreeMap<String, _>` and `Shared` of those, and
/// primitives (as static values). Children are visited in sorted key order
/// (integers before strings), so paths match Flax's.
///
/// Field options: `#[nnx(static)]` (a hyperparameter kept in the GraphDef: `Clone +
/// Debug + PartialEq + Hash`), `#[nnx(skip)]` (not in the graph; `Default` on
/// merge), `#[nnx(rename = "key")]`, and `#[nnx(sow)]` on one `Sown` field to let
/// the module `sow`. Container option: `#[nnx(crate = "path")]` when `nnx` is
/// reachable under another path.
///
/// Enum variants are nodes named `"Enum::Variant"` that add a path level (a
/// newtype variant's value sits under `0`). `#[nnx(transparent)]` on a newtype
/// variant, or on the enum for all its variants, puts the value at the enum's own
/// key instead, as a Flax attribute holding any layer: the GraphDef still records
/// the variant, so merge rebuilds it.
///
/// ```
/// use ndarray::Array1;
/// use nnx::prelude::*;
/// use nnx::Intermediate;
///
/// #[derive(Clone, Debug, PartialEq, Hash)]
/// enum Activation { Relu, Gelu }
///
/// #[derive(Module)]
/// struct Block {
///     #[nnx(rename = "kernel")]
///     w: Param<Array1<f32>>,
///     #[nnx(static)]
///     act: Activation,
///     #[nnx(skip)]
///     calls: usize,
///     #[nnx(sow)]
///     sown: Sown,
/// }
///
/// #[derive(Module)]
/// enum Head { Dense(Block), Identity }
///
/// let mut block = Block { w: Param::new(Array1::ones(2)), act: Activation::Gelu, calls: 3, sown: Sown::default() };
/// block.sow(Intermediate, "h", 1.0f32).unwrap();
/// let paths: Vec<String> = block.state().flat_state().iter().map(|(p, _)| nnx::path_string(p)).collect();
/// assert_eq!(paths, ["h", "kernel"]);
///
/// let (graphdef, state) = Head::Dense(block).split(..).unwrap();
/// match graphdef.merge(state).unwrap() {
///     Head::Dense(b) => assert_eq!((b.act, b.calls), (Activation::Gelu, 0)),
///     Head::Identity => unreachable!(),
/// }
///
/// // Transparent: `layers/0/kernel`, not `layers/0/0/kernel`.
/// #[derive(Module)]
/// #[nnx(transparent)]
/// enum Layer { Dense(Block), Scale(Param<f32>) }
/// #[derive(Module)]
/// struct Net { layers: Vec<Layer> }
/// let net = Net { layers: vec![
///     Layer::Dense(Block { w: Param::new(Array1::ones(2)), act: Activation::Relu, calls: 0, sown: Sown::default() }),
///     Layer::Scale(Param::new(2.0)),
/// ] };
/// let paths: Vec<String> = net.state().flat_state().iter().map(|(p, _)| nnx::path_string(p)).collect();
/// assert_eq!(paths, ["layers/0/kernel", "layers/1"]);
/// let (graphdef, state) = net.split(..).unwrap();
/// assert!(matches!(graphdef.merge(state).unwrap().layers[1], Layer::Scale(_)));
/// ```
pub use nnx_derive::Module;

/// The layer library (`nnx-layers`): `nnx::nn::Linear`, `nnx::nn::BatchNorm`, ...
///
/// ```
/// use nnx::prelude::*;
/// let bn = nnx::nn::BatchNorm::new(3, &mut Rngs::new(0)).unwrap();
/// assert_eq!(bn.state().len(), 4);
/// ```
pub use nnx_layers as nn;

/// Differentiable tensors (`nnx-tensor`): [`Tensor`](nnx_tensor::Tensor), its ops
/// and their gradient rules.
///
/// ```
/// let t = nnx::tensor::Tensor::ones(&[2, 2]);
/// assert_eq!(t.sum().item().unwrap(), 4.0);
/// ```
pub use nnx_tensor as tensor;

/// Gradients over modules (Flax's `nnx.value_and_grad` / `nnx.grad`), returned as
/// States; see [`nnx_tensor::value_and_grad`].
///
/// ```
/// use nnx::prelude::*;
/// use nnx::tensor::Tensor;
/// let mut w = Param::new(Tensor::scalar(3.0));
/// let (loss, grads) = nnx::value_and_grad(&mut w, Param, |w| Ok(w.square())).unwrap();
/// assert_eq!((loss, grads.len()), (9.0, 1));
/// let g = nnx::grad(&mut w, Param, |w| Ok(w.square())).unwrap();
/// assert_eq!(g, grads);
/// ```
pub use nnx_tensor::{grad, value_and_grad};

/// Flax 0.12's `capture` and `Module.perturb`: collect what a call sows, and take
/// gradients with respect to intermediate values; see [`nnx_core::sow::capture`]
/// and [`nnx_tensor::Perturb`].
///
/// ```
/// use nnx::prelude::*;
/// use nnx::{tensor::Tensor, Perturb};
/// #[derive(Module)]
/// struct M {
///     #[nnx(sow)]
///     sown: Sown,
/// }
/// let mut m = M { sown: Sown::default() };
/// let (y, perturbations) = nnx::capture(&mut m, &[Perturbation], |m| m.perturb("h", &Tensor::ones(&[2])))?;
/// assert_eq!((y, perturbations.len()), (Tensor::ones(&[2]), 1));
/// # Ok::<(), nnx::Error>(())
/// ```
pub use nnx_core::sow::capture;
/// See [`capture`].
///
/// ```
/// use nnx::Perturb;
/// fn takes<M: Perturb>(_: &M) {}
/// ```
pub use nnx_tensor::Perturb;

/// optax for nnx (`nnx-optim`): gradient transformations, optimizers,
/// schedules and losses, with optax's numerics.
///
/// ```
/// let tx = nnx::optax::adamw(1e-3).weight_decay(1e-4);
/// assert_eq!(tx.b1, 0.9);
/// ```
pub use nnx_optim::optax;

/// Flax's `nnx.Optimizer` and its Variable types (`OptState`, `OptArray`,
/// `OptVariable`); see [`nnx_optim::Optimizer`].
///
/// ```
/// use nnx::prelude::*;
/// let model = vec![Param::new(nnx::tensor::Tensor::ones(&[2]))];
/// let opt = nnx::Optimizer::new(&model, nnx::optax::sgd(0.1), Param).unwrap();
/// assert_eq!(opt.step(), 0);
/// ```
pub use nnx_optim::{OptArray, OptState, OptVariable, Optimizer};

/// Resolves the optimizer's Variable type names when loading a checkpoint; see
/// [`nnx_optim::resolve_kind`].
///
/// ```
/// assert_eq!(nnx::resolve_opt_kind("OptArray"), Some(nnx::OptArray));
/// ```
pub use nnx_optim::resolve_kind as resolve_opt_kind;

/// Flax's `nnx.metrics` (`Average`, `Accuracy`, `Welford`, `MultiMetric`); see
/// [`nnx_optim::metrics`].
///
/// ```
/// let mut avg = nnx::metrics::Average::new("loss");
/// avg.update(&nnx::metrics::Batch::new().scalar("loss", 2.0)).unwrap();
/// assert_eq!(avg.compute().scalar(), Some(2.0));
/// ```
pub use nnx_optim::metrics;
