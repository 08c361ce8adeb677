//! Conformance of `nnx_layers::functional` with JAX / Flax 0.12.8.
//!
//! Reference data comes from `tools/flax_reference/gen_functional.py`.
//! Tolerance: `|got - want| <= atol + rtol * |want|` with `rtol = 1e-5`;
//! `atol` is `1e-6` for elementwise functions and a little larger where the
//! result is a sum of many `f32` products whose order differs from XLA's
//! (conv, attention, normalization: `1e-5`), since relative error of a
//! near-zero sum is meaningless.

use ndarray::ArrayD;
use nnx_layers::activation as a;
use nnx_layers::functional as f;
use nnx_tensor as t;
use nnx_tensor::Tensor;
use serde_json::Value;

mod common;
use common::*;

fn load(name: &str) -> Vec<Value> {
    load_json(&format!("functional/{name}.json"))
        .as_array()
        .expect("a list of cases")
        .clone()
}

fn close(case: &Value, got: &ArrayD<f32>, atol: f32) {
    let want = f32s(&case["output"]);
    assert_eq!(
        got.shape(),
        want.shape(),
        "shape of {} {}",
        case["fn"],
        case["params"]
    );
    let mut worst = 0.0f32;
    for (g, w) in got.iter().zip(want.iter()) {
        let excess = (g - w).abs() - (atol + 1e-5 * w.abs());
        worst = worst.max(excess);
        if !(excess <= 0.0 || (g.is_infinite() && g == w)) {
            panic!("{} {}: got {g}, want {w}", case["fn"], case["params"]);
        }
    }
}

fn padding(p: &Value, n: usize) -> f::Padding {
    match p {
        Value::String(s) => match s.as_str() {
            "SAME" => f::Padding::Same,
            "VALID" => f::Padding::Valid,
            "CIRCULAR" => f::Padding::Circular,
            "REFLECT" => f::Padding::Reflect,
            "CAUSAL" => f::Padding::Causal,
            other => panic!("unknown padding {other}"),
        },
        Value::Number(k) => {
            let k = k.as_u64().expect("int") as usize;
            f::Padding::Explicit(vec![(k, k); n])
        }
        Value::Array(a) => f::Padding::Explicit(
            a.iter()
                .map(|pair| {
                    let v = usizes(pair);
                    (v[0], v[1])
                })
                .collect(),
        ),
        _ => f::Padding::Same,
    }
}

#[test]
fn activations_match_jax() {
    for c in load("activation") {
        let p = &c["params"];
        let name = c["fn"].as_str().expect("fn");
        if name == "one_hot" {
            let x = i64s(&c["inputs"]["x"]);
            let y = Tensor::one_hot(
                &x,
                p["num_classes"].as_u64().expect("n") as usize,
                p["axis"].as_i64().expect("a") as isize,
            )
            .expect("one_hot");
            close(&c, y.array(), 0.0);
            continue;
        }
        let x = Tensor::from(f32s(&c["inputs"]["x"]));
        let num = |k: &str| p[k].as_f64().expect("param") as f32;
        let axis = || p["axis"].as_i64().expect("axis") as isize;
        let y = match name {
            "relu" => x.relu(),
            "relu6" => x.relu6(),
            "sigmoid" => x.sigmoid(),
            "silu" => x.silu(),
            "swish" => a::swish(&x),
            "log_sigmoid" => x.log_sigmoid(),
            "tanh" => x.tanh(),
            "softplus" => x.softplus(),
            "soft_sign" => x.soft_sign(),
            "selu" => x.selu(),
            "hard_sigmoid" => x.hard_sigmoid(),
            "hard_silu" => x.hard_silu(),
            "hard_swish" => a::hard_swish(&x),
            "hard_tanh" => x.hard_tanh(),
            "gelu" => x.gelu(p["approximate"].as_bool().expect("bool")),
            "gelu_default" => x.gelu(true),
            "elu" => x.elu(num("alpha")),
            "celu" => x.celu(num("alpha")),
            "leaky_relu" => x.leaky_relu(num("negative_slope")),
            "softmax" => x.softmax(axis()).expect("softmax"),
            "log_softmax" => x.log_softmax(axis()).expect("log_softmax"),
            "glu" => x.glu(axis()).expect("glu"),
            "standardize" => x
                .standardize(&isizes(&p["axes"]), num("epsilon"))
                .expect("standardize"),
            other => panic!("untested {other}"),
        };
        close(&c, y.array(), 1e-6);
    }
}

#[test]
fn conv_matches_flax() {
    for c in load("conv") {
        let p = &c["params"];
        let x = f32s(&c["inputs"]["x"]);
        let k = f32s(&c["inputs"]["kernel"]);
        let n = k.ndim() - 2;
        let bc = |key: &str| {
            let v = usizes(&p[key]);
            if v.len() == 1 {
                vec![v[0]; n]
            } else {
                v
            }
        };
        let y = if c["fn"] == "conv" {
            let o = f::ConvOptions {
                strides: bc("strides"),
                padding: padding(&p["padding"], n),
                input_dilation: bc("input_dilation"),
                kernel_dilation: bc("kernel_dilation"),
                feature_group_count: p["feature_group_count"].as_u64().unwrap_or(1) as usize,
            };
            f::conv_general(&Tensor::from(x), &Tensor::from(k), &o)
                .expect("conv")
                .into_array()
        } else {
            let o = f::ConvTransposeOptions {
                strides: bc("strides"),
                padding: padding(&p["padding"], n),
                kernel_dilation: bc("kernel_dilation"),
                transpose_kernel: p["transpose_kernel"].as_bool().unwrap_or(false),
            };
            f::conv_transpose(&Tensor::from(x), &Tensor::from(k), &o)
                .expect("conv_transpose")
                .into_array()
        };
        close(&c, &y, 1e-5);
    }
}

#[test]
fn pooling_matches_flax() {
    for c in load("pooling") {
        let p = &c["params"];
        let x = Tensor::from(f32s(&c["inputs"]["x"]));
        let w = usizes(&p["window"]);
        let s = usizes(&p["strides"]);
        let pad = padding(&p["padding"], w.len());
        let y = match c["fn"].as_str().expect("fn") {
            "max_pool" => f::max_pool(&x, &w, &s, &pad),
            "min_pool" => f::min_pool(&x, &w, &s, &pad),
            _ => f::avg_pool(
                &x,
                &w,
                &s,
                &pad,
                p["count_include_pad"].as_bool().expect("bool"),
            ),
        }
        .expect("pool");
        close(&c, y.array(), 1e-6);
    }
}

#[test]
fn attention_matches_flax() {
    for c in load("attention") {
        let p = &c["params"];
        let i = &c["inputs"];
        match c["fn"].as_str().expect("fn") {
            "make_attention_mask" => {
                let (q, k) = (i64s(&i["q"]), i64s(&i["k"]));
                let extra = p["extra_batch_dims"].as_u64().expect("n") as usize;
                let m = if p["pairwise"] == "ge" {
                    t::make_attention_mask(&q, &k, |a, b| a >= b, extra)
                } else {
                    t::make_attention_mask(&q, &k, |a, b| a > 0 && b > 0, extra)
                };
                assert_eq!(m.expect("mask"), bools(&c["output"]));
            }
            "make_causal_mask" => {
                let m = t::make_causal_mask(&i64s(&i["x"]), 0).expect("mask");
                assert_eq!(m, bools(&c["output"]));
            }
            "combine_masks" => {
                let (a, b) = (bools(&i["a"]), bools(&i["b"]));
                let m = t::combine_masks(&[Some(&a), None, Some(&b)]).expect("combine");
                assert_eq!(m, Some(bools(&c["output"])));
            }
            name => {
                let (q, k, v) = (
                    t::Tensor::new(f32s(&i["query"])),
                    t::Tensor::new(f32s(&i["key"])),
                    t::Tensor::new(f32s(&i["value"])),
                );
                let bias = i.get("bias").map(|b| t::Tensor::new(f32s(b)));
                let mask = i.get("mask").map(bools);
                let keep = i.get("keep").map(bools);
                let o = t::AttentionOptions {
                    bias: bias.as_ref(),
                    mask: mask.as_ref(),
                    is_causal: p["is_causal"].as_bool().unwrap_or(false),
                    dropout: keep.as_ref().map(|keep| t::AttentionDropout {
                        keep,
                        rate: p["rate"].as_f64().expect("rate"),
                    }),
                };
                let y = if name == "attention" {
                    t::dot_product_attention(&q, &k, &v, &o)
                } else {
                    t::dot_product_attention_weights(&q, &k, &o)
                };
                close(&c, y.expect("attention").array(), 1e-5);
            }
        }
    }
}

#[test]
fn normalization_matches_flax() {
    for c in load("normalization") {
        let p = &c["params"];
        let i = &c["inputs"];
        let x = f32s(&i["x"]);
        match c["fn"].as_str().expect("fn") {
            "stats_normalize" => {
                let x = Tensor::from(x);
                let axes = isizes(&p["axes"]);
                let (m, v) = x
                    .compute_stats(
                        &axes,
                        p["use_mean"].as_bool().expect("b"),
                        p["fast"].as_bool().expect("b"),
                    )
                    .expect("stats");
                let (scale, bias) = (
                    Tensor::from(f32s(&i["scale"])),
                    Tensor::from(f32s(&i["bias"])),
                );
                let eps = p["epsilon"].as_f64().expect("eps") as f32;
                let y = x
                    .normalize(&m, &v, Some(&scale), Some(&bias), &axes, &[-1], eps)
                    .expect("normalize");
                let mut mc = c.clone();
                mc["output"] = c["mean"].clone();
                close(&mc, m.array(), 1e-5);
                mc["output"] = c["var"].clone();
                close(&mc, v.array(), 1e-5);
                close(&c, y.array(), 1e-5);
            }
            "group_norm" => {
                let (scale, bias) = (
                    Tensor::from(f32s(&i["scale"])),
                    Tensor::from(f32s(&i["bias"])),
                );
                let y = Tensor::from(x)
                    .group_norm(
                        p["num_groups"].as_u64().expect("g") as usize,
                        Some(&scale),
                        Some(&bias),
                        p["epsilon"].as_f64().expect("eps") as f32,
                        p["fast"].as_bool().expect("b"),
                    )
                    .expect("group_norm");
                close(&c, y.array(), 1e-5);
            }
            _ => {
                let w = t::Tensor::new(f32s(&i["w"]));
                let y = t::Tensor::new(x).matmul(&w).expect("dot");
                close(&c, y.array(), 1e-5);
            }
        }
    }
}
