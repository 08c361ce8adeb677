//! The f64 layers against real Flax with `param_dtype=dtype=jnp.float64` under
//! `jax_enable_x64` (tools/flax_reference/gen_layers_f64.py): parameters
//! bit-identical (nnx-core's f64 samplers reproduce XLA's erf⁻¹), forward
//! outputs and Param gradients of `sum(layer(x) * cotangent)` within `RTOL`
//! relative to the largest magnitude of the array or absolute below 1 (sums of
//! a few products round differently in XLA's kernels and ours). The largest
//! difference seen is 1.2e-14 (a key-bias gradient of MultiHeadAttention with
//! normalize_qk, small by cancellation); outputs agree to about 1e-15. The layer
//! families (LoRA, LoRALinear, WeightNorm, SpectralNorm) are checked the same
//! way, with the state a call leaves behind, and so are the recurrent cells,
//! RNN's options and Bidirectional's merge functions.

mod common;

use common::load_json;
use ndarray::{ArrayD, IxDyn};
use nnx_core::path_string;
use nnx_core::prelude::*;
use nnx_core::rngs::Rngs;
use nnx_layers::{
    BatchNormConfig, Bidirectional, Carry, CellConfig, ConvConfig, ConvTransposeConfig, Dropout,
    EinsumConfig, EmbedConfig, GRUCell, GroupNormConfig, InstanceNormConfig, LSTMCell,
    LayerNormConfig, LinearConfig, LinearGeneralConfig, MultiHeadAttentionConfig,
    OptimizedLSTMCell, PReLUConfig, RMSNormConfig, RNNCellBase, RNNOptions, SimpleCell, RNN,
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

// ------------------------------------------------------------ layer families

fn family(name: &str) -> Value {
    let data = load_json("layers/f64.json");
    data["families"]
        .as_array()
        .expect("families")
        .iter()
        .find(|c| c["layer"] == name)
        .unwrap_or_else(|| panic!("no family case {name}"))
        .clone()
}

/// The Variables of `state` bit for bit against Flax's `want` (path -> bits).
fn assert_vars(what: &str, state: &State, want: &Value) {
    let got = arrays(state);
    let want = want.as_object().expect("vars");
    let got_paths: Vec<&str> = got.iter().map(|(p, _)| p.as_str()).collect();
    let want_paths: Vec<&str> = want.keys().map(String::as_str).collect();
    assert_eq!(got_paths, want_paths, "{what}: paths");
    for (path, a) in &got {
        let w = f64s(&want[path.as_str()]);
        let (ga, gw): (Vec<u64>, Vec<u64>) = (
            a.iter().map(|v| v.to_bits()).collect(),
            w.iter().map(|v| v.to_bits()).collect(),
        );
        assert_eq!(ga, gw, "{what}: {path}: {a} is not Flax's {w}");
    }
}

/// Sets the Param at `path` (one of `model`'s) to `value`.
fn set_param<M: Module>(model: &mut M, path: &str, value: ArrayD<f64>) -> nnx_core::Result<()> {
    let (p, leaf) = model
        .state_of(Param)
        .into_flat()
        .into_iter()
        .find(|(p, _)| path_string(p) == path)
        .unwrap_or_else(|| panic!("no Param {path}"));
    let leaf = leaf.with_value(std::sync::Arc::new(Tensor::from_array(value)));
    model.update(State::from_flat(vec![(p, leaf)])?)
}

/// One family case: Params (bit for bit, but for `f32_paths`, which Flax holds
/// in float32 and the test sets to Flax's values) and BatchStats at
/// construction, the output and the state after a first call, then on a fresh
/// copy the loss, the gradients Flax has (its WeightNorm scales are plain
/// arrays, without gradients: those are checked by finite differences) and the
/// state after the gradient's call.
fn check_family<M: Module + nnx_layers::Forward<f64>>(
    c: &Value,
    mut make: impl FnMut() -> nnx_core::Result<M>,
    f32_paths: &[&str],
) -> nnx_core::Result<()> {
    let name = c["layer"].as_str().expect("name").to_string();
    let set = |m: &mut M| -> nnx_core::Result<()> {
        for (path, v) in c["set"].as_object().expect("set") {
            set_param(m, path, f64s(v))?;
        }
        // Flax's float32 parameters, exactly (nnx draws them in f64).
        for path in f32_paths {
            if c["set"].get(*path).is_none() {
                set_param(m, path, f64s(&c["init"]["params"][*path]))?;
            }
        }
        Ok(())
    };
    let mut model = make()?;
    let init = &c["init"];
    let skip: Vec<&str> = f32_paths.to_vec();
    assert_vars(
        &format!("{name} init"),
        &model
            .state_of(Param)
            .filter(|p: &[nnx_core::Key], _: &dyn nnx_core::VariableInfo| {
                !skip.contains(&path_string(p).as_str()) && !path_string(p).starts_with("scales")
            }),
        &filtered(&init["params"], &skip),
    );
    assert_vars(
        &format!("{name} init"),
        &model.state_of(BatchStat),
        &init["stats"],
    );
    set(&mut model)?;
    let x = Tensor::from_array(f64s(&c["input"]));
    let y = model.forward(&x)?;
    assert_close(
        &format!("{name} output"),
        y.array(),
        &f64s(&c["output"]),
        RTOL,
    );
    check_state_close(&name, &model, &c["after"]);

    let mut fresh = make()?;
    set(&mut fresh)?;
    let cot = Tensor::from_array(f64s(&c["cotangent"]));
    let loss = |m: &mut M| Ok((m.forward(&x)? * &cot)?.sum());
    let (value, grads) = value_and_grad(&mut fresh, Param, loss)?;
    let want_loss = f64s(&c["loss"]).sum();
    assert!(
        (value - want_loss).abs() <= RTOL * want_loss.abs().max(1.0),
        "{name}: loss {value} vs {want_loss}"
    );
    let want = c["grads"].as_object().expect("grads");
    for (path, g) in arrays(&grads) {
        match want.get(&path) {
            // Flax's float32 adapter has float32 gradients.
            Some(w) if f32_paths.contains(&path.as_str()) => {
                assert_close(&format!("{name} d{path}"), &g, &f64s(w), 1e-6)
            }
            Some(w) => assert_close(&format!("{name} d{path}"), &g, &f64s(w), RTOL),
            None => {
                assert!(
                    path.starts_with("scales/"),
                    "{name}: no Flax gradient for {path}"
                );
                let value = |m: &mut M| loss(m)?.item();
                let mut fresh = || -> nnx_core::Result<M> {
                    let mut m = make()?;
                    set(&mut m)?;
                    Ok(m)
                };
                finite_difference(&name, &mut fresh, &path, &g, &value)?;
            }
        }
    }
    check_state_close(&format!("{name} after grad"), &fresh, &c["after_grad"]);
    Ok(())
}

fn filtered(want: &Value, skip: &[&str]) -> Value {
    let mut m = want.as_object().expect("vars").clone();
    m.retain(|k, _| !skip.contains(&k.as_str()));
    Value::Object(m)
}

/// Params and BatchStats after a call: the normalized kernel written back and
/// the power iteration's state, computed, so within `RTOL`.
fn check_state_close<M: Module>(what: &str, model: &M, want: &Value) {
    for (kind, state) in [
        ("params", model.state_of(Param)),
        ("stats", model.state_of(BatchStat)),
    ] {
        let want = want[kind].as_object().expect("vars");
        for (path, a) in arrays(&state) {
            if path.starts_with("scales/") {
                continue; // Flax's plain arrays, unchanged by a call.
            }
            let w = want
                .get(&path)
                .unwrap_or_else(|| panic!("{what}: Flax has no {path}"));
            let w = f64s(w);
            assert_close(&format!("{what}: {path}"), &a, &w, RTOL);
        }
    }
}

/// Central differences of the loss in each element of the Param at `path`,
/// each evaluated on a fresh model (a call may change the layer).
fn finite_difference<M: Module>(
    name: &str,
    fresh: &mut impl FnMut() -> nnx_core::Result<M>,
    path: &str,
    grad: &ArrayD<f64>,
    loss: &impl Fn(&mut M) -> nnx_core::Result<f64>,
) -> nnx_core::Result<()> {
    const EPS: f64 = 1e-6;
    let base = arrays(&fresh()?.state_of(Param))
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, a)| a)
        .expect("param");
    for i in 0..base.len() {
        let mut at = |delta: f64| -> nnx_core::Result<f64> {
            let mut model = fresh()?;
            let mut moved = base.clone();
            moved.as_slice_mut().expect("contiguous")[i] += delta;
            set_param(&mut model, path, moved)?;
            loss(&mut model)
        };
        let fd = (at(EPS)? - at(-EPS)?) / (2.0 * EPS);
        let g = grad.as_slice().expect("contiguous")[i];
        assert!(
            (fd - g).abs() <= 1e-7 * (1.0 + g.abs()),
            "{name} {path}[{i}]: finite difference {fd}, gradient {g}"
        );
    }
    Ok(())
}

#[test]
fn lora_lora_with_base_and_lora_linear() -> nnx_core::Result<()> {
    use nnx_layers::{Layer, LoRA, LoRAConfig, LoRALinear, LoRALinearConfig};
    let c = family("LoRA");
    check_family(
        &c,
        || -> nnx_core::Result<LoRA<Layer<f64>, f64>> {
            LoRAConfig::new(3, 2, 4).build(&mut Rngs::new(0))
        },
        &[],
    )?;
    let c = family("LoRABase");
    check_family(
        &c,
        || {
            let base = LinearConfig::<f64>::new(3, 4).build(&mut Rngs::new(0))?;
            LoRAConfig::<f64>::new(3, 2, 4).build_with_base(base, &mut Rngs::new(1))
        },
        &[],
    )?;
    // Flax's LoRALinear keeps its adapter in float32 (it does not pass
    // param_dtype on); nnx's holds it in f64, set here to Flax's values.
    let c = family("LoRALinear");
    check_family(
        &c,
        || -> nnx_core::Result<LoRALinear<f64>> {
            LoRALinearConfig::new(3, 4, 2).build(&mut Rngs::new(2))
        },
        &["lora/lora_a", "lora/lora_b"],
    )
}

#[test]
fn weight_norm() -> nnx_core::Result<()> {
    use nnx_layers::WeightNormConfig;
    for name in ["WeightNorm", "WeightNormNoFeatureAxes", "WeightNormNoScale"] {
        let c = family(name);
        let axes: Vec<isize> = c["config"]["feature_axes"]
            .as_array()
            .expect("axes")
            .iter()
            .map(|a| a.as_i64().expect("axis") as isize)
            .collect();
        let use_scale = c["config"]["use_scale"].as_bool().expect("use_scale");
        check_family(
            &c,
            || {
                let layer = LinearConfig::<f64>::new(3, 4).build(&mut Rngs::new(0))?;
                WeightNormConfig::<_, f64>::new(layer)
                    .feature_axes(&axes)
                    .use_scale(use_scale)
                    .build(&mut Rngs::new(1))
            },
            &[],
        )?;
    }
    Ok(())
}

#[test]
fn spectral_norm() -> nnx_core::Result<()> {
    use nnx_layers::SpectralNormConfig;
    for name in ["SpectralNorm", "SpectralNormSteps3", "SpectralNormFrozen"] {
        let c = family(name);
        let n_steps = c["config"]["n_steps"].as_u64().expect("n_steps") as usize;
        let update = c["config"]["update_stats"].as_bool().expect("update_stats");
        check_family(
            &c,
            || {
                let layer = LinearConfig::<f64>::new(3, 4).build(&mut Rngs::new(0))?;
                SpectralNormConfig::<_, f64>::new(layer)
                    .n_steps(n_steps)
                    .update_stats(update)
                    .build(&mut Rngs::new(1))
            },
            &[],
        )?;
    }
    Ok(())
}

// ----------------------------------------------------------------- recurrent

fn recurrent_cases(name: &str) -> Vec<Value> {
    let data = load_json("layers/f64.json");
    data["recurrent"]
        .as_array()
        .expect("recurrent")
        .iter()
        .filter(|c| c["layer"] == name)
        .cloned()
        .collect()
}

/// Whether the Param at `path` is a recurrent kernel, drawn by `orthogonal`:
/// a QR decomposition, which XLA takes from LAPACK's Householder routines and
/// nnx computes itself, rounding differently in the last bits (about 1e-16).
fn orthogonal(path: &str) -> bool {
    let parts: Vec<&str> = path.rsplit('/').take(2).collect();
    matches!(
        parts.as_slice(),
        ["kernel", "dense_h" | "hi" | "hf" | "hg" | "ho"]
    )
}

/// Params at construction (bit for bit but the orthogonal kernels), the leaves
/// of a call's result (carry arrays first), then on a fresh copy the loss
/// `sum(leaf * cotangent)` and its Param gradients.
fn check_recurrent<M: Module>(
    c: &Value,
    mut make: impl FnMut() -> nnx_core::Result<M>,
    call: impl Fn(&mut M, &Tensor<f64>) -> nnx_core::Result<Vec<Tensor<f64>>>,
) -> nnx_core::Result<()> {
    let what = format!("{} {}", c["layer"], c["config"]);
    let mut model = make()?;
    let params = model.state_of(Param);
    let sampled = params
        .filter(|p: &[nnx_core::Key], _: &dyn nnx_core::VariableInfo| !orthogonal(&path_string(p)));
    let want_sampled = Value::Object(
        c["params"]
            .as_object()
            .expect("params")
            .iter()
            .filter(|(k, _)| !orthogonal(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    assert_vars(&format!("{what} params"), &sampled, &want_sampled);
    for (path, a) in arrays(&params) {
        if orthogonal(&path) {
            assert_close(
                &format!("{what} {path}"),
                &a,
                &f64s(&c["params"][&path]),
                RTOL,
            );
        }
    }
    let x = Tensor::from_array(f64s(&c["input"]));
    let leaves = call(&mut model, &x)?;
    let want = c["outputs"].as_array().expect("outputs");
    assert_eq!(leaves.len(), want.len(), "{what}: outputs");
    for (i, (got, w)) in leaves.iter().zip(want).enumerate() {
        assert_close(&format!("{what} output {i}"), got.array(), &f64s(w), RTOL);
    }
    let cots: Vec<Tensor<f64>> = c["cotangents"]
        .as_array()
        .expect("cotangents")
        .iter()
        .map(|v| Tensor::from_array(f64s(v)))
        .collect();
    let (value, grads) = value_and_grad(&mut make()?, Param, |m| {
        let mut total = Tensor::<f64>::full(&[], 0.0);
        for (leaf, cot) in call(m, &x)?.iter().zip(&cots) {
            total = (&total + &(leaf * cot)?.sum())?;
        }
        Ok(total)
    })?;
    let want_loss = f64s(&c["loss"]).sum();
    assert!(
        (value - want_loss).abs() <= RTOL * want_loss.abs().max(1.0),
        "{what}: loss {value} vs {want_loss}"
    );
    let want = c["grads"].as_object().expect("grads");
    let got = arrays(&grads);
    assert_eq!(got.len(), want.len(), "{what}: gradients");
    for (path, g) in got {
        assert_close(&format!("{what} d{path}"), &g, &f64s(&want[&path]), RTOL);
    }
    Ok(())
}

fn carry_leaves<K: nnx_layers::Carry<f64>>(carry: &K) -> Vec<Tensor<f64>> {
    carry.leaves().into_iter().cloned().collect()
}

/// One step of a cell from the stored carry: the new carry's arrays, then `y`.
fn check_cell<C: Module + RNNCellBase<f64>>(
    c: &Value,
    build: impl Fn(&mut Rngs) -> nnx_core::Result<C>,
) -> nnx_core::Result<()> {
    let carry_leaves_in: Vec<Tensor<f64>> = c["carry"]
        .as_array()
        .expect("carry")
        .iter()
        .map(|v| Tensor::from_array(f64s(v)))
        .collect();
    let carry = C::Carry::from_leaves(carry_leaves_in)?;
    check_recurrent(
        c,
        || build(&mut seed_of(c)),
        |cell, x| {
            let (new, y) = RNNCellBase::apply(cell, &carry, x)?;
            let mut out = carry_leaves(&new);
            out.push(y);
            Ok(out)
        },
    )
}

fn seed_of(c: &Value) -> Rngs {
    Rngs::new(c["config"]["seed"].as_i64().expect("seed"))
}

#[test]
fn recurrent_cells() -> nnx_core::Result<()> {
    for c in recurrent_cases("SimpleCell") {
        check_cell(&c, |r| {
            CellConfig::<SimpleCell<f64>, f64>::new(3, 4).build(r)
        })?;
    }
    for c in recurrent_cases("LSTMCell") {
        check_cell(&c, |r| CellConfig::<LSTMCell<f64>, f64>::new(3, 4).build(r))?;
    }
    for c in recurrent_cases("OptimizedLSTMCell") {
        check_cell(&c, |r| {
            CellConfig::<OptimizedLSTMCell<f64>, f64>::new(3, 4).build(r)
        })?;
    }
    for c in recurrent_cases("GRUCell") {
        check_cell(&c, |r| CellConfig::<GRUCell<f64>, f64>::new(3, 4).build(r))?;
    }
    Ok(())
}

/// The RNN call of a case: `(carry, outputs)` leaves with `return_carry`, the
/// outputs alone otherwise.
fn rnn_call<C: RNNCellBase<f64>>(
    c: &Value,
) -> impl Fn(&mut RNN<C>, &Tensor<f64>) -> nnx_core::Result<Vec<Tensor<f64>>> + '_ {
    move |rnn, x| {
        let lengths: Option<Vec<usize>> = c["config"]["seq_lengths"].as_array().map(|l| {
            l.iter()
                .map(|v| v.as_u64().expect("length") as usize)
                .collect()
        });
        let opts = RNNOptions {
            seq_lengths: lengths.as_deref(),
            ..Default::default()
        };
        let (carry, y) = rnn.forward_with(x, opts)?;
        let mut out = if c["config"]["return_carry"] == true {
            carry_leaves(&carry)
        } else {
            Vec::new()
        };
        out.push(y);
        Ok(out)
    }
}

/// An RNN over `cell` with the case's flags.
fn rnn_of<C>(cell: C, c: &Value) -> RNN<C> {
    let flag = |k: &str| c["config"][k] == true;
    RNN::config(cell)
        .time_major(flag("time_major"))
        .reverse(flag("reverse"))
        .keep_order(flag("keep_order"))
        .build()
}

#[test]
fn rnn_options() -> nnx_core::Result<()> {
    let cases = recurrent_cases("RNN");
    assert_eq!(cases.len(), 7);
    for c in &cases {
        match c["config"]["cell"].as_str().expect("cell") {
            "LSTMCell" => check_recurrent(
                c,
                || {
                    Ok(rnn_of(
                        CellConfig::<LSTMCell<f64>, f64>::new(3, 4).build(&mut seed_of(c))?,
                        c,
                    ))
                },
                rnn_call(c),
            )?,
            "OptimizedLSTMCell" => check_recurrent(
                c,
                || {
                    Ok(rnn_of(
                        CellConfig::<OptimizedLSTMCell<f64>, f64>::new(3, 4)
                            .build(&mut seed_of(c))?,
                        c,
                    ))
                },
                rnn_call(c),
            )?,
            "GRUCell" => check_recurrent(
                c,
                || {
                    Ok(rnn_of(
                        CellConfig::<GRUCell<f64>, f64>::new(3, 4).build(&mut seed_of(c))?,
                        c,
                    ))
                },
                rnn_call(c),
            )?,
            "SimpleCell" => check_recurrent(
                c,
                || {
                    Ok(rnn_of(
                        CellConfig::<SimpleCell<f64>, f64>::new(3, 4).build(&mut seed_of(c))?,
                        c,
                    ))
                },
                rnn_call(c),
            )?,
            other => panic!("cell {other}"),
        }
    }
    Ok(())
}

#[test]
fn bidirectional_merge() -> nnx_core::Result<()> {
    let cases = recurrent_cases("Bidirectional");
    assert_eq!(cases.len(), 2);
    for c in &cases {
        let hidden_b = c["config"]["hidden_backward"].as_u64().expect("hidden") as usize;
        let add = c["config"]["merge"] == "add";
        let lengths: Option<Vec<usize>> = c["config"]["seq_lengths"].as_array().map(|l| {
            l.iter()
                .map(|v| v.as_u64().expect("length") as usize)
                .collect()
        });
        check_recurrent(
            c,
            || {
                let fwd = CellConfig::<LSTMCell<f64>, f64>::new(3, 4).build(&mut Rngs::new(20))?;
                let bwd =
                    CellConfig::<GRUCell<f64>, f64>::new(3, hidden_b).build(&mut Rngs::new(21))?;
                let mut bi = Bidirectional::new(RNN::new(fwd), RNN::new(bwd));
                if add {
                    bi.merge_fn = |a, b| a + b;
                }
                Ok(bi)
            },
            |bi, x| {
                let ((cf, cb), y) = bi.forward_with(x, None, lengths.as_deref())?;
                let mut out = carry_leaves(&cf);
                out.extend(carry_leaves(&cb));
                out.push(y);
                Ok(out)
            },
        )?;
    }
    Ok(())
}
