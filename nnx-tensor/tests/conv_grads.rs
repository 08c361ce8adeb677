//! Convolution and pooling gradients: against real JAX (`jax.vjp` of Flax's
//! `nnx.Conv`, `nnx.ConvTranspose`, `nnx.max_pool` / `min_pool` / `avg_pool`
//! in tests/data/grad_conv.json, written by
//! tools/flax_reference/gen_grad_conv.py), against Flax's `nnx.value_and_grad`
//! of a small conv model, and against finite differences.
//!
//! Each op's inputs are Params of a map module and the loss is
//! `sum(op(inputs) * cotangent)`, so `value_and_grad` returns exactly the vjp.

use ndarray::ArrayD;
use nnx_core::prelude::*;
use nnx_core::Result;
use nnx_tensor::{value_and_grad, ConvOptions, ConvTransposeOptions, Padding, Tensor};
use serde_json::Value as Json;

mod common;
use common::*;

/// Flax's padding spelling: a string or `(low, high)` pairs.
fn padding(p: &Json) -> Padding {
    match p.as_str() {
        Some("SAME") => Padding::Same,
        Some("VALID") => Padding::Valid,
        Some("CIRCULAR") => Padding::Circular,
        Some("REFLECT") => Padding::Reflect,
        Some("CAUSAL") => Padding::Causal,
        Some(other) => panic!("unknown padding {other}"),
        None => Padding::Explicit(
            p.as_array()
                .expect("pairs")
                .iter()
                .map(|pair| {
                    let v = usizes(pair);
                    (v[0], v[1])
                })
                .collect(),
        ),
    }
}

/// The op of one case on tensors read from `m`.
fn apply(op: &str, p: &Json, m: &Inputs) -> Result<Tensor> {
    let x = m.get("x").expect("x");
    let k = || m.get("kernel").expect("kernel");
    let list = |key: &str| usizes(&p[key]);
    let pad = padding(&p["padding"]);
    match op {
        "conv" => x.conv_general(
            k(),
            &ConvOptions {
                strides: list("strides"),
                padding: pad,
                input_dilation: list("input_dilation"),
                kernel_dilation: list("kernel_dilation"),
                feature_group_count: p["feature_group_count"].as_u64().expect("groups") as usize,
            },
        ),
        "conv_transpose" => x.conv_transpose(
            k(),
            &ConvTransposeOptions {
                strides: list("strides"),
                padding: pad,
                kernel_dilation: list("kernel_dilation"),
                transpose_kernel: p["transpose_kernel"].as_bool().expect("bool"),
            },
        ),
        "max_pool" => x.max_pool(&list("window"), &list("strides"), &pad),
        "min_pool" => x.min_pool(&list("window"), &list("strides"), &pad),
        "avg_pool" => x.avg_pool(
            &list("window"),
            &list("strides"),
            &pad,
            p["count_include_pad"].as_bool().expect("bool"),
        ),
        other => panic!("no op {other} in the test"),
    }
}

#[test]
fn conv_and_pool_match_jax_vjp() {
    let data = load("grad_conv.json");
    let cases = data["ops"].as_array().expect("ops");
    assert!(cases.len() >= 80);
    for (n, case) in cases.iter().enumerate() {
        check_vjp_case(n, case, apply);
    }
}

/// A Conv layer's parameters: kernel and bias.
#[derive(Module)]
struct ConvParams {
    kernel: Param<Tensor>,
    bias: Param<Tensor>,
}

/// Flax's `ConvModel` of gen_grad_conv.py, written with Tensor ops.
#[derive(Module)]
struct ConvModel {
    conv1: ConvParams,
    conv2: ConvParams,
    up: ConvParams,
}

impl ConvModel {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = (x.conv_general(&self.conv1.kernel, &ConvOptions::default())? + &*self.conv1.bias)?;
        let h = h.relu().max_pool(&[2, 2], &[2, 2], &Padding::Valid)?;
        let o2 = ConvOptions {
            padding: Padding::Circular,
            kernel_dilation: vec![2],
            feature_group_count: 2,
            ..Default::default()
        };
        let h = (h.conv_general(&self.conv2.kernel, &o2)? + &*self.conv2.bias)?.relu();
        let up = ConvTransposeOptions {
            strides: vec![2],
            ..Default::default()
        };
        h.conv_transpose(&self.up.kernel, &up)? + &*self.up.bias
    }
}

#[test]
fn conv_model_value_and_grad_matches_flax() {
    let data = load("grad_conv.json");
    let m = &data["model"];
    let p = |layer: &str| ConvParams {
        kernel: Param::new(Tensor::from(f32s(&m["params"][format!("{layer}/kernel")]))),
        bias: Param::new(Tensor::from(f32s(&m["params"][format!("{layer}/bias")]))),
    };
    let mut model = ConvModel {
        conv1: p("conv1"),
        conv2: p("conv2"),
        up: p("up"),
    };
    let (x, target) = (
        Tensor::from(f32s(&m["x"])),
        Tensor::from(f32s(&m["target"])),
    );
    let (loss, grads) = value_and_grad(&mut model, Param, |m| {
        Ok((m.forward(&x)? - &target)?.square().mean())
    })
    .expect("value_and_grad");
    let want = m["loss"].as_f64().expect("loss") as f32;
    assert!(
        (loss - want).abs() <= 1e-5 * want.abs().max(1.0),
        "loss {loss} vs Flax {want}"
    );
    assert_eq!(grads.flat_state().len(), 6);
    for (path, leaf) in grads.flat_state().iter() {
        let name = nnx_core::path_string(path);
        let got = leaf
            .value
            .as_any()
            .downcast_ref::<Tensor>()
            .expect("a Tensor");
        assert_close(&name, got.array(), &f32s(&m["grads"][name.as_str()]));
    }
}

fn conv_op(o: ConvOptions) -> Op {
    Box::new(move |x| x[0].conv_general(x[1], &o))
}

fn transpose_op(o: ConvTransposeOptions) -> Op {
    Box::new(move |x| x[0].conv_transpose(x[1], &o))
}

/// Name, inputs and op of every rule, with the options that change its math.
fn fd_cases() -> Vec<(&'static str, Vec<ArrayD<f32>>, Op)> {
    let mut g = Gen(5);
    let mut v = |shape: &[usize]| g.away_from_zero(shape);
    let conv = |padding, strides: &[usize], kd: &[usize], id: &[usize], groups| ConvOptions {
        strides: strides.to_vec(),
        padding,
        input_dilation: id.to_vec(),
        kernel_dilation: kd.to_vec(),
        feature_group_count: groups,
    };
    let tr = |padding, strides: &[usize], kd: &[usize], transpose_kernel| ConvTransposeOptions {
        strides: strides.to_vec(),
        padding,
        kernel_dilation: kd.to_vec(),
        transpose_kernel,
    };
    let mut cases: Vec<(&'static str, Vec<ArrayD<f32>>, Op)> = vec![
        (
            "conv_same_strided",
            vec![v(&[2, 5, 2]), v(&[3, 2, 3])],
            conv_op(conv(Padding::Same, &[2], &[], &[], 1)),
        ),
        (
            "conv_circular_dilated",
            vec![v(&[1, 5, 2]), v(&[2, 2, 2])],
            conv_op(conv(Padding::Circular, &[], &[2], &[], 1)),
        ),
        (
            "conv_reflect",
            vec![v(&[1, 4, 3, 1]), v(&[3, 2, 1, 2])],
            conv_op(conv(Padding::Reflect, &[], &[], &[], 1)),
        ),
        (
            "conv_causal",
            vec![v(&[2, 4, 1]), v(&[3, 1, 2])],
            conv_op(conv(Padding::Causal, &[], &[], &[], 1)),
        ),
        (
            "conv_input_dilation",
            vec![v(&[1, 3, 2, 2]), v(&[2, 2, 2, 2])],
            conv_op(conv(
                Padding::Explicit(vec![(1, 0), (0, 1)]),
                &[1, 2],
                &[],
                &[2, 1],
                1,
            )),
        ),
        (
            "conv_groups",
            vec![v(&[1, 4, 4]), v(&[2, 2, 4])],
            conv_op(conv(Padding::Valid, &[], &[], &[], 2)),
        ),
        (
            "conv_3d",
            vec![v(&[1, 3, 2, 3, 1]), v(&[2, 1, 2, 1, 2])],
            conv_op(conv(Padding::Same, &[1, 1, 2], &[], &[], 1)),
        ),
        (
            "conv_transpose_same",
            vec![v(&[1, 3, 2]), v(&[3, 2, 2])],
            transpose_op(tr(Padding::Same, &[2], &[], false)),
        ),
        (
            "conv_transpose_circular_flipped",
            vec![v(&[2, 3, 2]), v(&[3, 1, 2])],
            transpose_op(tr(Padding::Circular, &[2], &[], true)),
        ),
        (
            "conv_transpose_valid_2d",
            vec![v(&[1, 2, 2, 1]), v(&[2, 2, 1, 2])],
            transpose_op(tr(Padding::Valid, &[2, 1], &[1, 2], false)),
        ),
    ];
    let mut p = Gen(9);
    let x = p.spaced(&[2, 5, 4, 2]);
    for padding in [Padding::Valid, Padding::Same] {
        let pad = padding.clone();
        cases.push((
            "max_pool",
            vec![x.clone()],
            Box::new(move |x| x[0].max_pool(&[2, 3], &[2, 1], &pad)),
        ));
        let pad = padding.clone();
        cases.push((
            "min_pool",
            vec![x.clone()],
            Box::new(move |x| x[0].min_pool(&[3, 2], &[1, 2], &pad)),
        ));
        for include in [true, false] {
            let pad = padding.clone();
            cases.push((
                "avg_pool",
                vec![x.clone()],
                Box::new(move |x| x[0].avg_pool(&[2, 2], &[1, 1], &pad, include)),
            ));
        }
    }
    cases
}

#[test]
fn every_rule_matches_finite_differences() {
    let mut cot = Gen(3);
    for (name, inputs, op) in fd_cases() {
        check_finite_differences(name, &inputs, &op, &mut cot);
    }
}
