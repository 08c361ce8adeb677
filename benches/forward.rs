//! Model construction and forward passes: an MLP (width 512) at batch 1 and 256, a
//! 3x3 Conv stack, MultiHeadAttention over a full sequence and one decode step.

mod common;

use std::time::{Duration, Instant};

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use nnx::prelude::*;
use nnx::tensor::Tensor;
use nnx::{Key, VariableState};

fn construct(c: &mut Criterion) {
    c.bench_function("forward/construct_mlp", |b| {
        b.iter(|| Mlp::new(MLP_DEPTH, MLP_WIDTH, &mut Rngs::new(0)).expect("model"))
    });
}

fn mlp(c: &mut Criterion) {
    let model = Mlp::new(MLP_DEPTH, MLP_WIDTH, &mut Rngs::new(0)).expect("model");
    for batch in [1, 256] {
        let x = input(&[batch, MLP_WIDTH]).into();
        c.bench_function(&format!("forward/mlp/{batch}"), |b| {
            b.iter(|| model.forward(&x).expect("forward"))
        });
    }
}

fn conv(c: &mut Criterion) {
    let model = ConvStack::new(&mut Rngs::new(0)).expect("model");
    let x = Tensor::from(input(&[CONV_BATCH, CONV_HW, CONV_HW, CONV_CHANNELS]));
    c.bench_function("forward/conv", |b| {
        b.iter(|| model.forward(&x).expect("forward"))
    });
}

fn mha(c: &mut Criterion) {
    let mut model = attention(false).expect("model");
    let x = input(&[MHA_BATCH, MHA_LEN, MHA_FEATURES]).into();
    c.bench_function("forward/mha", |b| {
        b.iter(|| model.forward(&x).expect("forward"))
    });
}

fn mha_decode(c: &mut Criterion) {
    let mut model = attention(true).expect("model");
    model
        .init_cache(&[MHA_BATCH, MHA_LEN, MHA_FEATURES])
        .expect("cache");
    let x = input(&[MHA_BATCH, 1, MHA_FEATURES]).into();
    let rewind = || {
        State::from_flat([(
            vec![Key::from("cache_index")],
            VariableState::new(Cache, DECODE_POSITION),
        )])
        .unwrap()
    };
    // Every step writes the same position: the index is rewound between steps,
    // outside the timed region.
    c.bench_function("forward/mha_decode", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                model.update(rewind()).expect("rewind");
                let start = Instant::now();
                let y = model.forward(&x).expect("step");
                total += start.elapsed();
                drop(y);
            }
            total
        })
    });
}

criterion_group! {
    name = benches;
    config = quick();
    targets = construct, mlp, conv, mha, mha_decode
}
criterion_main!(benches);
