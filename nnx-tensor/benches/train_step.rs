//! Training-step cost on Tensor: an MLP (depth 4, width 512, as the forward
//! benches) forward alone and forward + backward through `value_and_grad`
//! (no optimizer), and the tape's own overhead per node: a chain of ops on a
//! one-element tensor, recorded and differentiated versus run as constants.

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{ArrayD, Dimension, IxDyn};
use nnx_core::prelude::*;
use nnx_core::Result;
use nnx_tensor::{value_and_grad, Tensor};

const WIDTH: usize = 512;
const DEPTH: usize = 4;
const CHAIN: usize = 1000;

#[derive(Module)]
struct Linear {
    kernel: Param<Tensor>,
    bias: Param<Tensor>,
}

#[derive(Module)]
struct Mlp {
    layers: Vec<Linear>,
}

/// Deterministic values of order `scale`, no RNG needed for timing.
fn filled(shape: &[usize], scale: f32) -> Tensor {
    Tensor::from(ArrayD::from_shape_fn(IxDyn(shape), |i| {
        let k = i.slice().iter().fold(0usize, |a, &d| a * 31 + d);
        ((k % 17) as f32 / 8.0 - 1.0) * scale
    }))
}

impl Mlp {
    fn new() -> Mlp {
        let scale = 1.0 / (WIDTH as f32).sqrt();
        let layers = (0..DEPTH)
            .map(|_| Linear {
                kernel: Param::new(filled(&[WIDTH, WIDTH], scale)),
                bias: Param::new(Tensor::zeros(&[WIDTH])),
            })
            .collect();
        Mlp { layers }
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = (h.matmul(&l.kernel)? + &*l.bias)?;
            if i + 1 < self.layers.len() {
                h = h.relu();
            }
        }
        Ok(h)
    }
}

fn mlp(c: &mut Criterion) {
    let mut model = Mlp::new();
    for batch in [1, 256] {
        let x = filled(&[batch, WIDTH], 1.0);
        c.bench_function(&format!("train_step/mlp_forward/{batch}"), |b| {
            b.iter(|| model.forward(&x).expect("forward"))
        });
        c.bench_function(&format!("train_step/mlp/{batch}"), |b| {
            b.iter(|| {
                value_and_grad(&mut model, Param, |m| Ok(m.forward(&x)?.square().mean()))
                    .expect("grad")
            })
        });
    }
}

/// `CHAIN` multiply-adds on a one-element tensor: kernel cost is negligible, so
/// the difference between the two timings is the tape's cost (recording plus
/// running the rule) of `2 * CHAIN` nodes.
fn tape_overhead(c: &mut Criterion) {
    let chain = |x: &Tensor| {
        let mut y = x.clone();
        for _ in 0..CHAIN {
            y = y * 1.0001 + 0.5;
        }
        y.sum()
    };
    let mut p = Param::new(Tensor::ones(&[1]));
    c.bench_function("train_step/tape/constant_chain", |b| b.iter(|| chain(&p)));
    c.bench_function("train_step/tape/recorded_chain", |b| {
        b.iter(|| value_and_grad(&mut p, Param, |p| Ok(chain(p))).expect("grad"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = mlp, tape_overhead
}
criterion_main!(benches);
