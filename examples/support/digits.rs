//! The digits CNN of `tools/flax_reference/train_digits.py`, layer for layer,
//! and the reference data Flax wrote for it (`examples/data/digits/`).
//!
//! Shared by `examples/flax_digits.rs` and `tests/flax_digits.rs`.

// Each includer uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, ArrayD, Axis, Ix1, Ix2};
use nnx::nn::functional::Padding;
use nnx::nn::{max_pool, relu, BatchNorm, Conv, Dropout, Linear};
use nnx::prelude::*;
use nnx::rngs::Rngs;
use nnx::tensor::Tensor;
use nnx::value::ArrayRef;

/// `DigitsCnn` in Flax: conv(1->16) -> BN -> relu -> maxpool 2 -> conv(16->32)
/// -> BN -> relu -> maxpool 2 -> flatten -> dropout(0.2) -> linear(128 -> 10),
/// on NHWC `(batch, 8, 8, 1)` images. Field names are Flax's attribute names,
/// so `state()` paths (`conv1.kernel`, `bn1.mean`, ...) match the checkpoint.
#[derive(Module)]
pub struct DigitsCnn {
    pub conv1: Conv,
    pub bn1: BatchNorm,
    pub conv2: Conv,
    pub bn2: BatchNorm,
    pub dropout: Dropout,
    pub linear: Linear,
}

impl DigitsCnn {
    /// Builds the model drawing keys in Flax's order (conv1, bn1, conv2, bn2,
    /// dropout, linear), so [`flax_rngs`] gives the parameters and the Dropout
    /// stream of `DigitsCnn(nnx.Rngs(params=0, dropout=1))`.
    pub fn new(rngs: &mut Rngs) -> nnx::Result<Self> {
        let conv1 = Conv::new(1, 16, &[3, 3], rngs)?;
        let bn1 = BatchNorm::new(16, rngs)?;
        let conv2 = Conv::new(16, 32, &[3, 3], rngs)?;
        let bn2 = BatchNorm::new(32, rngs)?;
        // Forks the `dropout` stream: the Linear's key is the same with or
        // without it, and the stream's key and count are part of the State.
        let dropout = Dropout::new(0.2, rngs)?;
        let linear = Linear::new(2 * 2 * 32, 10, rngs)?;
        Ok(DigitsCnn {
            conv1,
            bn1,
            conv2,
            bn2,
            dropout,
            linear,
        })
    }

    /// Logits `(batch, 10)` of NHWC images `(batch, 8, 8, 1)`: the one
    /// forward for training and evaluation (BatchNorm and Dropout follow
    /// their `use_running_average` / `deterministic` flags, as in Flax).
    pub fn forward(&mut self, x: &Tensor) -> nnx::Result<Tensor> {
        let pool = |h: &Tensor| max_pool(&relu(h), &[2, 2], &[2, 2], &Padding::Valid);
        let h = pool(&self.bn1.forward(&self.conv1.forward(x)?)?)?;
        let h = pool(&self.bn2.forward(&self.conv2.forward(&h)?)?)?;
        let batch = h.shape().first().copied().unwrap_or(0);
        // Row-major flatten of (batch, 2, 2, 32), as `x.reshape(batch, -1)`.
        let h = h.reshape(&[batch, 2 * 2 * 32])?;
        let h = self.dropout.forward(&h)?;
        self.linear.forward(&h)
    }

    /// Logits of `forward` as an array, for comparisons with Flax's.
    pub fn logits(&mut self, x: &ArrayD<f32>) -> nnx::Result<Array2<f32>> {
        self.forward(&Tensor::from(x.clone()))?
            .into_array()
            .into_dimensionality::<Ix2>()
            .map_err(|e| nnx::Error::invalid_argument("logits", "(batch, 10)", e.to_string()))
    }
}

/// The `Rngs` of `train_digits.py`: `nnx.Rngs(params=0, dropout=1)`.
pub fn flax_rngs() -> Rngs {
    Rngs::from_streams([("params", 0), ("dropout", 1)])
}

/// `examples/data/digits/<name>`.
pub fn data_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/data/digits")
        .join(name)
}

/// The tensor `name` of a safetensors file as an `ArrayD<T>`.
fn tensor<T: Clone + 'static>(file: &str, name: &str) -> nnx::Result<ArrayD<T>> {
    let state = nnx::checkpoint::load_state(data_file(file))?;
    state
        .leaf(&[Key::from(name.to_string())])
        .and_then(|leaf| leaf.value.as_any().downcast_ref::<ArrayD<T>>().cloned())
        .ok_or_else(|| {
            nnx::Error::invalid_argument(
                format!("{file}: {name}"),
                format!("a tensor of {}", std::any::type_name::<T>()),
                "no such tensor",
            )
        })
}

/// The held-out split Flax evaluated: images `(n, 8, 8, 1)` and labels `(n,)`.
pub fn test_set() -> nnx::Result<(ArrayD<f32>, Array1<i32>)> {
    images_and_labels("test_set.safetensors")
}

/// The `images` `(n, 8, 8, 1)` and `labels` `(n,)` of a split
/// (`train_set.safetensors` or `test_set.safetensors`).
pub fn images_and_labels(file: &str) -> nnx::Result<(ArrayD<f32>, Array1<i32>)> {
    let images = tensor::<f32>(file, "images")?;
    let labels = tensor::<i32>(file, "labels")?
        .into_dimensionality::<Ix1>()
        .map_err(|e| nnx::Error::invalid_argument("labels", "(n,)", e.to_string()))?;
    Ok((images, labels))
}

/// Flax's eval-mode logits on the test set, `(n, 10)`.
pub fn flax_logits() -> nnx::Result<Array2<f32>> {
    tensor::<f32>("flax_logits.safetensors", "logits")?
        .into_dimensionality::<Ix2>()
        .map_err(|e| nnx::Error::invalid_argument("logits", "(n, 10)", e.to_string()))
}

/// Flax's reported number of correct test predictions (`flax_logits.json`).
pub fn flax_correct() -> Result<usize, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(data_file("flax_logits.json"))?;
    let json: serde_json::Value = serde_json::from_str(&text)?;
    json["correct"]
        .as_u64()
        .map(|c| c as usize)
        .ok_or_else(|| "flax_logits.json: no integer \"correct\"".into())
}

/// The index of each row's largest logit (the first one on ties, as numpy).
pub fn argmax_rows(logits: &Array2<f32>) -> Vec<usize> {
    logits
        .axis_iter(Axis(0))
        .map(|row| {
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv {
                        (i, v)
                    } else {
                        (bi, bv)
                    }
                })
                .0
        })
        .collect()
}

/// How closely two logit arrays agree.
#[derive(Debug, Clone, Copy)]
pub struct Agreement {
    /// Largest `|rust - flax|`.
    pub max_abs: f32,
    /// Largest `|rust - flax| / |flax|` (over nonzero Flax logits).
    pub max_rel: f32,
    /// Whether every element satisfies `|rust - flax| <= atol + rtol * |flax|`.
    pub within: bool,
    /// Rows whose argmax is the same.
    pub same_argmax: usize,
}

/// Compares `ours` with `flax` elementwise with `atol` and `rtol`.
pub fn agreement(ours: &Array2<f32>, flax: &Array2<f32>, atol: f32, rtol: f32) -> Agreement {
    let mut a = Agreement {
        max_abs: 0.0,
        max_rel: 0.0,
        within: ours.shape() == flax.shape(),
        same_argmax: 0,
    };
    if !a.within {
        return a;
    }
    for (&x, &y) in ours.iter().zip(flax.iter()) {
        let d = (x - y).abs();
        a.max_abs = a.max_abs.max(d);
        if y != 0.0 {
            a.max_rel = a.max_rel.max(d / y.abs());
        }
        // NaN-safe: a NaN difference is not within tolerance.
        a.within &= d <= atol + rtol * y.abs();
    }
    a.same_argmax = argmax_rows(ours)
        .iter()
        .zip(argmax_rows(flax))
        .filter(|(p, q)| **p == *q)
        .count();
    a
}

/// The largest `|a - b|` between the f32 Variables of two States with the same
/// paths, or an error naming the first path that differs in kind or shape.
pub fn max_state_difference(a: &State, b: &State) -> Result<f32, String> {
    let (fa, fb) = (a.flat_state().into_inner(), b.flat_state().into_inner());
    if fa.len() != fb.len() {
        return Err(format!("{} vs {} Variables", fa.len(), fb.len()));
    }
    let mut max = 0f32;
    for ((pa, la), (pb, lb)) in fa.iter().zip(fb.iter()) {
        let name = nnx::path_string(pa);
        if pa != pb || la.kind != lb.kind {
            return Err(format!(
                "{name} ({}) vs {} ({})",
                la.kind,
                nnx::path_string(pb),
                lb.kind
            ));
        }
        match (la.value.array_ref(), lb.value.array_ref()) {
            (Some(ArrayRef::F32(x)), Some(ArrayRef::F32(y))) if x.shape() == y.shape() => {
                for (p, q) in x.iter().zip(y.iter()) {
                    max = max.max((p - q).abs());
                }
            }
            _ => return Err(format!("{name}: not two f32 arrays of one shape")),
        }
    }
    Ok(max)
}
