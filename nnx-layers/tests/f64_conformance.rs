//! The f64 layers against real Flax with `param_dtype=dtype=jnp.float64` under
//! `jax_enable_x64` (tools/flax_reference/gen_layers_f64.py): parameters
//! bit-identical (nnx-core's f64 samplers reproduce XLA's erf⁻¹), forward
//! outputs and Param gradients of `sum(layer(x) * cotangent)` within `RTOL`
//! relative to the largest magnitude of the array or absolute below 1 (sums of
//! a few products round differently in XLA's kernels and ours). The largest
//! difference seen is 1.2e-14 (a key-bias gradient of MultiHeadAttention with
//! normalize_qk, small by cancellation); outputs agree to about 1e-15.

mod common;

use common::load_json;
use ndarray::{ArrayD, IxDyn};
use nnx_core::path_string;
use nnx_core::prelude::*;
use nnx_core::rngs::Rngs;
use nnx_layers::{
    BatchNormConfig, ConvConfig, ConvTransposeConfig, Dropout, EinsumConfig, EmbedConfig,
    GroupNormConfig, InstanceNormConfig, LayerNormConfig, LinearConfig, LinearGeneralConfig,
    MultiHeadAttentionConfig, PReLUConfig, RMSNormConfig,
};
use nnx_tensor::{value_and_grad, Tensor};
use serde_json::Value;

/// Outputs and gradients.
const RTOL: f64 = 1e-13;

/// An f64 array stored exactly, as the bit patterns of its elements.
fn f64s(v: &Value) -> ArrayD<f64> {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    let data: Vec<f64> = v["bits"]
        .as_array()
        .expect("bits")
        .iter()
        .map(|b| f64::from_bits(b.as_u64().expect("u64")))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data).expect("consistent shape")
}

fn case(name: &str) -> Value {
    let data = load_json("layers/f64.json");
    data["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["layer"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
        .clone()
}

fn assert_close(what: &str, got: &ArrayD<f64>, want: &ArrayD<f64>, rtol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    // At least 1: a gradient that is small by cancellation of O(1) terms (a
    // key bias under softmax, exactly zero without normalize_qk) carries their
    // rounding, about 1e-16 times their size, on both sides.
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1.0);
    let err = got
        .iter()
        .zip(want)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        err <= rtol * scale,
        "{what}: max |diff| {err:e} > {rtol:e} * {scale:e}\n got {got}\nwant {want}"
    );
}

/// The flat state of `model` filtered by `kind`, as f64 arrays by path.
fn arrays(state: &State) -> Vec<(String, ArrayD<f64>)> {
    state
        .flat_state()
        .into_iter()
        .map(|(path, leaf)| {
            let t = leaf
                .value
                .as_any()
                .downcast_ref::<Tensor<f64>>()
                .unwrap_or_else(|| panic!("{} is not a Tensor<f64>", path_string(&path)))
                .to_array();
            (path_string(&path), t)
        })
        .collect()
}

/// Parameters bit for bit, then the output and the Param gradients.
fn check<M: Module>(c: &Value, model: &mut M, call: impl Fn(&mut M, &Tensor<f64>) -> Tensor<f64>) {
    let name = c["layer"].as_str().expect("name");
    let params = arrays(&model.state_of(Param));
    let want = c["params"].as_object().expect("params");
    let want_params: Vec<_> = want
        .iter()
        .filter(|(_, v)| v["dtype"] == "float64")
        .collect();
    assert_eq!(params.len(), want_params.len(), "{name}: params {params:?}");
    for (path, got) in &params {
        let w = f64s(&want[path.as_str()]);
        assert_eq!(got.shape(), w.shape(), "{name}: {path} shape");
        for (a, b) in got.iter().zip(&w) {
            assert_eq!(
                a.to_bits(),
                b.to_bits(),
                "{name}: {path}: {a:e} is not Flax's {b:e}"
            );
        }
    }
    let x = Tensor::from_array(f64s(&c["input"]));
    let cot = Tensor::from_array(f64s(&c["cotangent"]));
    let (loss, grads) = value_and_grad(&mut *model, Param, |m| Ok((call(m, &x) * &cot)?.sum()))
        .expect("value_and_grad");
    let want_loss = f64s(&c["loss"]).sum();
    assert!(
        (loss - want_loss).abs() <= RTOL * want_loss.abs().max(1.0),
        "{name}: loss {loss} vs {want_loss}"
    );
    for (path, g) in arrays(&grads) {
        assert_close(
            &format!("{name} d{path}"),
            &g,
            &f64s(&c["grads"][path.as_str()]),
            RTOL,
        );
    }
}

fn output(c: &Value, y: &Tensor<f64>) {
    let name = c["layer"].as_str().expect("name");
    assert_close(
        &format!("{name} output"),
        y.array(),
        &f64s(&c["output"]),
        RTOL,
    );
}

#[test]
fn linear() -> nnx_core::Result<()> {
    for (name, bias) in [("Linear", true), ("LinearNoBias", false)] {
        let c = case(name);
        let (fin, fout) = (
            c["config"]["in"].as_u64().unwrap_or(0),
            c["config"]["out"].as_u64().unwrap_or(0),
        );
        let mut layer = LinearConfig::<f64>::new(fin as usize, fout as usize)
            .use_bias(bias)
            .build(&mut Rngs::new(c["seed"].as_i64().unwrap_or(0)))?;
        output(&c, &layer.forward(&Tensor::from_array(f64s(&c["input"])))?);
        check(&c, &mut layer, |l, x| l.forward(x).expect("forward"));
    }
    Ok(())
}

fn seed(c: &Value) -> Rngs {
    Rngs::new(c["seed"].as_i64().unwrap_or(0))
}

fn features(c: &Value) -> usize {
    c["config"]["features"].as_u64().unwrap_or(0) as usize
}

#[test]
fn layer_norm_and_rms_norm() -> nnx_core::Result<()> {
    let c = case("LayerNorm");
    let mut ln = LayerNormConfig::<f64>::new(features(&c)).build(&mut seed(&c))?;
    output(&c, &ln.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut ln, |l, x| l.forward(x).expect("forward"));

    let c = case("RMSNorm");
    let mut rms = RMSNormConfig::<f64>::new(features(&c)).build(&mut seed(&c))?;
    output(&c, &rms.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut rms, |l, x| l.forward(x).expect("forward"));
    Ok(())
}

#[test]
fn group_norm_and_instance_norm() -> nnx_core::Result<()> {
    let c = case("GroupNorm");
    let groups = c["config"]["groups"].as_u64().unwrap_or(0) as usize;
    let mut gn = GroupNormConfig::<f64>::new(features(&c))
        .num_groups(Some(groups))
        .build(&mut seed(&c))?;
    output(&c, &gn.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut gn, |l, x| l.forward(x).expect("forward"));

    let c = case("InstanceNorm");
    let mut inn = InstanceNormConfig::<f64>::new(features(&c)).build(&mut seed(&c))?;
    output(&c, &inn.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut inn, |l, x| l.forward(x).expect("forward"));
    Ok(())
}

/// Training mode: the output and gradients use the batch's statistics. Flax
/// keeps BatchNorm's running statistics in float32 even with
/// `param_dtype=float64`; nnx keeps them in f64, so after one step they agree
/// with Flax's to float32 rounding.
#[test]
fn batch_norm() -> nnx_core::Result<()> {
    let c = case("BatchNorm");
    let mut bn = BatchNormConfig::<f64>::new(features(&c)).build(&mut seed(&c))?;
    assert_eq!(bn.mean.to_array(), f64s(&c["params"]["mean"]));
    assert_eq!(bn.var.to_array(), f64s(&c["params"]["var"]));
    // One step for the output, one inside value_and_grad (as Flax's data).
    output(&c, &bn.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut bn, |l, x| l.forward(x).expect("forward"));
    for (stat, got) in [("mean", bn.mean.to_array()), ("var", bn.var.to_array())] {
        let want = f64s(&c["batch_stats_after"][stat]);
        assert_close(&format!("BatchNorm {stat}"), &got, &want, 1e-7);
    }
    Ok(())
}

#[test]
fn linear_general_and_einsum() -> nnx_core::Result<()> {
    let c = case("LinearGeneral");
    let mut lg = LinearGeneralConfig::<f64>::new(&[3], &[2, 4]).build(&mut seed(&c))?;
    output(&c, &lg.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut lg, |l, x| l.forward(x).expect("forward"));

    let c = case("Einsum");
    let mut e = EinsumConfig::<f64>::new("ab,bc->ac", &[3, 4])
        .bias_shape(&[4])
        .build(&mut seed(&c))?;
    output(&c, &e.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut e, |l, x| l.forward(x).expect("forward"));
    Ok(())
}

#[test]
fn embed_prelu_and_dropout() -> nnx_core::Result<()> {
    let c = case("Embed");
    let mut e = EmbedConfig::<f64>::new(10, 4).build(&mut seed(&c))?;
    output(&c, &e.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut e, |l, x| l.forward(x).expect("forward"));

    let c = case("PReLU");
    let mut p = PReLUConfig::<f64>::new().build();
    output(&c, &p.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut p, |l, x| l.forward(x).expect("forward"));

    // The keep mask is drawn from f64 uniforms, as JAX does with x64.
    let c = case("Dropout");
    let mut d = Dropout::new(0.5, &mut seed(&c))?;
    output(&c, &d.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut d, |l, x| l.forward(x).expect("forward"));
    Ok(())
}

#[test]
fn conv_and_conv_transpose() -> nnx_core::Result<()> {
    let c = case("Conv");
    let mut conv = ConvConfig::<f64>::new(2, 3, &[3, 3]).build(&mut seed(&c))?;
    output(&c, &conv.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut conv, |l, x| l.forward(x).expect("forward"));

    let c = case("ConvTranspose");
    let mut t = ConvTransposeConfig::<f64>::new(2, 3, &[3]).build(&mut seed(&c))?;
    output(&c, &t.forward(&Tensor::from_array(f64s(&c["input"])))?);
    check(&c, &mut t, |l, x| l.forward(x).expect("forward"));
    Ok(())
}

#[test]
fn multi_head_attention() -> nnx_core::Result<()> {
    for (name, normalize_qk) in [
        ("MultiHeadAttention", false),
        ("MultiHeadAttentionNormQK", true),
    ] {
        let c = case(name);
        let mut mha = MultiHeadAttentionConfig::<f64>::new(2, 4)
            .normalize_qk(normalize_qk)
            .build(&mut seed(&c))?;
        output(&c, &mha.forward(&Tensor::from_array(f64s(&c["input"])))?);
        check(&c, &mut mha, |l, x| l.forward(x).expect("forward"));
    }
    Ok(())
}
