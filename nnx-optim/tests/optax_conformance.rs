//! nnx-optim against optax: every transformation and chain of
//! `tools/flax_reference/gen_optax_reference.py` applied to the same parameters
//! and gradients gives optax's parameters after every step (within 1e-6
//! relative), and every schedule optax's values.

mod common;
use common::*;

use std::collections::BTreeMap;

use nnx_core::{Key, Param, State, VariableState};
use nnx_optim::optax::{self, GradientTransformation, Mask, Schedule};
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

fn schedules() -> BTreeMap<&'static str, Schedule> {
    let mut s = BTreeMap::new();
    s.insert("constant", optax::constant_schedule(0.3));
    s.insert("linear", optax::linear_schedule(1.0, 0.1, 50, 10));
    s.insert(
        "polynomial",
        optax::polynomial_schedule(1.0, 0.01, 2.0, 80, 5),
    );
    s.insert(
        "polynomial_frac_power",
        optax::polynomial_schedule(0.5, 0.0, 0.7, 60, 0),
    );
    s.insert(
        "exponential",
        optax::exponential_decay(0.1, 10, 0.5, 0, false, None),
    );
    s.insert(
        "exponential_staircase_end",
        optax::exponential_decay(0.1, 7, 0.5, 3, true, Some(0.01)),
    );
    s.insert(
        "exponential_growth_end",
        optax::exponential_decay(0.01, 10, 1.5, 0, false, Some(0.05)),
    );
    s.insert(
        "cosine",
        optax::cosine_decay_schedule(0.2, 90, 0.1, 1.0).unwrap(),
    );
    s.insert(
        "cosine_exponent",
        optax::cosine_decay_schedule(1.0, 50, 0.0, 2.0).unwrap(),
    );
    s.insert(
        "warmup_cosine",
        optax::warmup_cosine_decay_schedule(0.0, 1e-3, 20, 150, 1e-5, 1.0).unwrap(),
    );
    s.insert(
        "piecewise",
        optax::piecewise_constant_schedule(0.1, &[(30, 0.5), (10, 0.1), (60, 2.0)]).unwrap(),
    );
    s.insert(
        "join",
        optax::join_schedules(
            vec![
                optax::constant_schedule(0.5),
                optax::linear_schedule(0.5, 0.0, 40, 0),
                optax::constant_schedule(0.01),
            ],
            &[20, 100],
        )
        .unwrap(),
    );
    s
}

fn kernel_only() -> Mask {
    Mask::predicate(|path, _| path.last() == Some(&Key::from("kernel")))
}

fn case(name: &str) -> Box<dyn GradientTransformation> {
    let s = schedules();
    match name {
        "sgd" => Box::new(optax::sgd(0.1)),
        "sgd_momentum" => Box::new(optax::sgd(0.1).momentum(0.9)),
        "sgd_nesterov" => Box::new(optax::sgd(0.1).momentum(0.9).nesterov(true)),
        "sgd_polynomial" => Box::new(optax::sgd(s["polynomial"].clone())),
        "adam" => Box::new(optax::adam(1e-2)),
        "adam_nesterov_eps_root" => Box::new(
            optax::adam(1e-2)
                .b1(0.8)
                .b2(0.99)
                .eps(1e-6)
                .eps_root(1e-8)
                .nesterov(true),
        ),
        "adamw" => Box::new(optax::adamw(1e-2).weight_decay(0.1)),
        "adamw_masked" => Box::new(optax::adamw(1e-2).weight_decay(0.1).mask(kernel_only())),
        "adamw_schedule" => Box::new(optax::adamw(s["warmup_cosine"].clone()).weight_decay(1e-4)),
        "rmsprop" => Box::new(optax::rmsprop(1e-2)),
        "rmsprop_momentum" => Box::new(
            optax::rmsprop(1e-2)
                .decay(0.8)
                .eps(1e-4)
                .initial_scale(0.1)
                .eps_in_sqrt(false)
                .momentum(0.9)
                .nesterov(true)
                .bias_correction(true),
        ),
        "adagrad" => Box::new(optax::adagrad(0.1)),
        "lion" => Box::new(optax::lion(1e-2)),
        "lion_masked" => Box::new(optax::lion(1e-2).weight_decay(0.5).mask(kernel_only())),
        "lamb" => Box::new(optax::lamb(1e-2).weight_decay(0.1)),
        "clip_global_norm_adam_warmup_cosine" => Box::new(optax::chain(vec![
            Box::new(optax::clip_by_global_norm(1.0)),
            Box::new(optax::adam(s["warmup_cosine"].clone())),
        ])),
        "clip_sgd_exponential" => Box::new(optax::chain(vec![
            Box::new(optax::clip(0.5)),
            Box::new(optax::sgd(s["exponential"].clone()).momentum(0.5)),
        ])),
        "decay_then_piecewise" => Box::new(optax::chain(vec![
            Box::new(optax::add_decayed_weights(1e-2)),
            Box::new(optax::scale_by_learning_rate(s["piecewise"].clone())),
        ])),
        "scheduled_weight_decay" => Box::new(optax::chain(vec![
            Box::new(optax::add_decayed_weights(s["linear"].clone())),
            Box::new(optax::scale(-0.1)),
        ])),
        "multi_steps_adam" => Box::new(optax::MultiSteps::new(optax::adam(1e-2), 3)),
        "multi_steps_sum_sgd" => {
            let mut tx = optax::MultiSteps::new(optax::sgd(0.1).momentum(0.9), 2);
            tx.use_grad_mean = false;
            Box::new(tx)
        }
        other => panic!("no Rust twin for the reference case {other}"),
    }
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
