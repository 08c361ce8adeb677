//! nnx-optim against optax: every transformation and chain of
//! `tools/flax_reference/gen_optax_reference.py` applied to the same parameters
//! and gradients gives optax's parameters after every step (within 1e-6
//! relative), and every schedule optax's values.

mod common;
use common::*;

use nnx_core::{Key, Param, State, VariableState};
use nnx_optim::optax;
use nnx_tensor::Tensor;
use serde_json::Value;

/// A State of `Param`s named as the JSON object's keys.
fn state(v: &Value) -> State {
    State::from_flat(v.as_object().unwrap().iter().map(|(k, a)| {
        (
            vec![Key::from(k.clone())],
            VariableState::new(Param, tensor(a)),
        )
    }))
    .unwrap()
}

fn rel_err(a: f32, b: f32) -> f32 {
    (a - b).abs() / b.abs().max(1e-6)
}

#[test]
fn transforms_match_optax_step_by_step() {
    let d = data();
    let grads: Vec<State> = d["grads"].as_array().unwrap().iter().map(state).collect();
    let cases = d["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 21);
    let mut worst = (0.0f32, String::new());
    for (name, steps) in cases {
        let tx = case(name);
        let mut params = state(&d["params"]);
        let mut s = optax::init(tx.as_ref(), &params).unwrap();
        for (i, (g, expected)) in grads.iter().zip(steps.as_array().unwrap()).enumerate() {
            let (updates, next) = optax::update(tx.as_ref(), g, &s, &params).unwrap();
            params = optax::apply_updates(&params, &updates).unwrap();
            s = next;
            for (path, want) in expected.as_object().unwrap() {
                let got = params.get::<Tensor>(path).unwrap().to_array();
                let want = tensor(want).to_array();
                for (a, b) in got.iter().zip(want.iter()) {
                    let e = rel_err(*a, *b);
                    assert!(
                        e <= 1e-6,
                        "{name} step {i} {path}: {a} vs optax {b} (rel {e:e})"
                    );
                    if e > worst.0 {
                        worst = (e, format!("{name} step {i} {path}"));
                    }
                }
            }
        }
    }
    eprintln!(
        "largest relative difference from optax: {:e} ({})",
        worst.0, worst.1
    );
}

#[test]
fn schedules_match_optax() {
    let d = data();
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
        for (step, want) in steps.iter().zip(values.as_array().unwrap()) {
            let want = want.as_f64().unwrap() as f32;
            let got = s.at(*step).unwrap();
            assert!(
                rel_err(got, want) <= 1e-6,
                "{name} at step {step}: {got} vs optax {want}"
            );
        }
    }
}
