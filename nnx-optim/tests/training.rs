//! A short training run against Flax: the same MLP (Flax's default Linear
//! init from `Rngs::new(0)`), the same batches, `nnx.Optimizer` with
//! `chain(clip_by_global_norm, adamw(warmup_cosine))`: every step's loss within
//! 1e-4 relative of Flax's, and the final parameters close.

mod common;
use common::*;

use nnx_core::init::lecun_normal;
use nnx_core::prelude::*;
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
    l2: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> nnx_core::Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.relu())
    }
}

#[test]
fn adamw_training_run_matches_flax_step_by_step() {
    let d: Value = common::data();
    let t = &d["training"];
    let mut rngs = Rngs::new(0);
    let mut model = Mlp {
        l1: Linear::new(4, 16, &mut rngs).unwrap(),
        l2: Linear::new(16, 3, &mut rngs).unwrap(),
    };
    let lr = optax::warmup_cosine_decay_schedule(0.0, 3e-2, 5, 30, 1e-3, 1.0).unwrap();
    let tx = optax::chain(vec![
        Box::new(optax::clip_by_global_norm(1.0)),
        Box::new(optax::adamw(lr).weight_decay(1e-2)),
    ]);
    let mut opt = Optimizer::new(&model, tx, Param).unwrap();
    let want = t["losses"].as_array().unwrap();
    let mut worst = 0.0f32;
    for (i, (b, want)) in t["batches"]
        .as_array()
        .unwrap()
        .iter()
        .zip(want)
        .enumerate()
    {
        let x = tensor(&b["x"]);
        let y = tensor(&b["y"]).to_array().mapv(|v| v as i64);
        let (loss, grads) = value_and_grad(&mut model, Param, |m| {
            Ok(optax::softmax_cross_entropy_with_integer_labels(&m.forward(&x)?, &y)?.mean())
        })
        .unwrap();
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
    let params = model.state_of(Param);
    for (path, want) in t["final"].as_object().unwrap() {
        let got = params.get::<Tensor>(path).unwrap().to_array();
        for (a, b) in got.iter().zip(tensor(want).array().iter()) {
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1.0),
                "final {path}: {a} vs Flax {b}"
            );
        }
    }
}
