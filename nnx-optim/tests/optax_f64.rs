//! nnx-optim over float64 parameters against optax under `jax_enable_x64`
//! (`tools/flax_reference/gen_optax_f64.py`, every float stored as its bit
//! pattern): every transformation of the f32 conformance test on f64
//! parameters and gradients, step by step within 1e-12 relative; every
//! schedule's x64 value; a Flax NNX training run of a float64 MLP; a model
//! mixing f32 and f64 parameters (each leaf as in its own dtype's run); and a
//! checkpoint round trip of f64 optimizer state.

mod common;
use common::*;

use ndarray::ArrayD;
use nnx_core::prelude::*;
use nnx_core::value::DType;
use nnx_core::{Key, State, VariableState};
use nnx_optim::{optax, OptVariable, Optimizer};
use nnx_tensor::{value_and_grad, Tensor};
use serde_json::Value;

fn f64_data() -> Value {
    serde_json::from_str(include_str!("data/optax_f64.json")).expect("reference data parses")
}

/// A `{"shape", "bits"}` array: f64 values from their bit patterns.
fn f64s(v: &Value) -> ArrayD<f64> {
    let data: Vec<f64> = v["bits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| f64::from_bits(b.as_u64().unwrap()))
        .collect();
    ArrayD::from_shape_vec(stored_shape(v), data).unwrap()
}

/// A State of f64 `Param`s named as the JSON object's keys.
fn state64(v: &Value) -> State {
    State::from_flat(v.as_object().unwrap().iter().map(|(k, a)| {
        (
            vec![Key::from(k.clone())],
            VariableState::new(Param, Tensor::from_array(f64s(a))),
        )
    }))
    .unwrap()
}

fn rel_err(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-6)
}

fn assert_close(got: &ArrayD<f64>, want: &ArrayD<f64>, tol: f64, what: &str) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let mut worst = 0.0f64;
    for (a, b) in got.iter().zip(want.iter()) {
        let e = rel_err(*a, *b);
        assert!(e <= tol, "{what}: {a:e} vs optax {b:e} (rel {e:e})");
        worst = worst.max(e);
    }
    worst
}

#[test]
fn transforms_match_optax_x64_step_by_step() {
    let d = f64_data();
    let grads: Vec<State> = d["grads"].as_array().unwrap().iter().map(state64).collect();
    let cases = d["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 21);
    let mut worst = (0.0f64, String::new());
    for (name, steps) in cases {
        let tx = case(name);
        let mut params = state64(&d["params"]);
        let mut s = optax::init(tx.as_ref(), &params).unwrap();
        // Every per-parameter state array is float64, as optax's, but
        // MultiSteps' accumulator (optax's `accumulator_dtype=float32`).
        for (path, leaf) in s.to_flat(&params.flat_state().paths()) {
            if leaf.kind == OptVariable {
                let want = if path[0] == Key::from("acc_grads") {
                    DType::F32
                } else {
                    DType::F64
                };
                assert_eq!(leaf.value.dtype(), Some(want), "{name} {path:?}");
            }
        }
        for (i, (g, expected)) in grads.iter().zip(steps.as_array().unwrap()).enumerate() {
            let (updates, next) = optax::update(tx.as_ref(), g, &s, &params).unwrap();
            params = optax::apply_updates(&params, &updates).unwrap();
            s = next;
            for (path, want) in expected.as_object().unwrap() {
                let got = params.get::<Tensor<f64>>(path).unwrap().to_array();
                let what = format!("{name} step {i} {path}");
                let e = assert_close(&got, &f64s(want), 1e-12, &what);
                if e > worst.0 {
                    worst = (e, what);
                }
            }
        }
    }
    eprintln!(
        "largest relative difference from optax (x64): {:e} ({})",
        worst.0, worst.1
    );
}

#[test]
fn schedules_match_optax_x64() {
    let d = f64_data();
    let steps: Vec<i64> = d["schedule_steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    let refs = d["schedules"].as_object().unwrap();
    let ours = schedules();
    assert_eq!(refs.len(), ours.len());
    for (name, values) in refs {
        let s = &ours[name.as_str()];
        let got: Vec<f64> = steps.iter().map(|&i| s.at_f64(i).unwrap()).collect();
        let got = ArrayD::from_shape_vec(vec![got.len()], got).unwrap();
        assert_close(&got, &f64s(values), 1e-12, name);
    }
}

/// Flax's `nnx.Linear` in float64 (parameters set from the reference run).
#[derive(Module)]
struct Linear {
    kernel: Param<Tensor<f64>>,
    bias: Param<Tensor<f64>>,
}

#[derive(Module)]
struct Mlp {
    l1: Linear,
    l2: Linear,
}

impl Mlp {
    fn forward(&self, x: &Tensor<f64>) -> nnx_core::Result<Tensor<f64>> {
        let h = (x.matmul(&self.l1.kernel)? + &*self.l1.bias)?.relu();
        h.matmul(&self.l2.kernel)? + &*self.l2.bias
    }
}

#[test]
fn f64_training_run_matches_flax_x64() {
    let d = f64_data();
    let t = &d["training"];
    let p = |path: &str| Param::new(Tensor::from_array(f64s(&t["initial"][path])));
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
    let lr = optax::warmup_cosine_decay_schedule(0.0, 3e-2, 4, 12, 1e-3, 1.0).unwrap();
    let tx = optax::chain(vec![
        Box::new(optax::clip_by_global_norm(1.0)),
        Box::new(optax::adamw(lr).weight_decay(1e-2)),
    ]);
    let mut opt = Optimizer::new(&model, tx, Param).unwrap();
    let batches = t["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 12);
    for (i, (b, want)) in batches
        .iter()
        .zip(t["losses"].as_array().unwrap())
        .enumerate()
    {
        let x = Tensor::from_array(f64s(&b["x"]));
        let y: Vec<i64> = b["y"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        let y = ndarray::Array1::from(y);
        let (loss, grads) = value_and_grad(&mut model, Param, |m| {
            Ok(optax::softmax_cross_entropy_with_integer_labels(&m.forward(&x)?, &y)?.mean())
        })
        .unwrap();
        let want = f64s(want).into_iter().next().unwrap();
        assert!(
            rel_err(loss, want) <= 1e-12,
            "step {i}: loss {loss:e} vs Flax {want:e}"
        );
        opt.update(&mut model, &grads).unwrap();
    }
    assert_eq!(opt.step() as i64, t["step"].as_i64().unwrap());
    let params = model.state_of(Param);
    for (path, want) in t["final"].as_object().unwrap() {
        let got = params.get::<Tensor<f64>>(path).unwrap().to_array();
        assert_close(&got, &f64s(want), 1e-12, &format!("final {path}"));
    }
    // The first moment of adamw (chain item 1, scale_by_adam at 0) in f64.
    let state = opt.state();
    for (path, want) in t["final_mu"].as_object().unwrap() {
        let got = state
            .get::<Tensor<f64>>(&format!("opt_state/1/0/mu/{path}"))
            .unwrap()
            .to_array();
        assert_close(&got, &f64s(want), 1e-12, &format!("mu {path}"));
    }
}

/// A model with a float32 and a float64 parameter: each leaf's optimizer
/// state and arithmetic are in its dtype, so each leaf ends exactly where a
/// model of only its dtype ends (for transformations without a global norm).
#[test]
fn mixed_f32_f64_model_updates_each_leaf_in_its_dtype() {
    let d32 = data();
    let d64 = f64_data();
    for name in ["adamw_schedule", "lamb", "rmsprop_momentum", "sgd_nesterov"] {
        let run = |params: State, grads: &[State]| {
            let tx = case(name);
            let mut s = optax::init(tx.as_ref(), &params).unwrap();
            let mut params = params;
            for g in grads {
                let (u, next) = optax::update(tx.as_ref(), g, &s, &params).unwrap();
                params = optax::apply_updates(&params, &u).unwrap();
                s = next;
            }
            params
        };
        let mixed = |a: &State, b: &State| {
            let mut flat = a.flat_state().into_inner();
            flat.retain(|(p, _)| p == &vec![Key::from("bias")]);
            flat.extend(
                b.flat_state()
                    .into_inner()
                    .into_iter()
                    .filter(|(p, _)| p == &vec![Key::from("kernel")]),
            );
            State::from_flat(flat).unwrap()
        };
        let state32 = |v: &Value| {
            State::from_flat(v.as_object().unwrap().iter().map(|(k, a)| {
                (
                    vec![Key::from(k.clone())],
                    VariableState::new(Param, tensor(a)),
                )
            }))
            .unwrap()
        };
        let g32: Vec<State> = d32["grads"]
            .as_array()
            .unwrap()
            .iter()
            .map(state32)
            .collect();
        let g64: Vec<State> = d64["grads"]
            .as_array()
            .unwrap()
            .iter()
            .map(state64)
            .collect();
        let p32 = state32(&d32["params"]);
        let p64 = state64(&d64["params"]);
        let gmix: Vec<State> = g32.iter().zip(&g64).map(|(a, b)| mixed(a, b)).collect();
        let out = run(mixed(&p32, &p64), &gmix);
        let only32 = run(p32, &g32);
        let only64 = run(p64, &g64);
        assert_eq!(
            out.get::<Tensor>("bias").unwrap(),
            only32.get::<Tensor>("bias").unwrap(),
            "{name}: the f32 leaf"
        );
        assert_eq!(
            out.get::<Tensor<f64>>("kernel").unwrap(),
            only64.get::<Tensor<f64>>("kernel").unwrap(),
            "{name}: the f64 leaf"
        );
    }
}

/// A float64 and a float32 parameter.
#[derive(Module)]
struct TwoDtypes {
    a: Param<Tensor<f64>>,
    b: Param<Tensor>,
}

fn two_dtypes(a: &[f64], b: &[f32]) -> TwoDtypes {
    TwoDtypes {
        a: Param::new(Tensor::from_array(ndarray::arr1(a).into_dyn())),
        b: Param::new(Tensor::from(ndarray::arr1(b))),
    }
}

#[test]
fn f64_optimizer_state_round_trips_through_a_checkpoint() {
    let mut model = two_dtypes(&[1.0, -2.0], &[0.5]);
    let mut opt = Optimizer::new(&model, optax::adamw(0.1), Param).unwrap();
    let grads = two_dtypes(&[0.25, 3.0], &[-1.5]).state();
    opt.update(&mut model, &grads).unwrap();
    // Adam's first step is lr * g / (|g| + eps) (bias-corrected), plus the decay.
    let want = 1.0 - 0.1 * (0.25 / (0.25 + 1e-8) + 1e-4 * 1.0);
    assert!((model.a.to_array()[[0]] - want).abs() < 1e-15);
    let bytes = nnx_core::checkpoint::save_state_to_bytes(&opt.state()).unwrap();
    let saved =
        nnx_core::checkpoint::load_state_from_bytes_with(&bytes, &nnx_optim::resolve_kind).unwrap();
    let mut restored = Optimizer::new(&model, optax::adamw(0.1), Param).unwrap();
    restored.load_state(&saved).unwrap();
    assert_eq!(restored.opt_state(), opt.opt_state());
    assert_eq!(restored.step(), 1);
    let mu_a = [
        Key::from("opt_state"),
        Key::from(0usize),
        Key::from("mu"),
        Key::from("a"),
    ];
    let mu_b = [
        Key::from("opt_state"),
        Key::from(0usize),
        Key::from("mu"),
        Key::from("b"),
    ];
    let state = restored.state();
    assert_eq!(state.leaf(&mu_a).unwrap().value.dtype(), Some(DType::F64));
    assert_eq!(state.leaf(&mu_b).unwrap().value.dtype(), Some(DType::F32));
    // Both continue identically from the restored state.
    let mut twin = two_dtypes(&[0.0, 0.0], &[0.0]);
    twin.update(model.state()).unwrap();
    opt.update(&mut model, &grads).unwrap();
    restored.update(&mut twin, &grads).unwrap();
    assert_eq!(twin.a.to_array(), model.a.to_array());
    assert_eq!(twin.b.to_array(), model.b.to_array());
    // Loading it into an optimizer of a float32 `a` names the path and dtypes.
    let f32_model = TwoDtypes32 {
        a: Param::new(Tensor::from(ndarray::arr1(&[1.0f32, -2.0]))),
        b: Param::new(Tensor::from(ndarray::arr1(&[0.5f32]))),
    };
    let mut wrong = Optimizer::new(&f32_model, optax::adamw(0.1), Param).unwrap();
    let err = wrong.load_state(&saved).unwrap_err().to_string();
    assert!(
        err.contains("opt_state/0/mu/a") && err.contains("float32"),
        "{err}"
    );
}

#[derive(Module)]
struct TwoDtypes32 {
    a: Param<Tensor>,
    b: Param<Tensor>,
}
