//! Training-step cost of the conv stack of `forward/conv` (benches/common's
//! `ConvStack`: 3x3 SAME convolutions with ReLU between them): the forward pass
//! alone and forward + backward through `value_and_grad` over every Param
//! (no optimizer), with a mean-square loss.

mod common;

use common::*;
use criterion::{criterion_group, criterion_main, Criterion};
use nnx::prelude::*;
use nnx::tensor::Tensor;

fn conv(c: &mut Criterion) {
    let mut model = ConvStack::new(&mut Rngs::new(0)).expect("model");
    let x = Tensor::from(input(&[CONV_BATCH, CONV_HW, CONV_HW, CONV_CHANNELS]));
    c.bench_function("train_step/conv_forward", |b| {
        b.iter(|| model.forward(&x).expect("forward"))
    });
    c.bench_function("train_step/conv", |b| {
        b.iter(|| {
            nnx::value_and_grad(&mut model, Param, |m| Ok(m.forward(&x)?.square().mean()))
                .expect("grad")
        })
    });
}

criterion_group! {
    name = benches;
    config = quick();
    targets = conv
}
criterion_main!(benches);
