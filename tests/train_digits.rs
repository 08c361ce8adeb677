//! The digits training run (`examples/train_digits.rs`) against Flax's
//! (`tools/flax_reference/train_digits.py`, `examples/data/digits/flax_training.json`).

#[path = "../examples/support/digits.rs"]
mod digits;

use digits::DigitsCnn;
use ndarray::Axis;
use nnx::optax;
use nnx::random::{fold_in, key, permutation};
use nnx::tensor::Tensor;
use nnx::Param;
use serde_json::Value;

/// The first epoch: a debug build trains it in a few seconds.
const STEPS: usize = 42;

fn flax() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/data/digits/flax_training.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn batch_order_is_flaxs() {
    let f = flax();
    let seed = f["config"]["shuffle_seed"].as_i64().unwrap();
    let n = f["n_train"].as_u64().unwrap() as usize;
    let want: Vec<usize> = f["epoch0_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let ours = nnx::random::permutation(nnx::random::fold_in(nnx::random::key(seed), 0), n);
    assert_eq!(ours, want);
}

/// The first steps of `train_digits` in a debug build: the model, the batch
/// order, the Dropout masks, BatchNorm's statistics and adamw's update must
/// all be Flax's for the losses to agree. The whole run is the example's
/// (`cargo run --release --example train_digits`, which exits non-zero on a
/// mismatch).
#[test]
fn first_steps_follow_flaxs_losses() {
    let f = flax();
    let (x, y) = digits::images_and_labels("train_set.safetensors").unwrap();
    let seed = f["config"]["shuffle_seed"].as_i64().unwrap();
    let batch = f["config"]["batch"].as_u64().unwrap() as usize;
    let total = f["steps"].as_array().unwrap().len() as i32;
    let schedule = optax::warmup_cosine_decay_schedule(
        0.0,
        f["config"]["peak_lr"].as_f64().unwrap(),
        f["config"]["warmup_steps"].as_i64().unwrap() as i32,
        total,
        f["config"]["end_lr"].as_f64().unwrap(),
        1.0,
    )
    .unwrap();
    let tx = optax::adamw(schedule).weight_decay(f["config"]["weight_decay"].as_f64().unwrap());
    let mut model = DigitsCnn::new(&mut digits::flax_rngs()).unwrap();
    let mut opt = nnx::Optimizer::new(&model, tx, Param).unwrap();
    let order = permutation(fold_in(key(seed), 0), y.len());
    for step in 0..STEPS {
        let idx = &order[step * batch..(step + 1) * batch];
        let xb = Tensor::new(x.select(Axis(0), idx));
        let yb = y.select(Axis(0), idx).mapv(i64::from).into_dyn();
        let (loss, grads) = nnx::value_and_grad(&mut model, Param, |m| {
            Ok(optax::softmax_cross_entropy_with_integer_labels(&m.forward(&xb)?, &yb)?.mean())
        })
        .unwrap();
        opt.update(&mut model, &grads).unwrap();
        let want = f["steps"][step]["loss"].as_f64().unwrap() as f32;
        let rel = (loss - want).abs() / want;
        assert!(
            rel <= 1e-5,
            "step {step}: loss {loss} vs Flax {want} (rel {rel:e})"
        );
    }
    // One dropout key per step, drawn inside value_and_grad and kept.
    assert_eq!(model.dropout.rngs.as_ref().unwrap().count(), STEPS as u32);
}
