//! Throughput of the PRNG: 1M raw 32-bit words, f32 uniforms and f32 normals
//! (`random(out)` in `benches/compare/flax_bench.py` is the JAX twin).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use nnx_core::random::{bits_u32, key, normal, uniform};

const N: usize = 1 << 20;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("random");
    g.throughput(Throughput::Elements(N as u64));
    let k = key(0);
    g.bench_function("bits_u32_1M", |b| b.iter(|| bits_u32(black_box(k), &[N])));
    g.bench_function("uniform_f32_1M", |b| {
        b.iter(|| uniform::<f32>(black_box(k), &[N], 0.0, 1.0))
    });
    g.bench_function("normal_f32_1M", |b| {
        b.iter(|| normal::<f32>(black_box(k), &[N]))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
