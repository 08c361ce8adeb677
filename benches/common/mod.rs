//! Models and workload sizes shared by the criterion benchmarks. Each workload has a
//! twin in `benches/compare/flax_bench.py`; the two must stay in step so that the
//! comparison table in `BENCHMARKS.md` compares the same work.
#![allow(dead_code)] // each bench target uses a different part of this module

use criterion::Criterion;
use ndarray::ArrayD;
use nnx::nn::{Conv, Linear, MultiHeadAttention};
use nnx::prelude::*;
use nnx::tensor::Tensor;
use std::time::Duration;

/// Depths of the graph-operation MLPs.
pub const GRAPH_DEPTHS: [usize; 3] = [10, 100, 1000];
/// Width of the graph-operation MLPs: small, so the per-Variable cost dominates.
pub const GRAPH_WIDTH: usize = 32;

/// Width and depth of the forward-pass MLP.
pub const MLP_WIDTH: usize = 512;
pub const MLP_DEPTH: usize = 4;

/// Conv stack: batch, spatial size, channels, number of 3x3 convolutions.
pub const CONV_BATCH: usize = 32;
pub const CONV_HW: usize = 32;
pub const CONV_CHANNELS: usize = 16;
pub const CONV_LAYERS: usize = 3;

/// Attention: batch, length, heads, head size (in_features = heads * head size).
pub const MHA_BATCH: usize = 8;
pub const MHA_LEN: usize = 128;
pub const MHA_HEADS: usize = 8;
pub const MHA_FEATURES: usize = 512;
/// The cache position a decode step writes (the cache is half full).
pub const DECODE_POSITION: i32 = 64;

/// Checkpoint: `CKPT_LAYERS` Linear layers of `CKPT_WIDTH` x `CKPT_WIDTH`
/// (25 x 1024 x 1024 f32 ~ 105 MB).
pub const CKPT_LAYERS: usize = 25;
pub const CKPT_WIDTH: usize = 1024;

/// Criterion settings that keep `cargo bench` to a few minutes on a shared machine.
pub fn quick() -> Criterion {
    Criterion::default()
        .sample_size(15)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

/// A stack of Linear layers (ReLU between them) with a `sow` store, so that `pop`
/// has intermediates to remove.
#[derive(Module)]
pub struct Mlp {
    pub layers: Vec<Linear>,
    #[nnx(sow)]
    pub intermediates: Sown,
}

impl Mlp {
    /// `depth` square Linear layers of `width`.
    pub fn new(depth: usize, width: usize, rngs: &mut Rngs) -> nnx::Result<Self> {
        Ok(Mlp {
            layers: (0..depth)
                .map(|_| Linear::new(width, width, rngs))
                .collect::<nnx::Result<_>>()?,
            intermediates: Sown::default(),
        })
    }

    /// Linear layers with ReLU between them (none after the last).
    pub fn forward(&self, x: &Tensor) -> nnx::Result<Tensor> {
        let (last, rest) = self.layers.split_last().expect("an MLP has layers");
        let mut h = x.clone();
        for layer in rest {
            h = layer.apply(&h)?.relu();
        }
        last.apply(&h)
    }

    /// Sows one small intermediate per layer (`i0`, `i1`, ...), as a forward pass
    /// recording activations would.
    pub fn sow_all(&mut self) -> nnx::Result<()> {
        for i in 0..self.layers.len() {
            self.sow(
                Intermediate,
                &format!("i{i}"),
                ndarray::Array1::<f32>::zeros(4),
            )?;
        }
        Ok(())
    }
}

/// `CONV_LAYERS` 3x3 convolutions (SAME padding, ReLU between them).
#[derive(Module)]
pub struct ConvStack {
    pub convs: Vec<Conv>,
}

impl ConvStack {
    pub fn new(rngs: &mut Rngs) -> nnx::Result<Self> {
        Ok(ConvStack {
            convs: (0..CONV_LAYERS)
                .map(|_| Conv::new(CONV_CHANNELS, CONV_CHANNELS, &[3, 3], rngs))
                .collect::<nnx::Result<_>>()?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> nnx::Result<Tensor> {
        let (last, rest) = self.convs.split_last().expect("a stack has convs");
        let mut h = x.clone();
        for conv in rest {
            h = conv.apply(&h)?.relu();
        }
        last.apply(&h)
    }
}

/// Self-attention over `(MHA_BATCH, MHA_LEN, MHA_FEATURES)`.
pub fn attention(decode: bool) -> nnx::Result<MultiHeadAttention> {
    MultiHeadAttention::config(MHA_HEADS, MHA_FEATURES)
        .decode(decode)
        .build(&mut Rngs::new(0))
}

/// A deterministic input of `shape` with values in [-1, 1).
pub fn input(shape: &[usize]) -> ArrayD<f32> {
    let n = shape.iter().product::<usize>();
    ArrayD::from_shape_vec(
        shape,
        (0..n)
            .map(|i| ((i * 7919) % 2000) as f32 / 1000.0 - 1.0)
            .collect(),
    )
    .expect("shape and data agree")
}
