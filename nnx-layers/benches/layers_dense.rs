//! Forward benchmarks of the dense layers: Linear, LinearGeneral, Einsum,
//! Embed, Conv, ConvTranspose, PReLU.

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{Array2, ArrayD, IxDyn};
use nnx_core::rngs::Rngs;
use nnx_layers::{Conv, ConvTranspose, Einsum, Embed, Linear, LinearGeneral, PReLU};
use nnx_tensor::Tensor;

fn filled(shape: &[usize]) -> ArrayD<f32> {
    // Deterministic, non-constant values.
    let mut i = 0usize;
    ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        i += 1;
        ((i % 17) as f32 - 8.0) / 8.0
    })
}

fn bench(c: &mut Criterion) {
    let mut rngs = Rngs::new(0);
    let lin = Linear::new(512, 512, &mut rngs).expect("linear");
    for batch in [1, 256] {
        let x = Tensor::new(filled(&[batch, 512]));
        c.bench_function(&format!("Linear 512->512 batch {batch}"), |b| {
            b.iter(|| lin.apply(&x).map(|y| y.len()))
        });
    }
    let lg = LinearGeneral::config(&[8, 64], &[8, 64])
        .axis(&[-2, -1])
        .build(&mut rngs)
        .expect("linear general");
    let x = Tensor::new(filled(&[64, 8, 64]));
    c.bench_function("LinearGeneral (8,64)->(8,64) batch 64", |b| {
        b.iter(|| lg.apply(&x).map(|y| y.len()))
    });
    let es = Einsum::config("btd,ndh->btnh", &[8, 512, 64])
        .bias_shape(&[8, 64])
        .build(&mut rngs)
        .expect("einsum");
    let x = Tensor::new(filled(&[8, 32, 512]));
    c.bench_function("Einsum btd,ndh->btnh b8 t32 d512 n8 h64", |b| {
        b.iter(|| es.apply(&x).map(|y| y.len()))
    });
    let emb = Embed::new(1000, 256, &mut rngs).expect("embed");
    let idx = Array2::from_shape_fn((32, 64), |(i, j)| ((i * 64 + j) * 7 % 1000) as i64);
    c.bench_function("Embed 1000x256 lookup 32x64", |b| {
        b.iter(|| emb.lookup(&idx).map(|y| y.len()))
    });
    let conv = Conv::new(16, 16, &[3, 3], &mut rngs).expect("conv");
    let x = Tensor::from(filled(&[32, 32, 32, 16]));
    c.bench_function("Conv2d b32 32x32x16->16 3x3 SAME", |b| {
        b.iter(|| conv.apply(&x).map(|y| y.len()))
    });
    let up = ConvTranspose::config(16, 16, &[3, 3])
        .strides(&[2, 2])
        .build(&mut rngs)
        .expect("conv transpose");
    let x = Tensor::from(filled(&[8, 16, 16, 16]));
    c.bench_function("ConvTranspose2d b8 16x16x16->16 3x3 stride 2", |b| {
        b.iter(|| up.apply(&x).map(|y| y.len()))
    });
    let act = PReLU::new();
    let x = nnx_tensor::Tensor::new(filled(&[256, 512]));
    c.bench_function("PReLU 256x512", |b| {
        b.iter(|| act.apply(&x).map(|y| y.len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
