//! Training only the LoRA parameters (`wrt = LoRAParam`) with `nnx::Optimizer`
//! and adam follows Flax's `nnx.Optimizer(model, optax.adam(0.05),
//! wrt=nnx.LoRAParam)` step by step (nnx-layers/tests/data/families/lora.json,
//! from tools/flax_reference/gen_families.py), and leaves the base untouched.

use std::path::Path;

use nnx::nn::{Linear, LoRA, LoRAParam};
use nnx::prelude::*;
use nnx::tensor::Tensor;
use serde_json::Value as Json;

fn tensor(v: &Json) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_f64().unwrap() as f32)
        .collect();
    Tensor::from_shape_vec(&shape, data).unwrap()
}

#[test]
fn training_only_lora_params_matches_flax() -> nnx::Result<()> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("nnx-layers/tests/data/families/lora.json");
    let json: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let case = &json["cases"][3];
    assert_eq!(case["name"], "lora_train");

    // Flax's LoRALinear(3, 4, lora_rank=2): the Linear draws its keys first, then
    // the adapter, from one Rngs; its output is linear(x) + lora(x).
    let mut rngs = Rngs::new(0);
    let base = Linear::new(3, 4, &mut rngs)?;
    let mut model = LoRA::config(3, 2, 4).build_with_base(base, &mut rngs)?;
    let base_before = model.base_module.as_ref().map(|b| b.state()).unwrap();

    let (x, target) = (tensor(&case["x"]), tensor(&case["target"]));
    let mut opt = nnx::Optimizer::new(&model, nnx::optax::adam(0.05), LoRAParam)?;
    for (step, want) in case["losses"].as_array().unwrap().iter().enumerate() {
        let (loss, grads) = nnx::value_and_grad(&mut model, LoRAParam, |m| {
            Ok((m.forward(&x)? - &target)?.square().mean())
        })?;
        let want = want.as_f64().unwrap() as f32;
        assert!(
            (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
            "step {step}: loss {loss}, Flax {want}"
        );
        assert_eq!(grads.len(), 2, "only lora_a and lora_b are differentiated");
        opt.update(&mut model, &grads)?;
    }
    for (name, var) in [("lora_a", &model.lora_a), ("lora_b", &model.lora_b)] {
        let want = tensor(&case["state"][format!("lora/{name}")]);
        let got = var.to_array();
        assert!(
            got.iter()
                .zip(want.array().iter())
                .all(|(g, w)| (g - w).abs() < 1e-5),
            "{name}"
        );
    }
    assert_eq!(
        model.base_module.as_ref().map(|b| b.state()).unwrap(),
        base_before
    );
    Ok(())
}
