//! Normalization and activation ops against real JAX: `jax.vjp` of Flax's
//! `_compute_stats` / `_normalize`, of the real Flax normalization layers and of
//! each `jax.nn` activation at points on and near its kinks
//! (tests/data/grad_norm.json, written by tools/flax_reference/gen_grad_norm.py).
//! The layers are rebuilt here from the ops, as nnx-layers builds them.

mod common;

use common::*;
use nnx_core::Result;
use nnx_tensor::Tensor;
use serde_json::Value as Json;

fn flag(p: &Json, key: &str) -> bool {
    p[key].as_bool().expect("bool")
}

fn num(p: &Json, key: &str) -> f32 {
    p[key].as_f64().expect("number") as f32
}

/// The axes of an `ndim`-d input not in `skip` (normalized), as `isize`s.
fn other_axes(ndim: usize, skip: &[isize]) -> Vec<isize> {
    let n = ndim as isize;
    let skip: Vec<isize> = skip
        .iter()
        .map(|&a| if a < 0 { a + n } else { a })
        .collect();
    (0..n).filter(|a| !skip.contains(a)).collect()
}

/// A Flax normalization layer's forward, from the ops.
fn layer(p: &Json, m: &Inputs) -> Result<Tensor> {
    let x = &**m.get("x").expect("x");
    if p["layer"] == "PReLU" {
        return x.prelu(m.get("negative_slope").expect("negative_slope"));
    }
    let scale = m.get("scale").map(|s| &**s);
    let bias = m.get("bias").map(|b| &**b);
    let (eps, fast) = (num(p, "epsilon"), flag(p, "fast"));
    let with_stats = |red: &[isize], feat: &[isize], use_mean: bool| -> Result<Tensor> {
        let (mean, var) = x.compute_stats(red, use_mean, fast)?;
        x.normalize(&mean, &var, scale, bias, red, feat, eps)
    };
    match p["layer"].as_str().expect("layer") {
        "BatchNorm" => {
            let axis = int(&p["axis"]);
            let red = other_axes(x.ndim(), &[axis]);
            if flag(p, "use_running_average") {
                let (mean, var) = (
                    Tensor::from(f32s(&p["mean"])),
                    Tensor::from(f32s(&p["var"])),
                );
                x.normalize(&mean, &var, scale, bias, &red, &[axis], eps)
            } else {
                with_stats(&red, &[axis], true)
            }
        }
        "LayerNorm" => with_stats(&axes(&p["reduction_axes"]), &axes(&p["feature_axes"]), true),
        "RMSNorm" => with_stats(
            &axes(&p["reduction_axes"]),
            &axes(&p["feature_axes"]),
            false,
        ),
        "InstanceNorm" => {
            let feat = axes(&p["feature_axes"]);
            let mut skip = feat.clone();
            skip.push(0);
            with_stats(&other_axes(x.ndim(), &skip), &feat, true)
        }
        "GroupNorm" => {
            let groups = p["num_groups"].as_u64().expect("groups") as usize;
            x.group_norm(groups, scale, bias, eps, fast)
        }
        other => panic!("no layer {other} in the test"),
    }
}

/// The outputs of one case's op.
fn apply(op: &str, p: &Json, m: &Inputs) -> Result<Vec<Tensor>> {
    let x = || &**m.get("x").expect("x");
    let one = |t: Tensor| Ok(vec![t]);
    match op {
        "stats" => {
            let (mean, var) =
                x().compute_stats(&axes(&p["axes"]), flag(p, "use_mean"), flag(p, "fast"))?;
            Ok(vec![mean, var])
        }
        "normalize" => {
            let get = |k: &str| m.get(k).map(|t| &**t);
            one(x().normalize(
                get("mean").expect("mean"),
                get("var").expect("var"),
                get("scale"),
                get("bias"),
                &axes(&p["reduction_axes"]),
                &axes(&p["feature_axes"]),
                num(p, "epsilon"),
            )?)
        }
        "layer" => one(layer(p, m)?),
        "relu6" => one(x().relu6()),
        "hard_tanh" => one(x().hard_tanh()),
        "hard_sigmoid" => one(x().hard_sigmoid()),
        "hard_silu" | "hard_swish" => one(x().hard_silu()),
        "soft_sign" => one(x().soft_sign()),
        "selu" => one(x().selu()),
        "swish" => one(x().silu()),
        "elu" => one(x().elu(num(p, "alpha"))),
        "celu" => one(x().celu(num(p, "alpha"))),
        "leaky_relu" => one(x().leaky_relu(num(p, "negative_slope"))),
        "glu" => one(x().glu(int(&p["axis"]))?),
        "standardize" => one(x().standardize(&axes(&p["axes"]), num(p, "epsilon"))?),
        other => panic!("no op {other} in the test"),
    }
}

#[test]
fn every_norm_and_activation_matches_jax_vjp() {
    let data = load("grad_norm.json");
    let cases = data["ops"].as_array().expect("ops");
    assert!(cases.len() >= 100);
    for (n, case) in cases.iter().enumerate() {
        let op = case["op"].as_str().expect("op");
        let what = format!("case {n} ({op} {})", case["params"]);
        let cts: Vec<_> = case["cotangents"]
            .as_array()
            .expect("cotangents")
            .iter()
            .map(f32s)
            .collect();
        let (outs, grads) = vjp(&case["inputs"], &cts, |m| apply(op, &case["params"], m))
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let want_outs = case["outputs"].as_array().expect("outputs");
        assert_eq!(outs.len(), want_outs.len(), "{what}: outputs");
        for (i, (got, want)) in outs.iter().zip(want_outs).enumerate() {
            assert_close(&format!("{what} output {i}"), got, &f32s(want));
        }
        for (name, want) in case["grads"].as_object().expect("grads") {
            let got = grads.get(name).expect("a gradient for every input");
            assert_close(&format!("{what} d{name}"), got, &f32s(want));
        }
    }
}

#[test]
fn one_hot_matches_jax() {
    let data = load("grad_norm.json");
    for case in data["one_hot"].as_array().expect("one_hot") {
        let y = Tensor::one_hot(
            &i64s(&case["indices"]),
            case["num_classes"].as_u64().expect("classes") as usize,
            int(&case["axis"]),
        )
        .expect("one_hot");
        assert_eq!(y.to_array(), f32s(&case["output"]), "axis {}", case["axis"]);
    }
}
