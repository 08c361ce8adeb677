//! The gradient rules in f64 against central finite differences.
//!
//! For `L(x) = sum(f(x) * c)` with a fixed cotangent `c`, `value_and_grad` must
//! give `dL/dx`. In f64 the central difference `(L(x + h) - L(x - h)) / 2h` at
//! h = 1e-5 has truncation error O(h²) ≈ 1e-10 and rounding error about
//! 1e-16 · |L| / h ≈ 1e-10, so the tolerance is 1e-7 · max(1, |grad|): three
//! orders tighter than the f32 suite (tests/finite_diff.rs), and far below any
//! rule computed at f32 precision (a constant rounded to f32 is off by ~1e-8
//! relative, visible here through the exact values below). Inputs stay away
//! from kinks and ties.

use ndarray::{ArrayD, IxDyn};
use nnx_core::prelude::*;
use nnx_tensor::{value_and_grad, Padding, Tensor};

type Op = fn(&Tensor<f64>) -> nnx_core::Result<Tensor<f64>>;

/// Deterministic values in ±[0.2, 1.4], distinct, none near 0.
fn input(shape: &[usize]) -> ArrayD<f64> {
    let n: usize = shape.iter().product();
    let v = (0..n).map(|i| {
        let t = ((i * 7919) % 97) as f64 / 97.0;
        let mag = 0.2 + 1.2 * t;
        if i % 3 == 1 {
            -mag
        } else {
            mag
        }
    });
    ArrayD::from_shape_vec(IxDyn(shape), v.collect()).expect("shape")
}

fn loss(op: Op, x: &ArrayD<f64>, c: &ArrayD<f64>) -> f64 {
    let y = op(&Tensor::from_array(x.clone())).expect("op");
    (y.array() * c).sum()
}

fn check(name: &str, op: Op, shape: &[usize]) {
    let x0 = input(shape);
    let y = op(&Tensor::from_array(x0.clone())).expect("op");
    let c = input(y.shape()).mapv(|v| v * 0.7 + 0.05);
    let cot = Tensor::from_array(c.clone());
    let mut p = Param::new(Tensor::from_array(x0.clone()));
    let (_, grads) = value_and_grad(&mut p, Param, |p| Ok((op(p.value())? * &cot)?.sum()))
        .expect("value_and_grad");
    let g = grads
        .leaf(&[])
        .expect("grad")
        .value
        .as_any()
        .downcast_ref::<Tensor<f64>>()
        .expect("f64 grad")
        .to_array();
    let h = 1e-5;
    for i in 0..x0.len() {
        let mut xp = x0.clone();
        let mut xm = x0.clone();
        xp.as_slice_mut().expect("contiguous")[i] += h;
        xm.as_slice_mut().expect("contiguous")[i] -= h;
        let fd = (loss(op, &xp, &c) - loss(op, &xm, &c)) / (2.0 * h);
        let got = g.as_slice().expect("contiguous")[i];
        assert!(
            (got - fd).abs() <= 1e-7 * got.abs().max(1.0),
            "{name}[{i}]: rule {got:e}, finite difference {fd:e}"
        );
    }
}

#[test]
fn unary_and_reductions() {
    let cases: [(&str, Op); 22] = [
        ("exp", |x| Ok(x.exp())),
        ("log", |x| Ok(x.abs().log())),
        ("sqrt", |x| Ok(x.abs().sqrt())),
        ("tanh", |x| Ok(x.tanh())),
        ("sigmoid", |x| Ok(x.sigmoid())),
        ("softplus", |x| Ok(x.softplus())),
        ("log_sigmoid", |x| Ok(x.log_sigmoid())),
        ("silu", |x| Ok(x.silu())),
        ("gelu_tanh", |x| Ok(x.gelu(true))),
        ("gelu_exact", |x| Ok(x.gelu(false))),
        ("elu", |x| Ok(x.elu(0.7))),
        ("celu", |x| Ok(x.celu(0.7))),
        ("selu", |x| Ok(x.selu())),
        ("soft_sign", |x| Ok(x.soft_sign())),
        ("leaky_relu", |x| Ok(x.leaky_relu(0.1))),
        ("div", |x| Ok(1.0 / &(x.square() + 0.5))),
        ("softmax", |x| x.softmax(-1)),
        ("log_softmax", |x| x.log_softmax(0)),
        ("logsumexp", |x| x.logsumexp(&[-1], false)),
        ("mean", |x| Ok(x.mean())),
        ("standardize", |x| x.standardize(&[-1], 1e-6)),
        ("matmul", |x| x.matmul(&x.transpose())),
    ];
    for (name, op) in cases {
        check(name, op, &[3, 4]);
    }
}

#[test]
fn pooling() {
    check(
        "avg_pool",
        |x| x.avg_pool(&[2, 2], &[1, 1], &Padding::Valid, true),
        &[1, 3, 4, 2],
    );
    check(
        "max_pool",
        |x| x.max_pool(&[2, 2], &[1, 1], &Padding::Valid),
        &[1, 3, 4, 2],
    );
}

/// Exact values where f32 rounding of a constant would show.
#[test]
fn constants_are_double_precision() {
    let one = Tensor::from(ndarray::arr1(&[1.0f64]));
    // jax.nn.gelu(1.0, approximate=False) with x64: 0.8413447460685429.
    let exact = one.gelu(false).item().expect("item");
    assert!((exact - 0.841_344_746_068_542_9).abs() < 1e-15, "{exact}");
    // jax.nn.selu(-1.0) with x64: -1.1113307378125625.
    let selu = (-&one).selu().item().expect("item");
    assert!((selu + 1.111_330_737_812_562_5).abs() < 1e-15, "{selu}");
}
