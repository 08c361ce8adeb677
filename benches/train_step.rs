//! Training steps on the library's layers: forward + backward through
//! `value_and_grad` (no optimizer) of the forward benches' MLP (4 Linear layers
//! of 512, ReLU, batch 256) and attention block (MultiHeadAttention, batch 8,
//! length 128, 8 heads of 64), next to the same forward passes alone.
//!
//! Before the timings it prints the peak memory of the first MLP training step:
//! the process's resident high-water mark (`VmHWM`), reset just before the step
//! through `/proc/self/clear_refs` (Linux), minus the resident size before it.
//! (The first step: later ones reuse memory the allocator kept.)

mod common;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use nnx::prelude::*;
use nnx::tensor::Tensor;
use nnx::value_and_grad;

/// `mean(y²)`: a scalar loss touching every output.
fn loss(y: Tensor) -> nnx::Result<Tensor> {
    Ok(y.square().mean())
}

/// A field of `/proc/self/status` in kB (`None` off Linux).
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn report_peak_memory() {
    let mut model = Mlp::new(MLP_DEPTH, MLP_WIDTH, &mut Rngs::new(0)).expect("model");
    let x: Tensor = input(&[256, MLP_WIDTH]).into();
    if std::fs::write("/proc/self/clear_refs", "5").is_err() {
        return;
    }
    let before = status_kb("VmRSS:");
    let grads = value_and_grad(&mut model, Param, |m| loss(m.forward(&x)?)).expect("step");
    let peak = status_kb("VmHWM:");
    drop(grads);
    if let (Some(before), Some(peak)) = (before, peak) {
        let params = MLP_DEPTH * (MLP_WIDTH * MLP_WIDTH + MLP_WIDTH) * 4 / 1024;
        eprintln!(
            "MLP training step (batch 256, {MLP_DEPTH}x{MLP_WIDTH}): peak RSS {:.1} MB above the {:.1} MB before it ({:.1} MB of parameters)",
            peak.saturating_sub(before) as f64 / 1024.0,
            before as f64 / 1024.0,
            params as f64 / 1024.0
        );
    }
}

fn mlp(c: &mut Criterion) {
    report_peak_memory();
    let mut model = Mlp::new(MLP_DEPTH, MLP_WIDTH, &mut Rngs::new(0)).expect("model");
    let x: Tensor = input(&[256, MLP_WIDTH]).into();
    c.bench_function("train_step/mlp_forward/256", |b| {
        b.iter(|| model.forward(&x).expect("forward"))
    });
    c.bench_function("train_step/mlp/256", |b| {
        b.iter(|| value_and_grad(&mut model, Param, |m| loss(m.forward(&x)?)).expect("step"))
    });
}

fn attention_block(c: &mut Criterion) {
    let mut model = attention(false).expect("model");
    let x: Tensor = input(&[MHA_BATCH, MHA_LEN, MHA_FEATURES]).into();
    c.bench_function("train_step/mha_forward", |b| {
        b.iter(|| model.apply(&x).expect("forward"))
    });
    c.bench_function("train_step/mha", |b| {
        b.iter(|| value_and_grad(&mut model, Param, |m| loss(m.forward(&x)?)).expect("step"))
    });
}

criterion_group! {
    name = benches;
    config = quick();
    targets = mlp, attention_block
}
criterion_main!(benches);
