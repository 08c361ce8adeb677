//! Conformance of Linear, LinearGeneral, Einsum, Embed, Conv, ConvTranspose,
//! PReLU and Sequential with Flax NNX 0.12.8.
//!
//! Reference data comes from `tools/flax_reference/gen_layers_dense.py`: each
//! layer is built from `nnx.Rngs(seed)`; parameter paths, types, shapes and
//! values must match Flax's for the same seed. The bias is then set to Flax's
//! random one and forward outputs compared with
//! `|got - want| <= 1e-5 + 1e-5 * |want|` (sums of f32 products in another order).

use ndarray::{ArrayD, Ix1};
use nnx_core::init;
use nnx_core::path_string;
use nnx_core::rngs::Rngs;
use nnx_core::value::ArrayRef;
use nnx_core::{Module, VariableType};
use nnx_layers::functional::Padding;
use nnx_layers::{
    Conv, ConvTranspose, Einsum, Embed, Forward, Linear, LinearGeneral, PReLU, Sequential,
};
use nnx_tensor::Tensor;
use serde_json::Value;

mod common;
use common::*;

fn data() -> Value {
    load_json("layers/dense.json")
}

fn close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>) {
    assert_close(what, got, want, 1e-5, 1e-5);
}

fn padding(v: &Value) -> Padding {
    match v {
        Value::Null => Padding::Same,
        Value::String(s) => match s.as_str() {
            "SAME" => Padding::Same,
            "VALID" => Padding::Valid,
            "CIRCULAR" => Padding::Circular,
            "CAUSAL" => Padding::Causal,
            other => panic!("padding {other}"),
        },
        Value::Array(pairs) => Padding::Explicit(
            pairs
                .iter()
                .map(|p| {
                    let p = usizes(p);
                    (p[0], p[1])
                })
                .collect(),
        ),
        other => panic!("padding {other}"),
    }
}

/// Compares a module's state with Flax's parameters (paths, types, shapes,
/// values) and its printed shapes with Flax's repr.
fn check_params<M: Module>(case: &Value, m: &M) {
    let name = format!("{} seed {} {}", case["layer"], case["seed"], case["config"]);
    let flat = m.state().flat_state();
    let mut ours: Vec<(String, String, ArrayD<f32>)> = flat
        .iter()
        .map(|(p, v)| {
            let arr = match v.value.array_ref() {
                Some(ArrayRef::F32(a)) => a.to_owned(),
                _ => panic!("{name}: {} is not an f32 array", path_string(p)),
            };
            (path_string(p), v.kind.name().to_string(), arr)
        })
        .collect();
    ours.sort_by(|a, b| a.0.cmp(&b.0));
    let params = case["params"].as_object().expect("params");
    // Flax also lists Conv's plain-array `mask` attribute in its state; here the
    // mask is a static hyperparameter, so Variables only are compared.
    let theirs: Vec<(&String, &Value)> = params
        .iter()
        .filter(|(_, v)| v["type"] != "Array")
        .collect();
    let our_paths: Vec<&str> = ours.iter().map(|o| o.0.as_str()).collect();
    let their_paths: Vec<&str> = theirs.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(our_paths, their_paths, "{name}: parameter paths");
    for ((path, kind, value), (_, want)) in ours.iter().zip(&theirs) {
        assert_eq!(
            kind,
            want["type"].as_str().expect("type"),
            "{name}: {path} type"
        );
        close(&format!("{name}: {path}"), value, &f32s(want));
    }
    if !case["params"]
        .as_object()
        .expect("p")
        .values()
        .any(|v| v["type"] == "Array")
    {
        assert_eq!(
            m.state().map(nnx_core::value::shape).to_string(),
            case["shape_repr"].as_str().expect("repr"),
            "{name}: state shapes"
        );
    }
}

fn check_forward<L: Forward>(case: &Value, layer: &mut L) {
    let name = format!("{} seed {} {}", case["layer"], case["seed"], case["config"]);
    for (i, f) in case["forward"]
        .as_array()
        .expect("forward")
        .iter()
        .enumerate()
    {
        let y = layer
            .forward(&f32s(&f["input"]).into())
            .unwrap_or_else(|e| panic!("{name}: forward {i}: {e}"))
            .into_array();
        close(&format!("{name}: forward {i}"), &y, &f32s(&f["output"]));
    }
}

/// Sets a layer's optional bias to the case's `bias`.
fn set_tensor_bias(bias: &mut Option<nnx_core::Param<Tensor>>, case: &Value) {
    if let Some(b) = bias {
        b.set_raw_value(Tensor::new(f32s(&case["bias"])));
    }
}

fn build_linear(case: &Value) -> Linear {
    let c = &case["config"];
    let mut cfg = Linear::config(
        c["in_features"].as_u64().expect("in") as usize,
        c["out_features"].as_u64().expect("out") as usize,
    )
    .use_bias(c["use_bias"].as_bool().expect("bias"));
    if c["kernel_init"] == "glorot_uniform" {
        cfg = cfg
            .kernel_init(init::glorot_uniform())
            .bias_init(init::ones());
    }
    cfg.build(&mut Rngs::new(case["seed"].as_i64().expect("seed")))
        .expect("build")
}

#[test]
fn key_example_of_the_issue() {
    let d = data();
    let layer = Linear::new(2, 3, &mut Rngs::new(0)).expect("build");
    let k = &d["key_example"];
    close("kernel", layer.kernel.array(), &f32s(&k["kernel"]));
    let bias = layer
        .bias
        .as_ref()
        .expect("bias")
        .view()
        .into_dimensionality::<Ix1>();
    assert_eq!(bias.map(|b| b.sum()).ok(), Some(0.0));
    assert_eq!(
        layer.state().map(nnx_core::value::shape).to_string(),
        "State({\n  'bias': Param(\n    value=(3,)\n  ),\n  'kernel': Param(\n    value=(2, 3)\n  )\n})"
    );
    assert_eq!(
        layer.state().map(nnx_core::value::shape).to_string(),
        k["shape_repr"].as_str().expect("repr")
    );
}

fn cases(layer: &str) -> Vec<Value> {
    let all: Vec<Value> = data()["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["layer"] == layer)
        .cloned()
        .collect();
    assert!(!all.is_empty(), "no {layer} cases");
    all
}

#[test]
fn linear_matches_flax() {
    for case in cases("Linear") {
        let mut m = build_linear(&case);
        check_params(&case, &m);
        set_tensor_bias(&mut m.bias, &case);
        check_forward(&case, &mut m);
    }
}

#[test]
fn linear_general_matches_flax() {
    for case in cases("LinearGeneral") {
        let c = &case["config"];
        let batch: Vec<(usize, usize)> = c["batch_axis"]
            .as_array()
            .expect("batch")
            .iter()
            .map(|p| {
                let p = usizes(p);
                (p[0], p[1])
            })
            .collect();
        let mut m = LinearGeneral::config(&usizes(&c["in_features"]), &usizes(&c["out_features"]))
            .axis(&isizes(&c["axis"]))
            .batch_axis(&batch)
            .use_bias(c["use_bias"].as_bool().expect("bias"))
            .build(&mut Rngs::new(case["seed"].as_i64().expect("seed")))
            .expect("build");
        check_params(&case, &m);
        set_tensor_bias(&mut m.bias, &case);
        check_forward(&case, &mut m);
    }
}

#[test]
fn einsum_matches_flax() {
    for case in cases("Einsum") {
        let c = &case["config"];
        let mut cfg = Einsum::config(
            c["einsum_str"].as_str().expect("eq"),
            &usizes(&c["kernel_shape"]),
        );
        if !c["bias_shape"].is_null() {
            cfg = cfg.bias_shape(&usizes(&c["bias_shape"]));
        }
        let mut m = cfg
            .build(&mut Rngs::new(case["seed"].as_i64().expect("seed")))
            .expect("build");
        check_params(&case, &m);
        set_tensor_bias(&mut m.bias, &case);
        check_forward(&case, &mut m);
    }
}

#[test]
fn embed_matches_flax() {
    for case in cases("Embed") {
        let c = &case["config"];
        let mut m = Embed::new(
            c["num_embeddings"].as_u64().expect("n") as usize,
            c["features"].as_u64().expect("f") as usize,
            &mut Rngs::new(case["seed"].as_i64().expect("seed")),
        )
        .expect("build");
        check_params(&case, &m);
        for f in case["forward"].as_array().expect("fwd") {
            let y = m.lookup(&i64s(&f["input"])).expect("embed");
            close("embed", y.array(), &f32s(&f["output"]));
        }
        check_forward(&case, &mut m);
        for a in case["attend"].as_array().expect("attend") {
            close(
                "attend",
                m.attend(&f32s(&a["input"]).into()).expect("attend").array(),
                &f32s(&a["output"]),
            );
        }
        let n = m.num_embeddings as i64;
        assert!(m.lookup(&ndarray::arr1(&[0, n])).is_err());
        assert!(m.lookup(&ndarray::arr1(&[-1i64])).is_err());
    }
}

#[test]
fn conv_matches_flax() {
    for case in cases("Conv") {
        let c = &case["config"];
        let get = |k: &str| usizes(&c[k]);
        let mut cfg = Conv::config(
            c["in_features"].as_u64().expect("in") as usize,
            c["out_features"].as_u64().expect("out") as usize,
            &get("kernel_size"),
        )
        .padding(padding(&c["padding"]));
        for k in ["strides", "input_dilation", "kernel_dilation"] {
            if !c[k].is_null() {
                cfg = match k {
                    "strides" => cfg.strides(&get(k)),
                    "input_dilation" => cfg.input_dilation(&get(k)),
                    _ => cfg.kernel_dilation(&get(k)),
                };
            }
        }
        if let Some(g) = c["feature_group_count"].as_u64() {
            cfg = cfg.feature_group_count(g as usize);
        }
        if let Some(b) = c["use_bias"].as_bool() {
            cfg = cfg.use_bias(b);
        }
        if !c["mask"].is_null() {
            cfg = cfg.mask(f32s(&c["mask"]));
        }
        let mut m = cfg
            .build(&mut Rngs::new(case["seed"].as_i64().expect("seed")))
            .expect("build");
        check_params(&case, &m);
        set_tensor_bias(&mut m.bias, &case);
        check_forward(&case, &mut m);
    }
}

#[test]
fn conv_transpose_matches_flax() {
    for case in cases("ConvTranspose") {
        let c = &case["config"];
        let get = |k: &str| usizes(&c[k]);
        let mut cfg = ConvTranspose::config(
            c["in_features"].as_u64().expect("in") as usize,
            c["out_features"].as_u64().expect("out") as usize,
            &get("kernel_size"),
        )
        .padding(padding(&c["padding"]));
        if !c["strides"].is_null() {
            cfg = cfg.strides(&get("strides"));
        }
        if !c["kernel_dilation"].is_null() {
            cfg = cfg.kernel_dilation(&get("kernel_dilation"));
        }
        if let Some(b) = c["use_bias"].as_bool() {
            cfg = cfg.use_bias(b);
        }
        if let Some(t) = c["transpose_kernel"].as_bool() {
            cfg = cfg.transpose_kernel(t);
        }
        if !c["mask"].is_null() {
            cfg = cfg.mask(f32s(&c["mask"]));
        }
        let mut m = cfg
            .build(&mut Rngs::new(case["seed"].as_i64().expect("seed")))
            .expect("build");
        check_params(&case, &m);
        set_tensor_bias(&mut m.bias, &case);
        check_forward(&case, &mut m);
    }
}

#[test]
fn prelu_matches_flax() {
    for case in cases("PReLU") {
        let mut cfg = PReLU::config();
        if let Some(s) = case["config"]["negative_slope_init"].as_f64() {
            cfg = cfg.negative_slope_init(s as f32);
        }
        let mut m = cfg.build();
        check_params(&case, &m);
        check_forward(&case, &mut m);
    }
}

#[test]
fn sequential_matches_flax() {
    for case in cases("Sequential") {
        let mut rngs = Rngs::new(case["seed"].as_i64().expect("seed"));
        let layers = case["config"]["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| {
                let l = usizes(l);
                Linear::new(l[0], l[1], &mut rngs)
            })
            .collect::<Result<Vec<_>, _>>()
            .expect("build");
        let m = Sequential::new(layers);
        check_params(&case, &m);
    }
}

#[test]
fn shape_errors_name_expected_and_found() {
    let mut rngs = Rngs::new(0);
    let conv = Conv::new(3, 2, &[3, 3], &mut rngs).expect("build");
    let err = conv
        .apply(&nnx_tensor::Tensor::zeros(&[1, 5, 5, 2]))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("(3, 3, 2, 2)") && err.contains("(3, 3, 3, 2)"),
        "{err}"
    );
    let lin = LinearGeneral::config(&[2, 3], &[4])
        .axis(&[-2, -1])
        .build(&mut rngs)
        .expect("build");
    let err = lin
        .apply(&Tensor::zeros(&[3, 2]))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(err, "shape mismatch at x: expected (2, 3), found (3, 2)");
}
