//! A short training run against Flax: the same MLP with Dropout (Flax's
//! default Linear init and Dropout stream from `Rngs::new(0)`), the same
//! batches, `nnx.Optimizer` with `chain(clip_by_global_norm,
//! adamw(warmup_cosine))`: every step's loss within 1e-4 relative of Flax's
//! (so every dropout mask matches), the final parameters close, and eval mode
//! without dropout.

mod common;
use common::*;

use nnx_core::init::lecun_normal;
use nnx_core::prelude::*;
use nnx_layers::Dropout;
use nnx_optim::{optax, Optimizer};
use nnx_tensor::{value_and_grad, Tensor};
use serde_json::Value;

/// Flax's `nnx.Linear` on Tensors: kernel `lecun_normal`, bias zeros, one
/// `params` key each, drawn in Flax's order.
#[derive(Module)]
struct Linear {
    kernel: Param<Tensor>,
    bias: Param<Tensor>,
}

impl Linear {
    fn new(fin: usize, fout: usize, rngs: &mut Rngs) -> nnx_core::Result<Linear> {
        let kernel = lecun_normal::<f32>().init(rngs.next_key("params")?, &[fin, fout])?;
        rngs.next_key("params")?; // Flax draws the bias key even for zeros.
        Ok(Linear {
            kernel: Param::new(Tensor::new(kernel)),
            bias: Param::new(Tensor::zeros(&[fout])),
        })
    }

    fn forward(&self, x: &Tensor) -> nnx_core::Result<Tensor> {
        x.matmul(&self.kernel)? + &*self.bias
    }
}

#[derive(Module)]
struct Mlp {
    l1: Linear,
    dropout: Dropout,
    l2: Linear,
}

impl Mlp {
    /// Built in Flax's order: the Dropout forks its stream from `default`
    /// between the Linears' keys.
    fn new(rate: f64) -> nnx_core::Result<Mlp> {
        let mut rngs = Rngs::new(0);
        Ok(Mlp {
            l1: Linear::new(4, 16, &mut rngs)?,
            dropout: Dropout::new(rate, &mut rngs)?,
            l2: Linear::new(16, 3, &mut rngs)?,
        })
    }

    /// Advances the Dropout's stream once per call unless in eval mode.
    fn forward(&mut self, x: &Tensor) -> nnx_core::Result<Tensor> {
        let mut h = self.l1.forward(x)?.relu();
        if let Some(mask) = self.dropout.mask(h.shape())? {
            h = h.dropout(&mask, self.dropout.rate as f32)?;
        }
        self.l2.forward(&h)
    }

    fn loss(&mut self, x: &Tensor, y: &ndarray::ArrayD<i64>) -> nnx_core::Result<Tensor> {
        Ok(optax::softmax_cross_entropy_with_integer_labels(&self.forward(x)?, y)?.mean())
    }
}

#[test]
fn adamw_training_run_matches_flax_step_by_step() {
    let d: Value = common::data();
    let t = &d["training"];
    let mut model = Mlp::new(t["dropout_rate"].as_f64().unwrap()).unwrap();
    let lr = optax::warmup_cosine_decay_schedule(0.0, 3e-2, 5, 30, 1e-3, 1.0).unwrap();
    let tx = optax::chain(vec![
        Box::new(optax::clip_by_global_norm(1.0)),
        Box::new(optax::adamw(lr).weight_decay(1e-2)),
    ]);
    let mut opt = Optimizer::new(&model, tx, Param).unwrap();
    let want = t["losses"].as_array().unwrap();
    let batches = t["batches"].as_array().unwrap();
    let batch = |b: &Value| {
        (
            tensor(&b["x"]),
            tensor(&b["y"]).to_array().mapv(|v| v as i64),
        )
    };
    let mut worst = 0.0f32;
    for (i, (b, want)) in batches.iter().zip(want).enumerate() {
        let (x, y) = batch(b);
        let (loss, grads) = value_and_grad(&mut model, Param, |m| m.loss(&x, &y)).unwrap();
        opt.update(&mut model, &grads).unwrap();
        let want = want.as_f64().unwrap() as f32;
        let rel = (loss - want).abs() / want.abs();
        assert!(
            rel <= 1e-4,
            "step {i}: loss {loss} vs Flax {want} (rel {rel:e})"
        );
        worst = worst.max(rel);
    }
    eprintln!("30 steps, largest relative loss difference from Flax: {worst:e}");
    assert_eq!(opt.step(), 30);
    // One key per step, drawn inside `value_and_grad` and kept.
    let count = t["dropout_count"].as_u64().unwrap();
    assert_eq!(count, 30);
    assert_eq!(dropout_count(&model), count);
    let params = model.state_of(Param);
    let mut worst = 0.0f32;
    for (path, want) in t["final"].as_object().unwrap() {
        let got = params.get::<Tensor>(path).unwrap().to_array();
        let want = tensor(want).to_array();
        assert_eq!(got.shape(), want.shape(), "final {path}");
        for (a, b) in got.iter().zip(want.iter()) {
            let err = (a - b).abs() / b.abs().max(1.0);
            assert!(err <= 1e-4, "final {path}: {a} vs Flax {b}");
            worst = worst.max(err);
        }
    }
    eprintln!("final parameters: largest difference from Flax {worst:e}");

    // Eval mode: no dropout (Flax's eval loss; the stream does not advance).
    model.eval().unwrap();
    let (x, y) = batch(batches.last().unwrap());
    let loss = model.loss(&x, &y).unwrap().item().unwrap();
    let want = t["eval_loss"].as_f64().unwrap() as f32;
    assert!(
        (loss - want).abs() <= 1e-4 * want.abs(),
        "eval loss {loss} vs Flax {want}"
    );
    assert_eq!(dropout_count(&model), count);
    let again = model.loss(&x, &y).unwrap().item().unwrap();
    assert_eq!(again, loss);
}

/// The Dropout stream's counter (Flax's `dropout/rngs/count`).
fn dropout_count(model: &Mlp) -> u64 {
    u64::from(model.dropout.rngs.as_ref().unwrap().count())
}
