//! `Optimizer` against Flax's `nnx.Optimizer`: state layout and printing,
//! checkpoint resume, and errors that change nothing.

use ndarray::{arr1, arr2};
use nnx_core::prelude::*;
use nnx_core::{checkpoint, Key};
use nnx_optim::{optax, Optimizer};
use nnx_tensor::{value_and_grad, Tensor};
use serde_json::Value;

#[derive(Module)]
struct Lin {
    kernel: Param<Tensor>,
    bias: Param<Tensor>,
}

#[derive(Module)]
struct Model {
    l: Lin,
    stat: BatchStat<f32>,
}

/// The model of the generator's `flax_optimizer()`.
fn model() -> Model {
    Model {
        l: Lin {
            kernel: Param::new(Tensor::ones(&[2, 1])),
            bias: Param::new(Tensor::zeros(&[1])),
        },
        stat: BatchStat::new(0.0),
    }
}

fn flax() -> Value {
    let d: Value = serde_json::from_str(include_str!("data/optax_reference.json")).unwrap();
    d["flax_optimizer"].clone()
}

fn adamw_scheduled() -> optax::Adam {
    optax::adamw(optax::linear_schedule(1e-3, 0.0, 10, 0)).weight_decay(1e-4)
}

fn ones_grads(m: &Model) -> State {
    m.state_of(Param).map_arrays(|a| a.mapv(|_| 1.0)).unwrap()
}

#[test]
fn state_prints_like_flax() {
    let f = flax();
    let mut m = model();
    let mut opt = Optimizer::new(&m, adamw_scheduled(), Param).unwrap();
    assert_eq!(opt.state().to_string(), f["init"].as_str().unwrap());
    let grads = ones_grads(&m);
    opt.update(&mut m, &grads).unwrap();
    assert_eq!(opt.state().to_string(), f["optimizer"].as_str().unwrap());
    assert_eq!(m.state().to_string(), f["model"].as_str().unwrap());
}

/// A quadratic loss whose gradients change every step.
fn step(m: &mut Model, opt: &mut Optimizer<nnx_core::Kind>, i: usize) -> f32 {
    let x = Tensor::from(arr2(&[[1.0f32, -2.0], [0.5 + i as f32, 3.0]]));
    let (loss, grads) = value_and_grad(&mut *m, Param, |m| {
        Ok((x.matmul(&m.l.kernel)? + &*m.l.bias)?.square().mean())
    })
    .unwrap();
    opt.update(m, &grads).unwrap();
    loss
}

#[test]
fn checkpoint_resumes_training_exactly() {
    let dir = std::env::temp_dir().join(format!("nnx_optim_resume_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let tx = || {
        optax::chain(vec![
            Box::new(optax::clip_by_global_norm(1.0)),
            Box::new(adamw_scheduled()),
        ])
    };

    let mut m = model();
    let mut opt = Optimizer::new(&m, tx(), Param).unwrap();
    for i in 0..3 {
        step(&mut m, &mut opt, i);
    }
    checkpoint::save(&m, dir.join("model.safetensors")).unwrap();
    checkpoint::save_state(&opt.state(), dir.join("opt.safetensors")).unwrap();
    let straight: Vec<f32> = (3..6).map(|i| step(&mut m, &mut opt, i)).collect();

    let mut m2 = model();
    let mut opt2 = Optimizer::new(&m2, tx(), Param).unwrap();
    checkpoint::load_into(&mut m2, dir.join("model.safetensors")).unwrap();
    let saved =
        checkpoint::load_state_with(dir.join("opt.safetensors"), &nnx_optim::resolve_kind).unwrap();
    opt2.load_state(&saved).unwrap();
    assert_eq!(opt2.step(), 3);
    assert_eq!(opt2.state().to_string(), saved.to_string());
    let resumed: Vec<f32> = (3..6).map(|i| step(&mut m2, &mut opt2, i)).collect();
    assert_eq!(straight, resumed);
    assert_eq!(m.state(), m2.state());
    assert_eq!(opt.state(), opt2.state());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mismatched_gradients_are_errors_and_change_nothing() {
    let mut m = model();
    let mut opt = Optimizer::new(&m, optax::adam(0.1), Param).unwrap();
    let before = (m.state(), opt.state());

    // A gradient of the wrong shape, one missing, one extra: all reported.
    let grads = State::from_flat(vec![
        (
            vec![Key::from("l"), Key::from("kernel")],
            VariableState::new(Param, Tensor::ones(&[1, 2])),
        ),
        (
            vec![Key::from("l"), Key::from("other")],
            VariableState::new(Param, Tensor::ones(&[1])),
        ),
    ])
    .unwrap();
    let err = opt.update(&mut m, &grads).unwrap_err().to_string();
    assert!(err.contains("missing Variable at l/bias"), "{err}");
    assert!(
        err.contains("shape mismatch at l/kernel: expected (2, 1), found (1, 2)"),
        "{err}"
    );
    assert!(err.contains("unexpected Variable at l/other"), "{err}");

    // A gradient of another Variable type.
    let wrong_kind = ones_grads(&m).into_flat().into_iter().map(|(p, v)| {
        (
            p,
            VariableState::new(
                BatchStat,
                v.value.as_any().downcast_ref::<Tensor>().unwrap().clone(),
            ),
        )
    });
    let err = opt
        .update(&mut m, &State::from_flat(wrong_kind).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Variable type mismatch at l/bias: expected Param, found BatchStat"),
        "{err}"
    );
    assert_eq!((m.state(), opt.state()), before);
}

#[test]
fn nan_learning_rate_is_an_error_and_changes_nothing() {
    let mut m = model();
    let nan_after_one = optax::Schedule::new(|step| if step >= 1 { f32::NAN } else { 0.1 });
    let mut opt =
        Optimizer::new(&m, optax::adamw(nan_after_one).weight_decay(1e-4), Param).unwrap();
    let grads = ones_grads(&m);
    opt.update(&mut m, &grads).unwrap();
    let before = (m.state(), opt.state());
    let err = opt.update(&mut m, &grads).unwrap_err().to_string();
    assert_eq!(
        err,
        "invalid argument to learning_rate: expected a number, found NaN at step 1"
    );
    assert_eq!((m.state(), opt.state()), before);

    let mut opt = Optimizer::new(&m, optax::sgd(f64::NAN), Param).unwrap();
    assert!(opt.update(&mut m, &grads).is_err());
    assert_eq!((m.state(), opt.step()), (before.0, 0));
}

#[test]
fn restoring_a_foreign_state_is_an_error_and_changes_nothing() {
    let m = model();
    let mut adam = Optimizer::new(&m, optax::adam(0.1), Param).unwrap();
    let sgd = Optimizer::new(&m, optax::sgd(0.1).momentum(0.9), Param).unwrap();
    let before = adam.state();
    let err = adam.load_state(&sgd.state()).unwrap_err().to_string();
    assert!(
        err.contains("missing Variable at opt_state/0/count"),
        "{err}"
    );
    assert!(
        err.contains("missing Variable at opt_state/0/mu/l/bias"),
        "{err}"
    );
    assert_eq!(adam.state(), before);
}

#[test]
fn multi_steps_counts_like_optax() {
    // Two accumulated gradients per update: the first call emits nothing.
    let mut w = vec![Param::new(Tensor::from(arr1(&[1.0f32])))];
    let mut opt = Optimizer::new(&w, optax::MultiSteps::new(optax::sgd(0.5), 2), Param).unwrap();
    let g1 = vec![Param::new(Tensor::from(arr1(&[2.0f32])))].state();
    let g2 = vec![Param::new(Tensor::from(arr1(&[4.0f32])))].state();
    opt.update(&mut w, &g1).unwrap();
    assert_eq!(w[0].to_array(), arr1(&[1.0f32]).into_dyn());
    opt.update(&mut w, &g2).unwrap();
    assert_eq!(w[0].to_array(), arr1(&[-0.5f32]).into_dyn()); // 1 - 0.5 * mean(2, 4)
    let s = opt.state();
    assert_eq!(s.get::<i32>("opt_state/gradient_step").unwrap(), &1);
    assert_eq!(s.get::<i32>("opt_state/mini_step").unwrap(), &0);
}

#[test]
fn masks_as_filter_and_as_predicate_agree() {
    use nnx_core::filter::{Not, PathContains};
    let run = |tx: optax::Adam, steps: usize| {
        let mut m = model();
        let mut opt = Optimizer::new(&m, tx, Param).unwrap();
        for i in 0..steps {
            step(&mut m, &mut opt, i);
        }
        m.state()
    };
    let by_filter = run(
        optax::adamw(0.1)
            .weight_decay(0.5)
            .mask(optax::Mask::filter(Not(PathContains::new("bias")))),
        3,
    );
    let by_predicate = run(
        optax::adamw(0.1)
            .weight_decay(0.5)
            .mask(optax::Mask::predicate(|path, _| {
                path.last() != Some(&Key::from("bias"))
            })),
        3,
    );
    assert_eq!(by_filter, by_predicate);
    // After one step (same gradients everywhere) the bias moved as under plain
    // Adam, the kernel as under unmasked AdamW.
    let masked = optax::adamw(0.1)
        .weight_decay(0.5)
        .mask(optax::Mask::filter(Not(PathContains::new("bias"))));
    let by_filter = run(masked, 1);
    let adam = run(optax::adam(0.1), 1);
    let unmasked = run(optax::adamw(0.1).weight_decay(0.5), 1);
    assert_eq!(
        by_filter.get::<Tensor>("l/bias").unwrap(),
        adam.get::<Tensor>("l/bias").unwrap()
    );
    assert_eq!(
        by_filter.get::<Tensor>("l/kernel").unwrap(),
        unmasked.get::<Tensor>("l/kernel").unwrap()
    );
    assert_ne!(
        by_filter.get::<Tensor>("l/kernel").unwrap(),
        adam.get::<Tensor>("l/kernel").unwrap()
    );
}

/// A large f32 parameter (split across the cores by the fused step), a small
/// one, and an f64 one.
#[derive(Module)]
struct Wide {
    big: Param<Tensor>,
    small: Param<Tensor>,
    double: Param<Tensor<f64>>,
}

fn wide(seed: u64) -> Wide {
    // A deterministic spread of values (signs, magnitudes, exact zeros).
    let f = |i: usize| ((i as u64 * 2654435761 + seed) % 1000) as f64 / 250.0 - 2.0;
    Wide {
        big: Param::new(Tensor::from(ndarray::Array1::from_shape_fn(100_003, |i| {
            f(i) as f32
        }))),
        small: Param::new(Tensor::from(ndarray::Array1::from_shape_fn(7, |i| {
            f(i + 3) as f32
        }))),
        double: Param::new(Tensor::from_array(
            ndarray::Array1::from_shape_fn(70_001, |i| f(i + 5)).into_dyn(),
        )),
    }
}

/// Optimizer runs adam / adamw as one fused pass; every step must equal the
/// general chain's (optax's order of operations) bit for bit, in f32 and f64.
#[test]
fn fused_adam_steps_are_bit_identical_to_the_chain() {
    let schedule = optax::warmup_cosine_decay_schedule(0.0, 1e-2, 2, 6, 1e-4, 1.0).unwrap();
    let configs = [
        optax::adamw(schedule.clone()).weight_decay(1e-2),
        optax::adamw(1e-3),
        optax::adam(schedule.clone()).nesterov(true).eps_root(1e-9),
        optax::adamw(schedule).weight_decay(optax::linear_schedule(1e-2, 0.0, 4, 0)),
    ];
    for (i, tx) in configs.into_iter().enumerate() {
        let (mut fused, mut chained) = (wide(1), wide(1));
        let mut a = Optimizer::new(&fused, tx.clone(), Param).unwrap();
        let mut b = Optimizer::new(&chained, tx.build(), Param).unwrap();
        for step in 0..6u64 {
            let grads = wide(step + 2).state();
            a.update(&mut fused, &grads).unwrap();
            b.update(&mut chained, &grads).unwrap();
            assert_eq!(
                fused.big.to_array(),
                chained.big.to_array(),
                "config {i} step {step}"
            );
            assert_eq!(
                fused.small.to_array(),
                chained.small.to_array(),
                "config {i} step {step}"
            );
            assert_eq!(
                fused.double.to_array(),
                chained.double.to_array(),
                "config {i} step {step}"
            );
            assert_eq!(
                a.state(),
                b.state(),
                "config {i} step {step}: optimizer state"
            );
        }
        // The fused step updates mu in place (the chain allocates anew).
        let mu_ptr = |o: &Optimizer<nnx_core::Kind>| match o.opt_state() {
            nnx_optim::TransformState::Node(items) => match items[0].1.field("mu", "") {
                Ok(nnx_optim::TransformState::PerParam(v)) => {
                    v[0].as_f32().map(|t| t.array().as_ptr())
                }
                _ => None,
            },
            _ => None,
        };
        let before = mu_ptr(&a);
        let grads = wide(9).state();
        a.update(&mut fused, &grads).unwrap();
        assert!(
            before.is_some() && mu_ptr(&a) == before,
            "config {i}: fused in place"
        );
        b.update(&mut chained, &grads).unwrap();
        assert_eq!(a.state(), b.state(), "config {i}: last step");
        assert_eq!(
            fused.big.to_array(),
            chained.big.to_array(),
            "config {i}: last step"
        );
    }
}
