//! A Flax-trained CNN (`tools/flax_reference/train_digits.py`) run in Rust:
//! same initial parameters from the same seed, a strict checkpoint load, and
//! Flax's test accuracy and logits in eval mode.

#[path = "../examples/support/digits.rs"]
mod digits;

use digits::{
    agreement, argmax_rows, data_file, flax_correct, flax_logits, max_state_difference, test_set,
    DigitsCnn,
};
use nnx::prelude::*;
use nnx::rngs::Rngs;

fn trained_model() -> DigitsCnn {
    let mut model = DigitsCnn::new(&mut Rngs::new(0)).unwrap();
    let report = nnx::checkpoint::load_into(&mut model, data_file("model.safetensors")).unwrap();
    assert_eq!(report.loaded.len(), 14);
    assert!(report.is_complete(), "{report:?}");
    model
}

#[test]
fn same_seed_gives_flax_initial_parameters() {
    let model = DigitsCnn::new(&mut Rngs::new(0)).unwrap();
    let flax = nnx::checkpoint::load_state(data_file("init.safetensors")).unwrap();
    let diff = max_state_difference(&model.state(), &flax).unwrap();
    assert!(
        diff <= 1e-6,
        "initial parameters differ from Flax's by {diff}"
    );
}

#[test]
fn checkpoint_paths_and_types_match_the_model() {
    let model = DigitsCnn::new(&mut Rngs::new(0)).unwrap();
    let flax = nnx::checkpoint::load_state(data_file("model.safetensors")).unwrap();
    let kinds = |s: &State| -> Vec<(String, String)> {
        s.flat_state()
            .iter()
            .map(|(p, l)| (nnx::path_string(p), l.kind.to_string()))
            .collect()
    };
    assert_eq!(kinds(&model.state()), kinds(&flax));
}

#[test]
fn eval_mode_reproduces_flax_accuracy_and_logits() {
    let mut model = trained_model();
    model.eval().unwrap();
    let (images, labels) = test_set().unwrap();
    let logits = model.forward(&images).unwrap();
    let correct = argmax_rows(&logits)
        .iter()
        .zip(labels.iter())
        .filter(|(p, l)| **p as i64 == i64::from(**l))
        .count();
    assert_eq!(
        correct,
        flax_correct().unwrap(),
        "accuracy differs from Flax's"
    );
    assert!(
        correct * 100 >= 95 * labels.len(),
        "accuracy {correct}/{}",
        labels.len()
    );

    let agree = agreement(&logits, &flax_logits().unwrap(), 1e-5, 1e-5);
    assert!(agree.within, "logits differ from Flax's: {agree:?}");
    assert_eq!(agree.same_argmax, labels.len());
}

#[test]
fn train_mode_uses_batch_statistics_and_needs_a_dropout_key() {
    // Without eval(), BatchNorm normalizes with batch statistics and the
    // stream-less dropout has no key: the call fails rather than silently
    // giving different numbers.
    let mut model = trained_model();
    let (images, _) = test_set().unwrap();
    assert!(model.forward(&images).is_err());
}
