//! Readers of the committed optax/Flax reference data.
// Each test binary uses a part of these.
#![allow(dead_code)]

use std::collections::BTreeMap;

use nnx_core::Key;
use nnx_optim::optax::{self, GradientTransformation, Mask, Schedule};
use nnx_tensor::Tensor;
use serde_json::Value;

/// `tools/flax_reference/gen_optax_reference.py`'s output.
pub fn data() -> Value {
    serde_json::from_str(include_str!("../data/optax_reference.json"))
        .expect("reference data parses")
}

/// The `"shape"` of a stored array.
pub fn stored_shape(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

/// An `{"shape", "data"}` array (floats or bools) as f32.
pub fn floats(v: &Value) -> ndarray::ArrayD<f32> {
    let data: Vec<f32> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            x.as_f64()
                .or(x.as_bool().map(|b| f64::from(u8::from(b))))
                .unwrap() as f32
        })
        .collect();
    ndarray::ArrayD::from_shape_vec(stored_shape(v), data).unwrap()
}

/// [`floats`] as a Tensor.
pub fn tensor(v: &Value) -> Tensor {
    Tensor::new(floats(v))
}

/// The Rust twins of the reference generators' `SCHEDULES`.
pub fn schedules() -> BTreeMap<&'static str, Schedule> {
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

/// optax's `kernel_only` mask.
fn kernel_only() -> Mask {
    Mask::predicate(|path, _| path.last() == Some(&Key::from("kernel")))
}

/// The Rust twin of the reference generators' case `name`.
pub fn case(name: &str) -> Box<dyn GradientTransformation> {
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
