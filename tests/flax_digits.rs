//! A Flax-trained CNN (`tools/flax_reference/train_digits.py`) run in Rust:
//! same initial parameters from the same seed, a strict checkpoint load, and
//! Flax's test accuracy and logits in eval mode.

#[path = "../examples/support/digits.rs"]
mod digits;

use digits::{
    agreement, argmax_rows, data_file, flax_correct, flax_logits, flax_rngs, max_state_difference,
    test_set, DigitsCnn,
};
use nnx::filter::AnyOf;
use nnx::prelude::*;

fn trained_model() -> DigitsCnn {
    let mut model = DigitsCnn::new(&mut flax_rngs()).unwrap();
    let report = nnx::checkpoint::load_into(&mut model, data_file("model.safetensors")).unwrap();
    assert_eq!(report.loaded.len(), 16);
    assert!(report.is_complete(), "{report:?}");
    model
}

#[test]
fn same_seed_gives_flax_initial_parameters() {
    let model = DigitsCnn::new(&mut flax_rngs()).unwrap();
    let flax = nnx::checkpoint::load_state(data_file("init.safetensors")).unwrap();
    let arrays = AnyOf((Param, BatchStat));
    let diff = max_state_difference(&model.state_of(arrays.clone()), &flax.filter(arrays)).unwrap();
    assert!(
        diff <= 1e-6,
        "initial parameters differ from Flax's by {diff}"
    );
    // The Dropout's stream: Flax's forked key, nothing drawn yet.
    let mut other = DigitsCnn::new(&mut nnx::rngs::Rngs::new(5)).unwrap();
    nnx::checkpoint::load_into(&mut other, data_file("init.safetensors")).unwrap();
    let stream = |m: &DigitsCnn| m.dropout.rngs.as_ref().map(|s| (s.key().data(), s.count()));
    assert_eq!(stream(&other), stream(&model));
    assert_eq!(model_dropout_count(&model), 0);
}

#[test]
fn checkpoint_paths_and_types_match_the_model() {
    let model = DigitsCnn::new(&mut flax_rngs()).unwrap();
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
    let logits = model.logits(&images).unwrap();
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
fn train_mode_uses_batch_statistics_and_draws_a_dropout_mask() {
    // Without eval(), BatchNorm normalizes with the batch's statistics and the
    // Dropout draws one key from its stream per call: other logits than eval
    // mode's, and the stream advances.
    let mut model = trained_model();
    let (images, _) = test_set().unwrap();
    let before = model_dropout_count(&model);
    let train = model.logits(&images).unwrap();
    assert_eq!(model_dropout_count(&model), before + 1);
    model.eval().unwrap();
    let eval = model.logits(&images).unwrap();
    assert_eq!(model_dropout_count(&model), before + 1);
    assert!(!agreement(&train, &eval, 1e-3, 1e-3).within);
}

fn model_dropout_count(model: &DigitsCnn) -> u32 {
    model.dropout.rngs.as_ref().map_or(0, |s| s.count())
}
