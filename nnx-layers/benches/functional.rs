//! Benchmarks of the functional layer math: conv2d and attention.

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{ArrayD, Dimension, IxDyn};
use nnx_layers::functional::{conv_general, ConvOptions};
use nnx_tensor::{dot_product_attention, AttentionOptions, Tensor};

fn filled(shape: &[usize]) -> ArrayD<f32> {
    // Deterministic, non-constant values; no RNG dependency needed.
    ArrayD::from_shape_fn(IxDyn(shape), |ix| {
        let s: usize = ix
            .slice()
            .iter()
            .enumerate()
            .map(|(i, v)| (i + 1) * v)
            .sum();
        ((s % 17) as f32 - 8.0) / 8.0
    })
}

fn bench(c: &mut Criterion) {
    let x = Tensor::from(filled(&[32, 32, 32, 16]));
    let k = Tensor::from(filled(&[3, 3, 16, 16]));
    let opts = ConvOptions::default();
    c.bench_function("conv2d b32 32x32x16->16 3x3 SAME", |b| {
        b.iter(|| conv_general(&x, &k, &opts).map(|y| y.len()))
    });
    let q = Tensor::new(filled(&[8, 128, 8, 64]));
    let o = AttentionOptions::default();
    c.bench_function("attention b8 L128 8x64", |b| {
        b.iter(|| dot_product_attention(&q, &q, &q, &o).map(|y| y.len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
