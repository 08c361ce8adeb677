//! What `value_and_grad` promises beyond the numbers: State layout and printing,
//! kept side effects, tied weights, errors, tape lifetime, and Tensor as a
//! Variable value (printing, checkpoints).

use ndarray::{arr1, arr2};
use nnx_core::prelude::*;
use nnx_core::{checkpoint, Error, Result};
use nnx_tensor::{grad, is_recording, value_and_grad, value_and_grad_with_aux, Tensor};

#[derive(Module)]
struct Net {
    w: Param<Tensor>,
    unused: Param<Tensor>,
    mean: BatchStat<Tensor>,
    steps: BatchStat<u32>,
}

fn net() -> Net {
    Net {
        w: Param::new(Tensor::from(arr1(&[1.0f32, -2.0]))),
        unused: Param::new(Tensor::zeros(&[3])),
        mean: BatchStat::new(Tensor::zeros(&[2])),
        steps: BatchStat::new(0),
    }
}

fn tensor_at(state: &State, path: &str) -> Tensor {
    let leaf = state
        .leaf(&[Key::from(path.to_string())])
        .expect("path present");
    leaf.value
        .as_any()
        .downcast_ref::<Tensor>()
        .expect("a Tensor")
        .clone()
}

#[test]
fn gradients_are_a_state_like_state_of_wrt_and_side_effects_stay() {
    let mut m = net();
    let (loss, grads) = value_and_grad(&mut m, Param, |m| {
        // A batch statistic computed from the differentiated weight, as BatchNorm does.
        *m.mean = (&*m.w * 0.5).stop_gradient();
        *m.steps += 1;
        Ok(m.w.square().sum())
    })
    .unwrap();
    assert_eq!(loss, 5.0);
    // Same paths and Variable types as state_of(Param); zeros where unused.
    assert_eq!(
        grads.map(nnx_core::value::shape).to_string(),
        m.state_of(Param).map(nnx_core::value::shape).to_string()
    );
    assert_eq!(tensor_at(&grads, "w"), Tensor::from(arr1(&[2.0f32, -4.0])));
    assert_eq!(tensor_at(&grads, "unused"), Tensor::zeros(&[3]));
    assert_eq!(
        grads.to_string(),
        "State({\n  'unused': Param( # 3 (12 B)\n    value=Array([0., 0., 0.], dtype=float32)\n  ),\n  \
         'w': Param( # 2 (8 B)\n    value=Array([ 2., -4.], dtype=float32)\n  )\n})"
    );
    // Non-differentiated Variables keep what f wrote.
    assert_eq!(*m.steps, 1);
    assert_eq!(*m.mean, Tensor::from(arr1(&[0.5f32, -1.0])));
    // The weights are unchanged, and nothing else holds their buffers any more:
    // an optimizer can update them in place without a copy.
    assert_eq!(*m.w, Tensor::from(arr1(&[1.0f32, -2.0])));
    let before = m.w.array().as_ptr();
    m.w.array_mut()[0] = 5.0;
    assert_eq!(m.w.array().as_ptr(), before);
    assert!(!is_recording());
}

#[test]
fn tied_weights_sum_their_gradients() {
    #[derive(Module)]
    struct Tied {
        a: Shared<Param<Tensor>>,
        b: Shared<Param<Tensor>>,
    }
    let w = Shared::new(Param::new(Tensor::scalar(3.0)));
    let mut m = Tied { a: w.clone(), b: w };
    let (loss, grads) = value_and_grad(&mut m, Param, |m| {
        let a = (**m.a.read()).clone();
        let b = (**m.b.read()).clone();
        a.square() + (&b * 5.0)
    })
    .unwrap();
    assert_eq!(loss, 24.0);
    assert_eq!(grads.len(), 1); // one Variable, at its first path
    assert_eq!(tensor_at(&grads, "a"), Tensor::scalar(2.0 * 3.0 + 5.0));
}

#[test]
fn errors_name_the_problem() {
    let mut m = net();
    let err = value_and_grad(&mut m, Param, |m| Ok((*m.w).clone())).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument to value_and_grad: expected a scalar loss (shape ()), found a loss of shape (2,)"
    );
    let err = value_and_grad(&mut m, BatchStat, |m| Ok(m.mean.sum())).unwrap_err();
    assert_eq!(
        err,
        Error::TypeMismatch {
            path: "steps".into(),
            expected: "a Tensor in this BatchStat (only Tensor Variables can be differentiated)"
                .into(),
            found: "u32".into(),
        }
    );
    // Nothing was marked: the module is as before.
    assert_eq!(*m.mean, Tensor::zeros(&[2]));
    // Errors of f come back as they are, and the tape is gone afterwards.
    let err = grad(&mut m, Param, |m| m.w.matmul(&Tensor::zeros(&[3]))).unwrap_err();
    assert!(
        err.to_string().starts_with("invalid argument to matmul"),
        "{err}"
    );
    assert!(!is_recording());
    // Nested differentiation is refused rather than silently wrong.
    let mut inner = Param::new(Tensor::scalar(1.0));
    let err = value_and_grad(&mut m, Param, |m| {
        grad(&mut inner, Param, |p| Ok((**p).clone()))?;
        Ok(m.w.sum())
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("nested differentiation is not supported"),
        "{err}"
    );
}

#[test]
fn a_custom_rule_of_the_wrong_shape_is_an_error() {
    let mut p = Param::new(Tensor::from(arr1(&[1.0f32, 2.0])));
    let err = grad(&mut p, Param, |p| {
        let y = Tensor::from_op("broken", p.array().clone(), [&**p], |_, _| {
            [Some(ndarray::ArrayD::zeros(ndarray::IxDyn(&[3])))]
        });
        Ok(y.sum())
    })
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid argument to the gradient rule of broken: expected a cotangent of shape (2,) for its input, found shape (3,)"
    );
}

#[test]
fn a_tensor_from_an_earlier_tape_is_a_constant() {
    let mut p = Param::new(Tensor::scalar(2.0));
    let ((_, leaked), _) = value_and_grad_with_aux(&mut p, Param, |p| {
        let y = p.square();
        Ok((y.clone(), y))
    })
    .unwrap();
    let mut q = Param::new(Tensor::scalar(3.0));
    let (loss, g) = value_and_grad(&mut q, Param, |q| &leaked * &**q).unwrap();
    assert_eq!(loss, 12.0);
    assert_eq!(tensor_at_root(&g), Tensor::scalar(4.0)); // leaked counts as the constant 4
                                                         // The Param itself, after its gradient was taken, is a plain constant too.
    let doubled = &*p * 2.0;
    assert_eq!(doubled.item().unwrap(), 4.0);
}

fn tensor_at_root(state: &State) -> Tensor {
    state
        .leaf(&[])
        .expect("root")
        .value
        .as_any()
        .downcast_ref::<Tensor>()
        .expect("tensor")
        .clone()
}

#[test]
fn tuple_of_modules_each_with_its_filter() {
    let mut a = net();
    let mut b = Param::new(Tensor::scalar(2.0));
    let (loss, (ga, gb)) = value_and_grad(
        (&mut a, &mut b),
        (nnx_core::filter::PathContains::new("w"), Param),
        |(a, b)| a.w.sum() * &**b,
    )
    .unwrap();
    assert_eq!(loss, -2.0);
    assert_eq!(ga.len(), 1); // only 'w' matched the path filter
    assert_eq!(tensor_at(&ga, "w"), Tensor::from(arr1(&[2.0f32, 2.0])));
    assert_eq!(tensor_at_root(&gb), Tensor::scalar(-1.0));
}

#[test]
fn tensor_variables_print_and_round_trip_through_checkpoints() -> Result<()> {
    #[derive(Module)]
    struct Layer {
        kernel: Param<Tensor>,
    }
    let layer = Layer {
        kernel: Param::new(Tensor::from(arr2(&[[1.0f32, 2.5], [-3.0, 0.0]]))),
    };
    assert_eq!(
        layer.state().to_string(),
        "State({\n  'kernel': Param( # 4 (16 B)\n    value=Array([[ 1. ,  2.5],\n           [-3. ,  0. ]], dtype=float32)\n  )\n})"
    );
    let path = std::env::temp_dir().join(format!("nnx-tensor-{}.safetensors", std::process::id()));
    checkpoint::save(&layer, &path)?;
    let mut back = Layer {
        kernel: Param::new(Tensor::zeros(&[2, 2])),
    };
    let report = checkpoint::load_into(&mut back, &path)?;
    std::fs::remove_file(&path).ok();
    assert!(report.is_complete());
    assert_eq!(*back.kernel, *layer.kernel);
    // The loaded Tensor is an f32 array, whatever held it in the file.
    let loaded =
        checkpoint::load_state_from_bytes(&checkpoint::save_state_to_bytes(&layer.state())?)?;
    assert_eq!(loaded.flat_state().len(), 1);
    Ok(())
}

/// An op whose rule passes the cotangent through and holds `marker` until it runs.
fn marked(x: &Tensor, marker: &std::sync::Arc<()>, check: impl FnOnce() + 'static) -> Tensor {
    let held = std::sync::Arc::clone(marker);
    Tensor::from_op("marked", x.to_array(), [x], move |g, _| {
        check();
        drop(held);
        [Some(g.clone())]
    })
}

#[test]
fn rules_are_kept_only_on_a_tape_and_released_as_backward_runs() {
    use std::sync::Arc;
    // Without a tape the rule (and what it captured) is dropped at once.
    let marker = Arc::new(());
    let _ = marked(&Tensor::ones(&[2]), &marker, || {});
    assert_eq!(Arc::strong_count(&marker), 1);
    // On a tape: when the first node's rule runs, the second node's has already
    // run and been dropped with its captures.
    let (first, second) = (Arc::new(()), Arc::new(()));
    let second_seen = Arc::clone(&second);
    let mut p = Param::new(Tensor::ones(&[2]));
    let (_, g) = value_and_grad(&mut p, Param, |p| {
        let y = marked(p, &first, move || {
            assert_eq!(Arc::strong_count(&second_seen), 2)
        });
        Ok(marked(&y, &second, || {}).sum())
    })
    .unwrap();
    assert_eq!(tensor_at_root(&g), Tensor::ones(&[2]));
    assert_eq!(
        (Arc::strong_count(&first), Arc::strong_count(&second)),
        (1, 1)
    );
}
