//! The normalization layers, PReLU and Dropout under `value_and_grad`, against
//! JAX: `jax.vjp` of the real Flax layers (every option that changes the math)
//! and Flax's `nnx.value_and_grad` of a small model with BatchNorm in training
//! mode and Dropout (nnx-tensor/tests/data/grad_norm.json, written by
//! tools/flax_reference/gen_grad_norm.py). Within 1e-5, relative above 1.

mod common;

use common::{bools, f32s, i64s, isizes, load_json};
use ndarray::{ArrayD, Axis};
use nnx_core::prelude::*;
use nnx_core::rngs::Rngs;
use nnx_core::Result;
use nnx_layers::*;
use nnx_tensor::{value_and_grad, Tensor};
use serde_json::Value as Json;

fn data() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../nnx-tensor/tests/data/grad_norm.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference data")).expect("json")
}

fn assert_close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * w.abs().max(1.0),
            "{what}[{i}]: got {g}, JAX {w}"
        );
    }
}

/// An input differentiated together with a layer's Params.
#[derive(Module)]
struct Case {
    x: Param<Tensor>,
    layer: Layer,
}

fn param(inputs: &Json, name: &str) -> Option<Param<Tensor>> {
    inputs.get(name).map(|v| Param::new(Tensor::from(f32s(v))))
}

/// The Flax layer of a case, built with the case's options and holding its
/// inputs' Params.
fn layer(p: &Json, inputs: &Json, x: &ArrayD<f32>) -> Result<Layer> {
    let flag = |k: &str| p[k].as_bool().expect("bool");
    let eps = || p["epsilon"].as_f64().expect("epsilon") as f32;
    let (scale, bias) = (param(inputs, "scale"), param(inputs, "bias"));
    let features = |axes: &[isize]| -> usize {
        let nd = x.ndim() as isize;
        axes.iter()
            .map(|&a| x.shape()[(if a < 0 { a + nd } else { a }) as usize])
            .product()
    };
    let rngs = &mut Rngs::new(0);
    Ok(match p["layer"].as_str().expect("layer") {
        "BatchNorm" => {
            let axis = p["axis"].as_i64().expect("axis") as isize;
            let mut bn = BatchNorm::config(features(&[axis]))
                .axis(axis)
                .use_running_average(flag("use_running_average"))
                .use_scale(flag("use_scale"))
                .use_bias(flag("use_bias"))
                .use_fast_variance(flag("fast"))
                .epsilon(eps())
                .build(rngs)?;
            if let (Some(m), Some(v)) = (p.get("mean"), p.get("var")) {
                bn.mean = BatchStat::new(Tensor::from(f32s(m)));
                bn.var = BatchStat::new(Tensor::from(f32s(v)));
            }
            (bn.scale, bn.bias) = (scale, bias);
            bn.into()
        }
        "LayerNorm" => {
            let feat = isizes(&p["feature_axes"]);
            let mut ln = LayerNorm::config(features(&feat))
                .reduction_axes(&isizes(&p["reduction_axes"]))
                .feature_axes(&feat)
                .use_scale(flag("use_scale"))
                .use_bias(flag("use_bias"))
                .use_fast_variance(flag("fast"))
                .epsilon(eps())
                .build(rngs)?;
            (ln.scale, ln.bias) = (scale, bias);
            ln.into()
        }
        "RMSNorm" => {
            let feat = isizes(&p["feature_axes"]);
            let mut rms = RMSNorm::config(features(&feat))
                .reduction_axes(&isizes(&p["reduction_axes"]))
                .feature_axes(&feat)
                .use_scale(flag("use_scale"))
                .epsilon(eps())
                .build(rngs)?;
            rms.scale = scale;
            rms.into()
        }
        "GroupNorm" => {
            let mut cfg = GroupNorm::config(features(&[-1]))
                .num_groups(Some(p["num_groups"].as_u64().expect("groups") as usize))
                .use_scale(flag("use_scale"))
                .use_bias(flag("use_bias"))
                .use_fast_variance(flag("fast"))
                .epsilon(eps());
            if let Some(axes) = p.get("reduction_axes") {
                cfg = cfg.reduction_axes(&isizes(axes));
            }
            let mut gn = cfg.build(rngs)?;
            (gn.scale, gn.bias) = (scale, bias);
            gn.into()
        }
        "InstanceNorm" => {
            let feat = isizes(&p["feature_axes"]);
            let mut inorm = InstanceNorm::config(features(&feat))
                .feature_axes(&feat)
                .use_scale(flag("use_scale"))
                .use_bias(flag("use_bias"))
                .use_fast_variance(flag("fast"))
                .epsilon(eps())
                .build(rngs)?;
            (inorm.scale, inorm.bias) = (scale, bias);
            inorm.into()
        }
        "PReLU" => {
            let mut prelu = PReLU::new();
            prelu.negative_slope = param(inputs, "negative_slope").expect("negative_slope");
            prelu.into()
        }
        other => panic!("no layer {other} in the test"),
    })
}

/// One `jax.vjp` case: the layer's output and the gradients of x and its
/// Params, with the layer called by `call`.
fn check_vjp(case: &Json, call: &dyn Fn(&mut Layer, &Tensor) -> Result<Tensor>) -> Result<()> {
    let (p, inputs) = (&case["params"], &case["inputs"]);
    let what = format!("{p}");
    let x = f32s(&inputs["x"]);
    let mut c = Case {
        layer: layer(p, inputs, &x)?,
        x: Param::new(Tensor::from(x)),
    };
    let ct = Tensor::from(f32s(&case["cotangents"][0]));
    let mut out = None;
    let (_, grads) = value_and_grad(&mut c, Param, |c| {
        let y = call(&mut c.layer, &c.x)?;
        out = Some(y.to_array());
        Ok((&y * &ct)?.sum())
    })?;
    assert_close(
        &format!("{what} output"),
        &out.expect("ran"),
        &f32s(&case["outputs"][0]),
    );
    for (name, want) in case["grads"].as_object().expect("grads") {
        let path = if name == "x" {
            "x".to_string()
        } else {
            format!("layer/{name}")
        };
        let got = grads
            .get::<Tensor>(&path)
            .expect("a gradient for every input");
        assert_close(&format!("{what} d{name}"), got.array(), &f32s(want));
    }
    Ok(())
}

#[test]
fn every_layer_matches_jax_vjp() -> Result<()> {
    let data = data();
    let mut n = 0;
    for case in data["ops"].as_array().expect("ops") {
        if case["op"] != "layer" {
            continue;
        }
        n += 1;
        check_vjp(case, &|layer, x| layer.forward(x))?;
    }
    assert!(n >= 50, "{n} layer cases");
    Ok(())
}

/// Call-time arguments (a mask; BatchNorm's `use_running_average` against the
/// layer's flag; GroupNorm's `reduction_axes`) against `jax.vjp` of the Flax
/// calls (nnx-layers/tests/data/layers/call_overrides.json, written by
/// tools/flax_reference/gen_call_overrides.py).
#[test]
fn call_time_arguments_match_jax_vjp() -> Result<()> {
    let data = load_json("layers/call_overrides.json");
    let cases = data["grads"].as_array().expect("grads");
    for case in cases {
        let mask = case.get("mask").map(bools);
        let mask = mask.as_ref();
        let use_running_average = case["params"]["call_use_running_average"].as_bool();
        check_vjp(case, &|layer, x| match layer {
            Layer::BatchNorm(bn) => bn.forward_with(
                x,
                BatchNormArgs {
                    use_running_average,
                    mask,
                },
            ),
            Layer::LayerNorm(l) => l.forward_with(x, NormArgs { mask }),
            Layer::RMSNorm(l) => l.forward_with(x, NormArgs { mask }),
            Layer::GroupNorm(l) => l.forward_with(x, NormArgs { mask }),
            Layer::InstanceNorm(l) => l.forward_with(x, NormArgs { mask }),
            _ => panic!("no call-time arguments for this layer in the test"),
        })?;
    }
    assert_eq!(cases.len(), 13);
    Ok(())
}

/// Flax's `nnx.Linear`, with its Params given.
#[derive(Module)]
struct Dense {
    kernel: Param<Tensor>,
    bias: Param<Tensor>,
}

#[derive(Module)]
struct Model {
    linear: Dense,
    bn: BatchNorm,
    drop: Dropout,
    out: Dense,
}

impl Model {
    fn forward(&mut self, x: &Tensor) -> Result<Tensor> {
        let h = (x.matmul(&self.linear.kernel)? + &*self.linear.bias)?;
        let h = self.drop.forward(&self.bn.forward(&h)?.relu())?;
        h.matmul(&self.out.kernel)? + &*self.out.bias
    }

    /// `forward` with a BatchNorm mask and the Dropout switched on for the
    /// call, its key drawn from `rngs`.
    fn forward_calls(
        &mut self,
        x: &Tensor,
        mask: &ArrayD<bool>,
        rngs: &mut Rngs,
    ) -> Result<Tensor> {
        let h = (x.matmul(&self.linear.kernel)? + &*self.linear.bias)?;
        let bn = BatchNormArgs {
            mask: Some(mask),
            ..Default::default()
        };
        let drop = DropoutArgs {
            deterministic: Some(false),
            rngs: Some(rngs),
        };
        let h = self
            .drop
            .forward_with(&self.bn.forward_with(&h, bn)?.relu(), drop)?;
        h.matmul(&self.out.kernel)? + &*self.out.bias
    }

    /// Flax's model of `d` (Rngs(params=0, dropout=1): the Dropout forks the
    /// 'dropout' stream), with its Params given.
    fn of(d: &Json, deterministic: bool) -> Result<Model> {
        let p = |name: &str| Param::new(Tensor::from(f32s(&d["params"][name])));
        let mut rngs = Rngs::new(0).with("dropout", 1);
        let mut bn = BatchNorm::config(8).momentum(0.9).build(&mut rngs)?;
        (bn.scale, bn.bias) = (Some(p("bn/scale")), Some(p("bn/bias")));
        Ok(Model {
            linear: Dense {
                kernel: p("linear/kernel"),
                bias: p("linear/bias"),
            },
            bn,
            drop: Dropout::config(0.25)
                .deterministic(deterministic)
                .build(&mut rngs)?,
            out: Dense {
                kernel: p("out/kernel"),
                bias: p("out/bias"),
            },
        })
    }
}

/// The softmax cross-entropy of `logits` against `d`'s labels.
fn loss_of(d: &Json, logits: Tensor) -> Result<Tensor> {
    let labels = i64s(&d["labels"]).insert_axis(Axis(1));
    Ok(-logits.log_softmax(-1)?.take_along_axis(&labels, 1)?.mean())
}

/// The loss, gradients and running statistics equal Flax's.
fn check_model(d: &Json, loss: f32, grads: &State, model: &Model) {
    let want = d["loss"].as_f64().expect("loss") as f32;
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
        "loss {loss} vs Flax {want}"
    );
    for (path, want) in d["grads"].as_object().expect("grads") {
        let got = grads.get::<Tensor>(path).expect("gradient path");
        assert_close(&format!("d{path}"), got.array(), &f32s(want));
    }
    for (path, want) in d["batch_stats"].as_object().expect("batch_stats") {
        let got = model
            .state_of(BatchStat)
            .get::<Tensor>(path)
            .expect("stat path")
            .to_array();
        assert_close(path, &got, &f32s(want));
    }
}

#[test]
fn batchnorm_and_dropout_model_matches_flax_value_and_grad() -> Result<()> {
    let data = data();
    let d = &data["model"];
    let mut model = Model::of(d, false)?;
    let x = Tensor::from(f32s(&d["x"]));
    let (loss, grads) = value_and_grad(&mut model, Param, |m| loss_of(d, m.forward(&x)?))?;
    assert_eq!(
        grads.map(nnx_core::value::shape).to_string(),
        d["grads_repr"].as_str().expect("repr")
    );
    check_model(d, loss, &grads, &model);
    Ok(())
}

/// The same model with a BatchNorm mask and a Dropout built deterministic but
/// switched on for the call with call-time rngs, against Flax's
/// `nnx.value_and_grad` (the call's Rngs advances, the layer's stream does not).
#[test]
fn call_time_arguments_in_a_model_match_flax_value_and_grad() -> Result<()> {
    let data = load_json("layers/call_overrides.json");
    let d = &data["model"];
    let mut model = Model::of(d, true)?;
    let x = Tensor::from(f32s(&d["x"]));
    let mask = bools(&d["mask"]);
    let mut call_rngs = Rngs::from_streams([("dropout", 3)]);
    let (loss, grads) = value_and_grad(&mut model, Param, |m| {
        loss_of(d, m.forward_calls(&x, &mask, &mut call_rngs)?)
    })?;
    check_model(d, loss, &grads, &model);
    let count = |state: &Json, path: &str| state[path]["data"].as_u64().expect("count") as u32;
    let stream = call_rngs.stream("dropout")?;
    assert_eq!(stream.count(), count(&d["call_rngs"], "dropout/count"));
    let own = model.drop.rngs.as_ref().expect("a stream").count();
    assert_eq!(own, count(&d["model_rngs"], "rngs/count"));
    Ok(())
}
