//! Gradients against real JAX: `jax.vjp` of every op (tests/data/grads.json,
//! written by tools/flax_reference/gen_tensor_grads.py) and Flax's
//! `nnx.value_and_grad` of a small MLP with a cross-entropy loss.
//!
//! Each op's inputs are Params of a map module and the loss is
//! `sum(op(inputs) * cotangent)`, so `value_and_grad` returns exactly the vjp.

mod common;

use common::*;
use ndarray::{ArrayD, Axis};
use nnx_core::prelude::*;
use nnx_core::Result;
use nnx_tensor::{
    concat, dot_product_attention, dot_product_attention_weights, einsum, value_and_grad,
    AttentionDropout, AttentionOptions, Tensor,
};
use serde_json::Value as Json;

fn input<'a>(m: &'a Inputs, name: &str) -> &'a Tensor {
    m.get(name).expect("input present")
}

/// The op of one case, on tensors read from `m`.
fn apply(op: &str, p: &Json, m: &Inputs) -> Result<Tensor> {
    let x = || input(m, "x");
    let (a, b) = (|| input(m, "a"), || input(m, "b"));
    let c = || p["c"].as_f64().expect("c") as f32;
    let keep = || p["keepdims"].as_bool().expect("keepdims");
    Ok(match op {
        "add" => (a() + b())?,
        "sub" => (a() - b())?,
        "mul" => (a() * b())?,
        "div" => (a() / b())?,
        "add_scalar" => x() + c(),
        "rsub_scalar" => c() - x(),
        "mul_scalar" => x() * c(),
        "div_scalar" => x() / c(),
        "rdiv_scalar" => c() / x(),
        "neg" => -x(),
        "exp" => x().exp(),
        "log" => x().log(),
        "sqrt" => x().sqrt(),
        "square" => x().square(),
        "abs" => x().abs(),
        "tanh" => x().tanh(),
        "sigmoid" => x().sigmoid(),
        "relu" => x().relu(),
        "silu" => x().silu(),
        "softplus" => x().softplus(),
        "log_sigmoid" => x().log_sigmoid(),
        "gelu" => x().gelu(p["approximate"].as_bool().expect("approximate")),
        "matmul" => a().matmul(b())?,
        "reshape" => {
            let shape: Vec<usize> = axes(&p["shape"]).into_iter().map(|d| d as usize).collect();
            x().reshape(&shape)?
        }
        "permute" => {
            let perm: Vec<usize> = axes(&p["axes"]).into_iter().map(|d| d as usize).collect();
            x().permute(&perm)?
        }
        "transpose" => x().transpose(),
        "swap_axes" => x().swap_axes(int(&p["a"]), int(&p["b"]))?,
        "slice" => x().slice(
            int(&p["axis"]),
            int(&p["start"]) as usize..int(&p["end"]) as usize,
        )?,
        "concat" => concat(
            &[input(m, "a"), input(m, "b"), input(m, "c")],
            int(&p["axis"]),
        )?,
        "sum" => x().sum_axes(&axes(&p["axes"]), keep())?,
        "mean" => x().mean_axes(&axes(&p["axes"]), keep())?,
        "max" => x().max_axes(&axes(&p["axes"]), keep())?,
        "logsumexp" => x().logsumexp(&axes(&p["axes"]), keep())?,
        "softmax" => x().softmax(int(&p["axis"]))?,
        "log_softmax" => x().log_softmax(int(&p["axis"]))?,
        "where" => Tensor::where_cond(
            &bools(&p["mask"]),
            input(m, "on_true"),
            input(m, "on_false"),
        )?,
        "take" => x().take(&i64s(&p["indices"]), int(&p["axis"]))?,
        "take_along_axis" => x().take_along_axis(&i64s(&p["indices"]), int(&p["axis"]))?,
        "dropout" => x().dropout(&bools(&p["mask"]), p["rate"].as_f64().expect("rate") as f32)?,
        "einsum" => einsum(p["equation"].as_str().expect("equation"), a(), b())?,
        "attention" | "attention_weights" => {
            let (mask, keep) = (p.get("mask").map(bools), p.get("keep").map(bools));
            let opts = AttentionOptions {
                bias: m.get("bias").map(|b| &**b),
                mask: mask.as_ref(),
                is_causal: p["is_causal"].as_bool().expect("is_causal"),
                dropout: keep.as_ref().map(|keep| AttentionDropout {
                    keep,
                    rate: p["rate"].as_f64().expect("rate"),
                }),
            };
            let (q, k) = (input(m, "query"), input(m, "key"));
            if op == "attention" {
                dot_product_attention(q, k, input(m, "value"), &opts)?
            } else {
                dot_product_attention_weights(q, k, &opts)?
            }
        }
        other => panic!("no op {other} in the test"),
    })
}

#[test]
fn every_op_matches_jax_vjp() {
    let data = load("grads.json");
    let cases = data["ops"].as_array().expect("ops");
    assert!(cases.len() >= 90);
    check_vjps(cases);
}

/// Einsum and attention (tools/flax_reference/gen_grad_dense.py).
#[test]
fn dense_ops_match_jax_vjp() {
    let data = load("grads_dense.json");
    let cases = data["ops"].as_array().expect("ops");
    assert!(cases.len() >= 40);
    check_vjps(cases);
}

fn check_vjps(cases: &[Json]) {
    for (n, case) in cases.iter().enumerate() {
        check_vjp_case(n, case, apply);
    }
}

#[derive(Module)]
struct Linear {
    kernel: Param<Tensor>,
    bias: Param<Tensor>,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.kernel)? + &*self.bias
    }
}

#[derive(Module)]
struct Mlp {
    l1: Linear,
    l2: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.l2.forward(&self.l1.forward(x)?.gelu(true))
    }
}

/// optax's `softmax_cross_entropy_with_integer_labels(logits, labels).mean()`.
fn cross_entropy(logits: &Tensor, labels: &ArrayD<i64>) -> Result<Tensor> {
    let picked = logits
        .log_softmax(-1)?
        .take_along_axis(&labels.clone().insert_axis(Axis(1)), 1)?;
    Ok(-picked.mean())
}

#[test]
fn mlp_value_and_grad_matches_flax() {
    let data = load("grads.json");
    let mlp = &data["mlp"];
    let p = |name: &str| Param::new(Tensor::from(f32s(&mlp["params"][name])));
    let mut model = Mlp {
        l1: Linear {
            kernel: p("l1/kernel"),
            bias: p("l1/bias"),
        },
        l2: Linear {
            kernel: p("l2/kernel"),
            bias: p("l2/bias"),
        },
    };
    let x = Tensor::from(f32s(&mlp["x"]));
    let labels = i64s(&mlp["labels"]);
    let (loss, grads) = value_and_grad(&mut model, Param, |m| {
        cross_entropy(&m.forward(&x)?, &labels)
    })
    .unwrap();
    let want = mlp["loss"].as_f64().expect("loss") as f32;
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
        "loss {loss} vs Flax {want}"
    );
    assert_eq!(
        grads.map(nnx_core::value::shape).to_string(),
        mlp["grads_shapes_repr"].as_str().expect("repr")
    );
    for (path, leaf) in grads.flat_state().iter() {
        let name = nnx_core::path_string(path);
        let got = leaf
            .value
            .as_any()
            .downcast_ref::<Tensor>()
            .expect("a Tensor gradient");
        assert_close(&name, got.array(), &f32s(&mlp["grads"][name.as_str()]));
    }
}
