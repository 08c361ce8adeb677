//! Gradients of the dense and attention layers against Flax NNX 0.12.8:
//! `nnx.value_and_grad` of `sum(layer(x) * cotangent)` with respect to the
//! Params, for Linear, LinearGeneral, Einsum, Embed (lookup plus `attend`, whose
//! gradients add on the shared table) and MultiHeadAttention (cross-attention,
//! causal and padding masks, grouped-query heads, no bias, dropout drawn from the
//! layer's stream). Reference data: `tools/flax_reference/gen_grad_dense.py`.
//!
//! Each layer is built from the case's seed; its parameters must equal Flax's
//! (as in the forward conformance suites), then the loss and every gradient must
//! match within `1e-5 * max(1, |value|)`, and the gradient State has exactly
//! the paths of `state_of(Param)`.

use nnx_core::path_string;
use nnx_core::prelude::*;
use nnx_core::rngs::Rngs;
use nnx_core::Result;
use nnx_layers::{AttentionArgs, Einsum, Embed, Linear, LinearGeneral};
use nnx_tensor::{value_and_grad, Tensor};
use serde_json::Value as Json;

mod common;
use common::*;

fn close(what: &str, got: &ndarray::ArrayD<f32>, want: &ndarray::ArrayD<f32>) {
    assert_close(what, got, want, 1e-5, 1e-5);
}

fn tensor(v: &Json) -> Tensor {
    Tensor::new(f32s(v))
}

/// `sum(y * ct)`.
fn weighted(y: Tensor, ct: &Tensor) -> Result<Tensor> {
    Ok((y * ct)?.sum())
}

/// Compares `m`'s Params with Flax's, runs `loss` under `value_and_grad` and
/// compares the loss and the gradient State with Flax's.
fn check<M: Module>(
    what: &str,
    case: &Json,
    m: &mut M,
    loss: impl FnOnce(&mut M) -> Result<Tensor>,
) {
    for (path, leaf) in m.state_of(Param).flat_state().iter() {
        let name = path_string(path);
        let value = leaf
            .value
            .as_any()
            .downcast_ref::<Tensor>()
            .expect("a Tensor Param");
        close(
            &format!("{what}: param {name}"),
            value.array(),
            &f32s(&case["params"][name.as_str()]),
        );
    }
    let (value, grads) = value_and_grad(m, Param, loss).unwrap_or_else(|e| panic!("{what}: {e}"));
    let want = case["loss"].as_f64().expect("loss") as f32;
    assert!(
        (value - want).abs() <= 1e-5 * want.abs().max(1.0),
        "{what}: loss {value}, Flax {want}"
    );
    let flat = grads.flat_state();
    let ours: Vec<String> = flat.iter().map(|(p, _)| path_string(p)).collect();
    let theirs: Vec<String> = case["grads"]
        .as_object()
        .expect("grads")
        .keys()
        .cloned()
        .collect();
    assert_eq!(ours, theirs, "{what}: gradient paths");
    for (path, leaf) in flat.iter() {
        let name = path_string(path);
        assert_eq!(leaf.kind.name(), "Param", "{what}: {name} type");
        let g = leaf
            .value
            .as_any()
            .downcast_ref::<Tensor>()
            .expect("a Tensor gradient");
        close(
            &format!("{what}: d{name}"),
            g.array(),
            &f32s(&case["grads"][name.as_str()]),
        );
    }
}

fn cases() -> Vec<Json> {
    load_json("layers/grads_dense.json")["cases"]
        .as_array()
        .expect("cases")
        .clone()
}

fn seed(case: &Json) -> Rngs {
    Rngs::new(case["seed"].as_i64().expect("seed"))
}

fn cases_of(layer: &str) -> Vec<Json> {
    let all: Vec<Json> = cases()
        .into_iter()
        .filter(|c| c["layer"] == layer)
        .collect();
    assert!(!all.is_empty(), "no {layer} cases");
    all
}

#[test]
fn linear_gradients_match_flax() -> Result<()> {
    for case in cases_of("Linear") {
        let c = &case["config"];
        let (x, ct) = (tensor(&case["inputs"]["x"]), tensor(&case["inputs"]["ct"]));
        let mut m = Linear::config(
            c["in_features"].as_u64().expect("in") as usize,
            c["out_features"].as_u64().expect("out") as usize,
        )
        .use_bias(c["use_bias"].as_bool().expect("bias"))
        .build(&mut seed(&case))?;
        check(&format!("Linear {c}"), &case, &mut m, |m| {
            weighted(m.forward(&x)?, &ct)
        });
    }
    Ok(())
}

#[test]
fn linear_general_gradients_match_flax() -> Result<()> {
    for case in cases_of("LinearGeneral") {
        let c = &case["config"];
        let (x, ct) = (tensor(&case["inputs"]["x"]), tensor(&case["inputs"]["ct"]));
        let batch: Vec<(usize, usize)> = c["batch_axis"]
            .as_array()
            .expect("batch")
            .iter()
            .map(|p| (usizes(p)[0], usizes(p)[1]))
            .collect();
        let mut m = LinearGeneral::config(&usizes(&c["in_features"]), &usizes(&c["out_features"]))
            .axis(&isizes(&c["axis"]))
            .batch_axis(&batch)
            .use_bias(c["use_bias"].as_bool().expect("bias"))
            .build(&mut seed(&case))?;
        check(&format!("LinearGeneral {c}"), &case, &mut m, |m| {
            weighted(m.forward(&x)?, &ct)
        });
    }
    Ok(())
}

#[test]
fn einsum_gradients_match_flax() -> Result<()> {
    for case in cases_of("Einsum") {
        let c = &case["config"];
        let (x, ct) = (tensor(&case["inputs"]["x"]), tensor(&case["inputs"]["ct"]));
        let mut cfg = Einsum::config(
            c["einsum_str"].as_str().expect("eq"),
            &usizes(&c["kernel_shape"]),
        );
        if !c["bias_shape"].is_null() {
            cfg = cfg.bias_shape(&usizes(&c["bias_shape"]));
        }
        let mut m = cfg.build(&mut seed(&case))?;
        // Flax's bias was set to random values after init.
        if let Some(b) = m.bias.as_mut() {
            b.set_value(tensor(&case["params"]["bias"]));
        }
        check(&format!("Einsum {c}"), &case, &mut m, |m| {
            weighted(m.forward(&x)?, &ct)
        });
    }
    Ok(())
}

/// A lookup with repeated rows plus `attend` on the same table: the table's
/// gradient is the sum of both uses.
#[test]
fn embed_lookup_and_attend_gradients_match_flax() -> Result<()> {
    for case in cases_of("Embed") {
        let c = &case["config"];
        let i = &case["inputs"];
        let ids = i64s(&i["ids"]);
        let (q, ct, ct_attend) = (
            tensor(&i["query"]),
            tensor(&i["ct"]),
            tensor(&i["ct_attend"]),
        );
        let mut m = Embed::new(
            c["num_embeddings"].as_u64().expect("n") as usize,
            c["features"].as_u64().expect("f") as usize,
            &mut seed(&case),
        )?;
        check(&format!("Embed {c}"), &case, &mut m, |m| {
            weighted(m.lookup(&ids)?, &ct)? + weighted(m.attend(&q)?, &ct_attend)?
        });
    }
    Ok(())
}

#[test]
fn multi_head_attention_gradients_match_flax() -> Result<()> {
    let mut checked = 0;
    for case in cases_of("MultiHeadAttention") {
        let c = &case["config"];
        // normalize_qk runs LayerNorm, whose gradient arrives with its move onto
        // Tensor (the normalization layers' part of issue 13).
        if c.get("normalize_qk").is_some() {
            continue;
        }
        let i = &case["inputs"];
        let (x, ct) = (tensor(&i["x"]), tensor(&i["ct"]));
        let xk = i.get("xk").map(tensor);
        let mask = i.get("mask").map(bools);
        let mut m = build_mha(c, &mut seed(&case))?;
        check(&format!("MultiHeadAttention {c}"), &case, &mut m, |m| {
            let args = AttentionArgs {
                inputs_k: xk.as_ref(),
                mask: mask.as_ref(),
                ..Default::default()
            };
            weighted(m.forward_with(&x, args)?, &ct)
        });
        checked += 1;
    }
    assert_eq!(checked, 7);
    Ok(())
}
