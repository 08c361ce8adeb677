//! Graph operations (`state`, `split`, `merge`, `update`, `pop`, `graphdef`,
//! `clone_deep`) on MLPs of depth 10, 100 and 1000 (width 32). Throughput is
//! reported per Variable (two per layer).

mod common;

use common::{quick, Mlp, GRAPH_DEPTHS, GRAPH_WIDTH};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nnx::prelude::*;

fn graph_ops(c: &mut Criterion) {
    let mut g = c.benchmark_group("graph_ops");
    for depth in GRAPH_DEPTHS {
        let mut model = Mlp::new(depth, GRAPH_WIDTH, &mut Rngs::new(0)).expect("model");
        let (graphdef, state) = Mlp::new(depth, GRAPH_WIDTH, &mut Rngs::new(0))
            .and_then(|m| m.split(..))
            .expect("split");
        // A copy of the model sharing its values (cheap setup for consuming ops).
        let shallow = || graphdef.merge(state.clone()).expect("merge");
        g.throughput(Throughput::Elements((2 * depth) as u64));
        g.bench_function(format!("state/{depth}"), |b| b.iter(|| model.state()));
        g.bench_function(format!("graphdef/{depth}"), |b| b.iter(|| model.graphdef()));
        // `split` consumes the model; cloning it (values shared) is setup, not timed.
        g.bench_function(format!("split/{depth}"), |b| {
            b.iter_batched(
                &shallow,
                |m| m.split(..).expect("split"),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("merge/{depth}"), |b| {
            b.iter_batched(
                || state.clone(),
                |s| graphdef.merge(s).expect("merge"),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("update/{depth}"), |b| {
            b.iter_batched(
                || state.clone(),
                |s| model.update(s).expect("update"),
                BatchSize::SmallInput,
            )
        });
        g.bench_function(format!("clone/{depth}"), |b| {
            b.iter(|| model.clone_deep().expect("clone"))
        });
        // One sown intermediate per layer; sowing is setup, popping is timed.
        g.bench_function(format!("pop/{depth}"), |b| {
            b.iter_batched_ref(
                || {
                    let mut m = shallow();
                    m.sow_all().expect("sow");
                    m
                },
                |m| m.pop(Intermediate).expect("pop"),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = quick();
    targets = graph_ops
}
criterion_main!(benches);
