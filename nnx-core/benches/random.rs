//! Throughput of the PRNG: 1M raw 32-bit words and 1M f32 normals.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use nnx_core::random::{bits_u32, key, normal};

const N: usize = 1 << 20;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("random");
    g.throughput(Throughput::Elements(N as u64));
    let k = key(0);
    g.bench_function("bits_u32_1M", |b| b.iter(|| bits_u32(black_box(k), &[N])));
    g.bench_function("normal_f32_1M", |b| {
        b.iter(|| normal::<f32>(black_box(k), &[N]))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
