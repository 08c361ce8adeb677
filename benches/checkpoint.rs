//! safetensors save and load of a ~105 MB State (25 Linear layers of 1024 x 1024).

mod common;

use common::{quick, Mlp, CKPT_LAYERS, CKPT_WIDTH};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use nnx::checkpoint::{load_state, save_state};
use nnx::prelude::*;

fn checkpoint(c: &mut Criterion) {
    let state = Mlp::new(CKPT_LAYERS, CKPT_WIDTH, &mut Rngs::new(0))
        .expect("model")
        .state();
    let bytes = (CKPT_LAYERS * CKPT_WIDTH * (CKPT_WIDTH + 1) * 4) as u64;
    let path = std::env::temp_dir().join(format!("nnx-bench-{}.safetensors", std::process::id()));
    let mut g = c.benchmark_group("checkpoint");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("save", |b| {
        b.iter(|| save_state(&state, &path).expect("save"))
    });
    g.bench_function("load", |b| b.iter(|| load_state(&path).expect("load")));
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group! {
    name = benches;
    config = quick();
    targets = checkpoint
}
criterion_main!(benches);
