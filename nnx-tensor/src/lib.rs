//! Differentiable tensors for nnx: [`Tensor`], its ops with their gradient rules,
//! and [`value_and_grad`] / [`grad`] over modules, as Flax NNX's `nnx.value_and_grad`.
//!
//! ```
//! use nnx_core::prelude::*;
//! use nnx_tensor::{value_and_grad, Tensor};
//!
//! #[derive(Module)]
//! struct Linear { kernel: Param<Tensor>, bias: Param<Tensor> }
//!
//! impl Linear {
//!     fn forward(&self, x: &Tensor) -> nnx_core::Result<Tensor> {
//!         x.matmul(&self.kernel)? + &*self.bias
//!     }
//! }
//!
//! let mut model = Linear {
//!     kernel: Param::new(Tensor::ones(&[3, 2])),
//!     bias: Param::new(Tensor::zeros(&[2])),
//! };
//! let x = Tensor::ones(&[4, 3]);
//! let (loss, grads) = value_and_grad(&mut model, Param, |m| Ok(m.forward(&x)?.mean())).unwrap();
//! assert_eq!(loss, 3.0);
//! assert_eq!(grads.flat_state().len(), 2); // 'bias' and 'kernel', as model.state_of(Param)
//! ```
//!
//! # Design
//!
//! - **A tape of kernels.** Each op runs one ndarray kernel on whole arrays and,
//!   while a gradient is being taken, records one tape node: the op's name, its
//!   output shape, its input nodes and a vector-Jacobian-product closure holding
//!   what the rule needs (usually `Arc`s of the inputs or the output, never
//!   copies). Backward runs the closures in reverse order, each once, and drops
//!   it right after, so saved buffers are released as backward proceeds. Scalar
//!   tapes (one node per number) would cost a node per element; a tape of kernels
//!   costs one per op, so its overhead is independent of the batch size.
//! - **Thread-local, only inside `value_and_grad`.** The tape lives in a
//!   thread-local slot that `value_and_grad` fills for the duration of the call.
//!   Outside it nothing is recorded: an op checks that none of its inputs carries
//!   a tape node (a field read, no thread-local access) and returns a plain
//!   tensor, so inference costs what the ndarray kernel costs and models can be
//!   shared across threads. Tapes are numbered process-wide, so a tensor left
//!   over from an earlier gradient (or from another thread) is a constant.
//!   Because the tape is implicit, one forward function serves inference and
//!   training and users never write a backend type parameter.
//! - **Gradients are States.** `value_and_grad` marks the Variables matching
//!   `wrt` as leaves (same buffers, new tape nodes, written back with
//!   `Module::update`), runs `f`, and returns the leaves' cotangents as a
//!   [`State`](nnx_core::State) with `model.state_of(wrt)`'s paths, Variable
//!   types and metadata. Everything else `f` changes stays changed, as in Flax.
//! - **New kernels slot in** through [`Tensor::from_op`]: compute the output,
//!   give the rule. Convolution, pooling and normalization join that way.
//!
//! Reverse-mode only, first order: a `value_and_grad` inside another is an `Err`.
//! The tape belongs to the thread that called `value_and_grad`: ops that `f` runs
//! on other threads are not recorded (their results are constants).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod grad;
mod ops;
mod perturb;
mod tape;
mod tensor;

pub use grad::{grad, grad_with_aux, value_and_grad, value_and_grad_with_aux, DiffArgs, Watched};
pub use ops::{
    check_alloc, per_axis, ConvOptions, ConvTransposeOptions, GroupNormOptions, Padding,
};
pub use ops::{
    combine_masks, concat, dot_product_attention, dot_product_attention_weights, einsum,
    make_attention_mask, make_causal_mask, AttentionDropout, AttentionOptions, EinsumEquation,
};
pub use perturb::Perturb;
pub use tape::is_recording;
pub use tensor::Tensor;
