//! Benchmarks of the stateful layers: MultiHeadAttention (full pass and one
//! decode step), BatchNorm and LayerNorm forward.

use criterion::{criterion_group, criterion_main, Criterion};
use ndarray::{ArrayD, Dimension, IxDyn};
use nnx_core::rngs::Rngs;
use nnx_layers::{BatchNorm, LayerNorm, MultiHeadAttention};
use nnx_tensor::Tensor;

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
    let mut rngs = Rngs::new(0);
    // batch 8, length 128, 8 heads of 64, in_features 512.
    let x = Tensor::new(filled(&[8, 128, 512]));
    let mut mha = MultiHeadAttention::config(8, 512)
        .build(&mut rngs)
        .expect("mha");
    c.bench_function("MultiHeadAttention full b8 L128 8x64 in512", |b| {
        b.iter(|| mha.forward(&x).map(|y| y.len()))
    });

    let mut dec = MultiHeadAttention::config(8, 512)
        .decode(true)
        .build(&mut rngs)
        .expect("mha");
    dec.init_cache(&[8, 128, 512]).expect("cache");
    let step = x.slice(1, 0..1).expect("one step");
    // Fill half the cache so the step attends over 64 positions, then time one
    // more step (re-initializing when the cache would overflow).
    for _ in 0..64 {
        dec.forward(&step).expect("step");
    }
    let mut steps = 64;
    c.bench_function("MultiHeadAttention decode step b8 max128 8x64 in512", |b| {
        b.iter(|| {
            if steps == 128 {
                dec.init_cache(&[8, 128, 512]).expect("cache");
                steps = 0;
            }
            steps += 1;
            dec.forward(&step).map(|y| y.len())
        })
    });

    let xb = Tensor::new(filled(&[64, 256]));
    let mut bn = BatchNorm::new(256, &mut rngs).expect("bn");
    c.bench_function("BatchNorm train (64, 256)", |b| {
        b.iter(|| bn.forward(&xb).map(|y| y.len()))
    });
    let mut bne = BatchNorm::config(256)
        .use_running_average(true)
        .build(&mut rngs)
        .expect("bn");
    c.bench_function("BatchNorm eval (64, 256)", |b| {
        b.iter(|| bne.forward(&xb).map(|y| y.len()))
    });
    let xl = Tensor::new(filled(&[8, 128, 512]));
    let ln = LayerNorm::new(512, &mut rngs).expect("ln");
    c.bench_function("LayerNorm (8, 128, 512)", |b| {
        b.iter(|| ln.apply(&xl).map(|y| y.len()))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
