//! Training steps of the forward benches' models (benches/common): the MLP
//! (4 Linear layers of 512, ReLU) at batch 256, the conv stack and the attention
//! block, each with the loss `mean(y²)`.
//!
//! - `train/<model>`: Flax's usual train step, `value_and_grad` over the Params
//!   then `optimizer.update(model, grads)` with `optax::adamw(1e-3)` (weight decay
//!   1e-4, optax's default). Its twin is `train_step_time` in
//!   `benches/compare/flax_bench.py` (a jitted step of `nnx.Optimizer`).
//! - `train_grad/<model>`: forward + backward alone (no optimizer). Kept because,
//!   next to `forward/*` and `train/*`, it splits a step into forward, backward
//!   and optimizer cost; it has no Flax twin.
//!
//! Before the timings it prints the peak memory of the first MLP train step: the
//! process's resident high-water mark (`VmHWM`), reset just before the step
//! through `/proc/self/clear_refs` (Linux), minus the resident size before it
//! (the optimizer's state is allocated before; later steps reuse memory the
//! allocator kept).

mod common;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use nnx::optax;
use nnx::prelude::*;
use nnx::tensor::Tensor;
use nnx::{value_and_grad, Optimizer};

/// A model of the forward benches, as the train benches drive it.
trait Model: Module {
    fn output(&mut self, x: &Tensor) -> nnx::Result<Tensor>;
}

impl Model for Mlp {
    fn output(&mut self, x: &Tensor) -> nnx::Result<Tensor> {
        self.forward(x)
    }
}

impl Model for ConvStack {
    fn output(&mut self, x: &Tensor) -> nnx::Result<Tensor> {
        self.forward(x)
    }
}

impl Model for nnx::nn::MultiHeadAttention {
    fn output(&mut self, x: &Tensor) -> nnx::Result<Tensor> {
        self.forward(x)
    }
}

/// `mean(y²)` of the model's output: a scalar loss touching every output.
fn loss<M: Model>(model: &mut M, x: &Tensor) -> nnx::Result<Tensor> {
    Ok(model.output(x)?.square().mean())
}

fn optimizer<M: Model>(model: &M) -> Optimizer<nnx::Kind> {
    Optimizer::new(model, optax::adamw(1e-3), Param).expect("optimizer")
}

/// One train step: loss and gradients, then adamw's update of the Params.
fn train_step<M: Model>(model: &mut M, opt: &mut Optimizer<nnx::Kind>, x: &Tensor) -> f32 {
    let (value, grads) = value_and_grad(&mut *model, Param, |m| loss(m, x)).expect("grad");
    opt.update(model, &grads).expect("update");
    value
}

/// Benches `train_grad/<name>` and `train/<name>` on `model`.
fn bench_model<M: Model>(c: &mut Criterion, name: &str, mut model: M, x: Tensor) {
    c.bench_function(&format!("train_grad/{name}"), |b| {
        b.iter(|| value_and_grad(&mut model, Param, |m| loss(m, &x)).expect("grad"))
    });
    let mut opt = optimizer(&model);
    c.bench_function(&format!("train/{name}"), |b| {
        b.iter(|| train_step(&mut model, &mut opt, &x))
    });
}

/// A field of `/proc/self/status` in kB (`None` off Linux).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn report_peak_memory() {
    let mut model = Mlp::new(MLP_DEPTH, MLP_WIDTH, &mut Rngs::new(0)).expect("model");
    let mut opt = optimizer(&model);
    let x: Tensor = input(&[256, MLP_WIDTH]).into();
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        return;
    }
    let before = status_kb("VmRSS:");
    train_step(&mut model, &mut opt, &x);
    let peak = status_kb("VmHWM:");
    if let (Some(before), Some(peak)) = (before, peak) {
        let params = MLP_DEPTH * (MLP_WIDTH * MLP_WIDTH + MLP_WIDTH) * 4 / 1024;
        eprintln!(
            "MLP train step with adamw (batch 256, {MLP_DEPTH}x{MLP_WIDTH}): peak RSS {:.1} MB above the {:.1} MB before it ({:.1} MB of parameters)",
            peak.saturating_sub(before) as f64 / 1024.0,
            before as f64 / 1024.0,
            params as f64 / 1024.0
        );
    }
}

fn mlp(c: &mut Criterion) {
    report_peak_memory();
    let model = Mlp::new(MLP_DEPTH, MLP_WIDTH, &mut Rngs::new(0)).expect("model");
    bench_model(c, "mlp/256", model, input(&[256, MLP_WIDTH]).into());
}

fn conv(c: &mut Criterion) {
    let model = ConvStack::new(&mut Rngs::new(0)).expect("model");
    let x = input(&[CONV_BATCH, CONV_HW, CONV_HW, CONV_CHANNELS]).into();
    bench_model(c, "conv", model, x);
}

fn mha(c: &mut Criterion) {
    let model = attention(false).expect("model");
    bench_model(
        c,
        "mha",
        model,
        input(&[MHA_BATCH, MHA_LEN, MHA_FEATURES]).into(),
    );
}

criterion_group! {
    name = benches;
    config = quick();
    targets = mlp, conv, mha
}
criterion_main!(benches);
