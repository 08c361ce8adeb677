//! optax's losses: per-example values and their vector-Jacobian products equal
//! optax's (through `jax.vjp`) on inputs with very large logits.

mod common;
use common::*;

use nnx_core::prelude::*;
use nnx_optim::optax;
use nnx_tensor::{value_and_grad, Tensor};
use serde_json::Value;

fn close(got: &Tensor, want: &Tensor, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    for (a, b) in got.array().iter().zip(want.array().iter()) {
        let tol = 1e-5 * b.abs().max(1.0);
        assert!(
            (a - b).abs() <= tol,
            "{what}: {a} vs optax {b}\n{got:?}\n{want:?}"
        );
    }
}

#[test]
fn losses_and_gradients_match_optax() {
    let d: Value = common::data();
    let cases = d["losses"].as_object().unwrap();
    let labels = tensor(&cases["labels"]).to_array().mapv(|l| l as i64);
    let mut checked = 0;
    for (name, case) in cases.iter().filter(|(k, _)| *k != "labels") {
        let mut inputs: Vec<Param<Tensor>> = case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| Param::new(tensor(a)))
            .collect();
        let cot = tensor(&case["cotangent"]);
        let mut value = None;
        let (_, grads) = value_and_grad(&mut inputs, Param, |x| {
            let a = &*x[0];
            let b = x.get(1).map(|p| &**p);
            let loss = match name.as_str() {
                "softmax_cross_entropy_with_integer_labels" => {
                    optax::softmax_cross_entropy_with_integer_labels(a, &labels)?
                }
                "softmax_cross_entropy" => optax::softmax_cross_entropy(a, b.unwrap())?,
                "sigmoid_binary_cross_entropy" => {
                    optax::sigmoid_binary_cross_entropy(a, b.unwrap())?
                }
                "squared_error" => optax::squared_error(a, b)?,
                "l2_loss" => optax::l2_loss(a, b)?,
                "huber_loss" => optax::huber_loss(a, b, 1.5)?,
                "cosine_distance" => optax::cosine_distance(a, b.unwrap(), 0.1)?,
                other => panic!("no Rust twin for {other}"),
            };
            value = Some(loss.stop_gradient());
            Ok((loss * &cot)?.sum())
        })
        .unwrap();
        close(
            &value.unwrap(),
            &tensor(&case["value"]),
            &format!("{name} value"),
        );
        for (i, want) in case["grads"].as_array().unwrap().iter().enumerate() {
            let got = grads.get::<Tensor>(&i.to_string()).unwrap();
            close(got, &tensor(want), &format!("{name} gradient {i}"));
        }
        checked += 1;
    }
    assert_eq!(checked, 7);
}

#[test]
fn mismatched_shapes_are_errors() {
    let logits = Tensor::zeros(&[2, 3]);
    let err = optax::softmax_cross_entropy(&logits, &Tensor::zeros(&[2, 2])).unwrap_err();
    assert_eq!(err.to_string(), "shape mismatch at softmax_cross_entropy: expected labels of the logits' shape (2, 3), found (2, 2)");
    let err = optax::softmax_cross_entropy_with_integer_labels(&logits, &ndarray::arr1(&[0i64]))
        .unwrap_err();
    assert!(
        err.to_string().contains("expected labels of shape (2,)"),
        "{err}"
    );
    assert!(optax::sigmoid_binary_cross_entropy(&logits, &Tensor::zeros(&[3])).is_err());
    assert!(optax::cosine_distance(&logits, &Tensor::zeros(&[3, 2]), 0.0).is_err());
}
